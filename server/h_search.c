/* h_search.c - similar-lesion search routes (API.md): GET /v1/lesions/{id}/similar,
 * POST /v1/search, POST /v1/search/batch (NDJSON in, NDJSON streamed out).
 *
 * Parsing and reply formatting live here; the search itself is index/search.c. Batch
 * requests are answered in blocks of BATCH_BLOCK queries computed as the client reads
 * the chunked reply, so memory stays bounded by the body cap plus one block. A bad line
 * gets an error line in its place; the others are answered. h_similar_search runs the
 * GET /similar query for the contact sheet (h_sheets.c), with the same parsing.
 */
#include "apijson.h"
#include "app.h"
#include "catalog.h"
#include "coalesce.h"
#include "embed.h"
#include "learn_cnn.h"
#include "slicecache.h"
#include "handlers.h"
#include "json.h"
#include "search.h"
#include "space.h"
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_BLOCK 256
#define DEFAULT_SPACE "builtin"

/* A parsed query with the storage behind its pointers. */
struct pq {
	struct search_query q;
	struct store_filter filter;
	struct space *sp;
	float *vec;
	int64_t lesion_id;	/* 0 when the query is a raw vector */
	int image;		/* the query was an image region */
	int status;		/* 0 ok, else the HTTP status of err */
	char err[LSD_ERRLEN];
};

static void pq_free(struct pq *p)
{
	free(p->vec);
	p->vec = NULL;
}

static int filter_empty(const struct store_filter *f)
{
	return !f->patient && !f->study && !f->type_mask && !f->split_mask &&
	       f->min_diam_mm <= 0 && f->max_diam_mm <= 0 && !f->gender && isnan(f->min_age) &&
	       isnan(f->max_age) && !f->exclude_noisy;
}

static struct space *find_space(struct app *app, const char *name, struct pq *p)
{
	struct space *sp = app->sp ? spaces_get(app->sp, name) : NULL;

	if (!sp) {
		p->status = 404;
		snprintf(p->err, sizeof(p->err), "no embedding space '%.64s' (see /v1/stats)", name);
	}
	return sp;
}

/* Fill the query vector from a stored lesion vector. */
static int from_lesion(struct app *app, struct pq *p, int64_t id)
{
	struct catalog_entry e;

	if (catalog_get(app->cat, id, &e)) {
		p->status = 404;
		snprintf(p->err, sizeof(p->err), "no lesion %lld", (long long)id);
		return -1;
	}
	p->vec = malloc((size_t)space_dim(p->sp) * sizeof(float));
	if (!p->vec) {
		p->status = 500;
		snprintf(p->err, sizeof(p->err), "out of memory");
		return -1;
	}
	if (space_get_vector(p->sp, id, p->vec)) {
		p->status = 404;
		snprintf(p->err, sizeof(p->err), "lesion %lld has no vector in space '%s'",
			 (long long)id, space_name(p->sp));
		return -1;
	}
	p->lesion_id = id;
	p->q.self_id = id;
	p->q.patient = e.patient;
	return 0;
}

static int parse_k(const char *v, int def, int max, int *k, struct pq *p)
{
	int64_t x;

	if (!v) {
		*k = def;
		return 0;
	}
	if (parse_i64(v, 1, max, &x)) {
		p->status = 422;
		snprintf(p->err, sizeof(p->err), "k: must be an integer in 1..%d", max);
		return -1;
	}
	*k = (int)x;
	return 0;
}

static int num_array(const struct jv *a, double *out, int n)
{
	int i;

	if (!json_is_arr(a) || json_len(a) != n)
		return -1;
	for (i = 0; i < n; i++) {
		if (!json_is_num(json_at(a, i)) || !isfinite(json_num(json_at(a, i))))
			return -1;
		out[i] = json_num(json_at(a, i));
	}
	return 0;
}

/* {"image":{"slice":"000001_01_01/103.png","bbox":[x1,y1,x2,y2],"spacing_mm":0.8,
 *  "slice_interval_mm":5,"location":[x,y,z]}}: the built-in descriptor of that region,
 * computed now. The RECIST axes are taken as the box's own axes (inset by DeepLesion's
 * 5 px padding); without "location" the location block carries no evidence. */
static int from_image(struct app *app, const struct jv *img, struct pq *p)
{
	static const char *const known[] = { "slice", "bbox", "spacing_mm", "slice_interval_mm",
					     "location", NULL };
	const struct jv *x;
	struct embed_opts eo;
	struct lesion l;
	double b[4], sp, zi = 5;
	const char *slice, *unknown;
	int pat, st, se, sl, used = 0, i, known_loc = 0, cnn;
	char err[LSD_ERRLEN];

	p->status = 422;
	if (!json_is_obj(img)) {
		snprintf(p->err, sizeof(p->err), "image: must be an object with slice, bbox, spacing_mm");
		return -1;
	}
	unknown = json_unknown_key(img, known);
	if (unknown) {
		snprintf(p->err, sizeof(p->err), "image: unknown field '%.40s'", unknown);
		return -1;
	}
	/* the built-in descriptor, or a network trained by `lesiond train --from images` */
	cnn = strcmp(space_name(p->sp), DEFAULT_SPACE) &&
	      learn_cnn_is(app->st, space_name(p->sp), err) == 1;
	if (!cnn && (strcmp(space_name(p->sp), DEFAULT_SPACE) || space_dim(p->sp) != DESC_DIM)) {
		snprintf(p->err, sizeof(p->err), "image queries use the built-in descriptor ('%s') "
			 "or a space trained from images", DEFAULT_SPACE);
		return -1;
	}
	slice = json_str(json_get(img, "slice"));
	memset(&l, 0, sizeof(l));
	if (!slice || slicecache_path_check(slice, strlen(slice), err) ||
	    sscanf(slice, "%6d_%2d_%2d/%4d.png%n", &pat, &st, &se, &sl, &used) != 4 ||
	    (size_t)used != strlen(slice)) {
		snprintf(p->err, sizeof(p->err), "image.slice: must be '<patient>_<study>_<series>/"
			 "<slice>.png' under the image root");
		return -1;
	}
	if (num_array(json_get(img, "bbox"), b, 4) || b[2] <= b[0] || b[3] <= b[1] ||
	    b[0] < 0 || b[1] < 0 || b[2] > 4096 || b[3] > 4096) {
		snprintf(p->err, sizeof(p->err), "image.bbox: must be [x1,y1,x2,y2] in pixels, x1<x2, y1<y2");
		return -1;
	}
	x = json_get(img, "spacing_mm");
	sp = json_num(x);
	if (!json_is_num(x) || !(sp > 0.05 && sp < 20)) {
		snprintf(p->err, sizeof(p->err), "image.spacing_mm: in-plane pixel size in mm, 0.05..20");
		return -1;
	}
	x = json_get(img, "slice_interval_mm");
	if (x && (!json_is_num(x) || !(json_num(x) > 0 && json_num(x) <= 20))) {
		snprintf(p->err, sizeof(p->err), "image.slice_interval_mm: 0..20");
		return -1;
	}
	if (x)
		zi = json_num(x);
	x = json_get(img, "location");
	if (x) {
		if (num_array(x, l.loc, 3)) {
			snprintf(p->err, sizeof(p->err), "image.location: [x,y,z] normalised, or absent");
			return -1;
		}
		known_loc = 1;
	}
	if (!app->cfg.images[0]) {
		p->status = 503;
		snprintf(p->err, sizeof(p->err), "no image root configured (images)");
		return -1;
	}
	l.patient = pat;
	l.study = st;
	l.series = se;
	l.key_slice = sl;
	l.slice_range[0] = sl > 100 ? sl - 100 : 0;
	l.slice_range[1] = sl + 100;
	memcpy(l.bbox, b, sizeof(b));
	if (b[2] - b[0] >= b[3] - b[1]) {	/* long axis along x through the centre */
		double cy = (b[1] + b[3]) / 2, cx = (b[0] + b[2]) / 2;
		double rl = LSD_MAX((b[2] - b[0]) / 2 - 5, 1), rs = LSD_MAX((b[3] - b[1]) / 2 - 5, 1);
		double r[8] = { cx - rl, cy, cx + rl, cy, cx, cy - rs, cx, cy + rs };

		memcpy(l.recist, r, sizeof(r));
		l.diam_px[0] = 2 * rl;
		l.diam_px[1] = 2 * rs;
	} else {
		double cy = (b[1] + b[3]) / 2, cx = (b[0] + b[2]) / 2;
		double rl = LSD_MAX((b[3] - b[1]) / 2 - 5, 1), rs = LSD_MAX((b[2] - b[0]) / 2 - 5, 1);
		double r[8] = { cx, cy - rl, cx, cy + rl, cx - rs, cy, cx + rs, cy };

		memcpy(l.recist, r, sizeof(r));
		l.diam_px[0] = 2 * rl;
		l.diam_px[1] = 2 * rs;
	}
	l.spacing[0] = l.spacing[1] = sp;
	l.spacing[2] = zi;
	l.image_size[0] = l.image_size[1] = 512;
	l.window[0] = -160;
	l.window[1] = 240;
	l.gender = 'U';
	l.age = NAN;
	l.split = 1;
	l.type = -1;
	lesion_derive(&l);
	snprintf(l.image_path, sizeof(l.image_path), "%s", slice);
	memset(&eo, 0, sizeof(eo));
	eo.space = DEFAULT_SPACE;
	eo.images = app->cfg.images;
	eo.weights[0] = (float)app->cfg.desc_w_appearance;
	eo.weights[1] = (float)app->cfg.desc_w_location;
	eo.weights[2] = (float)app->cfg.desc_w_size;
	p->vec = malloc((size_t)space_dim(p->sp) * sizeof(float));
	if (!p->vec) {
		p->status = 500;
		snprintf(p->err, sizeof(p->err), "out of memory");
		return -1;
	}
	i = cnn ? learn_cnn_region(app->st, space_name(p->sp), app->cfg.images, &l, known_loc, p->vec,
				   space_dim(p->sp), err)
		: embed_region(app->st, &eo, &l, known_loc, p->vec, err);
	if (i) {
		p->status = i == DESC_ENOIMG ? 404 : 422;
		snprintf(p->err, sizeof(p->err), "image: %.480s", err);
		return -1;
	}
	p->image = 1;
	return 0;
}

/* A query from a JSON object (POST /v1/search and each batch line). */
static int parse_json_query_(struct app *app, const struct jv *o, struct pq *p)
{
	static const char *const known[] = { "lesion_id", "vector", "image", "k", "space",
					     "filter", NULL };
	const struct jv *m, *x, *f, *sp_sp;
	const char *space = DEFAULT_SPACE, *unknown;
	char e2[LSD_ERRLEN];
	int i, forms = 0;

	memset(p, 0, sizeof(*p));
	p->status = 422;
	if (!json_is_obj(o)) {
		snprintf(p->err, sizeof(p->err), "a query must be a JSON object");
		return -1;
	}
	unknown = json_unknown_key(o, known);
	if (unknown) {
		snprintf(p->err, sizeof(p->err), "unknown field '%.40s'", unknown);
		return -1;
	}
	x = json_get(o, "space");
	if (x) {
		if (!json_is_str(x)) {
			snprintf(p->err, sizeof(p->err), "space: must be a string");
			return -1;
		}
		space = json_str(x);
	}
	x = json_get(o, "k");
	p->q.k = 10;
	if (x) {
		double k = json_num(x);

		if (!json_is_num(x) || k != floor(k) || k < 1 || k > app->cfg.k_max) {
			snprintf(p->err, sizeof(p->err), "k: must be an integer in 1..%d",
				 app->cfg.k_max);
			return -1;
		}
		p->q.k = (int)k;
	}
	f = json_get(o, "filter");
	if (apijson_filter_json(f, &p->filter, e2)) {
		snprintf(p->err, sizeof(p->err), "%s", e2);
		return -1;
	}
	p->q.filter = filter_empty(&p->filter) ? NULL : &p->filter;
	sp_sp = json_get(f, "same_patient");
	if (sp_sp) {
		p->q.same_patient = json_is_str(sp_sp) ? search_same_patient_parse(json_str(sp_sp)) : -1;
		if (p->q.same_patient < 0) {
			snprintf(p->err, sizeof(p->err),
				 "filter.same_patient: must be include, exclude or only");
			return -1;
		}
	}
	forms = !!json_get(o, "lesion_id") + !!json_get(o, "vector") + !!json_get(o, "image");
	if (forms != 1) {
		p->status = 400;
		snprintf(p->err, sizeof(p->err), "give exactly one of lesion_id, vector, image");
		return -1;
	}
	p->sp = find_space(app, space, p);
	if (!p->sp)
		return -1;
	x = json_get(o, "lesion_id");
	if (x) {
		double id = json_num(x);

		if (!json_is_num(x) || id != floor(id) || id < 1 || id > 9e15) {
			snprintf(p->err, sizeof(p->err), "lesion_id: must be a positive integer");
			return -1;
		}
		return from_lesion(app, p, (int64_t)id);
	}
	x = json_get(o, "vector");
	if (x) {
		int n = json_len(x), dim = space_dim(p->sp);

		if (!json_is_arr(x) || n != dim) {
			snprintf(p->err, sizeof(p->err), "vector: must be an array of %d numbers "
				 "(the dimension of space '%s'), got %d", dim, space_name(p->sp),
				 json_is_arr(x) ? n : 0);
			return -1;
		}
		p->vec = malloc((size_t)dim * sizeof(float));
		if (!p->vec) {
			p->status = 500;
			snprintf(p->err, sizeof(p->err), "out of memory");
			return -1;
		}
		i = 0;
		for (m = json_first(x); m; m = json_next(m), i++) {
			double v = json_num(m);

			if (!json_is_num(m) || !isfinite(v) || fabs(v) > 3.4e38) {
				snprintf(p->err, sizeof(p->err), "vector[%d]: must be a finite number", i);
				return -1;
			}
			p->vec[i] = (float)v;
		}
		if (p->q.same_patient == SEARCH_SP_ONLY) {
			snprintf(p->err, sizeof(p->err), "same_patient=only needs a lesion_id query");
			return -1;
		}
		return 0;
	}
	return from_image(app, json_get(o, "image"), p);
}

static int parse_json_query(struct app *app, const struct jv *o, struct pq *p)
{
	int rc = parse_json_query_(app, o, p);

	if (rc == 0)
		p->status = 0;
	return rc;
}

static void write_results(struct app *app, struct sb *b, const struct search_hit *h, int n)
{
	struct catalog_entry e;
	int i;

	sb_adds(b, "\"results\":[");
	for (i = 0; i < n; i++) {
		if (i)
			sb_addc(b, ',');
		sb_addf(b, "{\"rank\":%d,\"lesion_id\":%lld,\"distance\":", i + 1, (long long)h[i].id);
		jw_num(b, h[i].dist);
		sb_adds(b, ",\"lesion\":");
		if (catalog_get(app->cat, h[i].id, &e) == 0) {
			double d[3];

			sb_addf(b, "{\"id\":%lld,\"patient\":%d,\"study\":%d,\"series\":%d,"
				"\"key_slice\":%d,\"type\":", (long long)h[i].id, e.patient, e.study,
				e.series, e.key_slice);
			if (e.type > 0)
				jw_int(b, e.type);
			else
				sb_adds(b, "null");
			sb_adds(b, ",\"type_name\":");
			jw_str(b, lesion_type_name(e.type));
			sb_addf(b, ",\"split\":%d,\"split_name\":", e.split);
			jw_str(b, lesion_split_name(e.split));
			d[0] = e.diam_mm[0];
			d[1] = e.diam_mm[1];
			sb_adds(b, ",\"diameters_mm\":[");
			jw_num(b, round(d[0] * 1e4) / 1e4);
			sb_addc(b, ',');
			jw_num(b, round(d[1] * 1e4) / 1e4);
			sb_adds(b, "],\"normalized_location\":[");
			for (int k = 0; k < 3; k++) {
				if (k)
					sb_addc(b, ',');
				jw_num(b, round((double)e.loc[k] * 1e6) / 1e6);
			}
			sb_adds(b, "]}");
		} else {
			sb_adds(b, "null");
		}
		sb_addf(b, ",\"patch_url\":\"/v1/lesions/%lld/patch.png\"}", (long long)h[i].id);
	}
	sb_addc(b, ']');
}

/* Run one parsed query and write the whole reply object. */
static int run_one(struct app *app, struct pq *p, struct sb *b, char *err)
{
	struct search_hit *h = malloc((size_t)p->q.k * sizeof(*h));
	double t0 = now_ms();
	int n = 0, mode = SEARCH_EXACT;

	if (!h)
		return errf(err, "out of memory");
	p->q.vec = p->vec;
	/* unfiltered queries join concurrent ones in one batched search */
	if (app->coal && !p->q.filter && p->q.same_patient == SEARCH_SP_INCLUDE ?
	    coalescer_search(app->coal, p->sp, app->cat, &p->q, h, &n, &mode, err) :
	    search_run(p->sp, app->cat, &p->q, 1, &h, &n, &mode, err)) {
		free(h);
		return -1;
	}
	sb_adds(b, "{\"space\":");
	jw_str(b, space_name(p->sp));
	if (p->lesion_id)
		sb_addf(b, ",\"query\":{\"lesion_id\":%lld}", (long long)p->lesion_id);
	else if (p->image)
		sb_addf(b, ",\"query\":{\"image\":true,\"space\":\"%s\"}", space_name(p->sp));
	else
		sb_adds(b, ",\"query\":{\"vector\":true}");
	sb_addf(b, ",\"k\":%d,\"mode\":\"%s\",\"count\":%d,", p->q.k, search_mode_name(mode), n);
	write_results(app, b, h, n);
	sb_adds(b, ",\"took_ms\":");
	jw_num(b, round((now_ms() - t0) * 1000) / 1000);
	sb_addc(b, '}');
	free(h);
	return 0;
}

/* The query of GET /v1/lesions/{id}/similar[.png] from r's query string: k (def, 1..max),
 * space, the filters, same_patient. 0, or -1 with p->status and p->err. */
static int parse_similar(const struct request *r, int64_t id, int def, int max, struct pq *p)
{
	struct app *app = r->app;
	char err[LSD_ERRLEN];
	const char *v;

	memset(p, 0, sizeof(*p));
	if (parse_k(req_query(r, "k"), def, max, &p->q.k, p))
		return -1;
	if (apijson_filter_query(r, &p->filter, err)) {
		p->status = 422;
		snprintf(p->err, sizeof(p->err), "%s", err);
		return -1;
	}
	p->q.filter = filter_empty(&p->filter) ? NULL : &p->filter;
	v = req_query(r, "same_patient");
	if (v && (p->q.same_patient = search_same_patient_parse(v)) < 0) {
		p->status = 422;
		snprintf(p->err, sizeof(p->err), "same_patient: must be include, exclude or only");
		return -1;
	}
	v = req_query(r, "space");
	p->sp = find_space(app, v ? v : DEFAULT_SPACE, p);
	if (!p->sp || from_lesion(app, p, id))
		return -1;
	return 0;
}

void h_similar(const struct request *r, struct reply *rp)
{
	struct app *app = r->app;
	struct pq p;
	char err[LSD_ERRLEN];
	struct sb b;
	int64_t id;

	memset(&p, 0, sizeof(p));
	if (r->nargs < 1 || parse_i64(r->args[0], 1, INT64_MAX, &id)) {
		reply_problem(rp, 404, "lesion id must be a positive integer");
		return;
	}
	if (parse_similar(r, id, 10, app->cfg.k_max, &p))
		goto fail;
	sb_init(&b, 64u << 20);
	if (run_one(app, &p, &b, err)) {
		sb_free(&b);
		pq_free(&p);
		reply_problem(rp, 500, "%s", err);
		return;
	}
	pq_free(&p);
	reply_json(rp, 200, &b);
	return;
fail:
	pq_free(&p);
	reply_problem(rp, p.status ? p.status : 422, "%s", p.err);
}

int h_similar_search(const struct request *r, int64_t id, int k_default, int k_max,
		     struct search_hit **hits, int *n, char *space, size_t space_len,
		     struct reply *rp)
{
	struct pq p;
	char err[LSD_ERRLEN];
	int mode = SEARCH_EXACT, rc = -1;

	*hits = NULL;
	*n = 0;
	if (parse_similar(r, id, k_default, LSD_MIN(k_max, r->app->cfg.k_max), &p)) {
		reply_problem(rp, p.status ? p.status : 422, "%s", p.err);
		goto out;
	}
	snprintf(space, space_len, "%s", space_name(p.sp));
	*hits = malloc((size_t)p.q.k * sizeof(**hits));
	if (!*hits) {
		reply_problem(rp, 500, "out of memory");
		goto out;
	}
	p.q.vec = p.vec;
	if (search_run(p.sp, r->app->cat, &p.q, 1, hits, n, &mode, err)) {
		reply_problem(rp, 500, "%s", err);
		free(*hits);
		*hits = NULL;
		goto out;
	}
	rc = 0;
out:
	pq_free(&p);
	return rc;
}

static int json_ctype(const struct request *r)
{
	return r->content_type && !strcmp(r->content_type, "application/json");
}

void h_search(const struct request *r, struct reply *rp)
{
	struct jv *doc = NULL;
	struct pq p;
	char err[LSD_ERRLEN];
	struct sb b;

	memset(&p, 0, sizeof(p));
	if (!json_ctype(r)) {
		reply_problem(rp, 415, "send application/json");
		return;
	}
	if (json_parse(r->body, r->body_len, &doc, err)) {
		reply_problem(rp, 400, "%s", err);
		return;
	}
	if (parse_json_query(r->app, doc, &p)) {
		json_free(doc);
		pq_free(&p);
		reply_problem(rp, p.status, "%s", p.err);
		return;
	}
	json_free(doc);
	sb_init(&b, 64u << 20);
	if (run_one(r->app, &p, &b, err)) {
		sb_free(&b);
		pq_free(&p);
		reply_problem(rp, 500, "%s", err);
		return;
	}
	pq_free(&p);
	reply_json(rp, 200, &b);
}

/* ---- batch ---- */

struct batch {
	struct app *app;
	char *body;		/* owned copy of the request body */
	size_t len, off;	/* parse position */
	long line;
	long queries;
	struct sb out;		/* the formatted block not yet sent */
	size_t sent;		/* bytes of out already sent */
	int done;
};

static void batch_free(void *cls)
{
	struct batch *bt = cls;

	if (!bt)
		return;
	free(bt->body);
	sb_free(&bt->out);
	free(bt);
}

static void error_line(struct sb *b, long line, int status, const char *detail)
{
	sb_addf(b, "{\"line\":%ld,\"error\":{\"status\":%d,\"title\":", line, status);
	jw_str(b, http_status_title(status));
	sb_adds(b, ",\"detail\":");
	jw_str(b, detail);
	sb_adds(b, "}}\n");
}

/* Parse up to BATCH_BLOCK lines, search them together, format them into bt->out. */
static int batch_block(struct batch *bt)
{
	struct pq *p = calloc(BATCH_BLOCK, sizeof(*p));
	long *lines = calloc(BATCH_BLOCK, sizeof(*lines));
	struct search_hit **hits = calloc(BATCH_BLOCK, sizeof(*hits));
	struct search_query *qs = calloc(BATCH_BLOCK, sizeof(*qs));
	int *nh = calloc(BATCH_BLOCK, sizeof(*nh)), *modes = calloc(BATCH_BLOCK, sizeof(*modes));
	int n = 0, i, rc = -1;
	char err[LSD_ERRLEN];

	if (!p || !lines || !hits || !qs || !nh || !modes)
		goto out;
	while (n < BATCH_BLOCK && bt->off < bt->len) {
		char *s = bt->body + bt->off, *nl = memchr(s, '\n', bt->len - bt->off);
		size_t ll = nl ? (size_t)(nl - s) : bt->len - bt->off;
		struct jv *doc = NULL;

		bt->off += ll + (nl ? 1 : 0);
		bt->line++;
		while (ll && (s[ll - 1] == '\r' || s[ll - 1] == ' '))
			ll--;
		if (ll == 0)
			continue;
		lines[n] = bt->line;
		if (bt->queries >= bt->app->cfg.batch_max) {
			p[n].status = 413;
			snprintf(p[n].err, sizeof(p[n].err), "more than %ld queries in one batch",
				 bt->app->cfg.batch_max);
		} else if (json_parse(s, ll, &doc, err)) {
			p[n].status = 400;
			snprintf(p[n].err, sizeof(p[n].err), "%s", err);
		} else {
			parse_json_query(bt->app, doc, &p[n]);
			json_free(doc);
		}
		bt->queries++;
		n++;
	}
	/* group the good queries by space; search each group in one call */
	for (i = 0; i < n; i++) {
		int j, m = 0;
		struct space *sp = p[i].sp;
		int idx[BATCH_BLOCK];

		if (p[i].status || !sp || hits[i])
			continue;
		for (j = i; j < n; j++) {
			if (p[j].status || p[j].sp != sp || hits[j])
				continue;
			hits[j] = malloc((size_t)p[j].q.k * sizeof(**hits));
			if (!hits[j])
				goto out;
			p[j].q.vec = p[j].vec;
			qs[m] = p[j].q;
			idx[m++] = j;
		}
		{
			struct search_hit *hh[BATCH_BLOCK];
			int nn[BATCH_BLOCK], mm[BATCH_BLOCK];

			for (j = 0; j < m; j++)
				hh[j] = hits[idx[j]];
			if (search_run(sp, bt->app->cat, qs, (size_t)m, hh, nn, mm, err)) {
				for (j = 0; j < m; j++) {
					p[idx[j]].status = 500;
					snprintf(p[idx[j]].err, sizeof(p[idx[j]].err), "%s", err);
				}
				continue;
			}
			for (j = 0; j < m; j++) {
				nh[idx[j]] = nn[j];
				modes[idx[j]] = mm[j];
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (p[i].status) {
			error_line(&bt->out, lines[i], p[i].status, p[i].err);
			continue;
		}
		sb_addf(&bt->out, "{\"line\":%ld,\"space\":", lines[i]);
		jw_str(&bt->out, space_name(p[i].sp));
		if (p[i].lesion_id)
			sb_addf(&bt->out, ",\"query\":{\"lesion_id\":%lld}", (long long)p[i].lesion_id);
		sb_addf(&bt->out, ",\"k\":%d,\"mode\":\"%s\",\"count\":%d,", p[i].q.k,
			search_mode_name(modes[i]), nh[i]);
		write_results(bt->app, &bt->out, hits[i], nh[i]);
		sb_adds(&bt->out, "}\n");
	}
	rc = bt->out.oom ? -1 : 0;
out:
	for (i = 0; p && i < BATCH_BLOCK; i++) {
		pq_free(&p[i]);
		if (hits)
			free(hits[i]);
	}
	free(p);
	free(lines);
	free(hits);
	free(qs);
	free(nh);
	free(modes);
	return rc;
}

static ssize_t batch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct batch *bt = cls;
	size_t n;

	(void)pos;
	while (bt->sent >= bt->out.len) {
		if (bt->off >= bt->len)
			return REPLY_STREAM_END;
		bt->out.len = 0;
		bt->sent = 0;
		if (batch_block(bt))
			return REPLY_STREAM_ERROR;
	}
	n = LSD_MIN(max, bt->out.len - bt->sent);
	memcpy(buf, bt->out.p + bt->sent, n);
	bt->sent += n;
	return (ssize_t)n;
}

void h_search_batch(const struct request *r, struct reply *rp)
{
	struct batch *bt;

	if (r->content_type && !strcmp(r->content_type, "application/x-npy")) {
		h_search_batch_npy(r, rp);	/* h_search_npz.c */
		return;
	}
	if (req_query(r, "format") && strcmp(req_query(r, "format"), "ndjson")) {
		reply_problem(rp, 406, "an NDJSON batch is answered as NDJSON; for .npz send the "
			      "queries as application/x-npy");
		return;
	}
	if (!r->content_type || (strcmp(r->content_type, "application/x-ndjson") &&
				 strcmp(r->content_type, "application/json"))) {
		reply_problem(rp, 415, "send application/x-ndjson (one query object per line) or "
			      "application/x-npy (n x d float32 vectors)");
		return;
	}
	if (!r->body) {
		reply_problem(rp, 400, "empty body: one query object per line expected");
		return;
	}
	bt = calloc(1, sizeof(*bt));
	if (!bt || !(bt->body = malloc(r->body_len))) {
		free(bt);
		reply_problem(rp, 500, "out of memory");
		return;
	}
	memcpy(bt->body, r->body, r->body_len);
	bt->len = r->body_len;
	bt->app = r->app;
	sb_init(&bt->out, 256u << 20);
	rp->status = 200;
	rp->content_type = "application/x-ndjson";
	rp->stream = batch_read;
	rp->stream_cls = bt;
	rp->stream_free = batch_free;
}
