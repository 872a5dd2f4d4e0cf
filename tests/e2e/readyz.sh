#!/bin/sh
# readyz.sh - start-up readiness: HTTP answers before the indexes are loaded. While
# serve loads (held back by LSD_DEBUG_LOAD_DELAY_MS, a test-only knob), /healthz is 200,
# /readyz and every data route are 503 problem+json with Retry-After, /metrics and
# /v1/openapi.json answer; once loaded, /readyz is 200 and the data routes work.
. "$(dirname "$0")/lib.sh"
DB="$T_DIR/lesiond.db"
sample_vectors 8 3
check "import-vectors" "$LESIOND" import-vectors --space builtin --ids "$T_DIR/ids.txt" --vectors "$T_DIR/v.fvecs" --db "$DB"
LSD_DEBUG_LOAD_DELAY_MS=6000 start_server || { echo "RESULT 0 1"; exit 1; }
expect GET /healthz 200
expect GET /readyz 503; problem 503; hdr Retry-After '^Retry-After: 1'
expect GET /v1/lesions/1 503; problem 503; hdr Retry-After 1
expect GET "/v1/lesions/1/similar?k=3" 503; problem 503
expect POST /v1/search 503 -H 'Content-Type: application/json' --data '{"lesion_id":1}'
problem 503
expect GET /v1/stats 503
expect POST /v1/lesions 503 -H 'Content-Type: application/json' --data '{}'
expect GET /metrics 200
expect GET /v1/openapi.json 200
jqt '.openapi == "3.1.0" and (.paths["/readyz"] | type == "object")'
# then ready, within the delay plus a generous margin
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")" = 200 ]; do
	i=$((i + 1)); [ $i -gt 300 ] && break; sleep 0.1
done
expect GET /readyz 200
jqt '.status == "ready"'
expect GET "/v1/lesions/1/similar?k=3" 200
jqt '.count == 3'
expect GET /v1/lesions/1 200
check "log says the load was held back, then ready" sh -c "grep -q LSD_DEBUG_LOAD_DELAY_MS '$T_DIR/server.log' && grep -q 'ready' '$T_DIR/server.log'"
finish
