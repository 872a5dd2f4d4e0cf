/* motion.c - follow-up motion and sample statistics of a lesion set. See motion.h.
 *
 * Called by `lesiond realism` (server/cmd_realism.c) and tests/unit/test_motion.c. Owns
 * nothing between calls. Load: O(n^2) over each patient's lesions, O(n log n) sorts.
 */
#include "motion.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vec {
	double *v;
	size_t n, cap;
};

static int push(struct vec *a, double x)
{
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 256;
		double *p = realloc(a->v, nc * sizeof(*p));

		if (!p)
			return -1;
		a->v = p;
		a->cap = nc;
	}
	a->v[a->n++] = x;
	return 0;
}

static int dbl_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/* Quantile q of sorted v by linear interpolation between order statistics. */
static double quant(const double *v, size_t n, double q)
{
	double pos, f;
	size_t i;

	if (n == 0)
		return NAN;
	pos = q * (double)(n - 1);
	i = (size_t)pos;
	f = pos - (double)i;
	return i + 1 < n ? v[i] * (1 - f) + v[i + 1] * f : v[n - 1];
}

static int summarise(struct vec *a, struct motion_dist *d)
{
	double s = 0, s2 = 0, *m = NULL;

	memset(d, 0, sizeof(*d));
	d->n = a->n;
	if (a->n == 0) {
		d->mean = d->sd = d->min = d->max = d->p10 = d->p50 = d->p90 = NAN;
		d->a50 = d->a90 = d->amax = NAN;
		return 0;
	}
	m = malloc(a->n * sizeof(*m));
	if (!m)
		return -1;
	for (size_t k = 0; k < a->n; k++) {
		s += a->v[k];
		m[k] = fabs(a->v[k]);
	}
	d->mean = s / (double)a->n;
	for (size_t k = 0; k < a->n; k++)
		s2 += (a->v[k] - d->mean) * (a->v[k] - d->mean);
	d->sd = sqrt(s2 / (double)a->n);
	qsort(a->v, a->n, sizeof(*a->v), dbl_cmp);
	qsort(m, a->n, sizeof(*m), dbl_cmp);
	d->min = a->v[0];
	d->max = a->v[a->n - 1];
	d->p10 = quant(a->v, a->n, 0.1);
	d->p50 = quant(a->v, a->n, 0.5);
	d->p90 = quant(a->v, a->n, 0.9);
	d->a50 = quant(m, a->n, 0.5);
	d->a90 = quant(m, a->n, 0.9);
	d->amax = m[a->n - 1];
	free(m);
	return 0;
}

struct ord {
	int patient, study;
	size_t i;
};

static int ord_cmp(const void *x, const void *y)
{
	const struct ord *a = x, *b = y;

	if (a->patient != b->patient)
		return a->patient < b->patient ? -1 : 1;
	if (a->study != b->study)
		return a->study < b->study ? -1 : 1;
	return (a->i > b->i) - (a->i < b->i);
}

/* One follow-up pair's study pair and displacement. */
struct fpair {
	int patient, sa, sb;
	double d[3];
};

struct fpvec {
	struct fpair *v;
	size_t n, cap;
};

static int fp_cmp(const void *x, const void *y)
{
	const struct fpair *a = x, *b = y;

	if (a->patient != b->patient)
		return a->patient < b->patient ? -1 : 1;
	if (a->sa != b->sa)
		return a->sa < b->sa ? -1 : 1;
	return (a->sb > b->sb) - (a->sb < b->sb);
}

/* The follow-up pairs of one patient (o[s..e-1], sorted by study). */
static int patient_pairs(const struct lesion *l, const int64_t *track, const struct ord *o,
			 size_t s, size_t e, struct vec *d, struct vec *dist, struct vec *ls,
			 struct fpvec *fp)
{
	for (size_t x = s; x < e; x++)
		for (size_t y = x + 1; y < e; y++) {
			const struct lesion *a = &l[o[x].i], *b = &l[o[y].i];
			double r = 0;

			if (!track[o[x].i] || track[o[x].i] != track[o[y].i] || a->study == b->study)
				continue;
			if (fp->n == fp->cap) {
				size_t nc = fp->cap ? fp->cap * 2 : 256;
				struct fpair *q = realloc(fp->v, nc * sizeof(*q));

				if (!q)
					return -1;
				fp->v = q;
				fp->cap = nc;
			}
			struct fpair *f = &fp->v[fp->n++];

			f->patient = a->patient;
			f->sa = a->study;
			f->sb = b->study;
			for (int k = 0; k < 3; k++) {
				f->d[k] = b->loc[k] - a->loc[k];
				r += f->d[k] * f->d[k];
				if (push(&d[k], f->d[k]))
					return -1;
			}
			if (push(dist, sqrt(r)))
				return -1;
			if (a->diam_mm[0] > 0 && b->diam_mm[0] > 0 &&
			    push(ls, log(b->diam_mm[0] / a->diam_mm[0])))
				return -1;
		}
	return 0;
}

/* Displacements minus their study pair's mean, for study pairs with >= 2 pairs. */
static int within_pairs(struct fpvec *fp, struct vec *w)
{
	if (fp->n)
		qsort(fp->v, fp->n, sizeof(*fp->v), fp_cmp);
	for (size_t s = 0; s < fp->n;) {
		size_t e = s;
		double m[3] = { 0, 0, 0 };

		while (e < fp->n && !fp_cmp(&fp->v[e], &fp->v[s]))
			e++;
		if (e - s >= 2) {
			for (size_t k = s; k < e; k++)
				for (int a = 0; a < 3; a++)
					m[a] += fp->v[k].d[a] / (double)(e - s);
			for (size_t k = s; k < e; k++)
				for (int a = 0; a < 3; a++)
					if (push(&w[a], fp->v[k].d[a] - m[a]))
						return -1;
		}
		s = e;
	}
	return 0;
}

int motion_measure(const struct lesion *l, const int64_t *track, size_t n,
		   struct motion_stats *o, char *err)
{
	struct vec d[3], w[3], dist, ls, sz, sxy, lm, age, tl[LESION_NTYPES + 1];
	struct vec tloc[LESION_NTYPES + 1][3];
	struct ord *or = NULL;
	struct fpvec fp = { NULL, 0, 0 };
	size_t male = 0, agenan = 0, dz5 = 0, dz1 = 0;
	int rc = -1;

	memset(o, 0, sizeof(*o));
	memset(d, 0, sizeof(d));
	memset(w, 0, sizeof(w));
	memset(&dist, 0, sizeof(dist));
	memset(&ls, 0, sizeof(ls));
	memset(&sz, 0, sizeof(sz));
	memset(&sxy, 0, sizeof(sxy));
	memset(&lm, 0, sizeof(lm));
	memset(&age, 0, sizeof(age));
	memset(tl, 0, sizeof(tl));
	memset(tloc, 0, sizeof(tloc));
	or = malloc((n ? n : 1) * sizeof(*or));
	if (!or)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		or[i].patient = l[i].patient;
		or[i].study = l[i].study;
		or[i].i = i;
		if (push(&sz, l[i].spacing[2]) || push(&sxy, l[i].spacing[0]) ||
		    push(&lm, l[i].diam_mm[0]))
			goto oom;
		dz5 += fabs(l[i].spacing[2] - 5) < 1e-6;
		dz1 += l[i].spacing[2] <= 1.25 + 1e-9;
		male += l[i].gender == 'M';
		if (isnan(l[i].age))
			agenan++;
		else if (push(&age, l[i].age))
			goto oom;
		if (l[i].type >= 1 && l[i].type <= LESION_NTYPES) {
			if (push(&tl[l[i].type], l[i].diam_mm[0]))
				goto oom;
			for (int k = 0; k < 3; k++)
				if (push(&tloc[l[i].type][k], l[i].loc[k]))
					goto oom;
		}
	}
	if (n)
		qsort(or, n, sizeof(*or), ord_cmp);
	for (size_t s = 0; s < n;) {
		size_t e = s;

		while (e < n && or[e].patient == or[s].patient)
			e++;
		o->patients++;
		for (size_t k = s; k < e; k++)
			o->studies += k == s || or[k].study != or[k - 1].study;
		if (patient_pairs(l, track, or, s, e, d, &dist, &ls, &fp))
			goto oom;
		s = e;
	}
	if (within_pairs(&fp, w))
		goto oom;
	o->lesions = n;
	o->pairs = dist.n;
	for (int k = 0; k < 3; k++)
		if (summarise(&d[k], &o->d[k]) || summarise(&w[k], &o->within[k]))
			goto oom;
	if (summarise(&dist, &o->dist) || summarise(&ls, &o->logsize) ||
	    summarise(&sz, &o->spacing_z) || summarise(&sxy, &o->spacing_xy) ||
	    summarise(&lm, &o->long_mm) || summarise(&age, &o->age))
		goto oom;
	for (int t = 1; t <= LESION_NTYPES; t++) {
		struct motion_dist md;

		if (summarise(&tl[t], &md))
			goto oom;
		o->type[t].n = md.n;
		o->type[t].long_mm = md.p50;
		for (int k = 0; k < 3; k++) {
			if (summarise(&tloc[t][k], &md))
				goto oom;
			o->type[t].loc[k] = md.p50;
		}
	}
	if (n) {
		o->share_dz5 = (double)dz5 / (double)n;
		o->share_dz1 = (double)dz1 / (double)n;
		o->share_male = (double)male / (double)n;
		o->share_age_nan = (double)agenan / (double)n;
		o->studies_per_patient = (double)o->studies / (double)o->patients;
		o->lesions_per_study = (double)n / (double)o->studies;
	}
	rc = 0;
	goto out;
oom:
	errf(err, "motion: out of memory");
out:
	for (int k = 0; k < 3; k++) {
		free(d[k].v);
		free(w[k].v);
	}
	free(dist.v);
	free(ls.v);
	free(sz.v);
	free(sxy.v);
	free(lm.v);
	free(age.v);
	for (int t = 0; t <= LESION_NTYPES; t++) {
		free(tl[t].v);
		for (int k = 0; k < 3; k++)
			free(tloc[t][k].v);
	}
	free(or);
	free(fp.v);
	return rc;
}

static void row3(struct sb *b, const char *what, const struct motion_dist *x,
		 const struct motion_dist *y)
{
	sb_addf(b, "| %s | %.4f / %.4f / %.4f (n %zu) | %.4f / %.4f / %.4f (n %zu) |\n", what,
		x->a50, x->a90, x->amax, x->n, y->a50, y->a90, y->amax, y->n);
}

void motion_table(struct sb *b, const char *na, const struct motion_stats *x,
		  const char *nb, const struct motion_stats *y)
{
	static const char axis[3] = { 'x', 'y', 'z' };

	sb_addf(b, "| measure | %s | %s |\n|---|---|---|\n", na, nb);
	sb_addf(b, "| lesions, patients, studies | %zu, %zu, %zu | %zu, %zu, %zu |\n", x->lesions,
		x->patients, x->studies, y->lesions, y->patients, y->studies);
	sb_addf(b, "| follow-up pairs (same lesion, two studies) | %zu | %zu |\n", x->pairs,
		y->pairs);
	for (int k = 0; k < 3; k++) {
		char w[96];

		snprintf(w, sizeof(w), "displacement %c: \\|d\\| median / p90 / max", axis[k]);
		row3(b, w, &x->d[k], &y->d[k]);
	}
	for (int k = 0; k < 3; k++)
		sb_addf(b, "| displacement %c: sd (all pairs) / sd within a study pair | %.4f / %.4f "
			"| %.4f / %.4f |\n", axis[k], x->d[k].sd, x->within[k].sd, y->d[k].sd,
			y->within[k].sd);
	row3(b, "displacement (Euclidean): median / p90 / max", &x->dist, &y->dist);
	sb_addf(b, "| ln(long later / long earlier): mean / sd / min / max | %.3f / %.3f / %.3f / "
		"%.3f | %.3f / %.3f / %.3f / %.3f |\n", x->logsize.mean, x->logsize.sd,
		x->logsize.min, x->logsize.max, y->logsize.mean, y->logsize.sd, y->logsize.min,
		y->logsize.max);
	sb_addf(b, "| long diameter mm: p10 / median / p90 | %.1f / %.1f / %.1f | %.1f / %.1f / "
		"%.1f |\n", x->long_mm.p10, x->long_mm.p50, x->long_mm.p90, y->long_mm.p10,
		y->long_mm.p50, y->long_mm.p90);
	sb_addf(b, "| slice interval mm: median; share 5 mm / <= 1.25 mm | %.2f; %.2f / %.2f | "
		"%.2f; %.2f / %.2f |\n", x->spacing_z.p50, x->share_dz5, x->share_dz1,
		y->spacing_z.p50, y->share_dz5, y->share_dz1);
	sb_addf(b, "| pixel spacing mm: p10 / median / p90 | %.3f / %.3f / %.3f | %.3f / %.3f / "
		"%.3f |\n", x->spacing_xy.p10, x->spacing_xy.p50, x->spacing_xy.p90,
		y->spacing_xy.p10, y->spacing_xy.p50, y->spacing_xy.p90);
	sb_addf(b, "| age: p10 / median / p90; share NaN | %.0f / %.0f / %.0f; %.3f | %.0f / %.0f / "
		"%.0f; %.3f |\n", x->age.p10, x->age.p50, x->age.p90, x->share_age_nan,
		y->age.p10, y->age.p50, y->age.p90, y->share_age_nan);
	sb_addf(b, "| share male (lesions) | %.3f | %.3f |\n", x->share_male, y->share_male);
	sb_addf(b, "| studies per patient; lesions per study | %.2f; %.2f | %.2f; %.2f |\n",
		x->studies_per_patient, x->lesions_per_study, y->studies_per_patient,
		y->lesions_per_study);
	for (int t = 1; t <= LESION_NTYPES; t++)
		sb_addf(b, "| %s: n; long mm median; location x, y, z medians | %zu; %.1f; %.2f, "
			"%.2f, %.2f | %zu; %.1f; %.2f, %.2f, %.2f |\n", lesion_type_name(t),
			x->type[t].n, x->type[t].long_mm, x->type[t].loc[0], x->type[t].loc[1],
			x->type[t].loc[2], y->type[t].n, y->type[t].long_mm, y->type[t].loc[0],
			y->type[t].loc[1], y->type[t].loc[2]);
}
