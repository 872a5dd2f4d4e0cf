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

/* The number format before the fast search (json.c shortest_g), kept as the oracle:
 * integers below 1e15 as %.0f, others as the first of %.6g .. %.17g that reads back. */
static void ref_num(char *out, size_t len, double v)
{
	int prec;

	if (!isfinite(v)) {
		snprintf(out, len, "null");
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(out, len, "%.0f", v);
		return;
	}
	for (prec = 6; prec <= 17; prec++) {
		snprintf(out, len, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)	/* splitmix64 */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* 1 when jw_num(v) is byte for byte the reference format and reads back as v */
static int num_same(double v)
{
	struct sb b;
	char want[64];
	int ok;

	ref_num(want, sizeof(want), v);
	sb_init(&b, 64);
	jw_num(&b, v);
	sb_addc(&b, '\0');
	ok = b.p && !strcmp(b.p, want) && (!isfinite(v) || strtod(b.p, NULL) == v);
	if (!ok)
		fprintf(stderr, "  jw_num(%a): '%s', reference '%s'\n", v, b.p ? b.p : "(oom)", want);
	sb_free(&b);
	return ok;
}

/* jw_num's quick precision search against the plain walk: the reply bytes of every
 * number a search reply holds (distances are floats widened to double, diameters and
 * locations are rounded to 4 and 6 decimals, took_ms to 3) and of any double. */
static void test_num_format_same(void)
{
	static const double edge[] = { 0.0, 0.5, 0.25, 1.5, 0.1, 0.2, 0.3, 1e-7, 5e20, 1e15,
				       1e15 - 1, 999999999999999.5, 1e16, 123456.5, 9.5, 9.9999995,
				       99.99999999999999, 0.30000000000000004, 4.35, 2.675,
				       1e-300, 1e300, 1e-320, 4.9e-324, 2.2250738585072014e-308,
				       2.225073858507201e-308, 1.7976931348623157e308, 1e22, 1e23,
				       5e-324, 0x1p-1022, 0x1p-1074, 0x1p53, 0x1p-20, 0x1.fffffffffffffp0,
				       0x1.0000000000001p0, 0x1.0000000000001p-1, 0x1.fffffffffffffp-3,
				       3.5660655430399997, 233.537, 1.0 / 3.0 };
	size_t i, bad = 0;
	int e;

	for (i = 0; i < LSD_ARRAY_LEN(edge); i++) {
		bad += !num_same(edge[i]);
		bad += !num_same(-edge[i]);
		bad += !num_same(nextafter(edge[i], 0));
		bad += !num_same(nextafter(edge[i], INFINITY));
	}
	bad += !num_same(NAN) + !num_same(INFINITY) + !num_same(-0.0);
	/* powers of two and their neighbours (the narrow-below case) */
	for (e = -1074; e <= 1023; e++) {
		double p = ldexp(1, e);

		bad += !num_same(p) + !num_same(nextafter(p, 0)) + !num_same(nextafter(p, INFINITY));
	}
	for (i = 0; i < 60000 && bad < 20; i++) {
		uint64_t r = rng_next();
		double v;
		float f;
		char s[48];

		memcpy(&v, &r, sizeof(v));	/* any bit pattern: every exponent */
		bad += !num_same(v);
		memcpy(&f, &r, sizeof(f));	/* a widened float, like a distance */
		bad += !num_same((double)f);
		f = (float)(r >> 40) / (float)(1u << 16);	/* distances of a search: 0..2^8 */
		bad += !num_same((double)f);
		v = (double)(r >> 11) / 9007199254740992.0 * 1000;	/* 0..1000 */
		bad += !num_same(v);
		bad += !num_same(round(v * 1e4) / 1e4);	/* diameters_mm */
		bad += !num_same(round(v / 1000 * 1e6) / 1e6);	/* normalized_location */
		bad += !num_same(round(v * 1000) / 1000);	/* took_ms */
		/* decimals of up to 7 digits at exponents -18..11 (both %g
		 * layouts, the power-of-ten edges) */
		snprintf(s, sizeof(s), "%llde%d", (unsigned long long)(r % 10000000) /
			 (1 + (r >> 60) % 10), (int)((r >> 32) % 30) - 24);
		bad += !num_same(strtod(s, NULL));
	}
	/* short binary fractions m / 2^k: their exact decimals end in 5, so %.{p}g often
	 * rounds a tie (to even; json.c exact_g), at every precision 6..17 */
	for (e = 1; e <= 64 && bad < 20; e++)
		for (i = 1; i < 4000; i += 2) {
			bad += !num_same(ldexp((double)i, -e));
			bad += !num_same(ldexp((double)i, -e) + 1);
			bad += !num_same(ldexp((double)i, -e) + 100);
		}
	CHECK_EQ_INT(bad, 0);
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
	RUN(test_num_format_same);
	RUN(test_reader);
	RUN(test_routes);
	RUN(test_filters);
	return unit_done();
}
