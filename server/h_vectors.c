/* h_vectors.c - the vector routes of embedding spaces.
 *
 * PUT /v1/lesions/{id}/embedding?space=NAME (a JSON array, or little-endian float32
 * application/octet-stream), GET of the same (the stored vector), and
 * POST /v1/spaces/{name}/vectors (NDJSON lines {"lesion_id":N,"vector":[...]}, all or
 * nothing). Writes go through spacedb_put: SQLite first (one transaction, the system of
 * record), then the in-memory space, so a request answered 2xx is durable and a crash
 * mid-request leaves none of it. A new space takes its dimension from the first vector,
 * its metric from ?metric=l2|ip, its index type from ?index_type= or the config, and its
 * provenance from ?provenance=. Start-up, snapshots and the delete/stats hooks live in
 * h_spaces.c. Expected load: import bursts of up to body_max_bulk bytes; single reads.
 */
#include "app.h"
#include "handlers.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "space.h"
#include "store.h"
#include "learn.h"
#include "spacedb.h"
#include "util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---------- helpers ---------- */

static int not_ready(const struct request *r, struct reply *rp)
{
	if (r->app->ready && r->app->sp)
		return 0;
	reply_problem(rp, 503, "loading the database and indexes");
	rp->retry_after = 1;
	return 1;
}

/* The definition for a write of dim-dimensional vectors to space name: the existing
 * space's (422 on a dimension mismatch), or a new one from the query and config. */
static int resolve_def(const struct request *r, struct reply *rp, const char *name, int dim,
		       struct space_def *def)
{
	struct space *sp = spaces_get(r->app->sp, name);
	const char *metric = req_query(r, "metric"), *itype = req_query(r, "index_type");
	char err[LSD_ERRLEN];

	if (sp) {
		struct space_info in;

		space_get_info(sp, &in);
		*def = in.def;
		if (in.def.dim != dim) {
			reply_problem(rp, 422, "space %s has dimension %d, the vector has %d", name,
				      in.def.dim, dim);
			return -1;
		}
		return 0;
	}
	memset(def, 0, sizeof(*def));
	if (strlen(name) >= sizeof(def->name)) {
		reply_problem(rp, 422, "space name too long");
		return -1;
	}
	snprintf(def->name, sizeof(def->name), "%s", name);
	def->dim = dim;
	def->metric = SPACE_L2;
	if (metric && space_metric_parse(metric, &def->metric)) {
		reply_problem(rp, 422, "metric must be l2 or ip");
		return -1;
	}
	snprintf(def->index_type, sizeof(def->index_type), "%s",
		 itype ? itype : r->app->cfg.index_type[0] ? r->app->cfg.index_type : "Flat");
	snprintf(def->provenance, sizeof(def->provenance), "%.200s",
		 req_query(r, "provenance") ? req_query(r, "provenance") : "");
	if (space_def_check(def, err)) {
		reply_problem(rp, 422, "%s", err);
		return -1;
	}
	return 0;
}

/* JSON array of numbers -> floats (malloc'd), *dim = its length */
static int json_vector(const struct jv *a, float **out, int *dim, char *err)
{
	int n = json_len(a), i;
	float *v;

	*out = NULL;
	if (!json_is_arr(a) || n < 1 || n > SPACE_DIM_MAX)
		return errf(err, "the vector must be an array of 1..%d numbers", SPACE_DIM_MAX);
	v = malloc(sizeof(float) * (size_t)n);
	if (!v)
		return errf(err, "out of memory");
	for (i = 0; i < n; i++) {
		const struct jv *x = json_at(a, i);
		double d;

		if (!json_is_num(x)) {
			free(v);
			return errf(err, "vector component %d is not a number", i);
		}
		d = json_num(x);
		if (!isfinite(d) || fabs(d) > 3.4e38) {
			free(v);
			return errf(err, "vector component %d is out of float32 range", i);
		}
		v[i] = (float)d;
	}
	*out = v;
	*dim = n;
	return 0;
}

/* spacedb_put, its status mapped to HTTP. 0 = stored (reply left to the caller). */
static int put_vectors(const struct request *r, struct reply *rp, const struct space_def *def,
		       const int64_t *ids, const float *vecs, size_t n, int single)
{
	char err[LSD_ERRLEN];
	int rc = spacedb_put(r->app->st, r->app->sp, def, ids, vecs, n, err);

	switch (rc) {
	case 0:
		/* spaces trained from this one (lesiond train) get the new vectors projected */
		if (learn_project_new(r->app->st, r->app->sp, def->name, ids, n, NULL, err))
			log_msg(LOG_WARN, "projection into trained spaces failed: %s", err);
		return 0;
	case LSD_ENOTFOUND:	/* err lists them */
		if (single)
			reply_problem(rp, 404, "no lesion %" PRId64, ids[0]);
		else
			reply_problem(rp, 422, "%s; nothing was stored", err);
		break;
	case LSD_EINVAL:	/* dimension, values */
		reply_problem(rp, 422, "%s", err);
		break;
	default:
		reply_problem(rp, 500, "%s", err);
	}
	return -1;
}

/* ---------- routes ---------- */

void h_embedding_put(const struct request *r, struct reply *rp)
{
	const char *name = req_query(r, "space");
	struct space_def def;
	struct jv *doc = NULL;
	float *vec = NULL;
	int64_t id;
	int dim = 0;
	char err[LSD_ERRLEN];
	struct sb b;

	if (not_ready(r, rp))
		return;
	if (r->nargs < 1 || parse_i64(r->args[0], 1, INT64_MAX, &id)) {
		reply_problem(rp, 404, "lesion id must be a positive integer");
		return;
	}
	if (!name || !*name) {
		reply_problem(rp, 400, "the space query parameter is required");
		return;
	}
	if (r->content_type && !strcmp(r->content_type, "application/octet-stream")) {
		if (!r->body_len || r->body_len % 4 || r->body_len / 4 > SPACE_DIM_MAX) {
			reply_problem(rp, 422, "octet-stream body of %zu bytes is not 1..%d float32 "
				      "values", r->body_len, SPACE_DIM_MAX);
			return;
		}
		dim = (int)(r->body_len / 4);
		vec = malloc(r->body_len);
		if (!vec) {
			reply_problem(rp, 500, "out of memory");
			return;
		}
		memcpy(vec, r->body, r->body_len);	/* little-endian host */
	} else if (r->content_type && !strcmp(r->content_type, "application/json")) {
		if (json_parse(r->body ? r->body : "", r->body_len, &doc, err)) {
			reply_problem(rp, 400, "%s", err);
			return;
		}
		if (json_vector(doc, &vec, &dim, err)) {
			int status = json_is_arr(doc) ? 422 : 400;	/* before doc is freed */

			json_free(doc);
			reply_problem(rp, status, "%s", err);
			return;
		}
		json_free(doc);
	} else {
		reply_problem(rp, 415, "send application/json (an array) or application/octet-stream "
			      "(little-endian float32)");
		return;
	}
	if (!resolve_def(r, rp, name, dim, &def) &&
	    !put_vectors(r, rp, &def, &id, vec, 1, 1)) {
		sb_init(&b, 1024);
		sb_addf(&b, "{\"lesion_id\":%" PRId64 ",\"space\":", id);
		jw_str(&b, def.name);
		sb_addf(&b, ",\"dim\":%d}", def.dim);
		reply_json(rp, 200, &b);
	}
	free(vec);
}

void h_embedding_get(const struct request *r, struct reply *rp)
{
	const char *name = req_query(r, "space");
	struct space *sp;
	float *v;
	int64_t id;
	int i, d;
	struct sb b;

	if (not_ready(r, rp))
		return;
	if (r->nargs < 1 || parse_i64(r->args[0], 1, INT64_MAX, &id)) {
		reply_problem(rp, 404, "lesion id must be a positive integer");
		return;
	}
	if (!name || !(sp = spaces_get(r->app->sp, name))) {
		reply_problem(rp, 404, "no space '%.64s'", name ? name : "");
		return;
	}
	d = space_dim(sp);
	v = malloc(sizeof(float) * (size_t)d);
	if (!v || space_get_vector(sp, id, v)) {
		free(v);
		reply_problem(rp, 404, "lesion %" PRId64 " has no vector in space %s", id, name);
		return;
	}
	sb_init(&b, (size_t)d * 24 + 256);
	sb_addf(&b, "{\"lesion_id\":%" PRId64 ",\"space\":", id);
	jw_str(&b, name);
	sb_adds(&b, ",\"vector\":[");
	for (i = 0; i < d; i++) {
		if (i)
			sb_addc(&b, ',');
		sb_addf(&b, "%.9g", (double)v[i]);
	}
	sb_adds(&b, "]}");
	free(v);
	reply_json(rp, 200, &b);
}

void h_space_vectors_post(const struct request *r, struct reply *rp)
{
	const char *name = r->nargs ? r->args[0] : "", *p, *e;
	struct space_def def;
	int64_t *ids = NULL;
	float *vecs = NULL;
	size_t n = 0, cap = 0, line = 0;
	int dim = -1;
	char err[LSD_ERRLEN];
	struct sb b;

	if (not_ready(r, rp))
		return;
	if (!r->content_type || (strcmp(r->content_type, "application/x-ndjson") &&
				 strcmp(r->content_type, "application/json"))) {
		reply_problem(rp, 415, "send application/x-ndjson: one {\"lesion_id\":N,\"vector\":[...]} "
			      "per line");
		return;
	}
	p = r->body ? r->body : "";
	e = p + r->body_len;
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p)), *le = nl ? nl : e;
		struct jv *doc = NULL;
		float *v = NULL;
		int d = 0;
		int64_t id;
		const struct jv *jid, *jvec;

		line++;
		if (le == p || (le - p == 1 && *p == '\r')) {
			p = nl ? nl + 1 : e;
			continue;
		}
		if (json_parse(p, (size_t)(le - p), &doc, err) || !json_is_obj(doc)) {
			const char *why = doc ? "not an object" : err;	/* before doc is freed */

			json_free(doc);
			reply_problem(rp, 400, "line %zu: %s", line, why);
			goto out;
		}
		jid = json_get(doc, "lesion_id");
		jvec = json_get(doc, "vector");
		if (!json_is_num(jid) || json_num(jid) < 1 || json_num(jid) > 9.0e15 ||
		    json_num(jid) != floor(json_num(jid))) {
			json_free(doc);
			reply_problem(rp, 422, "line %zu: lesion_id must be a positive integer", line);
			goto out;
		}
		id = (int64_t)json_num(jid);
		if (json_vector(jvec, &v, &d, err)) {
			json_free(doc);
			reply_problem(rp, 422, "line %zu: %s", line, err);
			goto out;
		}
		json_free(doc);
		if (dim < 0)
			dim = d;
		if (d != dim) {
			free(v);
			reply_problem(rp, 422, "line %zu: vector of dimension %d, line 1 has %d", line, d,
				      dim);
			goto out;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 256;
			int64_t *ni = realloc(ids, nc * sizeof(*ids));
			float *nv = ni ? realloc(vecs, nc * (size_t)dim * sizeof(float)) : NULL;

			if (ni)
				ids = ni;
			if (!ni || !nv) {
				free(v);
				reply_problem(rp, 500, "out of memory");
				goto out;
			}
			vecs = nv;
			cap = nc;
		}
		ids[n] = id;
		memcpy(vecs + n * (size_t)dim, v, sizeof(float) * (size_t)dim);
		free(v);
		n++;
		p = nl ? nl + 1 : e;
	}
	if (!n) {
		reply_problem(rp, 400, "no vectors in the body");
		goto out;
	}
	/* ids > 0, no duplicate in the request and finite values: checked by spacedb_put */
	if (resolve_def(r, rp, name, dim, &def) || put_vectors(r, rp, &def, ids, vecs, n, 0))
		goto out;
	sb_init(&b, 1024);
	sb_adds(&b, "{\"space\":");
	jw_str(&b, def.name);
	sb_addf(&b, ",\"dim\":%d,\"stored\":%zu}", def.dim, n);
	reply_json(rp, 200, &b);
out:
	free(ids);
	free(vecs);
}
