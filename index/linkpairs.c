/* linkpairs.c - lesion pairs CSV and their components. See linkpairs.h.
 *
 * Called by the graph evaluation (--pairs), the realism report and tests. Owns the
 * arrays of a struct linkpairs until linkpairs_free.
 */
#include "linkpairs.h"

#include <stdlib.h>
#include <string.h>

#include "csvline.h"
#include "util.h"

#define PAIRS_MAX_BYTES (64u << 20)
#define PAIRS_MAX_FIELDS 64

static int i64_cmp(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return (a > b) - (a < b);
}

static size_t find(const int64_t *v, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t uf(size_t *par, size_t x)
{
	while (par[x] != x) {
		par[x] = par[par[x]];
		x = par[x];
	}
	return x;
}

/* ids and tracks from the pairs */
static int components(struct linkpairs *p, char *err)
{
	size_t *par = NULL, m = 0;
	int rc = -1;

	p->id = malloc(2 * p->n * sizeof(*p->id));
	p->track = malloc(2 * p->n * sizeof(*p->track));
	par = malloc(2 * p->n * sizeof(*par));
	if (!p->id || !p->track || !par) {
		errf(err, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < p->n; k++) {
		p->id[2 * k] = p->a[k];
		p->id[2 * k + 1] = p->b[k];
	}
	qsort(p->id, 2 * p->n, sizeof(*p->id), i64_cmp);
	for (size_t k = 0; k < 2 * p->n; k++)
		if (m == 0 || p->id[m - 1] != p->id[k])
			p->id[m++] = p->id[k];
	p->nid = m;
	for (size_t k = 0; k < m; k++)
		par[k] = k;
	for (size_t k = 0; k < p->n; k++) {
		size_t x = uf(par, find(p->id, m, p->a[k])), y = uf(par, find(p->id, m, p->b[k]));

		/* the root is the smaller index, so the track is the smallest id */
		if (x < y)
			par[y] = x;
		else if (y < x)
			par[x] = y;
	}
	for (size_t k = 0; k < m; k++)
		p->track[k] = p->id[uf(par, k)];
	rc = 0;
out:
	free(par);
	return rc;
}

int linkpairs_load(const char *path, struct linkpairs *p, char *err)
{
	char *buf, *cur, *line, *f[PAIRS_MAX_FIELDS];
	size_t len, cap = 0;
	int ca = -1, cb = -1, nf, lineno = 1, rc = -1;

	memset(p, 0, sizeof(*p));
	buf = file_read(path, PAIRS_MAX_BYTES, &len, err);
	if (!buf)
		return -1;
	cur = buf;
	line = csvline_next(&cur);
	nf = line ? csvline_split(line, f, PAIRS_MAX_FIELDS) : 0;
	for (int k = 0; k < nf; k++) {
		if (!strcmp(f[k], "lesion_a"))
			ca = k;
		else if (!strcmp(f[k], "lesion_b"))
			cb = k;
	}
	if (ca < 0 || cb < 0) {
		errf(err, "%s:1: header needs lesion_a and lesion_b columns", path);
		goto out;
	}
	while ((line = csvline_next(&cur)) != NULL) {
		int64_t a, b;

		lineno++;
		if (!*line)
			continue;
		nf = csvline_split(line, f, PAIRS_MAX_FIELDS);
		if (nf <= ca || nf <= cb || parse_i64(f[ca], 1, INT64_MAX, &a) ||
		    parse_i64(f[cb], 1, INT64_MAX, &b)) {
			errf(err, "%s:%d: lesion_a and lesion_b must be positive integers", path,
			     lineno);
			goto out;
		}
		if (a == b) {
			errf(err, "%s:%d: lesion %lld is paired with itself", path, lineno,
			     (long long)a);
			goto out;
		}
		if (p->n == cap) {
			size_t nc = cap ? cap * 2 : 256;
			int64_t *x = realloc(p->a, nc * sizeof(*x)), *y;

			if (!x) {
				errf(err, "out of memory");
				goto out;
			}
			p->a = x;
			y = realloc(p->b, nc * sizeof(*y));
			if (!y) {
				errf(err, "out of memory");
				goto out;
			}
			p->b = y;
			cap = nc;
		}
		p->a[p->n] = a;
		p->b[p->n] = b;
		p->n++;
	}
	if (p->n == 0) {
		errf(err, "%s: no pairs", path);
		goto out;
	}
	rc = components(p, err);
out:
	if (rc)
		linkpairs_free(p);
	free(buf);
	return rc;
}

void linkpairs_free(struct linkpairs *p)
{
	free(p->a);
	free(p->b);
	free(p->id);
	free(p->track);
	memset(p, 0, sizeof(*p));
}

int linkpairs_track(const struct linkpairs *p, int64_t id, int64_t *track)
{
	size_t k = find(p->id, p->nid, id);

	if (k < p->nid && p->id[k] == id) {
		*track = p->track[k];
		return 1;
	}
	return 0;
}
