/* search_ref.h - the reference side shared by the search tests (test_search.c,
 * test_search_paths.c): a seeded xorshift generator, the metadata filter written out over
 * the raw lesion fields, a top-k insertion, and a space built from the tests' vectors.
 * Written here, not taken from lesiond
 * (catalog_match, store_filter_match, search.c): a reference must not share the code it
 * checks. Header-only (static inline) so that each test stays one translation unit.
 */
#ifndef LSD_TEST_SEARCH_REF_H
#define LSD_TEST_SEARCH_REF_H

#include "catalog.h"
#include "space.h"
#include "store.h"
#include "unit.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64: uniform in [0, 1), from *state (never 0) */
static inline double ref_urand(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return (double)(*state >> 11) / 9007199254740992.0;
}

/* Does lesion l pass filter f (NULL: everything passes)? */
static inline int ref_filter_match(const struct store_filter *f, const struct lesion *l)
{
	int tbit = l->type > 0 ? l->type : 0;

	if (!f)
		return 1;
	if (f->patient && l->patient != f->patient)
		return 0;
	if (f->study && l->study != f->study)
		return 0;
	if (f->type_mask && !((f->type_mask >> tbit) & 1u))
		return 0;
	if (f->split_mask && !((f->split_mask >> l->split) & 1u))
		return 0;
	if (f->min_diam_mm > 0 && l->diam_mm[0] < f->min_diam_mm)
		return 0;
	if (f->max_diam_mm > 0 && l->diam_mm[0] > f->max_diam_mm)
		return 0;
	if (f->gender && l->gender != f->gender)
		return 0;
	if ((!isnan(f->min_age) || !isnan(f->max_age)) && isnan(l->age))
		return 0;
	if (!isnan(f->min_age) && l->age < f->min_age)
		return 0;
	if (!isnan(f->max_age) && l->age > f->max_age)
		return 0;
	if (f->exclude_noisy && l->noisy)
		return 0;
	return 1;
}

/* Offer (v, id) to the k best so far, best[] / out[] ascending in v, *n of them kept
 * (a later id loses a tie: ids are offered in ascending order). */
static inline void ref_topk_offer(double *best, int64_t *out, int *n, int k, double v, int64_t id)
{
	int j;

	if (*n < k || v < best[*n - 1]) {
		j = *n < k ? (*n)++ : *n - 1;
		while (j > 0 && best[j - 1] > v) {
			best[j] = best[j - 1];
			out[j] = out[j - 1];
			j--;
		}
		best[j] = v;
		out[j] = id;
	}
}

/* A space of n vectors (row-major, dim wide) with ids 1..n; an index other than Flat is
 * trained (space_rebuild). params: the space's knob string ("" for none). */
static inline struct space *ref_make_space(const char *type, const char *params,
					   enum space_metric m, int dim, const float *vecs, int n)
{
	struct space_def def;
	struct space *sp = NULL;
	int64_t *ids = malloc((size_t)n * sizeof(*ids));
	char err[LSD_ERRLEN];
	int i;

	CHECK(ids != NULL);
	if (!ids)
		return NULL;
	memset(&def, 0, sizeof(def));
	snprintf(def.name, sizeof(def.name), "t");
	def.dim = dim;
	def.metric = m;
	snprintf(def.index_type, sizeof(def.index_type), "%s", type);
	snprintf(def.params, sizeof(def.params), "%s", params);
	for (i = 0; i < n; i++)
		ids[i] = i + 1;
	CHECK_EQ_INT(space_create(&def, &sp, err), 0);
	CHECK_EQ_INT(space_add(sp, ids, vecs, (size_t)n, err), 0);
	if (strcmp(type, "Flat"))
		CHECK_EQ_INT(space_rebuild(sp, err), 0);
	free(ids);
	return sp;
}

#endif
