/* phantom.c - the procedural CT phantom behind `lesiond demo`. See phantom.h.
 *
 * Called by demo.c once per patient (phantom_body_create), a few hundred times per
 * lesion while placing it (phantom_tissue_at) and once per written slice
 * (phantom_render, from two worker threads). Owns nothing global: all state is in the
 * body (read-only after creation) or in per-call scratch buffers.
 *
 * Anatomy is described at one z as a list of 2-D primitives (ellipse sections of organs,
 * superellipse body layers, bone bars, vessel-tube crossings), painted in order into a
 * label map. Later primitives win; a primitive may be restricted to paint only over one
 * label (vessels only over lung or liver, bowel only over abdominal fat) and only above
 * a y limit (air over fluid in bowel and stomach). The same list answers point queries,
 * so lesion placement sees exactly the anatomy that is rendered. Sizes and HU follow
 * textbook adult contrast-enhanced (portal venous) CT.
 */
#include "phantom.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PH_PI 3.14159265358979323846
#define PH_MAXPRIM 4096
#define PH_NOISE_SD 36.0	/* white noise before the 3x3 blur: about 13.5 HU after */

/* ---- PRNG --------------------------------------------------------------------- */

void phantom_rng_seed(struct phantom_rng *r, uint64_t seed)
{
	rng_seed(&r->g, seed);
}

uint64_t phantom_rng_next(struct phantom_rng *r)
{
	return rng_next(&r->g);
}

double phantom_rng_uniform(struct phantom_rng *r)
{
	return rng_uniform(&r->g);
}

double phantom_rng_range(struct phantom_rng *r, double lo, double hi)
{
	return lo + (hi - lo) * rng_uniform(&r->g);
}

double phantom_rng_normal(struct phantom_rng *r)
{
	return rng_normal(&r->g);
}

uint64_t phantom_hash(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint64_t x = a, h;

	h = rng_splitmix64(&x);
	x = h ^ b;
	h = rng_splitmix64(&x);
	x = h ^ c;
	h = rng_splitmix64(&x);
	x = h ^ d;
	return rng_splitmix64(&x);
}

/* Smooth 3-D value noise in [-1, 1] on a unit lattice. */
static double lattice(uint64_t seed, int x, int y, int z)
{
	uint64_t h = seed ^ ((uint64_t)(uint32_t)x * 0x9e3779b97f4a7c15ULL) ^
		     ((uint64_t)(uint32_t)y * 0xc2b2ae3d27d4eb4fULL) ^
		     ((uint64_t)(uint32_t)z * 0x165667b19e3779f9ULL);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (double)(h >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static double vnoise3(uint64_t seed, double x, double y, double z)
{
	double fx = floor(x), fy = floor(y), fz = floor(z);
	int ix = (int)fx, iy = (int)fy, iz = (int)fz;
	double tx = x - fx, ty = y - fy, tz = z - fz, v[2][2], w[2];
	int a, b;

	tx = tx * tx * (3 - 2 * tx);
	ty = ty * ty * (3 - 2 * ty);
	tz = tz * tz * (3 - 2 * tz);
	for (a = 0; a < 2; a++)
		for (b = 0; b < 2; b++) {
			double p = lattice(seed, ix, iy + a, iz + b);
			double q = lattice(seed, ix + 1, iy + a, iz + b);

			v[a][b] = p + (q - p) * tx;
		}
	w[0] = v[0][0] + (v[1][0] - v[0][0]) * ty;
	w[1] = v[0][1] + (v[1][1] - v[0][1]) * ty;
	return w[0] + (w[1] - w[0]) * tz;
}

/* ---- the body ------------------------------------------------------------------ */

struct ell3 {
	double c[3], r[3], rot;
};

struct tube {
	double a[3], b[3], r;
	uint8_t label, only;
};

enum { BOWEL_FLUIDC, BOWEL_AIRC, BOWEL_CONTRASTC, BOWEL_COLLAPSED };

struct loop {
	struct ell3 e;
	int content;
};

#define PH_NRIB 12

struct phantom_body {
	char sex;
	double h, w, fat, musc;
	double zdr, zdl, zil, zend;	/* right/left diaphragm dome tops, iliac crest, floor */
	double vert_period, vert_phase;
	double rib_z[PH_NRIB];
	double amax, bmax;
	uint64_t tex_seed;
	struct ell3 heart, liver_dome, liver_r, liver_l, dome_l, gb, spleen, stomach, kid[2],
		    sinus[2], pancreas, bladder, gland;
	int stomach_content;
	struct tube *tube;
	int ntube, tubecap;
	struct loop *loop;
	int nloop;
};

/* The body cross-section at one z: outer muscle-wall half axes A, B (skin adds fat),
 * the visceral cavity (half axes ac, bc, centre y ycav), the spine (vertebral body
 * centre yv, radius rv). */
struct geo {
	double a, b, ac, bc, ycav, yv, rv;
};

static double lerp_table(const double *zk, const double *vk, int n, double z)
{
	int i;

	if (z <= zk[0])
		return vk[0];
	for (i = 1; i < n; i++)
		if (z <= zk[i]) {
			double t = (z - zk[i - 1]) / (zk[i] - zk[i - 1]);

			t = t * t * (3 - 2 * t);
			return vk[i - 1] + (vk[i] - vk[i - 1]) * t;
		}
	return vk[n - 1];
}

static void geom(const struct phantom_body *b, double z, struct geo *g)
{
	static const double zk[] = { -60, 0, 60, 150, 215, 300, 420, 500, 580, 680 };
	static const double ak[] = { 70, 112, 138, 148, 150, 145, 142, 158, 163, 158 };
	static const double bk[] = { 60, 84, 98, 106, 108, 104, 100, 98, 98, 92 };
	double za = z / b->h, pelvis = b->sex == 'F' ? 1.06 : 1.0;

	g->a = lerp_table(zk, ak, 10, za) * b->w * (za > 420 ? pelvis : 1.0);
	g->b = lerp_table(zk, bk, 10, za) * b->w;
	{
		/* posterior wall: thin behind the lungs, thick (paraspinal, quadratus) below;
		 * the pelvic cavity is walled in by iliopsoas and gluteal muscle */
		double post = z < b->zdr ? 10 : z < b->zdr + 40 * b->h ? 10 + 20 * (z - b->zdr) /
			      (40 * b->h) : 30, pel = z > b->zil ? fmin((z - b->zil) / 60.0, 1) : 0;

		g->ac = g->a - b->musc - 32 * pel;
		g->bc = g->b - b->musc - post / 2 - 12 * pel;
		g->ycav = -post / 2;
	}
	g->rv = (14.0 + 9.0 * fmin(fmax(za / 430.0, 0), 1)) * b->w;
	g->yv = g->ycav + g->bc - g->rv * 0.55;
}

static void ell3_set(struct ell3 *e, double x, double y, double z, double rx, double ry,
		     double rz, double rot)
{
	e->c[0] = x;
	e->c[1] = y;
	e->c[2] = z;
	e->r[0] = rx;
	e->r[1] = ry;
	e->r[2] = rz;
	e->rot = rot;
}

static int tube_add(struct phantom_body *b, const double *a, const double *e, double r,
		    int label, int only)
{
	struct tube *t;

	if (b->ntube == b->tubecap) {
		int cap = b->tubecap ? b->tubecap * 2 : 256;
		struct tube *n = realloc(b->tube, (size_t)cap * sizeof(*n));

		if (!n)
			return -1;
		b->tube = n;
		b->tubecap = cap;
	}
	t = &b->tube[b->ntube++];
	memcpy(t->a, a, sizeof(t->a));
	memcpy(t->b, e, sizeof(t->b));
	t->r = r;
	t->label = (uint8_t)label;
	t->only = (uint8_t)only;
	return 0;
}

/* A branching vessel tree: each segment splits in two thinner, shorter children. */
static int tree_grow(struct phantom_body *b, struct phantom_rng *r, const double *p,
		     const double *dir, double len, double rad, int depth, int label, int only)
{
	double e[3], d[3];
	int i, k;

	for (i = 0; i < 3; i++)
		e[i] = p[i] + dir[i] * len;
	if (tube_add(b, p, e, rad, label, only))
		return -1;
	if (depth == 0)
		return 0;
	for (k = 0; k < 2; k++) {
		double n = 0;

		for (i = 0; i < 3; i++) {
			d[i] = dir[i] + 0.75 * phantom_rng_normal(r);
			n += d[i] * d[i];
		}
		n = sqrt(n);
		for (i = 0; i < 3; i++)
			d[i] /= n;
		if (tree_grow(b, r, e, d, len * phantom_rng_range(r, 0.7, 0.9), rad * 0.72,
			      depth - 1, label, only))
			return -1;
	}
	return 0;
}

static int trees_build(struct phantom_body *b, struct phantom_rng *r)
{
	struct geo g;
	int side, k, i;

	geom(b, 110 * b->h, &g);
	for (side = -1; side <= 1; side += 2) {
		double hil[3] = { side * 45.0 * b->w, g.ycav + 0.1 * g.bc, 110 * b->h };

		for (k = 0; k < 12; k++) {
			double d[3], n;

			d[0] = side * phantom_rng_range(r, 0.3, 1.0);
			d[1] = phantom_rng_range(r, -0.8, 0.8);
			d[2] = phantom_rng_range(r, -1.0, 1.0) * (k < 3 ? 1.4 : 0.8);
			n = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
			for (i = 0; i < 3; i++)
				d[i] /= n;
			if (tree_grow(b, r, hil, d, phantom_rng_range(r, 30, 45), 5.0, 5,
				      PH_LUNG_VESSEL, PH_LUNG))
				return -1;
		}
	}
	/* portal vein from the porta hepatis, hepatic veins from the IVC at the dome */
	for (k = 0; k < 2; k++) {
		double p[3];
		int j;

		geom(b, b->zdr + 60, &g);
		p[0] = k ? -22 * b->w : -45 * b->w;
		p[1] = k ? g.yv - g.rv - 10 : g.ycav + 0.05 * g.bc;
		p[2] = k ? b->zdr + 25 : b->zdr + 100;
		for (j = 0; j < 4; j++) {
			double d[3], n;

			d[0] = -phantom_rng_range(r, 0.2, 1.0) + (j == 3 ? 1.3 : 0);
			d[1] = phantom_rng_range(r, -0.9, 0.6);
			d[2] = k ? phantom_rng_range(r, 0.1, 0.9) : phantom_rng_range(r, -0.9, 0.1);
			n = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
			for (i = 0; i < 3; i++)
				d[i] /= n;
			if (tree_grow(b, r, p, d, phantom_rng_range(r, 30, 45), 6.0, 3,
				      PH_LIVER_VESSEL, PH_LIVER))
				return -1;
		}
	}
	return 0;
}

static int bowel_build(struct phantom_body *b, struct phantom_rng *r)
{
	int n = 70 + (int)(phantom_rng_uniform(r) * 30), i;
	struct geo g;

	b->loop = calloc((size_t)n, sizeof(*b->loop));
	if (!b->loop)
		return -1;
	for (i = 0; i < n; i++) {
		struct loop *l = &b->loop[i];
		double z = phantom_rng_range(r, b->zdr + 110, b->zil + 120), u;

		geom(b, z, &g);
		ell3_set(&l->e, phantom_rng_range(r, -0.75, 0.75) * g.ac,
			 g.ycav + phantom_rng_range(r, -0.85, 0.55) * g.bc, z,
			 phantom_rng_range(r, 10, 16), phantom_rng_range(r, 10, 15),
			 phantom_rng_range(r, 12, 30), phantom_rng_range(r, 0, PH_PI));
		u = phantom_rng_uniform(r);
		l->content = u < 0.4 ? BOWEL_FLUIDC : u < 0.65 ? BOWEL_AIRC :
			     u < 0.85 ? BOWEL_CONTRASTC : BOWEL_COLLAPSED;
	}
	b->nloop = n;
	return 0;
}

int phantom_body_create(uint64_t seed, char sex, struct phantom_body **out, char *err)
{
	struct phantom_body *b = calloc(1, sizeof(*b));
	struct phantom_rng r;
	struct geo g;
	double z;
	int i, rc = -1;

	*out = NULL;
	if (!b)
		return errf(err, "phantom: out of memory");
	phantom_rng_seed(&r, seed);
	b->sex = sex == 'F' ? 'F' : 'M';
	b->h = phantom_rng_range(&r, 0.9, 1.08) * (b->sex == 'F' ? 0.95 : 1.0);
	b->w = phantom_rng_range(&r, 0.82, 1.12) * (b->sex == 'F' ? 0.94 : 1.0);
	b->fat = phantom_rng_range(&r, 6, 30) * (b->sex == 'F' ? 1.3 : 1.0);
	b->musc = phantom_rng_range(&r, 9, 15);
	b->zdr = (215 + phantom_rng_range(&r, -12, 12)) * b->h;
	b->zdl = b->zdr + phantom_rng_range(&r, 12, 25) * b->h;
	b->zil = (430 + phantom_rng_range(&r, -15, 15)) * b->h;
	b->zend = b->zil + 195 * b->h;
	b->vert_period = 27 * b->h;
	b->vert_phase = phantom_rng_range(&r, 0, b->vert_period);
	for (i = 0; i < PH_NRIB; i++)
		b->rib_z[i] = (4 + 23.5 * i) * b->h + phantom_rng_range(&r, -2, 2);
	b->tex_seed = phantom_rng_next(&r);
	for (z = -40; z < b->zend; z += 10) {
		geom(b, z, &g);
		b->amax = fmax(b->amax, g.a);
		b->bmax = fmax(b->bmax, g.b);
	}

	geom(b, b->zdr - 40, &g);
	ell3_set(&b->heart, 0.14 * g.ac, g.ycav - 0.28 * g.bc, b->zdr - 40 * b->h,
		 0.42 * g.ac, 0.5 * g.bc, 72 * b->h, -0.45);
	geom(b, b->zdr + 70, &g);
	ell3_set(&b->liver_dome, -0.36 * g.ac, g.ycav + 0.08 * g.bc, b->zdr + 75 * b->h,
		 0.6 * g.ac, 0.92 * g.bc, 75 * b->h, 0);
	ell3_set(&b->liver_r, -0.36 * g.ac, g.ycav + 0.08 * g.bc, b->zdr + 75 * b->h,
		 0.6 * g.ac, 0.92 * g.bc, 95 * b->h, 0);
	ell3_set(&b->liver_l, 0.08 * g.ac, g.ycav - 0.45 * g.bc, b->zdr + 50 * b->h,
		 0.42 * g.ac, 0.4 * g.bc, 55 * b->h, 0.2);
	ell3_set(&b->dome_l, 0.38 * g.ac, g.ycav + 0.05 * g.bc, b->zdl + 75 * b->h,
		 0.6 * g.ac, 0.95 * g.bc, 75 * b->h, 0);
	ell3_set(&b->gb, -0.3 * g.ac, g.ycav - 0.5 * g.bc, b->zdr + 105 * b->h, 14, 24, 30, 0.6);
	ell3_set(&b->spleen, 0.64 * g.ac, g.ycav + 0.45 * g.bc, b->zdl + 65 * b->h, 22, 50,
		 55 * b->h, -0.75);
	ell3_set(&b->stomach, 0.33 * g.ac, g.ycav - 0.3 * g.bc, b->zdl + 50 * b->h,
		 0.32 * g.ac, 0.36 * g.bc, 55 * b->h, 0.5);
	b->stomach_content = phantom_rng_uniform(&r) < 0.3 ? BOWEL_CONTRASTC : BOWEL_FLUIDC;
	geom(b, b->zdr + 140, &g);
	for (i = 0; i < 2; i++) {
		double s = i ? 1 : -1, zc = i ? b->zdl + 120 * b->h : b->zdr + 150 * b->h;
		double kx = s * (g.rv + 45 * b->w), ky = g.yv - 8;

		ell3_set(&b->kid[i], kx, ky, zc, 27 * b->w, 22 * b->w, 55 * b->h, -s * 0.5);
		ell3_set(&b->sinus[i], kx - s * 17, ky - 6, zc, 10, 8, 33, -s * 0.5);
	}
	ell3_set(&b->pancreas, 0.05 * g.ac, g.yv - g.rv - 35, b->zdr + 95 * b->h,
		 0.55 * g.ac, 13, 16, -0.3);
	geom(b, b->zil + 150 * b->h, &g);
	ell3_set(&b->bladder, 0, g.ycav - 0.35 * g.bc, b->zil + 150 * b->h,
		 0.3 * g.ac, 0.33 * g.bc, 38 * b->h, 0);
	if (b->sex == 'F')
		ell3_set(&b->gland, 0, g.ycav + 0.1 * g.bc, b->zil + 110 * b->h, 32, 22, 45, 0);
	else
		ell3_set(&b->gland, 0, g.ycav - 0.05 * g.bc, b->zil + 188 * b->h, 18, 15, 15, 0);
	if (trees_build(b, &r) || bowel_build(b, &r)) {
		errf(err, "phantom: out of memory");
		goto out;
	}
	*out = b;
	b = NULL;
	rc = 0;
out:
	phantom_body_destroy(b);
	return rc;
}

void phantom_body_destroy(struct phantom_body *b)
{
	if (!b)
		return;
	free(b->tube);
	free(b->loop);
	free(b);
}

double phantom_body_halfwidth(const struct phantom_body *b)
{
	return b->amax + b->fat + 2;
}

double phantom_body_zend(const struct phantom_body *b)
{
	return b->zend;
}

void phantom_body_extent(const struct phantom_body *b, double z, double *x0, double *x1,
			 double *y0, double *y1)
{
	struct geo g;

	geom(b, z, &g);
	*x0 = -(g.a + b->fat + 2);
	*x1 = g.a + b->fat + 2;
	*y0 = -(g.b + b->fat + 2);
	*y1 = g.b + b->fat + 2;
}

double phantom_body_znorm(const struct phantom_body *b, double z)
{
	static const double zk[] = { -200, 0, 1, 2, 3.2, 10 };
	static const double vk[] = { 0.10, 0.28, 0.55, 0.70, 0.88, 1.0 };
	double t;

	/* piecewise linear through apex (0), dome (1), iliac crest (2), floor (3) */
	if (z < 0)
		t = z / 100.0;
	else if (z < b->zdr)
		t = z / b->zdr;
	else if (z < b->zil)
		t = 1 + (z - b->zdr) / (b->zil - b->zdr);
	else
		t = 2 + 1.2 * (z - b->zil) / (b->zend - b->zil);
	if (t <= zk[1])
		return fmax(0.0, vk[1] + 0.18 * t);
	for (int i = 2; i < 6; i++)
		if (t <= zk[i])
			return vk[i - 1] + (vk[i] - vk[i - 1]) * (t - zk[i - 1]) /
			       (zk[i] - zk[i - 1]);
	return 1.0;
}

void phantom_body_region(const struct phantom_body *b, int type, double lo[3], double hi[3])
{
	double a = b->amax, bb = b->bmax;

	lo[0] = -a;
	hi[0] = a;
	lo[1] = -bb;
	hi[1] = bb;
	lo[2] = 0;
	hi[2] = b->zend;
	switch (type) {
	case 1:	/* bone: vertebrae, sternum, pelvic bones */
		lo[0] = -0.75 * a;
		hi[0] = 0.75 * a;
		lo[2] = 20;
		hi[2] = b->zend - 10;
		break;
	case 2:	/* abdomen: mesentery, retroperitoneum */
		lo[0] = -0.7 * a;
		hi[0] = 0.7 * a;
		lo[2] = b->zdr + 100 * b->h;
		hi[2] = b->zil + 40 * b->h;
		break;
	case 3:	/* mediastinum */
		lo[0] = -50 * b->w;
		hi[0] = 50 * b->w;
		lo[2] = 10 * b->h;
		hi[2] = b->zdr - 20 * b->h;
		break;
	case 4:	/* liver */
		hi[0] = 0.45 * a;
		lo[2] = b->zdr;
		hi[2] = b->zdr + 170 * b->h;
		break;
	case 5:	/* lung */
		lo[2] = 10 * b->h;
		hi[2] = b->zdl + 60 * b->h;
		break;
	case 6:	/* kidney */
		lo[2] = b->zdl + 60 * b->h;
		hi[2] = b->zdr + 210 * b->h;
		break;
	case 7:	/* body wall */
		lo[0] = -(a + b->fat);
		hi[0] = a + b->fat;
		lo[1] = -(bb + b->fat);
		hi[1] = bb + b->fat;
		lo[2] = 10;
		hi[2] = b->zend - 10;
		break;
	case 8:	/* pelvis */
		lo[0] = -0.7 * a;
		hi[0] = 0.7 * a;
		lo[2] = b->zil + 40 * b->h;
		hi[2] = b->zend - 15 * b->h;
		break;
	default:
		break;
	}
}

/* ---- 2-D primitives at one z ------------------------------------------------------ */

enum { PR_ELL = 0, PR_SUPER = 1 };

struct prim {
	double cx, cy, a, b, c, s, ylim;
	uint8_t label, only, kind;
};

struct primset {
	struct prim p[PH_MAXPRIM];
	int n;
};

static struct prim *ell(struct primset *P, double cx, double cy, double a, double b,
			double rot, int label)
{
	struct prim *p;

	if (P->n == PH_MAXPRIM || a <= 0.05 || b <= 0.05)
		return NULL;
	p = &P->p[P->n++];
	p->cx = cx;
	p->cy = cy;
	p->a = a;
	p->b = b;
	p->c = cos(rot);
	p->s = sin(rot);
	p->ylim = 1e9;
	p->label = (uint8_t)label;
	p->only = 0;
	p->kind = PR_ELL;
	return p;
}

static void ell_only(struct primset *P, double cx, double cy, double a, double b,
		     double rot, int label, int only)
{
	struct prim *p = ell(P, cx, cy, a, b, rot, label);

	if (p)
		p->only = (uint8_t)only;
}

/* The section of an ellipsoid at z, scaled in-plane by k; 0 if z misses it. */
static struct prim *sect(struct primset *P, const struct ell3 *e, double z, double k,
			 int label)
{
	double t = (z - e->c[2]) / e->r[2], s;

	if (t <= -1 || t >= 1)
		return NULL;
	s = sqrt(1 - t * t) * k;
	return ell(P, e->c[0], e->c[1], e->r[0] * s, e->r[1] * s, e->rot, label);
}

/* Cortical shell and marrow of a bone ellipse. */
static void bone(struct primset *P, double cx, double cy, double a, double b, double rot,
		 double cortex)
{
	ell(P, cx, cy, a, b, rot, PH_CORTEX);
	if (a > cortex + 0.5 && b > cortex + 0.5)
		ell(P, cx, cy, a - cortex, b - cortex, rot, PH_MARROW);
}

/* A bone bar from (x1,y1) to (x2,y2), half thickness t. */
static void bar(struct primset *P, double x1, double y1, double x2, double y2, double t)
{
	double dx = x2 - x1, dy = y2 - y1;

	bone(P, (x1 + x2) / 2, (y1 + y2) / 2, sqrt(dx * dx + dy * dy) / 2 + t, t,
	     atan2(dy, dx), 2.0);
}

/* Where a tube crosses the plane z: an ellipse stretched along its in-plane direction. */
static void tube_cross(struct primset *P, const struct tube *t, double z, int label,
		       double k)
{
	double dz = t->b[2] - t->a[2], u, dx, dy, dxy, stretch, r = t->r * k;

	if (fabs(dz) < 1e-6 || (z - t->a[2]) * (z - t->b[2]) > 0)
		return;
	u = (z - t->a[2]) / dz;
	dx = t->b[0] - t->a[0];
	dy = t->b[1] - t->a[1];
	dxy = sqrt(dx * dx + dy * dy);
	stretch = fmin(sqrt(dxy * dxy + dz * dz) / fabs(dz), 6.0);
	ell_only(P, t->a[0] + u * dx, t->a[1] + u * dy, r * stretch, r, atan2(dy, dx),
		 label, t->only);
}

static void build_chest(const struct phantom_body *b, double z, const struct geo *g,
			struct primset *P)
{
	double h = b->h, w = b->w, zbase = b->zdl + 55 * h;
	double ya = g->yv - g->rv;	/* front of the spine */
	int side, i;

	if (z >= 0 && z < zbase) {	/* lungs, growing from the apex */
		double k = z < 60 * h ? sqrt(fmax(0, 1 - pow((60 * h - z) / (62 * h), 2))) : 1;

		for (side = -1; side <= 1; side += 2)
			ell_only(P, side * 0.5 * g->ac, g->ycav + 0.04 * g->bc, 0.56 * g->ac * k,
				 1.05 * g->bc * fmax(k, 0.55), 0, PH_LUNG, PH_FAT_VIS);
		ell(P, 4 * w, g->ycav - 0.08 * g->bc, (20 + 12 * fmin(z / (100 * h), 1)) * w,
		    0.88 * g->bc, 0, PH_FAT_VIS);
		for (i = 0; i < b->ntube; i++)
			if (b->tube[i].label == PH_LUNG_VESSEL)
				tube_cross(P, &b->tube[i], z, PH_LUNG_VESSEL, 1.0);
	}
	/* heart: pericardial fat, myocardium, chambers */
	if (sect(P, &b->heart, z, 1.0, PH_FAT_VIS)) {
		const struct ell3 *e = &b->heart;
		double t = (z - e->c[2]) / e->r[2], s = sqrt(1 - t * t);
		double a = e->r[0] * s, bb = e->r[1] * s, cx = e->c[0], cy = e->c[1];

		sect(P, e, z, 0.92, PH_MYO);
		if (t < -0.35) {	/* atria */
			ell(P, cx + 0.05 * a, cy + 0.45 * bb, 0.45 * a, 0.32 * bb, 0, PH_BLOOD);
			ell(P, cx - 0.5 * a, cy + 0.05 * bb, 0.32 * a, 0.4 * bb, 0, PH_BLOOD);
		} else {
			ell(P, cx + 0.25 * a, cy + 0.15 * bb, 0.4 * a, 0.45 * bb, -0.45, PH_BLOOD);
			ell(P, cx - 0.3 * a, cy - 0.2 * bb, 0.42 * a, 0.35 * bb, -0.45, PH_BLOOD);
		}
	}
	/* airways and oesophagus */
	if (z < 105 * h) {
		ell(P, 0, ya - 22, 10.5, 10, 0, PH_CARTILAGE);
		ell(P, 0, ya - 22, 8.5, 8, 0, PH_AIRWAY);
	} else if (z < 135 * h) {
		double d = 6 + (z - 105 * h) * 1.1;

		for (side = -1; side <= 1; side += 2) {
			ell(P, side * d, ya - 18, 7.5, 7, 0, PH_CARTILAGE);
			ell(P, side * d, ya - 18, 6, 5.5, 0, PH_AIRWAY);
		}
	}
	if (z < b->zdl + 20 * h) {
		ell(P, -3, ya - 6, 7, 6, 0, PH_MUSCLE);
		ell(P, -3, ya - 6, 2, 1.5, 0, PH_AIRWAY);
	}
	/* great vessels */
	if (z < 45 * h) {
		ell(P, -16 * w, ya - 45, 8, 8, 0, PH_BLOOD);
		ell(P, 4 * w, ya - 42, 6, 6, 0, PH_BLOOD);
		ell(P, 16 * w, ya - 34, 5, 5, 0, PH_BLOOD);
		if (z < 10 * h)
			for (side = -1; side <= 1; side += 2)
				ell(P, side * 33 * w, ya - 40, 8, 7, 0, PH_BLOOD);
		if (z < -15 * h)	/* thyroid lobes */
			for (side = -1; side <= 1; side += 2)
				ell(P, side * 17 * w, ya - 26, 9, 13, side * 0.3, PH_SPLEEN);
	}
	if (z > 5 * h && z < 115 * h)	/* superior vena cava */
		ell(P, -26 * w, ya - 50, 10, 9, 0, PH_BLOOD);
	if (z > 45 * h && z < 65 * h) {	/* aortic arch */
		double x1 = 2, y1 = ya - 58, x2 = 20 * w, y2 = ya - 6;

		ell(P, (x1 + x2) / 2, (y1 + y2) / 2,
		    sqrt((x2 - x1) * (x2 - x1) + (y2 - y1) * (y2 - y1)) / 2 + 13, 13,
		    atan2(y2 - y1, x2 - x1), PH_BLOOD);
	} else if (z >= 65 * h && z < 130 * h) {	/* ascending aorta */
		ell(P, 4, ya - 58, 15, 15, 0, PH_BLOOD);
	}
	if (z > 85 * h && z < 112 * h) {	/* pulmonary trunk and arteries */
		ell(P, 14 * w, ya - 62, 13, 13, 0, PH_BLOOD);
		if (z > 95 * h)
			ell(P, -15 * w, ya - 40, 32 * w, 8, 0.35, PH_BLOOD);
		else
			ell(P, 32 * w, ya - 42, 22 * w, 8, -0.5, PH_BLOOD);
	}
}

static void build_abdomen(const struct phantom_body *b, double z, const struct geo *g,
			  struct primset *P)
{
	double h = b->h;
	int i;

	/* subdiaphragmatic space, bowel first so solid organs win */
	if (z < b->dome_l.c[2])
		sect(P, &b->dome_l, z, 1.0, PH_FAT_VIS);
	for (i = 0; i < b->nloop; i++) {
		const struct loop *l = &b->loop[i];
		struct prim *p, *q;
		double t = (z - l->e.c[2]) / l->e.r[2], s;

		if (t <= -1 || t >= 1)
			continue;
		s = sqrt(1 - t * t);
		p = ell(P, l->e.c[0], l->e.c[1], l->e.r[0] * s, l->e.r[1] * s, l->e.rot,
			PH_BOWEL_WALL);
		if (!p)
			continue;
		p->only = PH_FAT_VIS;
		if (l->content == BOWEL_COLLAPSED) {
			q = ell(P, p->cx, p->cy, p->a * 0.3, p->b * 0.3, l->e.rot, PH_BOWEL_FLUID);
		} else {
			int lab = l->content == BOWEL_CONTRASTC ? PH_CONTRAST : PH_BOWEL_FLUID;

			q = ell(P, p->cx, p->cy, p->a - 2.5, p->b - 2.5, l->e.rot, lab);
			if (q)
				q->only = PH_BOWEL_WALL;
			if (q && l->content == BOWEL_AIRC) {
				q = ell(P, p->cx, p->cy, p->a - 2.5, p->b - 2.5, l->e.rot,
					PH_BOWEL_AIR);
				if (q) {
					q->only = PH_BOWEL_FLUID;
					q->ylim = p->cy + 0.2 * p->b;
				}
			}
		}
		if (q && !q->only)
			q->only = PH_BOWEL_WALL;
	}
	/* colon: ascending, descending, transverse, rectum; air with a little fluid */
	{
		double cx[4], cy[4], ra[4], rb[4];
		int n = 0, k;

		if (z > b->zdr + 110 * h && z < b->zil + 45 * h) {
			cx[n] = -0.7 * g->ac; cy[n] = g->ycav + 0.05 * g->bc; ra[n] = 22; rb[n++] = 20;
		}
		if (z > b->zdl + 70 * h && z < b->zil + 55 * h) {
			cx[n] = 0.72 * g->ac; cy[n] = g->ycav + 0.15 * g->bc; ra[n] = 16; rb[n++] = 16;
		}
		if (fabs(z - (b->zdr + 118 * h)) < 16) {
			cx[n] = 0; cy[n] = g->ycav - 0.62 * g->bc;
			ra[n] = 0.62 * g->ac * sqrt(1 - pow((z - b->zdr - 118 * h) / 16, 2));
			rb[n++] = 18;
		}
		if (z > b->zil + 95 * h) {
			cx[n] = 0; cy[n] = g->yv - g->rv - 8; ra[n] = 18; rb[n++] = 16;
		}
		for (k = 0; k < n; k++) {
			struct prim *p = ell(P, cx[k], cy[k], ra[k], rb[k], 0, PH_BOWEL_WALL);

			if (!p)
				continue;
			ell(P, cx[k], cy[k], ra[k] - 2.5, rb[k] - 2.5, 0, PH_BOWEL_FLUID);
			p = ell(P, cx[k], cy[k], ra[k] - 2.5, rb[k] - 2.5, 0, PH_BOWEL_AIR);
			if (p)
				p->ylim = cy[k] + 0.55 * rb[k];
		}
	}
	/* psoas */
	if (z > b->zdr + 90 * h) {
		double t = fmin((z - b->zdr - 90 * h) / (b->zil + 60 * h - b->zdr - 90 * h), 1);
		int side;

		for (side = -1; side <= 1; side += 2) {
			if (z < b->zil + 60 * h)
				ell(P, side * (g->rv + 10 + t * 14), g->yv - 2 - 14 * t,
				    7 + 15 * t, 7 + 14 * t, 0, PH_MUSCLE);
			else
				ell(P, side * 0.48 * g->ac, g->ycav - 0.15 * g->bc, 22, 20, 0,
				    PH_MUSCLE);
		}
	}
	/* liver with its vessels, gallbladder, spleen, stomach */
	if (z < b->liver_dome.c[2])
		sect(P, &b->liver_dome, z, 1.0, PH_LIVER);
	else
		sect(P, &b->liver_r, z, 1.0, PH_LIVER);
	sect(P, &b->liver_l, z, 1.0, PH_LIVER);
	for (i = 0; i < b->ntube; i++)
		if (b->tube[i].label == PH_LIVER_VESSEL)
			tube_cross(P, &b->tube[i], z, PH_LIVER_VESSEL, 1.0);
	sect(P, &b->gb, z, 1.0, PH_FLUID);
	sect(P, &b->spleen, z, 1.0, PH_SPLEEN);
	if (sect(P, &b->stomach, z, 1.0, PH_BOWEL_WALL)) {
		struct prim *q = sect(P, &b->stomach, z, 0.9,
				      b->stomach_content == BOWEL_CONTRASTC ? PH_CONTRAST :
				      PH_BOWEL_FLUID);
		struct prim *air = sect(P, &b->stomach, z, 0.9, PH_BOWEL_AIR);

		if (q && air)
			air->ylim = q->cy - 0.3 * q->b;
	}
	/* kidneys with sinus fat, pancreas */
	for (i = 0; i < 2; i++) {
		sect(P, &b->kid[i], z, 1.0, PH_KIDNEY);
		sect(P, &b->sinus[i], z, 1.0, PH_FAT_VIS);
	}
	sect(P, &b->pancreas, z, 1.0, PH_PANCREAS);
}

static void build_vessels(const struct phantom_body *b, double z, const struct geo *g,
			  struct primset *P)
{
	double h = b->h, ya = g->yv - g->rv;

	/* aorta, IVC, iliac vessels */
	if (z > 45 * h && z < b->zil - 10 * h) {
		double t = fmin(fmax((z - b->zdr) / (40 * h), 0), 1);

		ell(P, 20 * b->w * (1 - t) + 10 * t, ya - 8 - 4 * t, 12 - 1.5 * t,
		    12 - 1.5 * t, 0, PH_BLOOD);
	}
	if (z > b->zdr - 10 * h && z < b->zil)
		ell(P, -24 * b->w, ya - 10, 11, 10, 0, PH_BLOOD);
	if (z >= b->zil - 10 * h) {
		double t = fmin((z - b->zil + 10 * h) / (100 * h), 1);
		int side;

		for (side = -1; side <= 1; side += 2) {
			double x = side * (5 + t * (0.42 * g->ac - 5));
			double y = (ya - 10) * (1 - t) + (g->ycav - 0.55 * g->bc) * t;

			ell(P, x, y, 6.5, 6.5, 0, PH_BLOOD);
			ell(P, x - side * 3 + 9, y + 10 * (1 - t) + 4, 7.5, 7.5, 0, PH_BLOOD);
		}
	}
}

static void build_pelvis(const struct phantom_body *b, double z, const struct geo *g,
			 struct primset *P)
{
	double h = b->h, dz = (z - b->zil) / h;
	int side;

	if (dz < 0)
		return;
	sect(P, &b->bladder, z, 1.0, PH_FLUID);
	sect(P, &b->gland, z, 1.0, PH_UTERUS);
	for (side = -1; side <= 1; side += 2) {
		double s = side;

		if (dz < 92) {	/* iliac wing, from the sacroiliac joint forward */
			double k = fmin(dz / 20, 1);

			bar(P, s * (g->rv + 18), g->yv + 6, s * (0.55 + 0.27 * k) * g->ac,
			    g->ycav + (0.1 - 0.2 * k + dz * 0.004) * g->bc, 4.5 + dz * 0.05);
		}
		if (dz > 80 && dz < 150) {	/* acetabulum and femoral head */
			double fx = s * 0.58 * g->a, fy = g->ycav - 0.05 * g->bc;
			double t = (dz - 115) / 26, rf = t > -1 && t < 1 ? 23 * sqrt(1 - t * t) : 0;

			bone(P, s * 0.5 * g->a, fy, 26, 32, 0, 3);
			if (rf > 2) {
				ell(P, fx, fy, rf + 2, rf + 2, 0, PH_CARTILAGE);
				bone(P, fx, fy, rf, rf, 0, 2);
			}
		}
		if (dz > 138 && dz < 200)	/* femoral neck and shaft */
			bone(P, s * 0.62 * g->a, g->ycav - 0.02 * g->bc, 17, 15, 0, 4);
		if (dz > 118 && dz < 178)	/* pubic ramus */
			bar(P, s * 0.52 * g->ac, g->ycav - 0.3 * g->bc, s * 6,
			    g->ycav - 0.92 * g->bc, 6);
		if (dz > 135 && dz < 198)	/* ischium */
			bone(P, s * 0.4 * g->ac, g->ycav + 0.4 * g->bc, 13, 19, 0, 3);
	}
	if (dz > 12 && dz < 150) {	/* sacrum and coccyx */
		double sa = fmax(48 - dz * 0.25, 10), sb = fmax(19 - dz * 0.06, 7);
		double cy = g->yv + 4 + dz * 0.12;

		bone(P, 0, cy, sa, sb, 0, 3);
		if (dz < 110)
			ell(P, 0, cy + 5, 11, 4, 0, PH_CSF);
	}
}

static void build_spine(const struct phantom_body *b, double z, const struct geo *g,
			struct primset *P)
{
	double ph = fmod(z - b->vert_phase + 1000 * b->vert_period, b->vert_period);
	double disc = z > b->zdr ? 7 * b->h : 5 * b->h, rv = g->rv, yv = g->yv;
	int side;

	if (z > b->zil + 12 * b->h)
		return;		/* the sacrum takes over */
	/* paraspinal muscles first: the spine is painted over them */
	for (side = -1; side <= 1; side += 2)
		ell(P, side * (rv * 0.9 + 8), fmin(yv + rv + 18, g->b - 17), 20, 15, 0, PH_MUSCLE);
	if (ph < disc) {
		ell(P, 0, yv, rv * 1.08, rv, 0, PH_DISC);
		ell(P, 0, yv + rv + 9, 11, 9, 0, PH_CORTEX);
		ell(P, 0, yv + rv + 9, 9, 7.5, 0, PH_CSF);
		return;
	}
	bone(P, 0, yv, rv * 1.08, rv, 0, 2.2);
	for (side = -1; side <= 1; side += 2)	/* transverse processes */
		bar(P, side * 6, yv + rv + 6, side * (rv + 18), yv + rv + (z < b->zdr ? 14 : 2), 4);
	ell(P, 0, yv + rv + 10, 13, 11, 0, PH_CORTEX);		/* arch */
	bar(P, 0, yv + rv + 18, 0, fmin(yv + rv + 38, g->b - 10), 4);		/* spinous process */
	ell(P, 0, yv + rv + 9, 9, 7.5, 0, PH_CSF);		/* canal */
	ell(P, 0, yv + rv + 9, 4.5, 4, 0, PH_MUSCLE);		/* cord */
}

static void build_ribs(const struct phantom_body *b, double z, const struct geo *g,
		       struct primset *P)
{
	double ra = g->ac + 4, rb = g->bc + 4;
	int k, side;

	for (k = 0; k < PH_NRIB; k++) {
		double z0 = b->rib_z[k], drop = 75 * b->h;
		double phi_end = k < 7 ? 2.75 : 2.75 - (k - 6) * 0.3, phi0 = 0.32;
		double slope = drop / (phi_end - phi0), p1, p2, phi;

		/* the rib's z along its arc: z0 + slope*(phi - phi0), 10 mm high */
		p1 = phi0 + (z - 5 - z0) / slope;
		p2 = phi0 + (z + 5 - z0) / slope;
		if (p2 < phi0 || p1 > phi_end)
			continue;
		p1 = fmax(p1, phi0);
		p2 = fmin(p2, phi_end);
		for (side = -1; side <= 1; side += 2)
			for (phi = p1; phi <= p2; phi += 2.5 / ra) {
				double x = side * ra * sin(phi), y = g->ycav + rb * cos(phi);

				if (phi > 2.35) {
					ell(P, x, y, 4.5, 4.5, 0, PH_CARTILAGE);
				} else {
					ell(P, x, y, 4.6, 4.6, 0, PH_CORTEX);
					ell(P, x, y, 2.6, 2.6, 0, PH_MARROW);
				}
			}
	}
	if (z > 15 * b->h && z < b->zdr - 5 * b->h)	/* sternum */
		bone(P, 0, g->ycav - g->bc - 3, 15, 6.5, 0, 2);
	if (z > 0 && z < 120 * b->h) {	/* scapulae */
		int s;

		for (s = -1; s <= 1; s += 2)
			bar(P, s * 0.42 * g->a, g->b * 0.86, s * 0.86 * g->a, g->b * 0.3, 3.5);
	}
}

static void build(const struct phantom_body *b, double z, struct primset *P)
{
	struct geo g;
	struct prim *p;
	double fat = b->fat;
	int side;

	P->n = 0;
	geom(b, z, &g);
	/* table under the patient */
	p = ell(P, 0, g.b + fat + 152, 230, 150, 0, PH_TABLE);
	if (p)
		p->ylim = g.b + fat + 40;
	p = ell(P, 0, g.b + fat + 152, 224, 145, 0, PH_AIR);
	if (p)
		p->ylim = g.b + fat + 40;
	/* skin, subcutaneous fat, muscle wall, cavity */
	p = ell(P, 0, 0, g.a + fat + 2, g.b + fat + 2, 0, PH_SKIN);
	if (p)
		p->kind = PR_SUPER;
	p = ell(P, 0, 0, g.a + fat, g.b + fat, 0, PH_FAT_SC);
	if (p)
		p->kind = PR_SUPER;
	if (b->sex == 'F' && z > 40 * b->h && z < 170 * b->h) {	/* breasts */
		double k = sin((z - 40 * b->h) / (130 * b->h) * PH_PI);

		for (side = -1; side <= 1; side += 2) {
			ell(P, side * 0.42 * g.a, -g.b - fat + 8, 52 * k + 1, (24 + fat) * k + 1,
			    0, PH_SKIN);
			ell(P, side * 0.42 * g.a, -g.b - fat + 8, 50 * k, (22 + fat) * k, 0,
			    PH_FAT_SC);
			ell(P, side * 0.42 * g.a, -g.b - fat + 2, 28 * k, 12 * k, 0, PH_BREAST);
		}
	}
	p = ell(P, 0, 0, g.a, g.b, 0, PH_MUSCLE);
	if (p)
		p->kind = PR_SUPER;
	if (z > b->zil) {	/* gluteal muscles in the pelvic wall */
		for (side = -1; side <= 1; side += 2)
			ell(P, side * 0.5 * g.a, 0.5 * g.b, 0.42 * g.a, 0.48 * g.b, 0, PH_MUSCLE);
	}
	ell(P, 0, g.ycav, g.ac, g.bc, 0, PH_FAT_VIS);
	build_chest(b, z, &g, P);
	if (z > b->zdr - 20 * b->h)
		build_abdomen(b, z, &g, P);
	build_pelvis(b, z, &g, P);
	build_vessels(b, z, &g, P);
	build_spine(b, z, &g, P);
	if (z < b->zdr + 120 * b->h)
		build_ribs(b, z, &g, P);
}

static int prim_inside(const struct prim *p, double x, double y)
{
	double dx = x - p->cx, dy = y - p->cy, u, v;

	if (y >= p->ylim)
		return 0;
	u = (p->c * dx + p->s * dy) / p->a;
	v = (-p->s * dx + p->c * dy) / p->b;
	if (p->kind == PR_SUPER && v > 0)
		return u * u * u * u + v * v * v * v <= 1;
	return u * u + v * v <= 1;
}

struct phantom_probe {
	const struct phantom_body *b;
	double z;
	int valid;
	struct primset P;
};

int phantom_probe_create(const struct phantom_body *b, struct phantom_probe **out, char *err)
{
	struct phantom_probe *q = malloc(sizeof(*q));

	*out = NULL;
	if (!q)
		return errf(err, "phantom: out of memory");
	q->b = b;
	q->valid = 0;
	q->z = 0;
	*out = q;
	return 0;
}

void phantom_probe_destroy(struct phantom_probe *q)
{
	free(q);
}

int phantom_probe_tissue(struct phantom_probe *q, double x, double y, double z)
{
	int i, lab = PH_AIR;

	if (!q->valid || q->z != z) {
		build(q->b, z, &q->P);
		q->z = z;
		q->valid = 1;
	}
	for (i = 0; i < q->P.n; i++) {
		const struct prim *p = &q->P.p[i];

		if (prim_inside(p, x, y) && (!p->only || p->only == lab))
			lab = p->label;
	}
	return lab;
}

int phantom_tissue_at(const struct phantom_body *b, double x, double y, double z)
{
	struct phantom_probe *q = NULL;
	int lab;

	if (phantom_probe_create(b, &q, NULL))
		return PH_AIR;
	lab = phantom_probe_tissue(q, x, y, z);
	phantom_probe_destroy(q);
	return lab;
}

/* Paint a primitive into the label map. Pixel (i, j) has its centre at
 * (x0 + i*sp, y0 + j*sp) mm. Row spans come from the ellipse's quadratic. */
static void paint(uint8_t *lab, int w, int h, double x0, double y0, double sp,
		  const struct prim *p)
{
	double cx = (p->cx - x0) / sp, cy = (p->cy - y0) / sp, a = p->a / sp, bb = p->b / sp;
	double hw = sqrt(a * a * p->c * p->c + bb * bb * p->s * p->s);
	double hh = sqrt(a * a * p->s * p->s + bb * bb * p->c * p->c);
	double A = p->c * p->c / (a * a) + p->s * p->s / (bb * bb);
	double Bk = 2 * p->c * p->s * (1 / (a * a) - 1 / (bb * bb));
	double Ck = p->s * p->s / (a * a) + p->c * p->c / (bb * bb);
	double ylim = (p->ylim - y0) / sp;
	int j0 = (int)ceil(cy - hh), j1 = (int)floor(cy + hh), j;

	(void)hw;
	if (j0 < 0)
		j0 = 0;
	if (j1 > h - 1)
		j1 = h - 1;
	for (j = j0; j <= j1; j++) {
		double dy = j - cy, lo, hi;
		int i0, i1, i;
		uint8_t *row = lab + (size_t)j * w;

		if (j >= ylim)
			break;
		if (p->kind == PR_SUPER) {
			double v = dy / bb, r;

			if (v > 0)
				r = sqrt(sqrt(fmax(0, 1 - v * v * v * v)));
			else
				r = sqrt(fmax(0, 1 - v * v));
			lo = cx - a * r;
			hi = cx + a * r;
		} else {
			double B = Bk * dy, C = Ck * dy * dy - 1, disc = B * B - 4 * A * C;

			if (disc < 0)
				continue;
			disc = sqrt(disc);
			lo = cx + (-B - disc) / (2 * A);
			hi = cx + (-B + disc) / (2 * A);
		}
		i0 = (int)ceil(lo);
		i1 = (int)floor(hi);
		if (i0 < 0)
			i0 = 0;
		if (i1 > w - 1)
			i1 = w - 1;
		if (p->only) {
			for (i = i0; i <= i1; i++)
				if (row[i] == p->only)
					row[i] = p->label;
		} else if (i1 >= i0) {
			memset(row + i0, p->label, (size_t)(i1 - i0 + 1));
		}
	}
}

/* ---- lesions ------------------------------------------------------------------- */

double phantom_lesion_scale(const struct phantom_lesion *l, double z)
{
	double t = (z - l->c[2]) / l->ax[2];

	return t <= -1 || t >= 1 ? 0 : sqrt(1 - t * t);
}

static double lobes(const struct phantom_lesion *l, double t)
{
	double r = 1;
	int i;

	for (i = 0; i < PHANTOM_LOBES; i++)
		r += l->lobe_amp[i] * cos(l->lobe_k[i] * t + l->lobe_ph[i]);
	return r;
}

double phantom_lesion_reach(const struct phantom_lesion *l)
{
	double r = 1;
	int i;

	for (i = 0; i < PHANTOM_LOBES; i++)
		r += fabs(l->lobe_amp[i]);
	return r * fmax(l->ax[0], l->ax[1]) / l->ax[0];
}

/* Frame coordinates of a point: returns r/R(t) (< 1 inside), or 2 when z misses. */
static double lesion_rho(const struct phantom_lesion *l, double x, double y, double z)
{
	double s = phantom_lesion_scale(l, z), dz = z - l->c[2], dx, dy, c, sn, u, v, r;

	if (s <= 0)
		return 2;
	dx = x - (l->c[0] + l->tilt[0] * dz);
	dy = y - (l->c[1] + l->tilt[1] * dz);
	c = cos(l->rot);
	sn = sin(l->rot);
	u = (c * dx + sn * dy) / l->ax[0];
	v = (-sn * dx + c * dy) / l->ax[1];
	r = sqrt(u * u + v * v);
	if (r == 0)
		return 0;
	return r / (s * lobes(l, atan2(v, u)));
}

int phantom_lesion_inside(const struct phantom_lesion *l, double x, double y, double z)
{
	return lesion_rho(l, x, y, z) < 1;
}

void phantom_lesion_point(const struct phantom_lesion *l, double z, double t, double *x,
			  double *y)
{
	double s = phantom_lesion_scale(l, z), dz = z - l->c[2], R = s * lobes(l, t);
	double u = R * cos(t) * l->ax[0], v = R * sin(t) * l->ax[1];
	double c = cos(l->rot), sn = sin(l->rot);

	*x = l->c[0] + l->tilt[0] * dz + c * u - sn * v;
	*y = l->c[1] + l->tilt[1] * dz + sn * u + c * v;
}

int phantom_lesion_outline(const struct phantom_lesion *l, double z, int n, double *xy)
{
	int i;

	if (phantom_lesion_scale(l, z) <= 0)
		return -1;
	for (i = 0; i < n; i++)
		phantom_lesion_point(l, z, 2 * PH_PI * i / n, &xy[2 * i], &xy[2 * i + 1]);
	return 0;
}

/* HU of a lesion voxel: rho = relative radius (0 centre, 1 edge), tex in [-1, 1]. */
static double lesion_hu(const struct phantom_lesion *l, double rho, double tex)
{
	switch (l->type) {
	case 1:		/* bone: lytic or sclerotic */
		return l->kind ? 880 + 90 * tex : 45 + 25 * tex;
	case 2:		/* abdominal mass, large ones necrotic */
		if (l->kind && rho < 0.55)
			return 20 + 8 * tex;
		return 50 + 16 * tex;
	case 3:		/* mediastinal node */
		return 42 + 7 * tex;
	case 4:		/* liver: cyst, metastasis, rim-enhancing */
		if (l->kind == 0)
			return 12 + 3 * tex;
		if (l->kind == 2)
			return rho > 0.72 ? 150 + 10 * tex : 30 + 8 * tex;
		return 48 + 10 * tex;
	case 5:		/* lung: solid, ground glass, cavitating */
		if (l->kind == 1)
			return -560 + 80 * tex;
		if (l->kind == 2 && rho < 0.4)
			return -900;
		return 35 + 18 * tex;
	case 6:		/* kidney: cyst or hypo-enhancing mass */
		return l->kind ? 95 + 30 * tex : 6 + 3 * tex;
	case 7:		/* soft tissue */
		return 36 + 12 * tex;
	case 8:		/* pelvic mass or node */
		return 55 + 15 * tex;
	default:
		return 40;
	}
}

/* ---- rendering ----------------------------------------------------------------- */

struct tissue_hu {
	float hu, tex;
};

static const struct tissue_hu tissue_table[PH_NTISSUE] = {
	[PH_AIR] = { -1000, 0 }, [PH_TABLE] = { -250, 20 }, [PH_SKIN] = { 30, 5 },
	[PH_FAT_SC] = { -105, 8 }, [PH_MUSCLE] = { 52, 6 }, [PH_FAT_VIS] = { -95, 10 },
	[PH_LUNG] = { -865, 25 }, [PH_LUNG_VESSEL] = { 80, 15 }, [PH_AIRWAY] = { -990, 0 },
	[PH_BLOOD] = { 170, 5 }, [PH_MYO] = { 105, 5 }, [PH_LIVER] = { 108, 6 },
	[PH_LIVER_VESSEL] = { 160, 6 }, [PH_SPLEEN] = { 118, 6 }, [PH_KIDNEY] = { 185, 12 },
	[PH_PANCREAS] = { 95, 8 }, [PH_FLUID] = { 8, 2 }, [PH_BOWEL_WALL] = { 70, 8 },
	[PH_BOWEL_FLUID] = { 15, 5 }, [PH_BOWEL_AIR] = { -980, 0 }, [PH_CONTRAST] = { 280, 30 },
	[PH_CORTEX] = { 760, 70 }, [PH_MARROW] = { 240, 45 }, [PH_DISC] = { 85, 5 },
	[PH_CARTILAGE] = { 130, 10 }, [PH_CSF] = { 12, 2 }, [PH_UTERUS] = { 92, 8 },
	[PH_BREAST] = { 35, 10 },
};

int phantom_render(const struct phantom_body *b, const struct phantom_lesion *ls, int nl,
		   const struct phantom_view *v, uint64_t noise_seed, int16_t *hu,
		   uint8_t *label, char *err)
{
	int w = v->w, h = v->h, gw = w / 8 + 2, gh = h / 8 + 2, i, j, k, rc = -1;
	size_t n = (size_t)w * h;
	double x0 = v->ox + (0.5 - w / 2.0) * v->sp, y0 = v->oy + (0.5 - h / 2.0) * v->sp;
	double sp = v->sp, z = v->z;
	struct primset *P = NULL;
	uint8_t *lab = label;
	float *f = NULL, *t = NULL, *grid = NULL, ntab[4096];
	struct phantom_rng r;
	struct geo g;

	if (w < 16 || h < 16 || w > 4096 || h > 4096 || sp <= 0 || nl < 0 ||
	    nl > PHANTOM_MAX_LESIONS)
		return errf(err, "phantom: bad view %dx%d sp %g or %d lesions", w, h, sp, nl);
	P = malloc(sizeof(*P));
	f = malloc(n * sizeof(*f));
	t = malloc(n * sizeof(*t));
	grid = malloc((size_t)gw * gh * sizeof(*grid));
	if (!lab)
		lab = malloc(n);
	if (!P || !f || !t || !grid || !lab) {
		errf(err, "phantom: out of memory");
		goto out;
	}
	memset(lab, PH_AIR, n);
	build(b, z, P);
	for (k = 0; k < P->n; k++)
		paint(lab, w, h, x0, y0, sp, &P->p[k]);
	for (k = 0; k < nl; k++) {	/* lesions last, over whatever is there */
		const struct phantom_lesion *l = &ls[k];
		double s = phantom_lesion_scale(l, z), R, cx, cy;
		int i0, i1, j0, j1;

		if (s <= 0)
			continue;
		R = s * phantom_lesion_reach(l) * l->ax[0] + sp;
		cx = l->c[0] + l->tilt[0] * (z - l->c[2]);
		cy = l->c[1] + l->tilt[1] * (z - l->c[2]);
		i0 = (int)floor((cx - R - x0) / sp);
		i1 = (int)ceil((cx + R - x0) / sp);
		j0 = (int)floor((cy - R - y0) / sp);
		j1 = (int)ceil((cy + R - y0) / sp);
		for (j = LSD_MAX(j0, 0); j <= LSD_MIN(j1, h - 1); j++)
			for (i = LSD_MAX(i0, 0); i <= LSD_MIN(i1, w - 1); i++)
				if (lesion_rho(l, x0 + i * sp, y0 + j * sp, z) < 1)
					lab[(size_t)j * w + i] = (uint8_t)(PHANTOM_LESION_LABEL + k);
	}
	/* coarse texture field, smooth in 3-D so it is consistent between slices */
	for (j = 0; j < gh; j++)
		for (i = 0; i < gw; i++)
			grid[j * gw + i] = (float)vnoise3(b->tex_seed, (x0 + i * 8 * sp) / 11.0,
							  (y0 + j * 8 * sp) / 11.0, z / 11.0);
	geom(b, z, &g);
	for (j = 0; j < h; j++) {
		const float *g0 = grid + (j / 8) * gw, *g1 = g0 + gw;
		float ty = (float)(j % 8) / 8.0f;
		double y = y0 + j * sp;
		float lung = (float)(75 * fmin(fmax((y - g.ycav) / g.bc + 0.2, 0), 1.2));

		for (i = 0; i < w; i++) {
			size_t q = (size_t)j * w + i;
			int L = lab[q], gi = i / 8;
			float tx = (float)(i % 8) / 8.0f;
			float tex = (g0[gi] * (1 - tx) + g0[gi + 1] * tx) * (1 - ty) +
				    (g1[gi] * (1 - tx) + g1[gi + 1] * tx) * ty;

			if (L >= PHANTOM_LESION_LABEL) {
				const struct phantom_lesion *l = &ls[L - PHANTOM_LESION_LABEL];
				double x = x0 + i * sp, dz = z - l->c[2];
				double rho = lesion_rho(l, x, y, z);
				double lt = vnoise3(l->tex_seed, (x - l->c[0] - l->tilt[0] * dz) / 3.5,
						    (y - l->c[1] - l->tilt[1] * dz) / 3.5, dz / 3.5);

				f[q] = (float)lesion_hu(l, rho, lt);
			} else {
				f[q] = tissue_table[L].hu + tissue_table[L].tex * tex * 2.0f;
				if (L == PH_LUNG)
					f[q] += lung;
			}
		}
	}
	/* noise, then a 3x3 binomial blur: correlated noise and partial-volume edges */
	phantom_rng_seed(&r, noise_seed);
	for (k = 0; k < 4096; k++)
		ntab[k] = (float)(phantom_rng_normal(&r) * PH_NOISE_SD);
	for (size_t q = 0; q < n; q += 5) {
		uint64_t x = phantom_rng_next(&r);
		size_t e = LSD_MIN(q + 5, n);

		for (size_t m = q; m < e; m++, x >>= 12)
			f[m] += ntab[x & 4095];
	}
	for (j = 0; j < h; j++) {
		const float *s = f + (size_t)j * w;
		float *d = t + (size_t)j * w;

		d[0] = (3 * s[0] + s[1]) * 0.25f;
		for (i = 1; i < w - 1; i++)
			d[i] = (s[i - 1] + 2 * s[i] + s[i + 1]) * 0.25f;
		d[w - 1] = (s[w - 2] + 3 * s[w - 1]) * 0.25f;
	}
	for (j = 0; j < h; j++) {
		const float *a = t + (size_t)(j > 0 ? j - 1 : 0) * w, *c = t + (size_t)j * w;
		const float *e = t + (size_t)(j < h - 1 ? j + 1 : h - 1) * w;

		for (i = 0; i < w; i++) {
			float x = (a[i] + 2 * c[i] + e[i]) * 0.25f;

			x = x < -1024 ? -1024 : x > 3071 ? 3071 : x;
			hu[(size_t)j * w + i] = (int16_t)(x >= 0 ? x + 0.5f : x - 0.5f);
		}
	}
	rc = 0;
out:
	if (lab != label)
		free(lab);
	free(P);
	free(f);
	free(t);
	free(grid);
	return rc;
}
