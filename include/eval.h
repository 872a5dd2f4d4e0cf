/* eval.h - the retrieval protocol of Deep Lesion Graphs (Yan et al., CVPR 2018), sec. 5:
 * every query lesion with a known coarse type (default: the test split) retrieves its
 * nearest lesions among those of other patients; at K = 1, 5, 10 we report
 *   - type precision: share of the top K whose type equals the query's, counted over
 *     the retrieved lesions whose type is known;
 *   - type accuracy: the query's type predicted by a majority vote of the top K's known
 *     types (ties: the nearer lesion's type wins);
 *   - location error: mean Euclidean distance of normalised x,y,z between query and hit;
 *   - size error: mean absolute difference of long and of short diameter, in mm.
 * Types come from the catalog (DeepLesion labels val/test only) or from a truth table
 * (e.g. the demo's ground_truth.csv) that covers every lesion.
 */
#ifndef LSD_EVAL_H
#define LSD_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "space.h"

#define EVAL_NK 3

struct eval_opts {
	unsigned query_splits;		/* bit s = split s; 0 means the test split */
	const int8_t *truth;		/* truth[id] = type 1..8 / -1, or NULL: catalog types */
	int64_t truth_n;		/* entries in truth */
};

struct eval_result {
	int ks[EVAL_NK];		/* 1, 5, 10 */
	long queries;			/* queries evaluated */
	long skipped;			/* queries without a vector in the space */
	double type_precision[EVAL_NK];
	double type_accuracy[EVAL_NK];
	double loc_error[EVAL_NK];
	double size_error_long[EVAL_NK];
	double size_error_short[EVAL_NK];
	double seconds;
};

int eval_retrieval(struct space *sp, struct catalog *cat, const struct eval_opts *o,
		   struct eval_result *out /* OUT */, char *err);

/* Read ground_truth.csv (lesion_id,patient,study,true_type,track_id) into per-id arrays
 * (malloc'd, indexed by lesion id; -1 / 0 where absent). */
int eval_read_truth(const char *path, int8_t **types /* OUT */, int64_t **tracks /* OUT */,
		    int64_t *n /* OUT: array length */, char *err);

#endif
