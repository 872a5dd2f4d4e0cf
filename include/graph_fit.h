/* graph_fit.h - the scale-model calibration of the lesion graph (issue 19, fourth round):
 * a few robust scales fitted on a user's labelled same-lesion links, and a threshold
 * fixed in advance from the model, instead of picking a setting by F1 on a grid.
 *
 * Rule (graph_fit_scales):
 *   Links: per patient and labelled track, the labelled lesions sorted by (study,
 *   series, id), one per study (the first), each consecutive two (a in the earlier
 *   study, b in the later) - the pairs the sequential matcher links.
 *   Scales (median absolute value about 0, the same-lesion null being "did not move",
 *   x 1.4826 so that a zero-mean Gaussian's sd is returned):
 *     s_k = 1.4826 * median |b.loc[k] - a.loc[k]|          k = x, y, z
 *     s_r = 1.4826 * median |ln(long_b / long_a)|          (links with both diameters)
 *   floored at GRAPH_FIT_MIN_LOC / GRAPH_FIT_MIN_SIZE.
 *   Model: a same-lesion link's (dx/s_x, dy/s_y, dz/s_z, ln r/s_r) is standard normal
 *   in 4-D, so D^2 = sum of their squares is chi-square with 4 degrees of freedom.
 *   Parameters: w_loc 1, axis {1, s_x/s_y, s_x/s_z}, w_size s_x/s_r, size_quad 1 (size
 *   term in quadrature with the location term), w_embed 0, so that cost = s_x * D; and
 *   threshold = s_x * sqrt(chi2_4 quantile(q)), q = GRAPH_FIT_Q fixed in advance: the
 *   model's share of same-lesion links that cost less than the threshold.
 *   Everything else (gates, sequential, align, shift vote, series duplicates) from base.
 *   Fewer than GRAPH_FIT_MIN_LINKS links (or size links): an error.
 */
#ifndef LSD_GRAPH_FIT_H
#define LSD_GRAPH_FIT_H

#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "lesion.h"

#define GRAPH_FIT_Q 0.99
#define GRAPH_FIT_MAD 1.4826
#define GRAPH_FIT_MIN_LINKS 4
#define GRAPH_FIT_MIN_LOC 1e-4
#define GRAPH_FIT_MIN_SIZE 1e-3

struct graph_scales {
	double s[3];		/* x, y, z displacement scales (normalised units) */
	double s_r;		/* ln long-diameter ratio scale */
	size_t links;		/* consecutive labelled links used */
	size_t size_links;	/* of them with both long diameters */
	double q;		/* the quantile */
	double d;		/* sqrt(chi2_4 quantile(q)): the threshold in units of D */
};

/* x with P(chi2_4 <= x) = q, 0 < q < 1: F(x) = 1 - exp(-x/2) (1 + x/2). */
double graph_chi2_4_quantile(double q);

/* Fit (see above) on l[0..n-1] with truth[] (GRAPH_UNLABELLED: not a link member; track
 * ids compared within a patient). *out gets base with the fitted fields, *sc the scales
 * (may be NULL). Returns 0, or -1 with err. */
int graph_fit_scales(const struct lesion *l, size_t n, const int64_t *truth, double q,
		     const struct graph_params *base, struct graph_params *out /* OUT */,
		     struct graph_scales *sc /* OUT or NULL */, char *err);

#endif
