/* learn.c - a learned space trained from an existing one (see learn.h).
 *
 * Called by `lesiond train` (learn_train: one run over every lesion of the source space,
 * seconds to minutes, memory ~ lesions x (dim_in + dim_out) floats) and by the daemon
 * for each batch of added lesions (learn_project_new: one model read and deserialised
 * per trained space, microseconds of arithmetic per lesion). Owns only temporaries; the
 * space registry, store and catalog belong to the caller.
 */
#include "learn.h"
#include "spacedb.h"
#include "store_model.h"
#include "store_vec.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEARN_MAX_MODELS 64	/* trained spaces per source space */
#define LEARN_MAX_DEPTH 4	/* spaces trained from trained spaces */
#define LEARN_JSON_MAX (1u << 20)

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int learn_store_model(struct store *st, const char *to, const char *from, const char *params,
		      int params_oom, const char *loss_curve, int curve_oom, void *blob,
		      size_t blob_len, double train_seconds, char *err)
{
	struct store_model row;

	if (params_oom || curve_oom)
		return errf(err, "model description too large");
	memset(&row, 0, sizeof(row));
	snprintf(row.name, sizeof(row.name), "%s", to);
	snprintf(row.from_space, sizeof(row.from_space), "%s", from);
	row.params = (char *)(uintptr_t)params;
	row.loss_curve = (char *)(uintptr_t)loss_curve;
	row.weights = blob;
	row.weights_len = blob_len;
	row.train_seconds = train_seconds;
	return store_model_put(st, &row, err);
}

int learn_label_policy(struct catalog *cat, const int64_t *ids, size_t n, const int8_t *labels,
		       int64_t labels_n, int eval_split, int force, int *types,
		       size_t *eval_labels, char *err)
{
	size_t i;

	*eval_labels = 0;
	for (i = 0; i < n; i++) {
		struct catalog_entry e;
		int t = -1, in_eval;

		if (catalog_get(cat, ids[i], &e))
			return errf(err, "lesion %lld has a vector but no catalog entry",
				    (long long)ids[i]);
		in_eval = eval_split > 0 && e.split == eval_split;
		if (labels)
			t = ids[i] >= 0 && ids[i] < labels_n ? labels[ids[i]] : -1;
		else
			t = e.type;
		if (t < 1 || t > LESION_NTYPES)
			t = -1;
		if (in_eval) {
			if (labels && t > 0)
				(*eval_labels)++;
			t = -1;	/* the evaluation split's types are never seen */
		}
		types[i] = t;
	}
	if (*eval_labels && !force)
		return errf(err, "the labels give types to %zu lesions of the %s split, which "
			    "evaluation uses; training never sees them: pass --force to ignore "
			    "them, or a labels file without them", *eval_labels,
			    lesion_split_name(eval_split)), LEARN_REFUSED;
	return 0;
}

/* How the new space's vector is made from the projection and the source vector. */
struct mix {
	double keep;		/* keep_source */
	int lo, hi;		/* appended source dimensions */
	double w;		/* their weight */
};

/* The new space's vector from the projection pz (dout floats, unit length or all zeros
 * when the projection failed) and the source vector x: pz itself, or with keep > 0 the
 * concatenation [sqrt(1 - keep^2) pz, keep x / |x|] (unit length: squared distances
 * mix the learned and the source space's in proportions 1 - keep^2 and keep^2); then,
 * with an appended range, x[lo..hi) x w after it and the whole vector L2-normalised.
 * -1 when pz failed. */
static int compose(const float *pz, int dout, const float *x, int din, const struct mix *mx,
		   float *out)
{
	double a = sqrt(1.0 - mx->keep * mx->keep), nx = 0, norm = 0;
	int j, zero = 1, n;

	for (j = 0; j < dout && zero; j++)
		zero = pz[j] == 0.0f;
	if (zero)
		return -1;
	if (!(mx->keep > 0)) {
		memmove(out, pz, (size_t)dout * sizeof(float));
		n = dout;
	} else {
		for (j = 0; j < din; j++)
			nx += (double)x[j] * x[j];
		nx = nx > 0 ? mx->keep / sqrt(nx) : 0;
		for (j = 0; j < dout; j++)
			out[j] = (float)(a * pz[j]);
		for (j = 0; j < din; j++)
			out[dout + j] = (float)(nx * x[j]);
		n = dout + din;
	}
	if (mx->hi <= mx->lo)
		return 0;
	for (j = mx->lo; j < mx->hi; j++)
		out[n++] = (float)(mx->w * x[j]);
	for (j = 0; j < n; j++)
		norm += (double)out[j] * out[j];
	norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
	for (j = 0; j < n; j++)
		out[j] = (float)(out[j] * norm);
	return 0;
}

static int out_dim(int dout, int din, const struct mix *mx)
{
	return (mx->keep > 0 ? dout + din : dout) + (mx->hi > mx->lo ? mx->hi - mx->lo : 0);
}

/* The value of "key": number in a flat JSON object written by params_json, or dflt. */
static double json_num(const char *json, const char *key, double dflt)
{
	char pat[64];
	const char *p;
	double v;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = json ? strstr(json, pat) : NULL;
	if (!p)
		return dflt;
	v = strtod(p + strlen(pat), NULL);
	return isfinite(v) ? v : dflt;
}

/* The source space's ids in ascending order (training must not depend on hash order)
 * and their vectors, row-major. */
static int gather(struct space *src, int64_t **ids, float **x, size_t *n, char *err)
{
	int dim = space_dim(src);
	size_t i, k = 0;

	*x = NULL;
	if (space_ids(src, ids, n, err))
		return -1;
	qsort(*ids, *n, sizeof(int64_t), cmp_i64);
	*x = malloc((*n ? *n : 1) * (size_t)dim * sizeof(float));
	if (!*x)
		return errf(err, "out of memory");
	/* a lesion deleted meanwhile has no vector any more: drop it */
	for (i = 0; i < *n; i++)
		if (space_get_vector(src, (*ids)[i], *x + k * (size_t)dim) == 0)
			(*ids)[k++] = (*ids)[i];
	*n = k;
	return 0;
}

static void params_json(struct sb *b, const struct learn_opts *o, const struct train_params *p,
			const struct learn_report *rep, int dim_in)
{
	sb_addf(b, "{\"from\":\"%s\",\"dim_in\":%d,\"dim\":%d,\"hidden\":%d,\"epochs\":%d,"
		"\"seed\":%llu,\"margin\":%.17g,\"lr\":%.17g,\"batch\":%d,\"anchors_per_epoch\":%d,"
		"\"pseudo_every\":%d,\"pseudo_k\":%d,\"pseudo_weight\":%.17g,\"near_q\":%.17g,"
		"\"similar_q\":%.17g,\"sample_tries\":%d,\"holdout_split\":%d,\"keep\":%.17g,"
		"\"append_lo\":%d,\"append_hi\":%d,\"append_w\":%.17g,\"global_scale\":%d,"
		"\"labels\":\"",
		o->from, dim_in, p->dim_out, p->hidden, p->epochs, (unsigned long long)p->seed,
		p->margin, p->lr, p->batch, p->anchors_per_epoch, p->pseudo_every, p->pseudo_k,
		p->pseudo_weight, p->near_q, p->similar_q, p->sample_tries, p->holdout_split,
		o->keep_source, o->append_lo, o->append_hi, o->append_w, p->global_scale);
	if (o->labels) {
		const char *s = o->labels_name ? o->labels_name : "table";

		for (; *s; s++)
			if (*s == '"' || *s == '\\')
				sb_addf(b, "\\%c", *s);
			else if ((unsigned char)*s < 0x20)
				sb_addf(b, "\\u%04x", (unsigned)(unsigned char)*s);
			else
				sb_addc(b, *s);
	} else {
		sb_adds(b, "catalog");
	}
	sb_addf(b, "\",\"samples\":%zu,\"held_out\":%zu,\"labelled\":%zu,\"pseudo\":%d}",
		rep->samples, rep->held_out, rep->labelled, rep->n_pseudo);
}

static int check_target(struct store *st, struct spaces *r, const struct learn_opts *o,
			const struct space_def *def, char *err)
{
	struct store_model m;
	struct space *dst = spaces_get(r, o->to);
	int rc;

	if (!strcmp(o->from, o->to))
		return errf(err, "--to must name a new space, not the source %s", o->from);
	if (space_def_check(def, err))
		return -1;
	if (!dst)
		return 0;
	rc = store_model_get(st, o->to, &m, err);
	store_model_release(&m);
	if (rc == LSD_ENOTFOUND)
		return errf(err, "space %s exists and was not made by lesiond train; choose "
			    "another name", o->to);
	if (rc)
		return -1;
	if (space_dim(dst) != def->dim)
		return errf(err, "space %s exists with dimension %d, not %d; choose another name "
			    "or the same --dim", o->to, space_dim(dst), def->dim);
	return 0;
}

int learn_train(struct store *st, struct spaces *r, struct catalog *cat,
		const struct learn_opts *o, struct learn_report *rep, char *err)
{
	struct train_params p = o->tp;
	struct train_model *model = NULL;
	struct train_sample *s = NULL;
	struct train_out tout;
	struct space_def def;
	struct space *src;
	struct mix mx;
	struct sb pj, lc;
	int64_t *ids = NULL, *ok_ids = NULL;
	float *x = NULL, *y = NULL, *pz = NULL;
	int *types = NULL, dim_in, dim_out, rc = -1, e;
	size_t n = 0, i, k;
	double t0 = now_ms(), t1;
	void *blob = NULL;
	size_t blob_len = 0;

	memset(rep, 0, sizeof(*rep));
	memset(&tout, 0, sizeof(tout));
	sb_init(&pj, LEARN_JSON_MAX);
	sb_init(&lc, LEARN_JSON_MAX);
	src = spaces_get(r, o->from);
	if (!src) {
		errf(err, "no embedding space '%s'", o->from);
		goto out;
	}
	dim_in = space_dim(src);
	p.holdout_split = o->eval_split;
	if (train_params_check(&p, err))
		goto out;
	memset(&def, 0, sizeof(def));
	snprintf(def.name, sizeof(def.name), "%s", o->to);
	if (!(o->keep_source >= 0 && o->keep_source < 1)) {
		errf(err, "keep_source: %g not in [0, 1)", o->keep_source);
		goto out;
	}
	mx.keep = o->keep_source;
	mx.lo = o->append_lo;
	mx.hi = o->append_hi;
	mx.w = o->append_w;
	if (mx.hi > mx.lo && (mx.lo < 0 || mx.hi > dim_in || !(mx.w > 0 && mx.w < 1e6))) {
		errf(err, "appended dimensions %d:%d (weight %g) do not fit the %d of space %s",
		     mx.lo, mx.hi, mx.w, dim_in, o->from);
		goto out;
	}
	dim_out = out_dim(p.dim_out, dim_in, &mx);
	def.dim = dim_out;
	def.metric = SPACE_L2;
	snprintf(def.index_type, sizeof(def.index_type), "Flat");
	if (o->keep_source > 0)
		snprintf(def.provenance, sizeof(def.provenance),
			 "lesiond train from %s: dim %d + %s x %.3g, hidden %d, epochs %d, seed %llu",
			 o->from, p.dim_out, o->from, o->keep_source, p.hidden, p.epochs,
			 (unsigned long long)p.seed);
	else
		snprintf(def.provenance, sizeof(def.provenance),
			 "lesiond train from %s: dim %d, hidden %d, epochs %d, seed %llu", o->from,
			 p.dim_out, p.hidden, p.epochs, (unsigned long long)p.seed);
	if (mx.hi > mx.lo) {
		size_t pl = strlen(def.provenance);

		snprintf(def.provenance + pl, sizeof(def.provenance) - pl,
			 "; + %s dims %d:%d x %.3g, L2-normalised", o->from, mx.lo, mx.hi, mx.w);
	}
	if (check_target(st, r, o, &def, err))
		goto out;
	if (gather(src, &ids, &x, &n, err))
		goto out;
	if (!n) {
		errf(err, "space %s has no vectors", o->from);
		goto out;
	}
	types = malloc(n * sizeof(int));
	s = calloc(n, sizeof(*s));
	tout.loss_curve = calloc((size_t)p.epochs, sizeof(double));
	if (!types || !s || !tout.loss_curve) {
		errf(err, "out of memory");
		goto out;
	}
	rc = learn_label_policy(cat, ids, n, o->labels, o->labels_n, o->eval_split, o->force, types,
				&rep->eval_labels, err);
	if (rc)
		goto out;
	rc = -1;
	rep->samples = n;
	for (i = 0; i < n; i++) {
		struct catalog_entry ce;

		catalog_get(cat, ids[i], &ce);	/* present: the label policy checked */
		s[i].x = x + i * (size_t)dim_in;
		s[i].type = types[i];
		s[i].id = ids[i];
		s[i].split = ce.split;
		s[i].patient = ce.patient;
		for (k = 0; k < 3; k++)
			s[i].loc[k] = ce.loc[k];
		for (k = 0; k < 2; k++)
			s[i].diam_mm[k] = ce.diam_mm[k];
		if (o->eval_split > 0 && ce.split == o->eval_split)
			rep->held_out++;
		else if (types[i] > 0)
			rep->labelled++;
	}
	t1 = now_ms();
	if (train_fit(s, n, dim_in, &p, &model, &tout, o->progress, o->ctx, err))
		goto out;
	rep->train_seconds = (now_ms() - t1) / 1000.0;
	rep->n_pseudo = tout.n_pseudo;
	rep->final_loss = tout.loss_curve[p.epochs - 1];

	/* every source lesion, the held-out ones included, gets its projection */
	pz = malloc(n * (size_t)p.dim_out * sizeof(float));
	y = malloc(n * (size_t)dim_out * sizeof(float));
	ok_ids = malloc(n * sizeof(int64_t));
	if (!pz || !y || !ok_ids) {
		errf(err, "out of memory");
		goto out;
	}
	train_project_many(model, x, n, pz, p.threads);
	/* a failed row (all zeros) gets no vector; the others keep their order */
	for (i = k = 0; i < n; i++) {
		if (compose(pz + i * (size_t)p.dim_out, p.dim_out, x + i * (size_t)dim_in, dim_in,
			    &mx, y + k * (size_t)dim_out)) {
			rep->failed++;
			continue;
		}
		ok_ids[k++] = ids[i];
	}
	e = spacedb_put(st, r, &def, ok_ids, y, k, err);
	if (e)
		goto out;
	rep->projected = k;

	if (train_model_serialize(model, &blob, &blob_len, err))
		goto out;
	params_json(&pj, o, &p, rep, dim_in);
	sb_addc(&lc, '[');
	for (e = 0; e < p.epochs; e++)
		sb_addf(&lc, "%s%.6g", e ? "," : "", tout.loss_curve[e]);
	sb_addc(&lc, ']');
	if (learn_store_model(st, o->to, o->from, pj.p, pj.oom, lc.p, lc.oom, blob, blob_len,
			      rep->train_seconds, err))
		goto out;
	rc = 0;
out:
	rep->seconds = (now_ms() - t0) / 1000.0;
	train_model_free(model);
	free(blob);
	sb_free(&pj);
	sb_free(&lc);
	free(tout.loss_curve);
	free(s);
	free(types);
	free(ids);
	free(ok_ids);
	free(x);
	free(y);
	free(pz);
	return rc;
}

/* Project ids (those present in from) into the trained space name. */
static int project_into(struct store *st, struct spaces *r, struct space *from, const char *name,
			const int64_t *ids, size_t n, size_t *written, char *err)
{
	struct store_model m;
	struct train_model *model = NULL;
	struct space_def def;
	int64_t *ok_ids = NULL;
	float *x = NULL, *y = NULL, *pz = NULL;
	size_t i, k = 0;
	int rc = -1, din, dout, dnew;
	struct mix mx;

	memset(&m, 0, sizeof(m));
	if (store_model_get(st, name, &m, err) ||
	    train_model_deserialize(m.weights, m.weights_len, &model, err))
		goto out;
	if (store_space_get(st, name, &def, err)) {
		errf(err, "trained space %s is missing", name);
		goto out;
	}
	din = train_model_dim_in(model);
	dout = train_model_dim_out(model);
	mx.keep = json_num(m.params, "keep", 0);
	mx.lo = (int)json_num(m.params, "append_lo", 0);
	mx.hi = (int)json_num(m.params, "append_hi", 0);
	mx.w = json_num(m.params, "append_w", 0);
	dnew = out_dim(dout, din, &mx);
	if (din != space_dim(from) || dnew != def.dim || !(mx.keep >= 0 && mx.keep < 1) ||
	    (mx.hi > mx.lo && (mx.lo < 0 || mx.hi > din))) {
		errf(err, "model %s (%d -> %d) does not fit spaces %s (%d) and %s (%d)", name,
		     din, dnew, space_name(from), space_dim(from), name, def.dim);
		goto out;
	}
	x = malloc((size_t)din * sizeof(float));
	pz = malloc((size_t)dout * sizeof(float));
	y = malloc((n ? n : 1) * (size_t)dnew * sizeof(float));
	ok_ids = malloc((n ? n : 1) * sizeof(int64_t));
	if (!x || !pz || !y || !ok_ids) {
		errf(err, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (space_get_vector(from, ids[i], x))
			continue;
		train_project(model, x, pz);
		if (compose(pz, dout, x, din, &mx, y + k * (size_t)dnew))
			continue;	/* projects to nothing: no vector, as in learn_train */
		ok_ids[k++] = ids[i];
	}
	if (k && spacedb_put(st, r, &def, ok_ids, y, k, err))
		goto out;
	*written += k;
	rc = 0;
out:
	train_model_free(model);
	store_model_release(&m);
	free(x);
	free(pz);
	free(y);
	free(ok_ids);
	return rc;
}

static int project_level(struct store *st, struct spaces *r, const char *from_space,
			 const int64_t *ids, size_t n, size_t *written, int depth, char *err)
{
	char (*names)[SPACE_NAME_MAX] = NULL;
	char e2[LSD_ERRLEN];
	struct space *from = spaces_get(r, from_space);
	size_t nn = 0, i;
	int rc = 0;

	if (!from || depth >= LEARN_MAX_DEPTH)
		return 0;
	names = malloc(LEARN_MAX_MODELS * sizeof(*names));
	if (!names)
		return errf(err, "out of memory");
	if (store_model_names_from(st, from_space, names, LEARN_MAX_MODELS, &nn, err)) {
		free(names);
		return -1;
	}
	for (i = 0; i < nn; i++) {
		if (project_into(st, r, from, names[i], ids, n, written, e2) ||
		    project_level(st, r, names[i], ids, n, written, depth + 1, e2)) {
			if (!rc)
				errf(err, "%s", e2);
			rc = -1;
		}
	}
	free(names);
	return rc;
}

int learn_project_new(struct store *st, struct spaces *r, const char *from_space,
		      const int64_t *ids, size_t n, size_t *written, char *err)
{
	size_t w = 0;
	int rc = project_level(st, r, from_space, ids, n, &w, 0, err);

	if (written)
		*written = w;
	return rc;
}
