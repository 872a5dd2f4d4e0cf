/* sheet.c - composed RGB pictures for contact sheets: canvas, rectangles, frames, tile
 * copies, a 5x7 bitmap font, the lesion-type colours and legend, and the grid layout
 * (include/sheet.h has the geometry). Called by server/h_sheets.c once per sheet
 * request; owns nothing beyond the canvas it allocates. Pure and thread-safe; drawing
 * is clipped to the canvas, so callers never write out of bounds.
 */
#include "sheet.h"
#include "image.h"
#include "lesion.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The font: classic 5x7 glyphs, one byte per row, bit 4 = leftmost column. */
struct glyph {
	char c;
	uint8_t row[SHEET_GLYPH_H];
};

static const struct glyph font[] = {
	{ ' ', { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 } },
	{ '!', { 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04 } },
	{ '#', { 0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a } },
	{ '%', { 0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03 } },
	{ '\'', { 0x0c, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00 } },
	{ '(', { 0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02 } },
	{ ')', { 0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08 } },
	{ '*', { 0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00 } },
	{ '+', { 0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00 } },
	{ ',', { 0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08 } },
	{ '-', { 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00 } },
	{ '.', { 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c } },
	{ '/', { 0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00 } },
	{ '0', { 0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e } },
	{ '1', { 0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e } },
	{ '2', { 0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f } },
	{ '3', { 0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e } },
	{ '4', { 0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02 } },
	{ '5', { 0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e } },
	{ '6', { 0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e } },
	{ '7', { 0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08 } },
	{ '8', { 0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e } },
	{ '9', { 0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c } },
	{ ':', { 0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00 } },
	{ '<', { 0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02 } },
	{ '=', { 0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00 } },
	{ '>', { 0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08 } },
	{ '?', { 0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04 } },
	{ 'A', { 0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11 } },
	{ 'B', { 0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e } },
	{ 'C', { 0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e } },
	{ 'D', { 0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c } },
	{ 'E', { 0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f } },
	{ 'F', { 0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10 } },
	{ 'G', { 0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f } },
	{ 'H', { 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11 } },
	{ 'I', { 0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e } },
	{ 'J', { 0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c } },
	{ 'K', { 0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11 } },
	{ 'L', { 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f } },
	{ 'M', { 0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11 } },
	{ 'N', { 0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11 } },
	{ 'O', { 0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e } },
	{ 'P', { 0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10 } },
	{ 'Q', { 0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d } },
	{ 'R', { 0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11 } },
	{ 'S', { 0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e } },
	{ 'T', { 0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04 } },
	{ 'U', { 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e } },
	{ 'V', { 0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04 } },
	{ 'W', { 0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a } },
	{ 'X', { 0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11 } },
	{ 'Y', { 0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04 } },
	{ 'Z', { 0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f } },
	{ '[', { 0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e } },
	{ ']', { 0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e } },
	{ '_', { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f } },
};

const uint8_t *sheet_glyph(int c)
{
	size_t i;

	if (c >= 'a' && c <= 'z')
		c -= 'a' - 'A';
	for (i = 0; i < sizeof(font) / sizeof(font[0]); i++)
		if (font[i].c == c)
			return font[i].row;
	return sheet_glyph('?');
}

/* Type colours: distinguishable on a dark background and from the overlay's green box
 * and red/blue RECIST axes, which are drawn inside the tile. */
static const uint32_t type_rgb[LESION_NTYPES + 1] = {
	0x9a9a9a,	/* unlabelled */
	0xf2c12e,	/* 1 bone: gold */
	0x4e9ff5,	/* 2 abdomen: blue */
	0xb07df0,	/* 3 mediastinum: violet */
	0xc0703a,	/* 4 liver: brown-orange */
	0x35d0e0,	/* 5 lung: cyan */
	0x66cc55,	/* 6 kidney: green */
	0xf07ac8,	/* 7 soft tissue: pink */
	0xe8483c,	/* 8 pelvis: red */
};

uint32_t sheet_type_rgb(int type)
{
	return type >= 1 && type <= LESION_NTYPES ? type_rgb[type] : type_rgb[0];
}

int sheet_create(int w, int h, uint32_t bg, struct sheet **out, char *err)
{
	struct sheet *s = NULL;

	*out = NULL;
	if (w < 1 || h < 1 || w > SHEET_MAX_SIDE || h > SHEET_MAX_SIDE)
		return errf(err, "sheet: %dx%d is outside 1..%d", w, h, SHEET_MAX_SIDE);
	s = calloc(1, sizeof(*s));
	if (!s || !(s->rgb = malloc((size_t)w * (size_t)h * 3))) {
		free(s);
		return errf(err, "out of memory");
	}
	s->w = w;
	s->h = h;
	sheet_fill(s, 0, 0, w, h, bg);
	*out = s;
	return 0;
}

void sheet_destroy(struct sheet *s)
{
	if (!s)
		return;
	free(s->rgb);
	free(s);
}

uint32_t sheet_pixel(const struct sheet *s, int x, int y)
{
	const uint8_t *p;

	if (x < 0 || y < 0 || x >= s->w || y >= s->h)
		return 0;
	p = s->rgb + ((size_t)y * s->w + x) * 3;
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

void sheet_fill(struct sheet *s, int x, int y, int w, int h, uint32_t rgb)
{
	int x0 = LSD_MAX(x, 0), y0 = LSD_MAX(y, 0);
	int x1 = LSD_MIN(x + w, s->w), y1 = LSD_MIN(y + h, s->h);
	uint8_t c[3] = { (uint8_t)(rgb >> 16), (uint8_t)(rgb >> 8), (uint8_t)rgb };

	for (int j = y0; j < y1; j++) {
		uint8_t *p = s->rgb + ((size_t)j * s->w + x0) * 3;

		for (int i = x0; i < x1; i++, p += 3)
			memcpy(p, c, 3);
	}
}

void sheet_frame(struct sheet *s, int x, int y, int w, int h, int t, uint32_t rgb)
{
	if (t <= 0)
		return;
	sheet_fill(s, x - t, y - t, w + 2 * t, t, rgb);		/* top */
	sheet_fill(s, x - t, y + h, w + 2 * t, t, rgb);		/* bottom */
	sheet_fill(s, x - t, y, t, h, rgb);			/* left */
	sheet_fill(s, x + w, y, t, h, rgb);			/* right */
}

void sheet_line(struct sheet *s, int x0, int y0, int x1, int y1, int t, uint32_t rgb)
{
	int a = t / 2;

	if (y0 == y1)
		sheet_fill(s, LSD_MIN(x0, x1), y0 - a, abs(x1 - x0) + 1, t, rgb);
	else if (x0 == x1)
		sheet_fill(s, x0 - a, LSD_MIN(y0, y1), t, abs(y1 - y0) + 1, rgb);
}

void sheet_blit(struct sheet *s, int x, int y, const uint8_t *px, int pw, int ph, int chan)
{
	if (chan != 1 && chan != 3)
		return;
	for (int j = LSD_MAX(0, -y); j < ph && y + j < s->h; j++) {
		for (int i = LSD_MAX(0, -x); i < pw && x + i < s->w; i++) {
			const uint8_t *q = px + ((size_t)j * pw + i) * (size_t)chan;
			uint8_t *p = s->rgb + ((size_t)(y + j) * s->w + (x + i)) * 3;

			p[0] = q[0];
			p[1] = q[chan == 3 ? 1 : 0];
			p[2] = q[chan == 3 ? 2 : 0];
		}
	}
}

static void draw_glyph(struct sheet *s, int x, int y, int c, int scale, uint32_t rgb)
{
	const uint8_t *g = sheet_glyph(c);

	for (int r = 0; r < SHEET_GLYPH_H; r++)
		for (int col = 0; col < SHEET_GLYPH_W; col++)
			if (g[r] & (0x10 >> col))
				sheet_fill(s, x + col * scale, y + r * scale, scale, scale, rgb);
}

int sheet_text_width(const char *text, int scale)
{
	size_t n = strlen(text);

	/* the last character's spacing column is not part of the text */
	return n ? (int)n * SHEET_ADVANCE * scale - scale : 0;
}

int sheet_text(struct sheet *s, int x, int y, const char *text, int scale, int max_w,
	       uint32_t rgb)
{
	int adv, n = (int)strlen(text), fit = n, cut = 0;

	if (scale < 1)
		scale = 1;
	adv = SHEET_ADVANCE * scale;
	if (max_w > 0 && sheet_text_width(text, scale) > max_w) {
		fit = (max_w + scale) / adv;	/* whole characters that fit */
		cut = 1;
	}
	for (int i = 0; i < fit; i++)
		draw_glyph(s, x + i * adv, y, cut && i == fit - 1 ? '.' : text[i], scale, rgb);
	return fit ? fit * adv - scale : 0;
}

/* "soft_tissue" is shown as "soft tissue". */
static void legend_name(int t, char *out, size_t n)
{
	const char *s = t == 0 ? "unlabelled" : lesion_type_name(t);
	size_t i;

	for (i = 0; s && s[i] && i + 1 < n; i++)
		out[i] = s[i] == '_' ? ' ' : s[i];
	out[i] = '\0';
}

/* Walk the legend entries; draw when s is non-NULL. Returns the height. */
static int legend_walk(struct sheet *s, int x, int y, int max_w, int scale)
{
	int sw = SHEET_GLYPH_H * scale, cx = 0, cy = 0, line = SHEET_LINE * scale;
	int order[LESION_NTYPES + 1];

	for (int t = 0; t < LESION_NTYPES; t++)
		order[t] = t + 1;
	order[LESION_NTYPES] = 0;
	for (int k = 0; k <= LESION_NTYPES; k++) {
		char name[32];
		int w;

		legend_name(order[k], name, sizeof(name));
		w = sw + 2 * scale + sheet_text_width(name, scale);
		if (cx > 0 && max_w > 0 && cx + w > max_w) {
			cx = 0;
			cy += line + 2 * scale;
		}
		if (s) {
			sheet_fill(s, x + cx, y + cy, sw, sw, sheet_type_rgb(order[k]));
			sheet_text(s, x + cx + sw + 2 * scale, y + cy, name, scale, 0,
				   SHEET_RGB_TEXT);
		}
		cx += w + 2 * SHEET_ADVANCE * scale;
	}
	return cy + line;
}

int sheet_legend(struct sheet *s, int x, int y, int max_w, int scale)
{
	return legend_walk(s, x, y, max_w, scale);
}

int sheet_legend_height(int max_w, int scale)
{
	return legend_walk(NULL, 0, 0, max_w, scale);
}

int sheet_layout(struct sheet_layout *L, char *err)
{
	int64_t w, h;

	if (L->rows < 1 || L->cols < 1 || L->tile < 1 || L->border < 0 || L->gap < 0 ||
	    L->lines < 0 || L->scale < 1 || L->left < 0 || L->top < 0 || L->bottom < 0)
		return errf(err, "sheet: bad layout");
	L->cell_w = L->tile + 2 * L->border;
	L->cell_h = L->tile + 2 * L->border + (L->lines ? 2 * L->scale : 0) +
		    L->lines * SHEET_LINE * L->scale;
	L->grid_x = L->gap + (L->left ? L->left + L->gap : 0);
	L->grid_y = L->gap + (L->top ? L->top + L->gap : 0);
	w = (int64_t)L->grid_x + (int64_t)L->cols * (L->cell_w + L->gap);
	h = (int64_t)L->grid_y + (int64_t)L->rows * (L->cell_h + L->gap) +
	    (L->bottom ? L->bottom + L->gap : 0);
	if (w > SHEET_MAX_SIDE || h > SHEET_MAX_SIDE)
		return errf(err, "the picture would be %lldx%lld pixels, more than %d on a side: "
			    "ask for fewer or smaller tiles", (long long)w, (long long)h,
			    SHEET_MAX_SIDE);
	L->w = (int)w;
	L->h = (int)h;
	return 0;
}

void sheet_cell_tile(const struct sheet_layout *L, int row, int col, int *x, int *y)
{
	*x = L->grid_x + col * (L->cell_w + L->gap) + L->border;
	*y = L->grid_y + row * (L->cell_h + L->gap) + L->border;
}

void sheet_cell_text(const struct sheet_layout *L, int row, int col, int i, int *x, int *y)
{
	*x = L->grid_x + col * (L->cell_w + L->gap);
	*y = L->grid_y + row * (L->cell_h + L->gap) + L->tile + 2 * L->border + 2 * L->scale +
	     i * SHEET_LINE * L->scale;
}

int sheet_auto_cols(int n)
{
	int c = (int)ceil(sqrt(1.5 * n));

	return LSD_MAX(1, LSD_MIN(c, n));
}

/* ---------- plans: what a composed picture holds, its ETag, drawing it ---------- */

void sheet_plan_free(struct sheet_plan *pl)
{
	if (!pl)
		return;
	free(pl->cells);
	free(pl->texts);
	free(pl->links);
}

int sheet_plan_alloc(struct sheet_plan *pl, int cells, int texts, int links)
{
	memset(pl, 0, sizeof(*pl));
	pl->cells = calloc((size_t)LSD_MAX(cells, 1), sizeof(*pl->cells));
	pl->texts = calloc((size_t)LSD_MAX(texts, 1), sizeof(*pl->texts));
	pl->links = calloc((size_t)LSD_MAX(links, 1), sizeof(*pl->links));
	pl->capcells = cells;
	pl->captexts = texts;
	pl->caplinks = links;
	return pl->cells && pl->texts && pl->links ? 0 : -1;
}

struct sheet_cell *sheet_plan_cell(struct sheet_plan *pl, int row, int col)
{
	struct sheet_cell *c;

	if (pl->ncells >= pl->capcells)
		return NULL;
	c = &pl->cells[pl->ncells++];
	c->row = row;
	c->col = col;
	return c;
}

void sheet_plan_text(struct sheet_plan *pl, int x, int y, int max_w, int scale, uint32_t rgb,
		     const char *s)
{
	struct sheet_label *t;

	if (pl->ntexts >= pl->captexts)
		return;
	t = &pl->texts[pl->ntexts++];
	t->x = x;
	t->y = y;
	t->max_w = max_w;
	t->scale = scale;
	t->rgb = rgb;
	snprintf(t->s, sizeof(t->s), "%s", s);
}

int sheet_plan_layout(struct sheet_plan *pl, int legend, char *err)
{
	int lh = 0;

	pl->L.bottom = 0;
	if (sheet_layout(&pl->L, err))
		return -1;
	pl->w = LSD_MAX(pl->L.w, SHEET_MIN_W);
	if (legend) {
		lh = sheet_legend_height(pl->w - 2 * pl->L.gap, pl->L.scale);
		pl->L.bottom = lh;
		if (sheet_layout(&pl->L, err))
			return -1;
		pl->legend_y = pl->L.h - pl->L.gap - lh;
	}
	pl->h = pl->L.h;
	return 0;
}

static uint64_t h_int(uint64_t h, int64_t v)
{
	return fnv1a64(&v, sizeof(v), h);
}

static uint64_t h_str(uint64_t h, const char *s)
{
	return fnv1a64(s, strlen(s) + 1, h);
}

void sheet_plan_etag(const struct sheet_plan *pl, const char *kind, int png_level, char *out,
		      size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const struct sheet_layout *L = &pl->L;

	h = h_int(h, SHEET_PLAN_VERSION);
	h = h_str(h, kind);
	h = h_int(h, png_level);	/* the encoder's level changes the bytes */
	h = h_int(h, IMAGE_ENCODE_VERSION);	/* and so does its filter and strategy */
	h = h_int(h, L->rows);
	h = h_int(h, L->cols);
	h = h_int(h, L->tile);
	h = h_int(h, L->border);
	h = h_int(h, L->gap);
	h = h_int(h, L->lines);
	h = h_int(h, L->scale);
	h = h_int(h, L->left);
	h = h_int(h, L->top);
	h = h_int(h, L->bottom);
	h = h_int(h, pl->w);
	h = h_int(h, pl->h);
	h = h_int(h, pl->legend_y);
	for (int i = 0; i < pl->ncells; i++) {
		const struct sheet_cell *c = &pl->cells[i];

		h = h_int(h, c->row);
		h = h_int(h, c->col);
		h = h_int(h, c->l ? c->l->id : 0);
		h = h_int(h, c->border);
		h = h_int(h, c->highlight);
		h = h_str(h, c->label[0]);
		h = h_str(h, c->label[1]);
		h = h_str(h, c->centre);
		h = h_str(h, c->badge);
		/* the patch ETag covers the file, the lesion's geometry and every parameter */
		h = h_str(h, c->etag);
	}
	for (int i = 0; i < pl->ntexts; i++) {
		const struct sheet_label *t = &pl->texts[i];

		h = h_int(h, t->x);
		h = h_int(h, t->y);
		h = h_int(h, t->max_w);
		h = h_int(h, t->scale);
		h = h_int(h, t->rgb);
		h = h_str(h, t->s);
	}
	for (int i = 0; i < pl->nlinks; i++) {
		h = h_int(h, pl->links[i].row);
		h = h_int(h, pl->links[i].c0);
		h = h_int(h, pl->links[i].c1);
		h = h_int(h, pl->links[i].rgb);
	}
	snprintf(out, n, "\"s%d-%016llx\"", SHEET_PLAN_VERSION, (unsigned long long)h);
}

static void draw_empty(struct sheet *s, const struct sheet_plan *pl, const struct sheet_cell *c, int x,
		       int y, const char *msg)
{
	int t = pl->L.tile, sc = pl->L.scale, tw;

	sheet_fill(s, x, y, t, t, SHEET_RGB_EMPTY);
	if (!msg || !*msg)
		return;
	tw = LSD_MIN(sheet_text_width(msg, sc), t - 4);
	sheet_text(s, x + (t - tw) / 2, y + (t - SHEET_GLYPH_H * sc) / 2, msg, sc, t - 4,
		   c->l ? SHEET_RGB_TEXT : SHEET_RGB_DIM);
}

static void draw_cell(struct sheet *s, const struct sheet_plan *pl, const struct sheet_cell *c,
		      sheet_patch_fn patch, void *cls)
{
	const struct sheet_layout *L = &pl->L;
	void *px = NULL;
	int x, y, chan = 0;

	sheet_cell_tile(L, c->row, c->col, &x, &y);
	if (!c->l) {
		draw_empty(s, pl, c, x, y, c->centre);
	} else if (!c->etag[0] || patch(cls, c->l, &c->p, &px, &chan) || (chan != 1 && chan != 3)) {
		draw_empty(s, pl, c, x, y, "NO IMAGE");
	} else {
		sheet_blit(s, x, y, px, L->tile, L->tile, chan);
	}
	free(px);
	if (c->l || c->border != SHEET_RGB_EMPTY)
		sheet_frame(s, x, y, L->tile, L->tile, L->border, c->border);
	if (c->highlight)
		sheet_frame(s, x - L->border, y - L->border, L->tile + 2 * L->border,
			    L->tile + 2 * L->border, 2, SHEET_RGB_QUERY);
	if (c->badge[0]) {	/* a tab in the border colour, dark text */
		int bw = LSD_MIN(sheet_text_width(c->badge, L->scale) + 4 * L->scale, L->tile);

		sheet_fill(s, x, y, bw, (SHEET_GLYPH_H + 4) * L->scale, c->border);
		sheet_text(s, x + 2 * L->scale, y + 2 * L->scale, c->badge, L->scale, bw - 4 * L->scale,
			   SHEET_RGB_BG);
	}
	for (int i = 0; i < 2 && i < L->lines; i++) {
		int tx, ty;

		sheet_cell_text(L, c->row, c->col, i, &tx, &ty);
		sheet_text(s, tx, ty, c->label[i], L->scale, L->cell_w,
			   i == 0 ? SHEET_RGB_TEXT : SHEET_RGB_DIM);
	}
}

int sheet_plan_draw(const struct sheet_plan *pl, sheet_patch_fn patch, void *cls, int png_level,
		    unsigned char **png, size_t *len, char *err)
{
	const struct sheet_layout *L = &pl->L;
	struct sheet *s = NULL;
	int rc;

	if (sheet_create(pl->w, pl->h, SHEET_RGB_BG, &s, err))
		return -1;
	for (int i = 0; i < pl->nlinks; i++) {
		const struct sheet_link *k = &pl->links[i];
		int x0, y0, x1, y1;

		sheet_cell_tile(L, k->row, k->c0, &x0, &y0);
		sheet_cell_tile(L, k->row, k->c1, &x1, &y1);
		sheet_line(s, x0 + L->tile + L->border, y0 + L->tile / 2, x1 - L->border - 1,
			   y0 + L->tile / 2, 3, k->rgb);
	}
	for (int i = 0; i < pl->ncells; i++)
		draw_cell(s, pl, &pl->cells[i], patch, cls);
	for (int i = 0; i < pl->ntexts; i++) {
		const struct sheet_label *t = &pl->texts[i];

		sheet_text(s, t->x, t->y, t->s, t->scale, t->max_w, t->rgb);
	}
	if (pl->legend_y)
		sheet_legend(s, L->gap, pl->legend_y, pl->w - 2 * L->gap, L->scale);
	rc = image_encode_png(s->rgb, s->w, s->h, IMAGE_RGB8, png_level, png, len, err);
	sheet_destroy(s);
	return rc ? -1 : 0;
}

void sheet_mm_text(char *out, size_t n, double mm)
{
	if (mm > 0 && isfinite(mm))
		snprintf(out, n, "%.1f MM", mm);
	else
		snprintf(out, n, "? MM");
}

void sheet_type_text(int type, char *out, size_t n)
{
	const char *s = lesion_type_name(type);
	size_t i;

	if (!s)
		s = "unlabelled";
	for (i = 0; s[i] && i + 1 < n; i++)
		out[i] = s[i] == '_' ? ' ' : s[i];
	out[i] = '\0';
}
