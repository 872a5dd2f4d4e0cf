#!/bin/sh
# sheets.sh - the composed PNGs end to end on a small demo dataset (4 patients, embedded,
# graph built): GET /v1/lesions/{id}/similar.png and /v1/patients/{pid}/graph.png.
# Checks status, type, caching headers (ETag, no-cache, 304), canvas sizes worked out
# here from the geometry documented in include/sheet.h and server/h_sheets.c (tile 128,
# border 3, gap 10, two 9-pixel text lines, header, legend), that the grid grows with k,
# that tiles are pixel-identical to patch.png with the same window, the frame colours,
# every 4xx, that the JSON routes beside them still answer, and 503 without images.
. "$(dirname "$0")/lib.sh"
GEN="$(dirname "$0")/images_gen.py"
DB="$T_DIR/lesiond.db"
IMG="$T_DIR/demo/Images_png"

"$LESIOND" demo --out "$T_DIR/demo" --patients 4 --seed 3 > "$T_DIR/demo.out" 2>&1
check "demo" test -f "$T_DIR/demo/DL_info.csv"
"$LESIOND" ingest --csv "$T_DIR/demo/DL_info.csv" --images "$IMG" --db "$DB" > /dev/null 2>&1
"$LESIOND" embed --images "$IMG" --db "$DB" > "$T_DIR/embed.out" 2>&1
check "embed" grep -q "0 failed" "$T_DIR/embed.out"
"$LESIOND" graph --db "$DB" > "$T_DIR/graph.out" 2>&1
check "graph" grep -q "tracks" "$T_DIR/graph.out"
start_server --images "$IMG" || { not_ok "server start"; finish; exit 1; }

# geom.py: expected canvas sizes and positions, from the documented layout
cat > "$T_DIR/geom.py" <<'PY'
import math, struct, sys
sys.path.insert(0, sys.argv[1])
from images_gen import parse
T, B, G, LINE = 128, 3, 10, 9
NAMES = ["bone", "abdomen", "mediastinum", "liver", "lung", "kidney", "soft tissue",
         "pelvis", "unlabelled"]
RGB = {1: 0xf2c12e, 2: 0x4e9ff5, 3: 0xb07df0, 4: 0xc0703a, 5: 0x35d0e0, 6: 0x66cc55,
       7: 0xf07ac8, 8: 0xe8483c, None: 0x9a9a9a}

def legend_h(maxw):
    cx = cy = 0
    for n in NAMES:
        w = 7 + 2 + len(n) * 6 - 1
        if cx > 0 and cx + w > maxw:
            cx, cy = 0, cy + 11
        cx += w + 12
    return cy + 9

def cell(tile):
    return tile + 2 * B, tile + 2 * B + 2 + 2 * LINE

def similar(n, tile=T):
    # n tiles (query + hits), auto columns ceil(sqrt(1.5 n))
    cols = max(1, min(n, math.ceil(math.sqrt(1.5 * n))))
    rows = (n + cols - 1) // cols
    cw, ch = cell(tile)
    gx, gy = G, G + 2 * LINE + G
    w = max(gx + cols * (cw + G), 360)
    return w, gy + rows * (ch + G) + legend_h(w - 2 * G) + G, gx + B, gy + B, cw + G

def graph(tracks, studies, tile=T):
    cw, ch = cell(tile)
    gx, gy = G + 72 + G, G + 2 * LINE + 2 + G
    w = max(gx + studies * (cw + G), 360)
    return w, gy + tracks * (ch + G) + legend_h(w - 2 * G) + G, gx + B, gy + B, cw + G

def px(path, x, y):
    w, h, depth, ctype, bpp, rows = parse(path)
    return rows[y][x * bpp:(x + 1) * bpp]

cmd = sys.argv[2]
if cmd == "size":       # size FILE: "w h" of an RGB8 PNG
    w, h, depth, ctype, _, _ = parse(sys.argv[3])
    assert depth == 8 and ctype == 2, "not 8-bit RGB"
    print(w, h)
elif cmd == "similar":  # similar N [TILE]: expected "w h"
    print(*similar(int(sys.argv[3]), *(int(a) for a in sys.argv[4:5]))[:2])
elif cmd == "graph":    # graph TRACKS STUDIES
    print(*graph(int(sys.argv[3]), int(sys.argv[4]))[:2])
elif cmd == "tile":     # tile SHEET PATCH X Y: the 128x128 tile at (X, Y) equals the gray patch
    sw, sh, _, _, sb, srows = parse(sys.argv[3])
    pw, ph, _, pc, pb, prows = parse(sys.argv[4])
    x0, y0 = int(sys.argv[5]), int(sys.argv[6])
    assert pc == 0 and pw == T and ph == T, "patch is not a 128 gray image"
    bad = sum(srows[y0 + j][(x0 + i) * 3:(x0 + i) * 3 + 3] != bytes([prows[j][i]] * 3)
              for j in range(T) for i in range(T))
    print(bad)
elif cmd == "origin":   # origin similar N COL | origin graph ROW COL TRACKS STUDIES
    if sys.argv[3] == "similar":  # tile i (0 = the query) of n
        n, i = int(sys.argv[4]), int(sys.argv[5])
        w, h, x, y, step = similar(n)
        cols = max(1, min(n, math.ceil(math.sqrt(1.5 * n))))
        print(x + (i % cols) * step, y + (i // cols) * (cell(T)[1] + G))
    else:
        r, c, tr, st = (int(a) for a in sys.argv[4:8])
        w, h, x, y, step = graph(tr, st)
        print(x + c * step, y + r * (cell(T)[1] + G))
elif cmd == "rgb":      # rgb FILE X Y TYPE: the pixel has the type's frame colour
    v = px(sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    t = int(sys.argv[6]) if sys.argv[6] not in ("null", "-1") else None
    print("ok" if int.from_bytes(v, "big") == RGB[t] else "got %06x" % int.from_bytes(v, "big"))
PY
G() { python3 "$T_DIR/geom.py" "$(dirname "$GEN")" "$@"; }
pngsize() { G size "$T_DIR/body" 2>/dev/null; }
same() { # description, got, want
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (got '$2', want '$3')"; fi
}

# ---- the contact sheet ----
expect GET "/v1/lesions/1/similar?k=10" 200
N10=$(jq '.count' "$T_DIR/body")
# the best hit from another patient (same-patient tiles carry a "SAME PT" tab)
HIT1=$(jq '[.results[] | select(.lesion.patient != 1)][0].lesion_id' "$T_DIR/body")
RK1=$(jq '[.results[] | select(.lesion.patient != 1)][0].rank' "$T_DIR/body")
expect GET /v1/lesions/1/similar.png 200
hdr Content-Type 'image/png'
hdr Cache-Control 'no-cache'
hdr ETag '"s1-[0-9a-f]{16}"'
if grep -qi '^Cache-Control:.*immutable' "$T_DIR/hdr"; then not_ok "similar.png not immutable"
else ok "similar.png not immutable"; fi
cp "$T_DIR/body" "$T_DIR/sim10.png"
same "k=10 grid: 11 tiles, 5x3" "$(pngsize)" "$(G similar $((N10 + 1)))"
same "k=10 found 10" "$N10" 10
ET=$(grep -i '^ETag:' "$T_DIR/hdr" | cut -d' ' -f2 | tr -d '\r')
expect GET /v1/lesions/1/similar.png 304 -H "If-None-Match: $ET"
hdr Cache-Control 'no-cache'
expect GET /v1/lesions/1/similar.png 200 -H 'If-None-Match: "s1-0000000000000000"'
req GET "/v1/lesions/1/similar.png?k=3"
same "k=3 -> 200" "$ST" 200
same "k=3 grid: 4 tiles, 3x2" "$(pngsize)" "$(G similar 4)"
req GET "/v1/lesions/1/similar.png?k=1"
same "k=1 grid: 2 tiles, widened to 360" "$(pngsize)" "$(G similar 2)"
req GET "/v1/lesions/1/similar.png?k=23"
same "k=23 grid: all 23 others" "$(pngsize)" "$(G similar 24)"
req GET "/v1/lesions/1/similar.png?size=64"
same "size=64 tiles" "$(pngsize)" "$(G similar 11 64)"
req GET "/v1/lesions/1/similar.png?k=3&cols=4"
W=$(pngsize | cut -d' ' -f1)
same "cols=4 puts 4 tiles in one row" "$W" $((10 + 4 * 144))
# a different k is a different picture: a different ETag
req GET "/v1/lesions/1/similar.png?k=3"
ET3=$(grep -i '^ETag:' "$T_DIR/hdr" | cut -d' ' -f2 | tr -d '\r')
if [ "$ET3" != "$ET" ] && [ -n "$ET3" ]; then ok "ETag depends on k"; else not_ok "ETag depends on k"; fi

# tiles are the patch route's pixels, in one window (here soft_tissue for all)
req GET "/v1/lesions/1/similar.png?window=soft_tissue"
cp "$T_DIR/body" "$T_DIR/simw.png"
req GET "/v1/lesions/1/patch.png?window=soft_tissue"
cp "$T_DIR/body" "$T_DIR/p1.png"
req GET "/v1/lesions/$HIT1/patch.png?window=soft_tissue"
cp "$T_DIR/body" "$T_DIR/ph.png"
same "query tile == patch.png" "$(G tile "$T_DIR/simw.png" "$T_DIR/p1.png" $(G origin similar 11 0))" 0
same "rank-$RK1 tile == its patch.png" \
	"$(G tile "$T_DIR/simw.png" "$T_DIR/ph.png" $(G origin similar 11 "$RK1"))" 0
# frame colours: the pixel just left of each tile has its lesion type's colour
T1=$(curl -s "$BASE/v1/lesions/1" | jq '.type')
TH=$(curl -s "$BASE/v1/lesions/$HIT1" | jq '.type')
set -- $(G origin similar 11 0)
same "query frame in its type colour" "$(G rgb "$T_DIR/simw.png" $(($1 - 1)) $2 "$T1")" ok
set -- $(G origin similar 11 "$RK1")
same "rank-$RK1 frame in its type colour" "$(G rgb "$T_DIR/simw.png" $(($1 - 1)) $(($2 + 5)) "$TH")" ok

# search parameters are the JSON route's: a filter changes the grid
expect GET "/v1/lesions/1/similar?k=10&same_patient=only" 200
NSP=$(jq '.count' "$T_DIR/body")
req GET "/v1/lesions/1/similar.png?k=10&same_patient=only"
same "same_patient=only: query + $NSP" "$(pngsize)" "$(G similar $((NSP + 1)))"

# errors
expect GET /v1/lesions/99999/similar.png 404
problem 404
expect GET /v1/lesions/abc/similar.png 404
expect GET "/v1/lesions/1/similar.png?k=0" 422
problem 422
expect GET "/v1/lesions/1/similar.png?k=101" 422
expect GET "/v1/lesions/1/similar.png?k=x" 422
expect GET "/v1/lesions/1/similar.png?size=300" 422
expect GET "/v1/lesions/1/similar.png?size=16" 422
expect GET "/v1/lesions/1/similar.png?size=abc" 400
expect GET "/v1/lesions/1/similar.png?format=png16" 422
expect GET "/v1/lesions/1/similar.png?slice_offset=1" 422
expect GET "/v1/lesions/1/similar.png?window=nope" 422
expect GET "/v1/lesions/1/similar.png?cols=0" 422
expect GET "/v1/lesions/1/similar.png?space=nope" 404
expect GET "/v1/lesions/1/similar.png?same_patient=maybe" 422
expect GET "/v1/lesions/1/similar.png?type=nope" 422
expect POST /v1/lesions/1/similar.png 405
# the JSON routes beside the PNG ones are not shadowed
expect GET "/v1/lesions/1/similar?k=2" 200
hdr Content-Type 'application/json'

# ---- the track timeline ----
expect GET /v1/patients/1/graph 200
TR=$(jq '.tracks' "$T_DIR/body")
NS=$(jq '[.nodes[].study] | unique | length' "$T_DIR/body")
# the first track's earliest lesion: row 0, column of its study
L0=$(jq '[.nodes[] | select(.track == 0)] | min_by(.study) | .lesion_id' "$T_DIR/body")
C0=$(jq '([.nodes[] | select(.track == 0)] | min_by(.study) | .study) as $s |
	 [.nodes[].study] | unique | index($s)' "$T_DIR/body")
expect GET /v1/patients/1/graph.png 200
hdr Content-Type 'image/png'
hdr Cache-Control 'no-cache'
cp "$T_DIR/body" "$T_DIR/g1.png"
same "graph.png: $TR tracks x $NS studies" "$(pngsize)" "$(G graph "$TR" "$NS")"
GET_ET=$(grep -i '^ETag:' "$T_DIR/hdr" | cut -d' ' -f2 | tr -d '\r')
expect GET /v1/patients/1/graph.png 304 -H "If-None-Match: $GET_ET"
# its tiles are patch.png in the row's (earliest lesion's) DICOM window
req GET "/v1/lesions/$L0/patch.png"
cp "$T_DIR/body" "$T_DIR/pl0.png"
same "track 1's first tile == patch.png" \
	"$(G tile "$T_DIR/g1.png" "$T_DIR/pl0.png" $(G origin graph 0 "$C0" "$TR" "$NS"))" 0
# every patient of the demo renders, each with its own grid
for p in 2 3 4; do
	curl -s "$BASE/v1/patients/$p/graph" > "$T_DIR/gj"
	tr=$(jq '.tracks' "$T_DIR/gj")
	ns=$(jq '[.nodes[].study] | unique | length' "$T_DIR/gj")
	req GET "/v1/patients/$p/graph.png?size=128"
	same "patient $p graph.png: $tr x $ns" "$ST $(pngsize)" "200 $(G graph "$tr" "$ns")"
done
expect GET /v1/patients/999/graph.png 404
problem 404
expect GET /v1/patients/abc/graph.png 404
expect GET "/v1/patients/1/graph.png?size=1000" 422
expect GET "/v1/patients/1/graph.png?window=1,abc" 400
expect GET "/v1/patients/1/graph.png?window=lung" 200
expect GET /v1/patients/1/graph 200
hdr Content-Type 'application/json'

# ---- no image root: both answer 503 ----
stop_server
start_server || { not_ok "server restart"; finish; exit 1; }
expect GET /v1/lesions/1/similar.png 503
expect GET /v1/patients/1/graph.png 503
finish
