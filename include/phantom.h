/* phantom.h - a procedural CT phantom of the adult trunk, for the built-in demo dataset.
 *
 * Used by demo.c (which decides patients, studies and lesions) and by its tests. A body
 * is a set of analytic shapes (ellipsoids, superellipses, tubes, vessel trees, ribs)
 * built once per patient from a seed; a slice is rendered by painting the 2-D sections
 * of those shapes at one z into a tissue label map, turning labels into HU with
 * per-tissue texture, adding correlated noise and partial-volume blur. Lesions are 3-D
 * lobulated ellipsoids with their own HU/texture model, painted last.
 *
 * Patient frame, in mm: x grows toward the patient's left (image right), y grows toward
 * the back (image down), z grows from the lung apex (z = 0) toward the feet. Pixel
 * (i, j) (0-based) of a view has its centre at x = ox + (i + 0.5 - w/2) * sp, likewise
 * y, so DeepLesion's 1-based pixel coordinate u of a point x is (x - ox)/sp + w/2 + 0.5.
 *
 * Thread-safe: a body is read-only after creation; render allocates its own scratch.
 * Cost: about 3-6 ms per 512x512 slice on one core.
 */
#ifndef LSD_PHANTOM_H
#define LSD_PHANTOM_H

#include <stdint.h>

#include "rng.h"

/* Tissue labels of the label map. Lesion k of the list given to phantom_render is
 * PHANTOM_LESION_LABEL + k. */
enum phantom_tissue {
	PH_AIR = 0, PH_TABLE, PH_SKIN, PH_FAT_SC, PH_MUSCLE, PH_FAT_VIS, PH_LUNG,
	PH_LUNG_VESSEL, PH_AIRWAY, PH_BLOOD, PH_MYO, PH_LIVER, PH_LIVER_VESSEL, PH_SPLEEN,
	PH_KIDNEY, PH_PANCREAS, PH_FLUID, PH_BOWEL_WALL, PH_BOWEL_FLUID, PH_BOWEL_AIR,
	PH_CONTRAST, PH_CORTEX, PH_MARROW, PH_DISC, PH_CARTILAGE, PH_CSF, PH_UTERUS, PH_BREAST,
	PH_NTISSUE
};
#define PHANTOM_LESION_LABEL 200
#define PHANTOM_MAX_LESIONS 50

/* The demo's deterministic PRNG: rng.h's xoshiro256** under the phantom's names. */
struct phantom_rng {
	struct rng g;
};
void phantom_rng_seed(struct phantom_rng *r, uint64_t seed);
uint64_t phantom_rng_next(struct phantom_rng *r);
double phantom_rng_uniform(struct phantom_rng *r);		/* [0, 1) */
double phantom_rng_range(struct phantom_rng *r, double lo, double hi);
double phantom_rng_normal(struct phantom_rng *r);
/* Mix several numbers into one seed (splitmix64 chain). */
uint64_t phantom_hash(uint64_t a, uint64_t b, uint64_t c, uint64_t d);

struct phantom_body;

/* A patient's anatomy from a seed. sex: 'M' or 'F'. */
int phantom_body_create(uint64_t seed, char sex, struct phantom_body **out /* OUT */,
			char *err);
void phantom_body_destroy(struct phantom_body *b);
/* Body half-width (mm, skin to skin / 2) at its widest, to choose a field of view. */
double phantom_body_halfwidth(const struct phantom_body *b);
/* The z (mm) of the lowest anatomy the phantom models (pelvic floor). */
double phantom_body_zend(const struct phantom_body *b);
/* Skin bounding box of the body section at z (mm). */
void phantom_body_extent(const struct phantom_body *b, double z, double *x0, double *x1,
			 double *y0, double *y1);
/* DeepLesion-style normalised body position along z: 0 = vertex, 1 = feet. The phantom
 * covers about 0.28 (lung apex) .. 0.88 (pelvic floor), matching where DeepLesion's
 * chest (0.3-0.5), liver (0.55-0.62), kidney (0.63-0.7) and pelvis (0.78-0.85) lie. */
double phantom_body_znorm(const struct phantom_body *b, double z);
/* Where lesions of a coarse type (1..8) are searched: a box in mm. */
void phantom_body_region(const struct phantom_body *b, int type, double lo[3], double hi[3]);
/* The tissue label at a point (no lesions). Builds the section at z each call. */
int phantom_tissue_at(const struct phantom_body *b, double x, double y, double z);
/* The same for many queries: a probe keeps the last z's section (not thread-safe). */
struct phantom_probe;
int phantom_probe_create(const struct phantom_body *b, struct phantom_probe **out /* OUT */,
			 char *err);
void phantom_probe_destroy(struct phantom_probe *q);
int phantom_probe_tissue(struct phantom_probe *q, double x, double y, double z);

/* A lesion: a lobulated ellipsoid. In the lesion's rotated, axis-scaled frame a point
 * (u, v) of the section at z is inside when |(u,v)| < s(z) * (1 + sum amp*cos(k*t+ph)),
 * t = atan2(v, u), s(z) = sqrt(1 - ((z - cz)/az)^2); the section centre drifts by tilt
 * mm per mm of z. The sum of |amp| must stay below 0.5 (star-shaped outline). */
#define PHANTOM_LOBES 4
struct phantom_lesion {
	int type;		/* 1..8, DeepLesion coarse type */
	int kind;		/* variant within the type, see phantom.c lesion_hu() */
	double c[3];		/* centre (mm) */
	double ax[3];		/* semi-axes: in-plane a, b, and along z (mm) */
	double rot;		/* in-plane rotation of axis a (rad) */
	double tilt[2];		/* centre drift in x, y per mm of z */
	int lobe_k[PHANTOM_LOBES];
	double lobe_amp[PHANTOM_LOBES], lobe_ph[PHANTOM_LOBES];
	uint64_t tex_seed;	/* texture, fixed for a physical lesion */
};

/* Section scale s(z) in [0, 1]; 0 when z misses the lesion. */
double phantom_lesion_scale(const struct phantom_lesion *l, double z);
int phantom_lesion_inside(const struct phantom_lesion *l, double x, double y, double z);
/* The section's outline at z as n points (x, y in mm, 2n doubles), at n even steps of
 * the frame angle t. Returns 0, or -1 when z misses the lesion. */
int phantom_lesion_outline(const struct phantom_lesion *l, double z, int n, double *xy);
/* One outline point at frame angle t (mm). */
void phantom_lesion_point(const struct phantom_lesion *l, double z, double t, double *x,
			  double *y);
/* Largest extent from the centre in the lesion's plane, relative to a (for bounds). */
double phantom_lesion_reach(const struct phantom_lesion *l);

struct phantom_view {
	int w, h;		/* pixels */
	double sp;		/* mm per pixel */
	double ox, oy;		/* patient-frame mm at the image centre */
	double z;		/* slice position (mm) */
};

/* Render one slice: hu gets w*h HU values; label (optional) gets the tissue/lesion label
 * of each pixel centre before blur and noise. noise_seed fixes the noise. */
int phantom_render(const struct phantom_body *b, const struct phantom_lesion *ls, int nl,
		   const struct phantom_view *v, uint64_t noise_seed, int16_t *hu /* OUT */,
		   uint8_t *label /* OUT, may be NULL */, char *err);

#endif
