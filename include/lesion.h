/* lesion.h - one DeepLesion lesion: every DL_info.csv field, parsed, plus derived fields.
 *
 * Shared by the CSV parser, the store, the renderer, the descriptor, search and the
 * graph. Units: pixel coordinates are DeepLesion's (1-based, as in the CSV); mm from
 * spacing; HU for windows. Plain data, no ownership.
 */
#ifndef LSD_LESION_H
#define LSD_LESION_H

#include <stdint.h>

#define LESION_NTYPES 8
#define LESION_FILE_MAX 64
#define LESION_PATH_MAX 80

struct lesion {
	int64_t id;			/* 1-based row number for DeepLesion imports */
	char file_name[LESION_FILE_MAX];	/* "000001_01_01_109.png", as in the CSV */
	int patient, study, series, key_slice;
	double recist[8];		/* x11,y11,x12,y12 (long axis), x21,y21,x22,y22 (short) */
	double bbox[4];			/* x1,y1,x2,y2 */
	double diam_px[2];		/* long, short */
	double loc[3];			/* normalised x,y,z in [0,1] */
	int type;			/* 1..8, or -1 unlabelled */
	int noisy;			/* 0/1 */
	int slice_range[2];		/* first, last slice index */
	double spacing[3];		/* mm/px x, y; slice interval z (mm) */
	int image_size[2];		/* width, height */
	double window[2];		/* DICOM window min, max (HU) */
	char gender;			/* 'M', 'F' or 'U' (unknown) */
	double age;			/* years; NAN when the CSV says NaN */
	int split;			/* 1 train, 2 val, 3 test */
	/* derived */
	double diam_mm[2];		/* diam_px * spacing x */
	char image_path[LESION_PATH_MAX];	/* "000001_01_01/109.png", under the image root */
};

/* DeepLesion's coarse type names: 1 bone ... 8 pelvis; NULL for anything else. */
const char *lesion_type_name(int type);
/* Parse a type given as a name ("lung") or a code ("5"); returns 1..8 or -1 if unknown. */
int lesion_type_parse(const char *s);
const char *lesion_split_name(int split);
int lesion_split_parse(const char *s);	/* "train"/"1" -> 1 ...; -1 unknown */
/* Fill diam_mm and image_path from the parsed fields. */
void lesion_derive(struct lesion *l);
/* Check ranges and consistency; returns 0 or -1 with "column: what" in err. */
int lesion_validate(const struct lesion *l, char *err);

#endif
