/* test_openapi.c - GET /v1/openapi.json is valid JSON, an OpenAPI 3.1 document, and
 * describes every route of the table (server/routes.c) with every method, its path
 * parameters and its errors; it names no route that does not exist; every $ref
 * resolves. Fails on any route the description lacks. */
#include "handlers.h"
#include "http.h"
#include "routes.h"
#include "json.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static struct jv *doc;

/* "/v1/slices/{series_dir}/{slice}.png" -> "/v1/slices/{}/{}.png" */
static void normalise(const char *path, char *out, size_t n)
{
	size_t o = 0;

	for (; *path && o + 1 < n; path++) {
		out[o++] = *path;
		if (*path == '{') {
			while (*path && *path != '}')
				path++;
			if (*path)
				out[o++] = '}';
			else
				break;
		}
	}
	out[o] = '\0';
}

/* The path item documenting pattern, or NULL. */
static const struct jv *path_item(const char *pattern)
{
	const struct jv *m;
	char norm[256];

	for (m = json_first(json_get(doc, "paths")); m; m = json_next(m)) {
		normalise(json_key(m), norm, sizeof(norm));
		if (!strcmp(norm, pattern))
			return m;
	}
	return NULL;
}

/* Problems with one route: 0 when documented; prints what is missing. */
static int route_missing(const char *pattern, unsigned methods)
{
	static const struct { unsigned bit; const char *name; } ms[] = {
		{ HTTP_GET, "get" }, { HTTP_POST, "post" }, { HTTP_PUT, "put" },
		{ HTTP_DELETE, "delete" },
	};
	const struct jv *item = path_item(pattern);
	int bad = 0;
	size_t i;

	if (!item) {
		fprintf(stderr, "  openapi.json lacks path %s\n", pattern);
		return 1;
	}
	for (i = 0; i < LSD_ARRAY_LEN(ms); i++) {
		const struct jv *op;

		if (!(methods & ms[i].bit))
			continue;
		op = json_get(item, ms[i].name);
		if (!json_is_obj(op) || !json_is_obj(json_get(op, "responses")) ||
		    !json_len(json_get(op, "responses")) || !json_is_str(json_get(op, "operationId"))) {
			fprintf(stderr, "  openapi.json lacks %s %s (with operationId, responses)\n",
				ms[i].name, pattern);
			bad++;
		}
	}
	return bad;
}

static void test_document(void)
{
	struct request r;
	struct reply rp;
	char err[LSD_ERRLEN];

	memset(&r, 0, sizeof(r));
	memset(&rp, 0, sizeof(rp));
	r.method = HTTP_GET;
	r.path = "/v1/openapi.json";
	h_openapi(&r, &rp);
	CHECK_EQ_INT(rp.status, 200);
	CHECK_STR(rp.content_type, "application/json");
	CHECK(json_parse(rp.body, rp.body_len, &doc, err) == 0);
	free(rp.body);
	if (!doc)
		return;
	CHECK_STR(json_str(json_get(doc, "openapi")), "3.1.0");
	CHECK(json_is_obj(json_get(doc, "info")));
	CHECK(json_is_obj(json_get(doc, "paths")));
}

static void test_every_route_documented(void)
{
	size_t i;
	int bad = 0;

	CHECK(doc);
	if (!doc)
		return;
	for (i = 0; i < routes_count; i++)
		bad += route_missing(routes[i].pattern, routes[i].methods);
	CHECK_EQ_INT(bad, 0);
	/* the checker can fail: an invented route and method are reported missing */
	CHECK(route_missing("/v1/no/such/{}", HTTP_GET) == 1);
	CHECK(route_missing("/healthz", HTTP_POST) == 1);
}

static void test_no_phantom_routes(void)
{
	const struct jv *m, *op;
	char norm[256];
	size_t i;

	CHECK(doc);
	if (!doc)
		return;
	for (m = json_first(json_get(doc, "paths")); m; m = json_next(m)) {
		unsigned methods = 0;

		normalise(json_key(m), norm, sizeof(norm));
		for (i = 0; i < routes_count; i++)
			if (!strcmp(routes[i].pattern, norm))
				methods |= routes[i].methods;
		if (!methods)
			fprintf(stderr, "  documented path %s is not a route\n", json_key(m));
		CHECK(methods != 0);
		for (op = json_first(m); op; op = json_next(op)) {
			const char *k = json_key(op);
			unsigned bit = !strcmp(k, "get") ? HTTP_GET : !strcmp(k, "post") ? HTTP_POST :
				       !strcmp(k, "put") ? HTTP_PUT : !strcmp(k, "delete") ?
				       HTTP_DELETE : 0;

			if (!strcmp(k, "parameters") || !strcmp(k, "summary"))
				continue;
			if (!(methods & bit))
				fprintf(stderr, "  documented %s %s is not routed\n", k, json_key(m));
			CHECK(methods & bit);
		}
	}
}

/* Is name declared as a path parameter in list (an array of parameter objects)? */
static int declares(const struct jv *list, const char *name)
{
	const struct jv *p;

	for (p = json_first(list); p; p = json_next(p))
		if (json_is_str(json_get(p, "name")) && !strcmp(json_str(json_get(p, "name")), name) &&
		    json_is_str(json_get(p, "in")) && !strcmp(json_str(json_get(p, "in")), "path") &&
		    json_true(json_get(p, "required")))
			return 1;
	return 0;
}

static void test_path_parameters(void)
{
	const struct jv *m, *op;

	CHECK(doc);
	if (!doc)
		return;
	for (m = json_first(json_get(doc, "paths")); m; m = json_next(m)) {
		const char *s = json_key(m);

		while ((s = strchr(s, '{'))) {
			char name[64];
			const char *e = strchr(s, '}');
			size_t n = e ? (size_t)(e - s - 1) : 0;

			CHECK(e && n > 0 && n < sizeof(name));
			if (!e || !n || n >= sizeof(name))
				break;
			memcpy(name, s + 1, n);
			name[n] = '\0';
			for (op = json_first(m); op; op = json_next(op)) {
				if (!strcmp(json_key(op), "parameters"))
					continue;
				if (!declares(json_get(m, "parameters"), name) &&
				    !declares(json_get(op, "parameters"), name)) {
					fprintf(stderr, "  %s %s: path parameter %s undeclared\n",
						json_key(op), json_key(m), name);
					CHECK(0);
				}
			}
			s = e;
		}
	}
}

/* Every "$ref" in v resolves inside the document; returns the count that do not. */
static int bad_refs(const struct jv *v)
{
	const struct jv *c;
	int bad = 0;

	if (json_is_obj(v)) {
		const struct jv *ref = json_get(v, "$ref");

		if (ref) {
			char buf[256], *save = NULL, *part;
			const struct jv *at = doc;

			if (!json_is_str(ref) || strncmp(json_str(ref), "#/", 2) ||
			    strlen(json_str(ref)) >= sizeof(buf))
				return 1;
			snprintf(buf, sizeof(buf), "%s", json_str(ref) + 2);
			for (part = strtok_r(buf, "/", &save); part && at;
			     part = strtok_r(NULL, "/", &save))
				at = json_get(at, part);
			if (!at) {
				fprintf(stderr, "  unresolved $ref %s\n", json_str(ref));
				return 1;
			}
		}
	}
	if (json_is_obj(v) || json_is_arr(v))
		for (c = json_first(v); c; c = json_next(c))
			bad += bad_refs(c);
	return bad;
}

/* Paths open without an API key (server/http.c access_check): the probes and the
 * viewer's static files. Every other operation can answer 401. */
static int keyless(const char *path)
{
	return !strcmp(path, "/healthz") || !strcmp(path, "/readyz") || !strcmp(path, "/") ||
	       !strncmp(path, "/www/", 5);
}

static void test_refs_and_errors(void)
{
	const struct jv *m, *op, *resp;
	int problems = 0, ops = 0;

	CHECK(doc);
	if (!doc)
		return;
	CHECK_EQ_INT(bad_refs(doc), 0);
	/* every operation documents its errors: at least one 4xx/5xx response, and the
	 * ones behind API keys 401 */
	for (m = json_first(json_get(doc, "paths")); m; m = json_next(m))
		for (op = json_first(m); op; op = json_next(op)) {
			int errs = 0;

			if (!strcmp(json_key(op), "parameters"))
				continue;
			ops++;
			for (resp = json_first(json_get(op, "responses")); resp; resp = json_next(resp))
				errs += json_key(resp)[0] == '4' || json_key(resp)[0] == '5';
			if (!errs)
				fprintf(stderr, "  %s %s: no error responses\n", json_key(op), json_key(m));
			problems += !errs;
			/* http.c answers 400 before routing (a control byte in the path or
			 * query, too many parameters), so on every route */
			if (!json_get(json_get(op, "responses"), "400")) {
				fprintf(stderr, "  %s %s: 400 undocumented\n", json_key(op), json_key(m));
				problems++;
			}
			if (!keyless(json_key(m)) && !json_get(json_get(op, "responses"), "401")) {
				fprintf(stderr, "  %s %s: 401 undocumented\n", json_key(op), json_key(m));
				problems++;
			}
		}
	CHECK_EQ_INT(problems, 0);
	CHECK(ops >= (int)routes_count);
	{	/* the check that 400 documents, on a route with no parameters of its own */
		char why[128];

		CHECK(req_uri_check("/healthz?x=%01", why, sizeof(why)) != 0);
		CHECK(req_uri_check("/healthz\x7f", why, sizeof(why)) != 0);
		CHECK(req_uri_check("/healthz?x=%41", why, sizeof(why)) == 0);
	}
	CHECK(json_is_obj(json_get(json_get(json_get(doc, "components"), "schemas"), "Problem")));
}

int main(void)
{
	RUN(test_document);
	RUN(test_every_route_documented);
	RUN(test_no_phantom_routes);
	RUN(test_path_parameters);
	RUN(test_refs_and_errors);
	json_free(doc);
	return unit_done();
}
