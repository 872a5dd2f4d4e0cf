/* search.h - similar-lesion search over a space with exact metadata filters.
 *
 * FAISS 1.7.3's C API cannot pass an ID selector, so filtering is done here, around
 * the index (see search.c for the strategy). Contract: with an exact index (Flat), a
 * filtered search returns exactly what a brute-force scan over the allowed lesions
 * returns, however selective the filter (none allowed: zero hits, not an error); with an
 * approximate index the answer is never short when enough lesions are allowed (the
 * search falls back to an exact scan of the allowed ids). Used by the HTTP handlers,
 * the batch endpoint, `lesiond knn` and `lesiond eval`. Thread-safe.
 */
#ifndef LSD_SEARCH_H
#define LSD_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "space.h"
#include "store.h"

enum search_same_patient { SEARCH_SP_INCLUDE = 0, SEARCH_SP_EXCLUDE, SEARCH_SP_ONLY };

struct search_query {
	const float *vec;		/* space_dim floats */
	int64_t self_id;		/* never returned (the query lesion); 0 = none */
	int32_t patient;		/* the query's patient (same_patient rules); 0 = unknown */
	int same_patient;		/* enum search_same_patient */
	const struct store_filter *filter;	/* NULL = no metadata filter */
	int k;				/* 1..SPACE_K_MAX */
};

struct search_hit {
	int64_t id;
	float dist;	/* space.h: squared L2 (smaller closer) or inner product (larger closer) */
};

enum search_mode { SEARCH_EXACT = 1, SEARCH_ANN = 2 };

/* Run nq queries. hits[i] has room for q[i].k entries; nhits[i] gets how many were
 * found. mode[i] (may be NULL) says whether query i's answer is exact. Unfiltered
 * queries are searched together through the index's batched path (BLAS for Flat). */
int search_run(struct space *sp, struct catalog *cat, const struct search_query *q, size_t nq,
	       struct search_hit **hits /* OUT */, int *nhits /* OUT */, int *mode /* OUT */,
	       char *err);

/* Process-wide counts of the paths filtered searches took (for /metrics and tests):
 * exact scans of the allowed ids; over-fetch searches through the index (k' = k / share
 * x 1.5 + 16), those on an approximate index, k' growth rounds (x4), and approximate
 * answers that came back short and fell back to the exact scan. */
struct search_stats {
	uint64_t exact_subset, overfetch, overfetch_ann, overfetch_grow, ann_fallback;
};
void search_stats_get(struct search_stats *out /* OUT */);

const char *search_mode_name(int mode);
int search_same_patient_parse(const char *s);	/* -1 unknown */

#endif
