/* fuzz_png16.c - libFuzzer target: image_decode_png16 (index/image.c), the decoder of
 * DeepLesion's 16-bit grayscale slices, on arbitrary bytes. Built by tests/fuzz/run.sh. */
#include "image.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slice16 s;
	char err[LSD_ERRLEN];
	volatile int16_t sink;

	memset(&s, 0, sizeof(s));
	if (image_decode_png16(data, size, &s, err) == 0) {
		if (s.w > 0 && s.h > 0)	/* the last pixel must exist */
			sink = s.hu[(size_t)s.w * (size_t)s.h - 1];
		(void)sink;
		slice16_free(&s);
	}
	return 0;
}
