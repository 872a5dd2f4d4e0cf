/* test_render.c - the renderer against values computed here from the source HU.
 *
 * Synthetic slices hold a plane HU(x,y) = A*x + B*y + C (x, y 0-based pixel indices), so
 * the HU at any continuous position inside the slice is known in closed form and
 * bilinear interpolation must reproduce it exactly. Expected sample positions follow
 * the documented geometry: 1-based CSV box -> 0-based centre, mm -> pixels per axis.
 * Also: window arithmetic, air padding at borders, 768x768 slices, anisotropic
 * spacing, RECIST/bbox overlays at their endpoints, neighbour slice paths, ETags, and
 * the PNG decoder's rejection of 8-bit, colour, truncated and corrupt files.
 */
#include "unit.h"
#include "image.h"
#include "render.h"
#include "util.h"

#include <stdint.h>
#include <unistd.h>

#define A 7.0
#define B (-5.0)
#define C 100.0

static double plane(double x, double y)
{
	return A * x + B * y + C;
}

static struct slice16 make_plane(int w, int h)
{
	struct slice16 s;
	int x, y;

	s.w = w;
	s.h = h;
	s.hu = malloc((size_t)w * h * sizeof(int16_t));
	for (y = 0; y < h; y++)
		for (x = 0; x < w; x++)
			s.hu[(size_t)y * w + x] = (int16_t)plane(x, y);
	return s;
}

/* Reference bilinear sample with air outside: written independently of render.c. */
static double ref_sample(const struct slice16 *s, double x, double y)
{
	int x0 = (int)floor(x), y0 = (int)floor(y), i, j;
	double fx = x - x0, fy = y - y0, v[2][2];

	for (j = 0; j < 2; j++)
		for (i = 0; i < 2; i++) {
			int xi = x0 + i, yj = y0 + j;

			v[j][i] = (xi < 0 || yj < 0 || xi >= s->w || yj >= s->h) ? -1000.0 :
				  s->hu[(size_t)yj * s->w + xi];
		}
	return (1 - fy) * ((1 - fx) * v[0][0] + fx * v[0][1]) +
	       fy * ((1 - fx) * v[1][0] + fx * v[1][1]);
}

static int gray(double hu, double lo, double hi)
{
	double g = (hu - lo) * 255.0 / (hi - lo);

	if (g <= 0)
		return 0;
	if (g >= 255)
		return 255;
	return (int)floor(g + 0.5);
}

static struct lesion make_lesion(double x1, double y1, double x2, double y2, double sp)
{
	struct lesion l;

	memset(&l, 0, sizeof(l));
	l.id = 1;
	snprintf(l.file_name, sizeof(l.file_name), "000001_01_01_109.png");
	snprintf(l.image_path, sizeof(l.image_path), "000001_01_01/109.png");
	l.patient = l.study = l.series = 1;
	l.key_slice = 109;
	l.slice_range[0] = 103;
	l.slice_range[1] = 115;
	l.bbox[0] = x1;
	l.bbox[1] = y1;
	l.bbox[2] = x2;
	l.bbox[3] = y2;
	/* long axis: the box's diagonal shrunk by 5 px; short axis across it, its endpoints
	 * off the long axis */
	l.recist[0] = x1 + 5;
	l.recist[1] = y1 + 5;
	l.recist[2] = x2 - 5;
	l.recist[3] = y2 - 5;
	l.recist[4] = x1 + 10;
	l.recist[5] = y2 - 8;
	l.recist[6] = x2 - 14;
	l.recist[7] = y1 + 9;
	l.diam_px[0] = hypot(x2 - x1 - 10, y2 - y1 - 10);
	l.diam_px[1] = l.diam_px[0] / 2;
	l.spacing[0] = l.spacing[1] = sp;
	l.spacing[2] = 5;
	l.image_size[0] = l.image_size[1] = 512;
	l.window[0] = -175;
	l.window[1] = 275;
	l.type = 3;
	return l;
}

/* Expected sample position for output pixel (u,v), from the documented geometry. */
static void expect_pos(const struct lesion *l, double fov, int size, int u, int v,
		       double *x, double *y)
{
	double cx = (l->bbox[0] + l->bbox[2]) / 2.0 - 1.0;
	double cy = (l->bbox[1] + l->bbox[3]) / 2.0 - 1.0;
	double mm_per_out = fov / size;

	*x = cx + (u + 0.5 - size / 2.0) * mm_per_out / l->spacing[0];
	*y = cy + (v + 0.5 - size / 2.0) * mm_per_out / l->spacing[1];
}

static void test_window_parse(void)
{
	struct lesion l = make_lesion(100, 100, 120, 120, 0.7);
	char err[LSD_ERRLEN];
	double lo = 0, hi = 0;
	static const struct { const char *s; double lo, hi; } ok[] = {
		{ "soft_tissue", -160, 240 }, { "lung", -1350, 150 }, { "liver", 15, 165 },
		{ "bone", -770, 1730 }, { "brain", 0, 80 }, { "mediastinum", -125, 225 },
		{ "dicom", -175, 275 }, { "-100,300", -100, 300 }, { "-1024.5,3071", -1024.5, 3071 },
	};
	size_t i;

	for (i = 0; i < LSD_ARRAY_LEN(ok); i++) {
		CHECK_EQ_INT(render_window_parse(ok[i].s, &l, &lo, &hi, err), LSD_OK);
		CHECK_NEAR(lo, ok[i].lo, 1e-9);
		CHECK_NEAR(hi, ok[i].hi, 1e-9);
	}
	CHECK_EQ_INT(render_window_parse(NULL, &l, &lo, &hi, err), LSD_OK);	/* default */
	CHECK_NEAR(lo, -175, 0);
	CHECK_EQ_INT(render_window_parse("", &l, &lo, &hi, err), LSD_OK);
	CHECK_EQ_INT(render_window_parse("abdomen", &l, &lo, &hi, err), LSD_EINVAL);
	CHECK(strstr(err, "preset") != NULL);
	CHECK_EQ_INT(render_window_parse("100,-100", &l, &lo, &hi, err), LSD_EINVAL);
	CHECK_EQ_INT(render_window_parse("5,5", &l, &lo, &hi, err), LSD_EINVAL);
	CHECK_EQ_INT(render_window_parse("1,abc", &l, &lo, &hi, err), LSD_EMALFORMED);
	CHECK_EQ_INT(render_window_parse("1,2,3", &l, &lo, &hi, err), LSD_EMALFORMED);
	CHECK_EQ_INT(render_window_parse(",", &l, &lo, &hi, err), LSD_EMALFORMED);
	CHECK_EQ_INT(render_window_parse("nan,1", &l, &lo, &hi, err), LSD_EMALFORMED);
	CHECK_EQ_INT(render_window_parse("dicom", NULL, &lo, &hi, err), LSD_EINVAL);
	l.window[0] = l.window[1] = 0;
	CHECK_EQ_INT(render_window_parse("dicom", &l, &lo, &hi, err), LSD_EINVAL);
}

static void test_params_parse(void)
{
	struct render_params p;
	char err[LSD_ERRLEN];

	render_params_init(&p, 1);
	CHECK_EQ_INT(p.size, 128);
	CHECK_EQ_INT(render_params_parse("256", "80.5", "recist", "-2", NULL, &p, err), 0);
	CHECK_EQ_INT(p.size, 256);
	CHECK_NEAR(p.fov_mm, 80.5, 0);
	CHECK_EQ_INT(p.overlay, RENDER_OVERLAY_RECIST);
	CHECK_EQ_INT(p.slice_offset, -2);
	CHECK_EQ_INT(render_params_parse("1025", NULL, NULL, NULL, NULL, &p, err), LSD_EINVAL);
	CHECK_EQ_INT(render_params_parse("0", NULL, NULL, NULL, NULL, &p, err), LSD_EINVAL);
	CHECK_EQ_INT(render_params_parse("12x", NULL, NULL, NULL, NULL, &p, err),
		     LSD_EMALFORMED);
	CHECK_EQ_INT(render_params_parse(NULL, "0", NULL, NULL, NULL, &p, err), LSD_EINVAL);
	CHECK_EQ_INT(render_params_parse(NULL, NULL, "circle", NULL, NULL, &p, err),
		     LSD_EINVAL);
	CHECK_EQ_INT(render_params_parse(NULL, NULL, NULL, "one", NULL, &p, err),
		     LSD_EMALFORMED);
	render_params_init(&p, 1);
	CHECK_EQ_INT(render_params_parse(NULL, NULL, NULL, NULL, "png16", &p, err), 0);
	CHECK_EQ_INT(p.format, RENDER_FMT_PNG16);
	CHECK_EQ_INT(render_params_parse(NULL, NULL, "bbox", NULL, NULL, &p, err), LSD_EINVAL);
	CHECK_EQ_INT(render_params_parse(NULL, NULL, NULL, NULL, "jpeg", &p, err), LSD_EINVAL);
}

static void test_default_fov(void)
{
	struct lesion l = make_lesion(100, 100, 140, 130, 0.8);

	/* long diameter hypot(30, 20) px = 36.06 px = 28.84 mm; 2x = 57.7 mm; box 40 px *
	 * 0.8 * 1.5 = 48 mm -> 57.7 */
	CHECK_NEAR(render_default_fov_mm(&l), 2 * hypot(30, 20) * 0.8, 1e-9);
	l = make_lesion(100, 100, 112, 112, 0.8);	/* small: 40 mm floor */
	CHECK_NEAR(render_default_fov_mm(&l), 40, 1e-9);
	l = make_lesion(10, 10, 500, 500, 0.9);		/* huge: 500 mm cap */
	CHECK_NEAR(render_default_fov_mm(&l), 500, 1e-9);
	l.diam_px[0] = 0;	/* no diameter: from the RECIST long axis */
	l = make_lesion(100, 100, 140, 130, 0.8);
	l.diam_px[0] = 0;
	CHECK_NEAR(render_long_diam_mm(&l), hypot(30, 20) * 0.8, 1e-9);
}

/* png16 pixels = round(HU) + 32768 at the documented positions, on a plane. */
static void check_geometry(const struct slice16 *s, const struct lesion *l, double fov,
			   int size)
{
	struct render_params p;
	char err[LSD_ERRLEN];
	void *px = NULL;
	int chan = 0, u, v, bad = 0;

	render_params_init(&p, 1);
	p.format = RENDER_FMT_PNG16;
	p.size = size;
	p.fov_mm = fov;
	CHECK_EQ_INT(render_patch_pixels(s, l, &p, &px, &chan, err), 0);
	CHECK_EQ_INT(chan, 2);
	if (!px)
		return;
	for (v = 0; v < size; v++)
		for (u = 0; u < size; u++) {
			double x, y, want;
			int got = (int)((uint16_t *)px)[(size_t)v * size + u] - 32768;

			expect_pos(l, fov, size, u, v, &x, &y);
			if (x >= 0 && y >= 0 && x <= s->w - 1 && y <= s->h - 1)
				want = plane(x, y);
			else
				want = ref_sample(s, x, y);
			if (fabs(got - want) > 0.5 + 1e-3 && bad++ < 5)
				fprintf(stderr, "  (%d,%d) at (%.3f,%.3f): got %d want %.3f\n",
					u, v, x, y, got, want);
		}
	CHECK_EQ_INT(bad, 0);
	free(px);
}

static void test_geometry(void)
{
	struct slice16 s = make_plane(512, 512);
	struct lesion l = make_lesion(200, 100, 240, 130, 0.8);

	check_geometry(&s, &l, 64, 128);	/* 0.5 mm per output px, 0.625 source px */
	check_geometry(&s, &l, 51.2, 64);	/* exactly 1 source px per output px */
	check_geometry(&s, &l, 40, 300);	/* upsampling */
	l = make_lesion(201, 101, 211, 111, 0.488281);	/* odd centre, DeepLesion spacing */
	check_geometry(&s, &l, 30, 97);
	slice16_free(&s);
}

static void test_border_padding(void)
{
	struct slice16 s = make_plane(512, 512);
	struct lesion l = make_lesion(1, 1, 21, 21, 0.8);
	struct render_params p;
	char err[LSD_ERRLEN];
	void *px = NULL;
	int chan, u, v, air = 0, bad = 0;

	check_geometry(&s, &l, 80, 128);	/* covers x,y < 0: ref_sample pads air */
	l = make_lesion(495, 480, 512, 512, 0.8);
	check_geometry(&s, &l, 80, 128);
	/* gray8: samples entirely outside are exactly the air gray */
	render_params_init(&p, 1);
	p.lo = -1100;
	p.hi = 4000;
	p.fov_mm = 80;
	CHECK_EQ_INT(render_patch_pixels(&s, &l, &p, &px, &chan, err), 0);
	CHECK_EQ_INT(chan, 1);
	for (v = 0; px && v < 128; v++)
		for (u = 0; u < 128; u++) {
			double x, y;
			int g = ((uint8_t *)px)[v * 128 + u];

			expect_pos(&l, 80, 128, u, v, &x, &y);
			if (x >= s.w || y >= s.h) {
				air++;
				bad += g != gray(-1000, p.lo, p.hi);
			} else {
				bad += abs(g - gray(ref_sample(&s, x, y), p.lo, p.hi)) > 1;
			}
		}
	CHECK(air > 1000);
	CHECK_EQ_INT(bad, 0);
	free(px);
	slice16_free(&s);
}

static void test_window_pixels(void)
{
	struct slice16 s = make_plane(512, 512);
	struct lesion l = make_lesion(200, 200, 260, 240, 0.7);
	struct render_params p;
	char err[LSD_ERRLEN];
	const char *wins[] = { "dicom", "soft_tissue", "lung", "liver", "-300,900" };
	size_t k;

	for (k = 0; k < LSD_ARRAY_LEN(wins); k++) {
		void *px = NULL;
		int chan, u, v, exact = 0, bad = 0;

		render_params_init(&p, 1);
		p.fov_mm = 90;
		CHECK_EQ_INT(render_window_parse(wins[k], &l, &p.lo, &p.hi, err), 0);
		CHECK_EQ_INT(render_patch_pixels(&s, &l, &p, &px, &chan, err), 0);
		for (v = 0; px && v < 128; v++)
			for (u = 0; u < 128; u++) {
				double x, y;
				int g = ((uint8_t *)px)[v * 128 + u], want;

				expect_pos(&l, 90, 128, u, v, &x, &y);
				want = gray(plane(x, y), p.lo, p.hi);
				exact += g == want;
				bad += abs(g - want) > 1;
			}
		CHECK_EQ_INT(bad, 0);
		CHECK(exact > 128 * 128 * 99 / 100);	/* off by one only at .5 ties */
		free(px);
	}
	slice16_free(&s);
}

static void test_768_and_file(void)
{
	struct slice16 s = make_plane(768, 768), r;
	uint16_t *raw = malloc(768 * 768 * 2);
	struct lesion l = make_lesion(700, 20, 760, 60, 0.6);
	char path[512], err[LSD_ERRLEN];
	const char *tmp = getenv("LSD_TEST_TMP");
	size_t i;
	int same = 1;

	for (i = 0; i < 768 * 768; i++)
		raw[i] = (uint16_t)(s.hu[i] + 32768);
	snprintf(path, sizeof(path), "%s/render768_%d.png", tmp ? tmp : "/tmp", (int)getpid());
	CHECK_EQ_INT(image_write_png16_file(path, raw, 768, 768, 1, err), 0);
	CHECK_EQ_INT(image_read_png16(path, 0, &r, err), 0);
	CHECK_EQ_INT(r.w, 768);
	CHECK_EQ_INT(r.h, 768);
	for (i = 0; r.hu && i < 768 * 768; i++)
		same &= r.hu[i] == s.hu[i];
	CHECK(same);
	/* max_rows: rows past it are air */
	slice16_free(&r);
	CHECK_EQ_INT(image_read_png16(path, 100, &r, err), 0);
	CHECK(r.hu && r.hu[99 * 768 + 5] == s.hu[99 * 768 + 5] && r.hu[100 * 768 + 5] == -1000);
	slice16_free(&r);
	check_geometry(&s, &l, 70, 128);
	unlink(path);
	free(raw);
	slice16_free(&s);
}

static void test_anisotropic(void)
{
	struct slice16 s = make_plane(512, 512);
	struct lesion l = make_lesion(200, 200, 240, 240, 0.5);

	l.spacing[1] = 1.0;	/* 0.5 mm/px in x, 1 mm/px in y */
	check_geometry(&s, &l, 64, 64);
	l.spacing[0] = 0.9;
	l.spacing[1] = 0.6;
	check_geometry(&s, &l, 50, 100);
	slice16_free(&s);
}

static int is_rgb(const uint8_t *px, int size, int x, int y, uint32_t col)
{
	const uint8_t *p = px + ((size_t)y * size + x) * 3;

	return p[0] == (uint8_t)(col >> 16) && p[1] == (uint8_t)(col >> 8) &&
	       p[2] == (uint8_t)col;
}

/* the output pixel for a 1-based CSV point, computed from the documented geometry */
static void out_px(const struct lesion *l, double fov, int size, double xc, double yc,
		   int *u, int *v)
{
	double cx = (l->bbox[0] + l->bbox[2]) / 2.0 - 1.0;
	double cy = (l->bbox[1] + l->bbox[3]) / 2.0 - 1.0;

	*u = (int)lround((xc - 1 - cx) * l->spacing[0] / (fov / size) + size / 2.0 - 0.5);
	*v = (int)lround((yc - 1 - cy) * l->spacing[1] / (fov / size) + size / 2.0 - 0.5);
}

static void test_overlays(void)
{
	struct slice16 s = make_plane(512, 512);
	struct lesion l = make_lesion(200, 150, 250, 190, 0.75);
	struct render_params p;
	char err[LSD_ERRLEN];
	void *px = NULL;
	int chan, u, v, i, gray_ok = 1;

	render_params_init(&p, 1);
	p.lo = -2000;
	p.hi = 2000;
	p.overlay = RENDER_OVERLAY_RECIST;
	p.fov_mm = 100;
	p.size = 200;
	CHECK_EQ_INT(render_patch_pixels(&s, &l, &p, &px, &chan, err), 0);
	CHECK_EQ_INT(chan, 3);
	if (!px)
		goto out;
	for (i = 0; i < 2; i++) {	/* long axis endpoints red */
		out_px(&l, 100, 200, l.recist[2 * i], l.recist[2 * i + 1], &u, &v);
		CHECK(is_rgb(px, 200, u, v, RENDER_RGB_LONG));
	}
	for (i = 2; i < 4; i++) {	/* short axis endpoints blue */
		out_px(&l, 100, 200, l.recist[2 * i], l.recist[2 * i + 1], &u, &v);
		CHECK(is_rgb(px, 200, u, v, RENDER_RGB_SHORT));
	}
	/* the middle of the long axis is on the line too */
	out_px(&l, 100, 200, (l.recist[0] + l.recist[2]) / 2, (l.recist[1] + l.recist[3]) / 2,
	       &u, &v);
	CHECK(is_rgb(px, 200, u, v, RENDER_RGB_LONG) || is_rgb(px, 200, u + 1, v, RENDER_RGB_LONG) ||
	      is_rgb(px, 200, u, v + 1, RENDER_RGB_LONG) || is_rgb(px, 200, u - 1, v, RENDER_RGB_LONG));
	/* a corner far from the lesion keeps its windowed gray */
	{
		double x, y;
		const uint8_t *q = (const uint8_t *)px;
		int g;

		expect_pos(&l, 100, 200, 3, 3, &x, &y);
		g = gray(plane(x, y), p.lo, p.hi);
		gray_ok = abs(q[(3 * 200 + 3) * 3] - g) <= 1 && q[(3 * 200 + 3) * 3] ==
			  q[(3 * 200 + 3) * 3 + 1] && q[(3 * 200 + 3) * 3 + 1] == q[(3 * 200 + 3) * 3 + 2];
	}
	CHECK(gray_ok);
	free(px);
	px = NULL;
	p.overlay = RENDER_OVERLAY_BBOX;
	CHECK_EQ_INT(render_patch_pixels(&s, &l, &p, &px, &chan, err), 0);
	if (!px)
		goto out;
	for (i = 0; i < 4; i++) {	/* the four corners are green */
		out_px(&l, 100, 200, l.bbox[(i & 1) ? 2 : 0], l.bbox[(i & 2) ? 3 : 1], &u, &v);
		CHECK(is_rgb(px, 200, u, v, RENDER_RGB_BBOX));
	}
	/* the box centre is not */
	out_px(&l, 100, 200, (l.bbox[0] + l.bbox[2]) / 2, (l.bbox[1] + l.bbox[3]) / 2, &u, &v);
	CHECK(!is_rgb(px, 200, u, v, RENDER_RGB_BBOX));
out:
	free(px);
	slice16_free(&s);
}

static void test_png_roundtrip(void)
{
	struct slice16 s = make_plane(512, 512), r;
	struct lesion l = make_lesion(200, 100, 240, 130, 0.8);
	struct render_params p;
	char err[LSD_ERRLEN];
	unsigned char *png = NULL, *px8 = NULL;
	void *px = NULL;
	size_t len = 0;
	int chan, w, h, c;

	render_params_init(&p, 1);
	CHECK_EQ_INT(render_window_parse("lung", &l, &p.lo, &p.hi, err), 0);
	CHECK_EQ_INT(render_patch_png(&s, &l, &p, &png, &len, err), 0);
	CHECK_EQ_INT(render_patch_pixels(&s, &l, &p, &px, &chan, err), 0);
	CHECK_EQ_INT(image_decode_png8(png, len, &w, &h, &c, &px8, err), 0);
	CHECK(w == 128 && h == 128 && c == 1);
	CHECK(px8 && px && !memcmp(px8, px, 128 * 128));
	free(png);
	free(px8);
	free(px);
	/* png16 decodes back to the HU samples */
	p.format = RENDER_FMT_PNG16;
	p.size = 64;
	CHECK_EQ_INT(render_patch_png(&s, &l, &p, &png, &len, err), 0);
	CHECK_EQ_INT(image_decode_png16(png, len, &r, err), 0);
	CHECK(r.w == 64 && r.h == 64);
	CHECK_EQ_INT(render_patch_pixels(&s, &l, &p, &px, &chan, err), 0);
	if (r.hu && px)
		CHECK_EQ_INT(r.hu[64 * 20 + 30], (int)((uint16_t *)px)[64 * 20 + 30] - 32768);
	slice16_free(&r);
	free(png);
	free(px);
	/* whole slice, native pixels: exact per-pixel windowing */
	render_params_init(&p, 1);
	p.lo = -3000;
	p.hi = 4000;
	CHECK_EQ_INT(render_slice_png(&s, &p, 0, &png, &len, err), 0);
	CHECK_EQ_INT(image_decode_png8(png, len, &w, &h, &c, &px8, err), 0);
	CHECK(w == 512 && h == 512 && c == 1);
	if (px8) {
		CHECK_EQ_INT(px8[0], gray(plane(0, 0), p.lo, p.hi));
		CHECK_EQ_INT(px8[511 * 512 + 300], gray(plane(300, 511), p.lo, p.hi));
		CHECK_EQ_INT(px8[77 * 512 + 400], gray(plane(400, 77), p.lo, p.hi));
	}
	free(png);
	free(px8);
	/* whole slice at size 256: sample (u,v) sits at 2u + 0.5 */
	CHECK_EQ_INT(render_slice_png(&s, &p, 256, &png, &len, err), 0);
	CHECK_EQ_INT(image_decode_png8(png, len, &w, &h, &c, &px8, err), 0);
	CHECK(w == 256 && h == 256);
	if (px8)
		CHECK(abs(px8[10 * 256 + 20] - gray(plane(40.5, 20.5), p.lo, p.hi)) <= 1);
	free(png);
	free(px8);
	slice16_free(&s);
}

static void test_slice_path(void)
{
	struct lesion l = make_lesion(1, 1, 2, 2, 1);
	char out[128], err[LSD_ERRLEN];

	CHECK_EQ_INT(render_slice_path(&l, 0, out, sizeof(out), err), 0);
	CHECK_STR(out, "000001_01_01/109.png");
	CHECK_EQ_INT(render_slice_path(&l, -6, out, sizeof(out), err), 0);
	CHECK_STR(out, "000001_01_01/103.png");
	CHECK_EQ_INT(render_slice_path(&l, 6, out, sizeof(out), err), 0);
	CHECK_STR(out, "000001_01_01/115.png");
	CHECK_EQ_INT(render_slice_path(&l, 7, out, sizeof(out), err), LSD_ENOTFOUND);
	CHECK_EQ_INT(render_slice_path(&l, -7, out, sizeof(out), err), LSD_ENOTFOUND);
	l.key_slice = 5;
	l.slice_range[0] = 1;
	l.slice_range[1] = 9;
	l.image_path[0] = '\0';	/* rebuilt from patient/study/series */
	l.patient = 4242;
	l.study = 3;
	l.series = 12;
	CHECK_EQ_INT(render_slice_path(&l, -1, out, sizeof(out), err), 0);
	CHECK_STR(out, "004242_03_12/004.png");
	/* the printf-free writer against printf's "%s/%03ld.png" over every width */
	l.key_slice = 0;
	l.slice_range[0] = 0;
	l.slice_range[1] = 2000000000;
	for (long s = 0; s < 2000000000L; s = s < 1200 ? s + 1 : s * 3 + 7) {
		char want[128];

		snprintf(want, sizeof(want), "004242_03_12/%03ld.png", s);
		CHECK_EQ_INT(render_slice_path(&l, (int)s, out, sizeof(out), err), 0);
		if (strcmp(out, want))
			CHECK_STR(out, want);
	}
	CHECK_EQ_INT(render_slice_path(&l, 1, out, 21, err), 0);	/* 20 + NUL fits */
	CHECK_EQ_INT(render_slice_path(&l, 1, out, 20, err), LSD_EINVAL);
}

static void test_etag(void)
{
	struct lesion l = make_lesion(200, 100, 240, 130, 0.8), l2;
	struct render_source src = { "000001_01_01/109.png", 12345, 1700000000000000000LL, 77 };
	struct render_source src2 = src;
	struct render_params p, q;
	char a[RENDER_ETAG_LEN], b[RENDER_ETAG_LEN];

	render_params_init(&p, 1);
	p.lo = -175;
	p.hi = 275;
	render_etag(&src, &l, &p, 0, a);
	render_etag(&src, &l, &p, 0, b);
	CHECK_STR(a, b);
	CHECK(a[0] == '"' && a[strlen(a) - 1] == '"');
	{	/* the shape printf's "\"r%d-%016llx\"" gave */
		unsigned long long h = 0;
		char again[RENDER_ETAG_LEN];

		CHECK_EQ_INT(strlen(a), 21);
		CHECK_EQ_INT(sscanf(a, "\"r1-%16llx\"", &h), 1);
		snprintf(again, sizeof(again), "\"r%d-%016llx\"", 1, h);
		CHECK_STR(a, again);
	}
	q = p; q.size = 129; render_etag(&src, &l, &q, 0, b); CHECK(strcmp(a, b));
	q = p; q.hi = 276; render_etag(&src, &l, &q, 0, b); CHECK(strcmp(a, b));
	q = p; q.fov_mm = 50; render_etag(&src, &l, &q, 0, b); CHECK(strcmp(a, b));
	q = p; q.overlay = RENDER_OVERLAY_BBOX; render_etag(&src, &l, &q, 0, b); CHECK(strcmp(a, b));
	q = p; q.slice_offset = 1; render_etag(&src, &l, &q, 0, b); CHECK(strcmp(a, b));
	q = p; q.format = RENDER_FMT_PNG16; render_etag(&src, &l, &q, 0, b); CHECK(strcmp(a, b));
	q = p; q.png_level = 6; render_etag(&src, &l, &q, 0, b); CHECK(strcmp(a, b));
	src2.mtime_ns++; render_etag(&src2, &l, &p, 0, b); CHECK(strcmp(a, b));
	src2 = src; src2.size++; render_etag(&src2, &l, &p, 0, b); CHECK(strcmp(a, b));
	src2 = src; src2.path = "000001_01_01/110.png"; render_etag(&src2, &l, &p, 0, b);
	CHECK(strcmp(a, b));
	l2 = l; l2.bbox[0] += 1; render_etag(&src, &l2, &p, 0, b); CHECK(strcmp(a, b));
	render_etag(&src, NULL, &p, 0, b); CHECK(strcmp(a, b));
}

/* ---- the decoder's rejections ---- */

static void test_decode_rejects(void)
{
	uint16_t v16[32 * 32];
	uint8_t v8[32 * 32 * 3];
	unsigned char *png = NULL, *bad = NULL;
	size_t len = 0, i, cut;
	struct slice16 s;
	char err[LSD_ERRLEN], path[512];
	const char *tmp = getenv("LSD_TEST_TMP");
	int ok = 0, failed = 0;
	unsigned seed = 12345;

	for (i = 0; i < 32 * 32; i++)
		v16[i] = (uint16_t)(32768 - 1000 + (int)i);
	memset(v8, 100, sizeof(v8));
	/* 8-bit gray */
	CHECK_EQ_INT(image_encode_png(v8, 32, 32, IMAGE_GRAY8, 1, &png, &len, err), 0);
	CHECK_EQ_INT(image_decode_png16(png, len, &s, err), -1);
	CHECK(strstr(err, "16-bit") != NULL);
	CHECK(s.hu == NULL);
	free(png);
	/* colour */
	CHECK_EQ_INT(image_encode_png(v8, 32, 32, IMAGE_RGB8, 1, &png, &len, err), 0);
	CHECK_EQ_INT(image_decode_png16(png, len, &s, err), -1);
	CHECK(strstr(err, "colour") != NULL);
	free(png);
	/* not a PNG, empty */
	CHECK_EQ_INT(image_decode_png16("hello world, not a png", 22, &s, err), -1);
	CHECK(strstr(err, "not a PNG") != NULL);
	CHECK_EQ_INT(image_decode_png16("", 0, &s, err), -1);
	/* a good one decodes exactly */
	CHECK_EQ_INT(image_encode_png(v16, 32, 32, IMAGE_GRAY16, 1, &png, &len, err), 0);
	CHECK_EQ_INT(image_decode_png16(png, len, &s, err), 0);
	CHECK(s.hu && s.hu[0] == -1000 && s.hu[1023] == 23);
	slice16_free(&s);
	/* every truncation fails cleanly */
	for (cut = 0; cut < len; cut++) {
		if (image_decode_png16(png, cut, &s, err) == 0) {
			ok++;
			slice16_free(&s);
		} else {
			failed++;
			CHECK(s.hu == NULL);
		}
	}
	CHECK_EQ_INT(ok, 0);
	/* truncated file on disk */
	snprintf(path, sizeof(path), "%s/trunc_%d.png", tmp ? tmp : "/tmp", (int)getpid());
	CHECK_EQ_INT(file_write_atomic_nosync(path, png, len / 2, err), 0);
	CHECK_EQ_INT(image_read_png16(path, 0, &s, err), -1);
	CHECK(err[0] != '\0');
	unlink(path);
	CHECK_EQ_INT(image_read_png16("/nonexistent/x.png", 0, &s, err), -1);
	/* random byte corruption: never a crash (ASan watches), either result allowed */
	bad = malloc(len);
	for (i = 0; bad && i < 2000; i++) {
		size_t k;

		memcpy(bad, png, len);
		for (k = 0; k < 4; k++) {
			seed = seed * 1103515245u + 12345u;
			bad[8 + (seed >> 8) % (len - 8)] ^= (unsigned char)(1 + (seed >> 3) % 255);
		}
		if (image_decode_png16(bad, len, &s, err) == 0) {
			CHECK(s.w == 32 && s.h == 32);
			slice16_free(&s);
		}
	}
	free(bad);
	free(png);
}

int main(void)
{
	RUN(test_window_parse);
	RUN(test_params_parse);
	RUN(test_default_fov);
	RUN(test_geometry);
	RUN(test_border_padding);
	RUN(test_window_pixels);
	RUN(test_768_and_file);
	RUN(test_anisotropic);
	RUN(test_overlays);
	RUN(test_png_roundtrip);
	RUN(test_slice_path);
	RUN(test_etag);
	RUN(test_decode_rejects);
	return unit_done();
}
