/* dlcsv.h - DeepLesion's DL_info.csv: header check and row parser.
 *
 * Used by `lesiond ingest` and the fuzz target. The real format: 18 columns, lists in
 * quoted comma-space form ("233.537, 95.0204, ..."), `NaN` ages, -1 types, non-integer
 * DICOM windows, repeated File_name when a slice holds several lesions. Errors come back
 * as "file:line: Column: what is wrong". Reads line by line; no row longer than 64 KiB.
 */
#ifndef LSD_DLCSV_H
#define LSD_DLCSV_H

#include <stddef.h>

#include "lesion.h"

#define DLCSV_HEADER "File_name,Patient_index,Study_index,Series_ID,Key_slice_index," \
	"Measurement_coordinates,Bounding_boxes,Lesion_diameters_Pixel_," \
	"Normalized_lesion_location,Coarse_lesion_type,Possibly_noisy,Slice_range," \
	"Spacing_mm_px_,Image_size,DICOM_windows,Patient_gender,Patient_age,Train_Val_Test"

struct dlcsv;

/* Open and check the header. */
int dlcsv_open(const char *path, struct dlcsv **out /* OUT */, char *err);
/* Next row into *out (id = 1-based row number, derived fields filled).
 * 1 = a row, 0 = end of file, -1 = error (err has file:line: Column: what). */
int dlcsv_next(struct dlcsv *c, struct lesion *out /* OUT */, char *err);
void dlcsv_close(struct dlcsv *c);

/* Parse one data line (no newline) into *out; err gets "Column: what". For tests/fuzzing. */
int dlcsv_parse_row(const char *line, size_t len, struct lesion *out /* OUT */, char *err);

#endif
