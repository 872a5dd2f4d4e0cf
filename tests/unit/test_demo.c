/* test_demo.c - the synthetic DeepLesion generator: format, RECIST truth, determinism.
 *
 * Writes a 4-patient demo twice with the same seed (1 and 2 threads) and once with
 * another seed under LSD_TEST_TMP, then checks the files with the project's own
 * DL_info.csv reader (which validates every row like the real file's), recomputes
 * the RECIST geometry from the printed numbers, and checks the endpoints against the
 * lesion's rasterised outline and the written PNG. */
#include "demo.h"
#include "dlcsv.h"
#include "image.h"
#include "unit.h"
#include "util.h"

#include <math.h>

#define NPAT 3

static char dir_a[1024], dir_b[1024];
static struct demo *demo_a, *demo_c;

static void tmpdir(char *out, size_t n, const char *name)
{
	const char *t = getenv("LSD_TEST_TMP");

	snprintf(out, n, "%s/%s", t ? t : "/tmp", name);
}

static uint64_t file_hash(const char *path, size_t *len)
{
	char err[LSD_ERRLEN];
	char *p = file_read(path, (size_t)1 << 28, len, err);
	uint64_t h;

	if (!p) {
		*len = 0;
		return 0;
	}
	h = fnv1a64(p, *len, 0);
	free(p);
	return h;
}

static void test_write(void)
{
	char err[LSD_ERRLEN];
	struct demo *b = NULL, *c = NULL;
	struct demo_stats st;

	tmpdir(dir_a, sizeof(dir_a), "demo_a");
	tmpdir(dir_b, sizeof(dir_b), "demo_b");
	CHECK(demo_create(NPAT, 7, &demo_a, err) == 0);
	CHECK(demo_create(NPAT, 7, &b, err) == 0);
	CHECK(demo_create(NPAT, 8, &demo_c, err) == 0);
	c = demo_c;
	if (!demo_a || !b || !c)
		goto out;
	CHECK(demo_write(demo_a, dir_a, 2, 1, &st, err) == 0);
	CHECK(demo_write(b, dir_b, 1, 1, NULL, err) == 0);
	CHECK_EQ_INT(st.patients, NPAT);
	CHECK(st.lesions >= NPAT && st.slices >= st.lesions / 3);
	CHECK(st.studies >= NPAT && st.studies <= 5 * NPAT);
out:
	demo_destroy(b);
}

/* Every row: exact header, valid fields, box = endpoints +-5, diameters = endpoint
 * distances, short axis perpendicular and not longer, key slice on disk with the
 * stated size, train rows unlabelled. */
static void test_csv_format(void)
{
	char err[LSD_ERRLEN], path[2048], *hdr, *sample;
	struct dlcsv *c = NULL;
	struct lesion l;
	size_t n;
	int rows = 0, r, files_repeat = 0, labelled = 0;
	char prev[LESION_FILE_MAX] = "";

	snprintf(path, sizeof(path), "%s/DL_info.csv", dir_a);
	hdr = file_read(path, 1 << 26, &n, err);
	snprintf(path, sizeof(path), "%s/DL_info_sample.csv", unit_shared_dir());
	sample = file_read(path, 1 << 26, &n, err);
	CHECK(hdr && sample);
	if (hdr && sample) {
		size_t k = strcspn(sample, "\r\n");

		CHECK(strncmp(hdr, sample, k) == 0 && hdr[k] == '\n');
	}
	free(hdr);
	free(sample);
	snprintf(path, sizeof(path), "%s/DL_info.csv", dir_a);
	CHECK(dlcsv_open(path, &c, err) == 0);
	if (!c)
		return;
	while ((r = dlcsv_next(c, &l, err)) == 1) {
		double *m = l.recist, lx, ly, sx, sy, L, S, x0, x1, y0, y1;
		struct slice16 s;
		int i;

		rows++;
		lx = m[2] - m[0];
		ly = m[3] - m[1];
		sx = m[6] - m[4];
		sy = m[7] - m[5];
		L = sqrt(lx * lx + ly * ly);
		S = sqrt(sx * sx + sy * sy);
		CHECK_NEAR(l.diam_px[0], L, 2e-3 + 1e-5 * L);
		CHECK_NEAR(l.diam_px[1], S, 2e-3 + 1e-5 * S);
		CHECK(S <= L + 2e-3);
		CHECK(fabs(lx * sx + ly * sy) <= 2e-3 * (L * S + 1));
		x0 = x1 = m[0];
		y0 = y1 = m[1];
		for (i = 1; i < 4; i++) {
			x0 = fmin(x0, m[2 * i]);
			x1 = fmax(x1, m[2 * i]);
			y0 = fmin(y0, m[2 * i + 1]);
			y1 = fmax(y1, m[2 * i + 1]);
		}
		CHECK_NEAR(l.bbox[0], x0 - 5, 2e-3);
		CHECK_NEAR(l.bbox[1], y0 - 5, 2e-3);
		CHECK_NEAR(l.bbox[2], x1 + 5, 2e-3);
		CHECK_NEAR(l.bbox[3], y1 + 5, 2e-3);
		CHECK(l.spacing[0] >= 0.6 && l.spacing[0] <= 0.98 && l.spacing[0] == l.spacing[1]);
		CHECK(l.spacing[2] == 1 || l.spacing[2] == 2 || l.spacing[2] == 2.5 ||
		      l.spacing[2] == 5);
		CHECK(l.image_size[0] == 512 || l.image_size[0] == 768);
		CHECK(l.diam_px[0] * l.spacing[0] >= 2.5 && l.diam_px[0] * l.spacing[0] <= 82);
		CHECK((l.split == 1) == (l.type == -1));
		labelled += l.type > 0;
		/* about +-30 mm around the key slice (merged ranges may be wider) */
		CHECK(l.key_slice - l.slice_range[0] >= LSD_MIN(l.key_slice - 1,
					(int)(30 / l.spacing[2] + 0.5)));
		files_repeat += !strcmp(prev, l.file_name);
		snprintf(prev, sizeof(prev), "%s", l.file_name);
		snprintf(path, sizeof(path), "%s/Images_png/%s", dir_a, l.image_path);
		CHECK(image_read_png16(path, 0, &s, err) == 0);
		CHECK(s.w == l.image_size[0] && s.h == l.image_size[1]);
		slice16_free(&s);
		CHECK(demo_nrows(demo_a) >= rows);
	}
	CHECK_EQ_INT(r, 0);
	CHECK_EQ_INT(rows, demo_nrows(demo_a));
	printf("  %d rows, %d repeated File_name, %d labelled\n", rows, files_repeat, labelled);
	dlcsv_close(c);
}

/* An inside pixel with an outside 4-neighbour (the farthest pair is among these). */
static int edge_pixel(const uint8_t *m, int w, int h, int i, int j)
{
	if (m[j * w + i] != 1)
		return 0;
	return i == 0 || j == 0 || i == w - 1 || j == h - 1 || m[j * w + i - 1] != 1 ||
	       m[j * w + i + 1] != 1 || m[(j - 1) * w + i] != 1 || m[(j + 1) * w + i] != 1;
}

/* The endpoints lie on the lesion's edge in the key slice: the rasterised outline
 * (pixel centres inside the true shape) has inside and outside pixels around each
 * endpoint, the axis midpoints are inside, points 2 px beyond the ends are outside,
 * and the longest distance between inside pixels matches the long diameter. The
 * written PNG shows the lesion: its HU differ from the tissue around it. */
static void test_recist_on_edge(void)
{
	char err[LSD_ERRLEN], path[2048];
	int id, n = demo_nrows(demo_a), contrast = 0;

	for (id = 1; id <= n; id++) {
		struct lesion l;
		uint8_t *mask = NULL;
		int w = 0, h = 0, e, a, i, j, nin = 0, nring = 0;
		double best = 0, sin_ = 0, sring = 0;
		struct slice16 s;

		CHECK(demo_row(demo_a, id, &l) == 0);
		CHECK(demo_row_mask(demo_a, id, &mask, &w, &h, err) == 0);
		if (!mask)
			continue;
		for (e = 0; e < 4; e++) {
			/* 1-based coordinates: pixel index = coordinate - 1 */
			int ci = (int)lround(l.recist[2 * e] - 1), cj = (int)lround(l.recist[2 * e + 1] - 1);
			int in = 0, out = 0;

			for (j = cj - 1; j <= cj + 1; j++)
				for (i = ci - 1; i <= ci + 1; i++) {
					if (i < 0 || j < 0 || i >= w || j >= h)
						continue;
					in += mask[j * w + i] == 1;
					out += mask[j * w + i] != 1;
				}
			CHECK(in > 0 && out > 0);
		}
		for (a = 0; a < 2; a++) {
			double *m = l.recist + 4 * a, dx = m[2] - m[0], dy = m[3] - m[1];
			double L = sqrt(dx * dx + dy * dy), ux = dx / L, uy = dy / L;
			int mi = (int)lround((m[0] + m[2]) / 2 - 1), mj = (int)lround((m[1] + m[3]) / 2 - 1);
			int oi = (int)lround(m[0] - 2.2 * ux - 1), oj = (int)lround(m[1] - 2.2 * uy - 1);
			int pi = (int)lround(m[2] + 2.2 * ux - 1), pj = (int)lround(m[3] + 2.2 * uy - 1);

			CHECK(mask[mj * w + mi] == 1);
			CHECK(mask[oj * w + oi] != 1);
			CHECK(mask[pj * w + pi] != 1);
		}
		/* the longest chord between inside pixel centres */
		{
			int bi0 = w, bi1 = 0, bj0 = h, bj1 = 0, i2, j2;

			for (j = 0; j < h; j++)
				for (i = 0; i < w; i++)
					if (mask[j * w + i] == 1) {
						bi0 = LSD_MIN(bi0, i);
						bi1 = LSD_MAX(bi1, i);
						bj0 = LSD_MIN(bj0, j);
						bj1 = LSD_MAX(bj1, j);
					}
			for (j = bj0; j <= bj1; j++)
				for (i = bi0; i <= bi1; i++) {
					if (!edge_pixel(mask, w, h, i, j))
						continue;
					for (j2 = j; j2 <= bj1; j2++)
						for (i2 = bi0; i2 <= bi1; i2++)
							if (edge_pixel(mask, w, h, i2, j2))
								best = fmax(best, hypot(i2 - i, j2 - j));
				}
			/* pixel centres sit up to ~0.7 px inside the outline at each end */
			CHECK(best <= l.diam_px[0] + 0.01 && best >= l.diam_px[0] - 2.0);
		}
		/* image contrast: inner pixels vs a ring 2-4 px outside */
		snprintf(path, sizeof(path), "%s/Images_png/%s", dir_a, l.image_path);
		if (image_read_png16(path, 0, &s, err) == 0) {
			int j0 = LSD_MAX(0, (int)l.bbox[1] - 8), j1 = LSD_MIN(h - 1, (int)l.bbox[3] + 8);
			int i0 = LSD_MAX(0, (int)l.bbox[0] - 8), i1 = LSD_MIN(w - 1, (int)l.bbox[2] + 8);

			for (j = j0; j <= j1; j++)
				for (i = i0; i <= i1; i++) {
					int k = j * w + i, di, dj, near = 0, all = 1;

					for (dj = -4; dj <= 4; dj++)
						for (di = -4; di <= 4; di++) {
							int x = i + di, y = j + dj, r2 = di * di + dj * dj;

							if (x < 0 || y < 0 || x >= w || y >= h)
								continue;
							if (r2 <= 2 && mask[y * w + x] != 1)
								all = 0;
							if (r2 <= 16 && mask[y * w + x] == 1)
								near = r2 >= 4 ? 2 : 1;
						}
					if (mask[k] == 1 && all) {
						sin_ += s.hu[k];
						nin++;
					} else if (mask[k] == 0 && near == 2) {
						sring += s.hu[k];
						nring++;
					}
				}
			slice16_free(&s);
		}
		if (nin > 0 && nring > 0 && fabs(sin_ / nin - sring / nring) >= 20)
			contrast++;
		free(mask);
	}
	printf("  %d of %d lesions differ by >= 20 HU from their surroundings\n", contrast, n);
	CHECK(contrast * 10 >= n * 8);
}

/* Tracks: one patient, distinct studies, one true type; ground truth is complete. */
static void test_ground_truth(void)
{
	char path[2048], err[LSD_ERRLEN], *g, *p, *save = NULL;
	size_t len;
	int n = demo_nrows(demo_a), id, lines = 0, multi = 0;

	snprintf(path, sizeof(path), "%s/ground_truth.csv", dir_a);
	g = file_read(path, 1 << 26, &len, err);
	CHECK(g != NULL);
	if (!g)
		return;
	p = strtok_r(g, "\n", &save);
	CHECK_STR(p, "lesion_id,patient,study,true_type,track_id");
	while ((p = strtok_r(NULL, "\n", &save))) {
		int lid, pat, st, ty, tr, ty2, tr2;
		struct lesion l;

		CHECK(sscanf(p, "%d,%d,%d,%d,%d", &lid, &pat, &st, &ty, &tr) == 5);
		lines++;
		CHECK_EQ_INT(lid, lines);
		CHECK(demo_row(demo_a, lid, &l) == 0 && demo_row_truth(demo_a, lid, &ty2, &tr2) == 0);
		CHECK_EQ_INT(pat, l.patient);
		CHECK_EQ_INT(st, l.study);
		CHECK(ty >= 1 && ty <= 8);
		CHECK(l.type == -1 || l.type == ty);
		CHECK(tr > 0);
		for (id = 1; id < lid; id++) {
			struct lesion o;
			int oty, otr;

			demo_row(demo_a, id, &o);
			demo_row_truth(demo_a, id, &oty, &otr);
			if (otr != tr)
				continue;
			multi++;
			CHECK_EQ_INT(o.patient, pat);
			CHECK(o.study != st);
			CHECK_EQ_INT(oty, ty);
		}
	}
	CHECK_EQ_INT(lines, n);
	CHECK(multi > 0);	/* some lesion is followed across studies */
	free(g);
}

/* Same seed: byte-identical files whatever the thread count; another seed differs. */
static void test_determinism(void)
{
	static const char *const names[] = { "DL_info.csv", "ground_truth.csv" };
	char pa[2048], pb[2048], err[LSD_ERRLEN];
	struct dlcsv *c = NULL;
	struct lesion l;
	size_t la, lb;
	int i, files = 0;

	for (i = 0; i < 2; i++) {
		snprintf(pa, sizeof(pa), "%s/%s", dir_a, names[i]);
		snprintf(pb, sizeof(pb), "%s/%s", dir_b, names[i]);
		CHECK(file_hash(pa, &la) == file_hash(pb, &lb) && la == lb && la > 0);
	}
	/* another seed: other patients (their first rows differ) */
	{
		struct lesion x, y;

		CHECK(demo_c && demo_row(demo_a, 1, &x) == 0 && demo_row(demo_c, 1, &y) == 0 &&
		      memcmp(x.recist, y.recist, sizeof(x.recist)) != 0);
	}
	snprintf(pa, sizeof(pa), "%s/DL_info.csv", dir_a);
	CHECK(dlcsv_open(pa, &c, err) == 0);
	while (c && dlcsv_next(c, &l, err) == 1) {
		int k;

		for (k = l.slice_range[0]; k <= l.slice_range[1]; k++) {
			snprintf(pa, sizeof(pa), "%s/Images_png/%06d_%02d_%02d/%03d.png", dir_a,
				 l.patient, l.study, l.series, k);
			snprintf(pb, sizeof(pb), "%s/Images_png/%06d_%02d_%02d/%03d.png", dir_b,
				 l.patient, l.study, l.series, k);
			CHECK(file_hash(pa, &la) == file_hash(pb, &lb) && la == lb && la > 0);
			files++;
		}
	}
	dlcsv_close(c);
	CHECK(files > 0);
}

/* A lesion outside its series' slices (seed 9602, patient 49, studies 2 and 3: beyond the
 * last slice) is not measured on the clamped key slice: before the fix its row had
 * diameters 0 / NaN that ingest refuses. Every row now has finite, positive diameters and
 * coordinates; the patient keeps its other lesions. Since the type-region fix (below) that
 * patient's two lesions stay in their series (18 rows), and no planned patient of seeds
 * 20000-20399 x 40 patients (16,000) reaches the skip: the branch stays as a guard, and
 * this test keeps the invariant it guards, every row measurable. */
static void test_lesion_outside_series(void)
{
	char err[LSD_ERRLEN];
	struct demo *d = NULL;
	struct lesion l;
	int id, bad = 0, p49 = 0;

	CHECK(demo_create(49, 9602, &d, err) == 0);
	for (id = 1; d && id <= demo_nrows(d); id++) {
		int k, ok;

		CHECK(demo_row(d, id, &l) == 0);
		ok = l.diam_px[0] > 0 && isfinite(l.diam_px[0]) && l.diam_px[1] > 0 &&
		     isfinite(l.diam_px[1]);
		for (k = 0; k < 8; k++)
			ok = ok && isfinite(l.recist[k]);
		bad += !ok;
		p49 += l.patient == 49;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(p49, 18);
	demo_destroy(d);
}

/* Every lesion sits in its type's region. The generator used to put a lesion on the
 * slice of another lesion of the patient whatever its type, so up to a fifth of the
 * "mediastinum" lesions lay beside the kidneys (46 of 244 on seed 9803 at 150 patients)
 * and some "abdomen" ones in the chest: labels their anatomy contradicted. The bounds
 * are the normalised z of each region (phantom_body_region through phantom_body_znorm,
 * over the body's range of heights, domes and iliac crests: mediastinum <= 0.526,
 * abdomen 0.612-0.737, pelvis >= 0.737) widened by 0.04 for the study and lesion
 * normalisation offsets (sd 0.0069 together, so ~6 sd) and the key slice's distance
 * from the lesion's centre. */
static void test_type_regions(void)
{
	char err[LSD_ERRLEN];
	struct demo *d = NULL;
	struct lesion l;
	int id, type, track, seen[9] = { 0 }, bad[9] = { 0 };

	CHECK(demo_create(60, 9803, &d, err) == 0);
	for (id = 1; d && id <= demo_nrows(d); id++) {
		double z;

		CHECK(demo_row(d, id, &l) == 0 && demo_row_truth(d, id, &type, &track) == 0);
		if (type < 1 || type > 8)
			continue;
		z = l.loc[2];
		seen[type]++;
		bad[type] += (type == 3 && z > 0.566) || (type == 2 && (z < 0.572 || z > 0.777)) ||
			     (type == 8 && z < 0.697);
	}
	CHECK(seen[2] >= 20 && seen[3] >= 20 && seen[8] >= 10);
	CHECK_EQ_INT(bad[2], 0);
	CHECK_EQ_INT(bad[3], 0);
	CHECK_EQ_INT(bad[8], 0);
	demo_destroy(d);
}

int main(void)
{
	RUN(test_lesion_outside_series);
	RUN(test_type_regions);
	RUN(test_write);
	if (!demo_a)
		return unit_done();
	RUN(test_csv_format);
	RUN(test_recist_on_edge);
	RUN(test_ground_truth);
	RUN(test_determinism);
	demo_destroy(demo_a);
	demo_destroy(demo_c);
	return unit_done();
}
