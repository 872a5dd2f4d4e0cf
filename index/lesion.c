/* lesion.c - names, parsing and validation of DeepLesion's per-lesion fields.
 * Pure functions over struct lesion (lesion.h); used by the CSV parser, the store and
 * the HTTP handlers. */
#include "lesion.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const type_names[LESION_NTYPES + 1] = {
	NULL, "bone", "abdomen", "mediastinum", "liver", "lung", "kidney", "soft_tissue",
	"pelvis"
};
static const char *const split_names[4] = { NULL, "train", "val", "test" };

const char *lesion_type_name(int type)
{
	return type >= 1 && type <= LESION_NTYPES ? type_names[type] : NULL;
}

int lesion_type_parse(const char *s)
{
	int64_t v;
	int t;

	if (!parse_i64(s, 1, LESION_NTYPES, &v))
		return (int)v;
	for (t = 1; t <= LESION_NTYPES; t++)
		if (!strcasecmp(s, type_names[t]))
			return t;
	if (!strcasecmp(s, "soft tissue") || !strcasecmp(s, "soft-tissue"))
		return 7;
	return -1;
}

const char *lesion_split_name(int split)
{
	return split >= 1 && split <= 3 ? split_names[split] : NULL;
}

int lesion_split_parse(const char *s)
{
	int64_t v;
	int i;

	if (!parse_i64(s, 1, 3, &v))
		return (int)v;
	for (i = 1; i <= 3; i++)
		if (!strcasecmp(s, split_names[i]))
			return i;
	if (!strcasecmp(s, "validation"))
		return 2;
	return -1;
}

void lesion_derive(struct lesion *l)
{
	/* rounded to 0.1 µm: more digits than any CT measures, none of the float noise */
	l->diam_mm[0] = round(l->diam_px[0] * l->spacing[0] * 1e4) / 1e4;
	l->diam_mm[1] = round(l->diam_px[1] * l->spacing[0] * 1e4) / 1e4;
	snprintf(l->image_path, sizeof(l->image_path), "%06d_%02d_%02d/%03d.png", l->patient,
		 l->study, l->series, l->key_slice);
}

static int finite_all(const double *v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

int lesion_validate(const struct lesion *l, char *err)
{
	int i;

	if (l->patient < 1 || l->patient > 999999)
		return errf(err, "Patient_index: %d out of range 1..999999", l->patient);
	if (l->study < 1 || l->study > 99)
		return errf(err, "Study_index: %d out of range 1..99", l->study);
	if (l->series < 0 || l->series > 99)
		return errf(err, "Series_ID: %d out of range 0..99", l->series);
	if (l->key_slice < 0 || l->key_slice > 9999)
		return errf(err, "Key_slice_index: %d out of range 0..9999", l->key_slice);
	if (!finite_all(l->recist, 8))
		return errf(err, "Measurement_coordinates: not finite");
	if (!finite_all(l->bbox, 4) || l->bbox[2] < l->bbox[0] || l->bbox[3] < l->bbox[1])
		return errf(err, "Bounding_boxes: need x1 <= x2 and y1 <= y2");
	if (!finite_all(l->diam_px, 2) || l->diam_px[0] < 0 || l->diam_px[1] < 0)
		return errf(err, "Lesion_diameters_Pixel_: need two non-negative numbers");
	if (!finite_all(l->loc, 3))
		return errf(err, "Normalized_lesion_location: not finite");
	for (i = 0; i < 3; i++)
		if (l->loc[i] < -0.5 || l->loc[i] > 1.5)
			return errf(err, "Normalized_lesion_location: %g far outside [0,1]", l->loc[i]);
	if (l->type != -1 && (l->type < 1 || l->type > LESION_NTYPES))
		return errf(err, "Coarse_lesion_type: %d is not -1 or 1..8", l->type);
	if (l->noisy != 0 && l->noisy != 1)
		return errf(err, "Possibly_noisy: %d is not 0 or 1", l->noisy);
	if (l->slice_range[0] > l->slice_range[1] || l->slice_range[0] < 0)
		return errf(err, "Slice_range: need 0 <= first <= last");
	if (l->key_slice < l->slice_range[0] || l->key_slice > l->slice_range[1])
		return errf(err, "Slice_range: key slice %d outside %d..%d", l->key_slice,
			    l->slice_range[0], l->slice_range[1]);
	if (!finite_all(l->spacing, 3) || l->spacing[0] <= 0 || l->spacing[1] <= 0 ||
	    l->spacing[2] <= 0 || l->spacing[0] > 50 || l->spacing[1] > 50 || l->spacing[2] > 100)
		return errf(err, "Spacing_mm_px_: need three positive spacings (mm)");
	if (l->image_size[0] < 1 || l->image_size[1] < 1 || l->image_size[0] > 4096 ||
	    l->image_size[1] > 4096)
		return errf(err, "Image_size: need 1..4096");
	if (!finite_all(l->window, 2) || l->window[0] >= l->window[1])
		return errf(err, "DICOM_windows: need min < max");
	if (l->gender != 'M' && l->gender != 'F' && l->gender != 'U')
		return errf(err, "Patient_gender: need M or F");
	if (!isnan(l->age) && (l->age < 0 || l->age > 150))
		return errf(err, "Patient_age: %g out of range 0..150", l->age);
	if (l->split < 1 || l->split > 3)
		return errf(err, "Train_Val_Test: %d is not 1, 2 or 3", l->split);
	return 0;
}
