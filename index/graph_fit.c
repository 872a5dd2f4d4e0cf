/* graph_fit.c - the scale-model calibration of the lesion graph: robust per-axis and
 * size scales of the labelled consecutive same-lesion links, and a threshold from the
 * model's chi-square quantile fixed in advance (rule: include/graph_fit.h).
 *
 * Called by `lesiond eval --graph --calibrate --fit scales` and by the cross-validation
 * with --fit scales (graphrun.c). Owns nothing between calls. Load: one sort of the
 * labelled lesions and three medians, O(n log n).
 */
#include "graph_fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

double graph_chi2_4_quantile(double q)
{
	double lo = 0, hi = 1;

	if (!(q > 0) || !(q < 1))
		return NAN;
	/* F(x) = 1 - exp(-x/2) (1 + x/2) rises from 0 to 1: bracket, then bisect */
	while (1 - exp(-hi / 2) * (1 + hi / 2) < q)
		hi *= 2;
	for (int k = 0; k < 200 && hi - lo > 1e-13 * hi; k++) {
		double mid = (lo + hi) / 2;

		if (1 - exp(-mid / 2) * (1 + mid / 2) < q)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

struct fit_item {
	int patient, study, series;
	int64_t track, id;
	size_t i;
};

static int item_cmp(const void *x, const void *y)
{
	const struct fit_item *a = x, *b = y;

	if (a->patient != b->patient)
		return a->patient < b->patient ? -1 : 1;
	if (a->track != b->track)
		return a->track < b->track ? -1 : 1;
	if (a->study != b->study)
		return a->study < b->study ? -1 : 1;
	if (a->series != b->series)
		return a->series < b->series ? -1 : 1;
	return (a->id > b->id) - (a->id < b->id);
}

static int dbl_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/* median of v[0..n-1] (sorted here), n > 0 */
static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), dbl_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int graph_fit_scales(const struct lesion *l, size_t n, const int64_t *truth, double q,
		     const struct graph_params *base, struct graph_params *out,
		     struct graph_scales *sc, char *err)
{
	struct fit_item *it = NULL;
	double *ad[4] = { NULL, NULL, NULL, NULL }, s[4];
	size_t m = 0, nl = 0, nr = 0;
	struct graph_scales local;
	int rc = -1;

	if (!sc)
		sc = &local;
	memset(sc, 0, sizeof(*sc));
	if (!(q > 0) || !(q < 1))
		return errf(err, "fit: the quantile must be in (0, 1)");
	it = malloc((n ? n : 1) * sizeof(*it));
	for (int k = 0; k < 4; k++)
		ad[k] = malloc((n ? n : 1) * sizeof(*ad[k]));
	if (!it || !ad[0] || !ad[1] || !ad[2] || !ad[3]) {
		errf(err, "fit: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (truth[i] != GRAPH_UNLABELLED)
			it[m++] = (struct fit_item){ .patient = l[i].patient, .study = l[i].study,
						     .series = l[i].series, .track = truth[i],
						     .id = l[i].id, .i = i };
	if (m)
		qsort(it, m, sizeof(*it), item_cmp);
	/* consecutive links of each labelled track, one lesion per study (the first) */
	for (size_t k = 1; k < m; k++) {
		size_t j = k - 1;
		const struct lesion *a, *b;

		if (it[k].patient != it[j].patient || it[k].track != it[j].track ||
		    it[k].study == it[j].study)
			continue;
		/* the earlier study's first lesion: walk back over its other series */
		while (j > 0 && it[j - 1].patient == it[j].patient &&
		       it[j - 1].track == it[j].track && it[j - 1].study == it[j].study)
			j--;
		a = &l[it[j].i];
		b = &l[it[k].i];
		for (int d = 0; d < 3; d++)
			ad[d][nl] = fabs(b->loc[d] - a->loc[d]);
		nl++;
		if (a->diam_mm[0] > 0 && b->diam_mm[0] > 0)
			ad[3][nr++] = fabs(log(b->diam_mm[0] / a->diam_mm[0]));
	}
	if (nr < GRAPH_FIT_MIN_LINKS) {	/* nr <= nl */
		errf(err, "fit: %zu labelled links (%zu with both long diameters); the scale "
		     "model needs at least %d", nl, nr, GRAPH_FIT_MIN_LINKS);
		goto out;
	}
	for (int d = 0; d < 3; d++)
		s[d] = LSD_MAX(GRAPH_FIT_MAD * median(ad[d], nl), GRAPH_FIT_MIN_LOC);
	s[3] = LSD_MAX(GRAPH_FIT_MAD * median(ad[3], nr), GRAPH_FIT_MIN_SIZE);
	memcpy(sc->s, s, sizeof(sc->s));
	sc->s_r = s[3];
	sc->links = nl;
	sc->size_links = nr;
	sc->q = q;
	sc->d = sqrt(graph_chi2_4_quantile(q));
	*out = *base;
	out->w_loc = 1;
	out->axis[0] = 1;
	out->axis[1] = s[0] / s[1];
	out->axis[2] = s[0] / s[2];
	out->w_size = s[0] / s[3];
	out->w_embed = 0;
	out->size_quad = 1;
	out->threshold = s[0] * sc->d;
	rc = 0;
out:
	free(it);
	for (int k = 0; k < 4; k++)
		free(ad[k]);
	return rc;
}
