#!/bin/sh
# fields.sh - every DL_info.csv field value through ingest and GET /v1/lesions/{id},
# against a plain csv-module oracle (tests/e2e/fields_oracle.py): the 260 real rows of
# DL_info_sample.csv (the NaN age, 768x768 images, spacing 0.31-0.98 mm/px and 0.25-5 mm
# between slices, non-integer windows, every type, split and gender) plus 12 synthetic
# rows for what the sample lacks (Possibly_noisy = 1 with every split, unknown gender,
# a 0.2 mm/px and a 2 mm/px spacing, an age of 0). Then the noisy, age, split, type and
# diameter filters of /v1/lesions, counted against the oracle.
. "$(dirname "$0")/lib.sh"
DB="$T_DIR/lesiond.db"
OR="$(dirname "$0")/fields_oracle.py"
python3 "$OR" gen "$LSD_SHARED_DATA/DL_info_sample.csv" "$T_DIR/DL_info.csv" || { echo "RESULT 0 1"; exit 1; }
check "ingest 272 rows" sh -c "'$LESIOND' ingest --csv '$T_DIR/DL_info.csv' --db '$DB' > /dev/null"
start_server || { echo "RESULT 0 1"; exit 1; }
: > "$T_DIR/got.ndjson"
for i in $(seq 1 272); do
	curl -s "$BASE/v1/lesions/$i" >> "$T_DIR/got.ndjson"; echo >> "$T_DIR/got.ndjson"
done
check "every field of every lesion equals the CSV" python3 "$OR" check "$T_DIR/DL_info.csv" "$T_DIR/got.ndjson"
# list filters, counted by the oracle
for qs in "exclude_noisy=true" "min_age=60" "max_age=40" "split=test" "split=train,val" "type=lung,liver" \
	"min_diam_mm=20&max_diam_mm=40" "gender=F&split=val" "patient=1&study=2"; do
	want=$(python3 "$OR" count "$T_DIR/DL_info.csv" "$qs")
	got=$(curl -s "$BASE/v1/lesions?limit=1000&$qs" | jq '[.lesions[].id] | length')
	check "/v1/lesions?$qs: $got lesions, the CSV says $want" test "$got" = "$want"
done
finish
