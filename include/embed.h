/* embed.h - the built-in descriptor as an embedding space: raw descriptors kept in space
 * "<name>.raw" (resumable: computed once per lesion), standardisation statistics over the
 * stored lesions in the store's meta table, and the finished, weighted, L2-normalised
 * vectors in space "<name>" (default builtin). Used by `lesiond embed` for all lesions
 * and by the daemon for lesions added later. */
#ifndef LSD_EMBED_H
#define LSD_EMBED_H

#include <stddef.h>

#include "catalog.h"
#include "descriptor.h"
#include "space.h"
#include "store.h"

struct embed_opts {
	const char *space;		/* "builtin" */
	const char *images;		/* image root */
	float weights[DESC_NBLOCKS];
	int threads;
	void (*progress)(void *cls, size_t done, size_t total);	/* may be NULL */
	void (*note)(void *cls, const char *line);	/* missing images etc.; may be NULL */
	void *cls;
};

struct embed_report {
	size_t lesions, computed, reused, missing, failed, stored;
	double seconds;
};

/* Every lesion: raw descriptors for those without one, fresh statistics, finished
 * vectors for all. Missing images are counted and the first few named through o->note. */
int embed_all(struct store *st, struct spaces *r, const struct embed_opts *o,
	      struct embed_report *rep /* OUT */, char *err);

/* One lesion with the statistics already stored (no-op returning 1 when there are none
 * yet, i.e. `lesiond embed` never ran). 0 stored, LSD_ENOTFOUND, or -1. */
int embed_one(struct store *st, struct spaces *r, const struct embed_opts *o,
	      const struct lesion *l, char *err);

/* The finished vector for an ad-hoc region (search by image): l describes the region; a
 * location block is left at the mean (unknown) when known_location is 0. */
int embed_region(struct store *st, const struct embed_opts *o, const struct lesion *l,
		 int known_location, float *out /* OUT DESC_DIM */, char *err);

/* A query by image region (POST /v1/search {"image":...}): a key slice under the image
 * root, "<patient>_<study>_<series>/<slice>.png", the lesion's box on it in pixels and
 * the pixel size; optionally the slice interval (0: 5 mm) and the normalised body
 * location (NULL: unknown). The caller has checked the ranges. */
struct embed_image_query {
	const char *slice;
	double bbox[4];			/* x1,y1,x2,y2, x1 < x2, y1 < y2 */
	double spacing_mm;		/* in-plane */
	double slice_interval_mm;	/* 0: 5 mm */
	const double *location;		/* 3 values, or NULL */
};
/* 1 and the numbers of a slice name "<patient>_<study>_<series>/<slice>.png" (nothing
 * before or after), else 0. */
int embed_slice_name_parse(const char *slice, int *patient, int *study, int *series,
			   int *key_slice);
/* The built-in descriptor of the region, as embed_region computes it for a lesion whose
 * RECIST axes are the box's own axes (inset by DeepLesion's 5 px padding) and whose
 * other fields are DeepLesion's defaults. 0, LSD_ENOTFOUND (slice missing), or -1 with err. */
int embed_image(struct store *st, const struct embed_opts *o, const struct embed_image_query *q,
		float *out /* OUT DESC_DIM */, char *err);
/* The lesion embed_image describes the region as (for other embeddings of a region):
 * 0, or -1 with err when the slice name does not parse. */
int embed_image_lesion(const struct embed_image_query *q, struct lesion *l /* OUT */, char *err);

#endif
