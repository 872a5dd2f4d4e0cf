/* fuzz_qfile.c - libFuzzer target for the batch-kNN query readers (index/qfile.c).
 * Built twice by tests/fuzz/run.sh: -DFUZZ_QLINE (qfile_parse_line, one NDJSON line) and
 * -DFUZZ_QFILE (the whole streaming reader: the input written to a temporary file whose
 * extension, .npy / .fvecs / .ndjson, is chosen by the first byte; opened, every row read
 * in small blocks, a seek and a second read). */
#include "qfile.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[LSD_ERRLEN];
#if defined(FUZZ_QLINE)
	char *buf = malloc(size ? size : 1);	/* exact size: ASan sees any overread */
	float v[64];
	int got;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	qfile_parse_line(buf, size, v, 64, &got, err);
	free(buf);
#else
	static const char *const ext[] = { ".npy", ".fvecs", ".ndjson" };
	char path[64];
	struct qfile *f = NULL;
	FILE *fp;
	float *rows;
	long r;

	if (size < 1)
		return 0;
	snprintf(path, sizeof(path), "/tmp/fuzz_qfile_%ld%s", (long)getpid(), ext[data[0] % 3]);
	fp = fopen(path, "wb");
	if (!fp)
		return 0;
	fwrite(data + 1, 1, size - 1, fp);
	fclose(fp);
	if (qfile_open(path, &f, err) == 0) {
		rows = malloc(3 * (size_t)qfile_dim(f) * sizeof(float));
		while (rows && (r = qfile_read(f, rows, 3, err)) > 0)
			;
		if (rows && qfile_rows(f) > 1 && qfile_seek(f, qfile_rows(f) / 2, err) == 0)
			qfile_read(f, rows, 3, err);
		free(rows);
		qfile_close(f);
	}
	unlink(path);
#endif
	return 0;
}
