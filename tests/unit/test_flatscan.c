/* test_flatscan.c - the BLAS Flat scan against a brute force computed here in double
 * precision, with 1, 2 and 3 threads taking row chunks in turn (the rows are not a
 * multiple of the chunk or the block; some rows are exact copies of others, so there are
 * ties), for batch sizes on each of its paths: the direct distance loop (under
 * FLATSCAN_SEQ_NQ queries), sgemm, and more than one block of queries (over 256).
 * flatscan ranks by float BLAS distances, so the oracle is: the exact k best rows are
 * all among its k + MARGIN best, and its list is sorted, without repeats, in range.
 */
#include "flatscan.h"
#include "unit.h"

#include <stdint.h>

#define N (3 * 8192 + 1234)	/* 2+ threads (8,192 rows each at least), uneven chunks */
#define D 24
#define K 10
#define MARGIN 8
#define NQ_MAX 300

static float db[(size_t)N * D], norms[N], qs[(size_t)NQ_MAX * D];

static uint64_t rng = 88172645463325252ull;

static float urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 11) * (1.0 / 9007199254740992.0));
}

static void l2_direct(float *out, const float *x, const float *y, size_t d, size_t ny)
{
	size_t j, i;

	for (j = 0; j < ny; j++) {
		float s = 0;

		for (i = 0; i < d; i++)
			s += (x[i] - y[j * d + i]) * (x[i] - y[j * d + i]);
		out[j] = s;
	}
}

static double badness(const float *q, size_t row, int ip)
{
	double s = 0;
	size_t i;

	for (i = 0; i < D; i++)
		s += ip ? (double)q[i] * db[row * D + i] :
		     ((double)q[i] - db[row * D + i]) * ((double)q[i] - db[row * D + i]);
	return ip ? -s : s;
}

/* the exact K best rows of query q (ties to the lower row) */
static void brute(const float *q, int ip, int64_t *best)
{
	double bb[K];
	size_t r;
	int n = 0, i;

	for (r = 0; r < N; r++) {
		double b = badness(q, r, ip);

		if (n == K && b >= bb[K - 1])
			continue;
		i = n < K ? n++ : K - 1;
		while (i > 0 && bb[i - 1] > b) {
			bb[i] = bb[i - 1];
			best[i] = best[i - 1];
			i--;
		}
		bb[i] = b;
		best[i] = (int64_t)r;
	}
}

static void run(size_t nq, int threads, int ip, flatscan_dist_fn dist)
{
	static int64_t rows[(size_t)NQ_MAX * (K + MARGIN)];
	int64_t truth[K];
	char err[256];
	size_t qi, i, j, missing = 0, bad = 0;

	CHECK_EQ_INT(flatscan_knn(db, norms, N, D, ip, qs, nq, K + MARGIN, threads, dist, rows,
				  err), 0);
	for (qi = 0; qi < nq; qi++) {
		const int64_t *got = rows + qi * (K + MARGIN);

		brute(qs + qi * D, ip, truth);
		for (i = 0; i < K; i++) {
			for (j = 0; j < K + MARGIN && got[j] != truth[i]; j++)
				;
			missing += j == K + MARGIN;
		}
		for (j = 0; j < K + MARGIN; j++) {
			bad += got[j] < 0 || got[j] >= N;
			bad += j && got[j] == got[j - 1];
			if (j && got[j] >= 0 && got[j - 1] >= 0 &&
			    badness(qs + qi * D, (size_t)got[j], ip) + 1e-3 <
			    badness(qs + qi * D, (size_t)got[j - 1], ip))
				bad++;	/* out of order beyond rounding */
		}
	}
	if (missing || bad)
		fprintf(stderr, "  nq %zu threads %d ip %d: %zu exact hits missing, %zu bad entries\n",
			nq, threads, ip, missing, bad);
	CHECK_EQ_INT(missing, 0);
	CHECK_EQ_INT(bad, 0);
}

static void test_threads_and_batches(void)
{
	static const size_t nqs[] = { 1, 3, 5, 17, NQ_MAX };
	size_t a, t;

	for (a = 0; a < sizeof(nqs) / sizeof(nqs[0]); a++)
		for (t = 1; t <= 3; t++) {
			run(nqs[a], (int)t, 0, l2_direct);
			run(nqs[a], (int)t, 0, NULL);
		}
	run(17, 2, 1, NULL);
	run(NQ_MAX, 3, 1, NULL);
}

/* the same answer twice, whichever thread took which chunk */
static void test_repeatable(void)
{
	static int64_t a[(size_t)NQ_MAX * K], b[(size_t)NQ_MAX * K];
	char err[256];
	int i, same = 1;

	for (i = 0; i < 20; i++) {
		CHECK_EQ_INT(flatscan_knn(db, norms, N, D, 0, qs, 64, K, 2, NULL, i ? b : a, err), 0);
		if (i && memcmp(a, b, 64 * K * sizeof(*a)))
			same = 0;
	}
	CHECK(same);
}

int main(void)
{
	size_t i, r;

	for (i = 0; i < (size_t)N * D; i++)
		db[i] = urand();
	for (r = 100; r < N; r += 997)	/* exact copies: ties broken by the lower row */
		memcpy(db + r * D, db + (r - 100) * D, D * sizeof(float));
	for (r = 0; r < N; r++)
		norms[r] = flatscan_norm(db + r * D, D);
	for (i = 0; i < (size_t)NQ_MAX * D; i++)
		qs[i] = urand();
	for (i = 0; i < 20; i++)	/* some queries sit on a row (and on its copy) */
		memcpy(qs + i * 7 * D, db + (100 + i * 997) * D, D * sizeof(float));
	RUN(test_threads_and_batches);
	RUN(test_repeatable);
	return unit_done();
}
