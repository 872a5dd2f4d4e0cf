/* demo.h - the built-in synthetic DeepLesion dataset (`lesiond demo`, `make run`, tests).
 *
 * demo_create plans a dataset from a seed: patients (sex, age, split, a phantom body),
 * 1-5 studies each with their own pixel spacing, slice interval, field of view and
 * table position, and lesions that persist across studies as tracks (growing,
 * shrinking, shifting, appearing, vanishing). Every DL_info.csv field is computed from
 * that plan: RECIST axes measured on the lesion's true outline at the key slice (long
 * axis = longest chord, short axis = longest chord perpendicular to it), boxes, pixel
 * diameters, normalised location, slice ranges (±30 mm, merged per series as
 * DeepLesion does), windows. demo_write renders the slices inside the slice ranges
 * to 16-bit PNGs (HU + 32768) on worker threads and writes DL_info.csv and
 * ground_truth.csv (lesion_id,patient,study,true_type,track_id).
 *
 * Everything is a pure function of (patients, seed): the same arguments give
 * byte-identical files whatever the thread count.
 */
#ifndef LSD_DEMO_H
#define LSD_DEMO_H

#include <stdint.h>

#include "lesion.h"

#define DEMO_MAX_PATIENTS 100000

struct demo;

struct demo_stats {
	int patients, studies, series, lesions, tracks, slices;
	double plan_ms, write_ms;
};

int demo_create(int patients, uint64_t seed, struct demo **out /* OUT */, char *err);
void demo_destroy(struct demo *d);

/* Write DIR/Images_png/..., DIR/DL_info.csv, DIR/ground_truth.csv. threads >= 1.
 * png_level: zlib level (1 is the speed/size sweet spot). */
int demo_write(const struct demo *d, const char *dir, int threads, int png_level,
	       struct demo_stats *st /* OUT, may be NULL */, char *err);
/* Only DIR/DL_info.csv and DIR/ground_truth.csv (no images): for metadata-only uses
 * such as measuring the lesion graph on many seeds. */
int demo_write_csv(const struct demo *d, const char *dir, char *err);
void demo_stats_get(const struct demo *d, struct demo_stats *st /* OUT */);

/* Row access for tests: rows are numbered 1..n in DL_info.csv order. */
int demo_nrows(const struct demo *d);
/* The row as written to DL_info.csv (type is -1 on train rows, as in the file). */
int demo_row(const struct demo *d, int id, struct lesion *out /* OUT */);
/* True coarse type and track id of row id (ground_truth.csv). */
int demo_row_truth(const struct demo *d, int id, int *type /* OUT */, int *track /* OUT */);
/* The key slice of row id rendered without noise as a label map: *mask (malloc'd,
 * w*h, caller frees) is 1 where the row's lesion covers the pixel centre, 2 where
 * another lesion does, 0 elsewhere. */
int demo_row_mask(const struct demo *d, int id, uint8_t **mask /* OUT */, int *w /* OUT */,
		  int *h /* OUT */, char *err);

#endif
