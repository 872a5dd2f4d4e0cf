/* graph_dup.c - series duplicates: one lesion annotated in two series of one study.
 *
 * DeepLesion's key slices of one study can come from different series (phases,
 * reconstructions) of the same scan session, and a radiologist sometimes bookmarked one
 * lesion in two of them (real pairs: patient 26's 106 / 110 and 108 / 112, patient 9's
 * 37 / 39, each linked as the same lesion). Such a pair lies at the same body position
 * (the normalisation is of one scan session) and has about the same size. The rule is
 * stated in include/graph.h ("Series duplicates"); graph_build matches one
 * representative per group and puts the others in its track. Called once per patient
 * build; O(n^2) pairs of a patient's lesions.
 */
#include "graph.h"

#include <math.h>
#include <stdlib.h>

struct dup_pair {
	double d;
	size_t a, b;
};

static int dup_pair_cmp(const void *x, const void *y)
{
	const struct dup_pair *a = x, *b = y;

	if (a->d != b->d)
		return a->d < b->d ? -1 : 1;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	return (a->b > b->b) - (a->b < b->b);
}

/* 1 when a and b meet the duplicate rule; *d: their unweighted displacement */
static int dup_match(const struct lesion *a, const struct lesion *b, int type_gate,
		     double *d)
{
	double s = 0, la = a->diam_mm[0], lb = b->diam_mm[0];

	if (a->study != b->study || a->series == b->series)
		return 0;
	for (int k = 0; k < 3; k++)
		s += (b->loc[k] - a->loc[k]) * (b->loc[k] - a->loc[k]);
	*d = sqrt(s);
	if (!(*d <= GRAPH_DUP_DLOC) || !(la > 0) || !(lb > 0))
		return 0;
	if ((la > lb ? la / lb : lb / la) > GRAPH_DUP_SIZE_RATIO)
		return 0;
	return !(type_gate && a->type >= 1 && b->type >= 1 && a->type != b->type);
}

static size_t find(size_t *par, size_t x)
{
	while (par[x] != x) {
		par[x] = par[par[x]];
		x = par[x];
	}
	return x;
}

/* 1 when lesion i is the better representative: lower series, then lower id */
static int rep_before(const struct lesion *l, size_t i, size_t j)
{
	if (l[i].series != l[j].series)
		return l[i].series < l[j].series;
	return l[i].id < l[j].id;
}

int graph_series_dups(const struct lesion *l, size_t n, const struct graph_params *p,
		      size_t *rep, size_t *ndup)
{
	struct dup_pair *pr = NULL;
	size_t np = 0, cap = 0;

	*ndup = 0;
	for (size_t i = 0; i < n; i++)
		rep[i] = i;
	if (!p->series_dup)
		return 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			double d;

			if (!dup_match(&l[i], &l[j], p->type_gate, &d))
				continue;
			if (np == cap) {
				size_t nc = cap ? cap * 2 : 8;
				struct dup_pair *q = realloc(pr, nc * sizeof(*q));

				if (!q) {
					free(pr);
					return -1;
				}
				pr = q;
				cap = nc;
			}
			pr[np].d = d;
			pr[np].a = i;
			pr[np++].b = j;
		}
	if (np)
		qsort(pr, np, sizeof(*pr), dup_pair_cmp);
	/* nearest first; a group never holds two lesions of one series */
	for (size_t k = 0; k < np; k++) {
		size_t ra = find(rep, pr[k].a), rb = find(rep, pr[k].b), keep, drop;
		int clash = 0;

		if (ra == rb)
			continue;
		for (size_t i = 0; i < n && !clash; i++)
			for (size_t j = 0; j < n && !clash && find(rep, i) == ra; j++)
				clash = find(rep, j) == rb && l[i].series == l[j].series;
		if (clash)
			continue;
		keep = rep_before(l, ra, rb) ? ra : rb;
		drop = keep == ra ? rb : ra;
		rep[drop] = keep;
	}
	free(pr);
	/* every member's representative: its root, which is its group's lowest (series, id)
	 * because every union keeps the better of two roots */
	for (size_t i = 0; i < n; i++) {
		rep[i] = find(rep, i);
		*ndup += rep[i] != i;
	}
	return 0;
}
