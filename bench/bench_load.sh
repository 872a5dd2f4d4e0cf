#!/bin/sh
# bench_load.sh BUILD - a soak test: wrk with 64 connections against the similar, patch
# and lesion routes for LOAD_SECONDS (default 60) while a writer adds and deletes
# lesions. Prints the status counts, errors, and the server's RSS before and after.
# Needs the demo dataset that `make run` builds (build/demo) or builds a small one.
set -u
BUILD=${1:-build/release}
LESIOND="$PWD/$BUILD/lesiond"
T="$PWD/build/bench/load"
DUR=${LOAD_SECONDS:-60}
mkdir -p "$T"
command -v wrk > /dev/null || { apt-get install -y -qq wrk > /dev/null 2>&1 || true; }
command -v wrk > /dev/null || { echo "wrk not available: load test skipped"; exit 0; }
DEMO="$PWD/build/demo"
if [ ! -f "$DEMO/lesiond.db" ]; then
	DEMO="$T/demo"
	[ -f "$DEMO/lesiond.db" ] || DEMO_PATIENTS=20 sh tools/demo_db.sh "$LESIOND" "$DEMO" > /dev/null
fi
rm -f "$T/db"* "$T/port" "$T/rss_third"
cp "$DEMO/lesiond.db" "$T/db"
"$LESIOND" serve --db "$T/db" --images "$DEMO/Images_png" --port 0 --port-file "$T/port" \
	--threads 4 > "$T/serve.log" 2>&1 &
PID=$!
while [ ! -s "$T/port" ]; do sleep 0.2; done
B="http://127.0.0.1:$(cat "$T/port")"
until curl -sf "$B/readyz" > /dev/null; do sleep 0.2; done
N=$(curl -s "$B/v1/stats" | jq .lesions)
cat > "$T/mix.lua" <<LUA
counter = 0
request = function()
  counter = counter + 1
  local id = (counter * 7919) % $N + 1
  local r = counter % 3
  if r == 0 then return wrk.format("GET", "/v1/lesions/" .. id .. "/similar?k=10") end
  if r == 1 then return wrk.format("GET", "/v1/lesions/" .. id .. "/patch.png?window=lung&size=128") end
  return wrk.format("GET", "/v1/lesions/" .. id)
end
LUA
rss0=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
# the writer: add a lesion copied from lesion 1 (same images), then delete it, in a loop
L=$(curl -s "$B/v1/lesions/1" | jq -c 'del(.id, .file_name, .type_name, .split_name, .diameters_mm, .image_path, .patch_url)')
(
	end=$(( $(date +%s) + DUR ))
	adds=0; dels=0; bad=0
	while [ "$(date +%s)" -lt "$end" ]; do
		id=$(curl -s -X POST -H 'Content-Type: application/json' --data "$L" "$B/v1/lesions" | jq -r '.ids[0] // empty')
		if [ -n "$id" ]; then adds=$((adds + 1)); else bad=$((bad + 1)); fi
		code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$B/v1/lesions/$id")
		if [ "$code" = 204 ]; then dels=$((dels + 1)); else bad=$((bad + 1)); fi
	done
	echo "writer: $adds lesions added, $dels deleted, $bad unexpected answers"
) > "$T/writer.out" 2>&1 &
WPID=$!
(sleep $((DUR / 3)); awk '/VmRSS/ {print $2}' /proc/$PID/status > "$T/rss_third") &
wrk -t2 -c64 -d${DUR}s --latency -s "$T/mix.lua" "$B" > "$T/wrk.out" 2>&1
wait $WPID
rss1=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
rssm=$(cat "$T/rss_third")
echo "-- $DUR s, 64 connections: similar, patch.png, lesion (1/3 each) + a writer adding and deleting"
grep -q "Non-2xx" "$T/wrk.out" || echo "   every answer 2xx/3xx (wrk reports no non-2xx)"
grep -E "Requests/sec|Non-2xx|Socket errors|50%|99%" "$T/wrk.out" | sed 's/^/   /'
sed 's/^/   /' "$T/writer.out"
kill -0 $PID 2>/dev/null && echo "   server alive after the run" || echo "   SERVER DIED"
echo "   server RSS: ${rss0} kB before, ${rssm} kB after a third of the run (slice cache warm), ${rss1} kB at the end"
echo "   (the decoded-slice cache alone may take up to slice_cache_mb = $(sed -n 's/^slice_cache_mb = //p' config/lesiond.conf) MiB)"
kill -TERM $PID; wait $PID
echo "   server exit status $? (0 = clean shutdown)"
