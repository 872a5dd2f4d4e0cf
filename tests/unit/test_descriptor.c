/* test_descriptor.c - the built-in descriptor against values computed here.
 *
 * Synthetic 16-bit PNG slices are written into a temp dir with known content: a RECIST
 * disc whose pixels hold a pattern, a ring of constant HU around it, slices painted with
 * HU = f(slice index) so the 2 mm interpolation of 5, 2.5 and 1 mm series can be
 * predicted by linear interpolation of f, a lesion at the image corner (air padding),
 * stripes for the gradient histograms. Expected values are computed by enumerating the
 * same pixels in this file, independently of index/descriptor.c. Also: location and
 * size blocks, standardisation + weights + L2 norm, the statistics blob, bulk threads,
 * missing and corrupt images, nearest-neighbour agreement, determinism.
 */
#include "unit.h"
#include "descriptor.h"
#include "image.h"
#include "lesion.h"
#include "util.h"

#include <stdint.h>
#include <unistd.h>

#define W 256
#define H 256

static char root[1024];

static int comp_off(const char *name)
{
	size_t i;

	for (i = 0; i < desc_ncomponents; i++)
		if (!strcmp(desc_components[i].name, name))
			return desc_components[i].off;
	fprintf(stderr, "no component %s\n", name);
	abort();
}

typedef double (*paint_fn)(int x, int y, int slice);

static void write_slice(const char *series, int idx, paint_fn f)
{
	char path[1200], err[LSD_ERRLEN];
	uint16_t *v = malloc(sizeof(uint16_t) * W * H);
	int x, y;

	for (y = 0; y < H; y++)
		for (x = 0; x < W; x++)
			v[y * W + x] = (uint16_t)(lround(f(x, y, idx)) + IMAGE_HU_OFFSET);
	snprintf(path, sizeof(path), "%s/%s", root, series);
	CHECK(mkdir_p(path, err) == 0);
	snprintf(path, sizeof(path), "%s/%s/%03d.png", root, series, idx);
	CHECK(image_write_png16_file(path, v, W, H, 1, err) == 0);
	free(v);
}

/* A lesion with a circular RECIST of radius r mm centred on 0-based pixel (cx, cy). */
static struct lesion mk_lesion(const char *series, int key, double cx, double cy, double r,
			       double sp, double sz)
{
	struct lesion l;
	double x1 = cx + 1, y1 = cy + 1, rp = r / sp;	/* 1-based, pixels */

	memset(&l, 0, sizeof(l));
	l.id = 1;
	l.key_slice = key;
	l.slice_range[0] = 1;
	l.slice_range[1] = 99;
	l.spacing[0] = l.spacing[1] = sp;
	l.spacing[2] = sz;
	l.recist[0] = x1 - rp;
	l.recist[1] = y1;
	l.recist[2] = x1 + rp;
	l.recist[3] = y1;
	l.recist[4] = x1;
	l.recist[5] = y1 - rp;
	l.recist[6] = x1;
	l.recist[7] = y1 + rp;
	l.bbox[0] = x1 - rp;
	l.bbox[1] = y1 - rp;
	l.bbox[2] = x1 + rp;
	l.bbox[3] = y1 + rp;
	l.diam_mm[0] = l.diam_mm[1] = 2 * r;
	l.loc[0] = 0.3;
	l.loc[1] = 0.6;
	l.loc[2] = 0.45;
	l.type = 1;
	snprintf(l.image_path, sizeof(l.image_path), "%s/%03d.png", series, key);
	return l;
}

/* ---- regions: disc radius R at (128, 128), 1 mm/px so grid pixels = source pixels ---- */

#define R 10.3
#define CX 128
#define CY 128

static double d2(int x, int y)
{
	return (double)(x - CX) * (x - CX) + (double)(y - CY) * (y - CY);
}

static double pattern(int x, int y)
{
	return ((x + 2 * y) % 3) * 50.0;	/* 0, 50, 100 */
}

static double paint_regions(int x, int y, int s)
{
	(void)s;
	if (d2(x, y) <= R * R)
		return pattern(x, y);
	if (d2(x, y) <= (R + DESC_RING_MM) * (R + DESC_RING_MM))
		return -20;
	return 300;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct(const double *sorted, int n, double q)
{
	double pos = q * (n - 1);
	int lo = (int)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;

	return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

static void test_regions(void)
{
	struct lesion l = mk_lesion("000001_01_01", 10, CX, CY, R, 1.0, 5.0);
	float raw[DESC_RAW_DIM];
	char err[LSD_ERRLEN];
	double vals[1000], s = 0, s2 = 0, mean, hist[3] = { 0 };
	int n = 0, x, y, i, e = comp_off("ellipse_stats"), eh = comp_off("ellipse_hist");
	int r = comp_off("ring_stats"), rh = comp_off("ring_hist");

	write_slice("000001_01_01", 10, paint_regions);
	CHECK_EQ_INT(desc_raw(&l, desc_slice_files, root, raw, err), LSD_OK);
	for (y = 0; y < H; y++)
		for (x = 0; x < W; x++)
			if (d2(x, y) <= R * R) {
				vals[n++] = pattern(x, y);
				s += pattern(x, y);
				hist[(int)(pattern(x, y) / 50)]++;
			}
	mean = s / n;
	for (i = 0; i < n; i++)
		s2 += (vals[i] - mean) * (vals[i] - mean);
	qsort(vals, (size_t)n, sizeof(double), cmpd);
	CHECK(n > 300);
	CHECK_NEAR(raw[e + 0], mean, 1e-3);
	CHECK_NEAR(raw[e + 1], sqrt(s2 / n), 1e-3);
	CHECK_NEAR(raw[e + 2], pct(vals, n, 0.1), 1e-3);
	CHECK_NEAR(raw[e + 3], pct(vals, n, 0.5), 1e-3);
	CHECK_NEAR(raw[e + 4], pct(vals, n, 0.9), 1e-3);
	/* bins: 0 in [-10,10) = 6, 50 in [50,70) = 9, 100 in [100,150) = 11 */
	CHECK_NEAR(raw[eh + 6], hist[0] / n, 1e-6);
	CHECK_NEAR(raw[eh + 9], hist[1] / n, 1e-6);
	CHECK_NEAR(raw[eh + 11], hist[2] / n, 1e-6);
	/* the ring: every pixel -20 HU, bin [-50,-10) = 5 */
	CHECK_NEAR(raw[r + 0], -20, 1e-3);
	CHECK_NEAR(raw[r + 1], 0, 1e-3);
	CHECK_NEAR(raw[r + 3], -20, 1e-3);
	CHECK_NEAR(raw[rh + 5], 1.0, 1e-6);
	/* one key slice, neighbours fall back to it: no slice profile */
	CHECK_NEAR(raw[comp_off("slice_profile")], 0, 1e-3);
}

/* ---- edge and radial profile: a disc of 100 HU in -20 HU ---- */

static double paint_disc(int x, int y, int s)
{
	(void)s;
	return d2(x, y) <= R * R ? 100 : -20;
}

static double paint_ramp(int x, int y, int s)
{
	double d = sqrt(d2(x, y));

	(void)s;
	/* linear from 100 at R-6 to -20 at R+6 */
	return d <= R - 6 ? 100 : d >= R + 6 ? -20 : 100 - 120 * (d - (R - 6)) / 12;
}

static void test_edge_radial(void)
{
	struct lesion l = mk_lesion("000002_01_01", 10, CX, CY, R, 1.0, 5.0);
	struct lesion l2 = mk_lesion("000003_01_01", 10, CX, CY, R, 1.0, 5.0);
	float raw[DESC_RAW_DIM], raw2[DESC_RAW_DIM];
	char err[LSD_ERRLEN];
	int e = comp_off("edge"), rp = comp_off("radial_profile");

	write_slice("000002_01_01", 10, paint_disc);
	write_slice("000003_01_01", 10, paint_ramp);
	CHECK_EQ_INT(desc_raw(&l, desc_slice_files, root, raw, err), LSD_OK);
	CHECK_EQ_INT(desc_raw(&l2, desc_slice_files, root, raw2, err), LSD_OK);
	/* samples 1.5 mm either side of the boundary: all of the 120 HU step over 3 mm;
	 * and 5 mm either side: the same 120 HU */
	CHECK_NEAR(raw[e + 0], 120.0 / 3.0, 1e-3);
	CHECK_NEAR(raw[e + 1], (40.0 * 3 * 32) / (120.0 * 32 + 10.0 * 32), 1e-4);
	CHECK_NEAR(raw[e + 2], 0, 1e-3);
	/* the ramp: 10 HU/mm over the 3 mm band (x 3 mm = 30), 100 HU over 10 mm */
	CHECK_NEAR(raw2[e + 0], 10.0, 0.15);	/* HU rounded to integers, bilinear */
	CHECK(raw2[e + 1] < raw[e + 1] * 0.5);
	CHECK_NEAR(raw[rp + 0], 100, 1e-3);	/* r = 0.25 R */
	CHECK_NEAR(raw[rp + 2], 100, 1e-3);	/* 0.75 R */
	CHECK_NEAR(raw[rp + 5], -20, 1e-3);	/* 1.5 R */
	/* constant inside the box window: no brighter neighbours anywhere near the centre */
	CHECK(raw[comp_off("lbp_box")] > 0.5);
}

/* ---- slice interpolation: slice i painted HU = i * i ---- */

static double f_slice(int i)
{
	return (double)i * i;
}

static double paint_index(int x, int y, int s)
{
	(void)x;
	(void)y;
	return f_slice(s);
}

/* f linearly interpolated at fractional slice position p */
static double f_lin(double p)
{
	double lo = floor(p);

	return f_slice((int)lo) + (p - lo) * (f_slice((int)lo + 1) - f_slice((int)lo));
}

static void check_interp(const char *series, double interval)
{
	struct lesion l = mk_lesion(series, 20, CX, CY, 8, 0.8, interval);
	float raw[DESC_RAW_DIM];
	char err[LSD_ERRLEN];
	double prev = f_lin(20 - 2.0 / interval), next = f_lin(20 + 2.0 / interval);
	int sp = comp_off("slice_profile");

	CHECK_EQ_INT(desc_raw(&l, desc_slice_files, root, raw, err), LSD_OK);
	CHECK_NEAR(raw[comp_off("ellipse_stats")], f_slice(20), 1e-3);
	CHECK_NEAR(raw[sp], (prev + next) / 2 - f_slice(20), 1e-3);
	CHECK_NEAR(raw[sp + 1], fabs(next - prev) / 2, 1e-3);
	CHECK_NEAR(raw[comp_off("context_stats")], f_slice(20), 1e-3);
}

static void test_interpolation(void)
{
	const char *series = "000004_01_01";
	struct lesion l;
	float raw[DESC_RAW_DIM];
	char err[LSD_ERRLEN], path[1200];
	int i;

	for (i = 15; i <= 25; i++)
		write_slice(series, i, paint_index);
	check_interp(series, 5.0);	/* +-0.4 slice */
	check_interp(series, 2.5);	/* +-0.8 slice */
	check_interp(series, 1.0);	/* +-2 slices */
	check_interp(series, 0.625);	/* +-3.2 slices */
	/* a missing neighbour: LesaNet steps back towards the key slice (22 -> 21) */
	snprintf(path, sizeof(path), "%s/%s/022.png", root, series);
	CHECK(unlink(path) == 0);
	l = mk_lesion(series, 20, CX, CY, 8, 0.8, 1.0);
	CHECK_EQ_INT(desc_raw(&l, desc_slice_files, root, raw, err), LSD_OK);
	CHECK_NEAR(raw[comp_off("slice_profile")], (f_slice(18) + f_slice(21)) / 2 - f_slice(20),
		   1e-3);
	/* slice_range ends at the key slice: the next slice is the key slice itself */
	l.slice_range[1] = 20;
	CHECK_EQ_INT(desc_raw(&l, desc_slice_files, root, raw, err), LSD_OK);
	CHECK_NEAR(raw[comp_off("slice_profile") + 1], (f_slice(20) - f_slice(18)) / 2, 1e-3);
}

/* ---- location and size ---- */

static void test_loc_size(void)
{
	struct lesion l = mk_lesion("000002_01_01", 10, CX, CY, R, 1.0, 5.0);
	float raw[DESC_RAW_DIM];
	char err[LSD_ERRLEN];

	l.diam_mm[0] = 31.5;
	l.diam_mm[1] = 12.25;
	CHECK_EQ_INT(desc_raw(&l, desc_slice_files, root, raw, err), LSD_OK);
	CHECK_NEAR(raw[DESC_LOC_OFF + 0], 0.3, 1e-6);
	CHECK_NEAR(raw[DESC_LOC_OFF + 1], 0.6, 1e-6);
	CHECK_NEAR(raw[DESC_LOC_OFF + 2], 0.45, 1e-6);
	CHECK_NEAR(raw[DESC_SIZE_OFF + 0], log(31.5), 1e-5);
	CHECK_NEAR(raw[DESC_SIZE_OFF + 1], log(12.25), 1e-5);
	CHECK_EQ_INT(comp_off("location"), DESC_LOC_OFF);
	CHECK_EQ_INT(comp_off("size"), DESC_SIZE_OFF);
	CHECK(DESC_DIM <= 256);
}

/* ---- border: box centre at 0-based (5.5, 5.5), constant 50 HU, 1 mm/px ---- */

static double paint_50(int x, int y, int s)
{
	(void)x;
	(void)y;
	(void)s;
	return 50;
}

static void test_border(void)
{
	struct lesion l = mk_lesion("000005_01_01", 10, 5.5, 5.5, 3, 1.0, 5.0);
	float raw[DESC_RAW_DIM];
	char err[LSD_ERRLEN];
	/* context pixel i sits at source x = 5.5 + i - 59.5 = i - 54: inside for i >= 54 */
	double inside = 66.0 * 66.0 / (120.0 * 120.0);
	int ch = comp_off("context_hist"), c = comp_off("context_stats");

	write_slice("000005_01_01", 10, paint_50);
	CHECK_EQ_INT(desc_raw(&l, desc_slice_files, root, raw, err), LSD_OK);
	CHECK_NEAR(raw[ch + 0], 1 - inside, 1e-6);	/* < -900 HU: air */
	CHECK_NEAR(raw[ch + 9], inside, 1e-6);	/* [50, 70) */
	CHECK_NEAR(raw[c], inside * 50 + (1 - inside) * -1000, 1e-2);
	CHECK_NEAR(raw[c + 2], -1000, 1e-3);	/* p10 */
	CHECK_NEAR(raw[comp_off("ellipse_stats")], 50, 1e-3);
	/* the layout cell at the top left lies outside the image, the bottom right inside */
	CHECK_NEAR(raw[comp_off("context_layout")], -1000, 1e-3);
	CHECK_NEAR(raw[comp_off("context_layout") + DESC_LAYOUT * DESC_LAYOUT - 1], 50, 1e-3);
}

/* ---- stripes: every gradient horizontal ---- */

static double paint_stripes(int x, int y, int s)
{
	(void)y;
	(void)s;
	return ((x / 3) % 2) ? 150 : -50;
}

static void test_hog(void)
{
	struct lesion l = mk_lesion("000006_01_01", 10, CX, CY, 12, 0.7, 5.0);
	float raw[DESC_RAW_DIM];
	char err[LSD_ERRLEN];
	int hb = comp_off("hog_box"), hc = comp_off("hog_context"), c;
	double horiz = 0, tot = 0;

	write_slice("000006_01_01", 10, paint_stripes);
	CHECK_EQ_INT(desc_raw(&l, desc_slice_files, root, raw, err), LSD_OK);
	/* orientation 0 (or 180) degrees lies between bins 7 and 0 (centres +-11.25 deg) */
	for (c = 0; c < DESC_HOG_CELLS; c++) {
		horiz += raw[hb + c * DESC_HOG_BINS] * raw[hb + c * DESC_HOG_BINS] +
			 raw[hb + c * DESC_HOG_BINS + 7] * raw[hb + c * DESC_HOG_BINS + 7];
		CHECK_NEAR(raw[hb + c * DESC_HOG_BINS], raw[hb + c * DESC_HOG_BINS + 7], 1e-3);
	}
	for (c = 0; c < DESC_HOG_CELLS * DESC_HOG_BINS; c++)
		tot += raw[hb + c] * raw[hb + c];
	CHECK_NEAR(tot, 1.0, 1e-4);
	CHECK_NEAR(horiz, 1.0, 1e-4);
	CHECK(raw[hc] > 0.1);
}

/* ---- missing and corrupt images ---- */

static void test_missing(void)
{
	struct lesion l = mk_lesion("000099_01_01", 10, CX, CY, R, 1.0, 5.0);
	float raw[DESC_RAW_DIM];
	char err[LSD_ERRLEN], path[1200];
	FILE *f;

	raw[0] = 1;
	CHECK_EQ_INT(desc_raw(&l, desc_slice_files, root, raw, err), LSD_ENOTFOUND);
	CHECK(raw[0] == 0 && raw[DESC_LOC_OFF] == 0);
	/* exists but is not a PNG: an error, not "missing" */
	snprintf(path, sizeof(path), "%s/000098_01_01", root);
	CHECK(mkdir_p(path, err) == 0);
	snprintf(path, sizeof(path), "%s/000098_01_01/010.png", root);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f) {
		fputs("not a png", f);
		fclose(f);
	}
	l = mk_lesion("000098_01_01", 10, CX, CY, R, 1.0, 5.0);
	CHECK_EQ_INT(desc_raw(&l, desc_slice_files, root, raw, err), LSD_EFAIL);
	/* bad spacing */
	l = mk_lesion("000002_01_01", 10, CX, CY, R, 1.0, 5.0);
	l.spacing[0] = 0;
	CHECK_EQ_INT(desc_raw(&l, desc_slice_files, root, raw, err), LSD_EFAIL);
}

/* ---- standardisation, weights, L2 ---- */

static unsigned rng = 12345;

static double urand(void)
{
	rng = rng * 1103515245u + 12345u;
	return ((rng >> 8) & 0xffff) / 65536.0;
}

static void test_finish(void)
{
	enum { N = 50 };
	static float raw[N * DESC_RAW_DIM];
	float out[DESC_DIM], w[3] = { 1.0f, 2.0f, 0.5f }, woff[3] = { 1.0f, 0.0f, 1.0f };
	float zero[3] = { 0, 0, 0 };
	double mean[DESC_RAW_DIM], sd[DESC_RAW_DIM], exp_[DESC_DIM], norm = 0, n2 = 0;
	struct desc_stats st, st2;
	unsigned char blob[DESC_STATS_BLOB_LEN];
	char err[LSD_ERRLEN];
	int i, k, b;

	for (i = 0; i < N; i++)
		for (k = 0; k < DESC_RAW_DIM; k++)
			raw[i * DESC_RAW_DIM + k] = k == 3 ? 7.0f : (float)(urand() * (k + 1) + k);
	raw[0] = 1000.0f;	/* an outlier: clipped at +5 */
	for (k = 0; k < DESC_RAW_DIM; k++) {
		double s = 0, s2 = 0;

		for (i = 0; i < N; i++)
			s += raw[i * DESC_RAW_DIM + k];
		mean[k] = s / N;
		for (i = 0; i < N; i++)
			s2 += (raw[i * DESC_RAW_DIM + k] - mean[k]) * (raw[i * DESC_RAW_DIM + k] - mean[k]);
		sd[k] = sqrt(s2 / N);
	}
	desc_stats_compute(raw, NULL, N, &st);
	CHECK_EQ_INT(st.n, N);
	CHECK_NEAR(st.mean[10], mean[10], 1e-3);
	CHECK_NEAR(st.std[10], sd[10], 1e-3);
	CHECK(st.std[3] == 0);	/* constant component */
	CHECK_EQ_INT(desc_finish(raw + 5 * DESC_RAW_DIM, &st, w, out), 0);
	for (b = 0; b < 3; b++) {
		int off, dim;

		desc_block_range(b, &off, &dim);
		for (k = off; k < off + dim; k++) {
			double z = sd[k] > 0 ? (raw[5 * DESC_RAW_DIM + k] - mean[k]) / sd[k] : 0;

			z = z > 5 ? 5 : z < -5 ? -5 : z;
			exp_[k] = z * w[b] / sqrt(dim);
			norm += exp_[k] * exp_[k];
		}
	}
	for (k = 0; k < DESC_DIM; k++) {
		CHECK_NEAR(out[k], exp_[k] / sqrt(norm), 1e-5);
		n2 += (double)out[k] * out[k];
	}
	CHECK_NEAR(n2, 1.0, 1e-5);
	/* the outlier row clips component 0 at +5 */
	CHECK_EQ_INT(desc_finish(raw, &st, w, out), 0);
	CHECK(out[0] > 0);
	/* a block switched off contributes zeros */
	CHECK_EQ_INT(desc_finish(raw + 5 * DESC_RAW_DIM, &st, woff, out), 0);
	for (k = 0; k < DESC_LOC_DIM; k++)
		CHECK(out[DESC_LOC_OFF + k] == 0);
	CHECK(desc_finish(raw + 5 * DESC_RAW_DIM, &st, zero, out) == -1);
	/* the blob round trip and its checks */
	desc_stats_encode(&st, blob);
	CHECK_EQ_INT(desc_stats_decode(blob, sizeof(blob), &st2, err), 0);
	CHECK(memcmp(st.mean, st2.mean, sizeof(st.mean)) == 0);
	CHECK(memcmp(st.std, st2.std, sizeof(st.std)) == 0);
	CHECK_EQ_INT(st2.n, N);
	CHECK(desc_stats_decode(blob, sizeof(blob) - 1, &st2, err) == -1);
	blob[0] ^= 1;
	CHECK(desc_stats_decode(blob, sizeof(blob), &st2, err) == -1);
}

/* ---- bulk with 2 threads vs single calls; determinism ---- */

static size_t progress_calls, progress_last;

static int on_progress(void *cls, size_t done, size_t total)
{
	(void)cls;
	(void)total;
	progress_calls++;
	progress_last = done;
	return 0;
}

static void test_bulk_determinism(void)
{
	struct lesion ls[5];
	float raw[5 * DESC_RAW_DIM], one[DESC_RAW_DIM];
	int st[5], i;
	char err[LSD_ERRLEN], errs[5 * LSD_ERRLEN];

	ls[0] = mk_lesion("000001_01_01", 10, CX, CY, R, 1.0, 5.0);
	ls[1] = mk_lesion("000002_01_01", 10, CX, CY, 6, 0.7, 5.0);
	ls[2] = mk_lesion("000099_01_01", 10, CX, CY, R, 1.0, 5.0);	/* missing */
	ls[3] = mk_lesion("000004_01_01", 20, 100, 140, 20, 0.8, 2.5);
	ls[4] = mk_lesion("000006_01_01", 10, CX, CY, 12, 0.7, 5.0);
	CHECK_EQ_INT(desc_bulk(ls, 5, desc_slice_files, root, 2, raw, st, errs, on_progress,
			       NULL, err), 0);
	CHECK_EQ_INT(progress_calls, 5);
	CHECK_EQ_INT(progress_last, 5);
	CHECK_EQ_INT(st[2], LSD_ENOTFOUND);
	CHECK(strstr(errs + 2 * LSD_ERRLEN, "000099_01_01") != NULL);
	for (i = 0; i < 5; i++) {
		int rc = desc_raw(&ls[i], desc_slice_files, root, one, err);

		CHECK_EQ_INT(rc, st[i]);
		CHECK(memcmp(one, raw + i * DESC_RAW_DIM, sizeof(one)) == 0);
	}
}

/* ---- nearest-neighbour agreement on hand-made vectors ---- */

static void test_nn(void)
{
	/* rows 0,1 close (same patient), 2 close to 0 but other patient, 3 far */
	const float v[5 * 2] = { 1, 0, 0.995f, 0.0999f, 0.9f, 0.4359f, 0, 1, 0, 0 };
	const int types[5] = { 1, 1, 2, 2, 1 };
	const int pat[5] = { 1, 1, 2, 3, 4 };
	struct desc_nn_result r;

	CHECK_EQ_INT(desc_nn_type_agreement(v, 2, types, pat, 5, 0, &r), 0);
	/* row 4 is all zero: no query. 0->1 same, 1->0 same, 2->1 diff, 3->2 same */
	CHECK_EQ_INT(r.queries, 4);
	CHECK_EQ_INT(r.same, 3);
	CHECK_EQ_INT(desc_nn_type_agreement(v, 2, types, pat, 5, 1, &r), 0);
	/* 0->2 diff, 1->2 diff, 2->1 diff (patient 2 is alone), 3->2 same */
	CHECK_EQ_INT(r.queries, 4);
	CHECK_EQ_INT(r.same, 1);
	CHECK_NEAR(r.rate, 0.25, 1e-12);
}

int main(void)
{
	const char *t = getenv("LSD_TEST_TMP");
	char err[LSD_ERRLEN];

	snprintf(root, sizeof(root), "%s/descriptor.%d", t ? t : "/tmp", (int)getpid());
	if (mkdir_p(root, err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	RUN(test_regions);
	RUN(test_edge_radial);
	RUN(test_interpolation);
	RUN(test_loc_size);
	RUN(test_border);
	RUN(test_hog);
	RUN(test_missing);
	RUN(test_finish);
	RUN(test_bulk_determinism);
	RUN(test_nn);
	return unit_done();
}
