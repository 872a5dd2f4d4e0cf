/* fuzz_dlcsv.c - libFuzzer target: one DL_info.csv data line through dlcsv_parse_row
 * (index/dlcsv.c). Built and run by tests/fuzz/run.sh. */
#include "dlcsv.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lesion l;
	char err[LSD_ERRLEN];
	char *line = malloc(size + 1);	/* exact size: ASan sees any overread */

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	dlcsv_parse_row(line, size, &l, err);
	free(line);
	return 0;
}
