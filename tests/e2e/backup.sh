#!/bin/sh
# backup.sh - black-box tests of `lesiond backup` / `lesiond restore`: an online backup
# taken while the daemon serves (with a write still in its WAL), restored into a fresh
# directory and compared lesion by lesion and vector by vector with the original; a
# restored daemon loads the backed-up index snapshots; a non-empty target is refused
# without --force; a damaged file or manifest is refused with the target untouched.
. "$(dirname "$0")/lib.sh"
DB="$T_DIR/live/lesiond.db"
mkdir -p "$T_DIR/live"
"$LESIOND" ingest --csv "$LSD_SHARED_DATA/DL_info_sample.csv" --db "$DB" > /dev/null
python3 - "$T_DIR" <<'PY'
import random, struct, sys
random.seed(11)
d = sys.argv[1]
for name, dim, n in (("a", 16, 250), ("b", 8, 120)):
    with open("%s/%s.fvecs" % (d, name), "wb") as f, open("%s/%s.ids" % (d, name), "w") as ids:
        for i in range(1, n + 1):
            f.write(struct.pack("<i", dim) + struct.pack("<%df" % dim, *[random.gauss(0, 1) for _ in range(dim)]))
            ids.write("%d\n" % (i * 2 if name == "b" else i))
PY
check "import-vectors a" "$LESIOND" import-vectors --space a --ids "$T_DIR/a.ids" --vectors "$T_DIR/a.fvecs" --db "$DB"
check "import-vectors b (HNSW)" "$LESIOND" import-vectors --space b --ids "$T_DIR/b.ids" --vectors "$T_DIR/b.fvecs" --index-type HNSW16 --metric ip --db "$DB"
start_server || { echo "RESULT 0 1"; exit 1; }
# one more lesion and one delete through the API: live in the daemon's WAL when we back up
L=$(curl -s "$BASE/v1/lesions/7" | jq -c 'del(.id,.patch_url,.image_path,.diameters_mm,.type_name,.split_name,.file_name) | .key_slice = .slice_range[0]')
expect POST /v1/lesions 201 -H 'Content-Type: application/json' --data "$L"
expect DELETE /v1/lesions/5 204
expect GET /v1/lesions/5 404

# online: the daemon keeps serving reads during the backup
( for i in 1 2 3 4 5 6 7 8 9 10; do curl -s "$BASE/v1/lesions/1/similar?space=a" > /dev/null; done ) &
LOADPID=$!
check "backup while serving" "$LESIOND" backup --db "$DB" --out "$T_DIR/bk"
wait $LOADPID
check "MANIFEST lists the database and 1 snapshot pair (HNSW b; Flat a has no index)" \
	test "$(grep -c '^file=' "$T_DIR/bk/MANIFEST")" = 3
check "MANIFEST counts 260 lesions (260 ingested, 1 added, 1 deleted)" \
	grep -q '^lesions=260$' "$T_DIR/bk/MANIFEST"
check "MANIFEST space a: 249 vectors (lesion 5 deleted)" grep -q '^space=a dim=16 metric=l2 vectors=249 ' "$T_DIR/bk/MANIFEST"
check "MANIFEST space b: 120 vectors" grep -q '^space=b dim=8 metric=ip vectors=120 ' "$T_DIR/bk/MANIFEST"
check "backup refuses a directory that holds a backup" sh -c "! '$LESIOND' backup --db '$DB' --out '$T_DIR/bk' 2>/dev/null"
check "restore --verify-only" "$LESIOND" restore --from "$T_DIR/bk" --verify-only

# the originals, for comparison
curl -s "$BASE/v1/lesions?limit=1000" | jq -S '.lesions' > "$T_DIR/lesions.orig"
stop_server
dumpvec() { sqlite3 "$1" "SELECT space, lesion_id, hex(vec) FROM vectors ORDER BY space, lesion_id"; }
dumpvec "$DB" > "$T_DIR/vec.orig"
check "original has 369 vectors" test "$(wc -l < "$T_DIR/vec.orig")" = 369
"$LESIOND" knn --space b --k 5 --db "$DB" > "$T_DIR/knn.orig" 2>/dev/null

# restore into a fresh directory
mkdir -p "$T_DIR/new"
check "restore into a fresh directory" "$LESIOND" restore --from "$T_DIR/bk" --db "$T_DIR/new/lesiond.db"
check "restored snapshots present" test -s "$T_DIR/new/lesiond.db.space-b.faiss"
check "no temporary files left" sh -c "! ls '$T_DIR/new' | grep -q restore-"
dumpvec "$T_DIR/new/lesiond.db" > "$T_DIR/vec.new"
check "every vector identical (369 rows, bytes)" cmp -s "$T_DIR/vec.orig" "$T_DIR/vec.new"
DB="$T_DIR/new/lesiond.db"
start_server || { echo "RESULT 0 1"; exit 1; }
expect GET /readyz 200
curl -s "$BASE/v1/lesions?limit=1000" | jq -S '.lesions' > "$T_DIR/lesions.new"
check "every lesion identical (260, every field)" cmp -s "$T_DIR/lesions.orig" "$T_DIR/lesions.new"
check "260 lesions compared" test "$(jq length "$T_DIR/lesions.new")" = 260
check "the HNSW snapshot loaded, not rebuilt" grep -q 'space b: loaded snapshot' "$T_DIR/server.log"
check "the Flat space needs no index" grep -q 'space a: exact Flat over the memory copy' "$T_DIR/server.log"
expect GET /v1/lesions/5 404
stop_server
"$LESIOND" knn --space b --k 5 --db "$DB" > "$T_DIR/knn.new" 2>/dev/null
check "knn over the restored HNSW index identical" cmp -s "$T_DIR/knn.orig" "$T_DIR/knn.new"
check "knn output not empty" test -s "$T_DIR/knn.new"

# a non-empty target is refused without --force, and left alone
sum_new=$(cksum < "$DB")
check "restore over an existing db refused" sh -c "! '$LESIOND' restore --from '$T_DIR/bk' --db '$DB' 2>'$T_DIR/err'"
check "refusal says why" grep -q 'not empty' "$T_DIR/err"
check "--force replaces it" "$LESIOND" restore --from "$T_DIR/bk" --db "$DB" --force
check "and the result is the same database" test "$(dumpvec "$DB" | cksum)" = "$(cksum < "$T_DIR/vec.orig")"

# damaged backups are refused before anything is written
damage() { # name, file in the backup, python expression transforming bytes b
	rm -rf "$T_DIR/bad" "$T_DIR/t_$1" && cp -r "$T_DIR/bk" "$T_DIR/bad" && mkdir -p "$T_DIR/t_$1"
	python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b=$3; open(p,'wb').write(bytes(b))" "$T_DIR/bad/$2"
	check "damaged $1 refused" sh -c "! '$LESIOND' restore --from '$T_DIR/bad' --db '$T_DIR/t_$1/lesiond.db' 2>'$T_DIR/err'"
	check "damaged $1: nothing written" test -z "$(ls -A "$T_DIR/t_$1")"
	grep -q "$4" "$T_DIR/err" && ok "damaged $1: says '$4'" || not_ok "damaged $1: said $(cat "$T_DIR/err")"
}
damage db lesiond.db 'b[:len(b)//2]+bytes([b[len(b)//2]^1])+b[len(b)//2+1:]' 'checksum mismatch'
damage snapshot lesiond.db.space-b.faiss 'b[:-1]' 'bytes, the manifest says'
damage manifest MANIFEST 'bytearray(bytes(b).replace(b"lesions=260", b"lesions=261"))' 'manifest was altered'
damage missing MANIFEST 'b"lesiond-backup=1\n"' 'no manifest checksum'
# a consistent but lying manifest (checksum recomputed) is caught by the staged check
rm -rf "$T_DIR/bad" "$T_DIR/t_lie" && cp -r "$T_DIR/bk" "$T_DIR/bad" && mkdir -p "$T_DIR/t_lie"
python3 - "$T_DIR/bad/MANIFEST" <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().splitlines()[:-1]
lines = [l.replace("lesions=260", "lesions=259") for l in lines]
text = "".join(l + "\n" for l in lines)
h = 14695981039346656037
for c in text.encode():
    h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
open(p, "w").write(text + "manifest_fnv1a64=%016x\n" % h)
PY
check "lying manifest refused" sh -c "! '$LESIOND' restore --from '$T_DIR/bad' --db '$T_DIR/t_lie/lesiond.db' 2>'$T_DIR/err'"
check "lying manifest: nothing written" test -z "$(ls -A "$T_DIR/t_lie")"
check "lying manifest: counts named" grep -q 'the manifest says' "$T_DIR/err"
finish
