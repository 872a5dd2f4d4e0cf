/* h_lesions.c - lesion metadata routes: list with filters and cursor paging, get, add
 * (one JSON object or NDJSON, all-or-nothing), delete. SQLite is the system of record;
 * other modules (vectors, graph) hear about adds and deletes through the hooks below. */
#include "apijson.h"
#include "app.h"
#include "handlers.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define POST_MAX_LESIONS 1000000


void h_lesion_get(const struct request *r, struct reply *rp)
{
	struct lesion l;
	struct sb b;

	if (apijson_path_lesion(r, &l, rp))
		return;
	sb_init(&b, 1 << 16);
	apijson_lesion(&b, &l);
	reply_json(rp, 200, &b);
}

void h_lesions_list(const struct request *r, struct reply *rp)
{
	struct store_filter f;
	struct lesion *rows = NULL;
	char err[LSD_ERRLEN];
	const char *v;
	int64_t limit = LIST_DEFAULT, after = 0;
	int n = 0, i;
	struct sb b;

	if (apijson_filter_query(r, &f, err)) {
		reply_problem(rp, 422, "%s", err);
		return;
	}
	v = req_query(r, "limit");
	if (v && parse_i64(v, 1, LIST_MAX, &limit)) {
		reply_problem(rp, 422, "limit: must be an integer in 1..%d", LIST_MAX);
		return;
	}
	v = req_query(r, "cursor");
	if (v && *v && parse_i64(v, 0, INT64_MAX, &after)) {
		reply_problem(rp, 400, "cursor: not a cursor returned by this API");
		return;
	}
	rows = malloc((size_t)limit * sizeof(*rows));
	if (!rows) {
		reply_problem(rp, 500, "out of memory");
		return;
	}
	if (store_lesion_list(r->app->st, &f, after, (int)limit, rows, &n, err)) {
		free(rows);
		reply_problem(rp, 500, "%s", err);
		return;
	}
	sb_init(&b, 64u << 20);
	sb_adds(&b, "{\"lesions\":[");
	for (i = 0; i < n; i++) {
		if (i)
			sb_addc(&b, ',');
		apijson_lesion(&b, &rows[i]);
	}
	sb_adds(&b, "],\"count\":");
	jw_int(&b, n);
	sb_adds(&b, ",\"next_cursor\":");
	if (n == limit)
		sb_addf(&b, "\"%lld\"", (long long)rows[n - 1].id);
	else
		sb_adds(&b, "null");
	sb_addc(&b, '}');
	free(rows);
	reply_json(rp, 200, &b);
}

/* Parse the body: one object (application/json) or NDJSON lines. */
static int parse_lesions(const struct request *r, struct lesion **out, size_t *n_out,
			 int *status, char *err)
{
	struct lesion *v = NULL;
	size_t n = 0, cap = 0;
	const char *p = r->body, *end = r->body + r->body_len;
	int ndjson = r->content_type && !strcmp(r->content_type, "application/x-ndjson");
	int line = 0;

	*status = 400;
	if (!r->content_type || (strcmp(r->content_type, "application/json") && !ndjson)) {
		*status = 415;
		return errf(err, "send application/json (one lesion) or application/x-ndjson");
	}
	if (!r->body)
		return errf(err, "empty body");
	while (p < end) {
		const char *nl = ndjson ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		const char *le = nl ? nl : end;
		struct jv *doc = NULL;
		char e2[LSD_ERRLEN];
		const char *q = p;

		line++;
		while (q < le && (*q == ' ' || *q == '\r' || *q == '\t'))
			q++;
		if (q == le) {
			p = le + 1;
			continue;
		}
		if (n == cap) {
			struct lesion *nv;

			if (cap >= POST_MAX_LESIONS) {
				free(v);
				*status = 413;
				return errf(err, "more than %d lesions in one request", POST_MAX_LESIONS);
			}
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				*status = 500;
				return errf(err, "out of memory");
			}
			v = nv;
		}
		if (json_parse(p, (size_t)(le - p), &doc, e2)) {
			free(v);
			return ndjson ? errf(err, "line %d: %s", line, e2) : errf(err, "%s", e2);
		}
		if (apijson_lesion_parse(doc, &v[n], e2)) {
			json_free(doc);
			free(v);
			*status = 422;
			return ndjson ? errf(err, "line %d: %s", line, e2) : errf(err, "%s", e2);
		}
		json_free(doc);
		n++;
		p = le + 1;
	}
	if (!n) {
		free(v);
		return errf(err, "no lesions in the body");
	}
	*out = v;
	*n_out = n;
	return 0;
}

void h_lesions_post(const struct request *r, struct reply *rp)
{
	struct lesion *v = NULL;
	size_t n = 0, added = 0, same = 0, i;
	char err[LSD_ERRLEN];
	int status;
	struct sb b;

	if (parse_lesions(r, &v, &n, &status, err)) {
		reply_problem(rp, status, "%s", err);
		return;
	}
	if (store_lesion_insert(r->app->st, v, n, &added, &same, err)) {
		free(v);
		reply_problem(rp, strstr(err, "already exists") ? 409 : 422, "%s", err);
		return;
	}
	h_events_lesions_added(r->app, v, n);
	sb_init(&b, 32u << 20);
	sb_adds(&b, "{\"ids\":[");
	for (i = 0; i < n; i++) {
		if (i)
			sb_addc(&b, ',');
		jw_int(&b, v[i].id);
	}
	sb_addf(&b, "],\"added\":%zu,\"unchanged\":%zu}", added, same);
	free(v);
	reply_json(rp, added ? 201 : 200, &b);
}

void h_lesion_delete(const struct request *r, struct reply *rp)
{
	struct lesion l;
	char err[LSD_ERRLEN];
	int rc;

	if (apijson_path_lesion(r, &l, rp))
		return;
	rc = store_lesion_delete(r->app->st, l.id, err);
	if (rc == LSD_ENOTFOUND) {	/* deleted by someone else meanwhile */
		reply_problem(rp, 404, "no lesion %lld", (long long)l.id);
		return;
	}
	if (rc) {
		reply_problem(rp, 500, "%s", err);
		return;
	}
	h_events_lesion_deleted(r->app, &l);
	rp->status = 204;
}
