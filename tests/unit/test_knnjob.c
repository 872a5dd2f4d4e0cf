/* test_knnjob.c - batch kNN jobs: the NDJSON query-line parser (good and malformed
 * lines), the .npy header writer (numpy's bytes), CRC-32 (the standard check value),
 * slices, the (distance, id) order, and knn_search against an independent double
 * precision brute force: random vectors, exact duplicates and all-equal distances (the
 * certification must fall back), both metrics, with filters, same_patient rules and
 * gallery shards whose merge must equal the unsharded answer. */
#include "unit.h"
#include "knnjob.h"
#include "npyout.h"
#include "qfile.h"
#include "search.h"
#include "util.h"

#include <stdint.h>

#define N 600
#define D 24
#define K 9

static float vecs[N][D];
static struct lesion les[N + 1];
static uint64_t rng_state = 12345;

static double urand(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static void line_ok(const char *s, int want_n, float first)
{
	float v[8];
	int got = -1;
	char err[LSD_ERRLEN];

	CHECK_EQ_INT(qfile_parse_line(s, strlen(s), v, 8, &got, err), 0);
	CHECK_EQ_INT(got, want_n);
	if (got > 0)
		CHECK(v[0] == first);
}

static void line_bad(const char *s)
{
	float v[4];
	int got = -1;
	char err[LSD_ERRLEN];

	err[0] = 0;
	CHECK_EQ_INT(qfile_parse_line(s, strlen(s), v, 4, &got, err), -1);
	CHECK(err[0] != 0);
	CHECK_EQ_INT(got, 0);
}

static void test_parse_line(void)
{
	line_ok("[1, 2.5, -3e2]", 3, 1.0f);
	line_ok("  [0.25]  ", 1, 0.25f);
	line_ok("{\"vector\": [-0.5, 1E-3, 0]}", 3, -0.5f);
	line_ok("{ \"vector\" :[7,8] }\r", 2, 7.0f);
	line_ok("[-0]", 1, 0.0f);
	line_bad("");
	line_bad("[]");
	line_bad("[1,]");
	line_bad("[,1]");
	line_bad("[01]");
	line_bad("[1.]");
	line_bad("[.5]");
	line_bad("[+1]");
	line_bad("[NaN]");
	line_bad("[Infinity]");
	line_bad("[1e39]");		/* not a finite float32 */
	line_bad("[1 2]");
	line_bad("[1,2,3,4,5]");	/* more than max */
	line_bad("[1] x");
	line_bad("[\"1\"]");
	line_bad("{\"vector\":[1],\"id\":3}");
	line_bad("{\"vec\":[1]}");
	line_bad("[1");
	line_bad("{\"vector\":[1]");
}

static void test_npy_header(void)
{
	char h[NPYOUT_HEADER];
	const char *dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (3, 10), }";
	size_t i, dl = strlen(dict);

	npyout_header(h, "<i8", 3, 10);
	CHECK(!memcmp(h, "\x93NUMPY\x01\x00", 8));
	CHECK_EQ_INT((unsigned char)h[8] | (unsigned char)h[9] << 8, NPYOUT_HEADER - 10);
	CHECK(!memcmp(h + 10, dict, dl));
	for (i = 10 + dl; i < NPYOUT_HEADER - 1; i++)
		CHECK(h[i] == ' ');
	CHECK(h[NPYOUT_HEADER - 1] == '\n');
	/* the largest shapes still fit */
	npyout_header(h, "<f4", (size_t)1 << 40, 100000);
	CHECK(strstr(h + 10, "(1099511627776, 100000), }") != NULL);
	CHECK(h[NPYOUT_HEADER - 1] == '\n');
}

static void test_crc_slices_order(void)
{
	size_t n, parts, i, total;

	CHECK_EQ_INT(npz_crc32(0, "123456789", 9), 0xCBF43926u);
	CHECK_EQ_INT(npz_crc32(npz_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
	for (n = 0; n < 50; n++)
		for (parts = 1; parts < 9; parts++) {
			total = 0;
			for (i = 0; i < parts; i++) {
				size_t a = knn_slice_start(n, (int)i, (int)parts);
				size_t b = knn_slice_start(n, (int)i + 1, (int)parts);

				CHECK(a <= b);
				total += b - a;
			}
			CHECK_EQ_INT(total, n);
			CHECK_EQ_INT(knn_slice_start(n, (int)parts, (int)parts), n);
		}
	CHECK(knn_better(SPACE_L2, 1.0f, 5, 2.0f, 1));
	CHECK(knn_better(SPACE_L2, 1.0f, 1, 1.0f, 5));
	CHECK(!knn_better(SPACE_L2, 1.0f, 5, 1.0f, 1));
	CHECK(knn_better(SPACE_IP, 2.0f, 5, 1.0f, 1));
	CHECK(knn_better(SPACE_L2, 9.0f, 5, 1.0f, -1));
	CHECK(!knn_better(SPACE_L2, 1.0f, -1, 9.0f, 5));
}

static struct catalog *make_catalog(void)
{
	struct catalog *cat = NULL;
	char err[LSD_ERRLEN];
	int i;

	CHECK_EQ_INT(catalog_create(&cat, err), 0);
	for (i = 1; i <= N; i++) {
		struct lesion *l = &les[i];

		memset(l, 0, sizeof(*l));
		l->id = i;
		l->patient = 1 + (i - 1) / 6;
		l->study = 1 + i % 3;
		l->type = 1 + i % 8;
		l->split = 1 + i % 3;
		l->diam_mm[0] = 5 + i % 40;
		l->diam_mm[1] = 3;
		l->gender = i % 2 ? 'M' : 'F';
		l->age = 50;
		CHECK_EQ_INT(catalog_put(cat, l, err), 0);
	}
	return cat;
}

static struct space *make_space(enum space_metric m, int equal)
{
	struct space_def def;
	struct space *sp = NULL;
	int64_t ids[N];
	char err[LSD_ERRLEN];
	int i, d;

	for (i = 0; i < N; i++) {
		for (d = 0; d < D; d++)
			vecs[i][d] = equal ? (d == i % D ? 1.0f : 0.0f) : (float)(urand() * 2 - 1);
		ids[i] = i + 1;
	}
	if (!equal)	/* exact duplicates: equal distances to every query */
		for (i = 0; i < 40; i++)
			memcpy(vecs[N - 1 - i], vecs[i], sizeof(vecs[0]));
	memset(&def, 0, sizeof(def));
	snprintf(def.name, sizeof(def.name), "t");
	def.dim = D;
	def.metric = m;
	snprintf(def.index_type, sizeof(def.index_type), "Flat");
	CHECK_EQ_INT(space_create(&def, &sp, err), 0);
	CHECK_EQ_INT(space_add(sp, ids, &vecs[0][0], N, err), 0);
	return sp;
}

struct sd {
	double s;
	int64_t id;
};

static int cmp_sd(const void *pa, const void *pb)
{
	const struct sd *a = pa, *b = pb;

	if (a->s != b->s)
		return a->s < b->s ? -1 : 1;
	return (a->id > b->id) - (a->id < b->id);
}

/* Brute force in double: the best K of the allowed ids by (distance, id). */
static void brute(enum space_metric m, const float *q, const struct knn_excl *x,
		  const struct store_filter *f, struct catalog *cat, int64_t *out)
{
	static struct sd all[N];
	int n = 0, i, d;

	for (i = 0; i < N; i++) {
		struct catalog_entry e;
		double s = 0;
		int64_t id = i + 1;

		catalog_get(cat, id, &e);
		if (f && !catalog_match(f, &e))
			continue;
		if (x && (id == x->self_id || (x->same_patient == SEARCH_SP_EXCLUDE && e.patient == x->patient) ||
			  (x->same_patient == SEARCH_SP_ONLY && e.patient != x->patient)))
			continue;
		for (d = 0; d < D; d++)
			s += m == SPACE_IP ? -(double)q[d] * vecs[i][d] :
					     ((double)q[d] - vecs[i][d]) * ((double)q[d] - vecs[i][d]);
		all[n].s = s;
		all[n++].id = id;
	}
	qsort(all, (size_t)n, sizeof(all[0]), cmp_sd);
	for (i = 0; i < K; i++)
		out[i] = i < n ? all[i].id : -1;
}

static void run_case(enum space_metric m, int equal, int stored, const struct store_filter *f,
		     int rule)
{
	struct catalog *cat = make_catalog();
	struct space *sp = make_space(m, equal);
	struct knn_gallery *g = NULL, *gs[3] = { NULL };
	enum { NQ = 200 };
	static float q[NQ][D];
	static int64_t ids[NQ][K], sids[3][NQ][K], want[K];
	static float dist[NQ][K], sdist[3][NQ][K];
	struct knn_excl ex[NQ];
	char err[LSD_ERRLEN];
	int i, d, s, bad = 0, badm = 0;
	uint64_t cert, fb;

	for (i = 0; i < NQ; i++) {
		if (stored) {
			int id = 1 + (i * 7) % N;

			memcpy(q[i], vecs[id - 1], sizeof(q[i]));
			ex[i].self_id = id;
			ex[i].patient = les[id].patient;
			ex[i].same_patient = rule;
		} else {
			for (d = 0; d < D; d++)
				q[i][d] = equal ? 0.0f : (float)(urand() * 2 - 1);
			if (i % 10 == 0)
				memcpy(q[i], vecs[i], sizeof(q[i]));	/* on a duplicate */
		}
	}
	CHECK_EQ_INT(knn_gallery_open(sp, cat, f, 0, 1, &g, err), 0);
	CHECK_EQ_INT(knn_search(g, &q[0][0], NQ, K, stored ? ex : NULL, 2, &ids[0][0], &dist[0][0], err), 0);
	for (i = 0; i < NQ; i++) {
		brute(m, q[i], stored ? &ex[i] : NULL, f, cat, want);
		if (memcmp(want, ids[i], sizeof(want)))
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	knn_gallery_stats(g, &cert, &fb);
	CHECK_EQ_INT(cert + fb, NQ);
	if (equal)	/* all distances equal for the zero queries: none certifiable; the
			 * 1 in 10 on a one-hot vector has 25 at distance 0, the rest at 2 */
		CHECK_EQ_INT(fb, NQ - NQ / 10);
	/* three gallery shards, merged by (distance, id) = the unsharded answer */
	for (s = 0; s < 3; s++) {
		CHECK_EQ_INT(knn_gallery_open(sp, cat, f, s, 3, &gs[s], err), 0);
		CHECK_EQ_INT(knn_search(gs[s], &q[0][0], NQ, K, stored ? ex : NULL, 1, &sids[s][0][0],
					&sdist[s][0][0], err), 0);
	}
	for (i = 0; i < NQ; i++) {
		int pos[3] = { 0, 0, 0 }, h;

		for (h = 0; h < K; h++) {
			int b = -1;

			for (s = 0; s < 3; s++)
				if (pos[s] < K && (b < 0 || knn_better(m, sdist[s][i][pos[s]], sids[s][i][pos[s]],
								       sdist[b][i][pos[b]], sids[b][i][pos[b]])))
					b = s;
			if (sids[b][i][pos[b]] != ids[i][h] || sdist[b][i][pos[b]] != dist[i][h])
				badm++;
			pos[b]++;
		}
	}
	CHECK_EQ_INT(badm, 0);
	for (s = 0; s < 3; s++)
		knn_gallery_close(gs[s]);
	knn_gallery_close(g);
	space_destroy(sp);
	catalog_destroy(cat);
}

static void test_l2_random_dups(void)
{
	run_case(SPACE_L2, 0, 0, NULL, SEARCH_SP_INCLUDE);
}

static void test_ip_random_dups(void)
{
	run_case(SPACE_IP, 0, 0, NULL, SEARCH_SP_INCLUDE);
}

static void test_all_equal_distances(void)
{
	run_case(SPACE_L2, 1, 0, NULL, SEARCH_SP_INCLUDE);
}

static void test_filtered(void)
{
	struct store_filter f;

	store_filter_init(&f);
	f.type_mask = (1u << 2) | (1u << 5);
	f.split_mask = (1u << 1) | (1u << 3);
	run_case(SPACE_L2, 0, 0, &f, SEARCH_SP_INCLUDE);
	f.patient = 7;	/* 6 lesions: short answers, -1 padding */
	f.type_mask = f.split_mask = 0;
	run_case(SPACE_L2, 0, 0, &f, SEARCH_SP_INCLUDE);
}

static void test_stored_rules(void)
{
	run_case(SPACE_L2, 0, 1, NULL, SEARCH_SP_INCLUDE);
	run_case(SPACE_L2, 0, 1, NULL, SEARCH_SP_EXCLUDE);
	run_case(SPACE_L2, 0, 1, NULL, SEARCH_SP_ONLY);
}

int main(void)
{
	RUN(test_parse_line);
	RUN(test_npy_header);
	RUN(test_crc_slices_order);
	RUN(test_l2_random_dups);
	RUN(test_ip_random_dups);
	RUN(test_all_equal_distances);
	RUN(test_filtered);
	RUN(test_stored_rules);
	return unit_done();
}
