/* json.h - JSON in and out. The only user of cJSON is server/json.c.
 *
 * Reading: a thin, read-only view over a parsed document (struct jv is opaque).
 * Writing: appends to a capped struct sb (util.h) directly - faster than building a tree,
 * and numbers are printed in the shortest form that reads back to the same double.
 * Thread-safe: cJSON's global error pointer is never used; errors come back as offsets.
 */
#ifndef LSD_JSON_H
#define LSD_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct jv;

/* Parse exactly one JSON value from s[0..n). 0, or -1 with err ("at byte N: ..."). */
int json_parse(const char *s, size_t n, struct jv **out /* OUT */, char *err);
void json_free(struct jv *v);

struct jv *json_get(const struct jv *obj, const char *key);	/* NULL if absent */
int json_is_obj(const struct jv *v);
int json_is_arr(const struct jv *v);
int json_is_num(const struct jv *v);
int json_is_str(const struct jv *v);
int json_is_bool(const struct jv *v);
int json_is_null(const struct jv *v);
double json_num(const struct jv *v);
const char *json_str(const struct jv *v);
int json_true(const struct jv *v);
int json_len(const struct jv *v);	/* array or object size */
struct jv *json_at(const struct jv *arr, int i);
/* Iterate children (array items or object members): first, then next; key for members. */
struct jv *json_first(const struct jv *v);
struct jv *json_next(const struct jv *v);
const char *json_key(const struct jv *member);

/* The first member of obj whose key is not in the NULL-terminated list, or NULL. */
const char *json_unknown_key(const struct jv *obj, const char *const *known);

/* Writers (append to b; errors latch in b->oom). */
void jw_str(struct sb *b, const char *s);	/* a quoted, escaped string; NULL -> null */
void jw_num(struct sb *b, double v);		/* NaN/Inf -> null */
void jw_int(struct sb *b, int64_t v);
void jw_key(struct sb *b, const char *k);	/* "k": */
/* Is the buffer valid UTF-8 without NUL bytes? */
int json_utf8_ok(const char *s, size_t n);

#endif
