#!/bin/sh
# desc_ablation.sh DIR [BUILD] - build tools/desc_ablation.c against the library of a
# finished `make` and run it on the dataset in DIR (DL_info.csv, ground_truth.csv,
# Images_png/). Prints the nearest-neighbour same-type table of docs/descriptor.md.
set -eu
DIR=$1
BUILD=${2:-build/release}
CFLAGS="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -g -Wall -Wextra -Wshadow \
-Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wcast-qual -Wwrite-strings -Wvla \
-Wundef -Werror -Iinclude"
# shellcheck disable=SC2086
${CC:-cc} $CFLAGS -o "$BUILD/desc_ablation" tools/desc_ablation.c "$BUILD/variant_generic.o" \
	"$BUILD/liblesion.a" -lpng -lz -lm -lpthread
"$BUILD/desc_ablation" "$DIR"
