/* fuzz_repl.c - libFuzzer target for the replication stream parser (index/store_repl.c):
 * repl_stream_check on arbitrary bytes (framing, values, record count, checksum), then,
 * for a stream it accepts, a walk of every record. Neither may crash or read outside
 * the buffer; an accepted stream must walk to the count it declared. */
#include "store_repl.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(const struct repl_rec *r, void *arg)
{
	uint64_t *n = arg;
	int i;

	for (i = 0; i < r->n; i++)	/* touch every value's bytes */
		if ((r->v[i].type == REPL_V_TEXT || r->v[i].type == REPL_V_BLOB) && r->v[i].len)
			*n += ((const unsigned char *)r->v[i].p)[r->v[i].len - 1] & 0;
	(*n)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[LSD_ERRLEN];
	struct repl_header h;
	void *buf = malloc(size ? size : 1);	/* exact size: ASan sees any overread */
	uint64_t n = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (repl_stream_check(buf, size, &h, err) == 0) {
		if (repl_stream_foreach(buf, size, count, &n, err) || n != h.nrec)
			abort();
	}
	free(buf);
	return 0;
}
