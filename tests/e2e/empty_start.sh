#!/bin/sh
# empty_start.sh - starting on an empty data directory, as the container image does:
# the database is created, an image root that does not exist yet is not fatal (image
# routes answer 503 naming it, and work once it appears, without a restart), and
# `--generate-admin-key FILE` makes an admin key (mode 0600) instead of refusing a
# non-loopback listener without keys; LESIOND_* environment settings.
. "$(dirname "$0")/lib.sh"
V="$T_DIR/vol"
mkdir -p "$V"
DB="$V/lesiond.db"
KEY="$V/admin.key"
J='Content-Type: application/json'

# The listener must be non-loopback for the key rule to apply: 0.0.0.0 on a free port,
# with keys required throughout; every request goes to 127.0.0.1.
start_server --images "$V/Images_png" --listen 0.0.0.0 --generate-admin-key "$KEY" ||
	{ echo "RESULT 0 1"; exit 1; }
check "the database was created" test -s "$DB"
check "an admin key file was made" test -s "$KEY"
check "the key file is mode 0600" test "$(stat -c %a "$KEY")" = 600
check "the key file holds 'admin <64 hex>'" grep -Eqx 'admin [0-9a-f]{64}' "$KEY"
K=$(awk '{ print $2 }' "$KEY")
A="Authorization: Bearer $K"
check "the log says where the key is" grep -q "generated an admin key into $KEY" "$T_DIR/server.log"
check "the log never shows the key" sh -c "! grep -q '$K' '$T_DIR/server.log'"
check "the log names the missing image root" grep -q "image root '$V/Images_png' does not exist" \
	"$T_DIR/server.log"
expect GET /readyz 200
expect GET /v1/stats 401
expect GET /v1/stats 200 -H "$A"
jqt '.lesions == 0'

# a lesion and an embedding, then a search finds it
expect POST /v1/lesions 201 -H "$A" -H "$J" -d '{"id":1,"patient":1,"study":1,"series":1,
	"key_slice":109,"measurement_coordinates":[229,93,248,108,229,108,248,93],
	"normalized_location":[0.5,0.5,0.5],"spacing_mm_px":[0.8,0.8,5],"slice_range":[103,115]}'
expect PUT "/v1/lesions/1/embedding?space=ext" 200 -H "$A" -H "$J" -d '[1,0,0,0]'
expect POST /v1/search 200 -H "$A" -H "$J" -d '{"vector":[1,0,0,0],"space":"ext","k":1}'
jqt '.results[0].lesion_id == 1'

# image routes: 503 naming the root while it does not exist
expect GET /v1/lesions/1/patch.png 503 -H "$A"; problem 503
jqt '.detail | contains("Images_png") and contains("does not exist")'
expect GET /v1/slices/000001_01_01/109.png 503 -H "$A"
expect GET "/v1/lesions/1/similar.png?space=ext&k=1" 503 -H "$A"
# ... and 200 as soon as it appears, without a restart
cp -r "$(dirname "$0")/Images_png" "$V/Images_png"
expect GET /v1/lesions/1/patch.png 200 -H "$A"
hdr Content-Type 'image/png'
expect GET /v1/slices/000001_01_01/109.png 200 -H "$A"
expect GET /v1/slices/000001_01_01/999.png 404 -H "$A"
check "the log says the image root is there now" grep -q "image root '$V/Images_png' is there now" \
	"$T_DIR/server.log"

# SIGHUP keeps the generated key
kill -HUP "$SERVER_PID"
sleep 0.5
expect GET /v1/stats 200 -H "$A"
stop_server

# a restart keeps the key and the data
start_server --images "$V/Images_png" --listen 0.0.0.0 --generate-admin-key "$KEY" ||
	{ echo "RESULT 0 1"; exit 1; }
check "the key file is unchanged" test "$(awk '{ print $2 }' "$KEY")" = "$K"
check "the log says the existing key is used" grep -q "using the admin key in $KEY" "$T_DIR/server.log"
expect GET /v1/lesions/1 200 -H "$A"
expect POST /v1/search 200 -H "$A" -H "$J" -d '{"vector":[1,0,0,0],"space":"ext","k":1}'
jqt '.results[0].lesion_id == 1'
stop_server

# a missing image root that is not a directory stays fatal
: > "$T_DIR/notadir"
"$LESIOND" serve --db "$DB" --images "$T_DIR/notadir" --port 0 > "$T_DIR/nd.out" 2>&1
check "an image root that is a file is refused (exit $?)" grep -q "is not a directory" "$T_DIR/nd.out"

# keys from the environment: no key file is made; open access from the environment
rm -f "$KEY"
export LESIOND_ADMIN_KEYS=env-admin-key-1
start_server --listen 0.0.0.0 --generate-admin-key "$KEY" || { echo "RESULT 0 1"; exit 1; }
unset LESIOND_ADMIN_KEYS
check "LESIOND_ADMIN_KEYS: no key file made" test ! -e "$KEY"
expect GET /v1/stats 401
expect GET /v1/stats 200 -H 'Authorization: Bearer env-admin-key-1'
stop_server
export LESIOND_OPEN_ACCESS=1
start_server --listen 0.0.0.0 --generate-admin-key "$KEY" || { echo "RESULT 0 1"; exit 1; }
unset LESIOND_OPEN_ACCESS
check "LESIOND_OPEN_ACCESS=1: no key file made" test ! -e "$KEY"
expect GET /v1/stats 200
stop_server
# without --generate-admin-key the refusal stands, and a bad variable is named
"$LESIOND" serve --db "$DB" --listen 0.0.0.0 --port 0 > "$T_DIR/refused.out" 2>&1
check "non-loopback without keys still refused (exit $?)" grep -q "refusing to listen" "$T_DIR/refused.out"
LESIOND_PORT=http "$LESIOND" serve --db "$DB" --port 0 > "$T_DIR/badenv.out" 2>&1
check "a bad LESIOND_PORT exits 2 ($?)" test $? = 2
check "a bad variable is named" grep -q "environment LESIOND_PORT: port" "$T_DIR/badenv.out"
finish
