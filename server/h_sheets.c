/* h_sheets.c - composed PNGs for notebooks and reports (API.md):
 *   GET /v1/lesions/{id}/similar.png  the query patch, then its k matches, in a grid
 *   GET /v1/patients/{pid}/graph.png  one row per track, the lesion's patch at each study
 *
 * Each request first builds a plan: every cell (which lesion, its window, border colour,
 * text), every free text and connector line, and the canvas layout (index/sheet.c).
 * Patches are rendered by the same code as patch.png (h_images_patch_*), so a tile is
 * pixel-identical to /v1/lesions/{id}/patch.png with the same parameters. The strong
 * ETag hashes the plan together with each tile's own patch ETag (which covers the slice
 * file's identity and the lesion's geometry), so equal ETags mean equal bytes; it is
 * computed, and If-None-Match answered with 304, before any slice is decoded.
 * The pictures are NOT immutable: a search result changes when vectors are added or
 * re-embedded, a track when the graph is rebuilt, so replies carry Cache-Control:
 * no-cache (store, but revalidate every time; a revalidation costs a search or a graph
 * read plus a stat per tile, never a decode).
 * Runs on MHD worker threads, no state of its own. Load: a sheet of k=10 at 128 px is a
 * dozen slice-cache lookups and ~0.5 MB of canvas; k=100 at 256 px is ~8 Mpx at most.
 */
#include "app.h"
#include "catalog.h"
#include "graph.h"
#include "handlers.h"
#include "image.h"
#include "log.h"
#include "render.h"
#include "search.h"
#include "sheet.h"
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHEETS_VERSION 1	/* bump when the drawing changes: it is part of the ETag */
#define SHEETS_TILE_MIN 32
#define SHEETS_TILE_MAX 256
#define SHEETS_K_DEFAULT 10
#define SHEETS_K_MAX 100
#define SHEETS_COLS_MAX 32
#define SHEETS_MIN_W 360	/* narrow sheets are widened so header and legend read */
#define SHEETS_BORDER 3
#define SHEETS_GAP 10
#define SHEETS_TEXT_LEN 160
#define SHEETS_RGB_QUERY 0xffffff	/* outer frame marking the query tile */

/* One grid cell. l NULL: an empty cell (no lesion at that study). */
struct cell {
	int row, col;
	const struct lesion *l;
	struct render_params p;
	uint32_t border;
	int highlight;			/* a second, white frame (the query) */
	char label[2][SHEETS_TEXT_LEN];	/* lines under the tile */
	char centre[32];		/* text inside an empty cell */
	char badge[16];			/* text on a tab in the tile's top-left corner */
	char etag[RENDER_ETAG_LEN];	/* the patch's ETag; "" when its slice is unusable */
	char why[LSD_ERRLEN];		/* why the slice is unusable */
};

struct text {
	int x, y, max_w;
	int scale;
	uint32_t rgb;
	char s[SHEETS_TEXT_LEN];
};

/* A connector from the frame of (row, c0) to the frame of (row, c1), at tile mid-height. */
struct link {
	int row, c0, c1;
	uint32_t rgb;
};

struct plan {
	struct sheet_layout L;
	int w, h;			/* canvas (>= L.w) */
	int legend_y;			/* 0: no legend */
	struct cell *cells;
	int ncells, capcells;
	struct text *texts;
	int ntexts, captexts;
	struct link *links;
	int nlinks, caplinks;
};

static void plan_free(struct plan *pl)
{
	free(pl->cells);
	free(pl->texts);
	free(pl->links);
}

static int plan_alloc(struct plan *pl, int cells, int texts, int links)
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

static struct cell *add_cell(struct plan *pl, int row, int col)
{
	struct cell *c;

	if (pl->ncells >= pl->capcells)
		return NULL;
	c = &pl->cells[pl->ncells++];
	c->row = row;
	c->col = col;
	return c;
}

static void add_text(struct plan *pl, int x, int y, int max_w, int scale, uint32_t rgb,
		     const char *s)
{
	struct text *t;

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

/* ---- parameters ---- */

struct sheet_req {
	struct render_params p;		/* size = tile side; window unset unless explicit */
	int explicit_window;
	int scale;			/* font scale for the tile size */
	int cols;			/* 0: automatic */
};

/* size (tile side, 32..256, default 128), overlay, fov_mm, window (resolved against wl
 * when given; wl NULL: only syntax-checked here), cols. 0 or -1 with the problem in rp. */
static int sheet_params(const struct request *r, const struct lesion *wl, struct sheet_req *q,
			struct reply *rp)
{
	const char *win = req_query(r, "window"), *cols = req_query(r, "cols");
	char err[LSD_ERRLEN];
	int64_t v;
	int rc;

	memset(q, 0, sizeof(*q));
	render_params_init(&q->p, r->app->cfg.png_level);
	if (req_query(r, "slice_offset")) {
		reply_problem(rp, 422, "slice_offset applies to patch.png only");
		return -1;
	}
	rc = render_params_parse(req_query(r, "size"), req_query(r, "fov_mm"),
				 req_query(r, "overlay"), NULL, req_query(r, "format"), &q->p, err);
	if (rc) {
		reply_problem(rp, h_images_status(rc), "%s", err);
		return -1;
	}
	if (q->p.format != RENDER_FMT_GRAY8) {
		reply_problem(rp, 422, "format: a composed picture is 8-bit RGB (format=png)");
		return -1;
	}
	if (q->p.size < SHEETS_TILE_MIN || q->p.size > SHEETS_TILE_MAX) {
		reply_problem(rp, 422, "size: the tile side must be %d..%d", SHEETS_TILE_MIN,
			      SHEETS_TILE_MAX);
		return -1;
	}
	if (cols) {
		if (parse_i64(cols, 1, SHEETS_COLS_MAX, &v)) {
			reply_problem(rp, 422, "cols: must be an integer in 1..%d", SHEETS_COLS_MAX);
			return -1;
		}
		q->cols = (int)v;
	}
	/* "dicom" (or nothing) means each lesion's own window, resolved against wl here, or
	 * per row by the caller when wl is NULL */
	q->explicit_window = win && *win && strcmp(win, "dicom");
	if (q->explicit_window || wl) {
		rc = render_window_parse(q->explicit_window ? win : NULL, wl, &q->p.lo, &q->p.hi,
					 err);
		if (rc) {
			reply_problem(rp, h_images_status(rc), "%s", err);
			return -1;
		}
	}
	q->scale = q->p.size >= 200 ? 2 : 1;
	return 0;
}

/* Which lesion patch goes into the cell: its ETag now (no decoding). */
static void cell_source(struct app *app, struct cell *c)
{
	if (h_images_patch_etag(app, c->l, &c->p, c->etag, c->why))
		c->etag[0] = '\0';
}

/* ---- ETag of a plan ---- */

static uint64_t h_int(uint64_t h, int64_t v)
{
	return fnv1a64(&v, sizeof(v), h);
}

static uint64_t h_str(uint64_t h, const char *s)
{
	return fnv1a64(s, strlen(s) + 1, h);
}

static void plan_etag(const struct plan *pl, const char *kind, int png_level, char *out,
		      size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const struct sheet_layout *L = &pl->L;

	h = h_int(h, SHEETS_VERSION);
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
		const struct cell *c = &pl->cells[i];

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
		const struct text *t = &pl->texts[i];

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
	snprintf(out, n, "\"s%d-%016llx\"", SHEETS_VERSION, (unsigned long long)h);
}

/* ---- drawing ---- */

static void draw_empty(struct sheet *s, const struct plan *pl, const struct cell *c, int x,
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

static void draw_cell(struct app *app, struct sheet *s, const struct plan *pl,
		      const struct cell *c, uint64_t rid)
{
	const struct sheet_layout *L = &pl->L;
	char err[LSD_ERRLEN];
	void *px = NULL;
	int x, y, chan = 0;

	sheet_cell_tile(L, c->row, c->col, &x, &y);
	if (!c->l) {
		draw_empty(s, pl, c, x, y, c->centre);
	} else if (!c->etag[0] || h_images_patch_pixels(app, c->l, &c->p, &px, &chan, err) ||
		   (chan != 1 && chan != 3)) {
		if (c->etag[0])	/* the file was there a moment ago: say why once */
			log_msg(LOG_WARN, "req %llu: lesion %lld: %s", (unsigned long long)rid,
				(long long)c->l->id, err);
		draw_empty(s, pl, c, x, y, "NO IMAGE");
	} else {
		sheet_blit(s, x, y, px, L->tile, L->tile, chan);
	}
	free(px);
	if (c->l || c->border != SHEET_RGB_EMPTY)
		sheet_frame(s, x, y, L->tile, L->tile, L->border, c->border);
	if (c->highlight)
		sheet_frame(s, x - L->border, y - L->border, L->tile + 2 * L->border,
			    L->tile + 2 * L->border, 2, SHEETS_RGB_QUERY);
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

/* Draw the plan and encode it. 0, or -1 with err. */
static int plan_draw(struct app *app, const struct plan *pl, uint64_t rid, unsigned char **png,
		     size_t *len, char *err)
{
	const struct sheet_layout *L = &pl->L;
	struct sheet *s = NULL;
	int rc;

	if (sheet_create(pl->w, pl->h, SHEET_RGB_BG, &s, err))
		return -1;
	for (int i = 0; i < pl->nlinks; i++) {
		const struct link *k = &pl->links[i];
		int x0, y0, x1, y1;

		sheet_cell_tile(L, k->row, k->c0, &x0, &y0);
		sheet_cell_tile(L, k->row, k->c1, &x1, &y1);
		sheet_line(s, x0 + L->tile + L->border, y0 + L->tile / 2, x1 - L->border - 1,
			   y0 + L->tile / 2, 3, k->rgb);
	}
	for (int i = 0; i < pl->ncells; i++)
		draw_cell(app, s, pl, &pl->cells[i], rid);
	for (int i = 0; i < pl->ntexts; i++) {
		const struct text *t = &pl->texts[i];

		sheet_text(s, t->x, t->y, t->s, t->scale, t->max_w, t->rgb);
	}
	if (pl->legend_y)
		sheet_legend(s, L->gap, pl->legend_y, pl->w - 2 * L->gap, L->scale);
	rc = image_encode_png(s->rgb, s->w, s->h, IMAGE_RGB8, app->cfg.png_level, png, len, err);
	sheet_destroy(s);
	return rc ? -1 : 0;
}

/* Canvas size and legend position once the layout's rows and columns are known. */
static int plan_layout(struct plan *pl, int legend, struct reply *rp)
{
	char err[LSD_ERRLEN];
	int lh = 0;

	pl->L.bottom = 0;
	if (sheet_layout(&pl->L, err))
		goto fail;
	pl->w = LSD_MAX(pl->L.w, SHEETS_MIN_W);
	if (legend) {
		lh = sheet_legend_height(pl->w - 2 * pl->L.gap, pl->L.scale);
		pl->L.bottom = lh;
		if (sheet_layout(&pl->L, err))
			goto fail;
		pl->legend_y = pl->L.h - pl->L.gap - lh;
	}
	pl->h = pl->L.h;
	return 0;
fail:
	reply_problem(rp, 422, "%s", err);
	return -1;
}

/* Answer 304 or render and send the plan; always no-cache (see the file comment). */
static void plan_reply(const struct request *r, struct reply *rp, const struct plan *pl,
		       const char *kind)
{
	char etag[RENDER_ETAG_LEN + 8], err[LSD_ERRLEN];
	unsigned char *png = NULL;
	size_t len = 0;

	plan_etag(pl, kind, r->app->cfg.png_level, etag, sizeof(etag));
	rp->cache_control = "no-cache";
	if (r->if_none_match && (strstr(r->if_none_match, etag) ||
				 !strcmp(r->if_none_match, "*"))) {
		rp->status = 304;
		rp->content_type = "image/png";
		snprintf(rp->etag, sizeof(rp->etag), "%s", etag);
		return;
	}
	if (plan_draw(r->app, pl, r->id, &png, &len, err)) {
		reply_problem(rp, 500, "%s", err);
		return;
	}
	reply_bytes(rp, 200, "image/png", png, len);	/* png's ownership moves here */
	rp->cache_control = "no-cache";
	snprintf(rp->etag, sizeof(rp->etag), "%s", etag);
}

static int need_images(const struct request *r, struct reply *rp)
{
	if (r->app->cache)
		return 0;
	reply_problem(rp, 503, "no image root configured (set images in the config or "
		      "--images DIR)");
	return -1;
}

static void fmt_mm(char *out, size_t n, double mm)
{
	if (mm > 0 && isfinite(mm))
		snprintf(out, n, "%.1f MM", mm);
	else
		snprintf(out, n, "? MM");
}

/* A type's display name: "soft tissue", "unlabelled". */
static void type_text(int type, char *out, size_t n)
{
	const char *s = lesion_type_name(type);
	size_t i;

	if (!s)
		s = "unlabelled";
	for (i = 0; s[i] && i + 1 < n; i++)
		out[i] = s[i] == '_' ? ' ' : s[i];
	out[i] = '\0';
}

/* ---- GET /v1/lesions/{id}/similar.png ---- */

/* The query string's search filters, echoed in the header ("type=lung ..."). */
static void filters_text(const struct request *r, char *out, size_t n)
{
	static const char *const render_keys[] = { "window", "size", "overlay", "fov_mm", "cols",
						   "format", "k", "space", NULL };
	size_t off = 0;

	out[0] = '\0';
	for (int i = 0; i < r->nquery; i++) {
		int j, w;

		for (j = 0; render_keys[j] && strcmp(render_keys[j], r->qkey[i]); j++)
			;
		if (render_keys[j])
			continue;
		w = snprintf(out + off, n - off, "%s%s=%s", off ? " " : "", r->qkey[i],
			     r->qval[i] ? r->qval[i] : "");
		if (w < 0 || (size_t)w >= n - off)
			break;
		off += (size_t)w;
	}
}

void h_similar_png(const struct request *r, struct reply *rp)
{
	struct lesion *ls = NULL;	/* [0] the query, then the hits */
	struct search_hit *hits = NULL;
	struct sheet_req q;
	struct plan pl;
	char err[LSD_ERRLEN], space[64], line[SHEETS_TEXT_LEN], filt[SHEETS_TEXT_LEN], mm[32];
	int nh = 0, nt = 0, rc;
	int64_t id;

	memset(&pl, 0, sizeof(pl));
	if (r->nargs < 1 || parse_i64(r->args[0], 1, INT64_MAX, &id)) {
		reply_problem(rp, 404, "lesion id must be a positive integer");
		return;
	}
	if (need_images(r, rp))
		return;
	ls = malloc((SHEETS_K_MAX + 1) * sizeof(*ls));
	if (!ls) {
		reply_problem(rp, 500, "out of memory");
		return;
	}
	rc = store_lesion_get(r->app->st, id, &ls[0], err);
	if (rc == STORE_NOTFOUND) {
		reply_problem(rp, 404, "no lesion %lld", (long long)id);
		goto out;
	}
	if (rc) {
		reply_problem(rp, 500, "%s", err);
		goto out;
	}
	/* one window for every tile: the query's, unless window= says otherwise */
	if (sheet_params(r, &ls[0], &q, rp))
		goto out;
	if (h_similar_search(r, id, SHEETS_K_DEFAULT, SHEETS_K_MAX, &hits, &nh, space,
			     sizeof(space), rp))
		goto out;
	nt = 1;
	for (int i = 0; i < nh && nt <= SHEETS_K_MAX; i++) {
		if (store_lesion_get(r->app->st, hits[i].id, &ls[nt], err) == 0) {
			hits[nt - 1] = hits[i];	/* keep hits[] aligned with ls[1..] */
			nt++;
		}
	}
	if (plan_alloc(&pl, nt, 4, 0)) {
		reply_problem(rp, 500, "out of memory");
		goto out;
	}
	pl.L.cols = q.cols ? LSD_MIN(q.cols, nt) : sheet_auto_cols(nt);
	pl.L.rows = (nt + pl.L.cols - 1) / pl.L.cols;
	pl.L.tile = q.p.size;
	pl.L.border = SHEETS_BORDER;
	pl.L.gap = SHEETS_GAP;
	pl.L.lines = 2;
	pl.L.scale = q.scale;
	pl.L.top = 2 * SHEET_LINE * q.scale;
	if (plan_layout(&pl, 1, rp))
		goto out;
	for (int i = 0; i < nt; i++) {
		struct cell *c = add_cell(&pl, i / pl.L.cols, i % pl.L.cols);
		const struct lesion *l = &ls[i];
		char tn[32];

		if (!c)
			break;	/* not reached: the plan has a cell per tile */
		c->l = l;
		c->p = q.p;
		c->border = sheet_type_rgb(l->type);
		type_text(l->type, tn, sizeof(tn));
		fmt_mm(mm, sizeof(mm), l->diam_mm[0]);
		if (i == 0) {
			c->highlight = 1;
			snprintf(c->label[0], sizeof(c->label[0]), "QUERY #%lld", (long long)l->id);
		} else {
			double d = hits[i - 1].dist;

			snprintf(c->label[0], sizeof(c->label[0]), fabs(d) < 100 ? "%d. #%lld D=%.3f" :
				 "%d. #%lld D=%.4g", i, (long long)l->id, d);
		}
		snprintf(c->label[1], sizeof(c->label[1]), "%s %s", tn, mm);
		if (i && l->patient == ls[0].patient)
			snprintf(c->badge, sizeof(c->badge), "SAME PT");
		cell_source(r->app, c);
	}
	snprintf(line, sizeof(line), "LESION #%lld: %d MOST SIMILAR IN SPACE %s", (long long)id,
		 nt - 1, space);
	add_text(&pl, pl.L.gap, pl.L.gap, pl.w - 2 * pl.L.gap, q.scale, SHEET_RGB_TEXT, line);
	filters_text(r, filt, sizeof(filt));
	snprintf(line, sizeof(line), "WINDOW %.0f,%.0f HU%s%.100s", q.p.lo, q.p.hi,
		 filt[0] ? "  " : "", filt);
	add_text(&pl, pl.L.gap, pl.L.gap + SHEET_LINE * q.scale, pl.w - 2 * pl.L.gap, q.scale,
		 SHEET_RGB_DIM, line);
	plan_reply(r, rp, &pl, "similar");
out:
	plan_free(&pl);
	free(hits);
	free(ls);
}

/* ---- GET /v1/patients/{pid}/graph.png ---- */

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

void h_patient_graph_png(const struct request *r, struct reply *rp)
{
	struct lesion *l = NULL;
	struct graph_edge *e = NULL;
	const struct lesion **tl = NULL;
	struct graph_point *pts = NULL;
	int *track = NULL, *studies = NULL, ntracks = 0, ns = 0;
	size_t n = 0, ne = 0;
	struct sheet_req q;
	struct plan pl;
	char line[SHEETS_TEXT_LEN], err[LSD_ERRLEN], mm[32];
	int64_t pid;

	memset(&pl, 0, sizeof(pl));
	if (r->nargs < 1 || parse_i64(r->args[0], 1, INT64_MAX, &pid)) {
		reply_problem(rp, 404, "patient id must be a positive integer, got '%.40s'",
			      r->nargs ? r->args[0] : "");
		return;
	}
	if (need_images(r, rp))
		return;
	if (h_graph_load(r, pid, &l, &n, &e, &ne, &track, &ntracks, rp))
		goto out;
	/* a row's window is its earliest lesion's DICOM window unless window= is given */
	if (sheet_params(r, NULL, &q, rp))
		goto out;
	studies = malloc(n * sizeof(*studies));
	tl = malloc(n * sizeof(*tl));
	pts = malloc((n + 1) * sizeof(*pts));
	if (!studies || !tl || !pts) {
		reply_problem(rp, 500, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		studies[i] = l[i].study;
	qsort(studies, n, sizeof(*studies), cmp_int);
	for (size_t i = 0; i < n; i++)
		if (ns == 0 || studies[ns - 1] != studies[i])
			studies[ns++] = studies[i];
	/* every (track, study) cell, 4 texts a row plus title and column heads, links */
	if (plan_alloc(&pl, ntracks * ns, 2 + ns + 4 * ntracks, ntracks * ns)) {
		reply_problem(rp, 500, "out of memory");
		goto out;
	}
	pl.L.rows = ntracks;
	pl.L.cols = ns;
	pl.L.tile = q.p.size;
	pl.L.border = SHEETS_BORDER;
	pl.L.gap = SHEETS_GAP;
	pl.L.lines = 2;
	pl.L.scale = q.scale;
	pl.L.left = 12 * SHEET_ADVANCE * q.scale;
	pl.L.top = 2 * SHEET_LINE * q.scale + 2 * q.scale;
	if (plan_layout(&pl, 1, rp))
		goto out;
	snprintf(line, sizeof(line), "PATIENT %lld: %d TRACK%s OVER %d STUD%s", (long long)pid,
		 ntracks, ntracks == 1 ? "" : "S", ns, ns == 1 ? "Y" : "IES");
	add_text(&pl, pl.L.gap, pl.L.gap, pl.w - 2 * pl.L.gap, q.scale, SHEET_RGB_TEXT, line);
	for (int s = 0; s < ns; s++) {
		int x, y;

		sheet_cell_tile(&pl.L, 0, s, &x, &y);
		snprintf(line, sizeof(line), "STUDY %d", studies[s]);
		add_text(&pl, x - pl.L.border, pl.L.gap + SHEET_LINE * q.scale + 2 * q.scale,
			 pl.L.cell_w, q.scale, SHEET_RGB_DIM, line);
	}
	for (int t = 0; t < ntracks; t++) {
		size_t nt = 0;
		int np, prev = -1, x, y, lx;
		struct render_params p = q.p;
		char tn[32];

		for (size_t i = 0; i < n; i++)
			if (track[i] == t)
				tl[nt++] = &l[i];
		if (nt == 0)
			continue;
		for (size_t i = 1; i < nt; i++)	/* by study: left to right in time */
			for (size_t j = i; j > 0 && tl[j - 1]->study > tl[j]->study; j--) {
				const struct lesion *sw = tl[j];

				tl[j] = tl[j - 1];
				tl[j - 1] = sw;
			}
		np = graph_recist(tl, nt, studies[ns - 1], pts, err);
		if (np < 0)	/* e.g. a lesion without diameters: no RECIST labels */
			np = 0;
		if (!q.explicit_window) {
			int rc = render_window_parse(NULL, tl[0], &p.lo, &p.hi, err);

			if (rc) {
				reply_problem(rp, h_images_status(rc), "lesion %lld: %s",
					      (long long)tl[0]->id, err);
				goto out;
			}
		}
		type_text(tl[0]->type, tn, sizeof(tn));
		sheet_cell_tile(&pl.L, t, 0, &x, &y);
		lx = pl.L.gap;
		y -= pl.L.border;
		snprintf(line, sizeof(line), "TRACK %d", t + 1);
		add_text(&pl, lx, y, pl.L.left, q.scale, SHEET_RGB_TEXT, line);
		add_text(&pl, lx, y + SHEET_LINE * q.scale, pl.L.left, q.scale,
			 sheet_type_rgb(tl[0]->type), tn);
		snprintf(line, sizeof(line), "%zu LESION%s", nt, nt == 1 ? "" : "S");
		add_text(&pl, lx, y + 2 * SHEET_LINE * q.scale, pl.L.left, q.scale, SHEET_RGB_DIM,
			 line);
		if (np > 0) {
			snprintf(line, sizeof(line), "RECIST %s", graph_recist_name(pts[np - 1].cat));
			add_text(&pl, lx, y + 3 * SHEET_LINE * q.scale, pl.L.left, q.scale,
				 SHEET_RGB_TEXT, line);
		}
		for (int s = 0; s < ns; s++) {
			struct cell *c = add_cell(&pl, t, s);
			const struct graph_point *pt = NULL;
			const struct lesion *here = NULL;

			if (!c)
				break;	/* not reached: the plan has a cell per (track, study) */
			for (size_t i = 0; i < nt; i++)
				if (tl[i]->study == studies[s])
					here = tl[i];
			for (int k = 0; k < np; k++)
				if (pts[k].study == studies[s])
					pt = &pts[k];
			c->p = p;
			if (!here) {
				c->border = SHEET_RGB_EMPTY;
				if (pt && pt->cat == GRAPH_CR) {
					snprintf(c->centre, sizeof(c->centre), "NOT SEEN");
					snprintf(c->label[0], sizeof(c->label[0]), "CR -100%%");
				}
				continue;
			}
			c->l = here;
			c->border = sheet_type_rgb(here->type);
			fmt_mm(mm, sizeof(mm), here->diam_mm[1]);
			if (here->diam_mm[0] > 0)
				snprintf(c->label[0], sizeof(c->label[0]), "%.1f X %s",
					 here->diam_mm[0], mm);
			else
				snprintf(c->label[0], sizeof(c->label[0]), "%s", "? MM");
			if (pt && pt->cat == GRAPH_BL)
				snprintf(c->label[1], sizeof(c->label[1]), "#%lld BASELINE",
					 (long long)here->id);
			else if (pt)
				snprintf(c->label[1], sizeof(c->label[1]), "#%lld %s %+.0f%%",
					 (long long)here->id, graph_recist_name(pt->cat),
					 pt->d_base_pct);
			else
				snprintf(c->label[1], sizeof(c->label[1]), "#%lld",
					 (long long)here->id);
			cell_source(r->app, c);
			if (prev >= 0 && pl.nlinks < pl.caplinks) {
				struct link *k = &pl.links[pl.nlinks++];

				k->row = t;
				k->c0 = prev;
				k->c1 = s;
				k->rgb = sheet_type_rgb(here->type);
			}
			prev = s;
		}
	}
	plan_reply(r, rp, &pl, "graph");
out:
	plan_free(&pl);
	free(l);
	free(e);
	free(track);
	free(studies);
	free(tl);
	free(pts);
}
