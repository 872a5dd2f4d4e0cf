#!/bin/sh
# lesions.sh - black-box tests of the foundation: ingest of the real DeepLesion sample
# rows, every field back over HTTP, the lesion routes, and every bad-input case.
. "$(dirname "$0")/lib.sh"
CSV="$LSD_SHARED_DATA/DL_info_sample.csv"
DB="$T_DIR/lesiond.db"

check "ingest the sample" "$LESIOND" ingest --csv "$CSV" --db "$DB"
check "re-ingest changes nothing" sh -c "'$LESIOND' ingest --csv '$CSV' --db '$DB' | grep -q '0 added, 260 unchanged'"

# a bad row in the middle: refused whole, with file:line: column, database unchanged
before=$(sqlite3 "$DB" "SELECT group_concat(id || file_name || loc_x) FROM lesions" | md5sum)
{ head -n 100 "$CSV"; sed -n 101p "$CSV" | sed 's/,"[^"]*",/,"1, 2, 3",/'; tail -n +102 "$CSV"; } > "$T_DIR/bad.csv"
"$LESIOND" ingest --csv "$T_DIR/bad.csv" --db "$DB" > "$T_DIR/bad.out" 2>&1
rc=$?
check "broken CSV exits non-zero" test $rc -ne 0
check "broken CSV names file:line: column" grep -q "bad.csv:101: Measurement_coordinates" "$T_DIR/bad.out"
after=$(sqlite3 "$DB" "SELECT group_concat(id || file_name || loc_x) FROM lesions" | md5sum)
check "broken CSV leaves the database unchanged" test "$before" = "$after"
# a longer file adds only the new rows: take the first 200 rows into a fresh db, then all
head -n 201 "$CSV" > "$T_DIR/short.csv"
"$LESIOND" ingest --csv "$T_DIR/short.csv" --db "$T_DIR/grow.db" > /dev/null
check "a longer file adds only its new rows" sh -c "'$LESIOND' ingest --csv '$CSV' --db '$T_DIR/grow.db' | grep -q '60 added, 200 unchanged'"

cat > "$T_DIR/small.conf" <<CONF
# a small bulk limit so 413 is cheap to provoke
body_max_bulk = 65536
body_max_json = 4096
CONF
start_server --config "$T_DIR/small.conf" || { echo "RESULT 0 1"; exit 1; }

expect GET /healthz 200
jqt '.status == "ok"'
expect GET /readyz 200
expect GET /v1/stats 200
jqt '.lesions == 260 and .patients == 47 and (.studies > 0) and (.series >= .studies)'
expect GET /metrics 200
hdr Content-Type 'text/plain'
grep -q 'lesiond_http_requests_total{route="stats",status="200"} 1' "$T_DIR/body" && ok "metrics count requests by route and status" || not_ok "metrics count requests"

# every field of every row comes back with the same values
jq -R -s -f "$(dirname "$0")/csv2json.jq" "$CSV" > "$T_DIR/expected.json"
expect GET "/v1/lesions?limit=1000" 200
cp "$T_DIR/body" "$T_DIR/all.json"
jqt '.count == 260 and .next_cursor == null'
if jq -e --slurpfile exp "$T_DIR/expected.json" '
	[.lesions[] | {id, file_name, patient, study, series, key_slice, measurement_coordinates,
	  bounding_box, diameters_px, normalized_location, type, possibly_noisy, slice_range,
	  spacing_mm_px, image_size, dicom_window, gender, age, split}] == $exp[0]' "$T_DIR/all.json" > /dev/null
then ok "all 260 rows: every DL_info.csv field equal"; else not_ok "rows differ from the CSV"; fi
jq -e '[.lesions[] | (.diameters_mm[0] - .diameters_px[0] * .spacing_mm_px[0]) | fabs < 0.001] | all' "$T_DIR/all.json" > /dev/null && ok "diameters_mm = px x spacing" || not_ok "diameters_mm"
jq -e '[.lesions[] | .image_path == (.file_name | sub("_(?<s>[0-9]+)\\.png$"; "/\(.s).png"))] | all' "$T_DIR/all.json" > /dev/null && ok "image_path derived from File_name" || not_ok "image_path"

expect GET /v1/lesions/1 200
jqt '.id == 1 and .type == 3 and .type_name == "mediastinum" and .age == 62 and .split_name == "test"'
jqt '.measurement_coordinates[0] == 233.537 and .dicom_window == [-175, 275]'
nanid=$(jq -r '[.[] | select(.age == null)][0].id' "$T_DIR/expected.json")
expect GET "/v1/lesions/$nanid" 200
jqt '.age == null'
unl=$(jq -r '[.[] | select(.type == null)][0].id' "$T_DIR/expected.json")
expect GET "/v1/lesions/$unl" 200
jqt '.type == null and .type_name == null'

# filters and paging
nlung=$(jq '[.[] | select(.type == 5)] | length' "$T_DIR/expected.json")
expect GET "/v1/lesions?type=lung&limit=1000" 200
jqt ".count == $nlung and ([.lesions[].type] | all(. == 5))"
expect GET "/v1/lesions?type=5,4&split=test&limit=1000" 200
n=$(jq '[.[] | select((.type == 5 or .type == 4) and .split == 3)] | length' "$T_DIR/expected.json")
jqt ".count == $n"
expect GET "/v1/lesions?patient=4&limit=1000" 200
n=$(jq '[.[] | select(.patient == 4)] | length' "$T_DIR/expected.json")
jqt ".count == $n and ([.lesions[].patient] | all(. == 4))"
# cursor paging visits every lesion exactly once
cursor=""; seen=0; pages=0
while :; do
	req GET "/v1/lesions?limit=37${cursor:+&cursor=$cursor}"
	seen=$((seen + $(jq '.count' "$T_DIR/body")))
	pages=$((pages + 1))
	cursor=$(jq -r '.next_cursor // empty' "$T_DIR/body")
	[ -z "$cursor" ] && break
	[ $pages -gt 20 ] && break
done
check "cursor paging visits all 260 lesions" test $seen = 260

# bad input: problem+json every time
expect GET /v1/lesions/99999 404; problem 404
expect GET /v1/lesions/abc 404; problem 404
expect GET /v1/lesions/0 404
expect GET /v1/lesions/-3 404
expect GET "/v1/lesions?limit=0" 422; problem 422
expect GET "/v1/lesions?limit=abc" 422
expect GET "/v1/lesions?type=spleen" 422; problem 422
expect GET "/v1/lesions?cursor=xyz" 400; problem 400
expect GET "/v1/lesions?min_diam_mm=9&max_diam_mm=3" 422
expect GET /v1/nothing/here 404; problem 404
expect PUT /v1/lesions/1 405; problem 405
hdr Allow 'GET.*DELETE'
expect PATCH /v1/lesions/1 405
expect POST /v1/lesions 415 -H 'Content-Type: text/plain' --data 'hello'; problem 415
expect POST /v1/lesions 400 -H 'Content-Type: application/json' --data '{"patient":'; problem 400
expect POST /v1/lesions 400 -H 'Content-Type: application/json' --data ''
expect POST /v1/lesions 422 -H 'Content-Type: application/json' --data '{"patient":"one"}'; problem 422
expect POST /v1/lesions 422 -H 'Content-Type: application/json' --data '[1,2]'
expect POST /v1/lesions 422 -H 'Content-Type: application/json' --data '{"patient":7,"study":1,"series":1,"key_slice":5,"measurement_coordinates":[1,2,3],"normalized_location":[0.5,0.5,0.5],"spacing_mm_px":[0.7,0.7,5]}'
jqt '.detail | test("measurement_coordinates")'
expect POST /v1/lesions 422 -H 'Content-Type: application/json' --data '{"patient":7,"study":1,"series":1,"key_slice":5,"measurement_coordinates":[1,2,3,4,5,6,7,8],"normalized_location":[0.5,0.5,0.5],"spacing_mm_px":[0.7,0.7,5],"colour":"red"}'
head -c 100000 /dev/zero | tr '\0' ' ' > "$T_DIR/big"
expect POST /v1/lesions 413 -H 'Content-Type: application/x-ndjson' --data-binary @"$T_DIR/big"; problem 413
req GET /v1/stats
jqt '.lesions == 260'

# adding: one object, then NDJSON (all-or-nothing)
L='{"patient":900,"study":1,"series":1,"key_slice":20,"measurement_coordinates":[100,100,120,110,108,112,112,98],"normalized_location":[0.4,0.5,0.6],"spacing_mm_px":[0.7,0.7,2.5],"type":"liver","split":"val","age":55,"gender":"M"}'
expect POST /v1/lesions 201 -H 'Content-Type: application/json' --data "$L"
jqt '.ids == [261] and .added == 1'
expect GET /v1/lesions/261 200
jqt '.type == 4 and .split == 2 and .bounding_box == [95,93,125,117] and .file_name == "000900_01_01_020.png"'
printf '%s\n%s\n' "$L" "$(echo "$L" | sed 's/"key_slice":20/"key_slice":21/')" > "$T_DIR/two.ndjson"
expect POST /v1/lesions 201 -H 'Content-Type: application/x-ndjson' --data-binary @"$T_DIR/two.ndjson"
jqt '.ids == [262, 263]'
printf '%s\n%s\n' "$L" '{"patient":"bad"}' > "$T_DIR/bad.ndjson"
expect POST /v1/lesions 422 -H 'Content-Type: application/x-ndjson' --data-binary @"$T_DIR/bad.ndjson"
jqt '.detail | test("line 2")'
req GET /v1/stats
jqt '.lesions == 263'
expect POST /v1/lesions 409 -H 'Content-Type: application/json' --data "$(echo "$L" | sed 's/^{/{"id":1,/')"

# deleting
expect DELETE /v1/lesions/262 204
expect DELETE /v1/lesions/262 404; problem 404
expect GET /v1/lesions/262 404
expect DELETE /v1/lesions/abc 404

# CORS preflight
expect OPTIONS /v1/lesions 204 -H 'Origin: http://viewer.example' -H 'Access-Control-Request-Method: POST'
hdr Access-Control-Allow-Origin '\*'
hdr Access-Control-Allow-Methods 'POST'

# clean shutdown on SIGTERM
stop_server
check "SIGTERM: exit status 0" test "${T_RC:-1}" = 0
check "SIGTERM: closed cleanly" grep -q "stopped cleanly" "$T_DIR/server.log"
check "one access-log line per request" grep -q 'req=.* GET /v1/lesions/1 route=lesion_get status=200 bytes=' "$T_DIR/server.log"
finish
