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

#define SHEET_PLAN_VERSION 1	/* bump when the drawing changes: it is part of the ETag */
#define SHEETS_TILE_MIN 32
#define SHEETS_TILE_MAX 256
#define SHEETS_K_DEFAULT 10
#define SHEETS_K_MAX 100
#define SHEETS_COLS_MAX 32
#define SHEET_MIN_W 360	/* narrow sheets are widened so header and legend read */
#define SHEETS_BORDER 3
#define SHEETS_GAP 10
#define SHEET_TEXT_LEN 160
#define SHEET_RGB_QUERY 0xffffff	/* outer frame marking the query tile */

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
		reply_problem(rp, http_status_of(rc), "%s", err);
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
			reply_problem(rp, http_status_of(rc), "%s", err);
			return -1;
		}
	}
	q->scale = q->p.size >= 200 ? 2 : 1;
	return 0;
}

/* Which lesion patch goes into the cell: its ETag now (no decoding). */
static void cell_source(struct app *app, struct sheet_cell *c)
{
	if (h_images_patch_etag(app, c->l, &c->p, c->etag, c->why))
		c->etag[0] = '\0';
}

/* A cell's patch for sheet_plan_draw, through the slice cache; a failure is logged once
 * (the file was there when the ETag was computed a moment ago). */
struct patch_cls {
	struct app *app;
	uint64_t rid;
};

static int plan_patch(void *cls, const struct lesion *l, const struct render_params *p,
		      void **px, int *chan)
{
	struct patch_cls *pc = cls;
	char err[LSD_ERRLEN];

	if (h_images_patch_pixels(pc->app, l, p, px, chan, err)) {
		log_msg(LOG_WARN, "req %llu: lesion %lld: %s", (unsigned long long)pc->rid,
			(long long)l->id, err);
		return -1;
	}
	return 0;
}

/* Canvas size and legend position once the layout's rows and columns are known (422). */
static int plan_layout(struct sheet_plan *pl, struct reply *rp)
{
	char err[LSD_ERRLEN];

	if (sheet_plan_layout(pl, 1, err) == 0)
		return 0;
	reply_problem(rp, 422, "%s", err);
	return -1;
}

/* Answer 304 or render and send the plan; always no-cache (see the file comment). */
static void plan_reply(const struct request *r, struct reply *rp, const struct sheet_plan *pl,
		       const char *kind)
{
	char etag[RENDER_ETAG_LEN + 8], err[LSD_ERRLEN];
	struct patch_cls pc = { r->app, r->id };
	unsigned char *png = NULL;
	size_t len = 0;

	sheet_plan_etag(pl, kind, r->app->cfg.png_level, etag, sizeof(etag));
	rp->cache_control = "no-cache";
	if (req_etag_matches(r, etag)) {
		rp->status = 304;
		rp->content_type = "image/png";
		snprintf(rp->etag, sizeof(rp->etag), "%s", etag);
		return;
	}
	if (sheet_plan_draw(pl, plan_patch, &pc, r->app->cfg.png_level, &png, &len, err)) {
		reply_problem(rp, 500, "%s", err);
		return;
	}
	reply_bytes(rp, 200, "image/png", png, len);	/* png's ownership moves here */
	rp->cache_control = "no-cache";
	snprintf(rp->etag, sizeof(rp->etag), "%s", etag);
}

static int need_images(const struct request *r, struct reply *rp)
{
	return h_images_need(r->app, rp);
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
	struct sheet_plan pl;
	char err[LSD_ERRLEN], space[64], line[SHEET_TEXT_LEN], filt[SHEET_TEXT_LEN], mm[32];
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
	if (rc == LSD_ENOTFOUND) {
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
	if (sheet_plan_alloc(&pl, nt, 4, 0)) {
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
	if (plan_layout(&pl, rp))
		goto out;
	for (int i = 0; i < nt; i++) {
		struct sheet_cell *c = sheet_plan_cell(&pl, i / pl.L.cols, i % pl.L.cols);
		const struct lesion *l = &ls[i];
		char tn[32];

		if (!c)
			break;	/* not reached: the plan has a cell per tile */
		c->l = l;
		c->p = q.p;
		c->border = sheet_type_rgb(l->type);
		sheet_type_text(l->type, tn, sizeof(tn));
		sheet_mm_text(mm, sizeof(mm), l->diam_mm[0]);
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
	sheet_plan_text(&pl, pl.L.gap, pl.L.gap, pl.w - 2 * pl.L.gap, q.scale, SHEET_RGB_TEXT, line);
	filters_text(r, filt, sizeof(filt));
	snprintf(line, sizeof(line), "WINDOW %.0f,%.0f HU%s%.100s", q.p.lo, q.p.hi,
		 filt[0] ? "  " : "", filt);
	sheet_plan_text(&pl, pl.L.gap, pl.L.gap + SHEET_LINE * q.scale, pl.w - 2 * pl.L.gap, q.scale,
		 SHEET_RGB_DIM, line);
	plan_reply(r, rp, &pl, "similar");
out:
	sheet_plan_free(&pl);
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
	struct sheet_plan pl;
	char line[SHEET_TEXT_LEN], err[LSD_ERRLEN], mm[32];
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
	if (sheet_plan_alloc(&pl, ntracks * ns, 2 + ns + 4 * ntracks, ntracks * ns)) {
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
	if (plan_layout(&pl, rp))
		goto out;
	snprintf(line, sizeof(line), "PATIENT %lld: %d TRACK%s OVER %d STUD%s", (long long)pid,
		 ntracks, ntracks == 1 ? "" : "S", ns, ns == 1 ? "Y" : "IES");
	sheet_plan_text(&pl, pl.L.gap, pl.L.gap, pl.w - 2 * pl.L.gap, q.scale, SHEET_RGB_TEXT, line);
	for (int s = 0; s < ns; s++) {
		int x, y;

		sheet_cell_tile(&pl.L, 0, s, &x, &y);
		snprintf(line, sizeof(line), "STUDY %d", studies[s]);
		sheet_plan_text(&pl, x - pl.L.border, pl.L.gap + SHEET_LINE * q.scale + 2 * q.scale,
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
				reply_problem(rp, http_status_of(rc), "lesion %lld: %s",
					      (long long)tl[0]->id, err);
				goto out;
			}
		}
		sheet_type_text(tl[0]->type, tn, sizeof(tn));
		sheet_cell_tile(&pl.L, t, 0, &x, &y);
		lx = pl.L.gap;
		y -= pl.L.border;
		snprintf(line, sizeof(line), "TRACK %d", t + 1);
		sheet_plan_text(&pl, lx, y, pl.L.left, q.scale, SHEET_RGB_TEXT, line);
		sheet_plan_text(&pl, lx, y + SHEET_LINE * q.scale, pl.L.left, q.scale,
			 sheet_type_rgb(tl[0]->type), tn);
		snprintf(line, sizeof(line), "%zu LESION%s", nt, nt == 1 ? "" : "S");
		sheet_plan_text(&pl, lx, y + 2 * SHEET_LINE * q.scale, pl.L.left, q.scale, SHEET_RGB_DIM,
			 line);
		if (np > 0) {
			snprintf(line, sizeof(line), "RECIST %s", graph_recist_name(pts[np - 1].cat));
			sheet_plan_text(&pl, lx, y + 3 * SHEET_LINE * q.scale, pl.L.left, q.scale,
				 SHEET_RGB_TEXT, line);
		}
		for (int s = 0; s < ns; s++) {
			struct sheet_cell *c = sheet_plan_cell(&pl, t, s);
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
			sheet_mm_text(mm, sizeof(mm), here->diam_mm[1]);
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
				struct sheet_link *k = &pl.links[pl.nlinks++];

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
	sheet_plan_free(&pl);
	free(l);
	free(e);
	free(track);
	free(studies);
	free(tl);
	free(pts);
}
