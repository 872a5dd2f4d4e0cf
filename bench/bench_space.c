/* bench_space.c - embedding spaces: index rebuild time from memory and from SQLite
 * (start-up without a usable snapshot), snapshot load time, and exact search latency
 * (single query, batched, subset), for 32,735 and 1,000,000 synthetic clustered vectors
 * of dimension 256 (1,024 Gaussian clusters: embedding-like). Medians of 3 runs.
 * BENCH_SPACE_BIG=0 skips the 1,000,000 set; BENCH_TMP sets the scratch directory. */
#include "dlcsv.h"
#include "space.h"
#include "store.h"
#include "store_vec.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define D 256
#define RUNS 3

static uint64_t rng = 88172645463325252ull;

static double urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

static double nrand(void)
{
	double u = urand() + 1e-12, v = urand();

	return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static float *gen(size_t n)
{
	static float centers[1024 * D];
	static int init;
	float *v = malloc(n * D * sizeof(float));
	size_t i, j;

	if (!init) {
		for (i = 0; i < 1024 * D; i++)
			centers[i] = (float)nrand();
		init = 1;
	}
	for (i = 0; v && i < n; i++) {
		const float *c = centers + (size_t)(urand() * 1024) % 1024 * D;

		for (j = 0; j < D; j++)
			v[i * D + j] = c[j] + 0.35f * (float)nrand();
	}
	return v;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

static void def_init(struct space_def *d, const char *type)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "bench");
	d->dim = D;
	d->metric = SPACE_L2;
	snprintf(d->index_type, sizeof(d->index_type), "%s", type);
}

static struct space *load_mem(const char *type, const int64_t *ids, const float *v, size_t n)
{
	struct space_def d;
	struct space *sp = NULL;
	char err[LSD_ERRLEN];
	size_t i;

	def_init(&d, type);
	if (space_create(&d, &sp, err)) {
		fprintf(stderr, "bench_space: %s\n", err);
		exit(1);
	}
	for (i = 0; i < n; i += 65536)
		if (space_load_vectors(sp, ids + i, v + i * D, LSD_MIN((size_t)65536, n - i), err)) {
			fprintf(stderr, "bench_space: %s\n", err);
			exit(1);
		}
	return sp;
}

static void rebuild_mem(const char *type, const int64_t *ids, const float *v, size_t n, int runs)
{
	double t[RUNS];
	char err[LSD_ERRLEN];
	int r;

	for (r = 0; r < runs; r++) {
		struct space *sp = load_mem(type, ids, v, n);
		double t0 = now_ms();

		if (space_rebuild(sp, err))
			fprintf(stderr, "bench_space: %s\n", err);
		t[r] = now_ms() - t0;
		space_destroy(sp);
	}
	printf("rebuild from memory, %-7s %8zu x %d: %9.1f ms (median of %d)\n", type, n, D,
	       median(t, runs), runs);
}

static void search_figures(const int64_t *ids, const float *v, size_t n)
{
	struct space *sp = load_mem("Flat", ids, v, n);
	char err[LSD_ERRLEN], why[LSD_ERRLEN];
	float *q = gen(4096), dist[10 * 4096];
	int64_t res[10 * 4096], *sub = malloc(n / 10 * sizeof(int64_t));
	double t[200];
	int how, i, b;
	size_t j;

	space_open_index(sp, NULL, &how, why, err);
	for (i = 0; i < 200; i++) {
		double t0 = now_ms();

		space_search(sp, q + (size_t)i * D, 1, 10, dist, res, err);
		t[i] = now_ms() - t0;
	}
	printf("exact search, one query, k=10, %zu x %d: %.3f ms median\n", n, D, median(t, 200));
	for (b = 256; b <= 4096; b *= 16) {
		double tb[RUNS];
		int r;

		for (r = 0; r < RUNS; r++) {
			double t0 = now_ms();

			space_search(sp, q, (size_t)b, 10, dist, res, err);
			tb[r] = now_ms() - t0;
		}
		printf("exact search, batch %d, k=10: %.0f queries/s (median of %d)\n", b,
		       b / (median(tb, RUNS) / 1000.0), RUNS);
	}
	for (j = 0; j < n / 10; j++)
		sub[j] = ids[j * 10];
	for (i = 0; i < 200; i++) {
		double t0 = now_ms();

		space_search_subset(sp, q + (size_t)i * D, 1, 10, sub, n / 10, dist, res, err);
		t[i] = now_ms() - t0;
	}
	printf("exact subset search, one query over %zu ids (10%%): %.3f ms median\n", n / 10,
	       median(t, 200));
	space_destroy(sp);
	if (getenv("BENCH_SKIP_HNSW"))
		goto out;
	sp = load_mem("HNSW32", ids, v, n);
	{
		double t0 = now_ms();

		space_open_index(sp, NULL, &how, why, err);
		printf("rebuild from memory, HNSW32  %8zu x %d: %9.1f ms (one run)\n", n, D,
		       now_ms() - t0);
	}
	for (i = 0; i < 200; i++) {
		double t0 = now_ms();

		space_search(sp, q + (size_t)i * D, 1, 10, dist, res, err);
		t[i] = now_ms() - t0;
	}
	printf("HNSW32 search (efSearch 64), one query, k=10: %.3f ms median\n", median(t, 200));
	space_destroy(sp);
out:
	free(q);
	free(sub);
}

/* SQLite side: n lesions cloned from a real row, n vectors, then start-up timings. */
static void sqlite_figures(const char *tmp, const int64_t *ids, const float *v, size_t n)
{
	char db[600], p[700], err[LSD_ERRLEN], why[LSD_ERRLEN], csv[600];
	struct store *st = NULL;
	struct dlcsv *c = NULL;
	struct lesion tpl, *batch = NULL;
	struct space_def d;
	struct space *sp = NULL;
	const char *sfx[] = {"", "-wal", "-shm", ".space-bench.faiss", ".space-bench.manifest"};
	double t[RUNS], t0;
	size_t i, j, added, same, nunk;
	int64_t *unk = NULL;
	int r, how;

	snprintf(db, sizeof(db), "%s/bench_space_%zu.db", tmp, n);
	for (i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "%s%s", db, sfx[i]);
		unlink(p);
	}
	snprintf(csv, sizeof(csv), "%s/DL_info_sample.csv", getenv("LSD_SHARED_DATA") ?
		 getenv("LSD_SHARED_DATA") : "../shared/data/deeplesion");
	if (dlcsv_open(csv, &c, err) || dlcsv_next(c, &tpl, err) != 1) {
		fprintf(stderr, "bench_space: %s: %s (SQLite figures skipped)\n", csv, err);
		dlcsv_close(c);
		return;
	}
	dlcsv_close(c);
	if (store_open(db, &st, err)) {
		fprintf(stderr, "bench_space: %s\n", err);
		return;
	}
	batch = malloc(65536 * sizeof(*batch));
	t0 = now_ms();
	for (i = 0; batch && i < n; i += 65536) {
		size_t m = LSD_MIN((size_t)65536, n - i);

		for (j = 0; j < m; j++) {
			batch[j] = tpl;
			batch[j].id = ids[i + j];
		}
		if (store_lesion_insert(st, batch, m, &added, &same, err)) {
			fprintf(stderr, "bench_space: %s\n", err);
			goto out;
		}
	}
	def_init(&d, "Flat");
	for (i = 0; i < n; i += 65536) {
		size_t m = LSD_MIN((size_t)65536, n - i);

		if (store_vec_put(st, &d, ids + i, v + i * D, m, &unk, &nunk, 10, err)) {
			fprintf(stderr, "bench_space: %s\n", err);
			goto out;
		}
	}
	printf("setup: %zu lesions + vectors written to SQLite in %.0f ms\n", n, now_ms() - t0);
	for (r = 0; r < RUNS; r++) {
		t0 = now_ms();
		if (store_vec_open_space(st, &d, &sp, &how, why, err)) {
			fprintf(stderr, "bench_space: %s\n", err);
			goto out;
		}
		t[r] = now_ms() - t0;
		if (how != SPACE_OPEN_REBUILT)
			fprintf(stderr, "bench_space: expected a rebuild: %s\n", why);
		if (r < RUNS - 1)
			space_destroy(sp);
	}
	printf("start-up, rebuild from SQLite (scan + Flat), %8zu x %d: %9.1f ms (median of %d)\n",
	       n, D, median(t, RUNS), RUNS);
	t0 = now_ms();
	space_snapshot(sp, db, err);
	printf("snapshot write (fsync'd), %8zu x %d: %9.1f ms\n", n, D, now_ms() - t0);
	space_destroy(sp);
	sp = NULL;
	for (r = 0; r < RUNS; r++) {
		t0 = now_ms();
		if (store_vec_open_space(st, &d, &sp, &how, why, err)) {
			fprintf(stderr, "bench_space: %s\n", err);
			goto out;
		}
		t[r] = now_ms() - t0;
		if (how != SPACE_OPEN_LOADED)
			fprintf(stderr, "bench_space: expected a snapshot load: %s\n", why);
		space_destroy(sp);
		sp = NULL;
	}
	printf("start-up, SQLite scan + snapshot load (verified), %8zu x %d: %9.1f ms (median of %d)\n",
	       n, D, median(t, RUNS), RUNS);
out:
	space_destroy(sp);
	store_close(st);
	free(batch);
	for (i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "%s%s", db, sfx[i]);
		unlink(p);
	}
}

int main(void)
{
	const char *big = getenv("BENCH_SPACE_BIG"), *tmp = getenv("BENCH_TMP");
	size_t sizes[2] = {32735, 1000000}, ns = big && !strcmp(big, "0") ? 1 : 2, s, i;

	if (!tmp)
		tmp = "build/bench";
	mkdir_p(tmp, NULL);
	for (s = 0; s < ns; s++) {
		size_t n = sizes[s];
		float *v = gen(n);
		int64_t *ids = malloc(n * sizeof(*ids));

		if (!v || !ids)
			return 1;
		for (i = 0; i < n; i++)
			ids[i] = (int64_t)i + 1;
		rebuild_mem("Flat", ids, v, n, RUNS);
		sqlite_figures(tmp, ids, v, n);
		if (n == 32735)
			search_figures(ids, v, n);
		free(v);
		free(ids);
	}
	return 0;
}
