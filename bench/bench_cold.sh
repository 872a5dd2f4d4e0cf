#!/bin/sh
# bench_cold.sh BUILD [OTHER_LESIOND] - cold slices under 32 connections: a small demo
# dataset (3 patients), the slice cache off (slice_cache_mb = 0, so every request needs
# a decoded slice), wrk -c32 for BENCH_SECONDS (default 10) on 32 distinct slices
# (GET /v1/slices/<series>/<n>.png?window=lung, each connection its own slice, round
# robin). Prints req/s and p50/p99, and from /metrics the decodes, the requests that
# shared a decode in flight, and decode overlaps (the same slice decoded twice at once:
# 0 with single-flight). With OTHER_LESIOND (e.g. main's binary), the same run against it
# right after, for a side-by-side ratio. Figures only.
set -u
BUILD=${1:-build/release}
LESIOND="$PWD/$BUILD/lesiond"
OTHER=${2:-}
T="$PWD/build/bench/cold"
DUR=${BENCH_SECONDS:-10}
mkdir -p "$T"
command -v wrk > /dev/null || { echo "wrk not available (make deps): skipped"; exit 0; }
if [ ! -f "$T/demo/DL_info.csv" ]; then
	rm -rf "$T/demo"
	"$LESIOND" demo --out "$T/demo" --patients 3 --seed 5 > /dev/null || exit 1
fi
rm -f "$T/db" "$T/db"-*
"$LESIOND" ingest --csv "$T/demo/DL_info.csv" --images "$T/demo/Images_png" --db "$T/db" > /dev/null
printf 'slice_cache_mb = 0\n' > "$T/cold.conf"
(cd "$T/demo/Images_png" && ls -d */*.png) > "$T/all.txt"
awk -v n="$(wc -l < "$T/all.txt")" 'NR % int(n / 32) == 1' "$T/all.txt" | head -n 32 > "$T/slices.txt"
{
	echo "slices = {"
	sed 's/.*/  "&",/' "$T/slices.txt"
	echo "}"
	cat <<'LUA'
n = 0
setup = function(thread) end
init = function(args) n = 0 end
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/slices/" .. slices[(n % #slices) + 1] .. "?window=lung")
end
LUA
} > "$T/cold.lua"
run() { # LABEL BINARY
	rm -f "$T/port"
	"$2" serve --db "$T/db" --images "$T/demo/Images_png" --config "$T/cold.conf" --port 0 \
		--port-file "$T/port" > "$T/serve.log" 2>&1 &
	PID=$!
	while [ ! -s "$T/port" ]; do sleep 0.1; done
	B="http://127.0.0.1:$(cat "$T/port")"
	until curl -sf "$B/readyz" > /dev/null; do sleep 0.1; done
	wrk -t2 -c32 -d${DUR}s --latency -s "$T/cold.lua" "$B" > "$T/wrk.out" 2>&1
	curl -s "$B/metrics" > "$T/metrics"
	m() { awk -v k="$1" '$1 == k {print $2}' "$T/metrics"; }
	echo "   $1: $(awk '/Requests\/sec/ {print $2}' "$T/wrk.out") req/s, p50 $(awk '$1 == "50%" {print $2}' "$T/wrk.out"), p99 $(awk '$1 == "99%" {print $2}' "$T/wrk.out"); decodes $(m lesiond_slice_cache_misses_total), shared a decode in flight $(m lesiond_slice_decode_shared_total), decode overlaps $(m lesiond_slice_decode_overlaps_total)"
	kill -TERM $PID; wait $PID 2>/dev/null
}
echo "-- cold slices (cache off), 32 connections on $(wc -l < "$T/slices.txt") distinct slices, $DUR s"
run lesiond "$LESIOND"
[ -n "$OTHER" ] && run "other ($OTHER)" "$OTHER"
rm -f "$T/db" "$T/db"-*
