#!/bin/sh
# run.sh - `make docker-test`: build the container image and use it as a person would.
#
# As root on Debian 12: installs docker.io (and curl, jq) when missing, starts dockerd
# when none answers, makes the debian:12 base image with debootstrap when there is none
# (no image registry is needed), builds the image from this checkout, then:
#   - an empty volume: the database is created, /readyz passes, Docker reports healthy;
#     an admin key is generated into /data/admin.key (0600, owned by the image's user);
#     a POSTed lesion and embedding are found by a search; image routes answer 503;
#     after `docker restart` the lesion, its vector and the key are still there
#   - the process inside is not root (uid of PID 1, the image's USER)
#   - configuration by environment and by /data/lesiond.conf; LESIOND_OPEN_ACCESS=1
#   - the subcommands through the image: knn, backup, restore --verify-only, and on the
#     demo's data ingest, embed, graph
#   - `demo`: a small synthetic dataset made in the volume and served (patches render)
#   - the image size is at most 250 MB
# Every container and volume it made is removed at the end. Prints timings (build,
# start to ready, start to healthy) and the closing line "N passed, N failed".
# IMAGE=name:tag to choose the tag (default lesiond:test); DOCKER_TEST_KEEP=1 keeps the
# containers and volumes for inspection.
set -u
cd "$(dirname "$0")/../.."
IMAGE=${IMAGE:-lesiond:test}
T=build/docker-test
mkdir -p "$T"
P=lsdtest-$$
PASS=0
FAIL=0
T0=$(date +%s)

say() { echo "docker-test: $*"; }
ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
check() { d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
die() { echo "docker-test: $*" >&2; echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
now() { date +%s.%N; }

apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
		--no-install-recommends "$@" > "$T/apt.log" 2>&1 ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get \
			-o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@"; }
}

# --- the tools -------------------------------------------------------------------------
need=""
command -v dockerd > /dev/null 2>&1 || need="$need docker.io"
command -v curl > /dev/null 2>&1 || need="$need curl"
command -v jq > /dev/null 2>&1 || need="$need jq"
if [ -n "$need" ]; then
	say "installing$need"
	apt_install $need || die "could not install$need"
fi
if ! docker info > /dev/null 2>&1; then
	say "starting dockerd (log: $T/dockerd.log)"
	setsid nohup dockerd > "$T/dockerd.log" 2>&1 < /dev/null &
	i=0
	until docker info > /dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt 60 ] && { tail -n 20 "$T/dockerd.log"; die "dockerd did not start"; }
		sleep 1
	done
fi

# --- the debian:12 base, made with debootstrap when absent (no registry here) -----------
if ! docker image inspect debian:12 > /dev/null 2>&1; then
	command -v debootstrap > /dev/null 2>&1 || apt_install debootstrap ||
		die "could not install debootstrap"
	say "making debian:12 with debootstrap --variant=minbase bookworm"
	R=$T/rootfs
	rm -rf "$R"
	debootstrap --variant=minbase bookworm "$R" http://deb.debian.org/debian \
		> "$T/debootstrap.log" 2>&1 || { tail -n 20 "$T/debootstrap.log"; die "debootstrap failed"; }
	# as the registry's debian:12 ships: no package cache, no package lists
	rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/*
	tar -C "$R" -c . | docker import - debian:12 > /dev/null || die "docker import failed"
	rm -rf "$R"
fi

# --- the image ---------------------------------------------------------------------------
say "building $IMAGE (log: $T/build.log)"
tb=$(now)
if ! docker build -t "$IMAGE" . > "$T/build.log" 2>&1; then
	say "build failed; retrying with --network host"
	docker build --network host -t "$IMAGE" . >> "$T/build.log" 2>&1 ||
		{ tail -n 30 "$T/build.log"; die "docker build failed"; }
fi
BUILD_S=$(secs "$tb" "$(now)")
ok "docker build ($BUILD_S s)"
SIZE=$(docker image inspect -f '{{.Size}}' "$IMAGE")
SIZE_MB=$(awk -v s="$SIZE" 'BEGIN { printf "%.1f", s / 1e6 }')
check "image size $SIZE_MB MB <= 250 MB" test "$SIZE" -le 250000000
check "the image's user is not root ($(docker image inspect -f '{{.Config.User}}' "$IMAGE"))" \
	test "$(docker image inspect -f '{{.Config.User}}' "$IMAGE" | cut -d: -f1)" = 10001
check "no compiler in the image" sh -c "! docker run --rm --entrypoint sh '$IMAGE' -c 'command -v gcc || command -v cc || command -v make' > /dev/null"

# --- helpers for running containers ----------------------------------------------------
CONTAINERS=""
VOLUMES=""
cleanup() {
	[ -n "${DOCKER_TEST_KEEP:-}" ] && return 0
	for c in $CONTAINERS; do docker rm -f "$c" > /dev/null 2>&1; done
	for v in $VOLUMES; do docker volume rm -f "$v" > /dev/null 2>&1; done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# run NAME VOLUME [docker run options...] -- [container args...]: start detached with
# the volume at /data and port 8080 published on 127.0.0.1 (a free port); sets BASE
run() {
	n=$P-$1; v=$P-$2; shift 2
	CONTAINERS="$CONTAINERS $n"
	case " $VOLUMES " in *" $v "*) ;; *) VOLUMES="$VOLUMES $v"; docker volume create "$v" > /dev/null ;; esac
	opts=""
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts="$opts $1"; shift; done
	[ $# -gt 0 ] && shift
	# shellcheck disable=SC2086
	docker run -d --name "$n" -p 127.0.0.1::8080 -v "$v:/data" $opts "$IMAGE" "$@" > /dev/null ||
		die "docker run $n failed"
	base "$n"
}
# base CONTAINER: BASE from the host port published for 8080 (new after each restart)
base() {
	i=0
	until hp=$(docker port "$1" 8080/tcp 2> /dev/null | head -n 1 | sed 's/.*://') && [ -n "$hp" ]; do
		i=$((i + 1)); [ $i -gt 50 ] && break; sleep 0.2
	done
	BASE=http://127.0.0.1:$hp
}
# wait_ready NAME SECONDS: /readyz 200 (sets READY_S from START), then Docker's health
# status "healthy" (sets HEALTHY_S)
wait_ready() {
	n=$P-$1; end=$(($(date +%s) + $2))
	READY_S=; HEALTHY_S=
	until [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")" = 200 ]; do
		if [ "$(date +%s)" -gt $end ] || [ "$(docker inspect -f '{{.State.Running}}' "$n")" != true ]; then
			docker logs "$n" 2>&1 | tail -n 20
			return 1
		fi
		sleep 0.2
	done
	READY_S=$(secs "$START" "$(now)")
	until [ "$(docker inspect -f '{{.State.Health.Status}}' "$n")" = healthy ]; do
		[ "$(date +%s)" -gt $end ] && { echo "health: $(docker inspect -f '{{json .State.Health}}' "$n")"; return 1; }
		sleep 0.2
	done
	HEALTHY_S=$(secs "$START" "$(now)")
}
# st METHOD PATH [curl args]: HTTP status; body in $T/body
st() { m=$1; p=$2; shift 2; curl -s -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$BASE$p"; }
expect() { # METHOD PATH STATUS [curl args]
	m=$1; p=$2; s=$3; shift 3
	got=$(st "$m" "$p" "$@")
	if [ "$got" = "$s" ]; then ok "$m $p -> $s"; else
		not_ok "$m $p -> $s (got $got: $(head -c 300 "$T/body"))"; fi
}
jqt() { if jq -e "$1" "$T/body" > /dev/null 2>&1; then ok "jq $1"; else
	not_ok "jq $1 on $(head -c 300 "$T/body")"; fi; }
J='Content-Type: application/json'
LESION='{"id":1,"patient":1,"study":1,"series":1,"key_slice":109,
"measurement_coordinates":[229,93,248,108,229,108,248,93],
"normalized_location":[0.5,0.5,0.5],"spacing_mm_px":[0.8,0.8,5]}'

# --- an empty volume -------------------------------------------------------------------
START=$(now)
run srv data -- || true
wait_ready srv 120 || die "the server on an empty volume did not become ready"
ok "empty volume: /readyz 200 after $READY_S s, healthy after $HEALTHY_S s"
FIRST_READY=$READY_S
FIRST_HEALTHY=$HEALTHY_S
docker logs "$P-srv" > "$T/srv.log" 2>&1
check "the log says an admin key was generated into /data/admin.key" \
	grep -q "generated an admin key into /data/admin.key" "$T/srv.log"
check "the log names the missing image root" grep -q "image root '/data/Images_png' does not exist" "$T/srv.log"
check "admin.key is mode 0600, owned by lesiond" \
	test "$(docker exec "$P-srv" stat -c '%a %U' /data/admin.key)" = "600 lesiond"
check "the database was created in the volume" docker exec "$P-srv" test -s /data/lesiond.db
K=$(docker exec "$P-srv" cat /data/admin.key | awk '$1 == "admin" { print $2 }')
A="Authorization: Bearer $K"
check "the key is not in the log" sh -c "! grep -q '$K' '$T/srv.log'"
expect GET /v1/stats 401
expect GET /v1/stats 200 -H "$A"
jqt '.lesions == 0'
expect POST /v1/lesions 201 -H "$A" -H "$J" -d "$LESION"
expect PUT "/v1/lesions/1/embedding?space=ext" 200 -H "$A" -H "$J" -d '[0.6,0.8,0]'
expect POST /v1/lesions 201 -H "$A" -H "$J" -d "$(echo "$LESION" | sed 's/"id":1,"patient":1/"id":2,"patient":2/')"
expect PUT "/v1/lesions/2/embedding?space=ext" 200 -H "$A" -H "$J" -d '[0.8,0.6,0]'
expect POST /v1/search 200 -H "$A" -H "$J" -d '{"vector":[0.6,0.8,0],"space":"ext","k":1}'
jqt '.results[0].lesion_id == 1 and .count == 1'
expect GET /v1/lesions/1/patch.png 503 -H "$A"
jqt '.detail | contains("/data/Images_png") and contains("does not exist")'

# --- not root --------------------------------------------------------------------------
uid=$(docker exec "$P-srv" awk '/^Uid:/ { print $2, $3, $4, $5 }' /proc/1/status)
comm=$(docker exec "$P-srv" cat /proc/1/comm)
check "PID 1 is lesiond ($comm)" test "$comm" = lesiond
check "PID 1 runs as uid 10001, not root (real, effective, saved, fs: $uid)" \
	test "$uid" = "10001 10001 10001 10001"
docker top "$P-srv" -eo pid,uid,comm > "$T/top.out" 2>&1
check "docker top lists the container's processes ($(tail -n +2 "$T/top.out" | wc -l))" \
	test "$(tail -n +2 "$T/top.out" | wc -l)" -ge 1
check "no process in the container runs as root" \
	test "$(awk 'NR > 1 && $2 == 0' "$T/top.out" | wc -l)" = 0

# --- a restart keeps everything --------------------------------------------------------
START=$(now)
docker restart -t 20 "$P-srv" > /dev/null
base "$P-srv"
wait_ready srv 120 || die "the restarted server did not become ready"
ok "restart: ready after $READY_S s, healthy after $HEALTHY_S s"
docker logs "$P-srv" > "$T/srv.log" 2>&1
check "stopped cleanly on SIGTERM" grep -q "stopped cleanly" "$T/srv.log"
check "the restart used the same key" grep -q "using the admin key in /data/admin.key" "$T/srv.log"
expect GET /v1/lesions/1 200 -H "$A"
expect POST /v1/search 200 -H "$A" -H "$J" -d '{"vector":[0.6,0.8,0],"space":"ext","k":1}'
jqt '.results[0].lesion_id == 1'

# --- subcommands through the image, on the same volume (the server keeps running) -------
docker run --rm -v "$P-data:/data" "$IMAGE" knn --space ext --queries all --k 1 --format csv \
	> "$T/knn.csv" 2> "$T/knn.err"
check "knn through the image: lesion 2 nearest to 1" grep -q '^1,1,2,' "$T/knn.csv"
check "backup through the image (online)" \
	docker run --rm -v "$P-data:/data" "$IMAGE" backup --out /data/backups/b1 > "$T/backup.out" 2>&1
check "restore --verify-only through the image" \
	docker run --rm -v "$P-data:/data" "$IMAGE" restore --from /data/backups/b1 --verify-only > "$T/verify.out" 2>&1
docker stop -t 20 "$P-srv" > /dev/null

# --- configuration: a file in the volume and the environment; open access --------------
docker run --rm -v "$P-conf:/data" --entrypoint sh "$IMAGE" -c \
	'printf "%s\n" "# from the volume" "admin_keys = conf-admin-key" "rate_burst = 50" > /data/lesiond.conf' ||
	not_ok "writing /data/lesiond.conf"
VOLUMES="$VOLUMES $P-conf"
START=$(now)
run conf conf -e LESIOND_READ_KEYS=env-read-key -e LESIOND_RATE_LIMIT=100 --
wait_ready conf 120 || not_ok "the configured server did not become ready"
expect GET /v1/stats 401
expect GET /v1/stats 200 -H 'Authorization: Bearer conf-admin-key'
expect GET /v1/stats 200 -H 'Authorization: Bearer env-read-key'
expect DELETE /v1/lesions/1 403 -H 'Authorization: Bearer env-read-key'
check "configured keys: no admin.key generated" \
	sh -c "! docker exec '$P-conf' test -e /data/admin.key"
docker rm -f "$P-conf" > /dev/null
START=$(now)
run open open -e LESIOND_OPEN_ACCESS=1 --
wait_ready open 120 || not_ok "the open server did not become ready"
expect GET /v1/stats 200
check "LESIOND_OPEN_ACCESS=1: no admin.key generated" \
	sh -c "! docker exec '$P-open' test -e /data/admin.key"
docker rm -f "$P-open" > /dev/null
docker run --rm -e LESIOND_PORT=eighty "$IMAGE" > "$T/badenv.out" 2>&1
check "a bad setting in the environment stops the start, named ($?)" \
	grep -q "environment LESIOND_PORT" "$T/badenv.out"

# --- the demo ----------------------------------------------------------------------------
START=$(now)
run demo demo -- demo --patients 3
wait_ready demo 600 || die "the demo did not become ready"
DEMO_S=$READY_S
ok "demo --patients 3: made, imported, embedded and ready after $READY_S s"
K=$(docker exec "$P-demo" cat /data/admin.key | awk '$1 == "admin" { print $2 }')
A="Authorization: Bearer $K"
expect GET /v1/stats 200 -H "$A"
jqt '.lesions > 5 and (.spaces | map(.name) | index("builtin") != null)'
expect GET "/v1/lesions/1/similar?k=3" 200 -H "$A"
jqt '.count == 3'
expect GET "/v1/lesions/1/patch.png?size=64" 200 -H "$A"
uid=$(docker exec "$P-demo" awk '/^Uid:/ { print $2 }' /proc/1/status)
check "demo: PID 1 is not root (uid $uid)" test "$uid" = 10001
docker stop -t 20 "$P-demo" > /dev/null
# ingest, embed, graph, knn through the image on the demo's files, into a new database
dr() { docker run --rm -v "$P-demo:/data" -e LESIOND_DB=/data/copy.db "$IMAGE" "$@"; }
check "ingest through the image" sh -c \
	"docker run --rm -v '$P-demo:/data' -e LESIOND_DB=/data/copy.db '$IMAGE' ingest --csv /data/demo/DL_info.csv > '$T/ingest.out' 2>&1"
check "embed through the image" sh -c \
	"docker run --rm -v '$P-demo:/data' -e LESIOND_DB=/data/copy.db '$IMAGE' embed --images /data/demo/Images_png > '$T/embed.out' 2>&1"
check "graph through the image" sh -c \
	"docker run --rm -v '$P-demo:/data' -e LESIOND_DB=/data/copy.db '$IMAGE' graph > '$T/graph.out' 2>&1"
n_demo=$(docker run --rm -v "$P-demo:/data" "$IMAGE" knn --db /data/demo/lesiond.db --queries all --k 3 --format csv 2>/dev/null | sha256sum)
n_copy=$(dr knn --queries all --k 3 --format csv 2>/dev/null | sha256sum)
check "knn on the copy made through the image equals the demo's" test "$n_demo" = "$n_copy"

TOTAL_S=$(($(date +%s) - T0))
say "image $IMAGE: $SIZE_MB MB; build $BUILD_S s; empty volume: ready $FIRST_READY s, healthy $FIRST_HEALTHY s; demo (3 patients) ready $DEMO_S s; whole test $TOTAL_S s"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
