/* fuzz_vecfile.c - libFuzzer target for the bulk vector readers (index/vecfile.c).
 * Built three times by tests/fuzz/run.sh: -DFUZZ_NPY (vecfile_parse_npy),
 * -DFUZZ_FVECS (vecfile_parse_fvecs), -DFUZZ_IDS (vecfile_parse_ids). */
#include "util.h"
#include "vecfile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[LSD_ERRLEN];
	void *buf = malloc(size ? size : 1);	/* exact size: ASan sees any overread */

	if (!buf)
		return 0;
	memcpy(buf, data, size);
#if defined(FUZZ_IDS)
	{
		int64_t *ids = NULL;
		size_t n = 0;

		if (vecfile_parse_ids(buf, size, &ids, &n, err) == 0)
			free(ids);
	}
#else
	{
		float *v = NULL;
		size_t rows = 0;
		int dim = 0;
		volatile float sink = 0;
#if defined(FUZZ_NPY)
		int rc = vecfile_parse_npy(buf, size, &v, &rows, &dim, err);
#else
		int rc = vecfile_parse_fvecs(buf, size, &v, &rows, &dim, err);
#endif
		if (rc == 0) {
			if (rows && dim)	/* touch the last element: the size must be right */
				sink = v[rows * (size_t)dim - 1];
			(void)sink;
			free(v);
		}
	}
#endif
	free(buf);
	return 0;
}
