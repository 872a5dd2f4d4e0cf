/* descriptor.c - the built-in lesion descriptor: slices -> raw features -> finished vector.
 *
 * Called by `lesiond embed` and the ingest path (through desc_bulk / desc_raw and
 * desc_finish), by bench/bench_descriptor.c and tools/desc_ablation.c. Owns nothing
 * beyond one call: slices come from the caller's desc_slice_fn and are freed before
 * returning; the standardisation statistics are plain data the caller stores.
 * Geometry: DeepLesion pixel coordinates are 1-based (CSV), converted here to 0-based
 * pixel centres; all sampling is bilinear in source pixels, positions computed in mm
 * from the lesion centre with the lesion's own spacing, -1000 HU (air) outside the
 * image. Expected load: ~5 ms per lesion, dominated by PNG decoding of 3-5 slices.
 */
#include "descriptor.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- component table (also the documentation's index) ---- */

#define OFF_STATS_E 0
#define OFF_STATS_R 5
#define OFF_STATS_C 10
#define OFF_HIST_E 15
#define OFF_HIST_R (OFF_HIST_E + DESC_HIST_BINS)
#define OFF_HIST_C (OFF_HIST_R + DESC_HIST_BINS)
#define OFF_SLICES (OFF_HIST_C + DESC_HIST_BINS)
#define HOG_DIM (DESC_HOG_CELLS * DESC_HOG_BINS)
#define OFF_HOG_BOX (OFF_SLICES + 2)
#define OFF_HOG_CTX (OFF_HOG_BOX + HOG_DIM)
#define OFF_LBP_BOX (OFF_HOG_CTX + HOG_DIM)
#define OFF_LBP_CTX (OFF_LBP_BOX + DESC_LBP_BINS)
#define OFF_EDGE (OFF_LBP_CTX + DESC_LBP_BINS)
#define OFF_RADIAL (OFF_EDGE + 3)
#define OFF_LAYOUT (OFF_RADIAL + DESC_RADIAL)
#define OFF_APP_END (OFF_LAYOUT + DESC_LAYOUT * DESC_LAYOUT)

_Static_assert(OFF_APP_END == DESC_APP_DIM, "appearance layout");
_Static_assert(DESC_DIM <= 256, "descriptor dimension");

const struct desc_component desc_components[] = {
	{ "ellipse_stats", DESC_BLOCK_APPEARANCE, OFF_STATS_E, 5, "HU: mean, std, p10, p50, p90" },
	{ "ring_stats", DESC_BLOCK_APPEARANCE, OFF_STATS_R, 5, "HU: mean, std, p10, p50, p90" },
	{ "context_stats", DESC_BLOCK_APPEARANCE, OFF_STATS_C, 5, "HU: mean, std, p10, p50, p90" },
	{ "ellipse_hist", DESC_BLOCK_APPEARANCE, OFF_HIST_E, DESC_HIST_BINS, "fraction" },
	{ "ring_hist", DESC_BLOCK_APPEARANCE, OFF_HIST_R, DESC_HIST_BINS, "fraction" },
	{ "context_hist", DESC_BLOCK_APPEARANCE, OFF_HIST_C, DESC_HIST_BINS, "fraction" },
	{ "slice_profile", DESC_BLOCK_APPEARANCE, OFF_SLICES, 2, "HU: curvature, half-difference" },
	{ "hog_box", DESC_BLOCK_APPEARANCE, OFF_HOG_BOX, HOG_DIM, "L2-normalised histogram" },
	{ "hog_context", DESC_BLOCK_APPEARANCE, OFF_HOG_CTX, HOG_DIM, "L2-normalised histogram" },
	{ "lbp_box", DESC_BLOCK_APPEARANCE, OFF_LBP_BOX, DESC_LBP_BINS, "fraction" },
	{ "lbp_context", DESC_BLOCK_APPEARANCE, OFF_LBP_CTX, DESC_LBP_BINS, "fraction" },
	{ "edge", DESC_BLOCK_APPEARANCE, OFF_EDGE, 3, "HU/mm, ratio, HU/mm" },
	{ "radial_profile", DESC_BLOCK_APPEARANCE, OFF_RADIAL, DESC_RADIAL, "HU" },
	{ "context_layout", DESC_BLOCK_APPEARANCE, OFF_LAYOUT, DESC_LAYOUT * DESC_LAYOUT, "HU" },
	{ "location", DESC_BLOCK_LOCATION, DESC_LOC_OFF, DESC_LOC_DIM, "normalised x, y, z" },
	{ "size", DESC_BLOCK_SIZE, DESC_SIZE_OFF, DESC_SIZE_DIM, "ln(mm): long, short" },
};
const size_t desc_ncomponents = LSD_ARRAY_LEN(desc_components);

void desc_block_range(int block, int *off, int *dim)
{
	static const int offs[DESC_NBLOCKS] = { DESC_APP_OFF, DESC_LOC_OFF, DESC_SIZE_OFF };
	static const int dims[DESC_NBLOCKS] = { DESC_APP_DIM, DESC_LOC_DIM, DESC_SIZE_DIM };

	if (block < 0 || block >= DESC_NBLOCKS) {
		*off = 0;
		*dim = 0;
		return;
	}
	*off = offs[block];
	*dim = dims[block];
}

/* HU histogram edges: air, lung, emphysema/ground glass, fat, fat-water, water, soft
 * tissue (fine, 20-30 HU steps), enhancing tissue, calcification, cortical bone. */
static const double hist_edges[DESC_HIST_BINS + 1] = {
	-INFINITY, -900, -500, -200, -100, -50, -10, 10, 30, 50, 70, 100, 150, 250, 500, 1000,
	INFINITY
};

/* Windows (HU) in which texture is measured: the lesion box in a soft-tissue window, the
 * context in a wide window that keeps lung, fat and bone boundaries. */
#define BOX_WIN_LO (-160.0)
#define BOX_WIN_HI 240.0
#define CTX_WIN_LO (-1000.0)
#define CTX_WIN_HI 400.0
#define LBP_T 10.0		/* HU: a neighbour counts as brighter at >= centre + 10 */
#define CTX_TEX_STEP 2		/* context texture at 2 mm/px */
#define EDGE_ANGLES 32
#define EDGE_D_MM 1.5		/* edge samples 1.5 mm inside and outside the boundary */
#define EDGE_WIDE_MM 5.0
#define LESION_GRID_MAX 201

/* ---- slices ---- */

int desc_slice_files(void *cls, const char *relpath, struct slice16 *out, char *err)
{
	const char *root = cls;
	char path[4096];
	struct stat st;
	int n;

	memset(out, 0, sizeof(*out));
	n = snprintf(path, sizeof(path), "%s/%s", root ? root : ".", relpath);
	if (n < 0 || (size_t)n >= sizeof(path))
		return errf(err, "slice path too long");
	if (stat(path, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			errf(err, "%s: no such file", relpath);
			return LSD_ENOTFOUND;
		}
		return errf(err, "%s: %s", relpath, strerror(errno));
	}
	if (image_read_png16(path, 0, out, err) != 0)
		return LSD_EFAIL;
	return LSD_OK;
}

#define CACHE_MAX 9

struct slicecache {
	desc_slice_fn fn;
	void *cls;
	char dir[LESION_PATH_MAX];
	int n;
	int idx[CACHE_MAX], rc[CACHE_MAX];
	struct slice16 s[CACHE_MAX];
};

/* Slice `idx` of the series, or rc LSD_ENOTFOUND / LSD_EFAIL. Cached for the call. */
static int cache_get(struct slicecache *c, int idx, const struct slice16 **out, char *err)
{
	char rel[LESION_PATH_MAX + 16];
	int i, rc;

	*out = NULL;
	for (i = 0; i < c->n; i++)
		if (c->idx[i] == idx) {
			if (c->rc[i] == LSD_OK)
				*out = &c->s[i];
			else
				errf(err, "%s/%03d.png: unavailable", c->dir, idx);
			return c->rc[i];
		}
	if (c->n == CACHE_MAX)
		return errf(err, "too many slices");
	snprintf(rel, sizeof(rel), "%s/%03d.png", c->dir, idx);
	i = c->n++;
	c->idx[i] = idx;
	rc = c->fn(c->cls, rel, &c->s[i], err);
	if (rc == LSD_OK && (!c->s[i].hu || c->s[i].w <= 0 || c->s[i].h <= 0)) {
		slice16_free(&c->s[i]);
		rc = errf(err, "%s: empty slice", rel);
	}
	if (rc != LSD_OK && rc != LSD_ENOTFOUND)
		rc = LSD_EFAIL;
	c->rc[i] = rc;
	if (rc == LSD_OK)
		*out = &c->s[i];
	return rc;
}

static void cache_free(struct slicecache *c)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (c->rc[i] == LSD_OK)
			slice16_free(&c->s[i]);
	c->n = 0;
}

/* LesaNet's get_slice_name: slice key+delta, stepping back towards the key slice while
 * it is missing (here also while it lies outside slice_range). */
static int slice_at(struct slicecache *c, const struct lesion *l, int delta,
		    const struct slice16 **out, char *err)
{
	int valid_range = l->slice_range[0] <= l->key_slice && l->key_slice <= l->slice_range[1];
	int rc;

	for (;;) {
		int idx = l->key_slice + delta;

		if (delta == 0 || !valid_range ||
		    (idx >= l->slice_range[0] && idx <= l->slice_range[1])) {
			rc = cache_get(c, idx, out, err);
			if (rc != LSD_ENOTFOUND || delta == 0)
				return rc;
		}
		delta -= delta > 0 ? 1 : -1;
	}
}

/* A slice at a fractional position: w * a + (1 - w) * b (b == a when w == 0). */
struct vslice {
	const struct slice16 *a, *b;
	double w;
};

static inline double pix(const struct slice16 *s, int x, int y)
{
	if (x < 0 || y < 0 || x >= s->w || y >= s->h)
		return DESC_AIR_HU;
	return s->hu[(size_t)y * s->w + x];
}

static double bilinear(const struct slice16 *s, double x, double y)
{
	double fx, fy;
	int x0, y0;

	if (!(x > -2.0 && y > -2.0 && x < s->w + 1.0 && y < s->h + 1.0))
		return DESC_AIR_HU;
	x0 = (int)floor(x);
	y0 = (int)floor(y);
	fx = x - x0;
	fy = y - y0;
	return (1 - fy) * ((1 - fx) * pix(s, x0, y0) + fx * pix(s, x0 + 1, y0)) +
	       fy * ((1 - fx) * pix(s, x0, y0 + 1) + fx * pix(s, x0 + 1, y0 + 1));
}

static double vsample(const struct vslice *v, double x, double y)
{
	double a = bilinear(v->a, x, y);

	if (v->w == 0.0 || v->b == v->a)
		return a;
	return v->w * a + (1 - v->w) * bilinear(v->b, x, y);
}

/* The three slices DESC_SLICE_MM apart, as LesaNet's load_multislice_img_16bit_png:
 * rel = 2 mm / interval; integral rel -> slices key +- rel; otherwise the neighbour
 * at +-rel is interpolated between slices +-ceil(rel) (weight rel - floor(rel)) and
 * +-floor(rel). An unknown interval gives the key slice three times. */
static int three_slices(struct slicecache *c, const struct lesion *l, struct vslice v[3],
			char *err)
{
	const struct slice16 *key, *s1, *s2;
	double rel, a;
	int side, rc;

	rc = slice_at(c, l, 0, &key, err);
	if (rc != LSD_OK)
		return rc;
	for (side = 0; side < 3; side++)
		v[side] = (struct vslice){ key, key, 0.0 };
	if (!(l->spacing[2] > 0) || !isfinite(l->spacing[2]))
		return LSD_OK;
	rel = DESC_SLICE_MM / l->spacing[2];
	a = rel - floor(rel);
	if (a < 1e-6 || a > 1 - 1e-6) {
		int d = (int)lround(rel);

		for (side = -1; side <= 1; side += 2) {
			rc = slice_at(c, l, side * d, &s1, err);
			if (rc != LSD_OK)
				return rc == LSD_ENOTFOUND ? LSD_EFAIL : rc;
			v[side + 1] = (struct vslice){ s1, s1, 0.0 };
		}
		return LSD_OK;
	}
	for (side = -1; side <= 1; side += 2) {
		rc = slice_at(c, l, side * (int)ceil(rel), &s1, err);
		if (rc == LSD_OK)
			rc = slice_at(c, l, side * (int)floor(rel), &s2, err);
		if (rc != LSD_OK)
			return rc == LSD_ENOTFOUND ? LSD_EFAIL : rc;
		v[side + 1] = (struct vslice){ s1, s2, a };
	}
	return LSD_OK;
}

/* ---- geometry ---- */

struct geom {
	double sx, sy;		/* mm per pixel */
	double bcx, bcy;	/* box centre, 0-based pixels */
	double bw, bh;		/* box size, mm */
	double ecx, ecy;	/* ellipse centre, 0-based pixels */
	double a, b;		/* semi-axes, mm (a >= b) */
	double ux, uy;		/* long-axis direction (unit, in mm space) */
};

static int geometry(const struct lesion *l, struct geom *g, char *err)
{
	const double *r = l->recist;
	double lx, ly, sxv, syv, la, sa;

	memset(g, 0, sizeof(*g));
	g->sx = l->spacing[0];
	g->sy = l->spacing[1] > 0 ? l->spacing[1] : l->spacing[0];
	if (!(g->sx > 0.01 && g->sx < 10 && g->sy > 0.01 && g->sy < 10))
		return errf(err, "pixel spacing %g x %g mm out of range", g->sx, g->sy);
	g->bcx = (l->bbox[0] + l->bbox[2]) / 2 - 1;
	g->bcy = (l->bbox[1] + l->bbox[3]) / 2 - 1;
	g->bw = fabs(l->bbox[2] - l->bbox[0]) * g->sx;
	g->bh = fabs(l->bbox[3] - l->bbox[1]) * g->sy;
	lx = (r[2] - r[0]) * g->sx;
	ly = (r[3] - r[1]) * g->sy;
	sxv = (r[6] - r[4]) * g->sx;
	syv = (r[7] - r[5]) * g->sy;
	la = hypot(lx, ly);
	sa = hypot(sxv, syv);
	if (la >= 1.0) {
		/* RECIST ellipse: centred on the mean of the four endpoints */
		g->ecx = (r[0] + r[2] + r[4] + r[6]) / 4 - 1;
		g->ecy = (r[1] + r[3] + r[5] + r[7]) / 4 - 1;
		g->a = la / 2;
		g->b = sa / 2;
		g->ux = lx / la;
		g->uy = ly / la;
	} else {
		/* no measurement: the ellipse inscribed in the box */
		g->ecx = g->bcx;
		g->ecy = g->bcy;
		g->a = g->bw / 2;
		g->b = g->bh / 2;
		g->ux = 1;
		g->uy = 0;
		if (g->b > g->a) {
			double t = g->a;

			g->a = g->b;
			g->b = t;
			g->ux = 0;
			g->uy = 1;
		}
	}
	if (g->a < 0.5)
		g->a = 0.5;
	if (g->b < 0.5)
		g->b = 0.5;
	if (g->b > g->a)
		g->b = g->a;
	if (g->a > 1000)
		return errf(err, "lesion axis %.0f mm out of range", 2 * g->a);
	return 0;
}

/* Point at (mx, my) mm from the ellipse centre, in source pixels. */
static inline void mm2px(const struct geom *g, double cx, double cy, double mx, double my,
			 double *x, double *y)
{
	*x = cx + mx / g->sx;
	*y = cy + my / g->sy;
}

/* Normalised ellipse radius of an offset in mm from the ellipse centre, for semi-axes
 * (a, b) along (u, u-perp). */
static inline double ell_r(const struct geom *g, double mx, double my, double a, double b)
{
	double p = mx * g->ux + my * g->uy, q = -mx * g->uy + my * g->ux;

	return sqrt((p / a) * (p / a) + (q / b) * (q / b));
}

/* Resample n x n pixels at `step` mm/pixel centred on source pixel (cx, cy); pixel k's
 * centre lies (k - (n-1)/2) * step mm from the centre. Downsampling (step larger than
 * 1.5 source pixels) averages ss x ss bilinear samples per output pixel. */
static void resample(const struct vslice *v, const struct geom *g, double cx, double cy,
		     int n, double step, float *out)
{
	double pxs = step / LSD_MIN(g->sx, g->sy);
	int ss = pxs > 1.5 ? (int)LSD_MIN(ceil(pxs), 4.0) : 1;
	int i, j, si, sj;

	for (j = 0; j < n; j++)
		for (i = 0; i < n; i++) {
			double acc = 0;

			for (sj = 0; sj < ss; sj++)
				for (si = 0; si < ss; si++) {
					double mx = (i - (n - 1) / 2.0 + (si + 0.5) / ss - 0.5) * step;
					double my = (j - (n - 1) / 2.0 + (sj + 0.5) / ss - 0.5) * step;
					double x, y;

					mm2px(g, cx, cy, mx, my, &x, &y);
					acc += vsample(v, x, y);
				}
			out[(size_t)j * n + i] = (float)(acc / (ss * ss));
		}
}

/* ---- statistics ---- */

/* The k-th smallest of v[0..n) (Hoare's quickselect, median-of-three pivots); v is
 * permuted so that v[k] holds it, v[0..k) <= v[k] <= v[k+1..n). */
static float select_k(float *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	while (hi > lo) {
		size_t mid = lo + (hi - lo) / 2, i = lo, j = hi;
		float a = v[lo], b = v[mid], c = v[hi], pivot, t;

		pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				t = v[i];
				v[i] = v[j];
				v[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	return v[k];
}

/* Quantile q of v[0..n), linear between order statistics (numpy's default). */
static float quantile(float *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t lo = (size_t)floor(pos), i;
	float a = select_k(v, n, lo), b = a;

	if (lo + 1 < n) {
		b = v[lo + 1];
		for (i = lo + 2; i < n; i++)	/* the smallest above v[lo] */
			if (v[i] < b)
				b = v[i];
	}
	return (float)(a + (pos - (double)lo) * (b - a));
}

/* mean, std (population), p10, p50, p90 and the histogram fractions of vals[0..n);
 * vals is permuted. n == 0 gives zeros. */
static void region_stats(float *vals, size_t n, float *stats5, float *hist)
{
	double s = 0, s2 = 0, q[3] = { 0.1, 0.5, 0.9 };
	size_t i, k;

	memset(stats5, 0, 5 * sizeof(float));
	memset(hist, 0, DESC_HIST_BINS * sizeof(float));
	if (n == 0)
		return;
	for (i = 0; i < n; i++) {
		s += vals[i];
		for (k = 0; k + 1 < DESC_HIST_BINS && vals[i] >= hist_edges[k + 1]; k++)
			;
		hist[k] += 1.0f;
	}
	s /= (double)n;
	for (i = 0; i < n; i++)
		s2 += (vals[i] - s) * (vals[i] - s);
	stats5[0] = (float)s;
	stats5[1] = (float)sqrt(s2 / (double)n);
	for (k = 0; k < 3; k++)
		stats5[2 + k] = quantile(vals, n, q[k]);
	for (k = 0; k < DESC_HIST_BINS; k++)
		hist[k] /= (float)n;
}

static float clampf(float v, double lo, double hi)
{
	return (float)(v < lo ? lo : v > hi ? hi : v);
}

/* Histogram of oriented gradients over n x n image im (already windowed): unsigned
 * orientation in DESC_HOG_BINS bins, linearly split between the two nearest bins,
 * weighted by magnitude, in 2x2 cells; the 32 values L2-normalised together. */
static void hog(const float *im, int n, float *out)
{
	int x, y, k;
	double norm = 0;

	memset(out, 0, HOG_DIM * sizeof(float));
	for (y = 1; y < n - 1; y++)
		for (x = 1; x < n - 1; x++) {
			double gx = im[(size_t)y * n + x + 1] - im[(size_t)y * n + x - 1];
			double gy = im[(size_t)(y + 1) * n + x] - im[(size_t)(y - 1) * n + x];
			double m = hypot(gx, gy), t, f;
			int cell = (y >= n / 2) * 2 + (x >= n / 2), b0;

			if (m <= 0)
				continue;
			t = atan2(gy, gx);
			if (t < 0)
				t += M_PI;
			t = t / M_PI * DESC_HOG_BINS - 0.5;	/* bin centres at (b+0.5)*22.5 deg */
			if (t < 0)
				t += DESC_HOG_BINS;
			b0 = (int)floor(t);
			f = t - b0;
			b0 %= DESC_HOG_BINS;
			out[cell * DESC_HOG_BINS + b0] += (float)(m * (1 - f));
			out[cell * DESC_HOG_BINS + (b0 + 1) % DESC_HOG_BINS] += (float)(m * f);
		}
	for (k = 0; k < HOG_DIM; k++)
		norm += (double)out[k] * out[k];
	norm = sqrt(norm);
	if (norm > 0)
		for (k = 0; k < HOG_DIM; k++)
			out[k] = (float)(out[k] / norm);
}

/* Rotation-invariant uniform LBP(8, 1): 0..8 brighter neighbours for uniform patterns
 * (at most two 0/1 transitions around the circle), bin 9 for the rest. Fractions. */
static void lbp(const float *im, int n, float *out)
{
	static const int dx[8] = { 1, 1, 0, -1, -1, -1, 0, 1 };
	static const int dy[8] = { 0, 1, 1, 1, 0, -1, -1, -1 };
	int x, y, k;
	long total = 0;

	memset(out, 0, DESC_LBP_BINS * sizeof(float));
	for (y = 1; y < n - 1; y++)
		for (x = 1; x < n - 1; x++) {
			double c = im[(size_t)y * n + x];
			int bits[8], ones = 0, trans = 0;

			for (k = 0; k < 8; k++) {
				bits[k] = im[(size_t)(y + dy[k]) * n + x + dx[k]] >= c + LBP_T;
				ones += bits[k];
			}
			for (k = 0; k < 8; k++)
				trans += bits[k] != bits[(k + 1) % 8];
			out[trans <= 2 ? ones : 9] += 1.0f;
			total++;
		}
	if (total > 0)
		for (k = 0; k < DESC_LBP_BINS; k++)
			out[k] /= (float)total;
}

/* ---- the raw vector ---- */

struct work {
	float ctx[DESC_CONTEXT_MM * DESC_CONTEXT_MM];
	float ctx2[(DESC_CONTEXT_MM / CTX_TEX_STEP) * (DESC_CONTEXT_MM / CTX_TEX_STEP)];
	float box[DESC_BOX_PX * DESC_BOX_PX];
	float grid[LESION_GRID_MAX * LESION_GRID_MAX];
	float ev[LESION_GRID_MAX * LESION_GRID_MAX];	/* ellipse values */
	float rv[LESION_GRID_MAX * LESION_GRID_MAX];	/* ring values */
};

/* Ellipse and ring statistics and the slice profile, on a grid at 1 mm/px (coarser for
 * lesions over ~200 mm) centred on the ellipse and covering the ring. */
static void lesion_region(struct work *w, const struct vslice v[3], const struct geom *g,
			  float *raw)
{
	double a2 = g->a + DESC_RING_MM, b2 = g->b + DESC_RING_MM;
	double half = a2 + 1, step = DESC_NORM_MM, sum[2] = { 0, 0 };
	size_t ne = 0, nr = 0, k;
	int n, i, j, s;

	n = 2 * (int)ceil(half / step) + 1;
	if (n > LESION_GRID_MAX) {
		n = LESION_GRID_MAX;
		step = 2 * half / (n - 1);
	}
	resample(&v[1], g, g->ecx, g->ecy, n, step, w->grid);
	for (j = 0; j < n; j++)
		for (i = 0; i < n; i++) {
			double mx = (i - (n - 1) / 2) * step, my = (j - (n - 1) / 2) * step;
			float val = w->grid[(size_t)j * n + i];

			if (ell_r(g, mx, my, g->a, g->b) <= 1.0) {
				w->ev[ne++] = val;
				/* the same pixels on the neighbour slices */
				for (s = 0; s < 2; s++) {
					double x, y;

					mm2px(g, g->ecx, g->ecy, mx, my, &x, &y);
					sum[s] += vsample(&v[s * 2], x, y);
				}
			} else if (ell_r(g, mx, my, a2, b2) <= 1.0) {
				w->rv[nr++] = val;
			}
		}
	/* the centre pixel has r = 0, so ne >= 1 */
	region_stats(w->ev, ne, raw + OFF_STATS_E, raw + OFF_HIST_E);
	region_stats(w->rv, nr, raw + OFF_STATS_R, raw + OFF_HIST_R);
	sum[0] /= (double)ne;
	sum[1] /= (double)ne;
	k = OFF_SLICES;
	raw[k] = (float)((sum[0] + sum[1]) / 2 - raw[OFF_STATS_E]);
	raw[k + 1] = (float)(fabs(sum[1] - sum[0]) / 2);
}

/* Edge sharpness and the radial profile, sampled on the centre slice along rays from the
 * ellipse centre through EDGE_ANGLES boundary points. */
static void edge_radial(const struct vslice *v, const struct geom *g, float *raw)
{
	double d1 = 0, dw = 0, sd = 0, sd2 = 0, rad[DESC_RADIAL] = { 0 };
	int t, k;

	for (t = 0; t < EDGE_ANGLES; t++) {
		double th = 2 * M_PI * t / EDGE_ANGLES;
		double p = g->a * cos(th), q = g->b * sin(th);
		double bx = p * g->ux - q * g->uy, by = p * g->uy + q * g->ux;	/* boundary, mm */
		double len = hypot(bx, by), dx = bx / len, dy = by / len;
		double inw = LSD_MIN(EDGE_WIDE_MM, 0.9 * len), x, y, hin, hout, win, wout, d;

		mm2px(g, g->ecx, g->ecy, bx - EDGE_D_MM * dx, by - EDGE_D_MM * dy, &x, &y);
		hin = vsample(v, x, y);
		mm2px(g, g->ecx, g->ecy, bx + EDGE_D_MM * dx, by + EDGE_D_MM * dy, &x, &y);
		hout = vsample(v, x, y);
		mm2px(g, g->ecx, g->ecy, bx - inw * dx, by - inw * dy, &x, &y);
		win = vsample(v, x, y);
		mm2px(g, g->ecx, g->ecy, bx + EDGE_WIDE_MM * dx, by + EDGE_WIDE_MM * dy, &x, &y);
		wout = vsample(v, x, y);
		d = (hout - hin) / (2 * EDGE_D_MM);
		d1 += fabs(d);
		dw += fabs(wout - win);
		sd += d;
		sd2 += d * d;
		for (k = 0; k < DESC_RADIAL; k++) {
			double r = 0.25 * (k + 1);

			mm2px(g, g->ecx, g->ecy, r * bx, r * by, &x, &y);
			rad[k] += vsample(v, x, y);
		}
	}
	raw[OFF_EDGE] = (float)(d1 / EDGE_ANGLES);
	/* steepness over 3 mm relative to the step over ~10 mm: 1 sharp, small blurred;
	 * 10 HU keeps flat surroundings from dividing by ~0 */
	raw[OFF_EDGE + 1] = (float)((d1 * 2 * EDGE_D_MM) / (dw + 10.0 * EDGE_ANGLES));
	sd /= EDGE_ANGLES;
	raw[OFF_EDGE + 2] = (float)sqrt(LSD_MAX(sd2 / EDGE_ANGLES - sd * sd, 0.0));
	for (k = 0; k < DESC_RADIAL; k++)
		raw[OFF_RADIAL + k] = (float)(rad[k] / EDGE_ANGLES);
}

static void context_features(struct work *w, const struct vslice *v, const struct geom *g,
			     float *raw)
{
	const int n = DESC_CONTEXT_MM, n2 = DESC_CONTEXT_MM / CTX_TEX_STEP;
	const int cell = DESC_CONTEXT_MM / DESC_LAYOUT;
	int i, j, x, y;

	resample(v, g, g->bcx, g->bcy, n, DESC_NORM_MM, w->ctx);
	/* layout and the 2 mm texture image, before region_stats permutes the pixels */
	for (j = 0; j < DESC_LAYOUT; j++)
		for (i = 0; i < DESC_LAYOUT; i++) {
			double s = 0;

			for (y = j * cell; y < (j + 1) * cell; y++)
				for (x = i * cell; x < (i + 1) * cell; x++)
					s += clampf(w->ctx[(size_t)y * n + x], CTX_WIN_LO, CTX_WIN_HI);
			raw[OFF_LAYOUT + j * DESC_LAYOUT + i] = (float)(s / (cell * cell));
		}
	for (j = 0; j < n2; j++)
		for (i = 0; i < n2; i++) {
			double s = 0;

			for (y = 0; y < CTX_TEX_STEP; y++)
				for (x = 0; x < CTX_TEX_STEP; x++)
					s += clampf(w->ctx[(size_t)(j * CTX_TEX_STEP + y) * n +
							   i * CTX_TEX_STEP + x], CTX_WIN_LO, CTX_WIN_HI);
			w->ctx2[(size_t)j * n2 + i] = (float)(s / (CTX_TEX_STEP * CTX_TEX_STEP));
		}
	hog(w->ctx2, n2, raw + OFF_HOG_CTX);
	lbp(w->ctx2, n2, raw + OFF_LBP_CTX);
	region_stats(w->ctx, (size_t)n * n, raw + OFF_STATS_C, raw + OFF_HIST_C);
}

/* The lesion box itself: a square of 1.2 x the longer box side (at least 8 mm) around
 * the box centre, resampled to DESC_BOX_PX pixels, in the soft-tissue window. */
static void box_features(struct work *w, const struct vslice *v, const struct geom *g,
			 float *raw)
{
	double side = LSD_MAX(1.2 * LSD_MAX(g->bw, g->bh), 8.0);
	size_t k;

	resample(v, g, g->bcx, g->bcy, DESC_BOX_PX, side / DESC_BOX_PX, w->box);
	for (k = 0; k < (size_t)DESC_BOX_PX * DESC_BOX_PX; k++)
		w->box[k] = clampf(w->box[k], BOX_WIN_LO, BOX_WIN_HI);
	hog(w->box, DESC_BOX_PX, raw + OFF_HOG_BOX);
	lbp(w->box, DESC_BOX_PX, raw + OFF_LBP_BOX);
}

static void size_block(const struct lesion *l, const struct geom *g, float *raw)
{
	double lo = l->diam_mm[0], sh = l->diam_mm[1];

	if (!(lo > 0))
		lo = 2 * g->a;
	if (!(sh > 0))
		sh = 2 * g->b;
	raw[DESC_SIZE_OFF] = (float)log(LSD_MAX(lo, 1.0));
	raw[DESC_SIZE_OFF + 1] = (float)log(LSD_MAX(sh, 1.0));
}

int desc_raw(const struct lesion *l, desc_slice_fn fn, void *cls, float *raw, char *err)
{
	struct slicecache c;
	struct vslice v[3];
	struct geom g = { 0 };
	struct work *w = NULL;
	const char *slash;
	int rc = LSD_EFAIL, k;

	memset(raw, 0, DESC_RAW_DIM * sizeof(float));
	memset(&c, 0, sizeof(c));
	c.fn = fn;
	c.cls = cls;
	slash = strrchr(l->image_path, '/');
	if (!slash || slash == l->image_path || (size_t)(slash - l->image_path) >= sizeof(c.dir)) {
		errf(err, "lesion %lld: no image path", (long long)l->id);
		goto out;
	}
	memcpy(c.dir, l->image_path, (size_t)(slash - l->image_path));
	if (geometry(l, &g, err) != 0)
		goto out;
	rc = three_slices(&c, l, v, err);
	if (rc != LSD_OK)
		goto out;
	rc = LSD_EFAIL;
	w = malloc(sizeof(*w));
	if (!w) {
		errf(err, "out of memory");
		goto out;
	}
	lesion_region(w, v, &g, raw);
	edge_radial(&v[1], &g, raw);
	context_features(w, &v[1], &g, raw);
	box_features(w, &v[1], &g, raw);
	for (k = 0; k < DESC_LOC_DIM; k++)
		raw[DESC_LOC_OFF + k] = (float)l->loc[k];
	size_block(l, &g, raw);
	for (k = 0; k < DESC_RAW_DIM; k++)
		if (!isfinite(raw[k])) {
			errf(err, "component %d not finite", k);
			goto out;
		}
	rc = LSD_OK;
out:
	if (rc != LSD_OK)
		memset(raw, 0, DESC_RAW_DIM * sizeof(float));
	free(w);
	cache_free(&c);
	return rc;
}

int desc_patch(const struct lesion *l, desc_slice_fn fn, void *cls, int n, double step_mm,
	       float *out, char *err)
{
	struct slicecache c;
	struct vslice v[3];
	struct geom g = { 0 };
	const char *slash;
	int rc = LSD_EFAIL, k;

	memset(&c, 0, sizeof(c));
	c.fn = fn;
	c.cls = cls;
	if (n < 1 || n > 1024 || !(step_mm > 0.01 && step_mm < 100))
		return errf(err, "patch %d px at %g mm/px out of range", n, step_mm);
	slash = strrchr(l->image_path, '/');
	if (!slash || slash == l->image_path || (size_t)(slash - l->image_path) >= sizeof(c.dir))
		return errf(err, "lesion %lld: no image path", (long long)l->id);
	memcpy(c.dir, l->image_path, (size_t)(slash - l->image_path));
	if (geometry(l, &g, err) != 0)
		goto out;
	rc = three_slices(&c, l, v, err);
	if (rc != LSD_OK)
		goto out;
	for (k = 0; k < 3; k++)
		resample(&v[k], &g, g.bcx, g.bcy, n, step_mm, out + (size_t)k * n * n);
out:
	cache_free(&c);
	return rc;
}

/* ---- bulk ---- */

struct bulk {
	const struct lesion *ls;
	size_t n, next, done;
	desc_slice_fn fn;
	void *cls;
	float *raw;
	int *status;
	char *errs;
	desc_progress_fn progress;
	void *pcls;
	int stop;
	pthread_mutex_t mu;
};

static void *bulk_worker(void *arg)
{
	struct bulk *b = arg;
	char err[LSD_ERRLEN];

	for (;;) {
		size_t i;
		int rc;

		pthread_mutex_lock(&b->mu);
		if (b->stop || b->next >= b->n) {
			pthread_mutex_unlock(&b->mu);
			break;
		}
		i = b->next++;
		pthread_mutex_unlock(&b->mu);
		err[0] = '\0';
		rc = desc_raw(&b->ls[i], b->fn, b->cls, b->raw + i * DESC_RAW_DIM, err);
		pthread_mutex_lock(&b->mu);
		b->status[i] = rc;
		if (b->errs)
			snprintf(b->errs + i * LSD_ERRLEN, LSD_ERRLEN, "%s", rc ? err : "");
		b->done++;
		if (b->progress && b->progress(b->pcls, b->done, b->n) != 0)
			b->stop = 1;
		pthread_mutex_unlock(&b->mu);
	}
	return NULL;
}

int desc_bulk(const struct lesion *ls, size_t n, desc_slice_fn fn, void *cls, int nthreads,
	      float *raw, int *status, char *errs, desc_progress_fn progress, void *pcls,
	      char *err)
{
	pthread_t th[16];
	struct bulk b;
	int started = 0, i, rc = 0;
	size_t k;

	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > 16)
		nthreads = 16;
	memset(&b, 0, sizeof(b));
	b.ls = ls;
	b.n = n;
	b.fn = fn;
	b.cls = cls;
	b.raw = raw;
	b.status = status;
	b.errs = errs;
	b.progress = progress;
	b.pcls = pcls;
	for (k = 0; k < n; k++)
		status[k] = LSD_EFAIL;
	if (pthread_mutex_init(&b.mu, NULL) != 0)
		return errf(err, "mutex init failed");
	for (i = 1; i < nthreads; i++) {
		if (pthread_create(&th[i], NULL, bulk_worker, &b) != 0)
			break;
		started++;
	}
	bulk_worker(&b);	/* the calling thread works too */
	for (i = 1; i <= started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&b.mu);
	if (started < nthreads - 1)
		rc = errf(err, "started %d of %d threads", started + 1, nthreads);
	if (b.stop)
		rc = errf(err, "stopped after %zu of %zu lesions", b.done, n);
	for (k = b.done < n ? 0 : n; k < n; k++)
		if (status[k] == LSD_EFAIL && errs && !errs[k * LSD_ERRLEN])
			snprintf(errs + k * LSD_ERRLEN, LSD_ERRLEN, "not computed");
	return rc;
}

/* ---- standardisation ---- */

void desc_stats_compute(const float *raw, const int *ok, size_t n, struct desc_stats *out)
{
	double mean[DESC_RAW_DIM] = { 0 }, m2[DESC_RAW_DIM] = { 0 };
	int64_t cnt = 0;
	size_t i;
	int k;

	/* Welford, in double: stable over 10^5+ lesions */
	for (i = 0; i < n; i++) {
		const float *r = raw + i * DESC_RAW_DIM;

		if (ok && ok[i] != LSD_OK)
			continue;
		cnt++;
		for (k = 0; k < DESC_RAW_DIM; k++) {
			double d = r[k] - mean[k];

			mean[k] += d / (double)cnt;
			m2[k] += d * (r[k] - mean[k]);
		}
	}
	out->n = cnt;
	for (k = 0; k < DESC_RAW_DIM; k++) {
		double sd = cnt > 0 ? sqrt(m2[k] / (double)cnt) : 0;

		out->mean[k] = (float)mean[k];
		/* components constant to float precision count as constant */
		out->std[k] = sd > 1e-6 * LSD_MAX(1.0, fabs(mean[k])) ? (float)sd : 0.0f;
	}
}

static void put_u32(unsigned char *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_f32(unsigned char *p, float f)
{
	uint32_t v;

	memcpy(&v, &f, 4);
	put_u32(p, v);
}

static float get_f32(const unsigned char *p)
{
	uint32_t v = get_u32(p);
	float f;

	memcpy(&f, &v, 4);
	return f;
}

#define STATS_MAGIC "LSDDESC\0"
#define STATS_VERSION 1

void desc_stats_encode(const struct desc_stats *s, unsigned char blob[DESC_STATS_BLOB_LEN])
{
	unsigned char *p = blob;
	int k;

	memcpy(p, STATS_MAGIC, 8);
	p += 8;
	put_u32(p, STATS_VERSION);
	put_u32(p + 4, DESC_RAW_DIM);
	put_u32(p + 8, (uint32_t)((uint64_t)s->n & 0xffffffffu));
	put_u32(p + 12, (uint32_t)((uint64_t)s->n >> 32));
	p += 16;
	for (k = 0; k < DESC_RAW_DIM; k++, p += 4)
		put_f32(p, s->mean[k]);
	for (k = 0; k < DESC_RAW_DIM; k++, p += 4)
		put_f32(p, s->std[k]);
}

int desc_stats_decode(const void *blob, size_t len, struct desc_stats *out, char *err)
{
	const unsigned char *p = blob;
	int k;

	memset(out, 0, sizeof(*out));
	if (!p || len != DESC_STATS_BLOB_LEN || memcmp(p, STATS_MAGIC, 8) != 0)
		return errf(err, "descriptor statistics: not a statistics blob");
	if (get_u32(p + 8) != STATS_VERSION || get_u32(p + 12) != DESC_RAW_DIM)
		return errf(err, "descriptor statistics: version %u dim %u, expected %d/%d",
			    get_u32(p + 8), get_u32(p + 12), STATS_VERSION, DESC_RAW_DIM);
	out->n = (int64_t)((uint64_t)get_u32(p + 16) | (uint64_t)get_u32(p + 20) << 32);
	p += 24;
	for (k = 0; k < DESC_RAW_DIM; k++, p += 4)
		out->mean[k] = get_f32(p);
	for (k = 0; k < DESC_RAW_DIM; k++, p += 4) {
		out->std[k] = get_f32(p);
		if (!isfinite(out->mean[k]) || !isfinite(out->std[k]) || out->std[k] < 0)
			return errf(err, "descriptor statistics: component %d invalid", k);
	}
	return 0;
}

int desc_finish(const float *raw, const struct desc_stats *st, const float weights[3],
		float *out)
{
	double norm = 0;
	int b, k;

	for (b = 0; b < DESC_NBLOCKS; b++) {
		int off, dim;
		double scale;

		desc_block_range(b, &off, &dim);
		scale = weights[b] > 0 ? weights[b] / sqrt((double)dim) : 0;
		for (k = off; k < off + dim; k++) {
			double z = 0;

			if (scale > 0 && st->std[k] > 0) {
				z = (raw[k] - st->mean[k]) / st->std[k];
				z = z > DESC_Z_CLIP ? DESC_Z_CLIP : z < -DESC_Z_CLIP ? -DESC_Z_CLIP : z;
			}
			out[k] = (float)(z * scale);
			norm += (double)out[k] * out[k];
		}
	}
	if (!(norm > 0)) {
		memset(out, 0, DESC_DIM * sizeof(float));
		return -1;
	}
	norm = sqrt(norm);
	for (k = 0; k < DESC_DIM; k++)
		out[k] = (float)(out[k] / norm);
	return 0;
}

/* ---- evaluation ---- */

int desc_nn_type_agreement(const float *vec, int dim, const int *types, const int *patients,
			   size_t n, int exclude_same_patient, struct desc_nn_result *out)
{
	char *has = NULL;
	size_t i, j;
	int k;

	memset(out, 0, sizeof(*out));
	if (dim <= 0 || (exclude_same_patient && !patients))
		return -1;
	has = calloc(n ? n : 1, 1);
	if (!has)
		return -1;
	for (i = 0; i < n; i++)
		for (k = 0; k < dim; k++)
			if (vec[i * dim + k] != 0) {
				has[i] = 1;
				break;
			}
	for (i = 0; i < n; i++) {
		double best = -INFINITY;
		size_t bj = n;

		if (!has[i] || types[i] <= 0)
			continue;
		for (j = 0; j < n; j++) {
			double d = 0;

			if (j == i || !has[j] || types[j] <= 0)
				continue;
			if (exclude_same_patient && patients[j] == patients[i])
				continue;
			for (k = 0; k < dim; k++)
				d += (double)vec[i * dim + k] * vec[j * dim + k];
			if (d > best) {	/* ties: the lowest index wins */
				best = d;
				bj = j;
			}
		}
		if (bj == n)
			continue;
		out->queries++;
		out->same += types[bj] == types[i];
	}
	out->rate = out->queries ? (double)out->same / (double)out->queries : 0;
	free(has);
	return 0;
}
