#!/bin/sh
# uri.sh - control bytes in the request target. A decoded path or query value holding a
# NUL used to be cut short at it (GET /v1/lesions/1%00 answered 200 with lesion 1); now
# any request whose path or query holds a control byte (0x00-0x1f, 0x7f), percent-encoded
# or raw, is refused with 400 problem+json before routing, on every route, and the same
# requests without the byte still answer as before.
. "$(dirname "$0")/lib.sh"
DB="$T_DIR/lesiond.db"
"$LESIOND" ingest --csv "$LSD_SHARED_DATA/DL_info_sample.csv" --db "$DB" > /dev/null
start_server || { echo "RESULT 0 1"; exit 1; }

# the reference answers, without the byte
expect GET /v1/lesions/1 200
jqt '.id == 1'
expect GET /v1/lesions/1x 404
expect GET "/v1/lesions?limit=2" 200

# NUL in a path parameter: not lesion 1
expect GET /v1/lesions/1%00 400; problem 400
jqt '.detail | test("path") and test("0x00")'
expect GET /v1/lesions/1%00x 400; problem 400
expect DELETE /v1/lesions/1%00 400; problem 400
expect GET /v1/lesions/1 200	# nothing was deleted
# other control bytes, upper- and lower-case escapes, in the path
for b in 01 0a 0D 1f 7f 7F; do
	expect GET "/v1/lesions/1%$b" 400
done
# in a literal route segment, on probes and static files too: one check for every route
expect GET /healthz%00 400; problem 400
expect GET /v1/stats%0a 400
expect GET /www/app.js%00.png 400
expect GET "/v1/slices/000001_01_01%00/103.png" 400
# in the query string: a value or a key
expect GET "/v1/lesions?limit=2%00" 400; problem 400
jqt '.detail | test("query")'
expect GET "/v1/lesions?type=lung%00bone" 400
expect GET "/v1/lesions?li%09mit=2" 400
expect GET "/v1/lesions/1/similar?k=3%0d%0aX:1" 400
# POST with a body: refused before the body is read
expect POST /v1/search%00 400 -H 'Content-Type: application/json' --data '{"lesion_id":1}'
# what is not a control byte still decodes as before: a space, '%' not followed by hex
expect GET "/v1/lesions/1%20" 404; problem 404
expect GET "/v1/lesions/%zz" 404
expect GET "/v1/lesions?type=lung%2Cbone&limit=2" 200
finish
