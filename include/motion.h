/* motion.h - how a set of lesions moves between a patient's studies, and what the
 * lesions, studies and patients look like: the figures `lesiond realism` prints for the
 * real DeepLesion sample next to the demo, and that the demo is checked against
 * (tests/unit/test_motion.c).
 *
 * Input: lesions with a track id each (0: not in any track). A "follow-up pair" is two
 * lesions of one patient and one track in different studies, every such pair counted
 * (the transitive pairs of a radiologist's links); displacement = later study's
 * normalised location minus the earlier's, per axis; size change = ln(long mm later /
 * long mm earlier). Pure computation.
 */
#ifndef LSD_MOTION_H
#define LSD_MOTION_H

#include <stddef.h>
#include <stdint.h>

#include "lesion.h"
#include "util.h"

/* Summary of a sample: n, mean, sd, quantiles of the values or of their magnitudes. */
struct motion_dist {
	size_t n;
	double mean, sd, min, max;
	double p10, p50, p90;		/* of the values */
	double a50, a90, amax;		/* of |value| */
};

struct motion_stats {
	size_t lesions, patients, studies, pairs;
	struct motion_dist d[3];	/* displacement per axis x, y, z */
	struct motion_dist dist;	/* Euclidean displacement */
	struct motion_dist within[3];	/* displacement minus its study pair's mean (pairs of
					 * study pairs with >= 2 follow-up pairs) */
	struct motion_dist logsize;	/* ln(long later / long earlier) */
	struct motion_dist spacing_z, spacing_xy, long_mm, age;
	double share_dz5, share_dz1;	/* slice interval 5 mm, <= 1.25 mm */
	double share_male, share_age_nan;
	double studies_per_patient, lesions_per_study;
	struct {
		size_t n;
		double long_mm, loc[3];	/* medians */
	} type[LESION_NTYPES + 1];	/* [1..8]; lesions with a known type */
};

/* track[i] for l[i] (0: none). Returns 0, or -1 with err (out of memory). */
int motion_measure(const struct lesion *l, const int64_t *track, size_t n,
		   struct motion_stats *out /* OUT */, char *err);

/* A markdown table comparing a (first column, named na) with b (named nb). */
void motion_table(struct sb *b, const char *na, const struct motion_stats *sa,
		  const char *nb, const struct motion_stats *sb_);

#endif
