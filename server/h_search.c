/* h_search.c - similar-lesion search routes (API.md): GET /v1/lesions/{id}/similar,
 * POST /v1/search, POST /v1/search/batch (NDJSON in, NDJSON streamed out).
 *
 * Parsing and reply formatting live here (the batch route is h_search_batch.c, on the
 * same parsing); the search itself is index/search.c, a query by image region
 * index/embed.c. h_similar_search runs the GET /similar query for the contact sheet
 * (h_sheets.c), with the same parsing.
 */
#include "apijson.h"
#include "app.h"
#include "catalog.h"
#include "coalesce.h"
#include "embed.h"
#include "learn_cnn.h"
#include "slicecache.h"
#include "handlers.h"
#include "h_search.h"
#include "json.h"
#include "search.h"
#include "space.h"
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void h_search_pq_free(struct pq *p)
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
		p->status = LSD_ENOTFOUND;
		snprintf(p->err, sizeof(p->err), "no embedding space '%.64s' (see /v1/stats)", name);
	}
	return sp;
}

/* Fill the query vector from a stored lesion vector. */
static int from_lesion(struct app *app, struct pq *p, int64_t id)
{
	struct catalog_entry e;

	if (catalog_get(app->cat, id, &e)) {
		p->status = LSD_ENOTFOUND;
		snprintf(p->err, sizeof(p->err), "no lesion %lld", (long long)id);
		return -1;
	}
	p->vec = malloc((size_t)space_dim(p->sp) * sizeof(float));
	if (!p->vec) {
		p->status = LSD_ENOMEM;
		snprintf(p->err, sizeof(p->err), "out of memory");
		return -1;
	}
	if (space_get_vector(p->sp, id, p->vec)) {
		p->status = LSD_ENOTFOUND;
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
		p->status = LSD_EINVAL;
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
 * computed now by the library (embed_image); this checks the request's fields. */
static int from_image(struct app *app, const struct jv *img, struct pq *p)
{
	static const char *const known[] = { "slice", "bbox", "spacing_mm", "slice_interval_mm",
					     "location", NULL };
	const struct jv *x;
	struct embed_opts eo;
	struct embed_image_query q;
	double loc[3];
	const char *unknown;
	int pat, st, se, sl, i, cnn;
	char err[LSD_ERRLEN];

	p->status = LSD_EINVAL;
	memset(&q, 0, sizeof(q));
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
	q.slice = json_str(json_get(img, "slice"));
	if (!q.slice || slicecache_path_check(q.slice, strlen(q.slice), err) ||
	    !embed_slice_name_parse(q.slice, &pat, &st, &se, &sl)) {
		snprintf(p->err, sizeof(p->err), "image.slice: must be '<patient>_<study>_<series>/"
			 "<slice>.png' under the image root");
		return -1;
	}
	if (num_array(json_get(img, "bbox"), q.bbox, 4) || q.bbox[2] <= q.bbox[0] ||
	    q.bbox[3] <= q.bbox[1] || q.bbox[0] < 0 || q.bbox[1] < 0 || q.bbox[2] > 4096 ||
	    q.bbox[3] > 4096) {
		snprintf(p->err, sizeof(p->err), "image.bbox: must be [x1,y1,x2,y2] in pixels, x1<x2, y1<y2");
		return -1;
	}
	x = json_get(img, "spacing_mm");
	q.spacing_mm = json_num(x);
	if (!json_is_num(x) || !(q.spacing_mm > 0.05 && q.spacing_mm < 20)) {
		snprintf(p->err, sizeof(p->err), "image.spacing_mm: in-plane pixel size in mm, 0.05..20");
		return -1;
	}
	x = json_get(img, "slice_interval_mm");
	if (x && (!json_is_num(x) || !(json_num(x) > 0 && json_num(x) <= 20))) {
		snprintf(p->err, sizeof(p->err), "image.slice_interval_mm: 0..20");
		return -1;
	}
	if (x)
		q.slice_interval_mm = json_num(x);
	x = json_get(img, "location");
	if (x) {
		if (num_array(x, loc, 3)) {
			snprintf(p->err, sizeof(p->err), "image.location: [x,y,z] normalised, or absent");
			return -1;
		}
		q.location = loc;
	}
	if (!app->cfg.images[0]) {
		p->status = LSD_EUNAVAIL;
		snprintf(p->err, sizeof(p->err), "no image root configured (images)");
		return -1;
	}
	memset(&eo, 0, sizeof(eo));
	eo.space = DEFAULT_SPACE;
	eo.images = app->cfg.images;
	eo.weights[0] = (float)app->cfg.desc_w_appearance;
	eo.weights[1] = (float)app->cfg.desc_w_location;
	eo.weights[2] = (float)app->cfg.desc_w_size;
	p->vec = malloc((size_t)space_dim(p->sp) * sizeof(float));
	if (!p->vec) {
		p->status = LSD_ENOMEM;
		snprintf(p->err, sizeof(p->err), "out of memory");
		return -1;
	}
	if (cnn) {
		struct lesion l;
		float b[DESC_DIM];
		int hb = embed_image(app->st, &eo, &q, b, err) == 0;	/* for fused models */

		i = embed_image_lesion(&q, &l, err) ? -1 :
		    learn_cnn_region(app->st, space_name(p->sp), app->cfg.images, &l,
				     q.location != NULL, hb ? b : NULL, p->vec, space_dim(p->sp),
				     err);
	} else {
		i = embed_image(app->st, &eo, &q, p->vec, err);
	}
	if (i) {
		p->status = i == LSD_ENOTFOUND ? LSD_ENOTFOUND : LSD_EINVAL;
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
	p->status = LSD_EINVAL;
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
		p->status = LSD_EMALFORMED;
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
			p->status = LSD_ENOMEM;
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

int h_search_parse_json(struct app *app, const struct jv *o, struct pq *p)
{
	int rc = parse_json_query_(app, o, p);

	if (rc == 0)
		p->status = 0;
	return rc;
}

void h_search_write_results(struct app *app, struct sb *b, const struct search_hit *h, int n)
{
	struct catalog_entry e;
	int i;

	sb_adds(b, "\"results\":[");
	for (i = 0; i < n; i++) {
		if (i)
			sb_addc(b, ',');
		sb_adds(b, "{\"rank\":");
		jw_int(b, i + 1);
		sb_adds(b, ",\"lesion_id\":");
		jw_int(b, h[i].id);
		sb_adds(b, ",\"distance\":");
		jw_num(b, h[i].dist);
		sb_adds(b, ",\"lesion\":");
		if (catalog_get(app->cat, h[i].id, &e) == 0) {
			apijson_lesion_summary(b, h[i].id, &e);
		} else {
			sb_adds(b, "null");
		}
		sb_adds(b, ",\"patch_url\":\"/v1/lesions/");
		jw_int(b, h[i].id);
		sb_adds(b, "/patch.png\"}");
	}
	sb_addc(b, ']');
}

/* Run one parsed query and write the whole reply object. */
static int run_one(struct app *app, struct pq *p, struct sb *b, char *err)
{
	struct search_hit *h = malloc((size_t)p->q.k * sizeof(*h));
	double t0 = now_ms();
	struct coalescer *coal;
	int n = 0, mode = SEARCH_EXACT;

	if (!h)
		return errf(err, "out of memory");
	p->q.vec = p->vec;
	/* unfiltered queries join concurrent ones in one batched search */
	coal = app->coal && !p->q.filter && p->q.same_patient == SEARCH_SP_INCLUDE ? app->coal : NULL;
	if (coal ? coalescer_search(coal, p->sp, app->cat, &p->q, h, &n, &mode, err) :
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
	h_search_write_results(app, b, h, n);
	sb_adds(b, ",\"took_ms\":");
	jw_num(b, round((now_ms() - t0) * 1000) / 1000);
	sb_addc(b, '}');
	free(h);
	if (coal)	/* reply written: no longer company for the next batch */
		coalescer_release(coal);
	return 0;
}

/* The query of GET /v1/lesions/{id}/similar[.png] from r's query string: k (def, 1..max),
 * space, the filters, same_patient. 0, or -1 with p->status (lsd_status) and p->err. */
static int parse_similar(const struct request *r, int64_t id, int def, int max, struct pq *p)
{
	struct app *app = r->app;
	char err[LSD_ERRLEN];
	const char *v;

	memset(p, 0, sizeof(*p));
	if (parse_k(req_query(r, "k"), def, max, &p->q.k, p))
		return -1;
	if (apijson_filter_query(r, &p->filter, err)) {
		p->status = LSD_EINVAL;
		snprintf(p->err, sizeof(p->err), "%s", err);
		return -1;
	}
	p->q.filter = filter_empty(&p->filter) ? NULL : &p->filter;
	v = req_query(r, "same_patient");
	if (v && (p->q.same_patient = search_same_patient_parse(v)) < 0) {
		p->status = LSD_EINVAL;
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
		h_search_pq_free(&p);
		reply_problem(rp, 500, "%s", err);
		return;
	}
	h_search_pq_free(&p);
	reply_json(rp, 200, &b);
	return;
fail:
	h_search_pq_free(&p);
	reply_problem(rp, http_status_of(p.status ? p.status : LSD_EINVAL), "%s", p.err);
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
		reply_problem(rp, http_status_of(p.status ? p.status : LSD_EINVAL), "%s", p.err);
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
	h_search_pq_free(&p);
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
	if (h_search_parse_json(r->app, doc, &p)) {
		json_free(doc);
		h_search_pq_free(&p);
		reply_problem(rp, http_status_of(p.status), "%s", p.err);
		return;
	}
	json_free(doc);
	sb_init(&b, 64u << 20);
	if (run_one(r->app, &p, &b, err)) {
		sb_free(&b);
		h_search_pq_free(&p);
		reply_problem(rp, 500, "%s", err);
		return;
	}
	h_search_pq_free(&p);
	reply_json(rp, 200, &b);
}
