/* bench_rawfaiss.c - the ceiling for exact search: FAISS's C API alone (IndexFlatL2, no
 * lesiond code in the loop) searching the same vectors in batches, next to lesiond's own
 * space_search on the same vectors at the same batch sizes. k = 10.
 *
 *   bench_rawfaiss [VECTORS.fvecs [SECONDS]]
 *
 * With a file (bench_search.sh passes the vectors it serves), those vectors are the
 * database and the first 4,096 of them the queries; without one, 32,735 synthetic
 * clustered 256-d vectors. Each figure is the median of 3 timed passes of at least
 * SECONDS/3 (default 3 s in all) of whole batches. The process should run with the
 * environment lesiond sets for itself (OPENBLAS_CORETYPE, OMP_WAIT_POLICY=PASSIVE,
 * OPENBLAS_NUM_THREADS=1): bench_search.sh does. This file and index/space.c are the only
 * ones that include FAISS: here it is the object of the measurement.
 */
#include "space.h"
#include "util.h"

#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/utils/distances_c.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K 10
#define NQ_MAX 4096

static float *read_fvecs(const char *path, size_t *n, int *dim)
{
	FILE *f = fopen(path, "rb");
	float *v = NULL;
	size_t cap = 0;
	int32_t d;

	*n = 0;
	*dim = 0;
	if (!f)
		return NULL;
	while (fread(&d, 4, 1, f) == 1) {
		if (d < 1 || d > 65536 || (*dim && d != *dim))
			break;
		*dim = d;
		if (*n == cap) {
			float *p;

			cap = cap ? cap * 2 : 65536;
			p = realloc(v, cap * (size_t)d * sizeof(float));
			if (!p)
				break;
			v = p;
		}
		if (fread(v + *n * (size_t)d, sizeof(float), (size_t)d, f) != (size_t)d)
			break;
		(*n)++;
	}
	fclose(f);
	return v;
}

static float *synth(size_t n, int d)
{
	float *v = malloc(n * (size_t)d * sizeof(float));
	uint64_t s = 7;
	size_t i;
	int j;

	for (i = 0; v && i < n; i++)
		for (j = 0; j < d; j++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			v[i * (size_t)d + (size_t)j] = (float)(s >> 40) / 16777216.0f +
						       ((j + (int)(i % 64)) % 7 == 0 ? 0.1f * (float)(i % 64) : 0);
		}
	return v;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* queries/s of fn over batches of nq, median of 3 passes of `secs` each */
typedef int (*search_fn)(void *ctx, const float *q, size_t nq, float *dist, int64_t *ids);

static double rate(search_fn fn, void *ctx, const float *q, int d, size_t nqall, size_t nq,
		   double secs, float *dist, int64_t *ids)
{
	double r[3];
	int p;

	for (p = 0; p < 3; p++) {
		double t0 = now_ms(), t;
		size_t done = 0, off = 0;

		do {
			if (off + nq > nqall)
				off = 0;
			if (fn(ctx, q + off * (size_t)d, nq, dist, ids))
				return -1;
			off += nq;
			done += nq;
			t = now_ms() - t0;
		} while (t < secs * 1000);
		r[p] = (double)done / (t / 1000);
	}
	qsort(r, 3, sizeof(r[0]), cmp_d);
	return r[1];
}

struct raw {
	FaissIndex *idx;
	int d;
};

static int raw_search(void *ctx, const float *q, size_t nq, float *dist, int64_t *ids)
{
	struct raw *r = ctx;

	return faiss_Index_search(r->idx, (int64_t)nq, q, K, dist, ids) ? -1 : 0;
}

static int lsd_search(void *ctx, const float *q, size_t nq, float *dist, int64_t *ids)
{
	char err[LSD_ERRLEN];

	return space_search(ctx, q, nq, K, dist, ids, err);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 1, 8, 16, 32, 64, 128, 256, 1024, 4096 };
	double secs = argc > 2 ? atof(argv[2]) / 3 : 1;
	size_t n = 0, i, nq;
	int d = 256;
	float *v = argc > 1 ? read_fvecs(argv[1], &n, &d) : (n = 32735, synth(n, d));
	float *dist = malloc(NQ_MAX * K * sizeof(float));
	int64_t *ids = malloc(NQ_MAX * K * sizeof(int64_t)), *rid;
	struct raw raw = { NULL, d };
	struct space *sp = NULL;
	struct space_def def;
	char err[LSD_ERRLEN];

	if (!v || n < NQ_MAX || !dist || !ids) {
		fprintf(stderr, "bench_rawfaiss: need at least %d vectors\n", NQ_MAX);
		return 1;
	}
	faiss_set_distance_compute_blas_threshold(8);	/* as lesiond sets it */
	if (faiss_IndexFlatL2_new_with((FaissIndexFlatL2 **)&raw.idx, d) ||
	    faiss_Index_add(raw.idx, (int64_t)n, v)) {
		fprintf(stderr, "bench_rawfaiss: FAISS failed\n");
		return 1;
	}
	memset(&def, 0, sizeof(def));
	snprintf(def.name, sizeof(def.name), "bench");
	def.dim = d;
	def.metric = SPACE_L2;
	rid = malloc(n * sizeof(*rid));
	for (i = 0; rid && i < n; i++)
		rid[i] = (int64_t)i + 1;
	if (!rid || space_create(&def, &sp, err) || space_add(sp, rid, v, n, err)) {
		fprintf(stderr, "bench_rawfaiss: %s\n", err);
		return 1;
	}
	nq = sizeof(sizes) / sizeof(sizes[0]);
	printf("exact k=%d over %zu x %d (queries/s, median of 3): batch, raw FAISS C API, "
	       "lesiond space_search\n", K, n, d);
	for (i = 0; i < nq; i++) {
		double a = rate(raw_search, &raw, v, d, n, sizes[i], secs, dist, ids);
		double b = rate(lsd_search, sp, v, d, n, sizes[i], secs, dist, ids);

		printf("   batch %4zu: %7.0f  %7.0f\n", sizes[i], a, b);
		if (sizes[i] == NQ_MAX)
			printf("raw FAISS batched (4096) queries/s: %.0f\n", a);
		fflush(stdout);
	}
	space_destroy(sp);
	faiss_Index_free(raw.idx);
	free(v);
	free(rid);
	free(dist);
	free(ids);
	return 0;
}
