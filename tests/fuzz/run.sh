#!/bin/sh
# run.sh SECONDS - build the libFuzzer targets (clang, ASan+UBSan) and run each for
# SECONDS seconds (default 60), one after the other.
#
# Objects: the project's index/ and server/ sources built with `make VARIANT=fuzz
# CC=clang` into build/fuzz/; targets: tests/fuzz/fuzz_*.c linked against them. Each
# target first replays its seed corpus tests/fuzz/corpus/<name>/ and its regression
# inputs tests/fuzz/regress/<name>/ (inputs that once crashed), then mutates for the
# time given, growing a working corpus in build/fuzz/corpus/<name>/ (kept between runs).
# A crash leaves its input in build/fuzz/crash/<name>/ and fails the run.
# FUZZ_TARGETS="json search" limits the run to those targets.
# Prints "RESULT passed failed" (one per target), like the other test programs.
set -u
SECONDS_EACH=${1:-60}
FUZZ=build/fuzz
CLANG=${CLANG:-clang}
CLANGXX=${CLANGXX:-clang++}
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
LIBS="build/deps/libfaiss_c.a -lfaiss -lopenblas -lmicrohttpd -lpng -lz -lcjson -lsqlite3
      -lm -lpthread -lgomp"
CFLAGS="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O1 -g -fno-omit-frame-pointer
	-Wall -Wextra -Werror -Iinclude -Iserver"

# name, source, extra flags
TARGETS="dlcsv:fuzz_dlcsv.c:
json:fuzz_json.c:
query:fuzz_query.c:
search:fuzz_search.c:
vectors:fuzz_vectors.c:
npy:fuzz_vecfile.c:-DFUZZ_NPY
fvecs:fuzz_vecfile.c:-DFUZZ_FVECS
ids:fuzz_vecfile.c:-DFUZZ_IDS
png16:fuzz_png16.c:
qline:fuzz_qfile.c:-DFUZZ_QLINE
qfile:fuzz_qfile.c:-DFUZZ_QFILE
repl:fuzz_repl.c:"

command -v "$CLANG" > /dev/null || { echo "fuzz: $CLANG not found (sh tools/deps.sh)"; \
	echo "RESULT 0 1"; exit 1; }
${MAKE:-make} -s -j2 VARIANT=fuzz CC="$CLANG" CXX="$CLANGXX" \
	$FUZZ/liblesion.a $FUZZ/libserver.a || { echo "RESULT 0 1"; exit 1; }

passed=0
failed=0
for t in $TARGETS; do
	name=${t%%:*}
	rest=${t#*:}
	src=${rest%%:*}
	extra=${rest#*:}
	if [ -n "${FUZZ_TARGETS:-}" ]; then
		case " $FUZZ_TARGETS " in *" $name "*) ;; *) continue ;; esac
	fi
	bin=$FUZZ/fuzz_$name
	# shellcheck disable=SC2086
	if ! $CLANG $CFLAGS $SAN $extra -c tests/fuzz/$src -o $bin.o ||
	   ! $CLANGXX $SAN -o $bin $bin.o $FUZZ/libserver.a $FUZZ/liblesion.a $LIBS; then
		echo "not ok - fuzz_$name: build failed"
		failed=$((failed + 1))
		continue
	fi
	corpus=$FUZZ/corpus/$name
	crash=$FUZZ/crash/$name
	mkdir -p "$corpus" "$crash"
	seeds="tests/fuzz/corpus/$name"
	[ -d tests/fuzz/regress/$name ] && seeds="$seeds tests/fuzz/regress/$name"
	log=$FUZZ/fuzz_$name.log
	# shellcheck disable=SC2086
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	$bin -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$crash/" "$corpus" $seeds > "$log" 2>&1
	rc=$?
	execs=$(grep '^stat::number_of_executed_units' "$log" | awk '{print $2}')
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
	if [ $rc = 0 ]; then
		echo "ok - fuzz_$name: ${SECONDS_EACH}s, ${execs:-?} runs, $cov, no crash"
		passed=$((passed + 1))
	else
		echo "not ok - fuzz_$name: exit $rc after ${execs:-?} runs; input in $crash/"
		grep -E 'ERROR|SUMMARY|runtime error|#[0-9]+ 0x' "$log" | head -n 20
		failed=$((failed + 1))
	fi
done
echo "RESULT $passed $failed"
[ $failed = 0 ]
