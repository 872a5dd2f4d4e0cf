/* knnjob.h - batch k-nearest-neighbour search for jobs (`lesiond knn`, the npz batch
 * endpoint): many queries against one gallery, exact, with a deterministic answer that
 * gallery shards can be merged into.
 *
 * A gallery is a space restricted by a metadata filter and/or to one contiguous slice of
 * its ids (--gallery-shard I/N: the space's live ids sorted ascending, slice
 * [n*I/N, n*(I+1)/N)). The filter is the same for every query of a job, so it is applied
 * once, to the gallery: a restricted gallery is a private Flat index over exactly the
 * allowed vectors, and every query is then an unfiltered batched (BLAS) search.
 *
 * Exact, ties broken by lesion id: the answer is the k best by (distance, id) - distance
 * recomputed exactly from the stored vector (space.h), smaller id first among equal
 * distances - so the top k of the union of gallery shards' answers is the unsharded
 * answer, bit for bit. FAISS's batched distances carry rounding error (BLAS), so each
 * query asks FAISS for k' = 2k+16 candidates and the answer is certified: the k-th best
 * must beat the worst candidate by more than twice a bound on that error (computed from
 * the vector norms); a query that cannot be certified (near-ties at the edge, duplicate
 * vectors) is answered by an exact scan of the gallery instead. An unrestricted gallery
 * over an approximate index (HNSW, IVF, PQ) is searched through that index as it is, and
 * is not exact (knn_gallery_exact says which).
 *
 * Thread-safe for concurrent knn_search calls on one gallery.
 */
#ifndef LSD_KNNJOB_H
#define LSD_KNNJOB_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "space.h"
#include "store.h"

struct knn_gallery;

#define KNN_SHARDS_MAX 65536

/* Start of part i of n items cut into parts contiguous slices: n * i / parts (the slices
 * of --shard and --gallery-shard). */
size_t knn_slice_start(size_t n, int i, int parts);

/* filter may be NULL; shard_n >= 1, 0 <= shard_i < shard_n. */
int knn_gallery_open(struct space *sp, struct catalog *cat, const struct store_filter *filter,
		     int shard_i, int shard_n, struct knn_gallery **out /* OUT */, char *err);
void knn_gallery_close(struct knn_gallery *g);
size_t knn_gallery_count(const struct knn_gallery *g);
int knn_gallery_exact(const struct knn_gallery *g);
enum space_metric knn_gallery_metric(const struct knn_gallery *g);
/* Queries certified from the candidates / answered by the exact fallback scan so far. */
void knn_gallery_stats(struct knn_gallery *g, uint64_t *certified, uint64_t *fallback);

/* Per-query exclusions for stored-lesion queries (the HTTP search's rules). */
struct knn_excl {
	int64_t self_id;	/* never returned; 0 none */
	int32_t patient;	/* the query lesion's patient, for same_patient */
	int same_patient;	/* enum search_same_patient (search.h) */
};

/* nq queries (row-major, space dim) -> ids / dist, nq x k row-major, best first; missing
 * slots id -1, distance +inf (L2) or -inf (IP). ex: NULL or nq entries. nthreads >= 1
 * splits the queries across threads. */
int knn_search(struct knn_gallery *g, const float *q, size_t nq, int k, const struct knn_excl *ex,
	       int nthreads, int64_t *ids /* OUT */, float *dist /* OUT */, char *err);

/* Is (da, ia) a better answer than (db, ib) under metric m? -1 ids are worst. The order
 * every answer and every merge uses. */
int knn_better(enum space_metric m, float da, int64_t ia, float db, int64_t ib);

#endif
