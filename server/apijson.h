/* apijson.h - the API's JSON shapes shared by several handlers: a lesion (every field),
 * a lesion summary (for search results), and the lesion filter read from a query string
 * or a JSON object. server/ only. */
#ifndef LSD_APIJSON_H
#define LSD_APIJSON_H

#include "catalog.h"
#include "http.h"
#include "json.h"
#include "lesion.h"
#include "store.h"

void apijson_lesion(struct sb *b, const struct lesion *l);
/* The summary of lesion id in search results, from its catalog entry: ids, type, split,
 * diameters_mm (to 0.1 µm) and normalized_location (to 1e-6). */
void apijson_lesion_summary(struct sb *b, int64_t id, const struct catalog_entry *e);

/* Filters (API.md): type (names or codes, comma-separated or array), split, patient,
 * study, min_diam_mm, max_diam_mm, gender, min_age, max_age, exclude_noisy.
 * Unknown keys in a JSON filter are refused. Returns 0, or -1 with err (-> 422/400). */
int apijson_filter_query(const struct request *r, struct store_filter *f, char *err);
int apijson_filter_json(const struct jv *obj, struct store_filter *f, char *err);
/* One filter key as text (the command line's flags): 0, -1 with err, 1 if key is not a
 * filter key; then apijson_filter_done for the cross-field checks. */
int apijson_filter_kv(struct store_filter *f, const char *key, const char *val, char *err);
int apijson_filter_done(const struct store_filter *f, char *err);
/* 1 if any filter field is set. */
int apijson_filter_is_set(const struct store_filter *f);

/* The lesion named by the route's first {} segment: 0 with *l filled, or -1 with the
 * reply set (404 for a malformed or unknown id, 500 for a store failure). */
int apijson_path_lesion(const struct request *r, struct lesion *l /* OUT */, struct reply *rp);

/* A lesion from a POST body object; unknown keys refused. */
int apijson_lesion_parse(const struct jv *obj, struct lesion *l /* OUT */, char *err);

#endif
