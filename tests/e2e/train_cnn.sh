#!/bin/sh
# train_cnn.sh - black-box tests of `lesiond train --from images` (the lesion network) on a
# small demo: the default (fused, location-coded) network refused before `lesiond embed`;
# training (a progress line per epoch with the validation 5-NN, the model row with its loss
# and validation curves), determinism for a seed on one thread, lesions without images
# reported and skipped, `lesiond embed --space`, eval, the model layouts (pixels only,
# without the location code, stored before the layout keys) and a model whose parameters
# misstate its inputs, and over HTTP: similar-lesion and image-region search in the CNN
# spaces (with and without a location), a lesion POSTed over HTTP embedded into them
# automatically (also when another network cannot embed it).
. "$(dirname "$0")/lib.sh"
DB="$T_DIR/lesiond.db"
D="$T_DIR/demo"
"$LESIOND" demo --out "$D" --patients 12 --seed 5 > /dev/null 2>&1
"$LESIOND" ingest --csv "$D/DL_info.csv" --db "$DB" > /dev/null 2>&1
N=$(($(wc -l < "$D/DL_info.csv") - 1))
check "demo has lesions" test "$N" -gt 50
# one lesion's series gone: it is reported and skipped
GONE=$(sqlite3 "$DB" "select id from lesions order by id desc limit 1")
GONE_DIR=$(sqlite3 "$DB" "select printf('%06d_%02d_%02d', patient, study, series) from lesions where id=$GONE")
mv "$D/Images_png/$GONE_DIR" "$D/gone"
NIMG=$(sqlite3 "$DB" "select count(*) from lesions where printf('%06d_%02d_%02d', patient, study, series) <> '$GONE_DIR'")
# the default network is fused with the built-in descriptor's appearance block: it needs
# the builtin space first
"$LESIOND" train --from images --to cnn --labels "$D/ground_truth.csv" --force --epochs 1 \
	--images "$D/Images_png" --db "$DB" > /dev/null 2> "$T_DIR/fuse0.err"
check "fused without the builtin space: exit 1" test $? = 1
check "fused without the builtin space: says so" grep -q "needs the builtin space" "$T_DIR/fuse0.err"
"$LESIOND" embed --images "$D/Images_png" --db "$DB" > /dev/null 2>&1
check "builtin for every lesion with images" test "$(sqlite3 "$DB" "select count(*) from vectors where space='builtin'")" = "$NIMG"

"$LESIOND" train --from images --to cnn --labels "$D/ground_truth.csv" --epochs 3 \
	--images "$D/Images_png" --db "$DB" > /dev/null 2> "$T_DIR/refused.err"
check "eval-split labels refused (exit 2)" test $? = 2
"$LESIOND" train --from images --to cnn --epochs 2 --db "$DB" > /dev/null 2>&1
check "no --images: exit 1" test $? = 1
"$LESIOND" train --from images --to cnn --side 50 --images "$D/Images_png" --db "$DB" > /dev/null 2>&1
check "bad --side: exit 2" test $? = 2

check "train --from images" "$LESIOND" train --from images --to cnn --labels "$D/ground_truth.csv" \
	--force --epochs 3 --width 8 --seed 4 --threads 1 --images "$D/Images_png" --db "$DB" \
	> "$T_DIR/train.out" 2> "$T_DIR/train.err"
cat "$T_DIR/train.out"
check "one progress line per epoch, with val 5-NN" test "$(grep -c '^train: epoch .* val 5-NN' "$T_DIR/train.err")" = 3
check "missing images reported" grep -q "no image: lesion [0-9]*: $GONE_DIR/[0-9]*.png: no such file" "$T_DIR/train.err"
check "summary counts the lesions without images" grep -q "$N lesions, [1-9][0-9]* without images" "$T_DIR/train.out"
check "every lesion with images embedded" test "$(sqlite3 "$DB" "select count(*) from vectors where space='cnn'")" = "$NIMG"
check "model row" test "$(sqlite3 "$DB" "select from_space || ' ' || json_array_length(loss_curve) || ' ' || json_array_length(json_extract(params, '\$.val_acc')) || ' ' || json_extract(params, '\$.width') || ' ' || (length(weights) > 10000) || ' ' || json_extract(params, '\$.fuse_builtin') || ' ' || json_extract(params, '\$.loc_code') || ' ' || (json_extract(params, '\$.fuse_scale') > 0) || ' ' || json_extract(params, '\$.append_w') from models where name='cnn'")" = "@images 3 3 8 1 1 1 1 1"
"$LESIOND" train --from images --to cnn2 --labels "$D/ground_truth.csv" --force --epochs 3 \
	--width 8 --seed 4 --threads 1 --images "$D/Images_png" --db "$DB" > /dev/null 2>&1
check "deterministic for a seed" test "$(sqlite3 "$DB" "select count(*) from vectors a join vectors b using (lesion_id) where a.space='cnn' and b.space='cnn2' and a.vec = b.vec")" = "$NIMG"
check "embed --space cnn" "$LESIOND" embed --space cnn --images "$D/Images_png" --db "$DB"
check "embed leaves the vectors as trained" test "$(sqlite3 "$DB" "select count(*) from vectors a join vectors b using (lesion_id) where a.space='cnn' and b.space='cnn2' and a.vec = b.vec")" = "$NIMG"
"$LESIOND" eval --space cnn --truth "$D/ground_truth.csv" --json --db "$DB" 2>/dev/null > "$T_DIR/eval.json"
check "eval cnn" jq -e >/dev/null '.queries > 5 and (.at[1].type_precision | . >= 0 and . <= 1)' "$T_DIR/eval.json"
mv "$D/gone" "$D/Images_png/$GONE_DIR"
# the network alone (no fused descriptor), one epoch: embedded like the default one
check "train --fuse-builtin 0" "$LESIOND" train --from images --to cnnp --fuse-builtin 0 \
	--labels "$D/ground_truth.csv" --force --epochs 1 --width 4 --images "$D/Images_png" --db "$DB"
check "pixels-only model row (with the location code)" test "$(sqlite3 "$DB" "select json_extract(params, '\$.fuse_builtin') || json_extract(params, '\$.loc_code') from models where name='cnnp'")" = 01
# without the location code (--location-code 0: the layout of models trained before it)
"$LESIOND" train --from images --to cnnf --location-code 2 --images "$D/Images_png" --db "$DB" > /dev/null 2>&1
check "bad --location-code: exit 2" test $? = 2
check "train --location-code 0" "$LESIOND" train --from images --to cnnf --location-code 0 \
	--labels "$D/ground_truth.csv" --force --epochs 1 --width 4 --images "$D/Images_png" --db "$DB"
check "no-code model row" test "$(sqlite3 "$DB" "select json_extract(params, '\$.fuse_builtin') || json_extract(params, '\$.loc_code') from models where name='cnnf'")" = 10
# a model stored before the fuse_builtin and loc_code keys existed takes its layout from its
# weights (extra inputs = the builtin block): embedded as before
sqlite3 "$DB" "create table fvec as select lesion_id, vec from vectors where space='cnnf'"
sqlite3 "$DB" "update models set params = json_remove(params, '\$.fuse_builtin', '\$.loc_code') where name='cnnf'"
check "model without layout keys: embed --space" "$LESIOND" embed --space cnnf --images "$D/Images_png" --db "$DB"
check "model without layout keys: the same vectors" test "$(sqlite3 "$DB" "select count(*) from vectors v join fvec f using (lesion_id) where v.space='cnnf' and v.vec = f.vec")" = "$NIMG"
# a model whose parameters do not match its extra inputs is refused, not misread
sqlite3 "$DB" "update models set params = json_set(params, '\$.loc_code', 0) where name='cnnp'"
"$LESIOND" embed --space cnnp --images "$D/Images_png" --db "$DB" > /dev/null 2> "$T_DIR/misfit.err"
check "misfit model: exit 1" test $? = 1
check "misfit model: says so" grep -q "cnnp has 43 extra inputs, its parameters say 0" "$T_DIR/misfit.err"
sqlite3 "$DB" "update models set params = json_set(params, '\$.loc_code', 1) where name='cnnp'"
check "pixels-only: every lesion embedded (its images are back)" test "$(sqlite3 "$DB" "select count(*) from vectors where space='cnnp'")" = "$N"
# test-time views (--tta-orient/--tta-shift): stored with the model and used by every
# embedding of the space: training's, embed --space, a POSTed lesion, an image region
"$LESIOND" train --from images --to cnnt --tta-orient 3 --images "$D/Images_png" --db "$DB" > /dev/null 2>&1
check "bad --tta-orient: exit 2" test $? = 2
check "train --tta-orient 2 --tta-shift 1.5" "$LESIOND" train --from images --to cnnt \
	--tta-orient 2 --tta-shift 1.5 --labels "$D/ground_truth.csv" --force --epochs 1 --width 4 \
	--threads 1 --images "$D/Images_png" --db "$DB"
check "views in the model row" test "$(sqlite3 "$DB" "select json_extract(params, '\$.tta_orient') || ' ' || json_extract(params, '\$.tta_shift_mm') from models where name='cnnt'")" = "2 1.5"
sqlite3 "$DB" "create table tvec as select lesion_id, vec from vectors where space='cnnt'"
check "embed --space cnnt" "$LESIOND" embed --space cnnt --images "$D/Images_png" --db "$DB"
check "embed --space: the views as in training" test "$(sqlite3 "$DB" "select count(*) from vectors v join tvec t using (lesion_id) where v.space='cnnt' and v.vec = t.vec")" = "$NIMG"
# the same network without the views gives other vectors (the views are applied)
sqlite3 "$DB" "update models set params = json_set(params, '\$.tta_orient', 1, '\$.tta_shift_mm', 0) where name='cnnt'"
"$LESIOND" embed --space cnnt --images "$D/Images_png" --db "$DB" > /dev/null 2>&1
check "without the views the vectors differ" test "$(sqlite3 "$DB" "select count(*) from vectors v join tvec t using (lesion_id) where v.space='cnnt' and v.vec = t.vec")" = 0
sqlite3 "$DB" "update models set params = json_set(params, '\$.tta_orient', 2, '\$.tta_shift_mm', 1.5) where name='cnnt'"
"$LESIOND" embed --space cnnt --images "$D/Images_png" --db "$DB" > /dev/null 2>&1
check "views restored" test "$(sqlite3 "$DB" "select count(*) from vectors v join tvec t using (lesion_id) where v.space='cnnt' and v.vec = t.vec")" = "$NIMG"
# a network that cannot embed (its parameters misstate its inputs) sorts before the others:
# a lesion POSTed later still lands in every other CNN space (checked after the server)
check "train cnna (to be broken)" "$LESIOND" train --from images --to cnna --fuse-builtin 0 \
	--labels "$D/ground_truth.csv" --force --epochs 1 --width 4 --threads 1 \
	--images "$D/Images_png" --db "$DB"
sqlite3 "$DB" "update models set params = json_set(params, '\$.loc_code', 0) where name='cnna'"

start_server --images "$D/Images_png" || { echo "RESULT $T_PASS $((T_FAIL + 1))"; exit 1; }
expect GET /v1/stats 200
jqt "any(.spaces[]; .name == \"cnn\" and .dim == 69 and .count == $NIMG)"
ID=$(sqlite3 "$DB" "select id from lesions order by id limit 1")
expect GET "/v1/lesions/$ID/similar?space=cnn&k=5" 200
jqt '.count == 5 and .space == "cnn" and ([.results[].distance] | . == sort)'
# image region: the lesion's own box on its key slice finds the lesion itself first
SL=$(sqlite3 "$DB" "select printf('%06d_%02d_%02d/%03d.png', patient, study, series, key_slice) from lesions where id=$ID")
BOX=$(curl -s "$BASE/v1/lesions/$ID" | jq -c '.bounding_box')
SP=$(curl -s "$BASE/v1/lesions/$ID" | jq '.spacing_mm_px[0]')
LOC=$(curl -s "$BASE/v1/lesions/$ID" | jq -c '.normalized_location')
expect POST /v1/search 200 -H 'Content-Type: application/json' \
	--data "{\"space\":\"cnn\",\"k\":3,\"image\":{\"slice\":\"$SL\",\"bbox\":$BOX,\"spacing_mm\":$SP,\"location\":$LOC}}"
jqt ".count == 3 and .space == \"cnn\" and .query.image == true and .query.space == \"cnn\""
jqt ".results[0].lesion_id == $ID"
expect POST /v1/search 200 -H 'Content-Type: application/json' \
	--data "{\"space\":\"cnnp\",\"k\":3,\"image\":{\"slice\":\"$SL\",\"bbox\":$BOX,\"spacing_mm\":$SP,\"location\":$LOC}}"
jqt ".results[0].lesion_id == $ID and .query.space == \"cnnp\""
expect POST /v1/search 200 -H 'Content-Type: application/json' \
	--data "{\"space\":\"cnnf\",\"k\":3,\"image\":{\"slice\":\"$SL\",\"bbox\":$BOX,\"spacing_mm\":$SP,\"location\":$LOC}}"
jqt ".results[0].lesion_id == $ID and .query.space == \"cnnf\""
# a region without a location: the code is zeros (and the appended location the mean)
expect POST /v1/search 200 -H 'Content-Type: application/json' \
	--data "{\"space\":\"cnn\",\"k\":3,\"image\":{\"slice\":\"$SL\",\"bbox\":$BOX,\"spacing_mm\":$SP}}"
jqt ".count == 3 and .query.image == true"
expect POST /v1/search 200 -H 'Content-Type: application/json' \
	--data "{\"space\":\"cnnt\",\"k\":3,\"image\":{\"slice\":\"$SL\",\"bbox\":$BOX,\"spacing_mm\":$SP,\"location\":$LOC}}"
jqt ".results[0].lesion_id == $ID and .query.space == \"cnnt\""
expect POST /v1/search 404 -H 'Content-Type: application/json' \
	--data "{\"space\":\"cnn\",\"k\":3,\"image\":{\"slice\":\"999999_01_01/001.png\",\"bbox\":[1,1,20,20],\"spacing_mm\":0.7}}"
# a lesion deleted and POSTed again is embedded into cnn and finds the same neighbours
expect GET "/v1/lesions/$ID/similar?space=cnn&k=5" 200
jq -c '[.results[].lesion_id]' "$T_DIR/body" > "$T_DIR/before.json"
curl -s "$BASE/v1/lesions/$ID" | jq 'del(.id)' > "$T_DIR/lesion.json"
expect DELETE "/v1/lesions/$ID" 204
expect POST /v1/lesions 201 -H 'Content-Type: application/json' --data @"$T_DIR/lesion.json"
NEW=$(jq '.ids[0] // .id' "$T_DIR/body")
expect GET "/v1/lesions/$NEW/similar?space=cnn&k=5" 200
jqt "[.results[].lesion_id] == $(cat "$T_DIR/before.json")"
# the training report
expect GET /v1/spaces/cnn 200
jqt '.name == "cnn" and .dim == 69 and .model.from == "@images" and (.model.loss_curve | length) == 3 and (.model.params.val_acc | length) == 3 and all(.model.params.val_acc[]; . >= 0 and . <= 1) and .model.training_png == "/v1/spaces/cnn/training.png"'
expect GET /v1/spaces/cnn/training.png 200
check "training.png is a PNG" sh -c "head -c 8 '$T_DIR/body' | od -An -c | grep -q 'P   N   G'"
check "training.png has the curves' colours" test "$(od -An -v -tx1 "$T_DIR/body" | wc -l)" -gt 50
expect GET /v1/spaces/nope 404
expect GET /v1/spaces/nope/training.png 404
stop_server
check "added lesion's CNN vector stored" test "$(sqlite3 "$DB" "select count(*) from vectors where space='cnn' and lesion_id=$NEW")" = 1
check "added lesion's vector with views = the deleted original's" test "$(sqlite3 "$DB" "select count(*) from vectors v join tvec t on t.lesion_id=$ID where v.space='cnnt' and v.lesion_id=$NEW and v.vec = t.vec")" = 1
check "added lesion's pixels-only CNN vector stored" test "$(sqlite3 "$DB" "select count(*) from vectors where space='cnnp' and lesion_id=$NEW")" = 1
check "added lesion's no-code CNN vector stored" test "$(sqlite3 "$DB" "select count(*) from vectors where space='cnnf' and lesion_id=$NEW")" = 1
check "added lesion: no vector in the broken space" test "$(sqlite3 "$DB" "select count(*) from vectors where space='cnna' and lesion_id=$NEW")" = 0
check "added lesion: the broken space named in the log" grep -q "added lesions not embedded by a trained network: 1 of 6 networks failed; space cnna: model cnna has 43 extra inputs" "$T_DIR/server.log"
# the location code reaches the network at inference: with nothing appended (the vector is
# the network's embedding alone), moving a lesion in z moves its vector with the code and
# leaves it without the code
for m in "cnnz 1" "cnnq 0"; do
	set -- $m
	check "train $1 --append-dims none --fuse-builtin 0 --location-code $2" "$LESIOND" train \
		--from images --to "$1" --append-dims none --fuse-builtin 0 --location-code "$2" \
		--labels "$D/ground_truth.csv" --force --epochs 1 --width 4 --threads 1 \
		--images "$D/Images_png" --db "$DB"
done
sqlite3 "$DB" "create table zvec as select space, lesion_id, vec from vectors where space in ('cnnz', 'cnnq')"
sqlite3 "$DB" "update lesions set loc_z = case when loc_z < 0.5 then loc_z + 0.4 else loc_z - 0.4 end where id=$NEW"
for s in cnnz cnnq; do "$LESIOND" embed --space $s --images "$D/Images_png" --db "$DB" > /dev/null 2>&1; done
check "moved in z: the coded vector moves, only it" test "$(sqlite3 "$DB" "select group_concat(v.space || ':' || v.lesion_id) from vectors v join zvec z using (space, lesion_id) where v.vec <> z.vec")" = "cnnz:$NEW"
finish
