# lesiond - build, run, test.
#
#   make            build build/release/lesiond (+ lesiond-generic for CPUs without AVX2)
#   make deps       install Debian packages and build the FAISS C API (idempotent)
#   make run        build, generate the demo dataset once, import it, serve on 127.0.0.1:8080
#   make test       unit + black-box tests; prints "N passed, N failed"
#   make unit       only the C unit tests; make e2e only the black-box tests
#   make asan       the same tests on an ASan+UBSan build, then a short run of each fuzz target
#   make bench      benchmarks, printing figures
#   make fuzz       libFuzzer targets, each for FUZZ_SECONDS
#   make style      style checks (banned calls, trailing space, line length)
#   make mutate     mutation check: one-line mutants, the tests that must catch them
#   make docker-test  build the container image and run it as a user would (root; ~22 min cold)
#   make clean

VARIANT  ?= release
BUILD    := build/$(VARIANT)
DEPS     := build/deps
DEPSTAMP := $(DEPS)/.stamp

CC       ?= gcc
CXX      ?= g++
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wpointer-arith -Wcast-qual -Wwrite-strings -Wvla \
            -Wundef -Wnull-dereference -Werror
CSTD     := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
OPT_release := -O2 -g
OPT_asan    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
# libFuzzer objects (tests/fuzz/run.sh builds with CC=clang VARIANT=fuzz)
OPT_fuzz    := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=undefined
OPT         := $(OPT_$(VARIANT))
CFLAGS   += $(CSTD) $(OPT) $(WARN) -Iinclude -MMD -MP
LDFLAGS  += $(filter -fsanitize%,$(OPT)) -fopenmp
LIBS     := $(DEPS)/libfaiss_c.a -lfaiss -lopenblas -lmicrohttpd -lpng -lz -lcjson \
            -lsqlite3 -lcurl -lm -lpthread

INDEX_SRC  := $(wildcard index/*.c)
SERVER_SRC := $(wildcard server/*.c)
MIGRATIONS := $(sort $(wildcard migrations/*.sql))
INDEX_OBJ  := $(INDEX_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/migrations.o
WWW        := $(sort $(wildcard server/www/*.html server/www/*.js server/www/*.css))
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/www.o $(BUILD)/gen/openapi.o
# The sanitizer variants compile cJSON from Debian's source (tools/deps.sh fetches it)
# into the daemon, so ASan/UBSan see inside the JSON parser; release links -lcjson.
CJSON_OBJ_asan := $(BUILD)/gen/cJSON.o
CJSON_OBJ_fuzz := $(BUILD)/gen/cJSON.o
SERVER_OBJ += $(CJSON_OBJ_$(VARIANT))
# The two layers: include/ holds the library's (index/) public headers, server/ the
# daemon's own. Only the daemon, its tests and fuzz targets see server/, so a daemon
# header included from index/ does not compile (tools/style.sh checks it too).
$(SERVER_OBJ): CFLAGS += -Iserver
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRC  := $(wildcard bench/bench_*.c)
BENCH_BIN  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

LESIOND    := $(BUILD)/lesiond
PORT       ?= 8080
DEMO_DIR   ?= build/demo

.PHONY: all deps run test unit e2e asan bench fuzz style clean mutate docker-test
all: $(LESIOND) $(BUILD)/lesiond-generic

deps: $(DEPSTAMP)
$(DEPSTAMP): tools/deps.sh
	sh tools/deps.sh build

$(BUILD)/%.o: %.c | $(DEPSTAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# the exact Flat scan splits the rows over an OpenMP team (index/flatscan.c)
# (not in the libFuzzer build: clang's OpenMP runtime is not libgomp; the loop runs serially there)
$(BUILD)/index/flatscan.o: CFLAGS += $(if $(filter fuzz,$(VARIANT)),-Wno-source-uses-openmp,-fopenmp)

# migrations/*.sql compiled into the binary, in file-name order
$(BUILD)/gen/migrations.c: $(MIGRATIONS) tools/embed_sql.sh
	@mkdir -p $(dir $@)
	sh tools/embed_sql.sh $(MIGRATIONS) > $@
$(BUILD)/gen/migrations.o: $(BUILD)/gen/migrations.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/cJSON.o: | $(DEPSTAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) -w -c $(DEPS)/cjson/cJSON.c -o $@

# docs/openapi.json served at /v1/openapi.json
$(BUILD)/gen/openapi.c: docs/openapi.json tools/embed_text.sh
	@mkdir -p $(dir $@)
	sh tools/embed_text.sh lsd_openapi_json docs/openapi.json > $@
$(BUILD)/gen/openapi.o: $(BUILD)/gen/openapi.c
	$(CC) $(CFLAGS) -c $< -o $@

# the web viewer's static files (server/www/) compiled into the binary
$(BUILD)/gen/www.c: $(WWW) tools/embed_www.sh
	@mkdir -p $(dir $@)
	sh tools/embed_www.sh $(WWW) > $@.tmp && mv $@.tmp $@
$(BUILD)/gen/www.o: $(BUILD)/gen/www.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/liblesion.a: $(INDEX_OBJ)
	rm -f $@ && ar rcs $@ $^

# server/ without main(), for unit tests of the server modules
$(BUILD)/libserver.a: $(filter-out $(BUILD)/server/main.o,$(SERVER_OBJ))
	rm -f $@ && ar rcs $@ $^

# Two binaries: the AVX2 one links FAISS's distance kernels and scalar quantizer
# (IVF...,SQ8 scans) rebuilt with AVX2/FMA;
# lesiond re-executes lesiond-generic at start on a CPU without AVX2.
$(BUILD)/variant_avx2.o: tools/variant.c
	$(CC) $(CFLAGS) -DLSD_VARIANT_AVX2=1 -c $< -o $@
$(BUILD)/variant_generic.o: tools/variant.c
	$(CC) $(CFLAGS) -DLSD_VARIANT_AVX2=0 -c $< -o $@
$(LESIOND): $(SERVER_OBJ) $(BUILD)/liblesion.a $(BUILD)/variant_avx2.o
	$(CXX) $(LDFLAGS) -o $@ $(SERVER_OBJ) $(BUILD)/variant_avx2.o $(BUILD)/liblesion.a \
		$(DEPS)/distances_simd_avx2.o $(DEPS)/scalar_quantizer_avx2.o $(LIBS)
$(BUILD)/lesiond-generic: $(SERVER_OBJ) $(BUILD)/liblesion.a $(BUILD)/variant_generic.o
	$(CXX) $(LDFLAGS) -o $@ $(SERVER_OBJ) $(BUILD)/variant_generic.o $(BUILD)/liblesion.a $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libserver.a $(BUILD)/liblesion.a \
		$(BUILD)/variant_generic.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iserver -Itests/unit -c $< -o $@.o
	$(CXX) $(LDFLAGS) -o $@ $@.o $(BUILD)/variant_generic.o $(BUILD)/libserver.a \
		$(BUILD)/liblesion.a $(LIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/liblesion.a $(BUILD)/variant_avx2.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@.o
	$(CXX) $(LDFLAGS) -o $@ $@.o $(BUILD)/variant_avx2.o $(BUILD)/liblesion.a \
		$(DEPS)/distances_simd_avx2.o $(DEPS)/scalar_quantizer_avx2.o $(LIBS)

$(DEMO_DIR)/lesiond.db: $(LESIOND)
	sh tools/demo_db.sh $(LESIOND) $(DEMO_DIR)

run: all $(DEMO_DIR)/lesiond.db
	$(LESIOND) serve --db $(DEMO_DIR)/lesiond.db --images $(DEMO_DIR)/Images_png --port $(PORT)

# playwright-core for the browser test (tests/e2e/viewer.mjs), installed by deps.sh
E2E_NODE := tests/e2e/node_modules/playwright-core/package.json
$(E2E_NODE): tests/e2e/package-lock.json
	sh tools/deps.sh build

test: all $(UNIT_BIN) $(E2E_NODE)
	sh tests/run.sh $(BUILD)
unit: all $(UNIT_BIN)
	sh tests/run.sh $(BUILD) unit
e2e: all $(E2E_NODE)
	sh tests/run.sh $(BUILD) e2e

# the sanitizer pass: every test on the ASan+UBSan build, then each fuzz target for
# FUZZ_SMOKE_SECONDS (default 8; 11 targets) from its seeds and regression inputs
asan:
	$(MAKE) VARIANT=asan test
	sh tests/fuzz/run.sh $(or $(FUZZ_SMOKE_SECONDS),8)

bench: all $(BENCH_BIN)
	sh bench/run.sh $(BUILD)

fuzz: deps
	sh tests/fuzz/run.sh $(or $(FUZZ_SECONDS),60)

style:
	sh tools/style.sh

# one-line mutations of important code (tools/mutants.txt), each in a scratch copy with
# the tests that should catch it; prints the survivors. Not in CI (~30 min).
mutate: all
	python3 tools/mutate.py $(or $(MUTATE_DIR),build/mutate)

# the container image (Dockerfile), built and used as a person would: tests/docker/run.sh
# (installs docker.io, starts dockerd and makes a debian:12 base when they are missing)
docker-test:
	sh tests/docker/run.sh

clean:
	rm -rf build/release build/asan build/fuzz build/demo build/test

-include $(shell find build/$(VARIANT) -name '*.d' 2>/dev/null)
