#!/bin/sh
# auth.sh - API keys (401/403), key reload on SIGHUP, rate limits (429 + Retry-After),
# refusing an open non-loopback listener, and TLS with a self-signed certificate.
. "$(dirname "$0")/lib.sh"
DB="$T_DIR/lesiond.db"
"$LESIOND" ingest --csv "$LSD_SHARED_DATA/DL_info_sample.csv" --db "$DB" > /dev/null

# refusing to listen beyond loopback without keys (unless told it is open)
"$LESIOND" serve --db "$DB" --listen 0.0.0.0 --port 0 > "$T_DIR/open.out" 2>&1
check "non-loopback without keys refused (exit 2)" test $? = 2
check "the refusal says why" grep -q "refusing to listen on 0.0.0.0" "$T_DIR/open.out"

cat > "$T_DIR/keys.conf" <<CONF
# keys for the test
admin_keys = admin-key-0001
read_keys = read-key-0001, read-key-0002
CONF
start_server --config "$T_DIR/keys.conf" || { echo "RESULT 0 1"; exit 1; }
expect GET /healthz 200
expect GET /readyz 200
expect GET /v1/lesions/1 401; problem 401
hdr WWW-Authenticate 'Bearer'
expect GET /v1/lesions/1 401 -H 'Authorization: Bearer wrong-key-000'
expect GET /v1/lesions/1 401 -H 'Authorization: Basic YWRtaW46YWRtaW4='
expect GET /v1/lesions/1 200 -H 'Authorization: Bearer read-key-0002'
expect GET /v1/stats 200 -H 'Authorization: Bearer admin-key-0001'
expect DELETE /v1/lesions/5 403 -H 'Authorization: Bearer read-key-0001'; problem 403
expect DELETE /v1/lesions/5 204 -H 'Authorization: Bearer admin-key-0001'
check "keys never appear in the log" sh -c "! grep -q 'key-000' '$T_DIR/server.log'"

# SIGHUP: a new key file replaces the keys without a restart
cat > "$T_DIR/keyfile" <<KEYS
# kind key
admin new-admin-key-1
read new-read-key-1
KEYS
printf '%s\n' "key_file = $T_DIR/keyfile" > "$T_DIR/keys.conf"
kill -HUP "$SERVER_PID"
sleep 0.5
expect GET /v1/lesions/1 401 -H 'Authorization: Bearer read-key-0001'
expect GET /v1/lesions/1 200 -H 'Authorization: Bearer new-read-key-1'
expect DELETE /v1/lesions/6 204 -H 'Authorization: Bearer new-admin-key-1'
check "SIGHUP logged" grep -q "SIGHUP: API keys reloaded" "$T_DIR/server.log"
stop_server

# rate limit: burst 5, then 429 with Retry-After
cat > "$T_DIR/rate.conf" <<CONF
# one request every 1,000 seconds after a burst of five: no token can come back while the
# seven requests below run, however loaded the machine (0.2/s still refilled when seven
# curls took over 5 s); the refill rate is checked through Retry-After instead
rate_limit = 0.001
rate_burst = 5
CONF
start_server --config "$T_DIR/rate.conf" || { echo "RESULT 0 1"; exit 1; }
codes=""
t0=$(date +%s)
for i in 1 2 3 4 5 6 7; do
	req GET /v1/lesions/1
	codes="$codes $ST"
done
check "burst of 5 allowed, then 429 ($codes, in $(( $(date +%s) - t0 )) s)" test "$codes" = " 200 200 200 200 200 429 429"
problem 429
hdr Retry-After ': [0-9]+'
# the bucket is empty: the next token is 1 / 0.001 s away, less the time since the burst
ra=$(grep -i '^Retry-After:' "$T_DIR/hdr" | tr -dc '0-9')
check "Retry-After is the refill time at 0.001/s (${ra:-none} s, 900..1000)" test "${ra:-0}" -ge 900 -a "${ra:-0}" -le 1000
stop_server

# TLS with a self-signed certificate made here
cat > "$T_DIR/cert.tmpl" <<TMPL
cn = "127.0.0.1"
ip_address = "127.0.0.1"
expiration_days = 2
tls_www_server
TMPL
certtool --generate-privkey --key-type rsa --bits 2048 --outfile "$T_DIR/key.pem" > /dev/null 2>&1
certtool --generate-self-signed --load-privkey "$T_DIR/key.pem" --template "$T_DIR/cert.tmpl" \
	--outfile "$T_DIR/cert.pem" > /dev/null 2>&1
check "test certificate made" test -s "$T_DIR/cert.pem"
cat > "$T_DIR/tls.conf" <<CONF
# HTTPS
tls_cert = $T_DIR/cert.pem
tls_key = $T_DIR/key.pem
CONF
rm -f "$T_DIR/port"
"$LESIOND" serve --db "$DB" --config "$T_DIR/tls.conf" --port 0 --port-file "$T_DIR/port" \
	> "$T_DIR/server.log" 2>&1 &
SERVER_PID=$!
i=0; while [ ! -s "$T_DIR/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
P=$(cat "$T_DIR/port")
i=0; until curl -sf --cacert "$T_DIR/cert.pem" "https://127.0.0.1:$P/readyz" > /dev/null || [ $i -gt 50 ]; do sleep 0.1; i=$((i + 1)); done
out=$(curl -s --cacert "$T_DIR/cert.pem" "https://127.0.0.1:$P/v1/lesions/1" | jq -r .file_name)
check "HTTPS request verified against the test CA" test "$out" = "000001_01_01_109.png"
check "plain HTTP to the TLS port fails" sh -c "! curl -sf http://127.0.0.1:$P/healthz"
stop_server
finish
