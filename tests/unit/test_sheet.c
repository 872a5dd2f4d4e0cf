/* test_sheet.c - the contact-sheet canvas (index/sheet.c) against geometry worked out by
 * hand from the layout rules in include/sheet.h: tile and text positions, frames drawn
 * outside the tile in the type's colour, tile copies (gray and RGB, clipped), glyph
 * pixels compared with 5x7 patterns written out here as strings, truncation, the
 * legend's swatches and wrapping, and the automatic column count.
 */
#include "unit.h"
#include "sheet.h"
#include "util.h"

#include <stdint.h>

static struct sheet *canvas(int w, int h, uint32_t bg)
{
	struct sheet *s = NULL;
	char err[LSD_ERRLEN];

	if (sheet_create(w, h, bg, &s, err)) {
		fprintf(stderr, "sheet_create: %s\n", err);
		exit(1);
	}
	return s;
}

static void test_layout(void)
{
	struct sheet_layout L;
	char err[LSD_ERRLEN];
	int x, y;

	memset(&L, 0, sizeof(L));
	L.rows = 2;
	L.cols = 3;
	L.tile = 10;
	L.border = 2;
	L.gap = 4;
	L.lines = 1;
	L.scale = 1;
	CHECK_EQ_INT(sheet_layout(&L, err), 0);
	/* cell: 2 + 10 + 2 wide; 14 + 2 (text spacing) + 9 (one line) high */
	CHECK_EQ_INT(L.cell_w, 14);
	CHECK_EQ_INT(L.cell_h, 25);
	CHECK_EQ_INT(L.grid_x, 4);
	CHECK_EQ_INT(L.grid_y, 4);
	CHECK_EQ_INT(L.w, 4 + 3 * 18);
	CHECK_EQ_INT(L.h, 4 + 2 * 29);
	sheet_cell_tile(&L, 0, 0, &x, &y);
	CHECK_EQ_INT(x, 6);
	CHECK_EQ_INT(y, 6);
	sheet_cell_tile(&L, 1, 2, &x, &y);
	CHECK_EQ_INT(x, 4 + 2 * 18 + 2);
	CHECK_EQ_INT(y, 4 + 29 + 2);
	sheet_cell_text(&L, 1, 2, 0, &x, &y);
	CHECK_EQ_INT(x, 4 + 2 * 18);
	CHECK_EQ_INT(y, 4 + 29 + 14 + 2);

	/* a label column, header and footer band each add their size plus one gap */
	L.left = 20;
	L.top = 12;
	L.bottom = 9;
	L.lines = 2;
	L.scale = 2;
	CHECK_EQ_INT(sheet_layout(&L, err), 0);
	CHECK_EQ_INT(L.cell_h, 14 + 4 + 2 * 18);
	CHECK_EQ_INT(L.grid_x, 4 + 20 + 4);
	CHECK_EQ_INT(L.grid_y, 4 + 12 + 4);
	CHECK_EQ_INT(L.w, 28 + 3 * 18);
	CHECK_EQ_INT(L.h, 20 + 2 * (54 + 4) + 9 + 4);
	sheet_cell_text(&L, 0, 1, 1, &x, &y);
	CHECK_EQ_INT(x, 28 + 18);
	CHECK_EQ_INT(y, 20 + 14 + 4 + 18);

	/* refused: too big a canvas, nonsense sizes */
	L.rows = 1000;
	L.tile = 256;
	CHECK(sheet_layout(&L, err) != 0);
	CHECK(strstr(err, "pixels") != NULL);
	L.rows = 0;
	CHECK(sheet_layout(&L, err) != 0);
}

static void test_blit_frame(void)
{
	struct sheet *s = canvas(40, 30, 0x000000);
	uint8_t g[8 * 8], rgb[2 * 2 * 3] = { 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120 };
	uint32_t lung = sheet_type_rgb(5);
	int i, j, bad = 0;

	for (j = 0; j < 8; j++)
		for (i = 0; i < 8; i++)
			g[j * 8 + i] = (uint8_t)(i * 10 + j);
	sheet_blit(s, 5, 6, g, 8, 8, 1);
	for (j = 0; j < 8; j++)
		for (i = 0; i < 8; i++)
			bad += sheet_pixel(s, 5 + i, 6 + j) != (uint32_t)(i * 10 + j) * 0x010101u;
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(sheet_pixel(s, 4, 6), 0);		/* left of the tile: untouched */
	CHECK_EQ_INT(sheet_pixel(s, 13, 13), 0);	/* right of and below: untouched */

	/* a 2-pixel frame outside the 8x8 tile at (5,6): columns 3,4 and 13,14, rows 4,5
	 * and 14,15, corners included; the tile itself is not painted over */
	sheet_frame(s, 5, 6, 8, 8, 2, lung);
	CHECK_EQ_INT(sheet_pixel(s, 3, 6), lung);
	CHECK_EQ_INT(sheet_pixel(s, 4, 13), lung);
	CHECK_EQ_INT(sheet_pixel(s, 13, 6), lung);
	CHECK_EQ_INT(sheet_pixel(s, 14, 13), lung);
	CHECK_EQ_INT(sheet_pixel(s, 3, 4), lung);	/* corner */
	CHECK_EQ_INT(sheet_pixel(s, 14, 15), lung);	/* corner */
	CHECK_EQ_INT(sheet_pixel(s, 2, 6), 0);
	CHECK_EQ_INT(sheet_pixel(s, 15, 6), 0);
	CHECK_EQ_INT(sheet_pixel(s, 5, 3), 0);
	CHECK_EQ_INT(sheet_pixel(s, 5, 16), 0);
	CHECK_EQ_INT(sheet_pixel(s, 5, 6), 0 * 0x010101u);
	CHECK_EQ_INT(sheet_pixel(s, 12, 13), (7 * 10 + 7) * 0x010101u);

	/* RGB tile, and a tile hanging over the top-left corner is clipped */
	sheet_blit(s, 30, 20, rgb, 2, 2, 3);
	CHECK_EQ_INT(sheet_pixel(s, 30, 20), 0x0a141e);
	CHECK_EQ_INT(sheet_pixel(s, 31, 20), 0x28323c);
	CHECK_EQ_INT(sheet_pixel(s, 30, 21), 0x46505a);
	CHECK_EQ_INT(sheet_pixel(s, 31, 21), 0x646e78);
	sheet_blit(s, -3, -2, g, 8, 8, 1);
	CHECK_EQ_INT(sheet_pixel(s, 0, 0), (3 * 10 + 2) * 0x010101u);
	sheet_blit(s, 36, 26, g, 8, 8, 1);	/* over the bottom-right corner */
	CHECK_EQ_INT(sheet_pixel(s, 39, 29), (3 * 10 + 3) * 0x010101u);

	/* type colours: one per type, distinct; everything else the same grey */
	for (i = 1; i <= 8; i++)
		for (j = i + 1; j <= 8; j++)
			CHECK(sheet_type_rgb(i) != sheet_type_rgb(j));
	for (i = 1; i <= 8; i++)
		CHECK(sheet_type_rgb(i) != sheet_type_rgb(-1));
	CHECK_EQ_INT(sheet_type_rgb(-1), sheet_type_rgb(0));
	CHECK_EQ_INT(sheet_type_rgb(9), sheet_type_rgb(0));
	sheet_destroy(s);
	sheet_destroy(NULL);
}

/* Does the canvas at (x, y) show these rows ('#' = rgb, '.' = bg) at this scale? */
static int shows(const struct sheet *s, int x, int y, const char *const *rows, int scale,
		 uint32_t rgb, uint32_t bg)
{
	int bad = 0;

	for (int r = 0; rows[r]; r++)
		for (int c = 0; rows[r][c]; c++)
			for (int dy = 0; dy < scale; dy++)
				for (int dx = 0; dx < scale; dx++) {
					uint32_t want = rows[r][c] == '#' ? rgb : bg;

					bad += sheet_pixel(s, x + c * scale + dx,
							   y + r * scale + dy) != want;
				}
	return bad;
}

static void test_text(void)
{
	/* "L7" then the spacing column, written out by hand */
	static const char *const l7[] = {
		"#.....#####",
		"#.........#",
		"#........#.",
		"#.......#..",
		"#......#...",
		"#......#...",
		"#####..#...",
		NULL
	};
	static const char *const dot[] = {
		".....", ".....", ".....", ".....", ".....", ".##..", ".##..", NULL
	};
	static const char *const qmark[] = {
		".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#..", NULL
	};
	struct sheet *s = canvas(60, 40, 0x101010);
	int w;

	CHECK_EQ_INT(sheet_text_width("L7", 1), 11);
	CHECK_EQ_INT(sheet_text_width("L7", 3), 33);
	CHECK_EQ_INT(sheet_text_width("", 2), 0);
	w = sheet_text(s, 10, 5, "L7", 1, 0, 0xffffff);
	CHECK_EQ_INT(w, 11);
	CHECK_EQ_INT(shows(s, 10, 5, l7, 1, 0xffffff, 0x101010), 0);
	CHECK_EQ_INT(sheet_pixel(s, 9, 5), 0x101010);
	CHECK_EQ_INT(sheet_pixel(s, 10, 12), 0x101010);	/* row 7: below the glyph */
	sheet_destroy(s);

	/* scale 2: every glyph pixel a 2x2 block; lowercase is drawn as capitals */
	s = canvas(60, 40, 0);
	sheet_text(s, 3, 4, "l7", 2, 0, 0x35d0e0);
	CHECK_EQ_INT(shows(s, 3, 4, l7, 2, 0x35d0e0, 0), 0);
	sheet_destroy(s);

	/* cut at max_w: "L7L7" in 8 pixels keeps one character, shown as '.' */
	s = canvas(60, 40, 0);
	w = sheet_text(s, 0, 0, "L7L7", 1, 8, 0xffffff);
	CHECK_EQ_INT(w, 5);
	CHECK_EQ_INT(shows(s, 0, 0, dot, 1, 0xffffff, 0), 0);
	CHECK_EQ_INT(sheet_pixel(s, 6, 0), 0);	/* nothing of the second character */
	/* exactly fitting text is not cut: "L7" in 11 */
	w = sheet_text(s, 0, 20, "L7", 1, 11, 0xffffff);
	CHECK_EQ_INT(w, 11);
	CHECK_EQ_INT(shows(s, 0, 20, l7, 1, 0xffffff, 0), 0);
	/* a character without a glyph is a question mark */
	sheet_text(s, 30, 20, "~", 1, 0, 0xffffff);
	CHECK_EQ_INT(shows(s, 30, 20, qmark, 1, 0xffffff, 0), 0);
	/* text at the canvas edge is clipped, not written outside */
	sheet_text(s, 57, 36, "WWW", 2, 0, 0xffffff);
	CHECK_EQ_INT(sheet_pixel(s, 57, 36), 0xffffff);
	sheet_destroy(s);
}

static void test_legend(void)
{
	struct sheet *s = canvas(800, 60, 0);
	int h;

	/* wide enough: one line; the first swatch (bone) is a 7x7 square at the origin,
	 * its name starts 2 pixels after it */
	h = sheet_legend(s, 0, 0, 800, 1);
	CHECK_EQ_INT(h, 9);
	CHECK_EQ_INT(sheet_legend_height(800, 1), 9);
	CHECK_EQ_INT(sheet_pixel(s, 0, 0), sheet_type_rgb(1));
	CHECK_EQ_INT(sheet_pixel(s, 6, 6), sheet_type_rgb(1));
	CHECK_EQ_INT(sheet_pixel(s, 7, 0), 0);
	CHECK_EQ_INT(sheet_pixel(s, 0, 7), 0);
	/* "BONE": B's top row is "####.", starting at x = 9 */
	CHECK_EQ_INT(sheet_pixel(s, 9, 0), SHEET_RGB_TEXT);
	CHECK_EQ_INT(sheet_pixel(s, 12, 0), SHEET_RGB_TEXT);
	CHECK_EQ_INT(sheet_pixel(s, 13, 0), 0);
	/* the second swatch (abdomen) follows "bone" and a 12-pixel space:
	 * 7 + 2 + 23 + 12 = 44 */
	CHECK_EQ_INT(sheet_pixel(s, 44, 0), sheet_type_rgb(2));
	CHECK_EQ_INT(sheet_pixel(s, 43, 0), 0);
	sheet_destroy(s);

	/* narrow: wraps onto more lines (11 pixels apart), same height as predicted */
	s = canvas(80, 200, 0);
	h = sheet_legend(s, 0, 0, 80, 1);	/* bone (32) fits, abdomen at 44 (+50) not */
	CHECK(h > 9);
	CHECK_EQ_INT(h, sheet_legend_height(80, 1));
	CHECK_EQ_INT((h - 9) % 11, 0);
	CHECK_EQ_INT(sheet_pixel(s, 0, 11), sheet_type_rgb(2));	/* abdomen starts line 2 */
	sheet_destroy(s);
}

static void test_auto_cols(void)
{
	CHECK_EQ_INT(sheet_auto_cols(1), 1);
	CHECK_EQ_INT(sheet_auto_cols(2), 2);	/* ceil(sqrt(3)) = 2 */
	CHECK_EQ_INT(sheet_auto_cols(6), 3);	/* sqrt(9) = 3 */
	CHECK_EQ_INT(sheet_auto_cols(11), 5);	/* ceil(4.06) */
	CHECK_EQ_INT(sheet_auto_cols(101), 13);	/* ceil(12.31) */
}

static void test_create_refuses(void)
{
	struct sheet *s = (struct sheet *)1;
	char err[LSD_ERRLEN];

	CHECK(sheet_create(0, 10, 0, &s, err) != 0);
	CHECK(s == NULL);
	CHECK(sheet_create(10, SHEET_MAX_SIDE + 1, 0, &s, err) != 0);
	s = canvas(3, 2, 0x123456);
	CHECK_EQ_INT(sheet_pixel(s, 2, 1), 0x123456);
	CHECK_EQ_INT(sheet_pixel(s, 3, 1), 0);	/* outside */
	sheet_fill(s, -5, -5, 100, 100, 0xabcdef);
	CHECK_EQ_INT(sheet_pixel(s, 0, 0), 0xabcdef);
	CHECK_EQ_INT(sheet_pixel(s, 2, 1), 0xabcdef);
	sheet_destroy(s);
}

int main(void)
{
	RUN(test_layout);
	RUN(test_blit_frame);
	RUN(test_text);
	RUN(test_legend);
	RUN(test_auto_cols);
	RUN(test_create_refuses);
	return unit_done();
}
