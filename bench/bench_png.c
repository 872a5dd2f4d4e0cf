/* bench_png.c - the zlib level, PNG filter and zlib strategy of lesiond's two PNG paths,
 * measured on real DeepLesion slices (LSD_SHARED_DATA or ../shared/data/deeplesion):
 *  1. the 16-bit decode path: each real slice re-encoded every way (level 1/6/9 x five
 *     filters and adaptive x default/Huffman-only), then decoded: decode time and size.
 *     What lesiond controls here is how the slices it writes are encoded (the demo
 *     generator, format=png16); DeepLesion's own files are decoded as they come, and
 *     their decode time is printed first.
 *  2. the patch encode: a 128x128 8-bit windowed crop of each slice, encoded every way
 *     (levels 0-3 and 6 x filters x default/RLE/Huffman-only): encode time and size.
 * Medians over the slices of the per-slice median of 3 runs; 1 thread.
 */
#include "image.h"
#include "util.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXS 40
#define NV 96	/* variants measured, at most */

static const char *const fname[] = { "none", "sub", "up", "avg", "paeth", "adaptive" };
static const char *const zname[] = { "default", "filtered", "huffman", "rle" };

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n ? v[n / 2] : 0;
}

static int load_slices(const char *root, struct slice16 *s, double *orig_ms)
{
	char path[PATH_MAX + 600], err[LSD_ERRLEN];
	struct dirent *d, *f;
	DIR *top = opendir(root), *sub;
	int n = 0, r;
	double t[MAXS];

	if (!top)
		return 0;
	while (n < MAXS && (d = readdir(top))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, d->d_name);
		if (!(sub = opendir(path)))
			continue;
		while (n < MAXS && (f = readdir(sub))) {
			double best = 1e9;

			if (!strstr(f->d_name, ".png"))
				continue;
			snprintf(path, sizeof(path), "%s/%s/%s", root, d->d_name, f->d_name);
			for (r = 0; r < 3; r++) {
				double t0 = now_ms();

				slice16_free(&s[n]);
				if (image_read_png16(path, 0, &s[n], err))
					break;
				if (now_ms() - t0 < best)
					best = now_ms() - t0;
			}
			if (s[n].hu)
				t[n++] = best;
		}
		closedir(sub);
	}
	closedir(top);
	*orig_ms = median(t, n);
	return n;
}

int main(void)
{
	static struct slice16 s[MAXS];
	static const int dlevels[] = { 1, 6, 9 }, elevels[] = { 0, 1, 2, 3, 6 };
	static const int dz[] = { IMAGE_Z_DEFAULT, IMAGE_Z_HUFFMAN },
			 ez[] = { IMAGE_Z_DEFAULT, IMAGE_Z_RLE, IMAGE_Z_HUFFMAN };
	const char *shared = getenv("LSD_SHARED_DATA");
	char root[PATH_MAX / 2], err[LSD_ERRLEN];
	static double dt[NV][MAXS], sz[NV][MAXS];
	int vl[NV], vf[NV], vz[NV];
	double orig;
	int n, i, j, nv, li, f, z, r;

	snprintf(root, sizeof(root), "%s/Images_png", shared ? shared : "../shared/data/deeplesion");
	n = load_slices(root, s, &orig);
	if (n == 0) {
		printf("no 16-bit slices under %s: skipped\n", root);
		return 0;
	}
	printf("%d real DeepLesion 16-bit slices; decoding the files as published: %.2f ms/slice\n",
	       n, orig);
	/* variants interleaved slice by slice (a loaded machine slows them all alike); the
	 * fastest of 3 runs per slice, then the median over the slices */
	printf("16-bit decode path (re-encoded each way): level filter strategy -> decode ms, KB\n");
	nv = 0;
	for (li = 0; li < 3; li++)
		for (f = 0; f <= IMAGE_FILTER_ADAPTIVE; f++)
			for (z = 0; z < 2; z++, nv++) {
				vl[nv] = dlevels[li];
				vf[nv] = f;
				vz[nv] = dz[z];
			}
	for (i = 0; i < n; i++) {
		uint16_t *v = malloc((size_t)s[i].w * s[i].h * 2);
		size_t k;

		for (k = 0; v && k < (size_t)s[i].w * s[i].h; k++)
			v[k] = (uint16_t)(s[i].hu[k] + IMAGE_HU_OFFSET);
		for (j = 0; v && j < nv; j++) {
			unsigned char *png = NULL;
			size_t len = 0;
			double best = 1e9;

			if (image_encode_png_opts(v, s[i].w, s[i].h, IMAGE_GRAY16, vl[j], vf[j], vz[j],
						  &png, &len, err))
				return 1;
			for (r = 0; r < 3; r++) {
				struct slice16 o;
				double t0 = now_ms(), t;

				image_decode_png16(png, len, &o, err);
				t = now_ms() - t0;
				best = t < best ? t : best;
				slice16_free(&o);
			}
			dt[j][i] = best;
			sz[j][i] = (double)len / 1024;
			free(png);
		}
		free(v);
	}
	for (j = 0; j < nv; j++)
		printf("   %d %-8s %-8s -> %.2f ms, %.0f KB\n", vl[j], fname[vf[j]], zname[vz[j]],
		       median(dt[j], n), median(sz[j], n));
	printf("128x128 8-bit patch encode: level filter strategy -> encode ms, KB\n");
	nv = 0;
	for (li = 0; li < 5; li++)
		for (f = 0; f <= IMAGE_FILTER_ADAPTIVE; f++)
			for (z = 0; z < 3; z++, nv++) {
				vl[nv] = elevels[li];
				vf[nv] = f;
				vz[nv] = ez[z];
			}
	for (i = 0; i < n; i++) {
		unsigned char px[128 * 128];
		int x, y;

		/* the lung window (-1350..150 HU) over the slice's centre */
		for (y = 0; y < 128; y++)
			for (x = 0; x < 128; x++) {
				int hu = s[i].hu[(size_t)(s[i].h / 2 - 64 + y) * s[i].w +
						 (size_t)(s[i].w / 2 - 64 + x)];
				int g = (hu + 1350) * 255 / 1500;

				px[y * 128 + x] = (unsigned char)(g < 0 ? 0 : g > 255 ? 255 : g);
			}
		for (j = 0; j < nv; j++) {
			unsigned char *png = NULL;
			size_t len = 0;
			double best = 1e9;

			for (r = 0; r < 5; r++) {
				double t0 = now_ms(), t;

				free(png);
				png = NULL;
				if (image_encode_png_opts(px, 128, 128, IMAGE_GRAY8, vl[j], vf[j], vz[j],
							  &png, &len, err))
					return 1;
				t = now_ms() - t0;
				best = t < best ? t : best;
			}
			dt[j][i] = best;
			sz[j][i] = (double)len / 1024;
			free(png);
		}
	}
	for (j = 0; j < nv; j++)
		printf("   %d %-8s %-8s -> %.3f ms, %.1f KB\n", vl[j], fname[vf[j]], zname[vz[j]],
		       median(dt[j], n), median(sz[j], n));
	for (i = 0; i < n; i++)
		slice16_free(&s[i]);
	return 0;
}
