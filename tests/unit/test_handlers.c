/* test_handlers.c - handlers called through a plain struct request, without a socket
 * (http.h's promise): the vector routes (PUT/GET embedding as JSON and octet-stream, bulk
 * NDJSON all or nothing), lesion GET/DELETE, the route table's access column and the
 * request-target check every route goes through (req_uri_check).
 *
 * The oracles are independent of the handlers: stored vectors are read back through the
 * space, counts through space_get_info, lesions through the store. Run in the asan
 * variant (cJSON compiled from source there), the PUT of [1,"x",2] is the regression
 * test of a use after free: the handler asked the freed document whether it was an array
 * to choose between 422 and 400. */
#include "app.h"
#include "catalog.h"
#include "dlcsv.h"
#include "handlers.h"
#include "http.h"
#include "json.h"
#include "routes.h"
#include "space.h"
#include "spacedb.h"
#include "store.h"
#include "unit.h"
#include "util.h"

#include <stdio.h>
#include <unistd.h>

static struct app app;
static size_t nles;

static void setup(void)
{
	char path[600], err[LSD_ERRLEN];
	struct dlcsv *c = NULL;
	struct lesion *v = calloc(64, sizeof(*v));
	size_t added = 0, same = 0;
	const char *tmp = getenv("LSD_TEST_TMP") ? getenv("LSD_TEST_TMP") : "/tmp";

	config_defaults(&app.cfg);
	snprintf(path, sizeof(path), "%s/test_handlers.db", tmp);
	unlink(path);
	CHECK_EQ_INT(store_open(path, &app.st, err), 0);
	CHECK_EQ_INT(catalog_create(&app.cat, err), 0);
	CHECK_EQ_INT(spaces_create(&app.sp, err), 0);
	snprintf(path, sizeof(path), "%s/DL_info_sample.csv", unit_shared_dir());
	CHECK_EQ_INT(dlcsv_open(path, &c, err), 0);
	while (c && v && nles < 64 && dlcsv_next(c, &v[nles], err) == 1)
		nles++;
	dlcsv_close(c);
	CHECK(nles >= 10);
	if (app.st && v)
		CHECK_EQ_INT(store_lesion_insert(app.st, v, nles, &added, &same, err), 0);
	for (size_t i = 0; app.cat && v && i < nles; i++)
		catalog_put(app.cat, &v[i], err);
	free(v);
	app.ready = 1;
}

/* A request with the given body; q = "key=value" or NULL; arg the route's {} segment. */
static void call(handler_fn h, enum http_method m, const char *arg, const char *q,
		 const char *ctype, const void *body, size_t len, struct reply *rp)
{
	struct request r;
	char qbuf[128], *eq;

	memset(&r, 0, sizeof(r));
	memset(rp, 0, sizeof(*rp));
	r.method = m;
	r.path = "/test";
	r.app = &app;
	if (arg) {
		r.args[0] = arg;
		r.nargs = 1;
	}
	if (q) {
		snprintf(qbuf, sizeof(qbuf), "%s", q);
		eq = strchr(qbuf, '=');
		if (eq)
			*eq++ = '\0';
		r.qkey[0] = qbuf;
		r.qval[0] = eq ? eq : "";
		r.nquery = 1;
	}
	r.content_type = ctype;
	r.body = len ? body : NULL;
	r.body_len = len;
	rp->status = 500;
	h(&r, rp);
}

static size_t space_count(const char *name)
{
	struct space *sp = spaces_get(app.sp, name);
	struct space_info in;

	if (!sp)
		return 0;
	space_get_info(sp, &in);
	return in.count;
}

/* status and, for problems, the title the status gives */
static int is_problem(const struct reply *rp, int status)
{
	return rp->status == status && rp->content_type &&
	       !strcmp(rp->content_type, "application/problem+json") && rp->body &&
	       strstr(rp->body, http_status_title(status));
}

static void test_embedding_json(void)
{
	struct reply rp;
	float got[4];
	const char *good = "[0.5, -1, 2e3, 0]";

	call(h_embedding_put, HTTP_PUT, "1", "space=emb", "application/json", good, strlen(good),
	     &rp);
	CHECK_EQ_INT(rp.status, 200);
	free(rp.body);
	CHECK_EQ_INT(space_count("emb"), 1);
	CHECK_EQ_INT(space_get_vector(spaces_get(app.sp, "emb"), 1, got), 0);
	CHECK(got[0] == 0.5f && got[1] == -1.0f && got[2] == 2000.0f && got[3] == 0.0f);
	/* an array with a bad item: 422 (the use-after-free path); not an array: 400 */
	call(h_embedding_put, HTTP_PUT, "1", "space=emb", "application/json", "[1,\"x\",2]", 9,
	     &rp);
	CHECK(is_problem(&rp, 422));
	free(rp.body);
	call(h_embedding_put, HTTP_PUT, "1", "space=emb", "application/json", "{\"v\":[1]}", 9,
	     &rp);
	CHECK(is_problem(&rp, 400));
	free(rp.body);
	call(h_embedding_put, HTTP_PUT, "1", "space=emb", "application/json", "[1,2", 4, &rp);
	CHECK(is_problem(&rp, 400));
	free(rp.body);
	/* wrong dimension for the existing space, unknown lesion, no space */
	call(h_embedding_put, HTTP_PUT, "2", "space=emb", "application/json", "[1,2,3]", 7, &rp);
	CHECK(is_problem(&rp, 422));
	free(rp.body);
	call(h_embedding_put, HTTP_PUT, "999999", "space=emb", "application/json", good,
	     strlen(good), &rp);
	CHECK(is_problem(&rp, 404));
	free(rp.body);
	call(h_embedding_put, HTTP_PUT, "1", NULL, "application/json", good, strlen(good), &rp);
	CHECK(is_problem(&rp, 400));
	free(rp.body);
	call(h_embedding_put, HTTP_PUT, "1", "space=emb", "text/plain", good, strlen(good), &rp);
	CHECK(is_problem(&rp, 415));
	free(rp.body);
	CHECK_EQ_INT(space_count("emb"), 1);	/* none of the refused ones was stored */
}

static void test_embedding_octet(void)
{
	const float v[4] = { 1.25f, 2, -3, 4 };
	struct reply rp;
	float got[4];

	call(h_embedding_put, HTTP_PUT, "2", "space=emb", "application/octet-stream", v,
	     sizeof(v), &rp);
	CHECK_EQ_INT(rp.status, 200);
	free(rp.body);
	CHECK_EQ_INT(space_get_vector(spaces_get(app.sp, "emb"), 2, got), 0);
	CHECK(!memcmp(got, v, sizeof(v)));
	call(h_embedding_put, HTTP_PUT, "2", "space=emb", "application/octet-stream", v, 7, &rp);
	CHECK(is_problem(&rp, 422));
	free(rp.body);
	/* read back through the GET handler: the numbers in the JSON reply */
	call(h_embedding_get, HTTP_GET, "2", "space=emb", NULL, NULL, 0, &rp);
	CHECK_EQ_INT(rp.status, 200);
	CHECK(rp.body && strstr(rp.body, "\"vector\":[1.25,2,-3,4]"));
	free(rp.body);
	call(h_embedding_get, HTTP_GET, "3", "space=emb", NULL, NULL, 0, &rp);
	CHECK(is_problem(&rp, 404));
	free(rp.body);
}

static void test_vectors_bulk(void)
{
	struct reply rp;
	struct sb b;
	size_t before = space_count("emb");

	sb_init(&b, 1 << 16);
	for (int i = 3; i <= 8; i++)
		sb_addf(&b, "{\"lesion_id\":%d,\"vector\":[%d,0,1,0]}\r\n\n", i, i);
	call(h_space_vectors_post, HTTP_POST, "emb", NULL, "application/x-ndjson", b.p, b.len,
	     &rp);
	CHECK_EQ_INT(rp.status, 200);
	CHECK(rp.body && strstr(rp.body, "\"stored\":6"));
	free(rp.body);
	CHECK_EQ_INT(space_count("emb"), before + 6);
	/* all or nothing: a bad line anywhere stores none of the batch */
	b.len = 0;
	sb_addf(&b, "{\"lesion_id\":9,\"vector\":[1,1,1,1]}\n");
	sb_addf(&b, "[1,2]\n");
	call(h_space_vectors_post, HTTP_POST, "emb", NULL, "application/x-ndjson", b.p, b.len,
	     &rp);
	CHECK(is_problem(&rp, 400));
	CHECK(rp.body && strstr(rp.body, "line 2"));
	free(rp.body);
	b.len = 0;
	sb_addf(&b, "{\"lesion_id\":9,\"vector\":[1,1,1,1]}\n");
	sb_addf(&b, "{\"lesion_id\":10,\"vector\":[1,\"x\",1,1]}\n");
	call(h_space_vectors_post, HTTP_POST, "emb", NULL, "application/x-ndjson", b.p, b.len,
	     &rp);
	CHECK(is_problem(&rp, 422));
	free(rp.body);
	b.len = 0;
	sb_addf(&b, "{\"lesion_id\":9,\"vector\":[1,1,1,1]}\n{\"lesion_id\":10,\"vector\":[1,1]}\n");
	call(h_space_vectors_post, HTTP_POST, "emb", NULL, "application/x-ndjson", b.p, b.len,
	     &rp);
	CHECK(is_problem(&rp, 422));
	free(rp.body);
	CHECK_EQ_INT(space_count("emb"), before + 6);
	CHECK(!space_has(spaces_get(app.sp, "emb"), 9));
	sb_free(&b);
}

static void test_lesion_get_delete(void)
{
	struct reply rp;
	struct lesion l;
	char err[LSD_ERRLEN];

	call(h_lesion_get, HTTP_GET, "1", NULL, NULL, NULL, 0, &rp);
	CHECK_EQ_INT(rp.status, 200);
	CHECK(rp.body && !strncmp(rp.body, "{\"id\":1,", 8));
	free(rp.body);
	call(h_lesion_get, HTTP_GET, "1x", NULL, NULL, NULL, 0, &rp);
	CHECK(is_problem(&rp, 404));
	free(rp.body);
	call(h_lesion_delete, HTTP_DELETE, "7", NULL, NULL, NULL, 0, &rp);
	CHECK_EQ_INT(rp.status, 204);
	free(rp.body);
	CHECK_EQ_INT(store_lesion_get(app.st, 7, &l, err), LSD_ENOTFOUND);
	CHECK_EQ_INT(store_lesion_get(app.st, 6, &l, err), 0);
	/* the deletion reached the spaces too (h_events_lesion_deleted, no hook to install) */
	CHECK(!space_has(spaces_get(app.sp, "emb"), 7));
	CHECK(space_has(spaces_get(app.sp, "emb"), 6));
	call(h_lesion_delete, HTTP_DELETE, "7", NULL, NULL, NULL, 0, &rp);
	CHECK(is_problem(&rp, 404));
	free(rp.body);
}

/* The access column: which routes need no key, answer while loading, need an admin key. */
static void test_route_access(void)
{
	static const char *const public_names[] = { "healthz", "readyz", "www_index", "www_file",
						    NULL };
	int npublic = 0, nearly = 0;

	for (size_t i = 0; i < routes_count; i++) {
		const struct route *rt = &routes[i];
		int listed = 0;

		for (int k = 0; public_names[k]; k++)
			listed |= !strcmp(public_names[k], rt->name);
		CHECK_EQ_INT(!!(rt->access & ROUTE_PUBLIC), listed);
		if (rt->access & ROUTE_PUBLIC)
			CHECK(rt->access & ROUTE_EARLY);	/* a probe answers while loading */
		npublic += !!(rt->access & ROUTE_PUBLIC);
		nearly += !!(rt->access & ROUTE_EARLY);
		/* writes of data need an admin key; reads never do (search POSTs are reads) */
		if (rt->methods & (HTTP_PUT | HTTP_DELETE))
			CHECK(rt->access & ROUTE_WRITE);
		if (rt->methods & HTTP_GET)
			CHECK(!(rt->access & ROUTE_WRITE));
		CHECK_STR(routes_name((int)i), rt->name);
	}
	CHECK_EQ_INT(npublic, 4);
	CHECK_EQ_INT(nearly, 6);	/* and /metrics, /v1/openapi.json */
	CHECK_STR(routes_name(-1), "unmatched");
	CHECK_STR(routes_name((int)routes_count), "unmatched");
}

static void test_uri_check(void)
{
	static const char *const bad[] = { "/v1/lesions/1%00", "/v1/lesions/1%00x", "/a%0a",
					   "/a%0D", "/a%1f", "/a%7F", "/a%7f", "/a?k=%00",
					   "/a?k%09=1", "/a\x01", "/a?k=\x7f", "%00", NULL };
	static const char *const good[] = { "/", "/v1/lesions/1", "/a%20b", "/a%zz", "/a%2",
					    "/a%", "/a?k=%2C%7e&x=%ff", "/a%80", "", NULL };
	char why[128];

	for (int i = 0; bad[i]; i++) {
		why[0] = '\0';
		CHECK_EQ_INT(req_uri_check(bad[i], why, sizeof(why)), -1);
		CHECK(strstr(why, "control byte"));
	}
	for (int i = 0; good[i]; i++)
		CHECK_EQ_INT(req_uri_check(good[i], why, sizeof(why)), 0);
	CHECK_EQ_INT(req_uri_check("/x%00", why, sizeof(why)), -1);
	CHECK(strstr(why, "path") && strstr(why, "0x00"));
	CHECK_EQ_INT(req_uri_check("/x?y=%1b", why, sizeof(why)), -1);
	CHECK(strstr(why, "query") && strstr(why, "0x1b"));
}

int main(void)
{
	RUN(setup);
	RUN(test_embedding_json);
	RUN(test_embedding_octet);
	RUN(test_vectors_bulk);
	RUN(test_lesion_get_delete);
	RUN(test_route_access);
	RUN(test_uri_check);
	spaces_destroy(app.sp);
	catalog_destroy(app.cat);
	store_close(app.st);
	return unit_done();
}
