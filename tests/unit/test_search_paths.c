/* test_search_paths.c - the filtered-search paths a small fixture never reaches, on
 * 20,000 clustered lesions: the over-fetch search (more than 4,096 allowed and at least
 * 5% of the space), its k' growth, its exact finish, and on approximate indexes (HNSW32,
 * IVF256,Flat) the fallback to the exact scan. search_stats proves which path ran. The
 * reference is a plain loop over the raw rows and vectors here (no lesiond predicate).
 * Recall of the approximate path is printed at the shipped defaults (efSearch=64,
 * nprobe=16) and with the per-space knob (def.params) turned up. */
#include "catalog.h"
#include "search.h"
#include "space.h"
#include "search_ref.h"
#include "unit.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define N 20000
#define D 32
#define NCL 16
#define KMAX 100

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
	return ref_urand(&rng);
}

static double gauss(void)
{
	double u = urand() + 1e-12, v = urand();

	return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static float vecs[N][D];
static float centre[NCL][D];
static struct lesion les[N + 1];
static struct catalog *cat;

/* type follows the cluster (so a type filter empties a query's neighbourhood and k'
 * must grow); split, gender, size and age are independent of it */
static void make_data(void)
{
	char err[LSD_ERRLEN];
	int i, d, c;

	for (c = 0; c < NCL; c++)
		for (d = 0; d < D; d++)
			centre[c][d] = (float)(4 * gauss());
	for (i = 1; i <= N; i++) {
		struct lesion *l = &les[i];

		c = i % NCL;
		memset(l, 0, sizeof(*l));
		l->id = i;
		l->patient = 1 + (i - 1) / 5;
		l->study = 1 + i % 2;
		l->type = c < 2 ? -1 : 1 + c % 8;
		l->split = 1 + (int)(urand() * 3);
		l->diam_mm[0] = 4 + 0.25 * (int)(urand() * 240);
		l->diam_mm[1] = l->diam_mm[0] * 0.5;
		l->gender = urand() < 0.5 ? 'M' : 'F';
		l->age = urand() < 0.05 ? NAN : 18 + (int)(urand() * 70);
		l->noisy = urand() < 0.1;
		for (d = 0; d < D; d++)
			vecs[i - 1][d] = centre[c][d] + (float)gauss();
		CHECK_EQ_INT(catalog_put(cat, l, err), 0);
	}
}

static double dist(const float *a, const float *b)
{
	double s = 0;
	int d;

	for (d = 0; d < D; d++)
		s += (double)(a[d] - b[d]) * (a[d] - b[d]);
	return s;
}

/* brute force over the raw rows: the k best allowed ids (insertion sort) */
static int brute(const struct search_query *q, int64_t *out, double *best)
{
	int n = 0, i;

	for (i = 1; i <= N; i++)
		if (i != q->self_id && ref_filter_match(q->filter, &les[i]))
			ref_topk_offer(best, out, &n, q->k, dist(q->vec, vecs[i - 1]), i);
	return n;
}

static int count_allowed(const struct store_filter *f)
{
	int i, n = 0;

	for (i = 1; i <= N; i++)
		n += ref_filter_match(f, &les[i]);
	return n;
}

/* A filter keeping between 25% and 90% of the lesions: the over-fetch path. The type
 * filter drops whole clusters; the others thin every cluster. */
static void broad_filter(struct store_filter *f, int t)
{
	store_filter_init(f);
	switch (t % 6) {
	case 0:
		f->type_mask = 0x1FEu & ~(1u << (1 + (int)(urand() * 8)));	/* one type out */
		break;
	case 1:
		f->split_mask = (1u << 1) | (1u << 3);
		f->exclude_noisy = 1;
		break;
	case 2:
		f->min_diam_mm = 0.25 * (int)(urand() * 80);	/* 4..24 mm: inclusive bound */
		f->gender = urand() < 0.5 ? 'M' : 'F';
		break;
	case 3:
		f->min_age = 30;
		f->max_age = 80;
		break;
	case 4:
		f->max_diam_mm = 30 + 0.25 * (int)(urand() * 80);
		f->type_mask = 0x1FFu & ~(1u << 3) & ~(1u << 4);	/* two types out */
		break;
	default:
		f->type_mask = (1u << 0) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7);
		break;
	}
}

static struct space *make_space(const char *type, const char *params)
{
	return ref_make_space(type, params, SPACE_L2, D, &vecs[0][0], N);
}

struct outcome {
	long want, found, mism, shorts, queries, ann_mode, bad_dist, not_allowed;
};

/* nq queries with broad filters; ids in order (ties by distance allowed) and count */
static void run(struct space *sp, int nq, int k_fixed, struct outcome *o)
{
	static struct search_hit hits[KMAX];
	static int64_t truth[KMAX];
	static double best[KMAX];
	struct store_filter f;
	char err[LSD_ERRLEN];
	int t;

	memset(o, 0, sizeof(*o));
	for (t = 0; t < nq; t++) {
		struct search_query q;
		struct search_hit *hp = hits;
		int nh = 0, nt, i, j, mode = 0, allowed;
		int64_t self = 1 + (int64_t)(urand() * N);

		memset(&q, 0, sizeof(q));
		q.vec = vecs[self - 1];
		q.self_id = self;
		q.patient = les[self].patient;
		q.k = k_fixed ? k_fixed : 1 + (int)(urand() * (KMAX - 1));
		broad_filter(&f, t);
		allowed = count_allowed(&f);
		CHECK(allowed > 4096 && allowed * 20 >= N);	/* the over-fetch path */
		q.filter = &f;
		CHECK_EQ_INT(search_run(sp, cat, &q, 1, &hp, &nh, &mode, err), 0);
		nt = brute(&q, truth, best);
		o->queries++;
		o->ann_mode += mode == SEARCH_ANN;
		if (nh != nt)
			o->shorts++;
		for (i = 0; i < nh; i++) {
			if (hits[i].id == self || !ref_filter_match(&f, &les[hits[i].id]))
				o->not_allowed++;
			else if (fabs(hits[i].dist - dist(q.vec, vecs[hits[i].id - 1])) >
				 1e-3 * (1 + fabs(hits[i].dist)))
				o->bad_dist++;
		}
		for (i = 0; i < nt && i < nh; i++)
			if (hits[i].id != truth[i] &&
			    fabs(dist(q.vec, vecs[hits[i].id - 1]) - best[i]) > 1e-4 * (1 + best[i]))
				o->mism++;
		for (i = 0; i < nt; i++)
			for (j = 0; j < nh; j++)
				if (hits[j].id == truth[i]) {
					o->found++;
					break;
				}
		o->want += nt;
	}
}

static double recall(const struct outcome *o)
{
	return o->want ? (double)o->found / (double)o->want : 1;
}

static void test_flat_overfetch_exact(void)
{
	struct space *sp = make_space("Flat", "");
	struct search_stats s0, s1;
	struct outcome o;

	search_stats_get(&s0);
	run(sp, 120, 0, &o);
	search_stats_get(&s1);
	CHECK_EQ_INT(o.shorts, 0);
	CHECK_EQ_INT(o.mism, 0);
	CHECK_EQ_INT(o.not_allowed, 0);
	CHECK_EQ_INT(o.bad_dist, 0);
	CHECK_EQ_INT(o.ann_mode, 0);
	/* every query took the over-fetch path, and k' had to grow for some (a type
	 * filter removes the query's own cluster) */
	CHECK_EQ_INT(s1.overfetch - s0.overfetch, 120);
	CHECK_EQ_INT(s1.exact_subset - s0.exact_subset, 0);
	CHECK(s1.overfetch_grow - s0.overfetch_grow >= 5);
	printf("# Flat: %ld over-fetch queries, %llu k' growth rounds, exact\n", o.queries,
	       (unsigned long long)(s1.overfetch_grow - s0.overfetch_grow));
	space_destroy(sp);
}

/* the selective side of the threshold: under 4,096 allowed goes to the exact scan */
static void test_selective_goes_exact(void)
{
	struct space *sp = make_space("Flat", "");
	struct search_stats s0, s1;
	struct store_filter f;
	struct search_query q;
	struct search_hit hits[10], *hp = hits;
	int64_t truth[10];
	double best[10];
	char err[LSD_ERRLEN];
	int nh, nt, mode, i;

	store_filter_init(&f);
	f.type_mask = 1u << 4;	/* clusters 3 and 11: 2,500 lesions */
	f.gender = 'F';
	memset(&q, 0, sizeof(q));
	q.vec = vecs[7];
	q.self_id = 8;
	q.k = 10;
	q.filter = &f;
	CHECK(count_allowed(&f) <= 4096);
	search_stats_get(&s0);
	CHECK_EQ_INT(search_run(sp, cat, &q, 1, &hp, &nh, &mode, err), 0);
	search_stats_get(&s1);
	CHECK_EQ_INT(s1.exact_subset - s0.exact_subset, 1);
	CHECK_EQ_INT(s1.overfetch - s0.overfetch, 0);
	nt = brute(&q, truth, best);
	CHECK_EQ_INT(nh, nt);
	for (i = 0; i < nh && i < nt; i++)
		CHECK(hits[i].id == truth[i] || fabs(hits[i].dist - best[i]) < 1e-4 * (1 + best[i]));
	space_destroy(sp);
}

static void approx(const char *type, const char *dflt, const char *knob, double min_recall)
{
	struct space *sp = make_space(type, "");
	struct search_stats s0, s1;
	struct outcome o, o2;
	double r, r2;

	rng = 0x1234567ull;	/* the same queries at both settings */
	search_stats_get(&s0);
	run(sp, 150, 10, &o);
	search_stats_get(&s1);
	r = recall(&o);
	CHECK_EQ_INT(o.shorts, 0);	/* never short: the fallback finishes exactly */
	CHECK_EQ_INT(o.not_allowed, 0);
	CHECK_EQ_INT(o.bad_dist, 0);
	CHECK_EQ_INT(s1.overfetch_ann - s0.overfetch_ann, 150);
	CHECK(o.ann_mode > 0);
	space_destroy(sp);
	sp = make_space(type, knob);
	rng = 0x1234567ull;
	run(sp, 150, 10, &o2);
	r2 = recall(&o2);
	CHECK_EQ_INT(o2.shorts, 0);
	printf("# %s filtered recall@10 on the over-fetch path (150 queries, 25-90%% allowed): "
	       "%.4f at %s, %.4f at %s; %llu fell back to the exact scan\n", type, r, dflt, r2,
	       knob, (unsigned long long)(s1.ann_fallback - s0.ann_fallback));
	/* not monotone in the knob: a short approximate answer falls back to the exact scan
	 * (recall 1 for that query), and fewer fall back when the index finds more */
	CHECK(r >= min_recall);
	CHECK(r2 >= min_recall);
	space_destroy(sp);
}

static void test_hnsw_overfetch(void)
{
	approx("HNSW32", "efSearch=64", "efSearch=256", 0.9);
}

static void test_ivf_overfetch(void)
{
	approx("IVF256,Flat", "nprobe=16", "nprobe=64", 0.9);
}

/* IVF at nprobe=1 scans one list; a filter that drops the query's whole cluster leaves
 * no allowed lesion in it, however far k' grows: only the exact fallback can answer */
static void test_ivf_fallback(void)
{
	struct space *sp = make_space("IVF256,Flat", "nprobe=1");
	struct search_stats s0, s1;
	struct store_filter f;
	struct search_query q;
	struct search_hit hits[10], *hp = hits;
	int64_t truth[10];
	double best[10];
	char err[LSD_ERRLEN];
	int nh, nt, mode, i;
	int64_t self = 5 * NCL + 5;	/* cluster 5: type 6 */

	store_filter_init(&f);
	f.type_mask = 0x1FFu & ~(1u << 6);
	memset(&q, 0, sizeof(q));
	q.vec = vecs[self - 1];
	q.self_id = self;
	q.k = 10;
	q.filter = &f;
	search_stats_get(&s0);
	CHECK_EQ_INT(search_run(sp, cat, &q, 1, &hp, &nh, &mode, err), 0);
	search_stats_get(&s1);
	CHECK_EQ_INT(s1.ann_fallback - s0.ann_fallback, 1);
	CHECK(s1.overfetch_grow - s0.overfetch_grow >= 1);
	nt = brute(&q, truth, best);
	CHECK_EQ_INT(nh, nt);
	CHECK_EQ_INT(nh, 10);
	for (i = 0; i < nh && i < nt; i++)
		CHECK(hits[i].id == truth[i] || fabs(hits[i].dist - best[i]) < 1e-4 * (1 + best[i]));
	space_destroy(sp);
}

int main(void)
{
	char err[LSD_ERRLEN];

	catalog_create(&cat, err);
	make_data();
	RUN(test_flat_overfetch_exact);
	RUN(test_selective_goes_exact);
	RUN(test_hnsw_overfetch);
	RUN(test_ivf_overfetch);
	RUN(test_ivf_fallback);
	catalog_destroy(cat);
	return unit_done();
}
