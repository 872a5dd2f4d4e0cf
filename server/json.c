/* json.c - JSON reading (over cJSON) and writing (straight into a capped buffer).
 *
 * The only file that includes cJSON.h. Handlers parse request bodies with json_parse
 * and walk them with the accessors; replies are written with jw_* into a struct sb.
 * cJSON's global error pointer is racy across MHD's threads, so it is never read: the
 * parse end comes back through cJSON_ParseWithLengthOpts' own out-parameter.
 */
#include "json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define J(v) ((const cJSON *)(const void *)(v))

int json_parse(const char *s, size_t n, struct jv **out, char *err)
{
	const char *end = NULL;
	cJSON *v;

	*out = NULL;
	if (!s || n == 0)
		return errf(err, "empty body, expected JSON");
	if (!json_utf8_ok(s, n))
		return errf(err, "body is not valid UTF-8");
	v = cJSON_ParseWithLengthOpts(s, n, &end, 0);
	if (!v) {
		size_t at = end && end >= s && end <= s + n ? (size_t)(end - s) : 0;

		return errf(err, "malformed JSON at byte %zu", at);
	}
	while (end && end < s + n && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
		end++;
	if (end && end < s + n && *end != '\0') {
		cJSON_Delete(v);
		return errf(err, "trailing data after JSON value at byte %zu", (size_t)(end - s));
	}
	*out = (struct jv *)(void *)v;
	return 0;
}

void json_free(struct jv *v)
{
	cJSON_Delete((cJSON *)(void *)v);
}

struct jv *json_get(const struct jv *obj, const char *key)
{
	if (!obj || !cJSON_IsObject(J(obj)))
		return NULL;
	return (struct jv *)(void *)cJSON_GetObjectItemCaseSensitive(J(obj), key);
}

int json_is_obj(const struct jv *v) { return v && cJSON_IsObject(J(v)); }
int json_is_arr(const struct jv *v) { return v && cJSON_IsArray(J(v)); }
int json_is_num(const struct jv *v) { return v && cJSON_IsNumber(J(v)); }
int json_is_str(const struct jv *v) { return v && cJSON_IsString(J(v)); }
int json_is_bool(const struct jv *v) { return v && cJSON_IsBool(J(v)); }
int json_is_null(const struct jv *v) { return v && cJSON_IsNull(J(v)); }
double json_num(const struct jv *v) { return v ? J(v)->valuedouble : NAN; }
const char *json_str(const struct jv *v) { return json_is_str(v) ? J(v)->valuestring : NULL; }
int json_true(const struct jv *v) { return v && cJSON_IsTrue(J(v)); }
int json_len(const struct jv *v) { return v ? cJSON_GetArraySize(J(v)) : 0; }

struct jv *json_at(const struct jv *arr, int i)
{
	return arr ? (struct jv *)(void *)cJSON_GetArrayItem(J(arr), i) : NULL;
}

struct jv *json_first(const struct jv *v)
{
	return v ? (struct jv *)(void *)J(v)->child : NULL;
}

struct jv *json_next(const struct jv *v)
{
	return v ? (struct jv *)(void *)J(v)->next : NULL;
}

const char *json_key(const struct jv *member)
{
	return member ? J(member)->string : NULL;
}

const char *json_unknown_key(const struct jv *obj, const char *const *known)
{
	const struct jv *m;
	int i;

	for (m = json_first(obj); m; m = json_next(m)) {
		for (i = 0; known[i] && strcmp(known[i], json_key(m)); i++)
			;
		if (!known[i])
			return json_key(m);
	}
	return NULL;
}

void jw_str(struct sb *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;
	size_t run = 0;

	if (!s) {
		sb_add(b, "null", 4);
		return;
	}
	sb_addc(b, '"');
	for (p = (const unsigned char *)s; *p; p++) {
		char esc[7];

		if (*p >= 0x20 && *p != '"' && *p != '\\') {
			run++;
			continue;
		}
		sb_add(b, p - run, run);
		run = 0;
		switch (*p) {
		case '"': sb_add(b, "\\\"", 2); break;
		case '\\': sb_add(b, "\\\\", 2); break;
		case '\n': sb_add(b, "\\n", 2); break;
		case '\r': sb_add(b, "\\r", 2); break;
		case '\t': sb_add(b, "\\t", 2); break;
		default:
			esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
			esc[4] = hex[*p >> 4]; esc[5] = hex[*p & 15]; esc[6] = '\0';
			sb_add(b, esc, 6);
		}
	}
	sb_add(b, p - run, run);
	sb_addc(b, '"');
}

/* %.{prec}g of v into tmp; 1 when it reads back as v */
static int g_round_trips(char *tmp, size_t len, int prec, double v)
{
	snprintf(tmp, len, "%.*g", prec, v);
	return strtod(tmp, NULL) == v;
}

/* %g's layout of the p significant digits dig[0..p) at decimal exponent X (|X| <= 99):
 * fixed for -4 <= X < p, else d.ddde-XX; trailing zeros dropped. Into out (NUL ended). */
static void g_layout(char *out, int neg, char *dig, int p, int X)
{
	char *o = out;
	int nd, i;

	for (nd = p; nd > 1 && dig[nd - 1] == '0'; nd--)
		;
	if (neg)
		*o++ = '-';
	if (X < -4 || X >= p) {
		*o++ = dig[0];
		if (nd > 1)
			*o++ = '.';
		for (i = 1; i < nd; i++)
			*o++ = dig[i];
		*o++ = 'e';
		*o++ = X < 0 ? '-' : '+';
		*o++ = (char)('0' + (X < 0 ? -X : X) / 10);
		*o++ = (char)('0' + (X < 0 ? -X : X) % 10);
	} else if (X < 0) {
		*o++ = '0';
		*o++ = '.';
		for (i = X + 1; i < 0; i++)
			*o++ = '0';
		for (i = 0; i < nd; i++)
			*o++ = dig[i];
	} else {
		for (i = 0; i <= X; i++)
			*o++ = dig[i];
		if (nd > X + 1)
			*o++ = '.';
		for (; i < nd; i++)
			*o++ = dig[i];
	}
	*o = '\0';
}

/* The shortest %.{6..17}g that reads back as v, as the walk 6, 7, ... 17 finds it, with
 * shortest_g's search order (6, 16, 15, bisect: the same result for a non-power of two),
 * in exact integer arithmetic instead of snprintf + strtod: 1 (written to
 * out), -1 when v is outside what this covers (use shortest_g). With v = M * 2^E (M in
 * (2^52, 2^53)) and s = p - 1 - X decimals, the p digits D that %.{p}g writes are
 * M * 5^s / 2^-(E+s) rounded to nearest, ties to even (glibc prints the exact binary
 * value, correctly rounded), in 128 bits for s <= 27; X is the exponent that puts D in
 * [10^(p-1), 10^p). D * 10^-s reads back as v when it is within half an ulp (2^(E-1))
 * of v, a tie reading back only to an even M: |D * 2^(shift+1) - 2 M 5^s| <= 5^s
 * (shift = -(E+s); below 1e15 a tie cannot occur: a midpoint has more than 17 digits).
 * Powers of two (an ulp narrower below) are left to shortest_g. The layout is %g's
 * (g_layout). tests/unit/test_json.c compares it with the walk. */
typedef unsigned __int128 json_u128;

static const uint64_t pow5[28] = {
	1ull, 5ull, 25ull, 125ull, 625ull, 3125ull, 15625ull, 78125ull, 390625ull,
	1953125ull, 9765625ull, 48828125ull, 244140625ull, 1220703125ull,
	6103515625ull, 30517578125ull, 152587890625ull, 762939453125ull,
	3814697265625ull, 19073486328125ull, 95367431640625ull, 476837158203125ull,
	2384185791015625ull, 11920928955078125ull, 59604644775390625ull,
	298023223876953125ull, 1490116119384765625ull, 7450580596923828125ull };
static const uint64_t pow10[18] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
	100000000ull, 1000000000ull, 10000000000ull, 100000000000ull,
	1000000000000ull, 10000000000000ull, 100000000000000ull,
	1000000000000000ull, 10000000000000000ull, 100000000000000000ull };

/* %.{p}g of M * 2^E (exact_g): its digits *D and exponent *X; *x is floor(log10(v)),
 * an estimate on the first call, exact after. 1 when it reads back as v, 0 when not,
 * -1 when out of range. */
static int g_exact(uint64_t M, int E, int p, int *x, uint64_t *D, int *X)
{
	json_u128 num = 0, rem, half, twice, diff;
	int s = 0, shift = 0, tries;

	for (tries = 0;; tries++) {
		s = p - 1 - *x;
		shift = -(E + s);
		if (tries > 2 || s < 0 || s > 27 || shift < 1 || shift > 120)
			return -1;
		num = (json_u128)M * pow5[s];
		*D = (uint64_t)(num >> shift);	/* v * 10^s truncated: finds x */
		if (*D < pow10[p - 1])
			(*x)--;
		else if (*D >= pow10[p])
			(*x)++;
		else
			break;
	}
	/* 10^x <= v < 10^(x+1) now; round, and a carry to 10^p is 10^(p-1) at x+1 */
	rem = num - ((json_u128)*D << shift);
	half = (json_u128)1 << (shift - 1);
	if (rem > half || (rem == half && (*D & 1)))
		(*D)++;
	*X = *x;
	twice = (json_u128)*D << (shift + 1);
	if (*D == pow10[p]) {
		*D = pow10[p - 1];
		*X = *x + 1;
	}
	diff = twice > 2 * num ? twice - 2 * num : 2 * num - twice;
	return diff < pow5[s] || (diff == pow5[s] && !(M & 1));
}

static int exact_g(char *out, double v)
{
	double a = fabs(v);
	uint64_t M, D = 0;
	int e2, E, x, X = 0, p, lo, hi, rc, i;
	char dig[17];

	if (!(a >= 1e-10 && a < 1e15))
		return -1;
	M = (uint64_t)ldexp(frexp(a, &e2), 53);
	if (M == (uint64_t)1 << 52)
		return -1;
	E = e2 - 53;
	x = (int)floor(log10(a));
	/* the order of shortest_g: 6, then 16 (17 when it fails), 15, then bisect 7..15 */
	p = 6;
	rc = g_exact(M, E, p, &x, &D, &X);
	if (rc == 0) {
		p = 16;
		rc = g_exact(M, E, p, &x, &D, &X);
		if (rc == 0)
			p = 17;
		else if (rc == 1 && (rc = g_exact(M, E, 15, &x, &D, &X)) == 1) {
			for (lo = 7, hi = 15; lo < hi;) {
				int mid = (lo + hi) / 2;

				rc = g_exact(M, E, mid, &x, &D, &X);
				if (rc < 0)
					return -1;
				if (rc)
					hi = mid;
				else
					lo = mid + 1;
			}
			p = lo;
		}
		rc = rc < 0 ? -1 : g_exact(M, E, p, &x, &D, &X);
	}
	if (rc != 1)
		return -1;
	for (i = p - 1; i >= 0; i--, D /= 10)
		dig[i] = (char)('0' + D % 10);
	g_layout(out, v < 0, dig, p, X);	/* |X| <= 15 here */
	return 1;
}

/* The shortest %.{6..17}g that reads back as v (%.17g always does), found with few
 * snprintf/strtod pairs (the fallback of exact_g): the precision search used to
 * walk 6, 7, ... 17, and a distance (a float widened to double) needs 16 or 17, so most
 * of a similar reply's formatting time went there. Same output: unless v is a power of
 * two, the doubles that read back as v form an interval symmetric around it, and
 * %.{p+1}g is never farther from v than %.{p}g (a p-digit decimal is also a p+1-digit
 * one), so once a precision reads back, every larger one does; the search may then test
 * 16 and 15 first and bisect. A power of two has a narrower interval below it than
 * above, so it keeps the plain walk. tests/unit/test_json.c compares this with the walk
 * on millions of values. */
static void shortest_g(char *tmp, size_t len, double v)
{
	int lo, hi, mid, e;

	if (g_round_trips(tmp, len, 6, v))
		return;
	if (frexp(v, &e) == 0.5 || frexp(v, &e) == -0.5) {
		for (lo = 7; lo < 17 && !g_round_trips(tmp, len, lo, v); lo++)
			;
		if (lo == 17)
			snprintf(tmp, len, "%.17g", v);
		return;
	}
	if (!g_round_trips(tmp, len, 16, v)) {
		snprintf(tmp, len, "%.17g", v);
		return;
	}
	if (!g_round_trips(tmp, len, 15, v)) {
		snprintf(tmp, len, "%.16g", v);
		return;
	}
	/* 6 fails, 15 reads back: the first that does is in 7..15 */
	lo = 7;
	hi = 15;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (g_round_trips(tmp, len, mid, v))
			hi = mid;
		else
			lo = mid + 1;
	}
	/* %.15g of a finite double is at most 22 bytes; the check only tells the compiler
	 * (-Wformat-truncation at -O1 cannot bound lo) */
	if (snprintf(tmp, len, "%.*g", lo, v) >= (int)len)
		snprintf(tmp, len, "%.17g", v);
}

void jw_num(struct sb *b, double v)
{
	char tmp[32];

	if (!isfinite(v)) {
		sb_add(b, "null", 4);
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		if (v == 0)
			sb_adds(b, signbit(v) ? "-0" : "0");	/* as %.0f writes them */
		else
			jw_int(b, (int64_t)v);
		return;
	}
	if (exact_g(tmp, v) != 1)	/* powers of two, |v| >= 1e6 or out of range */
		shortest_g(tmp, sizeof(tmp), v);
	sb_adds(b, tmp);
}

void jw_int(struct sb *b, int64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	sb_add(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

void jw_key(struct sb *b, const char *k)
{
	jw_str(b, k);
	sb_addc(b, ':');
}

int json_utf8_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;

	while (p < e) {
		unsigned c = *p;
		int k;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3;
		else
			return 0;
		if (e - p <= k)
			return 0;
		for (int i = 1; i <= k; i++)
			if ((p[i] & 0xc0) != 0x80)
				return 0;
		if (c == 0xe0 && p[1] < 0xa0)
			return 0;	/* overlong */
		if (c == 0xed && p[1] >= 0xa0)
			return 0;	/* surrogates */
		if (c == 0xf0 && p[1] < 0x90)
			return 0;
		if (c == 0xf4 && p[1] >= 0x90)
			return 0;
		p += k + 1;
	}
	return 1;
}
