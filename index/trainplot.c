/* trainplot.c - loss and validation curves as a PNG (see trainplot.h). */
#include "trainplot.h"
#include "image.h"
#include "sheet.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define TP_W 560
#define TP_H 300
#define TP_L 56
#define TP_R 56
#define TP_T 34
#define TP_B 40
#define TP_LOSS 0xf0a030
#define TP_VAL 0x50a0f0

/* a segment as a run of 3x3 dots */
static void seg(struct sheet *s, double x0, double y0, double x1, double y1, uint32_t rgb)
{
	int k, n = (int)ceil(hypot(x1 - x0, y1 - y0)) + 1;

	for (k = 0; k <= n; k++) {
		double t = (double)k / n;

		sheet_fill(s, (int)lround(x0 + t * (x1 - x0)) - 1, (int)lround(y0 + t * (y1 - y0)) - 1,
			   3, 3, rgb);
	}
}

int trainplot_png(const double *loss, const double *val, int n, const char *title,
		  unsigned char **png, size_t *len, char *err)
{
	struct sheet *s = NULL;
	const int pw = TP_W - TP_L - TP_R, ph = TP_H - TP_T - TP_B;
	double lmax = 0;
	char buf[64];
	int i, rc;

	if (n < 1 || n > 10000)
		return errf(err, "no training curve");
	for (i = 0; i < n; i++)
		if (isfinite(loss[i]) && loss[i] > lmax)
			lmax = loss[i];
	if (!(lmax > 0))
		lmax = 1;
	if (sheet_create(TP_W, TP_H, 0x1c1c1c, &s, err))
		return -1;
	sheet_text(s, 8, 8, title, 2, TP_W - 16, SHEET_RGB_TEXT);
	sheet_line(s, TP_L, TP_T, TP_L, TP_T + ph, 1, SHEET_RGB_DIM);
	sheet_line(s, TP_L + pw, TP_T, TP_L + pw, TP_T + ph, 1, SHEET_RGB_DIM);
	sheet_line(s, TP_L, TP_T + ph, TP_L + pw, TP_T + ph, 1, SHEET_RGB_DIM);
	for (i = 1; i <= 4; i++)
		sheet_line(s, TP_L, TP_T + ph - ph * i / 4, TP_L + pw, TP_T + ph - ph * i / 4, 1,
			   0x333333);
	snprintf(buf, sizeof(buf), "%.3g", lmax);
	sheet_text(s, 4, TP_T - 3, buf, 1, TP_L - 6, TP_LOSS);
	sheet_text(s, 4, TP_T + ph - 3, "0", 1, 0, TP_LOSS);
	sheet_text(s, 4, TP_T + ph / 2, "loss", 1, 0, TP_LOSS);
	sheet_text(s, TP_L + pw + 6, TP_T - 3, "1.0", 1, 0, TP_VAL);
	sheet_text(s, TP_L + pw + 6, TP_T + ph - 3, "0", 1, 0, TP_VAL);
	sheet_text(s, TP_L + pw + 6, TP_T + ph / 2, "val", 1, 0, TP_VAL);
	sheet_text(s, TP_L + pw + 6, TP_T + ph / 2 + 10, "5-NN", 1, 0, TP_VAL);
	snprintf(buf, sizeof(buf), "epoch 1..%d", n);
	sheet_text(s, TP_L + pw / 2 - 30, TP_T + ph + 14, buf, 1, 0, SHEET_RGB_TEXT);
	for (i = 0; i < n; i++) {
		double x = TP_L + (n > 1 ? (double)pw * i / (n - 1) : pw / 2.0);
		double xp = TP_L + (n > 1 ? (double)pw * (i - 1) / (n - 1) : pw / 2.0);

		if (isfinite(loss[i])) {
			double y = TP_T + ph - ph * loss[i] / lmax;

			if (i && isfinite(loss[i - 1]))
				seg(s, xp, TP_T + ph - ph * loss[i - 1] / lmax, x, y, TP_LOSS);
			else
				seg(s, x, y, x, y, TP_LOSS);
		}
		if (val && val[i] >= 0 && val[i] <= 1) {
			double y = TP_T + ph - ph * val[i];

			if (i && val[i - 1] >= 0 && val[i - 1] <= 1)
				seg(s, xp, TP_T + ph - ph * val[i - 1], x, y, TP_VAL);
			else
				seg(s, x, y, x, y, TP_VAL);
		}
	}
	rc = image_encode_png(s->rgb, s->w, s->h, IMAGE_RGB8, 1, png, len, err);
	sheet_destroy(s);
	return rc;
}
