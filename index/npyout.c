/* npyout.c - .npy files written atomically, and streamed .npz pieces (API in npyout.h).
 *
 * Called by the knn job writers (arrays of 10^7 x k rows: written as they are computed,
 * never held) and the npz batch reply. A writer owns one temporary file until commit or
 * abort. ZIP layout follows APPNOTE 6.3: stored members, general purpose bit 3 (CRC and
 * sizes in a data descriptor after the bytes), no ZIP64.
 */
#include "npyout.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void npyout_header(char *out, const char *descr, size_t rows, size_t cols)
{
	int n;

	memcpy(out, "\x93NUMPY\x01\x00", 8);
	out[8] = (char)((NPYOUT_HEADER - 10) & 0xff);
	out[9] = (char)((NPYOUT_HEADER - 10) >> 8);
	n = snprintf(out + 10, NPYOUT_HEADER - 10, "{'descr': '%s', 'fortran_order': False, "
		     "'shape': (%zu, %zu), }", descr, rows, cols);
	if (n < 0 || n > NPYOUT_HEADER - 11)
		n = NPYOUT_HEADER - 11;
	memset(out + 10 + n, ' ', (size_t)(NPYOUT_HEADER - 11 - n));
	out[NPYOUT_HEADER - 1] = '\n';
}

struct npyw {
	int fd;
	char *path, *tmp;
	char descr[8];
	size_t cols, rowbytes;
	uint64_t bytes;		/* payload written */
};

int npyw_open(const char *path, const char *descr, size_t rows, size_t cols, struct npyw **out,
	      char *err)
{
	struct npyw *w = calloc(1, sizeof(*w));
	char hdr[NPYOUT_HEADER];
	size_t tl = strlen(path) + 32;

	*out = NULL;
	if (!w || !(w->path = strdup(path)) || !(w->tmp = malloc(tl))) {
		if (w)
			free(w->path);
		free(w);
		return errf(err, "out of memory");
	}
	snprintf(w->tmp, tl, "%s.tmp-%ld", path, (long)getpid());
	snprintf(w->descr, sizeof(w->descr), "%s", descr);
	w->cols = cols;
	w->rowbytes = cols * (descr[2] == '8' ? 8 : 4);
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		errf(err, "%s: %s", w->tmp, strerror(errno));
		free(w->path);
		free(w->tmp);
		free(w);
		return -1;
	}
	npyout_header(hdr, descr, rows, cols);
	if (npyw_write(w, hdr, sizeof(hdr), err)) {
		npyw_abort(w);
		return -1;
	}
	w->bytes = 0;
	*out = w;
	return 0;
}

int npyw_write(struct npyw *w, const void *data, size_t bytes, char *err)
{
	const char *p = data;

	w->bytes += bytes;
	while (bytes) {
		ssize_t k = write(w->fd, p, bytes);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return errf(err, "%s: write: %s", w->tmp, k < 0 ? strerror(errno) : "no progress");
		p += k;
		bytes -= (size_t)k;
	}
	return 0;
}

size_t npyw_rows_written(const struct npyw *w)
{
	return w->rowbytes ? (size_t)(w->bytes / w->rowbytes) : 0;
}

int npyw_finish(struct npyw *w, char *err)
{
	char hdr[NPYOUT_HEADER];

	if (w->rowbytes && w->bytes % w->rowbytes)
		return errf(err, "%s: partial row written", w->tmp);
	npyout_header(hdr, w->descr, npyw_rows_written(w), w->cols);
	if (pwrite(w->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return errf(err, "%s: header: %s", w->tmp, strerror(errno));
	if (fsync(w->fd))
		return errf(err, "%s: fsync: %s", w->tmp, strerror(errno));
	return 0;
}

int npyw_commit(struct npyw *w, char *err)
{
	int rc = 0;

	if (close(w->fd)) {
		w->fd = -1;
		errf(err, "%s: close: %s", w->tmp, strerror(errno));
		npyw_abort(w);
		return -1;
	}
	w->fd = -1;
	if (rename(w->tmp, w->path)) {
		errf(err, "rename %s: %s", w->path, strerror(errno));
		npyw_abort(w);
		return -1;
	}
	free(w->path);
	free(w->tmp);
	free(w);
	return rc;
}

void npyw_abort(struct npyw *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	unlink(w->tmp);
	free(w->path);
	free(w->tmp);
	free(w);
}

/* ---------- .npz ---------- */

uint32_t npz_crc32(uint32_t crc, const void *data, size_t len)
{
	static uint32_t table[256];
	static int ready;
	const unsigned char *p = data;
	size_t i;

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		uint32_t t[256];

		for (i = 0; i < 256; i++) {
			uint32_t c = (uint32_t)i;
			int j;

			for (j = 0; j < 8; j++)
				c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			t[i] = c;
		}
		memcpy(table, t, sizeof(t));	/* every thread computes the same table */
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	crc = ~crc;
	for (i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static char *le16(char *p, uint32_t v)
{
	p[0] = (char)(v & 0xff);
	p[1] = (char)((v >> 8) & 0xff);
	return p + 2;
}

static char *le32(char *p, uint32_t v)
{
	p = le16(p, v & 0xffff);
	return le16(p, v >> 16);
}

/* 1980-01-01 00:00: a fixed time stamp keeps replies byte-identical */
#define ZIP_TIME 0
#define ZIP_DATE 0x21

size_t npz_local(char *out, const struct npz_member *m)
{
	size_t nl = strlen(m->name);
	char *p = out;

	p = le32(p, 0x04034b50);
	p = le16(p, 20);		/* version needed */
	p = le16(p, 0x0008);		/* bit 3: data descriptor */
	p = le16(p, 0);			/* stored */
	p = le16(p, ZIP_TIME);
	p = le16(p, ZIP_DATE);
	p = le32(p, 0);			/* crc, sizes: in the descriptor */
	p = le32(p, 0);
	p = le32(p, 0);
	p = le16(p, (uint32_t)nl);
	p = le16(p, 0);
	memcpy(p, m->name, nl);
	return (size_t)(p - out) + nl;
}

size_t npz_desc(char *out, const struct npz_member *m)
{
	char *p = out;

	p = le32(p, 0x08074b50);
	p = le32(p, m->crc);
	p = le32(p, m->size);
	p = le32(p, m->size);
	return (size_t)(p - out);
}

size_t npz_central(char **out, const struct npz_member *m, int n, uint32_t cd_offset)
{
	char *b = malloc((size_t)n * (46 + sizeof(m->name)) + 22), *p = b;
	int i;

	*out = b;
	if (!b)
		return 0;
	for (i = 0; i < n; i++) {
		size_t nl = strlen(m[i].name);

		p = le32(p, 0x02014b50);
		p = le16(p, 20);	/* made by */
		p = le16(p, 20);
		p = le16(p, 0x0008);
		p = le16(p, 0);
		p = le16(p, ZIP_TIME);
		p = le16(p, ZIP_DATE);
		p = le32(p, m[i].crc);
		p = le32(p, m[i].size);
		p = le32(p, m[i].size);
		p = le16(p, (uint32_t)nl);
		p = le16(p, 0);		/* extra */
		p = le16(p, 0);		/* comment */
		p = le16(p, 0);		/* disk */
		p = le16(p, 0);		/* internal attributes */
		p = le32(p, 0);		/* external attributes */
		p = le32(p, m[i].offset);
		memcpy(p, m[i].name, nl);
		p += nl;
	}
	{
		uint32_t cd_len = (uint32_t)(p - b);

		p = le32(p, 0x06054b50);
		p = le16(p, 0);
		p = le16(p, 0);
		p = le16(p, (uint32_t)n);
		p = le16(p, (uint32_t)n);
		p = le32(p, cd_len);
		p = le32(p, cd_offset);
		p = le16(p, 0);
	}
	return (size_t)(p - b);
}
