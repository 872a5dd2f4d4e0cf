/* render.c - lesion patches and whole slices: field of view in mm, bilinear resampling,
 * windowing, overlays, PNG encoding and ETags. Conventions are in include/render.h.
 *
 * Called by the image handlers on MHD worker threads; pure functions over a decoded
 * slice, so concurrent calls need no locks. The hot path is render_resample (per-column
 * and per-row tables, then 4 loads and 3 lerps per output pixel) and the 8-bit windowing;
 * a 128x128 patch costs ~0.1 ms before PNG encoding.
 */
#include "render.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bump when the rendering of the same inputs changes, so cached ETags change too. */
#define RENDER_VERSION 1
#define RENDER_STR_(x) #x
#define RENDER_STR(x) RENDER_STR_(x)	/* the version's digits, for the ETag */
_Static_assert(RENDER_VERSION >= 0 && RENDER_VERSION < 1000, "ETag: 3 digits of version");

const struct render_preset render_presets[] = {
	{ "soft_tissue", 400, 40 },
	{ "lung", 1500, -600 },
	{ "liver", 150, 90 },
	{ "bone", 2500, 480 },
	{ "brain", 80, 40 },
	{ "mediastinum", 350, 50 },
};
const size_t render_npresets = LSD_ARRAY_LEN(render_presets);

int render_window_parse(const char *s, const struct lesion *l, double *lo, double *hi,
			char *err)
{
	const char *comma;
	char a[64], b[64];
	size_t i, na;

	if (!s || !*s || !strcmp(s, "dicom")) {
		if (!l)
			return errf(err, "window=dicom needs a lesion; give a preset or lo,hi"),
			       LSD_EINVAL;
		if (!isfinite(l->window[0]) || !isfinite(l->window[1]) ||
		    l->window[0] >= l->window[1])
			return errf(err, "the lesion has no usable DICOM window (%g,%g)",
				    l->window[0], l->window[1]), LSD_EINVAL;
		*lo = l->window[0];
		*hi = l->window[1];
		return LSD_OK;
	}
	for (i = 0; i < render_npresets; i++) {
		if (!strcmp(s, render_presets[i].name)) {
			*lo = render_presets[i].level - render_presets[i].width / 2;
			*hi = render_presets[i].level + render_presets[i].width / 2;
			return LSD_OK;
		}
	}
	comma = strchr(s, ',');
	if (!comma)
		return errf(err, "window: unknown preset '%.40s' (soft_tissue, lung, liver, "
			    "bone, brain, mediastinum, dicom or lo,hi in HU)", s), LSD_EINVAL;
	na = (size_t)(comma - s);
	if (na >= sizeof(a) || strlen(comma + 1) >= sizeof(b))
		return errf(err, "window: too long"), LSD_EMALFORMED;
	memcpy(a, s, na);
	a[na] = '\0';
	memcpy(b, comma + 1, strlen(comma + 1) + 1);
	if (parse_f64(a, lo) || parse_f64(b, hi) || !isfinite(*lo) || !isfinite(*hi))
		return errf(err, "window: expected lo,hi in HU, got '%.40s'", s),
		       LSD_EMALFORMED;
	if (*lo >= *hi)
		return errf(err, "window: lo (%g) must be below hi (%g)", *lo, *hi),
		       LSD_EINVAL;
	if (*lo < -32768 || *hi > 32767)
		return errf(err, "window: outside the HU range -32768..32767"), LSD_EINVAL;
	return LSD_OK;
}

void render_params_init(struct render_params *p, int png_level)
{
	memset(p, 0, sizeof(*p));
	p->size = RENDER_SIZE_DEFAULT;
	p->png_level = png_level;
}

int render_params_parse(const char *size, const char *fov_mm, const char *overlay,
			const char *slice_offset, const char *format, struct render_params *p,
			char *err)
{
	int64_t v;
	double d;

	if (size) {
		if (parse_i64(size, INT32_MIN, INT32_MAX, &v))
			return errf(err, "size: not an integer"), LSD_EMALFORMED;
		if (v < 1 || v > RENDER_SIZE_MAX)
			return errf(err, "size: must be 1..%d", RENDER_SIZE_MAX), LSD_EINVAL;
		p->size = (int)v;
	}
	if (fov_mm) {
		if (parse_f64(fov_mm, &d) || !isfinite(d))
			return errf(err, "fov_mm: not a number"), LSD_EMALFORMED;
		if (d < 1 || d > 1000)
			return errf(err, "fov_mm: must be 1..1000 mm"), LSD_EINVAL;
		p->fov_mm = d;
	}
	if (overlay) {
		if (!strcmp(overlay, "none"))
			p->overlay = RENDER_OVERLAY_NONE;
		else if (!strcmp(overlay, "bbox"))
			p->overlay = RENDER_OVERLAY_BBOX;
		else if (!strcmp(overlay, "recist"))
			p->overlay = RENDER_OVERLAY_RECIST;
		else
			return errf(err, "overlay: none, bbox or recist"), LSD_EINVAL;
	}
	if (slice_offset) {
		if (parse_i64(slice_offset, -100000, 100000, &v))
			return errf(err, "slice_offset: not an integer"), LSD_EMALFORMED;
		p->slice_offset = (int)v;
	}
	if (format) {
		if (!strcmp(format, "png") || !strcmp(format, "png8"))
			p->format = RENDER_FMT_GRAY8;
		else if (!strcmp(format, "png16"))
			p->format = RENDER_FMT_PNG16;
		else
			return errf(err, "format: png or png16"), LSD_EINVAL;
	}
	if (p->format == RENDER_FMT_PNG16 && p->overlay != RENDER_OVERLAY_NONE)
		return errf(err, "format=png16 takes no overlay"), LSD_EINVAL;
	return LSD_OK;
}

static double spacing_x(const struct lesion *l)
{
	return l->spacing[0] > 0 && isfinite(l->spacing[0]) ? l->spacing[0] : 1.0;
}

static double spacing_y(const struct lesion *l)
{
	return l->spacing[1] > 0 && isfinite(l->spacing[1]) ? l->spacing[1] : spacing_x(l);
}

double render_long_diam_mm(const struct lesion *l)
{
	double dx, dy;

	if (l->diam_px[0] > 0 && isfinite(l->diam_px[0]))
		return l->diam_px[0] * spacing_x(l);
	dx = (l->recist[2] - l->recist[0]) * spacing_x(l);
	dy = (l->recist[3] - l->recist[1]) * spacing_y(l);
	return sqrt(dx * dx + dy * dy);
}

double render_default_fov_mm(const struct lesion *l)
{
	double f = 2 * render_long_diam_mm(l);
	double bw = fabs(l->bbox[2] - l->bbox[0]) * spacing_x(l);
	double bh = fabs(l->bbox[3] - l->bbox[1]) * spacing_y(l);

	f = LSD_MAX(f, 1.5 * LSD_MAX(bw, bh));
	if (!(f >= RENDER_FOV_MIN_MM))	/* also catches NaN */
		f = RENDER_FOV_MIN_MM;
	return LSD_MIN(f, RENDER_FOV_MAX_MM);
}

int render_slice_path(const struct lesion *l, int offset, char *out, size_t n, char *err)
{
	long s = (long)l->key_slice + offset;
	const char *slash = strrchr(l->image_path, '/');
	char dir[LESION_PATH_MAX];
	int w;

	if (s < l->slice_range[0] || s > l->slice_range[1])
		return errf(err, "slice_offset %d: slice %ld is outside the lesion's range "
			    "%d..%d", offset, s, l->slice_range[0], l->slice_range[1]),
		       LSD_ENOTFOUND;
	if (slash && slash != l->image_path) {
		memcpy(dir, l->image_path, (size_t)(slash - l->image_path));
		dir[slash - l->image_path] = '\0';
	} else {
		snprintf(dir, sizeof(dir), "%06d_%02d_%02d", l->patient, l->study, l->series);
	}
	if (s < 0 || s > 999999999) {	/* not for DeepLesion's slices: the general way */
		w = snprintf(out, n, "%s/%03ld.png", dir, s);
		if (w < 0 || (size_t)w >= n)
			return errf(err, "slice path too long"), LSD_EINVAL;
		return LSD_OK;
	}
	/* "%s/%03ld.png" without printf (see str_copy in util.h): this runs per patch */
	{
		char num[16];
		size_t dl = strlen(dir), k = sizeof(num), nl;

		do {
			num[--k] = (char)('0' + s % 10);
			s /= 10;
		} while (s || sizeof(num) - k < 3);
		nl = sizeof(num) - k;
		if (dl + 1 + nl + 4 >= n)
			return errf(err, "slice path too long"), LSD_EINVAL;
		memcpy(out, dir, dl);
		out[dl] = '/';
		memcpy(out + dl + 1, num + k, nl);
		memcpy(out + dl + 1 + nl, ".png", 5);
	}
	return LSD_OK;
}

void render_lesion_view(const struct lesion *l, const struct render_params *p,
			struct render_view *v)
{
	/* box centre, 1-based CSV pixels -> 0-based pixel centres */
	v->cx = (l->bbox[0] + l->bbox[2]) / 2 - 1;
	v->cy = (l->bbox[1] + l->bbox[3]) / 2 - 1;
	v->fov_mm = p->fov_mm > 0 ? p->fov_mm : render_default_fov_mm(l);
	v->sx = spacing_x(l);
	v->sy = spacing_y(l);
	v->size = p->size;
}

void render_to_view(const struct render_view *v, double x0, double y0, double *u, double *w)
{
	double mmpp = v->fov_mm / v->size;	/* mm per output pixel */

	/* inverse of x = cx + (u + 0.5 - size/2) * mmpp / sx, giving the output pixel index
	 * whose centre is at that position (u = 3.0 is the centre of column 3) */
	*u = (x0 - v->cx) * v->sx / mmpp + v->size / 2.0 - 0.5;
	*w = (y0 - v->cy) * v->sy / mmpp + v->size / 2.0 - 0.5;
}

/* Per-axis sampling table: for output index i, the two source indices (-1: outside the
 * slice, i.e. air) and the weight of the second. */
struct axis {
	int i0, i1;
	float f;
};

static struct axis axis_at(double x, int limit)
{
	struct axis a;
	double fl = floor(x);
	long k;

	if (!(fl >= -2.0))	/* also NaN */
		fl = -2.0;
	if (fl > limit + 1.0)
		fl = limit + 1.0;
	k = (long)fl;
	a.f = (float)(x - fl);
	if (!(a.f >= 0))
		a.f = 0;
	if (a.f > 1)
		a.f = 1;
	a.i0 = (k >= 0 && k < limit) ? (int)k : -1;
	a.i1 = (k + 1 >= 0 && k + 1 < limit) ? (int)(k + 1) : -1;
	return a;
}

void render_resample(const struct slice16 *s, const struct render_view *v, float *hu_out)
{
	struct axis xs[RENDER_SIZE_MAX];
	int n = v->size, u, w;
	double stepx = v->fov_mm / n / v->sx, stepy = v->fov_mm / n / v->sy;
	const float air = (float)RENDER_AIR_HU;

	if (n < 1 || n > RENDER_SIZE_MAX)
		return;
	for (u = 0; u < n; u++)
		xs[u] = axis_at(v->cx + (u + 0.5 - n / 2.0) * stepx, s->w);
	for (w = 0; w < n; w++) {
		struct axis ya = axis_at(v->cy + (w + 0.5 - n / 2.0) * stepy, s->h);
		const int16_t *r0 = ya.i0 >= 0 ? s->hu + (size_t)ya.i0 * s->w : NULL;
		const int16_t *r1 = ya.i1 >= 0 ? s->hu + (size_t)ya.i1 * s->w : NULL;
		float *o = hu_out + (size_t)w * n;

		if (!r0 && !r1) {
			for (u = 0; u < n; u++)
				o[u] = air;
			continue;
		}
		for (u = 0; u < n; u++) {
			const struct axis *xa = &xs[u];
			float a, b, c, d, top, bot;

			if (xa->i0 >= 0 && xa->i1 >= 0 && r0 && r1) {
				a = r0[xa->i0];
				b = r0[xa->i1];
				c = r1[xa->i0];
				d = r1[xa->i1];
			} else {
				a = r0 && xa->i0 >= 0 ? r0[xa->i0] : air;
				b = r0 && xa->i1 >= 0 ? r0[xa->i1] : air;
				c = r1 && xa->i0 >= 0 ? r1[xa->i0] : air;
				d = r1 && xa->i1 >= 0 ? r1[xa->i1] : air;
			}
			top = a + (b - a) * xa->f;
			bot = c + (d - c) * xa->f;
			o[u] = top + (bot - top) * ya.f;
		}
	}
}

void render_window8(const float *hu, size_t n, double lo, double hi, uint8_t *out)
{
	float scale = (float)(255.0 / (hi - lo));
	float flo = (float)lo;
	size_t i;

	/* clamp, then round half up by truncation: branch-free, so it vectorises */
	for (i = 0; i < n; i++) {
		float g = (hu[i] - flo) * scale + 0.5f;

		g = g < 0.0f ? 0.0f : g;
		g = g > 255.0f ? 255.0f : g;
		out[i] = (uint8_t)g;
	}
}

/* ---- overlays ---- */

static void put_rgb(uint8_t *rgb, int n, int x, int y, uint32_t col)
{
	uint8_t *p;

	if (x < 0 || y < 0 || x >= n || y >= n)
		return;
	p = rgb + ((size_t)y * n + x) * 3;
	p[0] = (uint8_t)(col >> 16);
	p[1] = (uint8_t)(col >> 8);
	p[2] = (uint8_t)col;
}

/* Bresenham between two output positions (rounded), clipped per pixel; endpoints far
 * outside are clamped first so the loop stays bounded. */
static void line_rgb(uint8_t *rgb, int n, double ux0, double uy0, double ux1, double uy1,
		     uint32_t col)
{
	double lim = 4.0 * n + 16;
	long x0, y0, x1, y1, dx, dy, sx, sy, e, e2, steps = 0;

	if (!isfinite(ux0) || !isfinite(uy0) || !isfinite(ux1) || !isfinite(uy1))
		return;
	ux0 = fmin(fmax(ux0, -lim), lim);
	uy0 = fmin(fmax(uy0, -lim), lim);
	ux1 = fmin(fmax(ux1, -lim), lim);
	uy1 = fmin(fmax(uy1, -lim), lim);
	x0 = lround(ux0);
	y0 = lround(uy0);
	x1 = lround(ux1);
	y1 = lround(uy1);
	dx = labs(x1 - x0);
	dy = -labs(y1 - y0);
	sx = x0 < x1 ? 1 : -1;
	sy = y0 < y1 ? 1 : -1;
	e = dx + dy;
	for (;;) {
		put_rgb(rgb, n, (int)x0, (int)y0, col);
		if ((x0 == x1 && y0 == y1) || ++steps > 20L * n + 64)
			break;
		e2 = 2 * e;
		if (e2 >= dy) {
			e += dy;
			x0 += sx;
		}
		if (e2 <= dx) {
			e += dx;
			y0 += sy;
		}
	}
}

static void draw_overlay(uint8_t *rgb, const struct render_view *v, const struct lesion *l,
			 enum render_overlay ov)
{
	double u[4], w[4];
	int i;

	if (ov == RENDER_OVERLAY_BBOX) {
		render_to_view(v, l->bbox[0] - 1, l->bbox[1] - 1, &u[0], &w[0]);
		render_to_view(v, l->bbox[2] - 1, l->bbox[3] - 1, &u[1], &w[1]);
		line_rgb(rgb, v->size, u[0], w[0], u[1], w[0], RENDER_RGB_BBOX);
		line_rgb(rgb, v->size, u[1], w[0], u[1], w[1], RENDER_RGB_BBOX);
		line_rgb(rgb, v->size, u[1], w[1], u[0], w[1], RENDER_RGB_BBOX);
		line_rgb(rgb, v->size, u[0], w[1], u[0], w[0], RENDER_RGB_BBOX);
	} else if (ov == RENDER_OVERLAY_RECIST) {
		for (i = 0; i < 4; i++)
			render_to_view(v, l->recist[2 * i] - 1, l->recist[2 * i + 1] - 1, &u[i],
				       &w[i]);
		/* short axis first, so the long axis wins where they cross */
		line_rgb(rgb, v->size, u[2], w[2], u[3], w[3], RENDER_RGB_SHORT);
		line_rgb(rgb, v->size, u[0], w[0], u[1], w[1], RENDER_RGB_LONG);
	}
}

int render_patch_pixels(const struct slice16 *s, const struct lesion *l,
			const struct render_params *p, void **pxout, int *chan, char *err)
{
	struct render_view v;
	size_t n, i;
	float *hu = NULL;
	void *px = NULL;
	int rc = LSD_ENOMEM;

	*pxout = NULL;
	*chan = 0;
	if (p->size < 1 || p->size > RENDER_SIZE_MAX)
		return errf(err, "size: must be 1..%d", RENDER_SIZE_MAX), LSD_EINVAL;
	if (p->format != RENDER_FMT_PNG16 && !(p->lo < p->hi))
		return errf(err, "window: lo must be below hi"), LSD_EINVAL;
	render_lesion_view(l, p, &v);
	n = (size_t)v.size * v.size;
	hu = malloc(n * sizeof(*hu));
	if (!hu) {
		errf(err, "out of memory");
		goto out;
	}
	render_resample(s, &v, hu);
	if (p->format == RENDER_FMT_PNG16) {
		uint16_t *o = malloc(n * sizeof(*o));

		if (!(px = o)) {
			errf(err, "out of memory");
			goto out;
		}
		for (i = 0; i < n; i++) {
			long h = lrintf(hu[i]);

			h = h < -32768 ? -32768 : h > 32767 ? 32767 : h;
			o[i] = (uint16_t)(h + IMAGE_HU_OFFSET);
		}
		*chan = 2;
	} else if (p->overlay == RENDER_OVERLAY_NONE) {
		if (!(px = malloc(n))) {
			errf(err, "out of memory");
			goto out;
		}
		render_window8(hu, n, p->lo, p->hi, px);
		*chan = 1;
	} else {
		uint8_t *rgb = malloc(n * 3);

		if (!(px = rgb)) {
			errf(err, "out of memory");
			goto out;
		}
		/* window into the last third, then spread gray to RGB front to back */
		render_window8(hu, n, p->lo, p->hi, rgb + 2 * n);
		for (i = 0; i < n; i++) {
			uint8_t g = rgb[2 * n + i];

			rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g;
		}
		draw_overlay(rgb, &v, l, p->overlay);
		*chan = 3;
	}
	*pxout = px;
	px = NULL;
	rc = LSD_OK;
out:
	free(hu);
	free(px);
	return rc;
}

static int encode(const void *px, int w, int h, int chan, int level, unsigned char **png,
		  size_t *len, char *err)
{
	enum image_fmt f = chan == 3 ? IMAGE_RGB8 : chan == 2 ? IMAGE_GRAY16 : IMAGE_GRAY8;

	if (image_encode_png(px, w, h, f, level, png, len, err))
		return LSD_ENOMEM;
	return LSD_OK;
}

int render_patch_png(const struct slice16 *s, const struct lesion *l,
		     const struct render_params *p, unsigned char **png, size_t *len, char *err)
{
	void *px = NULL;
	int chan, rc;

	*png = NULL;
	*len = 0;
	rc = render_patch_pixels(s, l, p, &px, &chan, err);
	if (rc == LSD_OK)
		rc = encode(px, p->size, p->size, chan, p->png_level, png, len, err);
	free(px);
	return rc;
}

int render_slice_png(const struct slice16 *s, const struct render_params *p, int size,
		     unsigned char **png, size_t *len, char *err)
{
	size_t n, i;
	int w = s->w, h = s->h, chan = p->format == RENDER_FMT_PNG16 ? 2 : 1;
	float *hu = NULL;
	void *px = NULL;
	int rc = LSD_ENOMEM;

	*png = NULL;
	*len = 0;
	if (p->format != RENDER_FMT_PNG16 && !(p->lo < p->hi))
		return errf(err, "window: lo must be below hi"), LSD_EINVAL;
	if (size < 0 || size > RENDER_SIZE_MAX)
		return errf(err, "size: must be 1..%d", RENDER_SIZE_MAX), LSD_EINVAL;
	if (size > 0) {
		struct render_view v;

		/* pixel units: the view spans the longer side, centred on the slice */
		v.cx = (w - 1) / 2.0;
		v.cy = (h - 1) / 2.0;
		v.sx = v.sy = 1;
		v.fov_mm = LSD_MAX(w, h);
		v.size = size;
		w = h = size;
		hu = malloc((size_t)size * size * sizeof(*hu));
		if (!hu) {
			errf(err, "out of memory");
			goto out;
		}
		render_resample(s, &v, hu);
	}
	n = (size_t)w * h;
	px = malloc(n * (size_t)chan);
	if (!px) {
		errf(err, "out of memory");
		goto out;
	}
	if (chan == 2) {
		uint16_t *o = px;

		for (i = 0; i < n; i++) {
			long v = hu ? lrintf(hu[i]) : s->hu[i];

			v = v < -32768 ? -32768 : v > 32767 ? 32767 : v;
			o[i] = (uint16_t)(v + IMAGE_HU_OFFSET);
		}
	} else if (hu) {
		render_window8(hu, n, p->lo, p->hi, px);
	} else {
		/* native pixels: window the int16 values directly */
		uint8_t *o = px;
		float scale = (float)(255.0 / (p->hi - p->lo)), flo = (float)p->lo;

		for (i = 0; i < n; i++) {
			float g = ((float)s->hu[i] - flo) * scale + 0.5f;

			g = g < 0.0f ? 0.0f : g;
			g = g > 255.0f ? 255.0f : g;
			o[i] = (uint8_t)g;
		}
	}
	rc = encode(px, w, h, chan, p->png_level, png, len, err);
out:
	free(hu);
	free(px);
	return rc;
}

static uint64_t hash_f64(uint64_t h, double d)
{
	return fnv1a64(&d, sizeof(d), h);
}

static uint64_t hash_i64(uint64_t h, int64_t v)
{
	return fnv1a64(&v, sizeof(v), h);
}

void render_etag(const struct render_source *src, const struct lesion *l,
		 const struct render_params *p, int slice_size, char out[RENDER_ETAG_LEN])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	int i;

	h = hash_i64(h, RENDER_VERSION);
	h = fnv1a64(src->path, strlen(src->path) + 1, h);
	h = hash_i64(h, src->size);
	h = hash_i64(h, src->mtime_ns);
	h = hash_i64(h, (int64_t)src->ino);
	h = hash_i64(h, l != NULL);
	if (l) {
		h = hash_i64(h, l->id);
		h = hash_i64(h, l->key_slice);
		for (i = 0; i < 8; i++)
			h = hash_f64(h, l->recist[i]);
		for (i = 0; i < 4; i++)
			h = hash_f64(h, l->bbox[i]);
		for (i = 0; i < 2; i++)
			h = hash_f64(h, l->diam_px[i]);
		for (i = 0; i < 3; i++)
			h = hash_f64(h, l->spacing[i]);
		h = hash_f64(h, l->window[0]);
		h = hash_f64(h, l->window[1]);
		h = hash_i64(h, l->slice_range[0]);
		h = hash_i64(h, l->slice_range[1]);
	}
	/* the window is hashed as resolved numbers, so window=dicom and the same lo,hi share
	 * an ETag exactly when they give the same pixels */
	h = hash_f64(h, p->format == RENDER_FMT_PNG16 ? 0 : p->lo);
	h = hash_f64(h, p->format == RENDER_FMT_PNG16 ? 0 : p->hi);
	h = hash_f64(h, p->fov_mm);
	h = hash_i64(h, p->size);
	h = hash_i64(h, p->overlay);
	h = hash_i64(h, p->format);
	h = hash_i64(h, p->slice_offset);
	h = hash_i64(h, p->png_level);
	h = hash_i64(h, IMAGE_ENCODE_VERSION);	/* same pixels, other bytes */
	h = hash_i64(h, slice_size);
	/* "\"r%d-%016llx\"" without printf (per patch request; see str_copy in util.h) */
	{
		static const char hex[] = "0123456789abcdef";
		char *o = out;

		*o++ = '"';
		*o++ = 'r';
		o += str_copy(o, 4, RENDER_STR(RENDER_VERSION));
		*o++ = '-';
		for (i = 15; i >= 0; i--)
			*o++ = hex[(h >> (i * 4)) & 15];
		*o++ = '"';
		*o = '\0';
	}
}
