#!/bin/sh
# images.sh - black-box tests of the rendered image routes: GET/HEAD
# /v1/lesions/{id}/patch.png and /v1/slices/{series}/{slice}.png on synthetic slices
# (images_gen.py: HU = 7x - 5y + 100), checking status, content type, PNG validity,
# dimensions, pixel values computed here from the source HU, ETag/304, caching and CORS
# headers, the 4xx cases, path escapes, a corrupt slice leaving the server unharmed, and
# the encoded-patch cache (same bytes on a hit, a miss when the slice file changes).
. "$(dirname "$0")/lib.sh"
GEN="python3 $(dirname "$0")/images_gen.py"
$GEN "$T_DIR" || { echo "generator failed"; echo "RESULT 0 1"; exit 1; }
mkdir -p "$T_DIR/outside"
cp "$T_DIR/Images_png/000001_01_01/109.png" "$T_DIR/outside/001.png"
ln -s ../outside "$T_DIR/Images_png/escape"
"$LESIOND" ingest --csv "$T_DIR/DL_info.csv" --db "$T_DIR/lesiond.db" > /dev/null ||
	{ echo "ingest failed"; echo "RESULT 0 1"; exit 1; }
start_server --images "$T_DIR/Images_png" || { echo "RESULT 0 1"; exit 1; }

info() { $GEN --info "$T_DIR/body" 2>/dev/null; }
pixel() { $GEN --pixel "$T_DIR/body" "$1" "$2" 2>/dev/null; }
is() { # description, got, want
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (got '$2', want '$3')"; fi
}
etag() { grep -i '^etag:' "$T_DIR/hdr" | cut -d' ' -f2 | tr -d '\r'; }

P=/v1/lesions/1/patch.png
expect GET $P 200
hdr Content-Type 'image/png'
hdr ETag ': "[^"]+"'
hdr Cache-Control 'public, max-age=31536000, immutable'
hdr Cross-Origin-Resource-Policy 'cross-origin'
is "default patch: 128x128 8-bit gray" "$(info)" "128 128 8 0"
E1=$(etag)
expect GET $P 304 -H "If-None-Match: $E1"
hdr ETag "$E1"
expect GET $P 200 -H 'If-None-Match: "something-else"'
is "same request, same ETag" "$(etag)" "$E1"
expect GET "$P?window=lung" 200
[ "$(etag)" != "$E1" ] && ok "window changes the ETag" || not_ok "window changes the ETag"
R=$(curl -s -o /dev/null -D "$T_DIR/hdr" -w '%{http_code} %{size_download}' -I "$BASE$P")
is "HEAD patch: 200, no body" "$R" "200 0"
hdr Content-Type 'image/png'
expect GET $P 200 -H 'Origin: http://viewer.example'
hdr Access-Control-Allow-Origin '.'

# geometry and pixel values: fov 51.2 mm at 0.8 mm/px over 64 px = 1 source px per
# output px; box centre (238.5, 100.5) 1-based = (237.5, 99.5) 0-based, so output (u,v)
# samples x = u + 206, y = v + 68 exactly: HU = 7(u+206) - 5(v+68) + 100.
expect GET "$P?format=png16&fov_mm=51.2&size=64" 200
is "png16: 64x64 16-bit gray" "$(info)" "64 64 16 0"
is "png16 (10,20) = HU + 32768" "$(pixel 10 20)" $((7 * 216 - 5 * 88 + 100 + 32768))
is "png16 (63,0)" "$(pixel 63 0)" $((7 * 269 - 5 * 68 + 100 + 32768))
expect GET "$P?window=-2000,2000&fov_mm=51.2&size=64" 200
# (1172 + 2000) * 255 / 4000 = 202.2
is "windowed gray (10,20)" "$(pixel 10 20)" 202
expect GET "$P?window=soft_tissue&fov_mm=51.2&size=64" 200
is "soft_tissue saturates at 255" "$(pixel 10 20)" 255
expect GET "$P?size=256&overlay=recist" 200
is "recist overlay: 256x256 RGB" "$(info)" "256 256 8 2"
expect GET "$P?overlay=bbox&window=bone" 200
is "bbox overlay: RGB" "$(info)" "128 128 8 2"
expect GET "$P?size=1024" 200
is "size 1024" "$(info)" "1024 1024 8 0"
expect GET "$P?slice_offset=6" 200
expect GET "$P?slice_offset=-6" 200
expect GET "$P?slice_offset=7" 404
problem 404
expect GET "$P?window=abdomen" 422
problem 422
expect GET "$P?window=200,100" 422
expect GET "$P?window=1,x" 400
expect GET "$P?size=5000" 422
expect GET "$P?size=abc" 400
expect GET "$P?fov_mm=0" 422
expect GET "$P?overlay=circle" 422
expect GET "$P?format=png16&overlay=bbox" 422
expect GET "$P?format=png16&window=nope" 422
expect GET /v1/lesions/999/patch.png 404
expect GET /v1/lesions/abc/patch.png 404
expect POST $P 405

# lesion 2: box at the corner of a 768x768 slice; the parts past the edge are air
# (-1000 HU -> (1000 * 255 / 4000) = 63.75 -> 64 with window -2000,2000)
expect GET "/v1/lesions/2/patch.png?window=-2000,2000" 200
is "768 slice patch 128x128" "$(info)" "128 128 8 0"
is "outside the slice is air" "$(pixel 127 127)" 64
is "inside stays tissue" "$(pixel 0 0)" 226

# broken sources: a clear error, never a crash
expect GET /v1/lesions/3/patch.png 500
problem 500
expect GET /v1/lesions/4/patch.png 500
jqt '.detail | test("16-bit")'
expect GET /v1/lesions/5/patch.png 404
expect GET /healthz 200

# whole slices
S=/v1/slices/000001_01_01/109.png
expect GET $S 200
is "slice: native 512x512 gray" "$(info)" "512 512 8 0"
E2=$(etag)
expect GET $S 304 -H "If-None-Match: $E2"
expect GET "$S?window=-3000,4000" 200
# HU(300, 77) = 2100 - 385 + 100 = 1815 -> (4815 * 255 / 7000) = 175.4
is "slice pixel (300,77)" "$(pixel 300 77)" 175
expect GET "$S?size=128&window=lung" 200
is "slice size=128" "$(info)" "128 128 8 0"
expect GET "$S?format=png16" 200
is "slice png16" "$(info)" "512 512 16 0"
is "slice png16 raw value" "$(pixel 300 77)" $((1815 + 32768))
expect GET "$S?window=dicom" 422
expect GET "$S?overlay=bbox" 422
expect GET /v1/slices/000001_01_01/999.png 404
expect GET /v1/slices/nope/109.png 404
expect GET /v1/slices/escape/001.png 404
refused() { # description, status
	case $2 in 4??) ok "$1 ($2)" ;; *) not_ok "$1 (got $2)" ;; esac
}
refused "dot-dot path refused" \
	"$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$BASE/v1/slices/../outside/001.png")"
refused "encoded dot-dot refused" \
	"$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/slices/%2e%2e/109.png")"
refused "encoded slash refused" \
	"$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/slices/..%2foutside/001.png")"
expect GET /v1/slices/000003_01_01/010.png 500

# the encoded-patch cache (patch_cache_mb): a repeated patch is served from it with the
# same bytes and ETag; a slice file whose identity changes (here its mtime) is a new
# ETag and a miss, never the old bytes under the new name
metric() { curl -s "$BASE/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
PC="$P?window=-1000,1000&size=96"
h0=$(metric lesiond_patch_cache_hits_total) m0=$(metric lesiond_patch_cache_misses_total)
expect GET "$PC" 200
cp "$T_DIR/body" "$T_DIR/pc1"; E3=$(etag)
expect GET "$PC" 200
cmp -s "$T_DIR/body" "$T_DIR/pc1" && ok "cached patch: same bytes" || not_ok "cached patch: same bytes"
is "cached patch: same ETag" "$(etag)" "$E3"
is "patch cache: one miss then one hit" \
	"$(metric lesiond_patch_cache_misses_total) $(metric lesiond_patch_cache_hits_total)" \
	"$((m0 + 1)) $((h0 + 1))"
expect GET "$PC" 304 -H "If-None-Match: $E3"
is "a 304 is neither hit nor miss" "$(metric lesiond_patch_cache_hits_total)" "$((h0 + 1))"
touch -d '2001-02-03 04:05:06' "$T_DIR/Images_png/000001_01_01/109.png"
expect GET "$PC" 200
[ "$(etag)" != "$E3" ] && ok "touched slice: new ETag" || not_ok "touched slice: new ETag"
is "touched slice: a miss, not a hit" \
	"$(metric lesiond_patch_cache_misses_total) $(metric lesiond_patch_cache_hits_total)" \
	"$((m0 + 2)) $((h0 + 1))"
cmp -s "$T_DIR/body" "$T_DIR/pc1" && ok "touched slice: same pixels re-rendered" ||
	not_ok "touched slice: same pixels re-rendered"
[ "$(metric lesiond_patch_cache_entries)" -ge 2 ] && ok "patch cache entries" ||
	not_ok "patch cache entries: $(metric lesiond_patch_cache_entries)"

# the lesion comes from the store's row cache: after a DELETE the patch is gone, after a
# re-POST with another box it is the new box's (new ETag, other pixels), never the old
LP="$P?window=-3000,4000&size=64&overlay=bbox"
expect GET "$LP" 200
cp "$T_DIR/body" "$T_DIR/lp1"; E4=$(etag)
lh0=$(metric lesiond_lesion_cache_hits_total)
expect GET "$LP" 200
[ "$(metric lesiond_lesion_cache_hits_total)" -gt "$lh0" ] && ok "lesion read from the row cache" ||
	not_ok "lesion read from the row cache: hits $lh0 -> $(metric lesiond_lesion_cache_hits_total)"
L1=$(curl -s "$BASE/v1/lesions/1" | jq -c 'del(.patch_url,.image_path,.diameters_mm,.type_name,.split_name,.file_name)')
expect DELETE /v1/lesions/1 204
expect GET "$LP" 404
expect GET /v1/lesions/1 404
L2=$(echo "$L1" | jq -c '.bounding_box[0] += 6 | .bounding_box[2] += 6')
expect POST /v1/lesions 201 -H 'Content-Type: application/json' --data "$L2"
expect GET "$LP" 200
[ "$(etag)" != "$E4" ] && ok "re-posted lesion: new patch ETag" || not_ok "re-posted lesion: new patch ETag"
cmp -s "$T_DIR/body" "$T_DIR/lp1" && not_ok "re-posted lesion: new box drawn" || ok "re-posted lesion: new box drawn"
expect GET /v1/lesions/1 200
jqt '.bounding_box[0] == ('"$(echo "$L1" | jq '.bounding_box[0]')"' + 6)'
expect DELETE /v1/lesions/1 204
expect POST /v1/lesions 201 -H 'Content-Type: application/json' --data "$L1"
expect GET "$LP" 200
is "original lesion back: its ETag again" "$(etag)" "$E4"
cmp -s "$T_DIR/body" "$T_DIR/lp1" && ok "original lesion back: same bytes" ||
	not_ok "original lesion back: same bytes"

expect GET /metrics 200
if grep -q '^lesiond_slice_cache_hits_total [1-9]' "$T_DIR/body" &&
   grep -q '^lesiond_slice_cache_misses_total [1-9]' "$T_DIR/body" &&
   grep -q '^lesiond_slice_cache_bytes [1-9]' "$T_DIR/body"; then
	ok "cache counters in /metrics"
else
	not_ok "cache counters in /metrics: $(grep slice_cache "$T_DIR/body")"
fi
finish
