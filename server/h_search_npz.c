/* h_search_npz.c - POST /v1/search/batch with an application/x-npy body (n x d float32
 * queries; space, k and the filters as query parameters) answered with an .npz holding
 * ids (int64 n x k, -1 padding) and distances (float32 n x k), shaped like FAISS's
 * search(), for notebooks. Asked for with format=npz or Accept: application/x-npz.
 *
 * Everything is validated before the reply starts (errors are problem+json): the .npy
 * header, dtype, dimension, every value finite, n <= batch_max, k <= k_max. The search is
 * knnjob.h's (exact, ties by lesion id; a filter restricts the gallery once). Memory is
 * bounded: the request body (<= body_max_bulk) plus 4 x n x k bytes of distances; the ids
 * member is streamed as each block of 4,096 queries is computed, then the distances.
 * On a read replica every block is computed in the handler, under the replica's gate
 * (replica.h), and the gallery closed before the reply starts, so the reply is one state
 * and never runs beside an apply: 12 x n x k bytes held (ids and distances).
 */
#include "app.h"
#include "apijson.h"
#include "handlers.h"
#include "knnjob.h"
#include "npyout.h"
#include "search.h"
#include "space.h"
#include "vecfile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NPZ_BLOCK 4096

enum { PH_IDS_HEAD, PH_IDS_ROWS, PH_DIST_HEAD, PH_DIST_ROWS, PH_TAIL, PH_DONE };

struct npz {
	struct knn_gallery *g;
	char *body;		/* the queries (payload copied out of the request) */
	size_t rows, row;	/* queries, next to compute */
	int dim, k, nthreads;
	float *dist;		/* n x k, filled block by block */
	size_t dist_sent;	/* bytes of dist sent */
	float *qbuf;
	int64_t *ibuf;
	int64_t *ids;		/* n x k, computed in the handler (replica), else NULL */
	struct npz_member m[2];
	uint32_t pos;		/* bytes of the stream so far */
	int phase;
	char *pend;		/* bytes ready to send */
	size_t plen, poff, pcap;
};

static void npz_free(void *cls)
{
	struct npz *z = cls;

	if (!z)
		return;
	knn_gallery_close(z->g);
	free(z->body);
	free(z->dist);
	free(z->qbuf);
	free(z->ibuf);
	free(z->ids);
	free(z->pend);
	free(z);
}

static int wants_npz(const struct request *r)
{
	const char *f = req_query(r, "format");

	if (f)
		return !strcmp(f, "npz");
	return r->accept && strstr(r->accept, "application/x-npz") != NULL;
}

/* Append to the pending bytes, counting them into member mi's CRC (-1: none). */
static int put(struct npz *z, const void *p, size_t n, int mi)
{
	if (z->plen + n > z->pcap) {
		size_t nc = LSD_MAX(z->plen + n, z->pcap * 2);
		char *b = realloc(z->pend, nc);

		if (!b)
			return -1;
		z->pend = b;
		z->pcap = nc;
	}
	memcpy(z->pend + z->plen, p, n);
	z->plen += n;
	if (mi >= 0)
		z->m[mi].crc = npz_crc32(z->m[mi].crc, p, n);
	return 0;
}

static int member_head(struct npz *z, int mi, const char *descr)
{
	char h[NPZ_LOCAL_MAX], nh[NPYOUT_HEADER];
	size_t n;

	z->m[mi].offset = z->pos + (uint32_t)z->plen;
	n = npz_local(h, &z->m[mi]);
	npyout_header(nh, descr, z->rows, (size_t)z->k);
	return put(z, h, n, -1) || put(z, nh, sizeof(nh), mi);
}

/* Produce the next piece of the stream into pend. */
static int produce(struct npz *z)
{
	char d[NPZ_DESC_LEN], err[LSD_ERRLEN];
	size_t m, i;

	switch (z->phase) {
	case PH_IDS_HEAD:
		z->phase = PH_IDS_ROWS;
		return member_head(z, 0, "<i8");
	case PH_IDS_ROWS:
		if (z->row >= z->rows) {
			if (put(z, d, npz_desc(d, &z->m[0]), -1))
				return -1;
			z->phase = PH_DIST_HEAD;
			return 0;
		}
		m = LSD_MIN((size_t)NPZ_BLOCK, z->rows - z->row);
		if (z->ids) {	/* computed in the handler */
			i = z->row;
			z->row += m;
			return put(z, z->ids + i * (size_t)z->k, m * (size_t)z->k * sizeof(int64_t), 0);
		}
		for (i = 0; i < m; i++)	/* the payload need not be aligned */
			memcpy(z->qbuf + i * (size_t)z->dim,
			       z->body + (z->row + i) * (size_t)z->dim * sizeof(float),
			       (size_t)z->dim * sizeof(float));
		if (knn_search(z->g, z->qbuf, m, z->k, NULL, z->nthreads, z->ibuf,
			       z->dist + z->row * (size_t)z->k, err))
			return -1;
		z->row += m;
		return put(z, z->ibuf, m * (size_t)z->k * sizeof(int64_t), 0);
	case PH_DIST_HEAD:
		z->phase = PH_DIST_ROWS;
		return member_head(z, 1, "<f4");
	case PH_DIST_ROWS: {
		size_t total = z->rows * (size_t)z->k * sizeof(float), n;

		if (z->dist_sent >= total) {
			if (put(z, d, npz_desc(d, &z->m[1]), -1))
				return -1;
			z->phase = PH_TAIL;
			return 0;
		}
		n = LSD_MIN((size_t)1 << 20, total - z->dist_sent);
		if (put(z, (char *)z->dist + z->dist_sent, n, 1))
			return -1;
		z->dist_sent += n;
		return 0;
	}
	case PH_TAIL: {
		char *cd = NULL;
		size_t n = npz_central(&cd, z->m, 2, z->pos + (uint32_t)z->plen);
		int rc = n ? put(z, cd, n, -1) : -1;

		free(cd);
		z->phase = PH_DONE;
		return rc;
	}
	default:
		return 0;
	}
}

static ssize_t npz_read(void *cls, uint64_t at, char *buf, size_t max)
{
	struct npz *z = cls;
	size_t n;

	(void)at;
	while (z->poff >= z->plen) {
		if (z->phase == PH_DONE)
			return REPLY_STREAM_END;
		z->pos += (uint32_t)z->plen;
		z->plen = z->poff = 0;
		if (produce(z))
			return REPLY_STREAM_ERROR;
	}
	n = LSD_MIN(max, z->plen - z->poff);
	memcpy(buf, z->pend + z->poff, n);
	z->poff += n;
	return (ssize_t)n;
}

void h_search_batch_npy(const struct request *r, struct reply *rp)
{
	struct app *app = r->app;
	struct store_filter f;
	struct space *sp;
	struct npz *z = NULL;
	const char *v;
	char err[LSD_ERRLEN];
	size_t off, rows, i, n, m;
	int64_t k = 10;
	int dim, status = 500;

	if (!wants_npz(r)) {
		reply_problem(rp, 406, "an application/x-npy batch is answered as .npz: add format=npz "
			      "or Accept: application/x-npz");
		return;
	}
	v = req_query(r, "k");
	if (v && parse_i64(v, 1, app->cfg.k_max, &k)) {
		reply_problem(rp, 422, "k: must be an integer in 1..%d", app->cfg.k_max);
		return;
	}
	v = req_query(r, "same_patient");
	if (v && strcmp(v, "include")) {
		reply_problem(rp, 422, "same_patient: vector queries have no patient (include only)");
		return;
	}
	if (apijson_filter_query(r, &f, err)) {
		reply_problem(rp, 422, "%s", err);
		return;
	}
	v = req_query(r, "space");
	sp = app->sp ? spaces_get(app->sp, v ? v : "builtin") : NULL;
	if (!sp) {
		reply_problem(rp, 404, "no embedding space '%.64s' (see /v1/stats)", v ? v : "builtin");
		return;
	}
	if (!r->body || vecfile_npy_header(r->body, r->body_len, r->body_len, &off, &rows, &dim, err)) {
		reply_problem(rp, 422, "body: %s", r->body ? err : "empty (send an n x d float32 .npy)");
		return;
	}
	if (dim != space_dim(sp)) {
		reply_problem(rp, 422, "body: vectors of dimension %d, space '%s' has %d", dim,
			      space_name(sp), space_dim(sp));
		return;
	}
	if (rows > (size_t)app->cfg.batch_max) {
		reply_problem(rp, 413, "%zu queries: more than batch_max %ld in one batch", rows,
			      app->cfg.batch_max);
		return;
	}
	if (rows * (size_t)k * 12 + 4 * NPYOUT_HEADER > 0xFFFF0000u) {
		reply_problem(rp, 413, "n x k = %zu x %lld: the .npz would pass 4 GiB (no ZIP64); "
			      "split the batch", rows, (long long)k);
		return;
	}
	for (i = 0; i < rows * (size_t)dim; i++) {
		float x;

		memcpy(&x, r->body + off + i * sizeof(float), sizeof(x));
		if (!isfinite(x)) {
			reply_problem(rp, 422, "body: row %zu, component %zu is %s (queries must be "
				      "finite)", i / (size_t)dim, i % (size_t)dim, isnan(x) ? "NaN" : "infinite");
			return;
		}
	}
	z = calloc(1, sizeof(*z));
	n = rows * (size_t)dim * sizeof(float);
	if (!z || !(z->body = malloc(n ? n : 1)) ||
	    !(z->dist = malloc(rows * (size_t)k * sizeof(float))) ||
	    !(z->qbuf = malloc((size_t)NPZ_BLOCK * (size_t)dim * sizeof(float))) ||
	    !(z->ibuf = malloc((size_t)NPZ_BLOCK * (size_t)k * sizeof(int64_t)))) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	memcpy(z->body, r->body + off, n);
	z->rows = rows;
	z->dim = dim;
	z->k = (int)k;
	z->nthreads = (int)LSD_MAX(1, sysconf(_SC_NPROCESSORS_ONLN));
	snprintf(z->m[0].name, sizeof(z->m[0].name), "ids.npy");
	snprintf(z->m[1].name, sizeof(z->m[1].name), "distances.npy");
	z->m[0].size = (uint32_t)(NPYOUT_HEADER + rows * (size_t)k * 8);
	z->m[1].size = (uint32_t)(NPYOUT_HEADER + rows * (size_t)k * 4);
	if (knn_gallery_open(sp, app->cat, apijson_filter_is_set(&f) ? &f : NULL, 0, 1, &z->g, err))
		goto fail;
	if (app->replica) {	/* one state for the whole answer: compute it now */
		if (!(z->ids = malloc(rows * (size_t)k * sizeof(int64_t) + 1))) {
			status = 413;
			snprintf(err, sizeof(err), "n x k = %zu x %lld: out of memory for the answer "
				 "(a read replica computes it before sending); split the batch",
				 rows, (long long)k);
			goto fail;
		}
		for (i = 0; i < rows; i += NPZ_BLOCK) {
			m = LSD_MIN((size_t)NPZ_BLOCK, rows - i);
			if (knn_search(z->g, (const float *)(const void *)z->body + i * (size_t)dim, m,
				       z->k, NULL, z->nthreads, z->ids + i * (size_t)k,
				       z->dist + i * (size_t)k, err))
				goto fail;
		}
		knn_gallery_close(z->g);
		z->g = NULL;
	}
	rp->status = 200;
	rp->content_type = "application/x-npz";
	rp->stream = npz_read;
	rp->stream_cls = z;
	rp->stream_free = npz_free;
	return;
fail:
	npz_free(z);
	reply_problem(rp, status, "%s", err);
}
