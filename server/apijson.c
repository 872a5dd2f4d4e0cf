/* apijson.c - JSON forms of lesions and filters, shared by the lesion, search and graph
 * handlers. Pure functions over struct lesion / store_filter and the json.h API. */
#include "apijson.h"
#include "app.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static void nums(struct sb *b, const double *v, int n)
{
	int i;

	sb_addc(b, '[');
	for (i = 0; i < n; i++) {
		if (i)
			sb_addc(b, ',');
		jw_num(b, v[i]);
	}
	sb_addc(b, ']');
}

static void type_fields(struct sb *b, int type)
{
	sb_adds(b, ",\"type\":");
	if (type > 0)
		jw_int(b, type);
	else
		sb_adds(b, "null");
	sb_adds(b, ",\"type_name\":");
	jw_str(b, lesion_type_name(type));
}

void apijson_lesion(struct sb *b, const struct lesion *l)
{
	double v[2];
	char g[2] = { l->gender, '\0' };

	sb_adds(b, "{\"id\":");
	jw_int(b, l->id);
	sb_adds(b, ",\"file_name\":");
	jw_str(b, l->file_name);
	sb_addf(b, ",\"patient\":%d,\"study\":%d,\"series\":%d,\"key_slice\":%d", l->patient,
		l->study, l->series, l->key_slice);
	sb_adds(b, ",\"measurement_coordinates\":");
	nums(b, l->recist, 8);
	sb_adds(b, ",\"bounding_box\":");
	nums(b, l->bbox, 4);
	sb_adds(b, ",\"diameters_px\":");
	nums(b, l->diam_px, 2);
	sb_adds(b, ",\"normalized_location\":");
	nums(b, l->loc, 3);
	type_fields(b, l->type);
	sb_adds(b, l->noisy ? ",\"possibly_noisy\":true" : ",\"possibly_noisy\":false");
	sb_addf(b, ",\"slice_range\":[%d,%d]", l->slice_range[0], l->slice_range[1]);
	sb_adds(b, ",\"spacing_mm_px\":");
	nums(b, l->spacing, 3);
	sb_addf(b, ",\"image_size\":[%d,%d]", l->image_size[0], l->image_size[1]);
	sb_adds(b, ",\"dicom_window\":");
	nums(b, l->window, 2);
	sb_adds(b, ",\"gender\":");
	jw_str(b, l->gender == 'U' ? NULL : g);
	sb_adds(b, ",\"age\":");
	jw_num(b, l->age);
	sb_addf(b, ",\"split\":%d,\"split_name\":", l->split);
	jw_str(b, lesion_split_name(l->split));
	v[0] = l->diam_mm[0];
	v[1] = l->diam_mm[1];
	sb_adds(b, ",\"diameters_mm\":");
	nums(b, v, 2);
	sb_adds(b, ",\"image_path\":");
	jw_str(b, l->image_path);
	sb_addf(b, ",\"patch_url\":\"/v1/lesions/%lld/patch.png\"}", (long long)l->id);
}

void apijson_lesion_summary(struct sb *b, int64_t id, const struct catalog_entry *e)
{
	double d[2], loc[3];

	/* jw_int, not sb_addf: this runs k times a similar reply (printf was ~8% of it) */
	sb_adds(b, "{\"id\":");
	jw_int(b, id);
	sb_adds(b, ",\"patient\":");
	jw_int(b, e->patient);
	sb_adds(b, ",\"study\":");
	jw_int(b, e->study);
	sb_adds(b, ",\"series\":");
	jw_int(b, e->series);
	sb_adds(b, ",\"key_slice\":");
	jw_int(b, e->key_slice);
	type_fields(b, e->type);
	sb_adds(b, ",\"split\":");
	jw_int(b, e->split);
	sb_adds(b, ",\"split_name\":");
	jw_str(b, lesion_split_name(e->split));
	for (int k = 0; k < 2; k++)
		d[k] = round((double)e->diam_mm[k] * 1e4) / 1e4;
	for (int k = 0; k < 3; k++)
		loc[k] = round((double)e->loc[k] * 1e6) / 1e6;
	sb_adds(b, ",\"diameters_mm\":");
	nums(b, d, 2);
	sb_adds(b, ",\"normalized_location\":");
	nums(b, loc, 3);
	sb_addc(b, '}');
}

/* "lung,5,liver" -> mask; -1 on an unknown name */
static int type_list(const char *s, unsigned *mask, char *err)
{
	char buf[256], *p, *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return errf(err, "type: list too long");
	memcpy(buf, s, strlen(s) + 1);
	for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		int t;

		while (*p == ' ')
			p++;
		if (!strcasecmp(p, "null") || !strcasecmp(p, "unlabelled") || !strcmp(p, "-1")) {
			*mask |= 1u;
			continue;
		}
		t = lesion_type_parse(p);
		if (t < 0)
			return errf(err, "type: unknown lesion type '%.40s' (use 1..8 or bone, "
				    "abdomen, mediastinum, liver, lung, kidney, soft_tissue, pelvis)", p);
		*mask |= 1u << t;
	}
	return 0;
}

static int split_list(const char *s, unsigned *mask, char *err)
{
	char buf[128], *p, *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return errf(err, "split: list too long");
	memcpy(buf, s, strlen(s) + 1);
	for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		int sp;

		while (*p == ' ')
			p++;
		sp = lesion_split_parse(p);
		if (sp < 0)
			return errf(err, "split: unknown split '%.20s' (use train, val, test or 1..3)", p);
		*mask |= 1u << sp;
	}
	return 0;
}

/* Apply one filter key given as text. 1 if the key is not a filter key. */
static int filter_set(struct store_filter *f, const char *k, const char *v, char *err)
{
	int64_t i;
	double d;

	if (!strcmp(k, "type"))
		return type_list(v, &f->type_mask, err);
	if (!strcmp(k, "split"))
		return split_list(v, &f->split_mask, err);
	if (!strcmp(k, "patient") || !strcmp(k, "study")) {
		if (parse_i64(v, 1, 999999, &i))
			return errf(err, "%s: '%.20s' is not a positive integer", k, v);
		if (!strcmp(k, "patient"))
			f->patient = i;
		else
			f->study = i;
		return 0;
	}
	if (!strcmp(k, "min_diam_mm") || !strcmp(k, "max_diam_mm") || !strcmp(k, "min_age") ||
	    !strcmp(k, "max_age")) {
		if (parse_f64(v, &d) || d < 0)
			return errf(err, "%s: '%.20s' is not a non-negative number", k, v);
		if (!strcmp(k, "min_diam_mm"))
			f->min_diam_mm = d;
		else if (!strcmp(k, "max_diam_mm"))
			f->max_diam_mm = d;
		else if (!strcmp(k, "min_age"))
			f->min_age = d;
		else
			f->max_age = d;
		return 0;
	}
	if (!strcmp(k, "gender")) {
		if (strcasecmp(v, "M") && strcasecmp(v, "F"))
			return errf(err, "gender: '%.8s' is not M or F", v);
		f->gender = (char)(v[0] == 'm' ? 'M' : v[0] == 'f' ? 'F' : v[0]);
		return 0;
	}
	if (!strcmp(k, "exclude_noisy")) {
		if (!strcmp(v, "true") || !strcmp(v, "1"))
			f->exclude_noisy = 1;
		else if (!strcmp(v, "false") || !strcmp(v, "0"))
			f->exclude_noisy = 0;
		else
			return errf(err, "exclude_noisy: '%.8s' is not true or false", v);
		return 0;
	}
	return 1;
}

static int filter_check(const struct store_filter *f, char *err)
{
	if (f->min_diam_mm > 0 && f->max_diam_mm > 0 && f->min_diam_mm > f->max_diam_mm)
		return errf(err, "min_diam_mm is larger than max_diam_mm");
	if (!isnan(f->min_age) && !isnan(f->max_age) && f->min_age > f->max_age)
		return errf(err, "min_age is larger than max_age");
	return 0;
}

int apijson_filter_kv(struct store_filter *f, const char *key, const char *val, char *err)
{
	return filter_set(f, key, val, err);
}

int apijson_filter_is_set(const struct store_filter *f)
{
	return f->patient || f->study || f->type_mask || f->split_mask || f->min_diam_mm > 0 ||
	       f->max_diam_mm > 0 || f->gender || !isnan(f->min_age) || !isnan(f->max_age) ||
	       f->exclude_noisy;
}

int apijson_filter_done(const struct store_filter *f, char *err)
{
	return filter_check(f, err);
}

int apijson_filter_query(const struct request *r, struct store_filter *f, char *err)
{
	int i;

	store_filter_init(f);
	for (i = 0; i < r->nquery; i++) {
		int rc = filter_set(f, r->qkey[i], r->qval[i], err);

		if (rc < 0)
			return -1;
	}
	return filter_check(f, err);
}

int apijson_filter_json(const struct jv *obj, struct store_filter *f, char *err)
{
	struct jv *m;

	store_filter_init(f);
	if (!obj || json_is_null(obj))
		return 0;
	if (!json_is_obj(obj))
		return errf(err, "filter: must be an object");
	for (m = json_first(obj); m; m = json_next(m)) {
		const char *k = json_key(m);
		char v[256];
		int rc;

		if (json_is_str(m)) {
			snprintf(v, sizeof(v), "%s", json_str(m));
		} else if (json_is_num(m)) {
			snprintf(v, sizeof(v), "%.17g", json_num(m));
		} else if (json_is_bool(m)) {
			snprintf(v, sizeof(v), "%s", json_true(m) ? "true" : "false");
		} else if (json_is_arr(m)) {
			struct sb b;
			struct jv *it;

			sb_init(&b, sizeof(v) - 1);
			for (it = json_first(m); it; it = json_next(it)) {
				if (b.len)
					sb_addc(&b, ',');
				if (json_is_str(it))
					sb_adds(&b, json_str(it));
				else if (json_is_num(it))
					sb_addf(&b, "%.17g", json_num(it));
				else if (json_is_null(it))
					sb_adds(&b, "null");
				else {
					sb_free(&b);
					return errf(err, "filter.%s: list items must be names or numbers", k);
				}
			}
			snprintf(v, sizeof(v), "%s", b.p ? b.p : "");
			if (b.oom) {
				sb_free(&b);
				return errf(err, "filter.%s: list too long", k);
			}
			sb_free(&b);
		} else {
			return errf(err, "filter.%s: unsupported value type", k);
		}
		rc = filter_set(f, k, v, err);
		if (rc < 0)
			return -1;
		if (rc > 0 && strcmp(k, "same_patient"))
			return errf(err, "filter: unknown key '%.40s'", k);
	}
	return filter_check(f, err);
}

static int get_nums(const struct jv *o, const char *k, double *out, int n, int required,
		    char *err)
{
	struct jv *a = json_get(o, k);
	int i;

	if (!a) {
		if (required)
			return errf(err, "%s: required", k);
		return 1;
	}
	if (!json_is_arr(a) || json_len(a) != n)
		return errf(err, "%s: must be an array of %d numbers", k, n);
	for (i = 0; i < n; i++) {
		struct jv *x = json_at(a, i);

		if (!json_is_num(x) || !isfinite(json_num(x)))
			return errf(err, "%s[%d]: must be a number", k, i);
		out[i] = json_num(x);
	}
	return 0;
}

static int get_int(const struct jv *o, const char *k, int lo, int hi, int *out, int required,
		   char *err)
{
	struct jv *x = json_get(o, k);
	double v;

	if (!x) {
		if (required)
			return errf(err, "%s: required", k);
		return 1;
	}
	v = json_num(x);
	if (!json_is_num(x) || v != floor(v) || v < lo || v > hi)
		return errf(err, "%s: must be an integer in %d..%d", k, lo, hi);
	*out = (int)v;
	return 0;
}

int apijson_lesion_parse(const struct jv *o, struct lesion *l, char *err)
{
	static const char *const known[] = {
		"id", "file_name", "patient", "study", "series", "key_slice",
		"measurement_coordinates", "bounding_box", "diameters_px", "normalized_location",
		"type", "type_name", "possibly_noisy", "slice_range", "spacing_mm_px", "image_size",
		"dicom_window", "gender", "age", "split", "split_name", "diameters_mm",
		"image_path", "patch_url", NULL
	};
	const char *unknown;
	struct jv *x;
	double v[4];
	int rc;

	memset(l, 0, sizeof(*l));
	if (!json_is_obj(o))
		return errf(err, "a lesion must be a JSON object");
	unknown = json_unknown_key(o, known);
	if (unknown)
		return errf(err, "unknown field '%.40s'", unknown);
	x = json_get(o, "id");
	if (x && !json_is_null(x)) {
		double d = json_num(x);

		if (!json_is_num(x) || d != floor(d) || d < 1 || d > 9e15)
			return errf(err, "id: must be a positive integer");
		l->id = (int64_t)d;
	}
	if (get_int(o, "patient", 1, 999999, &l->patient, 1, err) < 0 ||
	    get_int(o, "study", 1, 99, &l->study, 1, err) < 0 ||
	    get_int(o, "series", 0, 99, &l->series, 1, err) < 0 ||
	    get_int(o, "key_slice", 0, 9999, &l->key_slice, 1, err) < 0 ||
	    get_nums(o, "measurement_coordinates", l->recist, 8, 1, err) < 0 ||
	    get_nums(o, "normalized_location", l->loc, 3, 1, err) < 0 ||
	    get_nums(o, "spacing_mm_px", l->spacing, 3, 1, err) < 0)
		return -1;
	rc = get_nums(o, "bounding_box", l->bbox, 4, 0, err);
	if (rc < 0)
		return -1;
	if (rc > 0) {	/* DeepLesion's rule: the RECIST endpoints' extent padded by 5 px */
		l->bbox[0] = fmin(fmin(l->recist[0], l->recist[2]), fmin(l->recist[4], l->recist[6])) - 5;
		l->bbox[1] = fmin(fmin(l->recist[1], l->recist[3]), fmin(l->recist[5], l->recist[7])) - 5;
		l->bbox[2] = fmax(fmax(l->recist[0], l->recist[2]), fmax(l->recist[4], l->recist[6])) + 5;
		l->bbox[3] = fmax(fmax(l->recist[1], l->recist[3]), fmax(l->recist[5], l->recist[7])) + 5;
	}
	rc = get_nums(o, "diameters_px", l->diam_px, 2, 0, err);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		l->diam_px[0] = hypot(l->recist[2] - l->recist[0], l->recist[3] - l->recist[1]);
		l->diam_px[1] = hypot(l->recist[6] - l->recist[4], l->recist[7] - l->recist[5]);
	}
	x = json_get(o, "type");
	l->type = -1;
	if (x && !json_is_null(x)) {
		if (json_is_str(x))
			l->type = lesion_type_parse(json_str(x));
		else if (get_int(o, "type", -1, 8, &l->type, 0, err) < 0)
			return -1;
		if (l->type == 0 || (l->type < 0 && json_is_str(x)))
			return errf(err, "type: unknown lesion type");
	}
	x = json_get(o, "possibly_noisy");
	if (x && !json_is_bool(x))
		return errf(err, "possibly_noisy: must be true or false");
	l->noisy = json_true(x);
	rc = get_nums(o, "slice_range", v, 2, 0, err);
	if (rc < 0)
		return -1;
	/* range checks before the casts: a double outside int's range is undefined there */
	if (!rc && (v[0] != floor(v[0]) || v[1] != floor(v[1]) || v[0] < 0 || v[1] < 0 ||
		    v[0] > 99999 || v[1] > 99999))
		return errf(err, "slice_range: must be two integers in 0..99999");
	l->slice_range[0] = rc ? l->key_slice : (int)v[0];
	l->slice_range[1] = rc ? l->key_slice : (int)v[1];
	rc = get_nums(o, "image_size", v, 2, 0, err);
	if (rc < 0)
		return -1;
	if (!rc && (v[0] != floor(v[0]) || v[1] != floor(v[1]) || v[0] < 1 || v[1] < 1 ||
		    v[0] > 4096 || v[1] > 4096))
		return errf(err, "image_size: must be two integers in 1..4096");
	l->image_size[0] = rc ? 512 : (int)v[0];
	l->image_size[1] = rc ? 512 : (int)v[1];
	rc = get_nums(o, "dicom_window", l->window, 2, 0, err);
	if (rc < 0)
		return -1;
	if (rc) {	/* a soft-tissue window when none is given */
		l->window[0] = -160;
		l->window[1] = 240;
	}
	x = json_get(o, "gender");
	l->gender = 'U';
	if (x && !json_is_null(x)) {
		const char *g = json_str(x);

		if (!g || (strcmp(g, "M") && strcmp(g, "F")))
			return errf(err, "gender: must be \"M\", \"F\" or null");
		l->gender = g[0];
	}
	x = json_get(o, "age");
	l->age = NAN;
	if (x && !json_is_null(x)) {
		if (!json_is_num(x))
			return errf(err, "age: must be a number or null");
		l->age = json_num(x);
	}
	x = json_get(o, "split");
	l->split = 1;
	if (x) {
		if (json_is_str(x))
			l->split = lesion_split_parse(json_str(x));
		else if (get_int(o, "split", 1, 3, &l->split, 0, err) < 0)
			return -1;
		if (l->split < 1)
			return errf(err, "split: must be 1..3 or train, val, test");
	}
	snprintf(l->file_name, sizeof(l->file_name), "%06d_%02d_%02d_%03d.png", l->patient,
		 l->study, l->series, l->key_slice);
	if (lesion_validate(l, err))
		return -1;
	lesion_derive(l);
	return 0;
}

int apijson_path_lesion(const struct request *r, struct lesion *l, struct reply *rp)
{
	char err[LSD_ERRLEN];
	int64_t id;
	int rc;

	if (r->nargs < 1 || parse_i64(r->args[0], 1, INT64_MAX, &id)) {
		reply_problem(rp, 404, "lesion id must be a positive integer, got '%.40s'",
			      r->nargs ? r->args[0] : "");
		return -1;
	}
	rc = store_lesion_get(r->app->st, id, l, err);
	if (rc == LSD_ENOTFOUND) {
		reply_problem(rp, 404, "no lesion %lld", (long long)id);
		return -1;
	}
	if (rc) {
		reply_problem(rp, 500, "%s", err);
		return -1;
	}
	return 0;
}
