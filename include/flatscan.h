/* flatscan.h - exact k-nearest rows of a plain float matrix through BLAS, with the
 * database's squared norms cached by the caller.
 *
 * FAISS 1.7.3's IndexFlat recomputes the norms of every database vector on each batched
 * search (one extra pass over all the vectors) and runs small batches one query at a
 * time; this scan reads the vectors once per batch (sgemm in blocks of rows), skips the
 * query norms (they do not change a query's order), and splits the rows over `threads`
 * threads (each keeps its own heaps; merged at the end). Used by index/space.c for Flat
 * spaces, on the space's own memory copy. Candidates are ranked by the BLAS distance
 * (rounding differs from a direct sum by ~1e-6 relative): callers fetch a margin more
 * than they need and rescore exactly.
 */
#ifndef LSD_FLATSCAN_H
#define LSD_FLATSCAN_H

#include <stddef.h>
#include <stdint.h>

/* Squared L2 norm of x (d floats). */
float flatscan_norm(const float *x, size_t d);

/* For each of nq queries (row-major nq x d) the k best of rows 0..n-1 of db (row-major
 * n x d, norms[i] = flatscan_norm of row i): ip = 1 ranks by largest inner product,
 * else by smallest squared L2. Rows out: nq x k row indices, best first, ties by lower
 * row; -1 where fewer than k rows. 0, or -1 (out of memory) with err. */
/* dist_ny, when given, is used instead of sgemm for batches of fewer than FLATSCAN_SEQ_NQ
 * queries (a matrix product of one row is slower than a direct SIMD scan): it writes
 * into out[j] the badness source of row y_j against x, for j < ny: the squared L2
 * distance, or the inner product when ip. */
#define FLATSCAN_SEQ_NQ 4
typedef void (*flatscan_dist_fn)(float *out, const float *x, const float *y, size_t d, size_t ny);
int flatscan_knn(const float *db, const float *norms, size_t n, size_t d, int ip,
		 const float *q, size_t nq, size_t k, int threads, flatscan_dist_fn dist_ny,
		 int64_t *rows /* OUT */, char *err);

/* Run fn(arg, t, c) for every chunk c < nchunk on `threads` threads (t < threads is the
 * calling thread's slot, for per-thread state), chunks taken in turn, so a thread the
 * scheduler delays leaves its chunks to the others. Returns when all are done. Used by
 * the subset scan of index/space.c (this module owns the OpenMP team). */
void flatscan_chunks(int threads, size_t nchunk, void (*fn)(void *arg, size_t t, size_t c),
		     void *arg);

#endif
