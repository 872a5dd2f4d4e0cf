/* flatscan.c - exact kNN over a float matrix with sgemm blocks (see flatscan.h).
 *
 * Per thread: a contiguous share of the rows, walked in blocks of BLOCK rows; for each
 * block one sgemm gives the nq x BLOCK inner products (kept in L2 cache), then each
 * query's badness (norm - 2 ip, or -ip) is compared with its heap's worst before any
 * heap work. Queries are taken QBLOCK at a time. The heaps of the threads are merged
 * and sorted at the end. Compiled with -fopenmp (threads through an OpenMP team).
 */
#include "flatscan.h"
#include "kheap.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK 1024	/* database rows per sgemm */
#define QBLOCK 256	/* queries per sgemm */
#define MIN_ROWS_PER_THREAD 8192
/* rows a thread takes at a time: for sgemm batches one BLOCK (32 chunks at 32,735 rows,
 * so the threads finish together; 4 blocks left one idle for a chunk, measured 13% fewer
 * requests/s at 32 clients), for the direct scan of a few queries 4 blocks (unchanged) */
#define CHUNK_ROWS(nq) ((dist_ny && (nq) < FLATSCAN_SEQ_NQ ? 4 : 1) * (size_t)BLOCK)

/* OpenBLAS's Fortran interface (LP64), as FAISS itself declares it */
extern int sgemm_(const char *transa, const char *transb, const int *m, const int *n,
		  const int *k, const float *alpha, const float *a, const int *lda,
		  const float *b, const int *ldb, const float *beta, float *c, const int *ldc);

float flatscan_norm(const float *x, size_t d)
{
	float s = 0;
	size_t i;

	for (i = 0; i < d; i++)
		s += x[i] * x[i];
	return s;
}

/* 1 when every x[0..OFFER_RUN) is above thr (a NaN is not): a fixed trip count, so the
 * compiler makes it a few vector compares */
#define OFFER_RUN 32
static int all_above(const float *x, float thr)
{
	int below = 0, j;

	for (j = 0; j < OFFER_RUN; j++)
		below |= !(x[j] > thr);
	return !below;
}

/* line[j] = norms[j] - 2 line[j] (L2) or -line[j] (inner product), j < nb: the badness
 * of a block's rows from their inner products. In runs of a fixed OFFER_RUN, so that
 * GCC's -O2 cost model vectorises it (an open trip count kept it scalar: 3% of the
 * server's CPU at 32 clients). The same values: 2 x is exact, so with or without a
 * fused multiply-add the result is norms - 2 x rounded once. */
static void to_badness(float *restrict line, const float *restrict norms, size_t nb, int ip)
{
	size_t b = 0, j;

	if (ip) {
		for (; b + OFFER_RUN <= nb; b += OFFER_RUN)
			for (j = 0; j < OFFER_RUN; j++)
				line[b + j] = -line[b + j];
		for (; b < nb; b++)
			line[b] = -line[b];
		return;
	}
	for (; b + OFFER_RUN <= nb; b += OFFER_RUN)
		for (j = 0; j < OFFER_RUN; j++)
			line[b + j] = norms[b + j] - 2 * line[b + j];
	for (; b < nb; b++)
		line[b] = norms[b] - 2 * line[b];
}

/* Offer line[0..nb) (badness of rows j0..) to one query's heap. Once the heap is full
 * almost every row is worse than its root, so whole runs of OFFER_RUN rows that are all
 * worse are skipped with one vector test instead of a compare and branch per row (the
 * same rows reach kheap_push as before: a row is skipped only when line[j] > thr). */
static void offer(const float *line, size_t nb, size_t j0, struct kcand *hq, size_t *n, size_t k)
{
	float thr = *n == k ? hq[0].b : 0;
	int full = *n == k;
	size_t j, b, e;

	for (b = 0; b < nb; b = e) {
		e = LSD_MIN(nb, b + OFFER_RUN);
		if (full && e - b == OFFER_RUN && all_above(line + b, thr))
			continue;
		for (j = b; j < e; j++) {
			struct kcand c;

			if (full && line[j] > thr)
				continue;
			c.b = line[j];
			c.id = (int64_t)(j0 + j);
			kheap_push(hq, n, k, c);
			if (*n == k) {
				full = 1;
				thr = hq[0].b;
			}
		}
	}
}

/* rows [r0, r1) against queries [0, nq): heaps h[qi*k ..], counts hn[qi] */
static void scan_part(const float *db, const float *norms, size_t r0, size_t r1, size_t d, int ip,
		      const float *q, size_t nq, size_t k, flatscan_dist_fn dist_ny, float *blk,
		      struct kcand *h, size_t *hn)
{
	const float one = 1, zero = 0;
	const int di = (int)d;
	size_t q0, j0, qi, j;

	if (dist_ny && nq < FLATSCAN_SEQ_NQ) {
		for (qi = 0; qi < nq; qi++)
			for (j0 = r0; j0 < r1; j0 += BLOCK) {
				size_t nb = LSD_MIN((size_t)BLOCK, r1 - j0);

				dist_ny(blk, q + qi * d, db + j0 * d, d, nb);
				if (ip)
					for (j = 0; j < nb; j++)
						blk[j] = -blk[j];
				offer(blk, nb, j0, h + qi * k, &hn[qi], k);
			}
		return;
	}
	for (q0 = 0; q0 < nq; q0 += QBLOCK) {
		size_t m = LSD_MIN((size_t)QBLOCK, nq - q0);
		const int mi = (int)m;

		for (j0 = r0; j0 < r1; j0 += BLOCK) {
			size_t nb = LSD_MIN((size_t)BLOCK, r1 - j0);
			const int nbi = (int)nb;

			/* blk[qi * nb + j] = <q_qi, db_(j0+j)> */
			sgemm_("T", "N", &nbi, &mi, &di, &one, db + j0 * d, &di, q + q0 * d, &di,
			       &zero, blk, &nbi);
			for (qi = 0; qi < m; qi++) {
				float *line = blk + qi * nb;

				to_badness(line, norms + j0, nb, ip);
				offer(line, nb, j0, h + (q0 + qi) * k, &hn[q0 + qi], k);
			}
		}
	}
}

int flatscan_knn(const float *db, const float *norms, size_t n, size_t d, int ip,
		 const float *q, size_t nq, size_t k, int threads, flatscan_dist_fn dist_ny,
		 int64_t *rows, char *err)
{
	size_t nt, t, qi, i;
	struct kcand *h = NULL, *merged = NULL;
	size_t *hn = NULL;
	float *blk = NULL;
	int rc = -1;

	if (threads < 1)
		threads = 1;
	nt = LSD_MIN((size_t)threads, n / MIN_ROWS_PER_THREAD);
	if (nt < 1)
		nt = 1;
	if (d > (size_t)1 << 20 || k > ((size_t)1 << 24) / (nq ? nq : 1) / nt + 1)
		return errf(err, "flat scan: k=%zu too large for %zu queries", k, nq);
	h = malloc(nt * nq * k * sizeof(*h));
	hn = calloc(nt * nq, sizeof(*hn));
	blk = malloc(nt * (size_t)QBLOCK * BLOCK * sizeof(*blk));
	merged = malloc(nt * k * sizeof(*merged));
	if (!h || !hn || !blk || !merged) {
		errf(err, "out of memory");
		goto out;
	}
	if (nt == 1) {
		scan_part(db, norms, 0, n, d, ip, q, nq, k, dist_ny, blk, h, hn);
	} else {
		/* chunks taken in turn, not halves: a thread that the scheduler delays (a
		 * busy machine, request threads beside it) leaves its share to the others */
		size_t nchunk = LSD_MAX(nt, n / CHUNK_ROWS(nq)), next = 0;

#pragma omp parallel for num_threads((int)nt) schedule(static, 1)
		for (t = 0; t < nt; t++) {
			size_t c;

			while ((c = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED)) < nchunk)
				scan_part(db, norms, n * c / nchunk, n * (c + 1) / nchunk, d, ip, q, nq,
					  k, dist_ny, blk + t * (size_t)QBLOCK * BLOCK, h + t * nq * k,
					  hn + t * nq);
		}
	}
	for (qi = 0; qi < nq; qi++) {
		size_t m = 0;

		for (t = 0; t < nt; t++) {
			memcpy(merged + m, h + (t * nq + qi) * k, hn[t * nq + qi] * sizeof(*merged));
			m += hn[t * nq + qi];
		}
		qsort(merged, m, sizeof(*merged), kcand_cmp);
		for (i = 0; i < k; i++)
			rows[qi * k + i] = i < m ? merged[i].id : -1;
	}
	rc = 0;
out:
	free(h);
	free(hn);
	free(blk);
	free(merged);
	return rc;
}

void flatscan_chunks(int threads, size_t nchunk, void (*fn)(void *arg, size_t t, size_t c),
		     void *arg)
{
	size_t nt = (size_t)(threads < 1 ? 1 : threads), next = 0, t;

#pragma omp parallel for num_threads((int)nt) schedule(static, 1)
	for (t = 0; t < nt; t++) {
		size_t c;

		while ((c = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED)) < nchunk)
			fn(arg, t, c);
	}
}
