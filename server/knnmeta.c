/* knnmeta.c - PREFIX.knn.json, a knn job's description (see knnmeta.h). */
#include "knnmeta.h"
#include "json.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int knnmeta_path(char *out, size_t n, const char *prefix, const char *suffix)
{
	int k = snprintf(out, n, "%s%s", prefix, suffix);

	return k < 0 || (size_t)k >= n ? -1 : 0;
}

int knnmeta_write(const char *prefix, const struct knn_meta *m, char *err)
{
	char path[4096];
	struct sb b;
	int rc;

	if (knnmeta_path(path, sizeof(path), prefix, ".knn.json"))
		return errf(err, "%s: path too long", prefix);
	sb_init(&b, 1 << 16);
	sb_adds(&b, "{\"format\":\"" KNNMETA_FORMAT "\",\"space\":");
	jw_str(&b, m->space);
	sb_adds(&b, ",\"metric\":");
	jw_str(&b, m->metric);
	sb_addf(&b, ",\"k\":%d,\"exact\":%s,\"queries\":{\"source\":", m->k, m->exact ? "true" : "false");
	jw_str(&b, m->source);
	sb_addf(&b, ",\"rows_total\":%zu,\"row_start\":%zu,\"row_end\":%zu,\"shard\":[%d,%d]}",
		m->rows_total, m->row_start, m->row_end, m->shard_i, m->shard_n);
	sb_addf(&b, ",\"gallery\":{\"shard\":[%d,%d],\"vectors\":%zu,\"filter\":", m->gshard_i,
		m->gshard_n, m->gallery);
	jw_str(&b, m->filter);
	sb_adds(&b, "}}\n");
	if (b.oom) {
		sb_free(&b);
		return errf(err, "out of memory");
	}
	rc = file_write_atomic(path, b.p, b.len, err);
	sb_free(&b);
	return rc;
}

static int get_str(const struct jv *o, const char *k, char *out, size_t n)
{
	const char *s = json_str(json_get(o, k));

	if (!s || strlen(s) >= n)
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int get_size(const struct jv *o, const char *k, size_t *out)
{
	const struct jv *x = json_get(o, k);
	double v = json_num(x);

	if (!x || !json_is_num(x) || v < 0 || v != floor(v) || v > 9e15)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int get_pair(const struct jv *o, const char *k, int *a, int *b)
{
	const struct jv *x = json_get(o, k);
	double va, vb;

	if (!x || !json_is_arr(x) || json_len(x) != 2)
		return -1;
	va = json_num(json_at(x, 0));
	vb = json_num(json_at(x, 1));
	if (!(vb >= 1 && vb <= 1e6 && va >= 0 && va < vb) || va != floor(va) || vb != floor(vb))
		return -1;
	*a = (int)va;
	*b = (int)vb;
	return 0;
}

int knnmeta_read(const char *prefix, struct knn_meta *m, char *err)
{
	char path[4096], e2[LSD_ERRLEN];
	const struct jv *q, *g;
	struct jv *doc = NULL;
	size_t len, k;
	char *text;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (knnmeta_path(path, sizeof(path), prefix, ".knn.json"))
		return errf(err, "%s: path too long", prefix);
	text = file_read(path, 1 << 20, &len, e2);
	if (!text)
		return errf(err, "%s (written by lesiond knn --out %s)", e2, prefix);
	if (json_parse(text, len, &doc, e2)) {
		errf(err, "%s: %s", path, e2);
		goto out;
	}
	q = json_get(doc, "queries");
	g = json_get(doc, "gallery");
	if (!json_str(json_get(doc, "format")) || strcmp(json_str(json_get(doc, "format")), KNNMETA_FORMAT) ||
	    get_str(doc, "space", m->space, sizeof(m->space)) ||
	    get_str(doc, "metric", m->metric, sizeof(m->metric)) || get_size(doc, "k", &k) || k < 1 ||
	    !q || !g || get_str(q, "source", m->source, sizeof(m->source)) ||
	    get_size(q, "rows_total", &m->rows_total) || get_size(q, "row_start", &m->row_start) ||
	    get_size(q, "row_end", &m->row_end) || get_pair(q, "shard", &m->shard_i, &m->shard_n) ||
	    get_pair(g, "shard", &m->gshard_i, &m->gshard_n) || get_size(g, "vectors", &m->gallery) ||
	    get_str(g, "filter", m->filter, sizeof(m->filter)) || m->row_start > m->row_end ||
	    m->row_end > m->rows_total || k > 100000) {
		errf(err, "%s: not a lesiond knn description (format %s)", path, KNNMETA_FORMAT);
		goto out;
	}
	m->k = (int)k;
	m->exact = json_true(json_get(doc, "exact"));
	rc = 0;
out:
	json_free(doc);
	free(text);
	return rc;
}
