/* variant.c - compiled twice: tells main() whether this binary carries AVX2 kernels. */
#include "util.h"
const int lsd_variant_avx2 = LSD_VARIANT_AVX2;
