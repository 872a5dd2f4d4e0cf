/* descriptor.h - the built-in lesion descriptor (embedding space `builtin`).
 *
 * A hand-built feature vector per lesion that mirrors the three cues of Deep Lesion
 * Graphs (appearance, location, size), computed from DeepLesion's 16-bit CT slices with
 * the preprocessing of the dataset's own loaders (LesaNet's load_prep_img): three slices
 * 2 mm apart (linear interpolation between stored slices when the slice interval does
 * not divide 2 mm), resampled to 1 mm/pixel, a fixed 120 mm context patch centred on the
 * lesion box plus the box itself. Every component and its scale is documented in
 * docs/descriptor.md; desc_components[] lists them by name and offset.
 *
 * Pipeline: desc_raw() gives the raw vector (physical units: HU, fractions, mm, log mm);
 * desc_stats_compute() gathers per-dimension mean/std over the stored lesions;
 * desc_finish() standardises, weights each block, concatenates and L2-normalises.
 * Called by `lesiond embed`, by the ingest path for lesions added later, by the
 * benchmark and the ablation tool. Slices are read through a caller-supplied callback
 * (desc_slice_fn), so a decoded-slice cache can be plugged in; desc_slice_files() is the
 * default one that reads PNGs under an images root.
 * Thread-safety: every function is reentrant; desc_raw() is as thread-safe as the
 * slice callback it is given (desc_slice_files is).
 * Load: one desc_raw() decodes 3-5 PNG slices and does ~0.1 M pixel operations; the
 * PNG decoding dominates (see bench/bench_descriptor.c).
 */
#ifndef LSD_DESCRIPTOR_H
#define LSD_DESCRIPTOR_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "lesion.h"

/* Return codes (util.h): LSD_OK; LSD_EFAIL; LSD_ENOTFOUND: an image the descriptor needs
 * (the key slice) is absent: the lesion gets no vector and is reported, never guessed. */

/* Blocks, in the order they are concatenated. */
enum desc_block { DESC_BLOCK_APPEARANCE = 0, DESC_BLOCK_LOCATION = 1, DESC_BLOCK_SIZE = 2 };
#define DESC_NBLOCKS 3

/* Appearance block layout (see docs/descriptor.md for each component's scale). */
#define DESC_HIST_BINS 16	/* HU histogram bins, edges in descriptor.c hist_edges[] */
#define DESC_HOG_CELLS 4	/* 2x2 spatial cells */
#define DESC_HOG_BINS 8		/* unsigned orientations, 22.5 degrees each */
#define DESC_LBP_BINS 10	/* rotation-invariant uniform LBP(8,1): 0..8 + other */
#define DESC_RADIAL 6		/* HU at normalised ellipse radius 0.25 .. 1.5 */
#define DESC_LAYOUT 6		/* context layout: 6x6 cells of 20 mm */

#define DESC_APP_DIM (3 * 5 + 3 * DESC_HIST_BINS + 2 + \
		      2 * DESC_HOG_CELLS * DESC_HOG_BINS + 2 * DESC_LBP_BINS + \
		      3 + DESC_RADIAL + DESC_LAYOUT * DESC_LAYOUT)
#define DESC_LOC_DIM 3
#define DESC_SIZE_DIM 2
#define DESC_APP_OFF 0
#define DESC_LOC_OFF DESC_APP_DIM
#define DESC_SIZE_OFF (DESC_LOC_OFF + DESC_LOC_DIM)
#define DESC_RAW_DIM (DESC_SIZE_OFF + DESC_SIZE_DIM)
#define DESC_DIM DESC_RAW_DIM	/* the finished vector has the same layout */

/* Preprocessing constants (LesaNet's defaults). */
#define DESC_SLICE_MM 2.0	/* distance between the three slices */
#define DESC_NORM_MM 1.0	/* resampled pixel size */
#define DESC_CONTEXT_MM 120	/* context patch side, mm (= pixels at 1 mm/px) */
#define DESC_BOX_PX 32		/* the box patch side, pixels (scale-normalised) */
#define DESC_RING_MM 5.0	/* ring width around the RECIST ellipse */
#define DESC_AIR_HU (-1000)	/* padding outside the image */

/* One named component of the raw vector. */
struct desc_component {
	const char *name;
	int block;	/* enum desc_block */
	int off, dim;
	const char *unit;
};
extern const struct desc_component desc_components[];
extern const size_t desc_ncomponents;
/* Offset and dimension of a block in the (raw and finished) vector. */
void desc_block_range(int block, int *off /* OUT */, int *dim /* OUT */);

/* Read one slice given its path relative to the images root ("000001_01_01/109.png").
 * Fill *out (caller frees with slice16_free). Return LSD_OK, LSD_ENOTFOUND when the file
 * does not exist, LSD_EFAIL (err filled) when it exists but cannot be read. Must be
 * thread-safe when used by desc_bulk with several threads. */
typedef int (*desc_slice_fn)(void *cls, const char *relpath, struct slice16 *out /* OUT */,
			     char *err);

/* The default slice reader: cls is the images root directory (const char *). */
int desc_slice_files(void *cls, const char *relpath, struct slice16 *out /* OUT */, char *err);

/* The raw feature vector of one lesion into raw[DESC_RAW_DIM]. Uses key_slice,
 * slice_range, spacing, recist, bbox, loc, diam_mm and image_path (its series dir).
 * Missing neighbour slices fall back towards the key slice, as LesaNet does; a missing
 * key slice is LSD_ENOTFOUND. Deterministic. */
int desc_raw(const struct lesion *l, desc_slice_fn fn, void *cls, float *raw /* OUT */,
	     char *err);

/* The lesion's three slices (DESC_SLICE_MM apart, as desc_raw reads them) resampled to
 * n x n pixels of step_mm mm, centred on the box centre, in HU (DESC_AIR_HU outside the
 * image): out[0..3*n*n), slice -2 mm first. For the learned network (index/cnn.c).
 * LSD_OK, LSD_ENOTFOUND (key slice missing) or LSD_EFAIL. */
int desc_patch(const struct lesion *l, desc_slice_fn fn, void *cls, int n, double step_mm,
	       float *out /* OUT 3*n*n */, char *err);

/* Bulk computation over n lesions with nthreads worker threads (1..16).
 * status[i] gets desc_raw's return for lesion i (raw rows of failed lesions are zero).
 * progress (may be NULL) is called after each lesion, serialised under a mutex, with the
 * count done so far; a non-zero return from it stops the run (remaining status =
 * LSD_EFAIL). errs (may be NULL) receives n * LSD_ERRLEN bytes of per-lesion messages.
 * Returns 0, or -1 when threads could not be started or the run was stopped. */
typedef int (*desc_progress_fn)(void *cls, size_t done, size_t total);
int desc_bulk(const struct lesion *ls, size_t n, desc_slice_fn fn, void *cls, int nthreads,
	      float *raw /* OUT n * DESC_RAW_DIM */, int *status /* OUT n */, char *errs,
	      desc_progress_fn progress, void *pcls, char *err);

/* Standardisation statistics over the stored lesions. */
struct desc_stats {
	int64_t n;		/* vectors the statistics were computed from */
	float mean[DESC_RAW_DIM];
	float std[DESC_RAW_DIM];	/* population std; 0 for constant components */
};
/* From the rows i with ok == NULL or ok[i] == LSD_OK. n may be 0 (mean 0, std 0). */
void desc_stats_compute(const float *raw, const int *ok, size_t n, struct desc_stats *out);
/* Fixed-size little-endian blob for the store: magic, version, dim, n, mean[], std[]. */
#define DESC_STATS_BLOB_LEN (8 + 4 + 4 + 8 + 8 * DESC_RAW_DIM)
void desc_stats_encode(const struct desc_stats *s, unsigned char blob[DESC_STATS_BLOB_LEN]);
int desc_stats_decode(const void *blob, size_t len, struct desc_stats *out /* OUT */,
		      char *err);

/* Finished vector: z = (raw - mean) / std per component (0 where std == 0), clipped
 * to +-DESC_Z_CLIP; block b multiplied by weights[b] / sqrt(dim_b) so that its expected
 * squared norm is weights[b]^2 whatever its dimension; concatenated; L2-normalised.
 * weights: appearance, location, size (>= 0; 0 switches a block off, its entries are 0).
 * Returns 0, or -1 when the vector is all zero (all weights 0, or every standardised
 * component 0); out is then all zero. */
#define DESC_Z_CLIP 5.0f
int desc_finish(const float *raw, const struct desc_stats *st, const float weights[3],
		float *out /* OUT DESC_DIM */);

/* Evaluation: for each query i with types[i] > 0, its nearest neighbour j != i by
 * inner product (vectors L2-normalised) among rows with types[j] > 0, skipping rows of
 * the same patient when exclude_same_patient (patients may then be NULL only if the
 * flag is 0). Counts queries and neighbours of the same type. Brute force: O(n^2 dim).
 * Rows that are all zero (no vector) are neither queries nor neighbours. */
struct desc_nn_result {
	long queries, same;
	double rate;	/* same / queries, 0 when no query */
};
int desc_nn_type_agreement(const float *vec, int dim, const int *types, const int *patients,
			   size_t n, int exclude_same_patient,
			   struct desc_nn_result *out /* OUT */);

#endif
