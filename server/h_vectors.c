/* h_vectors.c - embedding spaces in the daemon: start-up load, the vector routes, the
 * snapshot thread, and the hooks into lesion deletion and /v1/stats.
 *
 * Routes: PUT /v1/lesions/{id}/embedding?space=NAME (JSON array, or little-endian
 * float32 application/octet-stream), GET of the same (the stored vector), and
 * POST /v1/spaces/{name}/vectors (NDJSON lines {"lesion_id":N,"vector":[...]}, all or
 * nothing). A write goes to SQLite first (one transaction; the system of record), then
 * into the space in memory; one mutex spans both steps so memory applies writes in
 * commit order (lesion deletes take it too). A request answered 2xx is committed; the
 * index is derived and is snapshotted by a background thread once snapshot_every
 * vectors were written or writes went quiet for SNAP_QUIET_MS, and at shutdown.
 * Expected load: writes in bursts (imports), reads of single vectors.
 */
#include "app.h"
#include "handlers.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "space.h"
#include "store.h"
#include "store_vec.h"
#include "util.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SPACES_MAX 256
#define SNAP_QUIET_MS 2000
#define UNKNOWN_LIST 50

static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t snap_thread;
static int snap_started;
static volatile int snap_stop;
static pthread_mutex_t snap_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t snap_cv = PTHREAD_COND_INITIALIZER;
static void (*prev_deleted)(struct app *app, const struct lesion *l);
static void (*prev_stats)(struct app *app, struct sb *b);

/* ---------- helpers ---------- */

static int not_ready(const struct request *r, struct reply *rp)
{
	if (r->app->ready && r->app->sp)
		return 0;
	reply_problem(rp, 503, "loading the database and indexes");
	rp->retry_after = 1;
	return 1;
}

/* The space of that name, created from def (SQLite row already written) if absent. */
static struct space *space_for(struct app *app, const struct space_def *def, char *err)
{
	struct space *sp = spaces_get(app->sp, def->name);

	if (sp)
		return sp;
	if (space_create(def, &sp, err))
		return NULL;
	if (spaces_add(app->sp, sp, err)) {
		space_destroy(sp);
		return spaces_get(app->sp, def->name);
	}
	log_msg(LOG_INFO, "space %s created (dim %d, %s, %s)", def->name, def->dim,
		space_metric_name(def->metric), def->index_type);
	return sp;
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

static void reply_unknown(struct reply *rp, const int64_t *unk, size_t n)
{
	struct sb b;
	size_t i;
	char *p;
	size_t len;

	sb_init(&b, 1 << 16);
	sb_addf(&b, "{\"type\":\"about:blank\",\"status\":422,\"title\":\"%s\",\"detail\":"
		"\"%zu lesion id(s) do not exist; nothing was stored\",\"unknown_ids\":[",
		http_status_title(422), n);
	for (i = 0; i < n && i < UNKNOWN_LIST; i++)
		sb_addf(&b, "%s%" PRId64, i ? "," : "", unk[i]);
	sb_addf(&b, "],\"unknown_count\":%zu}", n);
	if (b.oom) {
		sb_free(&b);
		reply_problem(rp, 422, "%zu unknown lesion ids", n);
		return;
	}
	p = sb_steal(&b, &len);
	reply_bytes(rp, 422, "application/problem+json", p, len);
}

/* SQLite then memory, under write_mu. 0 = stored (reply left to the caller). */
static int store_vectors(const struct request *r, struct reply *rp, const struct space_def *def,
			 const int64_t *ids, const float *vecs, size_t n, int single)
{
	struct app *app = r->app;
	struct space *sp;
	int64_t *unk = NULL;
	size_t nunk = 0, i;
	char err[LSD_ERRLEN];
	int rc;

	/* the value checks of space_add, before anything is written */
	for (i = 0; i < n * (size_t)def->dim; i++)
		if (!isfinite(vecs[i])) {
			reply_problem(rp, 422, "vector for lesion %" PRId64 ": component %zu is not "
				      "finite", ids[i / (size_t)def->dim], i % (size_t)def->dim);
			return -1;
		}
	pthread_mutex_lock(&write_mu);
	rc = store_vec_put(app->st, def, ids, vecs, n, &unk, &nunk, UNKNOWN_LIST, err);
	if (rc == STORE_VEC_UNKNOWN) {
		pthread_mutex_unlock(&write_mu);
		if (single)
			reply_problem(rp, 404, "no lesion %" PRId64, ids[0]);
		else
			reply_unknown(rp, unk, nunk);
		free(unk);
		return -1;
	}
	if (rc == STORE_VEC_DIM) {
		pthread_mutex_unlock(&write_mu);
		reply_problem(rp, 422, "%s", err);
		return -1;
	}
	if (rc) {
		pthread_mutex_unlock(&write_mu);
		reply_problem(rp, 500, "%s", err);
		return -1;
	}
	/* committed: from here the answer is 2xx whatever happens to the derived index */
	sp = space_for(app, def, err);
	if (!sp || space_add(sp, ids, vecs, n, err))
		log_msg(LOG_ERROR, "space %s: %s (stored in the database; the index catches up "
			"at the next start)", def->name, err);
	pthread_mutex_unlock(&write_mu);
	pthread_mutex_lock(&snap_mu);
	pthread_cond_signal(&snap_cv);
	pthread_mutex_unlock(&snap_mu);
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
			json_free(doc);
			reply_problem(rp, json_is_arr(doc) ? 422 : 400, "%s", err);
			return;
		}
		json_free(doc);
	} else {
		reply_problem(rp, 415, "send application/json (an array) or application/octet-stream "
			      "(little-endian float32)");
		return;
	}
	if (!resolve_def(r, rp, name, dim, &def) &&
	    !store_vectors(r, rp, &def, &id, vec, 1, 1)) {
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
			json_free(doc);
			reply_problem(rp, 400, "line %zu: %s", line, doc ? "not an object" : err);
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
	/* ids > 0, no duplicate in the request, finite values */
	if (space_check_vectors(dim, ids, vecs, n, err)) {
		reply_problem(rp, 422, "%s", err);
		goto out;
	}
	if (resolve_def(r, rp, name, dim, &def) || store_vectors(r, rp, &def, ids, vecs, n, 0))
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

/* ---------- hooks ---------- */

static void on_deleted(struct app *app, const struct lesion *l)
{
	size_t i, n;
	char err[LSD_ERRLEN];

	if (app->sp) {
		pthread_mutex_lock(&write_mu);
		n = spaces_count(app->sp);
		for (i = 0; i < n; i++)
			space_remove(spaces_at(app->sp, i), &l->id, 1, NULL, err);
		pthread_mutex_unlock(&write_mu);
	}
	if (prev_deleted)
		prev_deleted(app, l);
}

static void on_stats(struct app *app, struct sb *b)
{
	size_t i, n = app->sp ? spaces_count(app->sp) : 0;

	for (i = 0; i < n; i++) {
		struct space_info in;

		space_get_info(spaces_at(app->sp, i), &in);
		sb_adds(b, i ? ",{\"name\":" : "{\"name\":");
		jw_str(b, in.def.name);
		sb_addf(b, ",\"dim\":%d,\"metric\":\"%s\",\"index_type\":", in.def.dim,
			space_metric_name(in.def.metric));
		jw_str(b, in.def.index_type);
		sb_adds(b, ",\"index_active\":");
		jw_str(b, in.index_active);
		sb_adds(b, ",\"provenance\":");
		jw_str(b, in.def.provenance);
		sb_addf(b, ",\"vectors\":%zu,\"index_entries\":%zu,\"stale\":%zu}", in.count,
			in.index_total, in.stale);
	}
	if (prev_stats)
		prev_stats(app, b);
}

/* ---------- snapshots ---------- */

static void snapshot_all(struct app *app, int force)
{
	static uint64_t last_writes[SPACES_MAX];
	static double last_change[SPACES_MAX];
	size_t i, n = spaces_count(app->sp);
	char err[LSD_ERRLEN];

	for (i = 0; i < n && i < SPACES_MAX; i++) {
		struct space *sp = spaces_at(app->sp, i);
		struct space_info in;
		double t = now_ms();

		if (space_needs_rebuild(sp)) {
			if (space_rebuild(sp, err))
				log_msg(LOG_WARN, "space %s: rebuild: %s", space_name(sp), err);
			else
				log_msg(LOG_INFO, "space %s: index rebuilt in %.0f ms (stale entries "
					"purged or training done)", space_name(sp), now_ms() - t);
		}
		space_get_info(sp, &in);
		if (in.writes_since_snapshot != last_writes[i]) {
			last_writes[i] = in.writes_since_snapshot;
			last_change[i] = t;
		}
		if (!in.writes_since_snapshot || !in.ready)
			continue;
		if (!force && in.writes_since_snapshot < (uint64_t)app->cfg.snapshot_every &&
		    t - last_change[i] < SNAP_QUIET_MS)
			continue;
		if (space_snapshot(sp, app->cfg.db, err))
			log_msg(LOG_WARN, "space %s: snapshot: %s", space_name(sp), err);
		else
			log_msg(LOG_INFO, "space %s: snapshot written (%zu vectors, %.0f ms)",
				space_name(sp), in.count, now_ms() - t);
	}
}

static void *snap_main(void *arg)
{
	struct app *app = arg;

	pthread_mutex_lock(&snap_mu);
	while (!snap_stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 500 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&snap_cv, &snap_mu, &ts);
		if (snap_stop)
			break;
		pthread_mutex_unlock(&snap_mu);
		snapshot_all(app, 0);
		pthread_mutex_lock(&snap_mu);
	}
	pthread_mutex_unlock(&snap_mu);
	return NULL;
}

/* ---------- start / stop ---------- */

int h_vectors_start(struct app *app, char *err)
{
	struct spaces *reg = NULL;
	struct space_def *defs = NULL;
	size_t n = 0, i;
	int rc = -1;

	if (spaces_create(&reg, err))
		return -1;
	defs = calloc(SPACES_MAX, sizeof(*defs));
	if (!defs) {
		errf(err, "out of memory");
		goto out;
	}
	if (store_space_list(app->st, defs, SPACES_MAX, &n, err))
		goto out;
	for (i = 0; i < n; i++) {
		struct space *sp = NULL;
		char why[LSD_ERRLEN];
		double t0 = now_ms();
		int how;

		if (store_vec_open_space(app->st, &defs[i], &sp, &how, why, err) ||
		    spaces_add(reg, sp, err)) {
			space_destroy(sp);
			goto out;
		}
		log_msg(LOG_INFO, "%s [%.0f ms]", why, now_ms() - t0);
	}
	app->sp = reg;
	reg = NULL;
	prev_deleted = h_lesion_deleted;
	h_lesion_deleted = on_deleted;
	prev_stats = h_stats_extra;
	h_stats_extra = on_stats;
	snap_stop = 0;
	if (pthread_create(&snap_thread, NULL, snap_main, app) == 0)
		snap_started = 1;
	rc = 0;
out:
	spaces_destroy(reg);
	free(defs);
	return rc;
}

void h_vectors_stop(struct app *app)
{
	if (snap_started) {
		pthread_mutex_lock(&snap_mu);
		snap_stop = 1;
		pthread_cond_signal(&snap_cv);
		pthread_mutex_unlock(&snap_mu);
		pthread_join(snap_thread, NULL);
		snap_started = 0;
	}
	if (app->sp) {
		snapshot_all(app, 1);
		spaces_destroy(app->sp);
		app->sp = NULL;
	}
}
