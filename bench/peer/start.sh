#!/bin/sh
# start.sh DB IMAGES LOG [SLICE_CACHE] - start the Python peer (app.py under gunicorn, in the background)
# on the lesiond database DB and image root IMAGES (may be empty); prints "PID PORT" once
# it answers. Workers: 2 x cores + 1 sync workers (gunicorn's own advice), each with one
# FAISS/OpenMP thread. Installs the peer's Debian packages when missing (bench only;
# apt, as tools/deps.sh does).
set -u
DB=$1; IMAGES=${2:-}; LOG=$3; CACHE=${4:-512}	# decoded slices a worker keeps
HERE=$(cd "$(dirname "$0")" && pwd)
PKGS="python3-flask gunicorn python3-pil python3-faiss python3-numpy"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
		> /dev/null 2>&1 || { apt-get update -qq > /dev/null 2>&1 &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$missing > /dev/null 2>&1; } || { echo "peer: cannot install$missing" >&2; exit 1; }
fi
W=$(( 2 * $(nproc) + 1 ))
# Debian's interpreter (the packages above are its modules), not one earlier in PATH
(cd "$HERE" && PEER_DB="$DB" PEER_IMAGES="$IMAGES" PEER_SLICE_CACHE="$CACHE" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
	exec /usr/bin/python3 -m gunicorn.app.wsgiapp -w "$W" -b 127.0.0.1:0 --log-level warning \
	--error-logfile - app:app) > "$LOG" 2>&1 &
PID=$!
i=0
while :; do
	PORT=$(ss -ltnp 2>/dev/null | awk -v p="pid=$PID," 'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')
	[ -n "$PORT" ] && curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
	i=$((i + 1))
	[ $i -gt 600 ] && { echo "peer: did not start (see $LOG)" >&2; kill $PID 2>/dev/null; exit 1; }
	kill -0 $PID 2>/dev/null || { echo "peer: exited (see $LOG)" >&2; exit 1; }
	sleep 0.1
done
echo "$PID $PORT"
