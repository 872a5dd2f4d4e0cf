/* search.c - filtered k-nearest-neighbour search (see search.h for the contract).
 *
 * Strategy, per query:
 *  - No filter (only the query lesion itself excluded): one batched index search of
 *    k+1 for all such queries together, then drop the query lesion.
 *  - A filter: the allowed lesions from the catalog's posting lists (catalog_select:
 *    ~1% of 10^6 touches ~10^4 ids, not 10^6 entries). Selective filters (under 5% of
 *    the space, or at most SEARCH_SUBSET_MAX lesions) go straight to an exact brute-force scan of the
 *    allowed ids (space_search_subset). Otherwise the index is asked for k' = k / share
 *    x 1.5 + 16 candidates, the filter applied to them in order, and k' grown 4x until
 *    k allowed hits are found or k' covers the whole space. With Flat this is exact:
 *    the top k' are exact, so the allowed ones among them, in order, are the exact
 *    filtered top k. With an approximate index, a short answer falls back to the exact
 *    scan of the allowed ids, so it is never short when enough lesions are allowed.
 * Load: one query over 32,735 x 256 costs ~2 ms exact; batches go through BLAS.
 */
#include "search.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEARCH_SUBSET_MAX 4096
#define SEARCH_BATCH 256

/* which path filtered searches took (search_stats_get); relaxed atomics */
static uint64_t st_subset, st_overfetch, st_grow, st_ann, st_fallback;

static void bump(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

void search_stats_get(struct search_stats *out)
{
	out->exact_subset = __atomic_load_n(&st_subset, __ATOMIC_RELAXED);
	out->overfetch = __atomic_load_n(&st_overfetch, __ATOMIC_RELAXED);
	out->overfetch_grow = __atomic_load_n(&st_grow, __ATOMIC_RELAXED);
	out->overfetch_ann = __atomic_load_n(&st_ann, __ATOMIC_RELAXED);
	out->ann_fallback = __atomic_load_n(&st_fallback, __ATOMIC_RELAXED);
}

const char *search_mode_name(int mode)
{
	return mode == SEARCH_ANN ? "ann" : "exact";
}

int search_same_patient_parse(const char *s)
{
	if (!strcmp(s, "include"))
		return SEARCH_SP_INCLUDE;
	if (!strcmp(s, "exclude"))
		return SEARCH_SP_EXCLUDE;
	if (!strcmp(s, "only"))
		return SEARCH_SP_ONLY;
	return -1;
}

static int filtered(const struct search_query *q)
{
	return q->same_patient != SEARCH_SP_INCLUDE || q->filter;
}

/* What q may return, in the catalog's terms. */
static struct catalog_sel sel_of(const struct search_query *q)
{
	struct catalog_sel s = {
		.filter = q->filter, .skip_id = q->self_id, .patient = q->patient,
		.patient_only = q->same_patient == SEARCH_SP_ONLY,
		.patient_skip = q->same_patient == SEARCH_SP_EXCLUDE && q->patient,
	};

	return s;
}

static int allowed(const struct search_query *q, int64_t id, const struct catalog_entry *e)
{
	struct catalog_sel s = sel_of(q);

	return catalog_sel_match(&s, id, e);
}

static size_t live_count(struct space *sp)
{
	struct space_info info;

	space_get_info(sp, &info);
	return info.count;
}

static int index_exact(struct space *sp)
{
	struct space_info info;

	space_get_info(sp, &info);
	return !strcmp(info.index_active, "Flat") || !strncmp(info.index_active, "IDMap", 5);
}

/* Take allowed candidates (in order) from cand[0..n) into out; returns how many. */
static int take(struct catalog *cat, const struct search_query *q, const int64_t *ids,
		const float *dist, int n, struct search_hit *out)
{
	struct catalog_entry e;
	int i, got = 0;

	for (i = 0; i < n && got < q->k; i++) {
		if (ids[i] < 0)
			break;
		if (catalog_get(cat, ids[i], &e) || !allowed(q, ids[i], &e))
			continue;
		out[got].id = ids[i];
		out[got].dist = dist[i];
		got++;
	}
	return got;
}

/* The allowed ids among the catalog (malloc'd, from its posting lists); *n their count. */
static int64_t *allowed_ids(struct catalog *cat, const struct search_query *q, size_t *n,
			    size_t *total, char *err)
{
	struct catalog_sel s = sel_of(q);
	int64_t *v = NULL;

	return catalog_select(cat, &s, &v, n, total, err) ? NULL : v;
}

static int exact_subset(struct space *sp, const struct search_query *q, const int64_t *ids,
			size_t n, struct search_hit *out, int *nout, char *err)
{
	float *d = malloc((size_t)q->k * sizeof(*d));
	int64_t *r = malloc((size_t)q->k * sizeof(*r));
	int i, rc = -1;

	*nout = 0;
	if (!d || !r) {
		errf(err, "out of memory");
		goto out;
	}
	if (space_search_subset(sp, q->vec, 1, q->k, ids, n, d, r, err))
		goto out;
	for (i = 0; i < q->k && r[i] >= 0; i++) {
		out[i].id = r[i];
		out[i].dist = d[i];
	}
	*nout = i;
	rc = 0;
out:
	free(d);
	free(r);
	return rc;
}

static int one_filtered(struct space *sp, struct catalog *cat, const struct search_query *q,
			struct search_hit *out, int *nout, int *mode, char *err)
{
	size_t n_allowed = 0, total = 0, nvec;
	int64_t *ids = NULL, *cand = NULL;
	float *dist = NULL;
	int exact = index_exact(sp), rc = -1;
	struct space_info info;
	size_t kk;

	*nout = 0;
	*mode = SEARCH_EXACT;
	space_get_info(sp, &info);
	nvec = info.count;
	ids = allowed_ids(cat, q, &n_allowed, &total, err);
	if (!ids)
		return -1;
	if (n_allowed == 0 || nvec == 0) {
		rc = 0;
		goto out;
	}
	if (n_allowed <= SEARCH_SUBSET_MAX || n_allowed * 20 < total) {
		bump(&st_subset);
		rc = exact_subset(sp, q, ids, n_allowed, out, nout, err);
		goto out;
	}
	kk = (size_t)((double)q->k * (double)total / (double)n_allowed * 1.5) + 16;
	bump(&st_overfetch);
	if (!exact)
		bump(&st_ann);
	for (;;) {
		if (kk > nvec)
			kk = nvec;
		if (kk > SPACE_K_MAX)
			kk = SPACE_K_MAX;
		free(cand);
		free(dist);
		cand = malloc(kk * sizeof(*cand));
		dist = malloc(kk * sizeof(*dist));
		if (!cand || !dist) {
			errf(err, "out of memory");
			goto out;
		}
		if (space_search(sp, q->vec, 1, (int)kk, dist, cand, err))
			goto out;
		*nout = take(cat, q, cand, dist, (int)kk, out);
		if (*nout >= q->k || kk >= nvec || kk >= SPACE_K_MAX)
			break;
		kk *= 4;
		bump(&st_grow);
	}
	if (!exact) {
		*mode = SEARCH_ANN;
		/* never short: an approximate index missed allowed lesions */
		if (*nout < q->k && (size_t)*nout < n_allowed) {
			bump(&st_fallback);
			rc = exact_subset(sp, q, ids, n_allowed, out, nout, err);
		} else {
			rc = 0;
		}
		if (rc == 0 && *nout < q->k)
			*mode = SEARCH_EXACT;
		goto out;
	}
	if (*nout < q->k && kk < nvec) {
		/* k' capped at SPACE_K_MAX before covering the space: finish exactly */
		rc = exact_subset(sp, q, ids, n_allowed, out, nout, err);
		goto out;
	}
	rc = 0;
out:
	free(ids);
	free(cand);
	free(dist);
	return rc;
}

/* Unfiltered queries, searched together in blocks through the index's batch path. */
static int batch_plain(struct space *sp, struct catalog *cat, const struct search_query *q,
		       const size_t *idx, size_t n, struct search_hit **hits, int *nhits,
		       int *mode, char *err)
{
	int dim = space_dim(sp), kk = 0, exact = index_exact(sp), rc = -1;
	float *qv = NULL, *dist = NULL;
	int64_t *ids = NULL;
	size_t b, i;

	for (i = 0; i < n; i++)
		if (q[idx[i]].k + 1 > kk)
			kk = q[idx[i]].k + 1;
	if (kk > SPACE_K_MAX)
		kk = SPACE_K_MAX;
	qv = malloc((size_t)SEARCH_BATCH * (size_t)dim * sizeof(float));
	dist = malloc((size_t)SEARCH_BATCH * (size_t)kk * sizeof(float));
	ids = malloc((size_t)SEARCH_BATCH * (size_t)kk * sizeof(int64_t));
	if (!qv || !dist || !ids) {
		errf(err, "out of memory");
		goto out;
	}
	for (b = 0; b < n; b += SEARCH_BATCH) {
		size_t m = LSD_MIN((size_t)SEARCH_BATCH, n - b);

		for (i = 0; i < m; i++)
			memcpy(qv + i * (size_t)dim, q[idx[b + i]].vec, (size_t)dim * sizeof(float));
		if (space_search(sp, qv, m, kk, dist, ids, err))
			goto out;
		for (i = 0; i < m; i++) {
			size_t j = idx[b + i];
			const struct search_query *qq = &q[j];

			nhits[j] = take(cat, qq, ids + i * (size_t)kk, dist + i * (size_t)kk, kk, hits[j]);
			mode[j] = exact ? SEARCH_EXACT : SEARCH_ANN;
			/* short (deleted lesions' vectors, or an ANN miss): redo it filtered */
			if (nhits[j] < qq->k && (size_t)nhits[j] + 1 < live_count(sp) &&
			    one_filtered(sp, cat, qq, hits[j], &nhits[j], &mode[j], err))
				goto out;
		}
	}
	rc = 0;
out:
	free(qv);
	free(dist);
	free(ids);
	return rc;
}

int search_run(struct space *sp, struct catalog *cat, const struct search_query *q, size_t nq,
	       struct search_hit **hits, int *nhits, int *mode, char *err)
{
	size_t *plain = NULL, np = 0, i;
	int *modes = mode, rc = -1;

	if (!modes) {
		modes = malloc((nq ? nq : 1) * sizeof(*modes));
		if (!modes)
			return errf(err, "out of memory");
	}
	for (i = 0; i < nq; i++) {
		if (q[i].k < 1 || q[i].k > SPACE_K_MAX) {
			errf(err, "k must be in 1..%d", SPACE_K_MAX);
			goto out;
		}
		nhits[i] = 0;
		modes[i] = SEARCH_EXACT;
	}
	plain = malloc((nq ? nq : 1) * sizeof(*plain));
	if (!plain) {
		errf(err, "out of memory");
		goto out;
	}
	for (i = 0; i < nq; i++) {
		if (filtered(&q[i])) {
			if (one_filtered(sp, cat, &q[i], hits[i], &nhits[i], &modes[i], err))
				goto out;
		} else {
			plain[np++] = i;
		}
	}
	if (np && batch_plain(sp, cat, q, plain, np, hits, nhits, modes, err))
		goto out;
	rc = 0;
out:
	free(plain);
	if (modes != mode)
		free(modes);
	return rc;
}
