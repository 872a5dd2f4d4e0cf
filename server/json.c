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

void jw_num(struct sb *b, double v)
{
	char tmp[32];
	int prec;

	if (!isfinite(v)) {
		sb_add(b, "null", 4);
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		sb_addf(b, "%.0f", v);
		return;
	}
	/* shortest %g that reads back to the same double */
	for (prec = 6; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	sb_adds(b, tmp);
}

void jw_int(struct sb *b, int64_t v)
{
	sb_addf(b, "%lld", (long long)v);
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
