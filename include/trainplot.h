/* trainplot.h - the training report as a picture: loss and validation accuracy per epoch
 * (index/trainplot.c, drawn with sheet.h, encoded with image.h). Used by
 * GET /v1/spaces/{name}/training.png. */
#ifndef LSD_TRAINPLOT_H
#define LSD_TRAINPLOT_H

#include <stddef.h>

/* loss[n] (>= 0) in orange on the left axis (0 .. max), val[n] (0..1, < 0 = not
 * measured) in blue on the right axis (0 .. 1); title on top. An 8-bit RGB PNG in *png
 * (malloc'd). 0, or -1 with err (n < 1 or > 10000). */
int trainplot_png(const double *loss, const double *val, int n, const char *title,
		  unsigned char **png /* OUT */, size_t *len /* OUT */, char *err);

#endif
