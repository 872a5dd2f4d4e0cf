/* vecfile.c - .npy / .fvecs / ids.txt readers for bulk vector import (API in vecfile.h).
 *
 * Called by import-vectors (files of up to ~10^6 x 2048 floats) and the bulk upload
 * handler. Reads a whole file under VECFILE_MAX_BYTES, validates the header against the
 * exact byte length before trusting any size in it, and compacts the float payload in
 * place (no second copy of a gigabyte file). Owns nothing after returning.
 */
#include "vecfile.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------- .npy ---------- */

struct npy_hdr {
	size_t off;	/* payload offset */
	size_t rows;
	int dim;
};

static const char *skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* a quoted Python string literal (no escapes needed for the three keys) */
static const char *py_str(const char *p, const char *e, char *out, size_t n)
{
	char q;
	size_t i = 0;

	if (p >= e || (*p != '\'' && *p != '"'))
		return NULL;
	q = *p++;
	while (p < e && *p != q) {
		if (*p == '\\' || i + 1 >= n)
			return NULL;
		out[i++] = *p++;
	}
	if (p >= e)
		return NULL;
	out[i] = 0;
	return p + 1;
}

static const char *py_uint(const char *p, const char *e, uint64_t *v)
{
	uint64_t x = 0;
	const char *s = p;

	while (p < e && *p >= '0' && *p <= '9') {
		if (x > (UINT64_MAX - 9) / 10)
			return NULL;
		x = x * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (p == s)
		return NULL;
	if (p < e && (*p == 'L' || *p == 'l'))	/* Python 2 longs */
		p++;
	*v = x;
	return p;
}

/* b[0..len): at least the header; total: the whole file's size (payload checked against it) */
static int npy_header_sized(const unsigned char *b, size_t len, uint64_t total, struct npy_hdr *h,
			    char *err)
{
	const char *p, *e;
	size_t hl, pre;
	uint64_t shape[3];
	int nshape = -1, have_descr = 0, fortran = -1;
	char key[32], val[32];

	if (len < 10 || memcmp(b, "\x93NUMPY", 6))
		return errf(err, "not a NumPy .npy file (bad magic)");
	if (b[6] == 1) {
		hl = (size_t)b[8] | (size_t)b[9] << 8;
		pre = 10;
	} else if (b[6] == 2 || b[6] == 3) {
		if (len < 12)
			return errf(err, "truncated .npy header");
		hl = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
		pre = 12;
	} else {
		return errf(err, ".npy format version %d.%d not supported", b[6], b[7]);
	}
	if (hl > 1 << 20 || pre + hl > len)
		return errf(err, "truncated .npy header (%zu header bytes, file has %zu)", hl, len);
	p = (const char *)b + pre;
	e = p + hl;
	p = skip_ws(p, e);
	if (p >= e || *p++ != '{')
		return errf(err, ".npy header is not a dict");
	for (;;) {
		p = skip_ws(p, e);
		if (p < e && *p == '}')
			break;
		if (!(p = py_str(p, e, key, sizeof(key))))
			return errf(err, ".npy header: bad key");
		p = skip_ws(p, e);
		if (p >= e || *p++ != ':')
			return errf(err, ".npy header: expected ':' after '%s'", key);
		p = skip_ws(p, e);
		if (!strcmp(key, "descr")) {
			if (!(p = py_str(p, e, val, sizeof(val))))
				return errf(err, ".npy header: descr must be a dtype string");
			if (strcmp(val, "<f4") && strcmp(val, "=f4"))
				return errf(err, ".npy dtype '%s' not supported: need little-endian float32 "
					    "('<f4'; in NumPy: x.astype('<f4'))", val);
			have_descr = 1;
		} else if (!strcmp(key, "fortran_order")) {
			if ((size_t)(e - p) >= 5 && !memcmp(p, "False", 5)) {
				fortran = 0;
				p += 5;
			} else if ((size_t)(e - p) >= 4 && !memcmp(p, "True", 4)) {
				fortran = 1;
				p += 4;
			} else {
				return errf(err, ".npy header: fortran_order must be True or False");
			}
		} else if (!strcmp(key, "shape")) {
			if (p >= e || *p++ != '(')
				return errf(err, ".npy header: shape must be a tuple");
			nshape = 0;
			for (;;) {
				p = skip_ws(p, e);
				if (p < e && *p == ')') {
					p++;
					break;
				}
				if (nshape == 3 || !(p = py_uint(p, e, &shape[nshape])))
					return errf(err, ".npy header: bad shape (need 2 dimensions)");
				nshape++;
				p = skip_ws(p, e);
				if (p < e && *p == ',')
					p++;
			}
		} else {
			return errf(err, ".npy header: unexpected key '%s'", key);
		}
		p = skip_ws(p, e);
		if (p < e && *p == ',')
			p++;
	}
	if (!have_descr || fortran < 0 || nshape < 0)
		return errf(err, ".npy header lacks descr, fortran_order or shape");
	if (fortran)
		return errf(err, ".npy array is in Fortran order: save np.ascontiguousarray(x)");
	if (nshape != 2)
		return errf(err, ".npy array has %d dimensions, need 2 (rows x dim)", nshape);
	if (shape[1] < 1 || shape[1] > VECFILE_MAX_DIM)
		return errf(err, ".npy dimension %" PRIu64 " out of range 1..%d", shape[1],
			    VECFILE_MAX_DIM);
	if (shape[0] < 1 || shape[0] > VECFILE_MAX_ROWS)
		return errf(err, ".npy row count %" PRIu64 " out of range 1..%zu", shape[0],
			    VECFILE_MAX_ROWS);
	/* both bounded above: rows * dim * 4 < 2^31 * 2^16 * 4 fits in 64 bits */
	if (total - pre - hl != shape[0] * shape[1] * 4)
		return errf(err, ".npy payload is %" PRIu64 " bytes, shape (%" PRIu64 ", %" PRIu64
			    ") needs %" PRIu64 " (truncated or padded file)", total - pre - hl,
			    shape[0], shape[1], shape[0] * shape[1] * 4);
	h->off = pre + hl;
	h->rows = (size_t)shape[0];
	h->dim = (int)shape[1];
	return 0;
}

static int npy_header(const unsigned char *b, size_t len, struct npy_hdr *h, char *err)
{
	return npy_header_sized(b, len, len, h, err);
}

int vecfile_npy_header(const void *buf, size_t len, uint64_t file_size, size_t *off, size_t *rows,
		       int *dim, char *err)
{
	struct npy_hdr h;

	if (file_size < len)
		return errf(err, "truncated .npy file");
	if (npy_header_sized(buf, len, file_size, &h, err))
		return -1;
	*off = h.off;
	*rows = h.rows;
	*dim = h.dim;
	return 0;
}

int vecfile_parse_npy(const void *buf, size_t len, float **out, size_t *rows, int *dim, char *err)
{
	struct npy_hdr h;
	size_t bytes;

	*out = NULL;
	if (npy_header(buf, len, &h, err))
		return -1;
	bytes = h.rows * (size_t)h.dim * sizeof(float);
	if (!(*out = malloc(bytes)))
		return errf(err, "out of memory for %zu bytes", bytes);
	memcpy(*out, (const unsigned char *)buf + h.off, bytes);
	*rows = h.rows;
	*dim = h.dim;
	return 0;
}

/* ---------- .fvecs ---------- */

static int32_t le_i32(const unsigned char *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			 (uint32_t)p[3] << 24);
}

static int fvecs_check(const unsigned char *b, size_t len, size_t *rows, int *dim, char *err)
{
	int32_t d;
	size_t rec, n, i;

	if (len < 4)
		return errf(err, ".fvecs file is empty or truncated");
	d = le_i32(b);
	if (d < 1 || d > VECFILE_MAX_DIM)
		return errf(err, ".fvecs dimension %" PRId32 " out of range 1..%d", d, VECFILE_MAX_DIM);
	rec = 4 + 4 * (size_t)d;
	if (len % rec)
		return errf(err, ".fvecs length %zu is not a multiple of the record size %zu "
			    "(truncated file or mixed dimensions)", len, rec);
	n = len / rec;
	if (n > VECFILE_MAX_ROWS)
		return errf(err, ".fvecs has too many rows (%zu)", n);
	for (i = 0; i < n; i++)
		if (le_i32(b + i * rec) != d)
			return errf(err, ".fvecs row %zu has dimension %" PRId32 ", row 0 has %" PRId32,
				    i, le_i32(b + i * rec), d);
	*rows = n;
	*dim = d;
	return 0;
}

/* dst may alias src (compaction moves every row down) */
static void fvecs_copy(float *dst, const unsigned char *src, size_t rows, int dim)
{
	size_t i, rb = (size_t)dim * 4;

	for (i = 0; i < rows; i++)
		memmove((unsigned char *)dst + i * rb, src + i * (rb + 4) + 4, rb);
}

int vecfile_parse_fvecs(const void *buf, size_t len, float **out, size_t *rows, int *dim, char *err)
{
	size_t n;
	int d;

	*out = NULL;
	if (fvecs_check(buf, len, &n, &d, err))
		return -1;
	if (!(*out = malloc(n * (size_t)d * sizeof(float))))
		return errf(err, "out of memory");
	fvecs_copy(*out, buf, n, d);
	*rows = n;
	*dim = d;
	return 0;
}

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcmp(s + a - b, suf);
}

int vecfile_read(const char *path, float **out, size_t *rows, int *dim, char *err)
{
	char e2[LSD_ERRLEN];
	unsigned char *buf;
	size_t len, n, off = 0;
	int d, npy = ends_with(path, ".npy"), rc = -1;
	float *shrunk;

	*out = NULL;
	if (!npy && !ends_with(path, ".fvecs"))
		return errf(err, "%s: unknown vector file type (need .npy or .fvecs)", path);
	buf = (unsigned char *)file_read(path, VECFILE_MAX_BYTES, &len, err);
	if (!buf)
		return -1;
	if (npy) {
		struct npy_hdr h;

		if (npy_header(buf, len, &h, e2))
			goto bad;
		n = h.rows;
		d = h.dim;
		off = h.off;
		memmove(buf, buf + off, n * (size_t)d * sizeof(float));
	} else {
		if (fvecs_check(buf, len, &n, &d, e2))
			goto bad;
		fvecs_copy((float *)(void *)buf, buf, n, d);
	}
	shrunk = realloc(buf, n * (size_t)d * sizeof(float));
	*out = shrunk ? shrunk : (float *)(void *)buf;
	buf = NULL;
	*rows = n;
	*dim = d;
	rc = 0;
	goto out;
bad:
	errf(err, "%s: %s", path, e2);
out:
	free(buf);
	return rc;
}

/* ---------- ids.txt ---------- */

struct id_pair {
	int64_t id;
	size_t idx;
};

static int cmp_pair_id(const void *pa, const void *pb)
{
	const struct id_pair *a = pa, *b = pb;

	return (a->id > b->id) - (a->id < b->id);
}

int vecfile_parse_ids(const char *buf, size_t len, int64_t **out, size_t *n, char *err)
{
	const char *p = buf, *e = buf + len;
	int64_t *v = NULL;
	size_t cap = 0, cnt = 0, line = 0, i;
	int rc = -1;

	*out = NULL;
	*n = 0;
	while (p < e) {
		const char *eol = memchr(p, '\n', (size_t)(e - p)), *le = eol ? eol : e;
		char tmp[32];
		size_t l;
		int64_t id;

		line++;
		while (le > p && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t'))
			le--;
		while (p < le && (*p == ' ' || *p == '\t'))
			p++;
		l = (size_t)(le - p);
		if (l) {
			if (l >= sizeof(tmp)) {
				errf(err, "line %zu: not a lesion id", line);
				goto out;
			}
			memcpy(tmp, p, l);
			tmp[l] = 0;
			if (parse_i64(tmp, 1, INT64_MAX, &id)) {
				errf(err, "line %zu: '%s' is not a positive integer id", line, tmp);
				goto out;
			}
			if (cnt == cap) {
				size_t nc = cap ? cap * 2 : 1024;
				int64_t *nv;

				if (nc > VECFILE_MAX_ROWS || !(nv = realloc(v, nc * sizeof(*v)))) {
					errf(err, "too many ids");
					goto out;
				}
				v = nv;
				cap = nc;
			}
			v[cnt++] = id;
		}
		p = eol ? eol + 1 : e;
	}
	if (!cnt) {
		errf(err, "no ids");
		goto out;
	}
	/* duplicates: sort a copy of (id, line) pairs */
	{
		struct id_pair *s = malloc(cnt * sizeof(*s));
		size_t j;

		if (!s) {
			errf(err, "out of memory");
			goto out;
		}
		for (i = 0; i < cnt; i++) {
			s[i].id = v[i];
			s[i].idx = i;
		}
		qsort(s, cnt, sizeof(*s), cmp_pair_id);
		for (j = 1; j < cnt; j++)
			if (s[j].id == s[j - 1].id) {
				size_t a = LSD_MIN(s[j].idx, s[j - 1].idx) + 1;
				size_t b = LSD_MAX(s[j].idx, s[j - 1].idx) + 1;

				errf(err, "id %" PRId64 " appears twice (entries %zu and %zu)", s[j].id,
				     a, b);
				free(s);
				goto out;
			}
		free(s);
	}
	*out = v;
	v = NULL;
	*n = cnt;
	rc = 0;
out:
	free(v);
	return rc;
}

int vecfile_read_ids(const char *path, int64_t **out, size_t *n, char *err)
{
	char e2[LSD_ERRLEN];
	size_t len;
	char *buf = file_read(path, (size_t)1 << 32, &len, err);
	int rc;

	*out = NULL;
	*n = 0;
	if (!buf)
		return -1;
	rc = vecfile_parse_ids(buf, len, out, n, e2);
	if (rc)
		errf(err, "%s: %s", path, e2);
	free(buf);
	return rc;
}
