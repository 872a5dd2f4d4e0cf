/* test_json.c - JSON writer (escaping, shortest round-trip numbers), reader errors,
 * UTF-8 validation, the route table matcher and filter parsing. */
#include "apijson.h"
#include "http.h"
#include "routes.h"
#include "json.h"
#include "unit.h"

#include <math.h>
#include <stdlib.h>

static void test_writer(void)
{
	struct sb b;
	const double vals[] = { 233.537, 0.1, 1e-7, -175, 3.5660655430399997, 1.0 / 3.0, 5e20 };
	size_t i;

	sb_init(&b, 4096);
	jw_str(&b, "a\"b\\c\n\x01z");
	CHECK_STR(b.p, "\"a\\\"b\\\\c\\n\\u0001z\"");
	sb_free(&b);
	for (i = 0; i < LSD_ARRAY_LEN(vals); i++) {
		sb_init(&b, 64);
		jw_num(&b, vals[i]);
		CHECK(strtod(b.p, NULL) == vals[i]);
		sb_free(&b);
	}
	sb_init(&b, 64);
	jw_num(&b, 233.537);
	CHECK_STR(b.p, "233.537");
	sb_free(&b);
	sb_init(&b, 64);
	jw_num(&b, NAN);
	CHECK_STR(b.p, "null");
	sb_free(&b);
	sb_init(&b, 8);
	jw_str(&b, "this is longer than eight bytes");
	CHECK(b.oom);
	sb_free(&b);
}

static void test_reader(void)
{
	struct jv *v = NULL;
	char err[LSD_ERRLEN];

	CHECK_EQ_INT(json_parse("{\"k\":[1,2.5,\"x\"]}", 17, &v, err), 0);
	CHECK(json_is_arr(json_get(v, "k")));
	CHECK_EQ_INT(json_len(json_get(v, "k")), 3);
	CHECK(json_num(json_at(json_get(v, "k"), 1)) == 2.5);
	json_free(v);
	CHECK_EQ_INT(json_parse("{\"k\":", 5, &v, err), -1);
	CHECK(strstr(err, "malformed JSON") != NULL);
	CHECK_EQ_INT(json_parse("{} x", 4, &v, err), -1);
	CHECK(strstr(err, "trailing") != NULL);
	CHECK_EQ_INT(json_parse("", 0, &v, err), -1);
	CHECK_EQ_INT(json_parse("\"\xff\"", 3, &v, err), -1);
	CHECK(strstr(err, "UTF-8") != NULL);
	CHECK(json_utf8_ok("h\xc3\xa9", 3));
	CHECK(!json_utf8_ok("\xc0\xaf", 2));
	CHECK(!json_utf8_ok("\xed\xa0\x80", 3));
	CHECK(!json_utf8_ok("a\0b", 3));
}

static void test_routes(void)
{
	struct request r;
	unsigned allow;
	const struct route *rt;

	memset(&r, 0, sizeof(r));
	rt = routes_match("/v1/lesions/42", HTTP_GET, &allow, &r);
	CHECK(rt && !strcmp(rt->name, "lesion_get"));
	CHECK_EQ_INT(r.nargs, 1);
	CHECK_STR(r.args[0], "42");
	CHECK(allow & HTTP_DELETE);
	rt = routes_match("/v1/lesions/42", HTTP_PUT, &allow, &r);
	CHECK(rt == NULL && (allow & HTTP_GET));
	rt = routes_match("/v1/nothing", HTTP_GET, &allow, &r);
	CHECK(rt == NULL && allow == 0);
	rt = routes_match("/v1/lesions/", HTTP_GET, &allow, &r);
	CHECK(rt == NULL);
	rt = routes_match("/v1/lesions", HTTP_POST, &allow, &r);
	CHECK(rt && rt->body == BODY_BULK && (rt->access & ROUTE_WRITE));
}

static void test_filters(void)
{
	struct store_filter f;
	struct request r;
	struct jv *v = NULL;
	char err[LSD_ERRLEN];
	const char *doc = "{\"type\":[\"lung\",4],\"split\":\"test\",\"min_diam_mm\":10,"
			  "\"gender\":\"F\",\"exclude_noisy\":true}";

	memset(&r, 0, sizeof(r));
	r.qkey[0] = "type"; r.qval[0] = "lung,liver";
	r.qkey[1] = "split"; r.qval[1] = "val";
	r.qkey[2] = "k"; r.qval[2] = "5";
	r.nquery = 3;
	CHECK_EQ_INT(apijson_filter_query(&r, &f, err), 0);
	CHECK_EQ_INT(f.type_mask, (1u << 5) | (1u << 4));
	CHECK_EQ_INT(f.split_mask, 1u << 2);
	r.qval[0] = "spleen";
	CHECK_EQ_INT(apijson_filter_query(&r, &f, err), -1);
	CHECK(strstr(err, "spleen") != NULL);
	CHECK_EQ_INT(json_parse(doc, strlen(doc), &v, err), 0);
	CHECK_EQ_INT(apijson_filter_json(v, &f, err), 0);
	CHECK_EQ_INT(f.type_mask, (1u << 5) | (1u << 4));
	CHECK_EQ_INT(f.split_mask, 1u << 3);
	CHECK(f.min_diam_mm == 10 && f.gender == 'F' && f.exclude_noisy == 1);
	json_free(v);
	CHECK_EQ_INT(json_parse("{\"colour\":1}", 12, &v, err), 0);
	CHECK_EQ_INT(apijson_filter_json(v, &f, err), -1);
	json_free(v);
}

int main(void)
{
	RUN(test_writer);
	RUN(test_reader);
	RUN(test_routes);
	RUN(test_filters);
	return unit_done();
}
