#!/bin/sh
# deps.sh - install what lesiond needs on Debian 12 and build the FAISS C API.
#
# Called by `make deps` (and by `make run` / `make test` when a stamp is missing).
# Idempotent: each step checks before it acts, so a second run does nothing.
#   1. apt packages (dev headers, FAISS, OpenBLAS, curl for tests, clang for fuzzing;
#      numpy, Slurm, munge and GNU parallel for the batch-kNN tests;
#      LESIOND_BUILD_ONLY=1: only those needed to build)
#   2. a deb-src entry for Debian's main archive, then `apt-get source faiss`
#   3. playwright-core (npm, version pinned by tests/e2e/package-lock.json) into
#      tests/e2e/node_modules, for the browser test of the web viewer; it drives
#      Debian's chromium (no browser download: `npx playwright install` is never run)
#   4. libfaiss_c.a: the C API .cpp files of that source package compiled against the
#      installed libfaiss.a (Debian ships only the headers), plus FAISS's own
#      distances_simd.cpp and ScalarQuantizer.cpp rebuilt with AVX2/FMA/F16C (linked only
#      into the AVX2 binary; Debian's libfaiss.a scans SQ8 codes one dimension at a time).
#   5. cJSON's source (`apt-get source cjson`, the version of the installed libcjson):
#      $BUILD/cjson/cJSON.c, compiled by the Makefile into the asan and fuzz variants
#      so the sanitizers see inside the JSON parser (the release build links -lcjson).
# Nothing of FAISS's or cJSON's source is committed: it is fetched under $BUILD.
set -eu

BUILD=${1:-build}/deps
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)

PKGS="gcc g++ make pkg-config dpkg-dev ca-certificates
libmicrohttpd-dev libpng-dev zlib1g-dev libcjson-dev libsqlite3-dev
libfaiss-dev libopenblas-dev libgnutls28-dev libcurl4-gnutls-dev
"
# what the tests, fuzzing and TLS checks use; LESIOND_BUILD_ONLY=1 (the container image's
# build stage) installs only what building lesiond needs, and implies LESIOND_NO_BROWSER
if [ -z "${LESIOND_BUILD_ONLY:-}" ]; then
	PKGS="$PKGS curl sqlite3 gnutls-bin clang libclang-rt-14-dev jq python3 python3-numpy
haproxy slurm-wlm munge parallel"
else
	LESIOND_NO_BROWSER=1
fi
# the browser test of the web viewer: Debian's chromium, node and npm (a machine may have
# node from elsewhere, e.g. nodesource); LESIOND_NO_BROWSER=1 leaves them out (images
# that only run lesiond)
if [ -z "${LESIOND_NO_BROWSER:-}" ]; then
	PKGS="$PKGS chromium"
	command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
	command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
fi
if [ -n "${LESIOND_EXTRA_PKGS:-}" ]; then PKGS="$PKGS $LESIOND_EXTRA_PKGS"; fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done

SRCLIST=/etc/apt/sources.list.d/lesiond-deb-src.sources
need_update=0
if [ ! -f "$SRCLIST" ]; then
	cat > "$SRCLIST" <<'SRC'
# Added by lesiond's tools/deps.sh: source packages, for `apt-get source faiss`.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	need_update=1
fi

if [ -n "$missing" ] || [ $need_update = 1 ]; then
	echo "deps: apt-get update"
	apt-get update -qq
fi
if [ -n "$missing" ]; then
	echo "deps: installing$missing"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

# playwright-core for tests/e2e/viewer.mjs; skipped when installed after the lock file changed
E2E=$(cd "$(dirname "$0")/.." && pwd)/tests/e2e
PWC="$E2E/node_modules/playwright-core/package.json"
if [ -z "${LESIOND_NO_BROWSER:-}" ] && [ -f "$E2E/package.json" ] &&
	! [ "$PWC" -nt "$E2E/package-lock.json" ]; then
	echo "deps: npm install playwright-core into $E2E/node_modules"
	if [ -f "$E2E/package-lock.json" ]; then
		(cd "$E2E" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
	else
		(cd "$E2E" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund)
	fi
fi

# cJSON's own source for the sanitizer builds: the installed version, Debian's patches
CJ="$BUILD/cjson"
if ! [ -f "$CJ/cJSON.c" ] || ! [ -f "$CJ/version" ] ||
	[ "$(cat "$CJ/version")" != "$(dpkg-query -W -f='${Version}' libcjson-dev)" ]; then
	echo "deps: fetching Debian's cjson source package"
	tmp="$BUILD/cjson-src"
	rm -rf "$tmp" && mkdir -p "$tmp"
	(cd "$tmp" && apt-get source -qq "cjson=$(dpkg-query -W -f='${Version}' libcjson-dev)" \
		>/dev/null 2>&1) || (cd "$tmp" && apt-get source cjson)
	top=$(ls -d "$tmp"/cjson-*/ | head -n 1)
	[ -f "$top/cJSON.c" ] || { echo "deps: no cJSON.c in $tmp" >&2; exit 1; }
	rm -rf "$CJ.tmp" && mkdir -p "$CJ.tmp"
	cp "$top/cJSON.c" "$top/cJSON.h" "$top/LICENSE" "$CJ.tmp/"
	dpkg-query -W -f='${Version}' libcjson-dev > "$CJ.tmp/version"
	rm -rf "$CJ" "$tmp" && mv "$CJ.tmp" "$CJ"
	echo "deps: cJSON source $(cat "$CJ/version") in $CJ"
fi

LIB="$BUILD/libfaiss_c.a"
SIMD="$BUILD/distances_simd_avx2.o"
SQ="$BUILD/scalar_quantizer_avx2.o"
if [ -f "$LIB" ] && [ -f "$SIMD" ] && [ -f "$SQ" ]; then
	touch "$BUILD/.stamp"
	exit 0
fi

SRC="$BUILD/faiss-src"
if ! ls -d "$SRC"/faiss-*/c_api >/dev/null 2>&1; then
	echo "deps: fetching Debian's faiss source package"
	rm -rf "$SRC" && mkdir -p "$SRC"
	(cd "$SRC" && apt-get source -qq faiss >/dev/null 2>&1) || {
		# apt-get source as root may be refused writing as _apt; retry in /tmp.
		(cd "$SRC" && apt-get source faiss)
	}
fi
top=$(ls -d "$SRC"/faiss-*/ | head -n 1)
[ -d "$top/c_api" ] || { echo "deps: no c_api in $top" >&2; exit 1; }

if [ -f "$LIB" ] && [ -f "$SIMD" ]; then	# an older build/deps: only the scalar quantizer
	echo "deps: building FAISS's scalar quantizer with AVX2 ($top)"
	g++ -O3 -fPIC -std=c++17 -fopenmp -w -mavx2 -mfma -mf16c -I"$top" \
		-c "$top/faiss/impl/ScalarQuantizer.cpp" -o "$SQ.tmp.$$"
	mv "$SQ.tmp.$$" "$SQ"
	touch "$BUILD/.stamp"
	exit 0
fi
echo "deps: building the FAISS C API ($top)"
OBJ="$BUILD/faiss_c_obj"
rm -rf "$OBJ" && mkdir -p "$OBJ"
CXXF="-O2 -fPIC -std=c++17 -fopenmp -w -I$top -I/usr/include"
pids=""
n=0
for f in "$top"/c_api/*.cpp "$top"/c_api/impl/*.cpp "$top"/c_api/utils/*.cpp; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	o="$OBJ/$(echo "$f" | sed "s|$top||; s|/|_|g; s|\.cpp$|.o|")"
	g++ $CXXF -c "$f" -o "$o" &
	pids="$pids $!"
	# two cores: keep at most 2 compilers running
	if [ $((n % 2)) = 0 ]; then wait; fi
done
wait
for f in "$top"/c_api/*.cpp "$top"/c_api/impl/*.cpp "$top"/c_api/utils/*.cpp; do
	[ -f "$f" ] || continue
	o="$OBJ/$(echo "$f" | sed "s|$top||; s|/|_|g; s|\.cpp$|.o|")"
	[ -f "$o" ] || { echo "deps: failed to compile $f" >&2; exit 1; }
done
g++ -O3 -fPIC -std=c++17 -fopenmp -w -mavx2 -mfma -mf16c -I"$top" \
	-c "$top/faiss/utils/distances_simd.cpp" -o "$SIMD.tmp"
g++ -O3 -fPIC -std=c++17 -fopenmp -w -mavx2 -mfma -mf16c -I"$top" \
	-c "$top/faiss/impl/ScalarQuantizer.cpp" -o "$SQ.tmp"
rm -f "$LIB.tmp"
ar rcs "$LIB.tmp" "$OBJ"/*.o
mv "$SIMD.tmp" "$SIMD"
mv "$SQ.tmp" "$SQ"
mv "$LIB.tmp" "$LIB"
echo "deps: built $LIB ($n files), $SIMD and $SQ"
touch "$BUILD/.stamp"
