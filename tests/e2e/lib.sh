# lib.sh - black-box test helpers, sourced by tests/e2e/*.sh.
# Starts the real lesiond on a free loopback port (--port 0 --port-file), sends requests
# with curl and checks status, headers and JSON bodies (jq). Each check is one case;
# finish prints "RESULT passed failed". Needs LESIOND and LSD_TEST_TMP (set by run.sh).
set -u
: "${LESIOND:?}" "${LSD_TEST_TMP:?}"
T_PASS=0
T_FAIL=0
T_NAME=$(basename "$0" .sh)
T_DIR="$LSD_TEST_TMP/$T_NAME"
rm -rf "$T_DIR" && mkdir -p "$T_DIR"
SERVER_PID=
BASE=

ok() { T_PASS=$((T_PASS + 1)); echo "ok - $*"; }
not_ok() { T_FAIL=$((T_FAIL + 1)); echo "not ok - $*"; }
check() { # description, then a command that must succeed
	d=$1; shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}

# sample_vectors DIM SEED [CLUSTERS]: the real sample's 260 lesions (ingested into $DB)
# get $T_DIR/v.fvecs (DIM-d, Gaussian sd 1, or with CLUSTERS lesion i centred at
# i % CLUSTERS with sd 0.5) and $T_DIR/ids.txt (1..260), the same values for a seed
sample_vectors() {
	"$LESIOND" ingest --csv "$LSD_SHARED_DATA/DL_info_sample.csv" --db "$DB" > /dev/null
	python3 - "$T_DIR" "$1" "$2" "${3:-0}" <<'PY'
import random, struct, sys
d, k = int(sys.argv[2]), int(sys.argv[4])
random.seed(int(sys.argv[3]))
with open(sys.argv[1] + "/v.fvecs", "wb") as f, open(sys.argv[1] + "/ids.txt", "w") as ids:
    for i in range(1, 261):
        c, sd = (i % k, 0.5) if k else (0, 1)
        f.write(struct.pack("<i", d) + struct.pack("<%df" % d, *[c + random.gauss(0, sd) for _ in range(d)]))
        ids.write("%d\n" % i)
PY
}

# start_server [extra serve args...]: serve $T_DIR/lesiond.db
start_server() {
	rm -f "$T_DIR/port"
	"$LESIOND" serve --db "${DB:-$T_DIR/lesiond.db}" --listen 127.0.0.1 --port 0 \
		--port-file "$T_DIR/port" "$@" > "$T_DIR/server.log" 2>&1 &
	SERVER_PID=$!
	i=0
	while [ ! -s "$T_DIR/port" ]; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 $SERVER_PID 2>/dev/null; then
			echo "server did not start:"; cat "$T_DIR/server.log"; return 1
		fi
		sleep 0.1
	done
	BASE="http://127.0.0.1:$(cat "$T_DIR/port")"
	# HTTP is up before the indexes are loaded: wait for /readyz (only /healthz when the
	# test holds the load back on purpose with LSD_DEBUG_LOAD_DELAY_MS)
	probe=/readyz
	[ -n "${LSD_DEBUG_LOAD_DELAY_MS:-}" ] && probe=/healthz
	i=0
	until curl -fs "$BASE$probe" > /dev/null; do
		i=$((i + 1)); [ $i -gt 300 ] && return 1; sleep 0.1
	done
}

stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
	T_RC=$?
	SERVER_PID=
	return 0
}

# req METHOD PATH [curl args...]: sets ST (status), body in $T_DIR/body, headers in $T_DIR/hdr
req() {
	m=$1; p=$2; shift 2
	ST=$(curl -s -o "$T_DIR/body" -D "$T_DIR/hdr" -w '%{http_code}' -X "$m" "$@" "$BASE$p")
}
# expect METHOD PATH STATUS [curl args...]
expect() {
	m=$1; p=$2; s=$3; shift 3
	req "$m" "$p" "$@"
	if [ "$ST" = "$s" ]; then ok "$m $p -> $s"; else
		not_ok "$m $p -> $s (got $ST: $(head -c 300 "$T_DIR/body"))"; fi
}
# jqt FILTER: the last body satisfies a jq boolean filter
jqt() {
	if jq -e "$1" "$T_DIR/body" > /dev/null 2>&1; then ok "jq $1"; else
		not_ok "jq $1 on $(head -c 300 "$T_DIR/body")"; fi
}
# hdr NAME REGEX: the last response has a header matching
hdr() {
	if grep -i "^$1:" "$T_DIR/hdr" | grep -Eqi "$2"; then ok "header $1 ~ $2"; else
		not_ok "header $1 ~ $2 (got: $(grep -i "^$1:" "$T_DIR/hdr"))"; fi
}
problem() { # the last body is a problem+json with this status
	hdr Content-Type 'application/problem\+json'
	jqt ".status == $1 and (.title|type==\"string\") and (.detail|type==\"string\")"
}

finish() {
	stop_server
	echo "RESULT $T_PASS $T_FAIL"
	[ $T_FAIL = 0 ]
}
trap 'if [ -n "$SERVER_PID" ]; then kill -9 $SERVER_PID 2>/dev/null; fi' EXIT
