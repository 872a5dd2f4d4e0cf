/* test_subset_par.c - the exact subset scan (space_search_subset) split over 1, 2 and 3
 * threads, against a brute force computed here. The vectors have small integer
 * components, so every distance is exact in float and in double and ties are common:
 * the answer must be exactly the k best by (distance, id), both metrics, whichever
 * thread scored which chunk. The subset is unsorted, repeats nothing, and names ids the
 * space does not hold; some rows are removed first so the rows are not in id order.
 */
#include "space.h"
#include "unit.h"
#include "util.h"

#include <stdint.h>

#define N 12000
#define D 8
#define KMAX 40

static float vecs[N + 1][D];	/* by id (1..N) */
static int gone[N + 1];
static int64_t sub[N + 600];

static uint64_t rng = 0x2545f4914f6cdd1dull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)((rng >> 11) % n);
}

struct cand {
	double b;
	int64_t id;
};

static int cand_cmp(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;

	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	return (a->id > b->id) - (a->id < b->id);
}

/* the k best of sub[0..ns) held by the space, by (badness, id) */
static size_t brute(const float *q, int ip, size_t ns, int k, struct cand *out)
{
	static struct cand all[N + 600];
	size_t i, n = 0;
	int j;

	for (i = 0; i < ns; i++) {
		int64_t id = sub[i];
		double s = 0;

		if (id < 1 || id > N || gone[id])
			continue;
		for (j = 0; j < D; j++)
			s += ip ? (double)q[j] * vecs[id][j] :
			     ((double)q[j] - vecs[id][j]) * ((double)q[j] - vecs[id][j]);
		all[n].b = ip ? -s : s;
		all[n++].id = id;
	}
	qsort(all, n, sizeof(*all), cand_cmp);
	if (n > (size_t)k)
		n = (size_t)k;
	memcpy(out, all, n * sizeof(*out));
	return n;
}

static void run(enum space_metric m)
{
	struct space_def d;
	struct space *sp = NULL;
	char err[LSD_ERRLEN];
	static int64_t ids[N];
	static const int ks[] = { 1, 10, KMAX };
	int64_t got[KMAX], rm[300];
	float dist[KMAX], q[D];
	struct cand want[KMAX];
	size_t i, ns, n;
	int j, t, ki, qi;

	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "par");
	d.dim = D;
	d.metric = m;
	snprintf(d.index_type, sizeof(d.index_type), "Flat");
	CHECK_EQ_INT(space_create(&d, &sp, err), 0);
	if (!sp)
		return;
	for (i = 1; i <= N; i++) {
		for (j = 0; j < D; j++)
			vecs[i][j] = (float)((int)rnd(7) - 3);
		ids[i - 1] = (int64_t)i;
		gone[i] = 0;
	}
	CHECK_EQ_INT(space_add(sp, ids, &vecs[1][0], N, err), 0);
	for (i = 0; i < 300; i++) {	/* removals swap rows: row order is not id order */
		rm[i] = 1 + 37 * (int64_t)i;
		gone[rm[i]] = 1;
	}
	CHECK_EQ_INT(space_remove(sp, rm, 300, NULL, err), 0);
	/* the subset: ~9,000 distinct ids in random order, plus 500 unknown ones */
	for (i = 1, ns = 0; i <= N; i++)
		if (rnd(4))
			sub[ns++] = (int64_t)i;
	for (i = 0; i < 500; i++)
		sub[ns++] = N + 1 + (int64_t)i;
	for (i = ns - 1; i > 0; i--) {
		size_t r = rnd((unsigned)(i + 1));
		int64_t x = sub[i];

		sub[i] = sub[r];
		sub[r] = x;
	}
	for (t = 1; t <= 3; t++) {
		unsigned long before = space_subset_splits();

		space_set_search_threads(t);
		for (qi = 0; qi < 6; qi++) {
			for (j = 0; j < D; j++)
				q[j] = (float)((int)rnd(7) - 3);
			for (ki = 0; ki < 3; ki++) {
				int k = ks[ki];

				n = brute(q, m == SPACE_IP, ns, k, want);
				CHECK_EQ_INT(n, (size_t)k);
				CHECK_EQ_INT(space_search_subset(sp, q, 1, k, sub, ns, dist, got, err), 0);
				for (i = 0; i < n; i++) {
					CHECK_EQ_INT(got[i], want[i].id);
					CHECK_NEAR(dist[i], m == SPACE_IP ? -want[i].b : want[i].b, 0);
				}
			}
		}
		/* the split path really ran (and only with more than one thread) */
		if (t == 1)
			CHECK_EQ_INT(space_subset_splits(), before);
		else
			CHECK_EQ_INT(space_subset_splits(), before + 18);
	}
	/* a small subset stays serial */
	{
		unsigned long before = space_subset_splits();

		space_set_search_threads(2);
		n = brute(q, m == SPACE_IP, 1000, 10, want);
		CHECK_EQ_INT(space_search_subset(sp, q, 1, 10, sub, 1000, dist, got, err), 0);
		for (i = 0; i < n; i++)
			CHECK_EQ_INT(got[i], want[i].id);
		CHECK_EQ_INT(space_subset_splits(), before);
	}
	space_set_search_threads(0);
	space_destroy(sp);
}

static void test_split_l2(void) { run(SPACE_L2); }
static void test_split_ip(void) { run(SPACE_IP); }

int main(void)
{
	RUN(test_split_l2);
	RUN(test_split_ip);
	return unit_done();
}
