/* qfile.c - query vectors streamed from .npy / .fvecs / NDJSON files (API in qfile.h).
 *
 * Called by `lesiond knn --queries FILE` for files of up to 10^7+ rows: nothing here is
 * sized by the row count. .npy headers are validated by vecfile.c against the file's
 * size; .fvecs rows are checked one by one (each carries its dimension); NDJSON is read
 * line by line with a bounded line buffer, counted in a first pass.
 */
#include "qfile.h"
#include "util.h"
#include "vecfile.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_HEAD_MAX ((size_t)(1 << 20) + 16)

struct qfile {
	FILE *fp;
	char *path;
	int format, dim;
	size_t rows, pos;	/* pos: next row to read */
	size_t off;		/* .npy payload offset */
	unsigned long line;	/* NDJSON: lines consumed so far */
	char *buf;		/* NDJSON line / .fvecs record buffer */
	size_t cap;
	float *tmp;		/* NDJSON: one parsed row */
};

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcmp(s + a - b, suf);
}

/* ---------- NDJSON lines ---------- */

static const char *ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* a JSON number token: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? */
static const char *num_end(const char *p, const char *e)
{
	const char *s;

	if (p < e && *p == '-')
		p++;
	if (p >= e)
		return NULL;
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	} else {
		return NULL;
	}
	if (p < e && *p == '.') {
		s = ++p;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		s = p;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	return p;
}

int qfile_parse_line(const char *s, size_t len, float *out, int max, int *got, char *err)
{
	const char *p = s, *e = s + len;
	int obj = 0, n = 0;

	*got = 0;
	p = ws(p, e);
	if (p < e && *p == '{') {
		static const char key[] = "\"vector\"";

		obj = 1;
		p = ws(p + 1, e);
		if ((size_t)(e - p) < sizeof(key) - 1 || memcmp(p, key, sizeof(key) - 1))
			return errf(err, "an object line must be {\"vector\": [...]}");
		p = ws(p + sizeof(key) - 1, e);
		if (p >= e || *p++ != ':')
			return errf(err, "expected ':' after \"vector\"");
		p = ws(p, e);
	}
	if (p >= e || *p++ != '[')
		return errf(err, "expected a JSON array of numbers");
	p = ws(p, e);
	if (p < e && *p == ']') {
		p++;
	} else {
		for (;;) {
			const char *t = ws(p, e), *te = num_end(t, e);
			char tok[64];
			double v;

			if (!te)
				return errf(err, "element %d is not a JSON number", n);
			if ((size_t)(te - t) >= sizeof(tok))
				return errf(err, "element %d: number too long", n);
			memcpy(tok, t, (size_t)(te - t));
			tok[te - t] = 0;
			errno = 0;
			v = strtod(tok, NULL);
			if (!isfinite(v) || fabs(v) > FLT_MAX)
				return errf(err, "element %d (%s) is not a finite float32", n, tok);
			if (n >= max)
				return errf(err, "more than %d numbers", max);
			out[n++] = (float)v;
			p = ws(te, e);
			if (p < e && *p == ',') {
				p++;
				continue;
			}
			if (p < e && *p == ']') {
				p++;
				break;
			}
			return errf(err, "expected ',' or ']' after element %d", n - 1);
		}
	}
	p = ws(p, e);
	if (obj) {
		if (p >= e || *p++ != '}')
			return errf(err, "expected '}' after the vector (only \"vector\" is allowed)");
		p = ws(p, e);
	}
	if (p != e)
		return errf(err, "trailing characters after the vector");
	if (n == 0)
		return errf(err, "empty vector");
	*got = n;
	return 0;
}

/* Next line into f->buf (NUL-terminated, newline stripped); 1 read, 0 EOF, -1 error. */
static int next_line(struct qfile *f, size_t *len, char *err)
{
	size_t n = 0;
	int c;

	f->line++;
	for (;;) {
		c = getc(f->fp);
		if (c == EOF) {
			if (ferror(f->fp))
				return errf(err, "%s: read error: %s", f->path, strerror(errno));
			if (n == 0)
				return 0;
			break;
		}
		if (c == '\n')
			break;
		if (n + 1 >= f->cap) {
			size_t nc = f->cap ? f->cap * 2 : 4096;
			char *nb;

			if (nc > QFILE_MAX_LINE + 1)
				return errf(err, "%s:%lu: line longer than %zu bytes", f->path, f->line,
					    QFILE_MAX_LINE);
			nb = realloc(f->buf, nc);
			if (!nb)
				return errf(err, "out of memory");
			f->buf = nb;
			f->cap = nc;
		}
		f->buf[n++] = (char)c;
	}
	if (!f->buf) {	/* an empty last line before EOF */
		f->buf = malloc(1);
		if (!f->buf)
			return errf(err, "out of memory");
		f->cap = 1;
	}
	f->buf[n] = 0;
	*len = n;
	return 1;
}

static int blank(const char *s, size_t n)
{
	return ws(s, s + n) == s + n;
}

/* The next non-blank line; 1, 0 at EOF, -1. */
static int next_row_line(struct qfile *f, size_t *len, char *err)
{
	int r;

	while ((r = next_line(f, len, err)) == 1)
		if (!blank(f->buf, *len))
			return 1;
	return r;
}

static int ndjson_open(struct qfile *f, char *err)
{
	char e2[LSD_ERRLEN];
	size_t len;
	int r, got;

	f->tmp = malloc((size_t)VECFILE_MAX_DIM * sizeof(float));
	if (!f->tmp)
		return errf(err, "out of memory");
	r = next_row_line(f, &len, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return errf(err, "%s: no query vectors", f->path);
	if (qfile_parse_line(f->buf, len, f->tmp, VECFILE_MAX_DIM, &got, e2))
		return errf(err, "%s:%lu: %s", f->path, f->line, e2);
	f->dim = got;
	f->rows = 1;
	while ((r = next_row_line(f, &len, err)) == 1)
		f->rows++;
	return r < 0 ? -1 : 0;
}

/* ---------- open / seek / read ---------- */

int qfile_open(const char *path, struct qfile **out, char *err)
{
	struct qfile *f;
	struct stat st;
	char e2[LSD_ERRLEN];

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path))) {
		free(f);
		return errf(err, "out of memory");
	}
	if (ends_with(path, ".npy"))
		f->format = QFILE_NPY;
	else if (ends_with(path, ".fvecs"))
		f->format = QFILE_FVECS;
	else if (ends_with(path, ".ndjson") || ends_with(path, ".jsonl"))
		f->format = QFILE_NDJSON;
	else {
		errf(err, "%s: unknown query file type (need .npy, .fvecs, .ndjson or .jsonl)", path);
		goto fail;
	}
	f->fp = fopen(path, "rb");
	if (!f->fp || fstat(fileno(f->fp), &st)) {
		errf(err, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		errf(err, "%s: not a regular file", path);
		goto fail;
	}
	if (f->format == QFILE_NPY) {
		size_t want = LSD_MIN(NPY_HEAD_MAX, (size_t)st.st_size), got;

		f->buf = malloc(want ? want : 1);
		if (!f->buf) {
			errf(err, "out of memory");
			goto fail;
		}
		got = fread(f->buf, 1, want, f->fp);
		if (got != want ||
		    vecfile_npy_header(f->buf, got, (uint64_t)st.st_size, &f->off, &f->rows, &f->dim, e2)) {
			errf(err, "%s: %s", path, got != want ? "read error" : e2);
			goto fail;
		}
	} else if (f->format == QFILE_FVECS) {
		unsigned char h[4];
		int32_t d;
		size_t rec;

		if (st.st_size < 4 || fread(h, 1, 4, f->fp) != 4) {
			errf(err, "%s: .fvecs file is empty or truncated", path);
			goto fail;
		}
		d = (int32_t)((uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
			      (uint32_t)h[3] << 24);
		if (d < 1 || d > VECFILE_MAX_DIM) {
			errf(err, "%s: .fvecs dimension %d out of range 1..%d", path, (int)d,
			     VECFILE_MAX_DIM);
			goto fail;
		}
		rec = 4 + 4 * (size_t)d;
		if ((uint64_t)st.st_size % rec) {
			errf(err, "%s: .fvecs length %lld is not a multiple of the record size %zu "
			     "(truncated file or mixed dimensions)", path, (long long)st.st_size, rec);
			goto fail;
		}
		f->dim = d;
		f->rows = (size_t)st.st_size / rec;
		f->buf = malloc(rec);
		if (!f->buf) {
			errf(err, "out of memory");
			goto fail;
		}
		f->cap = rec;
	} else if (ndjson_open(f, err)) {
		goto fail;
	}
	if (qfile_seek(f, 0, err))
		goto fail;
	*out = f;
	return 0;
fail:
	qfile_close(f);
	return -1;
}

void qfile_close(struct qfile *f)
{
	if (!f)
		return;
	if (f->fp)
		fclose(f->fp);
	free(f->path);
	free(f->buf);
	free(f->tmp);
	free(f);
}

int qfile_format(const struct qfile *f)
{
	return f->format;
}

int qfile_dim(const struct qfile *f)
{
	return f->dim;
}

size_t qfile_rows(const struct qfile *f)
{
	return f->rows;
}

int qfile_seek(struct qfile *f, size_t r, char *err)
{
	off_t at;

	if (r > f->rows)
		return errf(err, "%s: row %zu beyond the %zu rows", f->path, r, f->rows);
	if (f->format == QFILE_NDJSON) {
		size_t len, i;

		rewind(f->fp);
		f->line = 0;
		for (i = 0; i < r; i++)
			if (next_row_line(f, &len, err) != 1)
				return errf(err, "%s: changed while being read", f->path);
		f->pos = r;
		return 0;
	}
	at = f->format == QFILE_NPY ? (off_t)(f->off + r * (size_t)f->dim * 4) :
				      (off_t)(r * (4 + (size_t)f->dim * 4));
	if (fseeko(f->fp, at, SEEK_SET))
		return errf(err, "%s: seek: %s", f->path, strerror(errno));
	f->pos = r;
	return 0;
}

static int check_row(const struct qfile *f, const float *v, size_t row, char *err)
{
	int j;

	for (j = 0; j < f->dim; j++)
		if (!isfinite(v[j]))
			return errf(err, "%s: row %zu, component %d is %s (queries must be finite)",
				    f->path, row, j, isnan(v[j]) ? "NaN" : "infinite");
	return 0;
}

static void le_floats(float *v, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t u;

		memcpy(&u, &v[i], 4);
		u = __builtin_bswap32(u);
		memcpy(&v[i], &u, 4);
	}
#else
	(void)v;
	(void)n;
#endif
}

long qfile_read(struct qfile *f, float *out, size_t max, char *err)
{
	size_t n = LSD_MIN(max, f->rows - f->pos), i, d = (size_t)f->dim;
	char e2[LSD_ERRLEN];

	if (n == 0)
		return 0;
	if (f->format == QFILE_NPY) {
		if (fread(out, 4 * d, n, f->fp) != n)
			return errf(err, "%s: short read at row %zu (file changed?)", f->path, f->pos);
		le_floats(out, n * d);
	} else if (f->format == QFILE_FVECS) {
		for (i = 0; i < n; i++) {
			const unsigned char *h = (const unsigned char *)f->buf;
			int32_t dd;

			if (fread(f->buf, f->cap, 1, f->fp) != 1)
				return errf(err, "%s: short read at row %zu", f->path, f->pos + i);
			dd = (int32_t)((uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
				       (uint32_t)h[3] << 24);
			if (dd != f->dim)
				return errf(err, "%s: row %zu has dimension %d, row 0 has %d", f->path,
					    f->pos + i, (int)dd, f->dim);
			memcpy(out + i * d, f->buf + 4, 4 * d);
		}
		le_floats(out, n * d);
	} else {
		for (i = 0; i < n; i++) {
			size_t len;
			int got, r = next_row_line(f, &len, err);

			if (r < 0)
				return -1;
			if (r == 0)
				return errf(err, "%s: changed while being read", f->path);
			if (qfile_parse_line(f->buf, len, out + i * d, f->dim, &got, e2))
				return errf(err, "%s:%lu: %s", f->path, f->line, e2);
			if (got != f->dim)
				return errf(err, "%s:%lu: %d numbers, the first vector has %d", f->path,
					    f->line, got, f->dim);
		}
	}
	for (i = 0; i < n; i++)
		if (check_row(f, out + i * d, f->pos + i, err))
			return -1;
	f->pos += n;
	return (long)n;
}
