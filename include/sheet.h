/* sheet.h - composed RGB pictures: contact sheets of lesion patches laid out in a grid,
 * with coloured borders, small text from a built-in 5x7 bitmap font, and a legend of the
 * coarse lesion-type colours.
 *
 * Pure pixels (no I/O, no HTTP, no shared state): the sheet handlers (server/h_sheets.c)
 * describe a picture as a plan (cells, texts, links; below), take its ETag, and have it
 * drawn here, each patch rendered through their callback (render.h, slice cache) and the
 * canvas encoded with image.h. Thread-safe. Expected load: one canvas per sheet request, a few megapixels
 * at most (a cap the caller checks with sheet_layout's w and h).
 *
 * Geometry. A layout is a grid of rows x cols cells after an optional row-label column
 * (left) and header band (top), with a footer band (bottom) under it:
 *
 *   margin | left | gap | cell | gap | cell ... | margin
 *
 * A cell is its tile (tile x tile pixels) framed by a border of `border` pixels on every
 * side, then `lines` lines of text under the frame. sheet_cell_tile gives the top-left
 * pixel of a tile; the frame occupies the `border` pixels around it.
 * Text: glyphs are 5x7 pixels on a 6x9 advance (one column and two rows of spacing),
 * multiplied by an integer scale. Lowercase letters are drawn as capitals; characters
 * without a glyph as '?'.
 */
#ifndef LSD_SHEET_H
#define LSD_SHEET_H

#include <stddef.h>
#include <stdint.h>

#include "lesion.h"
#include "render.h"
#include "util.h"

#define SHEET_GLYPH_W 5
#define SHEET_GLYPH_H 7
#define SHEET_ADVANCE 6		/* horizontal pixels per character at scale 1 */
#define SHEET_LINE 9		/* vertical pixels per text line at scale 1 */
#define SHEET_MAX_SIDE 8192	/* largest canvas side sheet_create accepts */
#define SHEET_TEXT_LEN 160	/* a text of a plan, bytes with the NUL */
#define SHEET_MIN_W 360		/* narrow plans are widened so header and legend read */
#define SHEET_PLAN_VERSION 1	/* bump when the drawing changes: it is part of the ETag */

/* Colours are 0xRRGGBB. */
#define SHEET_RGB_BG 0x1a1a1a		/* canvas background */
#define SHEET_RGB_TEXT 0xe8e8e8		/* text */
#define SHEET_RGB_DIM 0x8c8c8c		/* secondary text */
#define SHEET_RGB_EMPTY 0x2c2c2c	/* an empty cell (no lesion at that study) */
#define SHEET_RGB_QUERY 0xffffff	/* outer frame marking the query tile */

struct sheet {
	int w, h;
	uint8_t *rgb;	/* w*h*3 bytes, row-major */
};

/* A w x h canvas filled with bg. 0, or -1 with err (bad size, out of memory). */
int sheet_create(int w, int h, uint32_t bg, struct sheet **out /* OUT */, char *err);
void sheet_destroy(struct sheet *s);

/* The pixel at (x, y) as 0xRRGGBB (tests); 0 outside the canvas. */
uint32_t sheet_pixel(const struct sheet *s, int x, int y);

/* Fill a rectangle (clipped to the canvas). */
void sheet_fill(struct sheet *s, int x, int y, int w, int h, uint32_t rgb);
/* A frame of thickness t drawn OUTSIDE the rectangle (x, y, w, h). */
void sheet_frame(struct sheet *s, int x, int y, int w, int h, int t, uint32_t rgb);
/* A horizontal or vertical line (x0 == x1 or y0 == y1), thickness t centred on it. */
void sheet_line(struct sheet *s, int x0, int y0, int x1, int y1, int t, uint32_t rgb);
/* Copy a pw x ph tile with top-left (x, y): chan 1 (gray8) or 3 (rgb8); clipped. */
void sheet_blit(struct sheet *s, int x, int y, const uint8_t *px, int pw, int ph, int chan);

/* Draw text with its top-left at (x, y); at most max_w pixels wide (<= 0: no limit):
 * characters that would cross it are dropped, the last one kept becoming '.' when
 * something was cut. Returns the width drawn in pixels. */
int sheet_text(struct sheet *s, int x, int y, const char *text, int scale, int max_w,
	       uint32_t rgb);
/* Width in pixels text takes at this scale (no limit). */
int sheet_text_width(const char *text, int scale);
/* The 7 rows of a character's glyph, 5 bits each (bit 4 = the leftmost column). */
const uint8_t *sheet_glyph(int c);

/* The border colour of a coarse lesion type 1..8 (anything else: the unlabelled grey). */
uint32_t sheet_type_rgb(int type);
/* The legend: a swatch and the name of each type 1..8 and "unlabelled", in a row that
 * wraps at max_w. Returns the height used. */
int sheet_legend(struct sheet *s, int x, int y, int max_w, int scale);
/* Height sheet_legend would use (same arguments, no drawing). */
int sheet_legend_height(int max_w, int scale);

struct sheet_layout {
	/* in */
	int rows, cols;		/* >= 1 */
	int tile;		/* tile side, pixels */
	int border;		/* frame thickness */
	int gap;		/* between cells and around the grid */
	int lines;		/* text lines under each frame */
	int scale;		/* font scale of those lines */
	int left;		/* width of a row-label column (0: none) */
	int top;		/* header band height (0: none) */
	int bottom;		/* footer band height (0: none) */
	/* out (sheet_layout) */
	int cell_w, cell_h;	/* one cell: frame plus its text lines */
	int grid_x, grid_y;	/* top-left of the first cell */
	int w, h;		/* canvas size */
};

/* Compute the out fields. 0, or -1 with err when an input is out of range or the canvas
 * would exceed SHEET_MAX_SIDE. */
int sheet_layout(struct sheet_layout *L /* IN/OUT */, char *err);
/* Top-left pixel of the tile in (row, col). */
void sheet_cell_tile(const struct sheet_layout *L, int row, int col, int *x /* OUT */,
		     int *y /* OUT */);
/* Top-left pixel of text line i (0-based) under the tile in (row, col). */
void sheet_cell_text(const struct sheet_layout *L, int row, int col, int i, int *x /* OUT */,
		     int *y /* OUT */);

/* Columns for n tiles in a roughly 3:2 landscape grid: ceil(sqrt(1.5 n)), at most n. */
int sheet_auto_cols(int n);

/* ---------- plans ----------
 * A plan is everything a composed picture shows: the layout, every cell (which lesion,
 * its render parameters, border colour, text), free texts and connector lines. Its
 * strong ETag hashes all of it together with each cell's patch ETag (filled by the
 * caller, without decoding), so it is known, and If-None-Match answered, before any
 * slice is decoded; drawing then asks the caller for each patch's pixels.
 */

/* One grid cell. l NULL: an empty cell (no lesion at that study). */
struct sheet_cell {
	int row, col;
	const struct lesion *l;
	struct render_params p;
	uint32_t border;
	int highlight;			/* a second, white frame (the query) */
	char label[2][SHEET_TEXT_LEN];	/* lines under the tile */
	char centre[32];		/* text inside an empty cell */
	char badge[16];			/* text on a tab in the tile's top-left corner */
	char etag[RENDER_ETAG_LEN];	/* the patch's ETag; "" when its slice is unusable */
	char why[LSD_ERRLEN];		/* why the slice is unusable */
};

struct sheet_label {
	int x, y, max_w;
	int scale;
	uint32_t rgb;
	char s[SHEET_TEXT_LEN];
};

/* A connector from the frame of (row, c0) to the frame of (row, c1), at tile mid-height. */
struct sheet_link {
	int row, c0, c1;
	uint32_t rgb;
};

struct sheet_plan {
	struct sheet_layout L;
	int w, h;			/* canvas (>= L.w) */
	int legend_y;			/* 0: no legend */
	struct sheet_cell *cells;
	int ncells, capcells;
	struct sheet_label *texts;
	int ntexts, captexts;
	struct sheet_link *links;
	int nlinks, caplinks;
};

/* Room for cells, texts and links (all zero). 0, or -1 out of memory (free it anyway). */
int sheet_plan_alloc(struct sheet_plan *pl /* OUT */, int cells, int texts, int links);
void sheet_plan_free(struct sheet_plan *pl);
/* The next cell, at (row, col); NULL when the plan is full. */
struct sheet_cell *sheet_plan_cell(struct sheet_plan *pl, int row, int col);
/* A free text with its top-left at (x, y) (dropped when the plan is full). */
void sheet_plan_text(struct sheet_plan *pl, int x, int y, int max_w, int scale, uint32_t rgb,
		     const char *s);
/* Canvas size (at least SHEET_MIN_W wide) and, with legend, the legend's place below the
 * grid, once pl->L's inputs are set. 0, or -1 with err (sheet_layout's). */
int sheet_plan_layout(struct sheet_plan *pl, int legend, char *err);
/* The strong ETag ("\"s1-<16 hex>\"") of a plan drawn as kind at PNG level png_level. */
void sheet_plan_etag(const struct sheet_plan *pl, const char *kind, int png_level, char *out,
		     size_t n);
/* A cell's patch: *px (malloc'd, freed by the caller) tile x tile pixels, *chan 1 or 3.
 * Non-zero: draw the cell as "NO IMAGE" (the callback says why where it logs). */
typedef int (*sheet_patch_fn)(void *cls, const struct lesion *l, const struct render_params *p,
			      void **px /* OUT */, int *chan /* OUT */);
/* Draw the plan (patches through patch) and encode it as an 8-bit RGB PNG: *png malloc'd.
 * 0, or -1 with err. */
int sheet_plan_draw(const struct sheet_plan *pl, sheet_patch_fn patch, void *cls, int png_level,
		    unsigned char **png /* OUT */, size_t *len /* OUT */, char *err);
/* "12.3 MM", or "? MM" when mm is not a positive number. */
void sheet_mm_text(char *out, size_t n, double mm);
/* A type's display name: "soft tissue", "unlabelled". */
void sheet_type_text(int type, char *out, size_t n);

#endif
