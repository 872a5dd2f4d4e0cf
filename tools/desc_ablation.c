/* desc_ablation.c - what each cue of the built-in descriptor contributes.
 *
 * Reads a dataset directory in DeepLesion layout with its ground truth (the demo
 * dataset: DIR/DL_info.csv, DIR/ground_truth.csv with lesion_id,patient,study,
 * true_type,track_id, DIR/Images_png), computes every lesion's raw descriptor (2
 * threads), the standardisation statistics over all of them, and then, for the default
 * weights, each block switched off, each block alone and each appearance component
 * switched off, the rate at which a lesion's nearest neighbour (inner product of the
 * finished vectors) has the same true coarse type: over all other lesions, and over
 * other patients' lesions only (so a lesion's own follow-up studies do not count).
 * Lesions whose images are missing are counted and listed, not guessed.
 * Build and run: sh tools/desc_ablation.sh DIR (after `make`).
 */
#include "descriptor.h"
#include "dlcsv.h"
#include "lesion.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LESIONS 200000

static int progress(void *cls, size_t done, size_t total)
{
	(void)cls;
	if (done % 100 == 0 || done == total)
		fprintf(stderr, "\rdescriptors: %zu/%zu", done, total);
	if (done == total)
		fputc('\n', stderr);
	return 0;
}

struct cfg {
	const char *name;
	float w[3];
	int drop;	/* appearance component index to switch off, or -1 */
};

static void evaluate(const struct cfg *c, const float *raw, const struct desc_stats *st0,
		     const int *ok, const int *type, const int *pat, size_t n, float *vec)
{
	struct desc_stats st = *st0;
	struct desc_nn_result all, other;
	size_t i;
	int k;

	if (c->drop >= 0)
		for (k = 0; k < desc_components[c->drop].dim; k++)
			st.std[desc_components[c->drop].off + k] = 0;	/* z = 0: no contribution */
	for (i = 0; i < n; i++) {
		if (ok[i] != LSD_OK || desc_finish(raw + i * DESC_RAW_DIM, &st, c->w,
						    vec + i * DESC_DIM) != 0)
			memset(vec + i * DESC_DIM, 0, DESC_DIM * sizeof(float));
	}
	desc_nn_type_agreement(vec, DESC_DIM, type, pat, n, 0, &all);
	desc_nn_type_agreement(vec, DESC_DIM, type, pat, n, 1, &other);
	printf("| %-32s | %4.2f %4.2f %4.2f | %6.1f%% (%ld) | %6.1f%% (%ld) |\n", c->name,
	       (double)c->w[0], (double)c->w[1], (double)c->w[2], 100 * all.rate, all.queries,
	       100 * other.rate, other.queries);
}

int main(int argc, char **argv)
{
	struct lesion *ls = NULL;
	struct dlcsv *csv = NULL;
	struct desc_stats st;
	float *raw = NULL, *vec = NULL;
	int *ok = NULL, *type = NULL, *pat = NULL, rc = 1, r, counts[LESION_NTYPES + 1] = { 0 };
	char err[LSD_ERRLEN], path[2048], images[2048], line[256], *errs = NULL;
	size_t n = 0, i, missing = 0, failed = 0, k;
	FILE *gt = NULL;
	struct cfg cfgs[64];
	size_t ncfg = 0;
	double t0;

	if (argc != 2) {
		fprintf(stderr, "usage: desc_ablation DIR\n");
		return 2;
	}
	ls = calloc(MAX_LESIONS, sizeof(*ls));
	if (!ls)
		goto out;
	snprintf(path, sizeof(path), "%s/DL_info.csv", argv[1]);
	if (dlcsv_open(path, &csv, err) != 0)
		goto fail;
	while (n < MAX_LESIONS && (r = dlcsv_next(csv, &ls[n], err)) == 1)
		n++;
	if (n < MAX_LESIONS && r < 0)
		goto fail;
	type = calloc(n, sizeof(int));
	pat = calloc(n, sizeof(int));
	ok = calloc(n, sizeof(int));
	raw = calloc(n * DESC_RAW_DIM, sizeof(float));
	vec = calloc(n * DESC_DIM, sizeof(float));
	errs = calloc(n, LSD_ERRLEN);
	if (!type || !pat || !ok || !raw || !vec || !errs)
		goto out;
	for (i = 0; i < n; i++) {
		type[i] = -1;
		pat[i] = ls[i].patient;
	}
	snprintf(path, sizeof(path), "%s/ground_truth.csv", argv[1]);
	gt = fopen(path, "r");
	if (!gt) {
		errf(err, "%s: cannot open", path);
		goto fail;
	}
	while (fgets(line, sizeof(line), gt)) {
		int id, p, s, t, tr;

		if (sscanf(line, "%d,%d,%d,%d,%d", &id, &p, &s, &t, &tr) != 5)
			continue;	/* the header */
		if (id >= 1 && (size_t)id <= n && t >= 1 && t <= LESION_NTYPES) {
			type[id - 1] = t;
			counts[t]++;
		}
	}
	snprintf(images, sizeof(images), "%s/Images_png", argv[1]);
	t0 = now_ms();
	if (desc_bulk(ls, n, desc_slice_files, images, 2, raw, ok, errs, progress, NULL,
		      err) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		if (ok[i] == LSD_ENOTFOUND && ++missing <= 5)
			fprintf(stderr, "no images: lesion %zu: %s\n", i + 1, errs + i * LSD_ERRLEN);
		if (ok[i] == LSD_EFAIL && ++failed <= 5)
			fprintf(stderr, "failed: lesion %zu: %s\n", i + 1, errs + i * LSD_ERRLEN);
	}
	printf("%zu lesions, %zu without images, %zu failed; %.1f descriptors/s (2 threads)\n",
	       n, missing, failed, (double)(n - missing - failed) / ((now_ms() - t0) / 1000));
	printf("true types:");
	for (r = 1; r <= LESION_NTYPES; r++)
		printf(" %s %d", lesion_type_name(r), counts[r]);
	{
		double tot = 0, chance = 0;

		for (r = 1; r <= LESION_NTYPES; r++)
			tot += counts[r];
		for (r = 1; r <= LESION_NTYPES && tot > 0; r++)
			chance += (counts[r] / tot) * (counts[r] / tot);
		printf("\nchance (a random neighbour): %.1f%%\n", 100 * chance);
	}
	desc_stats_compute(raw, ok, n, &st);

	cfgs[ncfg++] = (struct cfg){ "all blocks", { 1, 1, 1 }, -1 };
	cfgs[ncfg++] = (struct cfg){ "without appearance", { 0, 1, 1 }, -1 };
	cfgs[ncfg++] = (struct cfg){ "without location", { 1, 0, 1 }, -1 };
	cfgs[ncfg++] = (struct cfg){ "without size", { 1, 1, 0 }, -1 };
	cfgs[ncfg++] = (struct cfg){ "all, location and size at 0.5", { 1, 0.5f, 0.5f }, -1 };
	cfgs[ncfg++] = (struct cfg){ "appearance only", { 1, 0, 0 }, -1 };
	cfgs[ncfg++] = (struct cfg){ "location only", { 0, 1, 0 }, -1 };
	cfgs[ncfg++] = (struct cfg){ "size only", { 0, 0, 1 }, -1 };
	for (k = 0; k < desc_ncomponents && ncfg < LSD_ARRAY_LEN(cfgs); k++) {
		static char names[64][48];

		if (desc_components[k].block != DESC_BLOCK_APPEARANCE)
			continue;
		snprintf(names[ncfg], sizeof(names[ncfg]), "all, without %s",
			 desc_components[k].name);
		cfgs[ncfg] = (struct cfg){ names[ncfg], { 1, 1, 1 }, (int)k };
		ncfg++;
	}
	printf("\nnearest neighbour has the same true coarse type (queries in brackets)\n\n");
	printf("| %-32s | weights A L S  | any lesion     | other patients |\n", "descriptor");
	printf("|----------------------------------|----------------|----------------|"
	       "----------------|\n");
	for (k = 0; k < ncfg; k++)
		evaluate(&cfgs[k], raw, &st, ok, type, pat, n, vec);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "desc_ablation: %s\n", err);
out:
	if (gt)
		fclose(gt);
	dlcsv_close(csv);
	free(ls);
	free(type);
	free(pat);
	free(ok);
	free(raw);
	free(vec);
	free(errs);
	return rc;
}
