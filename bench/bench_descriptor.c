/* bench_descriptor.c - built-in descriptors per second, 1 and 2 threads.
 *
 * Writes synthetic 512x512 CT-like slices (a soft-tissue body ellipse with fat, bone and
 * noise; 8 series x 7 slices) under build/bench/desc, then computes the raw descriptor
 * of 64 lesions of different sizes, spacings and slice intervals through desc_bulk:
 * once reading PNGs (what `lesiond embed` does) and once from slices decoded in memory
 * beforehand (the feature computation alone, as with a warm slice cache).
 * Prints the median of 5 runs of each.
 */
#include "descriptor.h"
#include "image.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NSERIES 8
#define NSLICE 7
#define NLES 64
#define SIDE 512
#define RUNS 5

static unsigned rng = 2024;

static double urand(void)
{
	rng = rng * 1103515245u + 12345u;
	return ((rng >> 8) & 0xffff) / 65536.0;
}

static int make_slices(const char *root, char *err)
{
	uint16_t *v = malloc(sizeof(uint16_t) * SIDE * SIDE);
	char path[1024];
	int s, k, x, y, rc = -1;

	if (!v)
		return errf(err, "out of memory");
	for (s = 0; s < NSERIES; s++)
		for (k = 1; k <= NSLICE; k++) {
			snprintf(path, sizeof(path), "%s/%06d_01_01", root, s + 1);
			if (mkdir_p(path, err) != 0)
				goto out;
			for (y = 0; y < SIDE; y++)
				for (x = 0; x < SIDE; x++) {
					double dx = (x - 256.0) / 220, dy = (y - 256.0) / 170;
					double r = dx * dx + dy * dy, hu;

					hu = r > 1 ? -1000 : r > 0.85 ? -100 : 40 + 10 * sin(x / 9.0 + k);
					if (r < 1 && fabs(dx) < 0.12 && dy > 0.5)
						hu = 700;	/* spine */
					if (hypot(x - 200.0 - 3 * s, y - 240.0) < 25 + k)
						hu = 90;	/* a lesion */
					hu += (urand() - 0.5) * 30;
					v[y * SIDE + x] = (uint16_t)(lround(hu) + IMAGE_HU_OFFSET);
				}
			snprintf(path, sizeof(path), "%s/%06d_01_01/%03d.png", root, s + 1, k);
			if (image_write_png16_file(path, v, SIDE, SIDE, 1, err) != 0)
				goto out;
		}
	rc = 0;
out:
	free(v);
	return rc;
}

/* In-memory slices: decoded once, copied out on each call like a cache would hand out. */
static struct slice16 mem[NSERIES][NSLICE];

static int mem_slice(void *cls, const char *rel, struct slice16 *out, char *err)
{
	int p, st, se, idx;
	const struct slice16 *s;

	(void)cls;
	if (sscanf(rel, "%6d_%2d_%2d/%3d.png", &p, &st, &se, &idx) != 4 || p < 1 ||
	    p > NSERIES || idx < 1 || idx > NSLICE)
		return LSD_ENOTFOUND;
	s = &mem[p - 1][idx - 1];
	out->w = s->w;
	out->h = s->h;
	out->hu = malloc(sizeof(int16_t) * (size_t)s->w * s->h);
	if (!out->hu)
		return errf(err, "out of memory");
	memcpy(out->hu, s->hu, sizeof(int16_t) * (size_t)s->w * s->h);
	return LSD_OK;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Median wall-clock descriptors/s; *cpu gets the median CPU ms per descriptor (stable
 * on a shared machine, where wall clock depends on the other processes). */
static double run(const struct lesion *ls, desc_slice_fn fn, void *cls, int threads,
		  float *raw, int *st, double *cpu)
{
	double t[RUNS], c[RUNS];
	char err[LSD_ERRLEN];
	int r, i;

	for (r = 0; r < RUNS; r++) {
		double t0 = now_ms(), c0 = cpu_ms();

		if (desc_bulk(ls, NLES, fn, cls, threads, raw, st, NULL, NULL, NULL, err) != 0)
			fprintf(stderr, "bulk: %s\n", err);
		t[r] = now_ms() - t0;
		c[r] = (cpu_ms() - c0) / NLES;
		for (i = 0; i < NLES; i++)
			if (st[i] != LSD_OK)
				fprintf(stderr, "lesion %d failed: %d\n", i, st[i]);
	}
	qsort(t, RUNS, sizeof(double), cmpd);
	qsort(c, RUNS, sizeof(double), cmpd);
	*cpu = c[RUNS / 2];
	return NLES / (t[RUNS / 2] / 1000.0);
}

int main(void)
{
	static const double spacing[4] = { 0.6, 0.7, 0.8, 0.98 };
	static const double interval[4] = { 5.0, 2.5, 1.0, 0.625 };
	static struct lesion ls[NLES];
	static float raw[NLES * DESC_RAW_DIM];
	static int st[NLES];
	char root[] = "build/bench/desc", err[LSD_ERRLEN], path[1024];
	int i, s, k;

	if (mkdir_p(root, err) != 0 || make_slices(root, err) != 0) {
		fprintf(stderr, "bench_descriptor: %s\n", err);
		return 1;
	}
	for (s = 0; s < NSERIES; s++)
		for (k = 0; k < NSLICE; k++) {
			snprintf(path, sizeof(path), "%s/%06d_01_01/%03d.png", root, s + 1, k + 1);
			if (image_read_png16(path, 0, &mem[s][k], err) != 0) {
				fprintf(stderr, "bench_descriptor: %s\n", err);
				return 1;
			}
		}
	for (i = 0; i < NLES; i++) {
		struct lesion *l = &ls[i];
		double r = 3 + 4.0 * (i % 16), cx = 200 + (i % 5) * 10, cy = 240;

		memset(l, 0, sizeof(*l));
		l->id = i + 1;
		l->key_slice = 4;
		l->slice_range[0] = 1;
		l->slice_range[1] = NSLICE;
		l->spacing[0] = l->spacing[1] = spacing[i % 4];
		l->spacing[2] = interval[(i / 4) % 4];
		l->recist[0] = cx - r;
		l->recist[1] = cy;
		l->recist[2] = cx + r;
		l->recist[3] = cy;
		l->recist[4] = cx;
		l->recist[5] = cy - r / 2;
		l->recist[6] = cx;
		l->recist[7] = cy + r / 2;
		l->bbox[0] = cx - r;
		l->bbox[1] = cy - r / 2;
		l->bbox[2] = cx + r;
		l->bbox[3] = cy + r / 2;
		l->diam_mm[0] = 2 * r * l->spacing[0];
		l->diam_mm[1] = r * l->spacing[0];
		l->loc[0] = l->loc[1] = l->loc[2] = 0.5;
		snprintf(l->image_path, sizeof(l->image_path), "%06d_01_01/004.png", i % NSERIES + 1);
	}
	printf("descriptor: %d lesions, dim %d, 512x512 slices, median of %d runs\n", NLES,
	       DESC_DIM, RUNS);
	for (i = 0; i < 4; i++) {
		int threads = 1 + i % 2;
		double cpu, rate = run(ls, i < 2 ? desc_slice_files : mem_slice,
				       i < 2 ? (void *)root : NULL, threads, raw, st, &cpu);

		printf("  %-15s %d thread%s %8.1f descriptors/s  (%.2f CPU ms each)\n",
		       i < 2 ? "PNG files," : "decoded slices,", threads, threads > 1 ? "s:" : ": ",
		       rate, cpu);
	}
	for (s = 0; s < NSERIES; s++)
		for (k = 0; k < NSLICE; k++)
			slice16_free(&mem[s][k]);
	return 0;
}
