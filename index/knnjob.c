/* knnjob.c - exact batched kNN over a (restricted) gallery, certified against FAISS's
 * rounding (see knnjob.h for the contract and why).
 *
 * Called by `lesiond knn` block by block (4,096 queries) and by the npz batch handler.
 * A gallery owns: the sorted ids it covers, their patients (for same_patient rules), the
 * largest vector norm (for the error bound), and, when restricted, a private Flat space
 * holding a copy of the allowed vectors (2 copies: ours and FAISS's). Load per query:
 * one share of a BLAS batch over the gallery, plus 2k+16 exact rescorings; a fallback
 * costs one exact scan of the gallery.
 */
#include "knnjob.h"
#include "search.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_CHUNK 4096

struct pat_id {
	int32_t patient;
	int64_t id;
};

struct knn_gallery {
	struct space *sp;	/* searched: the space itself or own */
	struct space *own;	/* private Flat space of a restricted gallery */
	int64_t *ids;		/* sorted ascending */
	size_t n;
	struct pat_id *pat;	/* (patient, id) sorted, for same_patient rules */
	double xmax;		/* largest vector norm in the gallery */
	int exact, dim;
	enum space_metric metric;
	uint64_t certified, fallback;
	pthread_mutex_t mu;
};

int knn_better(enum space_metric m, float da, int64_t ia, float db, int64_t ib)
{
	if (ia < 0 || ib < 0)
		return ia >= 0 && ib < 0;
	if (da != db)
		return m == SPACE_IP ? da > db : da < db;
	return ia < ib;
}

static int cmp_i64(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;

	return (a > b) - (a < b);
}

static int cmp_pat(const void *pa, const void *pb)
{
	const struct pat_id *a = pa, *b = pb;

	if (a->patient != b->patient)
		return (a->patient > b->patient) - (a->patient < b->patient);
	return (a->id > b->id) - (a->id < b->id);
}

static int index_exact(struct space *sp)
{
	struct space_info info;

	space_get_info(sp, &info);
	return !strcmp(info.index_active, "Flat") || !strncmp(info.index_active, "IDMap", 5);
}

static double norm(const float *v, int d)
{
	double s = 0;
	int i;

	for (i = 0; i < d; i++)
		s += (double)v[i] * v[i];
	return sqrt(s);
}

/* Copy the gallery's vectors into a private Flat space (chunked), and the max norm. */
static int build_own(struct knn_gallery *g, struct space *src, char *err)
{
	struct space_info info;
	struct space_def def;
	float *buf = malloc((size_t)LOAD_CHUNK * (size_t)g->dim * sizeof(float));
	size_t i, m;
	int how, rc = -1;
	char why[LSD_ERRLEN];

	if (!buf)
		return errf(err, "out of memory");
	space_get_info(src, &info);
	def = info.def;
	snprintf(def.index_type, sizeof(def.index_type), "Flat");
	def.params[0] = 0;
	if (space_create(&def, &g->own, err))
		goto out;
	for (i = 0; i < g->n; i += m) {
		size_t j;

		m = LSD_MIN((size_t)LOAD_CHUNK, g->n - i);
		for (j = 0; j < m; j++) {
			float *v = buf + j * (size_t)g->dim;
			double nv;

			if (space_get_vector(src, g->ids[i + j], v)) {
				errf(err, "lesion %lld lost its vector while the job started",
				     (long long)g->ids[i + j]);
				goto out;
			}
			nv = norm(v, g->dim);
			if (nv > g->xmax)
				g->xmax = nv;
		}
		if (space_load_vectors(g->own, g->ids + i, buf, m, err))
			goto out;
	}
	if (space_open_index(g->own, NULL, &how, why, err))
		goto out;
	g->sp = g->own;
	rc = 0;
out:
	free(buf);
	return rc;
}

int knn_gallery_open(struct space *sp, struct catalog *cat, const struct store_filter *filter,
		     int shard_i, int shard_n, struct knn_gallery **out, char *err)
{
	struct knn_gallery *g;
	int64_t *all = NULL;
	size_t nall = 0, lo, hi, i;
	float *v = NULL;

	*out = NULL;
	if (shard_n < 1 || shard_n > KNN_SHARDS_MAX || shard_i < 0 || shard_i >= shard_n)
		return errf(err, "gallery shard %d/%d: need 0 <= I < N", shard_i, shard_n);
	g = calloc(1, sizeof(*g));
	if (!g)
		return errf(err, "out of memory");
	pthread_mutex_init(&g->mu, NULL);
	g->dim = space_dim(sp);
	{
		struct space_info info;

		space_get_info(sp, &info);
		g->metric = info.def.metric;
	}
	if (space_ids(sp, &all, &nall, err))
		goto fail;
	qsort(all, nall, sizeof(*all), cmp_i64);
	lo = knn_slice_start(nall, shard_i, shard_n);
	hi = knn_slice_start(nall, shard_i + 1, shard_n);
	g->ids = malloc((hi - lo + 1) * sizeof(*g->ids));
	g->pat = malloc((hi - lo + 1) * sizeof(*g->pat));
	v = malloc((size_t)g->dim * sizeof(float));
	if (!g->ids || !g->pat || !v) {
		errf(err, "out of memory");
		goto fail;
	}
	for (i = lo; i < hi; i++) {
		struct catalog_entry e;

		if (catalog_get(cat, all[i], &e) || !e.present)
			continue;
		if (filter && !catalog_match(filter, &e))
			continue;
		g->pat[g->n].patient = e.patient;
		g->pat[g->n].id = all[i];
		g->ids[g->n++] = all[i];
	}
	qsort(g->pat, g->n, sizeof(*g->pat), cmp_pat);
	if (g->n == nall) {	/* the whole space: search its own index */
		g->sp = sp;
		g->exact = index_exact(sp);
		for (i = 0; i < g->n; i++)
			if (space_get_vector(sp, g->ids[i], v) == 0 && norm(v, g->dim) > g->xmax)
				g->xmax = norm(v, g->dim);
	} else {
		g->exact = 1;
		if (build_own(g, sp, err))
			goto fail;
	}
	free(all);
	free(v);
	*out = g;
	return 0;
fail:
	free(all);
	free(v);
	knn_gallery_close(g);
	return -1;
}

void knn_gallery_close(struct knn_gallery *g)
{
	if (!g)
		return;
	space_destroy(g->own);
	free(g->ids);
	free(g->pat);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

size_t knn_gallery_count(const struct knn_gallery *g)
{
	return g->n;
}

int knn_gallery_exact(const struct knn_gallery *g)
{
	return g->exact;
}

enum space_metric knn_gallery_metric(const struct knn_gallery *g)
{
	return g->metric;
}

void knn_gallery_stats(struct knn_gallery *g, uint64_t *certified, uint64_t *fallback)
{
	pthread_mutex_lock(&g->mu);
	*certified = g->certified;
	*fallback = g->fallback;
	pthread_mutex_unlock(&g->mu);
}

/* The gallery's lesions of one patient: [*a, *b) in g->pat. */
static void patient_range(const struct knn_gallery *g, int32_t patient, size_t *a, size_t *b)
{
	size_t lo = 0, hi = g->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (g->pat[mid].patient < patient)
			lo = mid + 1;
		else
			hi = mid;
	}
	*a = lo;
	hi = g->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (g->pat[mid].patient <= patient)
			lo = mid + 1;
		else
			hi = mid;
	}
	*b = lo;
}

/* How many gallery entries query i's rules may exclude. */
static size_t excluded_max(const struct knn_gallery *g, const struct knn_excl *x)
{
	size_t a, b;

	if (!x)
		return 0;
	if (x->same_patient == SEARCH_SP_EXCLUDE && x->patient) {
		patient_range(g, x->patient, &a, &b);
		return b - a + 1;
	}
	return x->self_id ? 1 : 0;
}

static int excluded(const struct knn_gallery *g, const struct knn_excl *x, int64_t id)
{
	size_t a, b, i;

	if (!x)
		return 0;
	if (id == x->self_id)
		return 1;
	if (x->same_patient == SEARCH_SP_EXCLUDE && x->patient) {
		patient_range(g, x->patient, &a, &b);
		for (i = a; i < b; i++)
			if (g->pat[i].id == id)
				return 1;
	}
	return 0;
}

/* A bound on |FAISS's distance - the exact recomputation| for query q over this gallery:
 * both are float32 sums of dim terms (gamma_d = d u / (1 - d u) relative to the sum of
 * absolute terms), BLAS adds ||q||^2 + ||x||^2 - 2 q.x (3 more roundings); doubled for
 * safety. In badness units (squared L2, or inner product). */
static double err_bound(const struct knn_gallery *g, const float *q)
{
	double u = ldexp(1.0, -24), du = g->dim * u, gam = du / (1 - du), nq = norm(q, g->dim);
	double s = g->metric == SPACE_IP ? nq * g->xmax : (nq + g->xmax) * (nq + g->xmax);

	return 2 * (2 * gam + 6 * u) * s + 1e-30;
}

static float badness(enum space_metric m, float d)
{
	return m == SPACE_IP ? -d : d;
}

static void pad(const struct knn_gallery *g, int k, int from, int64_t *ids, float *dist)
{
	int j;

	for (j = from; j < k; j++) {
		ids[j] = -1;
		dist[j] = g->metric == SPACE_IP ? -INFINITY : INFINITY;
	}
}

/* Exact answer for one query by scanning the gallery (or the patient's lesions). */
static int exact_one(struct knn_gallery *g, const float *q, int k, const struct knn_excl *x,
		     int64_t *ids, float *dist, char *err)
{
	size_t extra = excluded_max(g, x), a = 0, b = 0, ns, i;
	int64_t *sub = g->ids, *cid = NULL, *own = NULL;
	float *cd = NULL;
	int kk, j, got = 0, rc = -1;

	ns = g->n;
	if (x && x->same_patient == SEARCH_SP_ONLY) {
		patient_range(g, x->patient, &a, &b);
		own = malloc((b - a + 1) * sizeof(*own));
		if (!own)
			return errf(err, "out of memory");
		for (i = a; i < b; i++)
			own[i - a] = g->pat[i].id;
		qsort(own, b - a, sizeof(*own), cmp_i64);
		sub = own;
		ns = b - a;
		extra = 1;
	}
	if (ns == 0) {
		pad(g, k, 0, ids, dist);
		free(own);
		return 0;
	}
	kk = (int)LSD_MIN((size_t)k + extra, LSD_MIN(ns, (size_t)SPACE_K_MAX));
	cid = malloc((size_t)kk * sizeof(*cid));
	cd = malloc((size_t)kk * sizeof(*cd));
	if (!cid || !cd) {
		errf(err, "out of memory");
		goto out;
	}
	if (space_search_subset(g->sp, q, 1, kk, sub, ns, cd, cid, err))
		goto out;
	for (j = 0; j < kk && got < k; j++) {
		if (cid[j] < 0 || excluded(g, x, cid[j]))
			continue;
		ids[got] = cid[j];
		dist[got++] = cd[j];
	}
	pad(g, k, got, ids, dist);
	rc = 0;
out:
	free(own);
	free(cid);
	free(cd);
	return rc;
}

struct work {
	struct knn_gallery *g;
	const float *q;
	size_t nq;
	int k;
	const struct knn_excl *ex;
	int64_t *ids;
	float *dist;
	int rc;
	uint64_t certified, fallback;
	char err[LSD_ERRLEN];
};

/* Take query i's first k allowed candidates; 1 if the answer is certified exact. */
static int take(struct work *w, size_t i, size_t kk, const int64_t *cid, const float *cd)
{
	struct knn_gallery *g = w->g;
	const struct knn_excl *x = w->ex ? &w->ex[i] : NULL;
	int64_t *oid = w->ids + i * (size_t)w->k;
	float *od = w->dist + i * (size_t)w->k;
	size_t j, nc = 0;
	int got = 0;

	for (j = 0; j < kk && cid[j] >= 0; j++, nc++) {
		if (got < w->k && !excluded(g, x, cid[j])) {
			oid[got] = cid[j];
			od[got++] = cd[j];
		}
	}
	pad(g, w->k, got, oid, od);
	if (!g->exact)
		return 1;
	if (nc >= g->n)		/* every gallery vector was a candidate */
		return 1;
	if (got < w->k || nc < kk)
		return 0;
	return (double)badness(g->metric, od[w->k - 1]) <
	       (double)badness(g->metric, cd[nc - 1]) - 2 * err_bound(g, w->q + i * (size_t)g->dim);
}

static void *work_run(void *arg)
{
	struct work *w = arg;
	struct knn_gallery *g = w->g;
	size_t kk = 0, i, d = (size_t)g->dim;
	int64_t *cid = NULL;
	float *cd = NULL;

	w->rc = -1;
	for (i = 0; i < w->nq; i++) {
		size_t want = 2 * (size_t)w->k + 16 + excluded_max(g, w->ex ? &w->ex[i] : NULL);

		kk = LSD_MAX(kk, want);
	}
	kk = LSD_MIN(kk, LSD_MIN(g->n, (size_t)SPACE_K_MAX));
	if (kk > 0) {
		cid = malloc(w->nq * kk * sizeof(*cid));
		cd = malloc(w->nq * kk * sizeof(*cd));
		if (!cid || !cd) {
			errf(w->err, "out of memory");
			goto out;
		}
		if (space_search(g->sp, w->q, w->nq, (int)kk, cd, cid, w->err))
			goto out;
	}
	for (i = 0; i < w->nq; i++) {
		const struct knn_excl *x = w->ex ? &w->ex[i] : NULL;

		if (kk == 0) {
			pad(g, w->k, 0, w->ids + i * (size_t)w->k, w->dist + i * (size_t)w->k);
			continue;
		}
		if ((!x || x->same_patient != SEARCH_SP_ONLY) && take(w, i, kk, cid + i * kk, cd + i * kk)) {
			w->certified++;
			continue;
		}
		w->fallback++;
		if (exact_one(g, w->q + i * d, w->k, x, w->ids + i * (size_t)w->k,
			      w->dist + i * (size_t)w->k, w->err))
			goto out;
	}
	w->rc = 0;
out:
	free(cid);
	free(cd);
	return NULL;
}

int knn_search(struct knn_gallery *g, const float *q, size_t nq, int k, const struct knn_excl *ex,
	       int nthreads, int64_t *ids, float *dist, char *err)
{
	struct work *w;
	pthread_t *th;
	char *started;
	int t, nt, rc = 0;
	size_t per;

	if (k < 1 || k > SPACE_K_MAX)
		return errf(err, "k must be in 1..%d", SPACE_K_MAX);
	if (nq == 0)
		return 0;
	nt = (int)LSD_MAX(1, LSD_MIN((size_t)LSD_MAX(nthreads, 1), nq / 64 + 1));
	w = calloc((size_t)nt, sizeof(*w));
	th = calloc((size_t)nt, sizeof(*th));
	started = calloc((size_t)nt, 1);
	if (!w || !th || !started) {
		free(w);
		free(th);
		free(started);
		return errf(err, "out of memory");
	}
	per = (nq + (size_t)nt - 1) / (size_t)nt;
	for (t = 0; t < nt; t++) {
		size_t a = LSD_MIN(nq, (size_t)t * per), b = LSD_MIN(nq, a + per);

		w[t].g = g;
		w[t].q = q + a * (size_t)g->dim;
		w[t].nq = b - a;
		w[t].k = k;
		w[t].ex = ex ? ex + a : NULL;
		w[t].ids = ids + a * (size_t)k;
		w[t].dist = dist + a * (size_t)k;
	}
	for (t = 1; t < nt; t++)
		if (pthread_create(&th[t], NULL, work_run, &w[t]) == 0)
			started[t] = 1;
		else
			work_run(&w[t]);	/* no thread: this one does it */
	work_run(&w[0]);
	for (t = 1; t < nt; t++)
		if (started[t])
			pthread_join(th[t], NULL);
	pthread_mutex_lock(&g->mu);
	for (t = 0; t < nt; t++) {
		g->certified += w[t].certified;
		g->fallback += w[t].fallback;
		if (w[t].rc && !rc) {
			rc = -1;
			errf(err, "%s", w[t].err);
		}
	}
	pthread_mutex_unlock(&g->mu);
	free(w);
	free(th);
	free(started);
	return rc;
}

size_t knn_slice_start(size_t n, int i, int parts)
{
	return (size_t)((uint64_t)n * (uint64_t)i / (uint64_t)parts);
}
