/* demo.c - the synthetic DeepLesion dataset generator. See demo.h.
 *
 * Called by `lesiond demo` (server/cmd_demo.c), `make run` (through tools/demo_db.sh),
 * the unit test and bench/bench_demo.c. Owns the plan (patients, studies, lesion tracks,
 * CSV rows) and the phantom bodies; writing is split over worker threads by slice, each
 * slice rendered from its own seed, so the output never depends on scheduling.
 * Load: the default 100 patients plan in well under a second; writing is ~10k slices,
 * dominated by rendering and PNG compression (see bench/bench_demo.c).
 */
#include "demo.h"
#include "image.h"
#include "phantom.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEMO_PI 3.14159265358979323846
#define DEMO_MAX_STUDIES 5
#define DEMO_MAX_TRACKS 9
#define DEMO_OUTLINE 1440	/* outline points for the RECIST measurement */
#define DEMO_CSV_MAX ((size_t)256 << 20)

struct track {
	int id, type, first, last;	/* studies first..last (1-based) */
	double rate;			/* log size change per study */
	struct phantom_lesion l;
};

struct series {
	double dz, zs;	/* slice interval, z of slice 1 (mm) */
	int n;		/* slices in the volume */
	const char *window;
	int lung;	/* window preset is a lung window */
};

struct study {
	double sp, ox, oy;
	int size, nseries, age;
	struct series se[2];
	struct phantom_lesion les[DEMO_MAX_TRACKS];
	int track[DEMO_MAX_TRACKS], lseries[DEMO_MAX_TRACKS], nles;
	double loff[3];				/* normalisation offset of the study */
	double lnoise[DEMO_MAX_TRACKS][3];	/* and of each lesion in it */
};

struct patient {
	char sex;
	int age_nan, split, nstudies, ntracks;
	struct phantom_body *body;
	struct phantom_probe *probe;	/* only while planning */
	struct track tr[DEMO_MAX_TRACKS];
	struct study st[DEMO_MAX_STUDIES];
};

struct row {
	struct lesion l;	/* as written (type -1 on train rows) */
	int true_type, track, pidx, sidx, lidx;
};

/* One written slice: patient, study, series (0-based), slice number (1-based). */
struct job {
	int p, s, se, k;
};

struct demo {
	uint64_t seed;
	int np, nrows, njobs, tracks, studies, series;
	struct patient *pat;
	struct row *rows;
	struct job *jobs;
	double plan_ms;
};

/* ---- planning ------------------------------------------------------------------ */

/* DeepLesion's type mix: 1 bone 3%, 2 abdomen 21%, 3 mediastinum 17%, 4 liver 13%,
 * 5 lung 24%, 6 kidney 6%, 7 soft tissue 7%, 8 pelvis 9%. */
static int pick_type(struct phantom_rng *r)
{
	static const double cum[8] = { 0.03, 0.24, 0.41, 0.54, 0.78, 0.84, 0.91, 1.0 };
	double u = phantom_rng_uniform(r);
	int i;

	for (i = 0; i < 8; i++)
		if (u < cum[i])
			return i + 1;
	return 8;
}

/* Long diameter range (mm) per type; sizes are log-uniform. For the types with at least
 * 10 labelled rows in the real sample (abdomen, mediastinum, liver, lung, kidney,
 * pelvis) the range is the one whose 10th and 90th percentiles are the real ones
 * (lo = p10 / (p90/p10)^(1/8), hi = lo * (p90/p10)^(5/4); docs/real_vs_demo.md); bone
 * and soft tissue (3 and 6 real rows) keep their earlier ranges. */
static const double size_lo[9] = { 0, 8, 7.4, 4.9, 4, 5.1, 5.9, 10, 8.4 };
static const double size_hi[9] = { 0, 40, 66.5, 27.4, 40.6, 33, 45.4, 50, 27.4 };

/* Follow-up motion, measured on the real radiologist-linked pairs
 * (../shared/data/deeplesion/same_lesion_pairs.csv, `lesiond realism`): the normalised
 * location of one lesion moves between two studies mostly together with the patient's
 * other lesions (the body outline and the body-part regressor that normalise it change
 * from study to study) and a little on its own. Each study gets a normalisation offset
 * per axis (sd STUDY_SD), each lesion in a study its own extra offset (sd LESION_SD), on
 * top of the phantom's physical shift; x, y, z. A pair's displacement then has sd
 * sqrt(2) x the combined sd, as measured (real sd x 0.034, y 0.049, z 0.010; within one
 * study pair x 0.013, y 0.016, z 0.005). */
static const double loc_study_sd[3] = { 0.022, 0.033, 0.0062 };
static const double loc_lesion_sd[3] = { 0.0085, 0.0099, 0.0031 };
/* Size: the per-study growth rate (log long diameter per study) and a re-measurement
 * jitter per study (RECIST drawn again by a reader), so that ln(long later / long
 * earlier) over follow-up pairs has the real sd (0.23). */
#define GROWTH_SD 0.10
#define REMEASURE_SD 0.07
/* Real ages: the sample's rows' quantiles age_q at the probabilities age_p; a patient's
 * first age is drawn from the piecewise-linear quantile function through them. */
static const double age_p[5] = { 0, 0.1, 0.5, 0.9, 1 };
static const double age_q[5] = { 18, 24, 51, 67, 88 };

/* Shape and appearance of a new lesion of a type; see phantom.c lesion_hu(). */
static void lesion_shape(struct phantom_rng *r, int type, double diam, struct phantom_lesion *l)
{
	double elong = 1, lobe = 0.05;
	int base_k = 2, i;

	memset(l, 0, sizeof(*l));
	l->type = type;
	switch (type) {
	case 1:
		l->kind = phantom_rng_uniform(r) < 0.4;
		lobe = 0.06;
		elong = phantom_rng_range(r, 1, 1.3);
		break;
	case 2:
		l->kind = diam > 35 && phantom_rng_uniform(r) < 0.6;
		lobe = 0.12;
		elong = phantom_rng_range(r, 1, 1.5);
		break;
	case 3:
		lobe = 0.025;
		elong = phantom_rng_range(r, 1.3, 1.8);
		break;
	case 4: {
		double u = phantom_rng_uniform(r);

		l->kind = u < 0.3 ? 0 : u < 0.75 ? 1 : 2;
		lobe = l->kind ? 0.06 : 0.015;
		elong = phantom_rng_range(r, 1, 1.25);
		break;
	}
	case 5: {
		double u = phantom_rng_uniform(r);

		l->kind = u < 0.7 ? 0 : u < 0.88 ? 1 : 2;
		lobe = l->kind == 0 ? 0.07 : 0.04;
		base_k = l->kind == 0 && phantom_rng_uniform(r) < 0.5 ? 7 : 2;	/* spiculated */
		elong = phantom_rng_range(r, 1, 1.2);
		break;
	}
	case 6:
		l->kind = phantom_rng_uniform(r) < 0.45;
		lobe = l->kind ? 0.07 : 0.01;
		elong = phantom_rng_range(r, 1, 1.15);
		break;
	case 7:
		lobe = 0.06;
		elong = phantom_rng_range(r, 1.4, 2.2);	/* flat along the body wall */
		break;
	case 8:
		lobe = 0.1;
		elong = phantom_rng_range(r, 1, 1.5);
		break;
	default:
		break;
	}
	l->ax[0] = diam / 2;
	l->ax[1] = diam / 2 / elong;
	l->ax[2] = fmax((l->ax[0] + l->ax[1]) / 2 * phantom_rng_range(r, 0.7, 1.2), 2.5);
	l->rot = phantom_rng_range(r, 0, DEMO_PI);
	l->tilt[0] = phantom_rng_range(r, -0.15, 0.15);
	l->tilt[1] = phantom_rng_range(r, -0.15, 0.15);
	for (i = 0; i < PHANTOM_LOBES; i++) {
		l->lobe_k[i] = base_k + i + (base_k > 2 ? i : 0);
		l->lobe_amp[i] = lobe * phantom_rng_range(r, 0.3, 1.0) / (1 + 0.3 * i);
		l->lobe_ph[i] = phantom_rng_range(r, 0, 2 * DEMO_PI);
	}
	l->tex_seed = phantom_rng_next(r);
}

/* Is tissue t an acceptable host for lesion type `type`? center: the centre point. */
static int host_ok(int type, int t, int center)
{
	switch (type) {
	case 1:
		return t == PH_MARROW || (!center && t == PH_CORTEX);
	case 2:
		return center ? t == PH_FAT_VIS || t == PH_BOWEL_WALL || t == PH_BOWEL_FLUID :
		       t == PH_FAT_VIS || t == PH_BOWEL_WALL || t == PH_BOWEL_FLUID ||
		       t == PH_BOWEL_AIR || t == PH_CONTRAST || t == PH_MUSCLE || t == PH_BLOOD;
	case 3:
		return center ? t == PH_FAT_VIS : t == PH_FAT_VIS || t == PH_BLOOD || t == PH_MYO;
	case 4:
		return t == PH_LIVER || t == PH_LIVER_VESSEL;
	case 5:
		return t == PH_LUNG || t == PH_LUNG_VESSEL;
	case 6:
		return center ? t == PH_KIDNEY : t == PH_KIDNEY || t == PH_FAT_VIS;
	case 7:
		return center ? t == PH_FAT_SC || t == PH_MUSCLE :
		       t == PH_FAT_SC || t == PH_MUSCLE || t == PH_SKIN || t == PH_BREAST;
	case 8:
		return center ? t == PH_FAT_VIS : t == PH_FAT_VIS || t == PH_BOWEL_WALL ||
		       t == PH_BOWEL_FLUID || t == PH_MUSCLE || t == PH_BLOOD || t == PH_FLUID;
	default:
		return 0;
	}
}

/* Does the lesion sit in its host? Checks the centre, 8 points around the outline of
 * the central section and the two poles; allows one miss (two for bone). */
static int placed_ok(struct phantom_probe *b, const struct phantom_lesion *l)
{
	int i, miss = 0, t;

	if (!host_ok(l->type, phantom_probe_tissue(b, l->c[0], l->c[1], l->c[2]), 1))
		return 0;
	for (i = 0; i < 8; i++) {
		double x, y;

		phantom_lesion_point(l, l->c[2], 2 * DEMO_PI * i / 8, &x, &y);
		t = phantom_probe_tissue(b, x, y, l->c[2]);
		miss += !host_ok(l->type, t, 0);
		if (t == PH_AIR)
			return 0;
	}
	for (i = -1; i <= 1; i += 2) {
		double z = l->c[2] + i * l->ax[2] * 0.9;

		miss += !host_ok(l->type, phantom_probe_tissue(b, l->c[0] + l->tilt[0] * (z - l->c[2]),
							    l->c[1] + l->tilt[1] * (z - l->c[2]), z), 0);
	}
	return miss <= (l->type == 1 ? 2 : 1);
}

static int overlaps(const struct patient *p, int n, const struct phantom_lesion *l)
{
	int i;

	for (i = 0; i < n; i++) {
		const struct phantom_lesion *o = &p->tr[i].l;
		double dx = o->c[0] - l->c[0], dy = o->c[1] - l->c[1], dz = o->c[2] - l->c[2];
		double rl = l->ax[0] * phantom_lesion_reach(l) * 1.6;	/* room to grow */
		double ro = o->ax[0] * phantom_lesion_reach(o) * 1.6;

		if (fabs(dz) < l->ax[2] * 1.6 + o->ax[2] * 1.6 + 2 &&
		    sqrt(dx * dx + dy * dy) < rl + ro + 4)
			return 1;
	}
	return 0;
}

/* Place a track's lesion: rejection sampling in the type's region. same_z: put it at
 * that z (several lesions on one slice), or NAN; a same_z outside the type's z range is
 * ignored, so a lesion never leaves its type's region (a "mediastinum" lesion beside a
 * kidney lesion would carry a label its anatomy contradicts). Returns 0 or -1 (no room
 * found). */
static int place(struct phantom_rng *r, const struct patient *p, int n, int type,
		 double same_z, struct phantom_lesion *l)
{
	double lo[3], hi[3], diam;
	int round, tries;

	phantom_body_region(p->body, type, lo, hi);
	if (!isnan(same_z) && (same_z - 1 < lo[2] || same_z + 1 > hi[2]))
		same_z = NAN;
	diam = exp(phantom_rng_range(r, log(size_lo[type]), log(size_hi[type])));
	for (round = 0; round < 3; round++, diam = fmax(diam * 0.7, size_lo[type])) {
		lesion_shape(r, type, diam, l);
		for (tries = 0; tries < 150; tries++) {
			l->c[0] = phantom_rng_range(r, lo[0], hi[0]);
			l->c[1] = phantom_rng_range(r, lo[1], hi[1]);
			l->c[2] = isnan(same_z) || tries > 100 ? phantom_rng_range(r, lo[2], hi[2]) :
				  same_z + phantom_rng_range(r, -1, 1);
			if (!overlaps(p, n, l) && placed_ok(p->probe, l))
				return 0;
		}
	}
	return -1;
}

/* Slice interval of a series: mostly 5 mm, some 2.5 mm, a few 1 and 2 mm (each lesion
 * brings about 60 mm of slices, so thin series cost most of the writing time). */
static double pick_dz(struct phantom_rng *r)
{
	double u = phantom_rng_uniform(r);

	return u < 0.78 ? 5 : u < 0.92 ? 2.5 : u < 0.95 ? 2 : 1;
}

static const char *const soft_windows[] = { "-175, 275", "-175, 275", "-175, 275",
					     "-160, 240", "-185, 265" };
static const char *const lung_windows[] = { "-1500, 500", "-1500, 500", "-1350, 150",
					     "-1400, 200" };

static void plan_study(struct phantom_rng *r, const struct patient *p, struct study *st)
{
	double half = phantom_body_halfwidth(p->body), fov, zend = phantom_body_zend(p->body);
	int i;

	st->size = phantom_rng_uniform(r) < 0.03 ? 768 : 512;
	/* field of view: the body plus a margin, spacing 0.6-0.98 mm */
	fov = phantom_rng_range(r, fmax(2 * half + 25, 0.6 * st->size),
				fmax(2 * half + 26, 0.98 * st->size * 0.999));
	fov = fmin(fov, 0.98 * st->size);
	st->sp = floor(fov) / st->size;
	st->ox = phantom_rng_range(r, -12, 12);
	st->oy = phantom_rng_range(r, -8, 14);
	st->nseries = phantom_rng_uniform(r) < 0.15 ? 2 : 1;
	for (i = 0; i < st->nseries; i++) {
		struct series *se = &st->se[i];
		double zs = phantom_rng_range(r, -45, -20), ze = zend - phantom_rng_range(r, 0, 10);

		se->dz = i == 1 ? (phantom_rng_uniform(r) < 0.3 ? 1 : 2.5) : pick_dz(r);
		se->zs = zs;
		se->n = (int)floor((ze - zs) / se->dz) + 1;
	}
}

/* The physical lesion of a track in one study: scaled, slightly shifted; the shift is
 * resampled until the key slice cuts the lesion through its middle half or so, as a
 * radiologist picks the slice where the lesion is largest. */
static void instance(struct phantom_rng *r, const struct track *t, int s,
		     const struct series *se, struct phantom_lesion *l)
{
	double g = exp(t->rate * (s - t->first) + phantom_rng_normal(r) * REMEASURE_SD), zk;
	int i, tries;

	*l = t->l;
	g = fmin(fmax(g, 0.45), 2.2);
	if (l->ax[0] * 2 * g > 80)
		g = 80 / (l->ax[0] * 2);
	if (l->ax[0] * 2 * g < 4)
		g = 4 / (l->ax[0] * 2);
	for (i = 0; i < 3; i++)
		l->ax[i] *= g;
	l->ax[2] = fmax(l->ax[2], 2.5);
	for (tries = 0; tries < 40; tries++) {
		l->c[0] = t->l.c[0] + phantom_rng_normal(r) * 1.5;
		l->c[1] = t->l.c[1] + phantom_rng_normal(r) * 1.5;
		l->c[2] = t->l.c[2] + phantom_rng_range(r, -3, 3);
		zk = se->zs + se->dz * floor((l->c[2] - se->zs) / se->dz + 0.5);
		if (phantom_lesion_scale(l, zk) >= 0.75)
			return;
	}
	l->c[2] = se->zs + se->dz * floor((l->c[2] - se->zs) / se->dz + 0.5);
}

static int plan_patient(struct demo *d, int pi, char *err)
{
	struct patient *p = &d->pat[pi];
	struct phantom_rng r;
	double u, year = 0;
	int s, i, ntr;

	phantom_rng_seed(&r, phantom_hash(d->seed, 0x70a71e47, (uint64_t)pi, 0));
	p->sex = phantom_rng_uniform(&r) < 0.52 ? 'M' : 'F';
	p->age_nan = phantom_rng_uniform(&r) < 0.04;
	u = phantom_rng_uniform(&r);
	p->split = u < 0.7 ? 1 : u < 0.85 ? 2 : 3;
	u = phantom_rng_uniform(&r);
	p->nstudies = u < 0.3 ? 1 : u < 0.55 ? 2 : u < 0.75 ? 3 : u < 0.9 ? 4 : 5;
	if (phantom_body_create(phantom_rng_next(&r), p->sex, &p->body, err) ||
	    phantom_probe_create(p->body, &p->probe, err))
		return -1;
	/* tracks */
	ntr = 1 + (int)(phantom_rng_uniform(&r) * 7.0);
	p->ntracks = 0;
	for (i = 0; i < ntr; i++) {
		struct track *t = &p->tr[p->ntracks];
		int type = pick_type(&r);
		double same_z = NAN;

		/* lesions cluster: some on the same slice as another, some near it */
		u = phantom_rng_uniform(&r);
		if (p->ntracks > 0 && u < 0.45)
			same_z = p->tr[(int)(phantom_rng_uniform(&r) * p->ntracks)].l.c[2] +
				 (u < 0.25 ? 0 : phantom_rng_range(&r, -25, 25));
		if (place(&r, p, p->ntracks, type, same_z, &t->l))
			continue;	/* no room for this one: fewer lesions */
		t->type = type;
		t->rate = phantom_rng_normal(&r) * GROWTH_SD;
		t->first = phantom_rng_uniform(&r) < 0.8 ? 1 : 1 + (int)(phantom_rng_uniform(&r) * p->nstudies);
		t->last = phantom_rng_uniform(&r) < 0.85 ? p->nstudies :
			  t->first + (int)(phantom_rng_uniform(&r) * (p->nstudies - t->first + 1));
		t->id = ++d->tracks;
		p->ntracks++;
	}
	phantom_probe_destroy(p->probe);
	p->probe = NULL;
	/* studies */
	{
		double ua = phantom_rng_uniform(&r);
		int qa = ua < age_p[1] ? 0 : ua < age_p[2] ? 1 : ua < age_p[3] ? 2 : 3;
		int age0 = (int)(age_q[qa] + (ua - age_p[qa]) / (age_p[qa + 1] - age_p[qa]) *
				 (age_q[qa + 1] - age_q[qa]));

		for (s = 0; s < p->nstudies; s++) {
			struct study *st = &p->st[s];
			int nlung = 0, n = 0;

			if (s > 0)
				year += phantom_rng_range(&r, 0.15, 1.6);
			st->age = age0 + (int)year;
			plan_study(&r, p, st);
			for (i = 0; i < 3; i++)
				st->loff[i] = phantom_rng_normal(&r) * loc_study_sd[i];
			st->nles = 0;
			for (i = 0; i < p->ntracks; i++) {
				const struct track *t = &p->tr[i];

				if (s + 1 < t->first || s + 1 > t->last)
					continue;
				n++;
				nlung += t->type == 5;
			}
			/* two series: soft-tissue and a thin lung/bone reconstruction */
			st->se[0].lung = st->nseries == 1 && n > 0 && 2 * nlung > n &&
					 phantom_rng_uniform(&r) < 0.85;
			st->se[1].lung = 1;
			for (i = 0; i < st->nseries; i++) {
				struct series *se = &st->se[i];

				se->window = se->lung ?
					lung_windows[phantom_rng_next(&r) % LSD_ARRAY_LEN(lung_windows)] :
					soft_windows[phantom_rng_next(&r) % LSD_ARRAY_LEN(soft_windows)];
			}
			for (i = 0; i < p->ntracks; i++) {
				const struct track *t = &p->tr[i];
				int se;

				if (s + 1 < t->first || s + 1 > t->last)
					continue;
				se = st->nseries == 2 && (t->type == 5 || phantom_rng_uniform(&r) < 0.2);
				st->lseries[st->nles] = se;
				st->track[st->nles] = i;
				instance(&r, t, s + 1, &st->se[se], &st->les[st->nles]);
				for (int k = 0; k < 3; k++)
					st->lnoise[st->nles][k] = phantom_rng_normal(&r) * loc_lesion_sd[k];
				st->nles++;
			}
			d->studies++;
			d->series += st->nseries;
		}
	}
	return 0;
}

/* ---- RECIST on the true outline -------------------------------------------------- */

/* Outline point at frame angle t, in 1-based pixel coordinates of the study. */
static void px_point(const struct phantom_lesion *l, double z, double t, const struct study *st,
		     double *u, double *v)
{
	double x, y;

	phantom_lesion_point(l, z, t, &x, &y);
	*u = (x - st->ox) / st->sp + st->size / 2.0 + 0.5;
	*v = (y - st->oy) / st->sp + st->size / 2.0 + 0.5;
}

static double dist2(double ax, double ay, double bx, double by)
{
	return (ax - bx) * (ax - bx) + (ay - by) * (ay - by);
}

/* Long axis: the farthest pair of outline points (coarse search, then refined on the
 * continuous outline). Short axis: among lines perpendicular to it, the longest span
 * between the outline's first and last crossing. Out: recist[8], diam[2]. */
static void measure(const struct phantom_lesion *l, double z, const struct study *st,
		    double *rc, double *diam)
{
	static const int n = DEMO_OUTLINE, coarse = 4;
	double *pu = malloc(sizeof(double) * 2 * n), best = -1, ta, tb, step;
	double ux, uy, nx, ny, L, bestw = -1, bt = 0, lo_s = 0, hi_s = 0;
	int i, j, ia = 0, ib = 0, it;

	if (!pu) {
		memset(rc, 0, 8 * sizeof(*rc));
		diam[0] = diam[1] = 0;
		return;
	}
	for (i = 0; i < n; i++)
		px_point(l, z, 2 * DEMO_PI * i / n, st, &pu[2 * i], &pu[2 * i + 1]);
	for (i = 0; i < n; i += coarse)
		for (j = i + coarse; j < n; j += coarse) {
			double d2 = dist2(pu[2 * i], pu[2 * i + 1], pu[2 * j], pu[2 * j + 1]);

			if (d2 > best) {
				best = d2;
				ia = i;
				ib = j;
			}
		}
	ta = 2 * DEMO_PI * ia / n;
	tb = 2 * DEMO_PI * ib / n;
	for (step = 2 * DEMO_PI * coarse / n; step > 1e-9; step *= 0.5)
		for (it = 0; it < 4; it++) {
			int moved = 0, e, sgn;

			for (e = 0; e < 2; e++)
				for (sgn = -1; sgn <= 1; sgn += 2) {
					double t1 = ta + (e == 0 ? sgn * step : 0);
					double t2 = tb + (e == 1 ? sgn * step : 0), a1, a2, b1, b2;

					px_point(l, z, t1, st, &a1, &a2);
					px_point(l, z, t2, st, &b1, &b2);
					if (dist2(a1, a2, b1, b2) > best) {
						best = dist2(a1, a2, b1, b2);
						ta = t1;
						tb = t2;
						moved = 1;
					}
				}
			if (!moved)
				break;
		}
	px_point(l, z, ta, st, &rc[0], &rc[1]);
	px_point(l, z, tb, st, &rc[2], &rc[3]);
	L = sqrt(dist2(rc[0], rc[1], rc[2], rc[3]));
	ux = (rc[2] - rc[0]) / L;
	uy = (rc[3] - rc[1]) / L;
	nx = -uy;
	ny = ux;
	/* perpendicular spans; the outline polygon is fine enough (1440 points) that its
	 * crossings lie on the true outline to well under 0.001 px */
	for (it = 0; it < 2; it++) {
		double t0 = it ? bt - L / 200 : 0, t1 = it ? bt + L / 200 : L;
		int steps = 400, k;

		for (k = 0; k <= steps; k++) {
			double t = t0 + (t1 - t0) * k / steps, mx = rc[0] + ux * t, my = rc[1] + uy * t;
			double smin = 1e30, smax = -1e30;

			for (i = 0; i < n; i++) {
				int i2 = (i + 1) % n;
				double ax = pu[2 * i] - mx, ay = pu[2 * i + 1] - my;
				double bx = pu[2 * i2] - mx, by = pu[2 * i2 + 1] - my;
				double da = ax * ux + ay * uy, db = bx * ux + by * uy, f, s;

				if ((da > 0) == (db > 0) || da == db)
					continue;
				f = da / (da - db);
				s = (ax + (bx - ax) * f) * nx + (ay + (by - ay) * f) * ny;
				smin = fmin(smin, s);
				smax = fmax(smax, s);
			}
			if (smax > smin && smax - smin > bestw) {
				bestw = smax - smin;
				bt = t;
				lo_s = smin;
				hi_s = smax;
			}
		}
	}
	rc[4] = rc[0] + ux * bt + nx * lo_s;
	rc[5] = rc[1] + uy * bt + ny * lo_s;
	rc[6] = rc[0] + ux * bt + nx * hi_s;
	rc[7] = rc[1] + uy * bt + ny * hi_s;
	diam[0] = L;
	diam[1] = sqrt(dist2(rc[4], rc[5], rc[6], rc[7]));
	free(pu);
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->l.patient != y->l.patient)
		return x->l.patient - y->l.patient;
	if (x->l.study != y->l.study)
		return x->l.study - y->l.study;
	if (x->l.series != y->l.series)
		return x->l.series - y->l.series;
	if (x->l.key_slice != y->l.key_slice)
		return x->l.key_slice - y->l.key_slice;
	return x->lidx - y->lidx;
}

static void fill_row(const struct demo *d, int pi, int si, int li, struct row *rw)
{
	const struct patient *p = &d->pat[pi];
	const struct study *st = &p->st[si];
	const struct phantom_lesion *l = &st->les[li];
	const struct series *se = &st->se[st->lseries[li]];
	const struct track *t = &p->tr[st->track[li]];
	struct lesion *x = &rw->l;
	double zk, bx0, bx1, by0, by1, cx, cy;
	int k, i;

	memset(rw, 0, sizeof(*rw));
	k = (int)floor((l->c[2] - se->zs) / se->dz + 0.5) + 1;
	k = LSD_MAX(1, LSD_MIN(k, se->n));
	zk = se->zs + (k - 1) * se->dz;
	x->patient = pi + 1;
	x->study = si + 1;
	x->series = st->lseries[li] + 1;
	x->key_slice = k;
	snprintf(x->file_name, sizeof(x->file_name), "%06d_%02d_%02d_%03d.png", x->patient,
		 x->study, x->series, k);
	measure(l, zk, st, x->recist, x->diam_px);
	x->bbox[0] = x->bbox[2] = x->recist[0];
	x->bbox[1] = x->bbox[3] = x->recist[1];
	for (i = 1; i < 4; i++) {
		x->bbox[0] = fmin(x->bbox[0], x->recist[2 * i]);
		x->bbox[2] = fmax(x->bbox[2], x->recist[2 * i]);
		x->bbox[1] = fmin(x->bbox[1], x->recist[2 * i + 1]);
		x->bbox[3] = fmax(x->bbox[3], x->recist[2 * i + 1]);
	}
	x->bbox[0] -= 5;
	x->bbox[1] -= 5;
	x->bbox[2] += 5;
	x->bbox[3] += 5;
	/* normalised location: box centre relative to the body's skin box, z from anatomy */
	phantom_body_extent(p->body, zk, &bx0, &bx1, &by0, &by1);
	cx = ((x->bbox[0] + x->bbox[2]) / 2 - 0.5 - st->size / 2.0) * st->sp + st->ox;
	cy = ((x->bbox[1] + x->bbox[3]) / 2 - 0.5 - st->size / 2.0) * st->sp + st->oy;
	x->loc[0] = (cx - bx0) / (bx1 - bx0);
	x->loc[1] = (cy - by0) / (by1 - by0);
	x->loc[2] = phantom_body_znorm(p->body, zk);
	for (i = 0; i < 3; i++)		/* normalisation error: see loc_study_sd */
		x->loc[i] = fmin(fmax(x->loc[i] + st->loff[i] + st->lnoise[li][i], 0), 1);
	x->type = p->split == 1 ? -1 : t->type;
	x->noisy = 0;
	x->slice_range[0] = LSD_MAX(1, k - (int)floor(30 / se->dz + 0.5));
	x->slice_range[1] = LSD_MIN(se->n, k + (int)floor(30 / se->dz + 0.5));
	x->spacing[0] = x->spacing[1] = st->sp;
	x->spacing[2] = se->dz;
	x->image_size[0] = x->image_size[1] = st->size;
	sscanf(se->window, "%lf, %lf", &x->window[0], &x->window[1]);
	x->gender = p->sex;
	x->age = p->age_nan ? NAN : st->age;
	x->split = p->split;
	rw->true_type = t->type;
	rw->track = t->id;
	rw->pidx = pi;
	rw->sidx = si;
	rw->lidx = li;
}

/* Merge each series' ±30 mm ranges where they touch (DeepLesion's Slice_range is the
 * released block of slices the lesion lies in) and list the slices to write. */
static int merge_ranges(struct demo *d, char *err)
{
	int a = 0, cap = 1024;

	d->jobs = malloc((size_t)cap * sizeof(*d->jobs));
	if (!d->jobs)
		return errf(err, "demo: out of memory");
	while (a < d->nrows) {
		int b = a, lo, hi, c, k;

		/* rows a..b-1 share patient/study/series and sorted keys */
		while (b < d->nrows && d->rows[b].l.patient == d->rows[a].l.patient &&
		       d->rows[b].l.study == d->rows[a].l.study &&
		       d->rows[b].l.series == d->rows[a].l.series)
			b++;
		for (c = a; c < b;) {
			int e = c + 1;

			lo = d->rows[c].l.slice_range[0];
			hi = d->rows[c].l.slice_range[1];
			while (e < b && d->rows[e].l.slice_range[0] <= hi + 1) {
				lo = LSD_MIN(lo, d->rows[e].l.slice_range[0]);
				hi = LSD_MAX(hi, d->rows[e].l.slice_range[1]);
				e++;
			}
			for (k = c; k < e; k++) {
				d->rows[k].l.slice_range[0] = lo;
				d->rows[k].l.slice_range[1] = hi;
			}
			for (k = lo; k <= hi; k++) {
				struct job *j;

				if (d->njobs == cap) {
					struct job *nj = realloc(d->jobs, (size_t)cap * 2 * sizeof(*nj));

					if (!nj)
						return errf(err, "demo: out of memory");
					d->jobs = nj;
					cap *= 2;
				}
				j = &d->jobs[d->njobs++];
				j->p = d->rows[c].pidx;
				j->s = d->rows[c].sidx;
				j->se = d->rows[c].l.series - 1;
				j->k = k;
			}
			c = e;
		}
		a = b;
	}
	return 0;
}

int demo_create(int patients, uint64_t seed, struct demo **out, char *err)
{
	struct demo *d = NULL;
	double t0 = now_ms();
	int i, s, k, n = 0, rc = -1;

	*out = NULL;
	if (patients < 1 || patients > DEMO_MAX_PATIENTS)
		return errf(err, "demo: patients must be 1..%d", DEMO_MAX_PATIENTS);
	d = calloc(1, sizeof(*d));
	if (!d || !(d->pat = calloc((size_t)patients, sizeof(*d->pat)))) {
		errf(err, "demo: out of memory");
		goto out;
	}
	d->seed = seed;
	d->np = patients;
	for (i = 0; i < patients; i++)
		if (plan_patient(d, i, err))
			goto out;
	for (i = 0; i < patients; i++)
		for (s = 0; s < d->pat[i].nstudies; s++)
			n += d->pat[i].st[s].nles;
	d->rows = calloc((size_t)(n ? n : 1), sizeof(*d->rows));
	if (!d->rows) {
		errf(err, "demo: out of memory");
		goto out;
	}
	for (i = 0; i < patients; i++)
		for (s = 0; s < d->pat[i].nstudies; s++)
			for (k = 0; k < d->pat[i].st[s].nles; k++) {
				struct row *rw = &d->rows[d->nrows];

				/* A lesion beyond its series' last (or before its first) slice is
				 * not cut by the clamped key slice: nothing to measure (the
				 * diameters would be 0 and NaN). Not visible, so not bookmarked,
				 * as a reader would not; its track goes on in the other studies.
				 * Rows of other lesions are unchanged (seed 9602, 150 patients). */
				fill_row(d, i, s, k, rw);
				if (rw->l.diam_px[0] > 0 && isfinite(rw->l.diam_px[0]) &&
				    isfinite(rw->l.diam_px[1]))
					d->nrows++;
			}
	qsort(d->rows, (size_t)d->nrows, sizeof(*d->rows), row_cmp);
	for (i = 0; i < d->nrows; i++)
		d->rows[i].l.id = i + 1;
	if (merge_ranges(d, err))
		goto out;
	d->plan_ms = now_ms() - t0;
	*out = d;
	d = NULL;
	rc = 0;
out:
	demo_destroy(d);
	return rc;
}

void demo_destroy(struct demo *d)
{
	int i;

	if (!d)
		return;
	for (i = 0; d->pat && i < d->np; i++) {
		phantom_probe_destroy(d->pat[i].probe);
		phantom_body_destroy(d->pat[i].body);
	}
	free(d->pat);
	free(d->rows);
	free(d->jobs);
	free(d);
}

/* ---- output -------------------------------------------------------------------- */

/* %g with 6 significant digits, as DeepLesion prints its floats. */
static void add_list(struct sb *b, const double *v, int n)
{
	int i;

	sb_addc(b, '"');
	for (i = 0; i < n; i++)
		sb_addf(b, "%s%g", i ? ", " : "", v[i]);
	sb_addc(b, '"');
}

static int write_csv(const struct demo *d, const char *dir, char *err)
{
	struct sb b, g;
	char path[4096];
	int i, rc = -1;

	sb_init(&b, DEMO_CSV_MAX);
	sb_init(&g, DEMO_CSV_MAX);
	sb_adds(&b, "File_name,Patient_index,Study_index,Series_ID,Key_slice_index,"
		"Measurement_coordinates,Bounding_boxes,Lesion_diameters_Pixel_,"
		"Normalized_lesion_location,Coarse_lesion_type,Possibly_noisy,Slice_range,"
		"Spacing_mm_px_,Image_size,DICOM_windows,Patient_gender,Patient_age,"
		"Train_Val_Test\n");
	sb_adds(&g, "lesion_id,patient,study,true_type,track_id\n");
	for (i = 0; i < d->nrows; i++) {
		const struct row *r = &d->rows[i];
		const struct lesion *x = &r->l;
		const struct study *st = &d->pat[r->pidx].st[r->sidx];
		double rng[2] = { x->slice_range[0], x->slice_range[1] };
		double size[2] = { x->image_size[0], x->image_size[1] };

		sb_addf(&b, "%s,%d,%d,%d,%d,", x->file_name, x->patient, x->study, x->series,
			x->key_slice);
		add_list(&b, x->recist, 8);
		sb_addc(&b, ',');
		add_list(&b, x->bbox, 4);
		sb_addc(&b, ',');
		add_list(&b, x->diam_px, 2);
		sb_addc(&b, ',');
		add_list(&b, x->loc, 3);
		sb_addf(&b, ",%d,%d,", x->type, x->noisy);
		add_list(&b, rng, 2);
		sb_addc(&b, ',');
		add_list(&b, x->spacing, 3);
		sb_addc(&b, ',');
		add_list(&b, size, 2);
		sb_addf(&b, ",\"%s\",%c,", st->se[x->series - 1].window, x->gender);
		if (isnan(x->age))
			sb_adds(&b, "NaN");
		else
			sb_addf(&b, "%d", (int)x->age);
		sb_addf(&b, ",%d\n", x->split);
		sb_addf(&g, "%d,%d,%d,%d,%d\n", i + 1, x->patient, x->study, r->true_type,
			r->track);
	}
	if (b.oom || g.oom) {
		errf(err, "demo: CSV larger than %zu bytes", (size_t)DEMO_CSV_MAX);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/DL_info.csv", dir);
	if (file_write_atomic_nosync(path, b.p, b.len, err))
		goto out;
	snprintf(path, sizeof(path), "%s/ground_truth.csv", dir);
	if (file_write_atomic_nosync(path, g.p, g.len, err))
		goto out;
	rc = 0;
out:
	sb_free(&b);
	sb_free(&g);
	return rc;
}

struct writer {
	const struct demo *d;
	const char *dir;
	int level, next, failed;
	pthread_mutex_t mu;
	char err[LSD_ERRLEN];
};

static int render_job(const struct demo *d, const struct job *j, int16_t *hu, uint8_t *lab,
		      char *err)
{
	const struct patient *p = &d->pat[j->p];
	const struct study *st = &p->st[j->s];
	const struct series *se = &st->se[j->se];
	struct phantom_view v;

	v.w = v.h = st->size;
	v.sp = st->sp;
	v.ox = st->ox;
	v.oy = st->oy;
	v.z = se->zs + (j->k - 1) * se->dz;
	return phantom_render(p->body, st->les, st->nles, &v,
			      phantom_hash(d->seed, (uint64_t)j->p, (uint64_t)(j->s * 10 + j->se),
					   (uint64_t)j->k),
			      hu, lab, err);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	int16_t *hu = malloc(sizeof(int16_t) * 768 * 768);
	uint16_t *px = malloc(sizeof(uint16_t) * 768 * 768);
	char err[LSD_ERRLEN];

	if (!hu || !px) {
		pthread_mutex_lock(&w->mu);
		if (!w->failed)
			errf(w->err, "demo: out of memory");
		w->failed = 1;
		pthread_mutex_unlock(&w->mu);
	}
	for (;;) {
		const struct job *j;
		char path[4096];
		int i, n, rc;

		pthread_mutex_lock(&w->mu);
		i = w->failed || !hu || !px ? w->d->njobs : w->next++;
		pthread_mutex_unlock(&w->mu);
		if (i >= w->d->njobs)
			break;
		j = &w->d->jobs[i];
		rc = render_job(w->d, j, hu, NULL, err);
		if (!rc) {
			int size = w->d->pat[j->p].st[j->s].size, q;

			n = size * size;
			for (q = 0; q < n; q++)
				px[q] = (uint16_t)(hu[q] + IMAGE_HU_OFFSET);
			snprintf(path, sizeof(path), "%s/Images_png/%06d_%02d_%02d/%03d.png", w->dir,
				 j->p + 1, j->s + 1, j->se + 1, j->k);
			rc = image_write_png16_file(path, px, size, size, w->level, err);
		}
		if (rc) {
			pthread_mutex_lock(&w->mu);
			if (!w->failed)
				memcpy(w->err, err, LSD_ERRLEN);
			w->failed = 1;
			pthread_mutex_unlock(&w->mu);
		}
	}
	free(hu);
	free(px);
	return NULL;
}

int demo_write(const struct demo *d, const char *dir, int threads, int png_level,
	       struct demo_stats *st, char *err)
{
	struct writer w;
	pthread_t tid[16];
	char path[4096];
	double t0 = now_ms();
	int i, started = 0;

	if (threads < 1)
		threads = 1;
	if (threads > 16)
		threads = 16;
	for (i = 0; i < d->nrows; i++) {	/* one directory per series */
		const struct lesion *x = &d->rows[i].l;

		if (i && x->patient == d->rows[i - 1].l.patient &&
		    x->study == d->rows[i - 1].l.study && x->series == d->rows[i - 1].l.series)
			continue;
		snprintf(path, sizeof(path), "%s/Images_png/%06d_%02d_%02d", dir, x->patient,
			 x->study, x->series);
		if (mkdir_p(path, err))
			return -1;
	}
	memset(&w, 0, sizeof(w));
	w.d = d;
	w.dir = dir;
	w.level = png_level;
	pthread_mutex_init(&w.mu, NULL);
	for (i = 0; i < threads; i++) {
		if (pthread_create(&tid[i], NULL, writer_main, &w))
			break;
		started++;
	}
	if (!started)
		writer_main(&w);
	for (i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	pthread_mutex_destroy(&w.mu);
	if (w.failed)
		return errf(err, "%s", w.err);
	if (write_csv(d, dir, err))
		return -1;
	if (st) {
		demo_stats_get(d, st);
		st->write_ms = now_ms() - t0;
	}
	return 0;
}

int demo_write_csv(const struct demo *d, const char *dir, char *err)
{
	if (mkdir_p(dir, err))
		return -1;
	return write_csv(d, dir, err);
}

void demo_stats_get(const struct demo *d, struct demo_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->patients = d->np;
	st->studies = d->studies;
	st->series = d->series;
	st->lesions = d->nrows;
	st->tracks = d->tracks;
	st->slices = d->njobs;
	st->plan_ms = d->plan_ms;
}

int demo_nrows(const struct demo *d)
{
	return d->nrows;
}

int demo_row(const struct demo *d, int id, struct lesion *out)
{
	if (id < 1 || id > d->nrows)
		return -1;
	*out = d->rows[id - 1].l;
	lesion_derive(out);
	return 0;
}

int demo_row_truth(const struct demo *d, int id, int *type, int *track)
{
	if (id < 1 || id > d->nrows)
		return -1;
	*type = d->rows[id - 1].true_type;
	*track = d->rows[id - 1].track;
	return 0;
}

int demo_row_mask(const struct demo *d, int id, uint8_t **mask, int *w, int *h, char *err)
{
	const struct row *r;
	struct job j;
	int16_t *hu = NULL;
	uint8_t *lab = NULL;
	int n, q, rc = -1;

	*mask = NULL;
	if (id < 1 || id > d->nrows)
		return errf(err, "demo: no row %d", id);
	r = &d->rows[id - 1];
	j.p = r->pidx;
	j.s = r->sidx;
	j.se = r->l.series - 1;
	j.k = r->l.key_slice;
	n = r->l.image_size[0] * r->l.image_size[1];
	hu = malloc(sizeof(*hu) * (size_t)n);
	lab = malloc((size_t)n);
	if (!hu || !lab) {
		errf(err, "demo: out of memory");
		goto out;
	}
	if (render_job(d, &j, hu, lab, err))
		goto out;
	for (q = 0; q < n; q++)
		lab[q] = lab[q] == PHANTOM_LESION_LABEL + r->lidx ? 1 :
			 lab[q] >= PHANTOM_LESION_LABEL ? 2 : 0;
	*mask = lab;
	lab = NULL;
	*w = r->l.image_size[0];
	*h = r->l.image_size[1];
	rc = 0;
out:
	free(hu);
	free(lab);
	return rc;
}
