/* learn_cnn.c - the lesion network as a space (see learn_cnn.h).
 *
 * Load: patch extraction decodes 3-5 PNG slices a lesion (~10 ms, 2 threads); training
 * is cnn_fit's; memory ~ lesions x 3 x (side+32)^2 x 2 bytes of cached patches (384 MB
 * for 10,000 lesions at the defaults, 1.3 GB for DeepLesion's 32,735).
 */
#include "learn_cnn.h"
#include "descriptor.h"
#include "learn.h"
#include "spacedb.h"
#include "store_vec.h"
#include "store_model.h"
#include "train.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LCNN_JSON_MAX (1u << 20)
#define LCNN_APP 5
#define LCNN_MAX_MODELS 64

struct lesions {
	struct lesion *v;
	size_t n;
};

/* The appended block's raw values: normalised x, y, z, ln long, ln short (mm). */
static void app_raw(const struct lesion *l, double *v)
{
	int k;

	for (k = 0; k < 3; k++)
		v[k] = l->loc[k];
	v[3] = l->diam_mm[0] > 0 ? log(l->diam_mm[0]) : NAN;
	v[4] = l->diam_mm[1] > 0 ? log(l->diam_mm[1]) : v[3];
}

struct mix {
	double w, mean[LCNN_APP], sd[LCNN_APP];
	int fuse;		/* the FC layer's extra inputs: the builtin appearance block */
	int loc_code;		/* ... then the location code (older models: 0) */
	double fuse_scale;	/* fused builtin appearance block x this */
	struct cnn_tta tta;	/* test-time views (old models: none) */
};

/* The location code: the normalised z at LCNN_ZC Gaussian radial-basis centres 1 /
 * (LCNN_ZC - 1) apart (sd 0.7 x the spacing), then x and y at LCNN_XYC each, so that the
 * FC layer, linear in its inputs, can draw a sharp type boundary in z (README, "The
 * lesion network"). An unknown location (a region query without one) codes as zeros. */
#define LCNN_ZC 21
#define LCNN_XYC 11
#define LCNN_CODE (LCNN_ZC + 2 * LCNN_XYC)

static void loc_code(const double loc[3], float *o)
{
	static const int nc[3] = { LCNN_XYC, LCNN_XYC, LCNN_ZC };
	static const int at[3] = { LCNN_ZC, LCNN_ZC + LCNN_XYC, 0 };
	int a, k;

	for (a = 0; a < 3; a++) {
		double step = 1.0 / (nc[a] - 1), sd = 0.7 * step;

		for (k = 0; k < nc[a]; k++) {
			double t = (loc[a] - k * step) / sd;

			o[at[a] + k] = isfinite(t) ? (float)exp(-0.5 * t * t) : 0.f;
		}
	}
}

/* The number of extra FC inputs of a model with mx's layout. */
static int aux_dim(const struct mix *mx)
{
	return (mx->fuse ? DESC_APP_DIM : 0) + (mx->loc_code ? LCNN_CODE : 0);
}

/* One lesion's extra FC inputs, aux_dim(mx) floats in o: with mx->fuse the built-in
 * descriptor's appearance block app (DESC_APP_DIM floats) times mx->fuse_scale, then with
 * mx->loc_code the code of loc (NULL: unknown, zeros). */
static void aux_row(const struct mix *mx, const float *app, const double *loc, float *o)
{
	int j;

	for (j = 0; mx->fuse && j < DESC_APP_DIM; j++)
		o[j] = (float)(app[j] * mx->fuse_scale);
	if (mx->loc_code && loc)
		loc_code(loc, o + (mx->fuse ? DESC_APP_DIM : 0));
}

static int tta_check(const struct cnn_tta *t, char *err)
{
	if ((t->orient != 1 && t->orient != 2 && t->orient != 4) ||
	    !(t->shift_mm >= 0 && t->shift_mm <= 20))
		return errf(err, "test-time views: orientations %d not 1, 2 or 4, or shift %g mm "
			    "not in 0..20", t->orient, t->shift_mm);
	return 0;
}

/* out = normalize([y, w/sqrt(5) z(app)]); dim + (w > 0 ? 5 : 0) floats. known = 0: the
 * location block is the mean (z = 0). */
static void compose(const float *y, int dim, const struct lesion *l, const struct mix *mx,
		    int known, float *out)
{
	double v[LCNN_APP], norm = 0;
	int j, n = dim;

	memcpy(out, y, (size_t)dim * sizeof(float));
	if (!(mx->w > 0))
		return;
	app_raw(l, v);
	for (j = 0; j < LCNN_APP; j++) {
		double z = (v[j] - mx->mean[j]) / mx->sd[j];

		if (!isfinite(z) || (j < 3 && !known))
			z = 0;
		z = z > 5 ? 5 : z < -5 ? -5 : z;
		out[n++] = (float)(mx->w / sqrt((double)LCNN_APP) * z);
	}
	for (j = 0; j < n; j++)
		norm += (double)out[j] * out[j];
	norm = norm > 0 ? 1 / sqrt(norm) : 0;
	for (j = 0; j < n; j++)
		out[j] = (float)(out[j] * norm);
}

struct pjob {
	const struct lesion *l;
	const struct cnn_arch *a;
	const char *images;
	struct cnn_patch *p;
	int *rc;
	char *errs;
	size_t n;
	int threads;
};

static void patch_worker(void *ctx, int tid)
{
	struct pjob *j = ctx;
	int ps = cnn_patch_side(j->a), k;
	size_t i, np = (size_t)CNN_SLICES * ps * ps;
	float *buf = malloc(np * sizeof(float));

	for (i = (size_t)tid; i < j->n; i += (size_t)j->threads) {
		int16_t *h;

		j->p[i].hu = NULL;
		if (!buf) {
			j->rc[i] = errf(j->errs + i * LSD_ERRLEN, "out of memory");
			continue;
		}
		j->rc[i] = desc_patch(&j->l[i], desc_slice_files, (void *)(uintptr_t)j->images, ps,
				      j->a->mm_px, buf, j->errs + i * LSD_ERRLEN);
		if (j->rc[i] != LSD_OK)
			continue;
		h = malloc(np * sizeof(int16_t));
		if (!h) {
			j->rc[i] = errf(j->errs + i * LSD_ERRLEN, "out of memory");
			continue;
		}
		for (k = 0; (size_t)k < np; k++) {
			double v = nearbyint(buf[k]);

			h[k] = (int16_t)(v < -32768 ? -32768 : v > 32767 ? 32767 : v);
		}
		j->p[i].hu = h;
	}
	free(buf);
}

/* Cached patches of n lesions; rc[i] desc_patch's status. */
static int patches(const struct lesion *l, size_t n, const struct cnn_arch *a,
		   const char *images, int threads, struct cnn_patch *p, int *rc, char **errs,
		   char *err)
{
	struct pjob j;

	*errs = malloc((n ? n : 1) * LSD_ERRLEN);
	if (!*errs)
		return errf(err, "out of memory");
	j.l = l;
	j.a = a;
	j.images = images;
	j.p = p;
	j.rc = rc;
	j.errs = *errs;
	j.n = n;
	j.threads = threads < 1 ? 1 : threads > 16 ? 16 : threads;
	train_par_run(j.threads, patch_worker, &j);
	return 0;
}

/* The extra FC inputs (aux_row) of lesions l[0..n) with a patch, in buf (n x aux_dim,
 * caller frees), pointed to by pa[i].aux; fused: the block is the lesion's stored
 * `builtin` vector's, and a lesion without one loses its patch (it is reported as
 * missing). mx->fuse_scale <= 0 (training): first set to 1 / the RMS of those blocks. */
static int aux_fill(struct spaces *r, const struct lesion *l, size_t n, struct cnn_patch *pa,
		    struct mix *mx, float **buf, char *err)
{
	struct space *b = r ? spaces_get(r, "builtin") : NULL;
	size_t i, j, na = (size_t)aux_dim(mx);
	float v[DESC_DIM];
	double ss = 0, cnt = 0;

	*buf = NULL;
	if (mx->fuse && (!b || space_dim(b) != DESC_DIM))
		return errf(err, "a model fused with the built-in descriptor needs the builtin "
			    "space (lesiond embed)");
	*buf = calloc(n + 1, na * sizeof(float));
	if (!*buf)
		return errf(err, "out of memory");
	for (i = 0; mx->fuse && !(mx->fuse_scale > 0) && i < n; i++)
		if (pa[i].hu && !space_get_vector(b, l[i].id, v))
			for (j = 0; j < DESC_APP_DIM; j++, cnt++)
				ss += (double)v[DESC_APP_OFF + j] * v[DESC_APP_OFF + j];
	if (!(mx->fuse_scale > 0))
		mx->fuse_scale = ss > 0 ? 1 / sqrt(ss / cnt) : 1;
	for (i = 0; i < n; i++) {
		if (!pa[i].hu)
			continue;
		if (mx->fuse && space_get_vector(b, l[i].id, v)) {
			free(pa[i].hu);
			pa[i].hu = NULL;
			continue;
		}
		pa[i].aux = *buf + i * na;
		aux_row(mx, v + DESC_APP_OFF, l[i].loc, *buf + i * na);
	}
	return 0;
}

static void patches_free(struct cnn_patch *p, size_t n)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < n; i++)
		free(p[i].hu);
	free(p);
}

/* "key":number in the flat JSON written below, or dflt. */
static double json_num(const char *json, const char *key, double dflt)
{
	char pat[64];
	const char *q;
	double v;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	q = json ? strstr(json, pat) : NULL;
	if (!q)
		return dflt;
	v = strtod(q + strlen(pat), NULL);
	return isfinite(v) ? v : dflt;
}

static void mix_from_json(const char *json, struct mix *mx)
{
	char k[32];
	int j;

	mx->w = json_num(json, "append_w", 0);
	mx->fuse = (int)json_num(json, "fuse_builtin", -1);	/* -1: stored before the key */
	mx->loc_code = json_num(json, "loc_code", 0) > 0;
	mx->fuse_scale = json_num(json, "fuse_scale", 1);
	mx->tta.orient = (int)json_num(json, "tta_orient", 1);
	mx->tta.shift_mm = json_num(json, "tta_shift_mm", 0);
	for (j = 0; j < LCNN_APP; j++) {
		snprintf(k, sizeof(k), "app_mean%d", j);
		mx->mean[j] = json_num(json, k, 0);
		snprintf(k, sizeof(k), "app_sd%d", j);
		mx->sd[j] = json_num(json, k, 1);
		if (!(mx->sd[j] > 0))
			mx->sd[j] = 1;
	}
}

static int space_def_for(const char *name, const struct cnn_params *p, const struct mix *mx,
			 struct space_def *def, char *err)
{
	memset(def, 0, sizeof(*def));
	snprintf(def->name, sizeof(def->name), "%s", name);
	def->dim = p->arch.dim + (mx->w > 0 ? LCNN_APP : 0);
	def->metric = SPACE_L2;
	snprintf(def->index_type, sizeof(def->index_type), "Flat");
	snprintf(def->provenance, sizeof(def->provenance),
		 "lesiond train from images: CNN %d px at %.3g mm/px, width %d, dim %d, epochs %d, "
		 "seed %llu%s%s%s", p->arch.side, p->arch.mm_px, p->arch.width, p->arch.dim,
		 p->tp.epochs, (unsigned long long)p->tp.seed,
		 mx->fuse ? "; fused with the builtin appearance block" : "",
		 mx->loc_code ? "; location code" : "",
		 mx->w > 0 ? "; + location and size, L2-normalised" : "");
	return space_def_check(def, err);
}

static void note(const struct learn_cnn_opts *o, const struct lesion *l, const char *e)
{
	char line[LSD_ERRLEN + 64];

	if (!o->note)
		return;
	snprintf(line, sizeof(line), "lesion %lld: %s", (long long)l->id, e);
	o->note(o->ctx, line);
}

static void curve(struct sb *b, const double *v, int n)
{
	int e;

	sb_addc(b, '[');
	for (e = 0; e < n; e++)
		if (v[e] < 0)
			sb_addf(b, "%snull", e ? "," : "");
		else
			sb_addf(b, "%s%.6g", e ? "," : "", v[e]);
	sb_addc(b, ']');
}

static int check_target(struct store *st, struct spaces *r, const char *to, int dim, char *err)
{
	struct store_model m;
	struct space *dst = spaces_get(r, to);
	int rc;

	if (!dst)
		return 0;
	rc = store_model_get(st, to, &m, err);
	if (rc == 0 && strcmp(m.from_space, LEARN_CNN_FROM))
		rc = LSD_ENOTFOUND;
	store_model_release(&m);
	if (rc == LSD_ENOTFOUND)
		return errf(err, "space %s exists and was not made by lesiond train --from images; "
			    "choose another name", to);
	if (rc)
		return -1;
	if (space_dim(dst) != dim)
		return errf(err, "space %s exists with dimension %d, not %d; choose another name "
			    "or the same --dim", to, space_dim(dst), dim);
	return 0;
}

int learn_cnn_train(struct store *st, struct spaces *r, struct catalog *cat,
		    const struct learn_cnn_opts *o, struct learn_cnn_report *rep, char *err)
{
	struct lesions all = { NULL, 0 };
	struct cnn_patch *pa = NULL, *sp = NULL;
	struct train_sample *s = NULL;
	struct cnn_model *model = NULL;
	struct space_def def;
	struct mix mx;
	struct sb pj, lc;
	int64_t *ids = NULL;
	int *rcs = NULL, *types = NULL, rc = -1, j, n_pseudo = 0, dim;
	char *errs = NULL;
	double *loss = NULL, *val = NULL, t0 = now_ms(), t1, cnt = 0;
	float *y = NULL, *out = NULL, *aux = NULL;
	void *blob = NULL;
	size_t blob_len, i, k, ns = 0;

	memset(rep, 0, sizeof(*rep));
	memset(&mx, 0, sizeof(mx));
	sb_init(&pj, LCNN_JSON_MAX);
	sb_init(&lc, LCNN_JSON_MAX);
	if (!o->to || !o->to[0] || !strcmp(o->to, LEARN_CNN_FROM)) {
		errf(err, "--to must name a new space");
		goto out;
	}
	if (!o->images || !o->images[0]) {
		errf(err, "--from images needs --images DIR (the PNG root)");
		goto out;
	}
	if (!(o->append_w >= 0 && o->append_w <= 100)) {
		errf(err, "append weight %g not in 0..100", o->append_w);
		goto out;
	}
	mx.w = o->append_w;
	mx.tta = o->tta;
	mx.fuse = o->fuse != 0;
	mx.loc_code = o->loc_code != 0;
	if (tta_check(&mx.tta, err))
		goto out;
	if (space_def_for(o->to, &o->cp, &mx, &def, err) ||
	    check_target(st, r, o->to, def.dim, err))
		goto out;
	if (store_lesion_all(st, &all.v, &all.n, err))
		goto out;
	rep->lesions = all.n;
	if (!all.n) {
		errf(err, "no lesions");
		goto out;
	}
	pa = calloc(all.n, sizeof(*pa));
	rcs = calloc(all.n, sizeof(int));
	ids = malloc(all.n * sizeof(int64_t));
	types = malloc(all.n * sizeof(int));
	s = calloc(all.n, sizeof(*s));
	sp = calloc(all.n, sizeof(*sp));
	loss = calloc((size_t)o->cp.tp.epochs, sizeof(double));
	val = calloc((size_t)o->cp.tp.epochs, sizeof(double));
	if (!pa || !rcs || !ids || !types || !s || !sp || !loss || !val) {
		errf(err, "out of memory");
		goto out;
	}
	/* patches; lesions without images are reported and skipped */
	if (patches(all.v, all.n, &o->cp.arch, o->images, o->cp.tp.threads, pa, rcs, &errs, err))
		goto out;
	for (i = 0; i < all.n; i++)
		if (rcs[i] != LSD_OK) {
			if (rcs[i] == LSD_ENOTFOUND)
				rep->missing++;
			else
				rep->failed++;
			if (rep->missing + rep->failed <= 5)
				note(o, &all.v[i], errs + i * LSD_ERRLEN);
		}
	if (aux_dim(&mx)) {	/* extra inputs; fused: no builtin vector = missing */
		size_t had = 0;

		for (i = 0; i < all.n; i++)
			had += pa[i].hu != NULL;
		if (aux_fill(r, all.v, all.n, pa, &mx, &aux, err))
			goto out;
		for (i = 0; i < all.n; i++)
			had -= pa[i].hu != NULL;
		rep->missing += had;
	}
	rep->patch_seconds = (now_ms() - t0) / 1000.0;
	/* the samples: lesions with a patch, in id order */
	for (i = 0; i < all.n; i++)
		if (pa[i].hu) {
			ids[ns] = all.v[i].id;
			sp[ns] = pa[i];
			ns++;
		}
	if (!ns) {
		errf(err, "no lesion has images under %s", o->images);
		goto out;
	}
	rc = learn_label_policy(cat, ids, ns, o->labels, o->labels_n, o->eval_split, o->force,
				types, &rep->eval_labels, err);
	if (rc)
		goto out;
	rc = -1;
	for (i = k = 0; i < all.n; i++) {
		double v[LCNN_APP];

		if (!pa[i].hu)
			continue;
		s[k].type = types[k];
		s[k].id = all.v[i].id;
		s[k].split = all.v[i].split;
		s[k].patient = all.v[i].patient;
		for (j = 0; j < 3; j++)
			s[k].loc[j] = all.v[i].loc[j];
		s[k].diam_mm[0] = all.v[i].diam_mm[0];
		s[k].diam_mm[1] = all.v[i].diam_mm[1];
		if (o->eval_split > 0 && s[k].split == o->eval_split)
			rep->held_out++;
		else if (types[k] > 0)
			rep->labelled++;
		/* standardisation of the appended block over every lesion with images */
		app_raw(&all.v[i], v);
		if (isfinite(v[3]) && isfinite(v[4])) {
			for (j = 0; j < LCNN_APP; j++) {
				mx.mean[j] += v[j];
				mx.sd[j] += v[j] * v[j];
			}
			cnt++;
		}
		k++;
	}
	rep->samples = ns;
	for (j = 0; j < LCNN_APP; j++) {
		mx.mean[j] = cnt > 0 ? mx.mean[j] / cnt : 0;
		mx.sd[j] = cnt > 0 ? sqrt(LSD_MAX(mx.sd[j] / cnt - mx.mean[j] * mx.mean[j], 0)) : 1;
		if (!(mx.sd[j] > 1e-9))
			mx.sd[j] = 1;
	}
	{
		struct cnn_params cp = o->cp;

		cp.tp.holdout_split = o->eval_split;
		cp.arch.aux = aux_dim(&mx);
		t1 = now_ms();
		if (cnn_fit(s, sp, ns, &cp, &model, loss, val, &n_pseudo, o->progress, o->ctx, err))
			goto out;
		rep->train_seconds = (now_ms() - t1) / 1000.0;
	}
	rep->n_pseudo = n_pseudo;
	rep->final_loss = loss[o->cp.tp.epochs - 1];
	rep->final_val = val[o->cp.tp.epochs - 1];
	dim = o->cp.arch.dim;
	y = malloc(ns * (size_t)dim * sizeof(float));
	out = malloc(ns * (size_t)def.dim * sizeof(float));
	if (!y || !out) {
		errf(err, "out of memory");
		goto out;
	}
	cnn_embed_many_tta(model, sp, ns, &mx.tta, y, o->cp.tp.threads);
	for (i = k = 0; i < all.n; i++) {
		if (!pa[i].hu)
			continue;
		compose(y + k * (size_t)dim, dim, &all.v[i], &mx, 1, out + k * (size_t)def.dim);
		k++;
	}
	if (spacedb_put(st, r, &def, ids, out, ns, err))
		goto out;
	rep->stored = ns;
	if (cnn_model_serialize(model, &blob, &blob_len, err))
		goto out;
	sb_addf(&pj, "{\"from\":\"images\",\"side\":%d,\"mm_px\":%.17g,\"width\":%d,\"dim\":%d,"
		"\"epochs\":%d,\"seed\":%llu,\"lr\":%.17g,\"batch\":%d,\"margin\":%.17g,"
		"\"pseudo_every\":%d,\"pseudo_k\":%d,\"pseudo_weight\":%.17g,\"near_q\":%.17g,"
		"\"similar_q\":%.17g,\"holdout_split\":%d,\"shift_mm\":%.17g,\"scale_jit\":%.17g,"
		"\"hu_jit\":%.17g,\"append_w\":%.17g,\"centre_pool\":%d,\"type_head\":%.17g,"
		"\"lr_end\":%.17g,\"weight_decay\":%.17g,\"dihedral\":%d,\"dropout\":%.17g,"
		"\"fuse_builtin\":%d,\"loc_code\":%d,\"fuse_scale\":%.17g,\"tta_orient\":%d,"
		"\"tta_shift_mm\":%.17g",
		o->cp.arch.side, o->cp.arch.mm_px,
		o->cp.arch.width, o->cp.arch.dim, o->cp.tp.epochs,
		(unsigned long long)o->cp.tp.seed, o->cp.tp.lr, o->cp.tp.batch, o->cp.tp.margin,
		o->cp.tp.pseudo_every, o->cp.tp.pseudo_k, o->cp.tp.pseudo_weight, o->cp.tp.near_q,
		o->cp.tp.similar_q, o->eval_split, o->cp.shift_mm, o->cp.scale_jit, o->cp.hu_jit,
		mx.w, o->cp.arch.centre, o->cp.cls_w, o->cp.lr_end, o->cp.wd, o->cp.dihedral,
		o->cp.drop, mx.fuse, mx.loc_code, mx.fuse_scale, mx.tta.orient, mx.tta.shift_mm);
	for (j = 0; j < LCNN_APP; j++)
		sb_addf(&pj, ",\"app_mean%d\":%.17g,\"app_sd%d\":%.17g", j, mx.mean[j], j, mx.sd[j]);
	sb_addf(&pj, ",\"labels\":\"%s\",\"samples\":%zu,\"held_out\":%zu,\"labelled\":%zu,"
		"\"pseudo\":%d,\"missing\":%zu,\"val_acc\":", o->labels ? "table" : "catalog",
		rep->samples, rep->held_out, rep->labelled, rep->n_pseudo, rep->missing);
	curve(&pj, val, o->cp.tp.epochs);
	sb_addc(&pj, '}');
	curve(&lc, loss, o->cp.tp.epochs);
	if (learn_store_model(st, o->to, LEARN_CNN_FROM, pj.p, pj.oom, lc.p, lc.oom, blob,
			      blob_len, rep->train_seconds, err))
		goto out;
	rc = 0;
out:
	rep->seconds = (now_ms() - t0) / 1000.0;
	cnn_model_free(model);
	free(blob);
	sb_free(&pj);
	sb_free(&lc);
	patches_free(pa, all.n);
	free(sp);
	free(all.v);
	free(rcs);
	free(ids);
	free(types);
	free(s);
	free(loss);
	free(val);
	free(errs);
	free(y);
	free(out);
	free(aux);
	return rc;
}

/* The model and mixing of a space trained from images. */
static int load(struct store *st, const char *name, struct cnn_model **m, struct mix *mx,
		struct space_def *def, char *err)
{
	struct store_model row;
	int rc = -1;

	*m = NULL;
	memset(&row, 0, sizeof(row));
	if (store_model_get(st, name, &row, err))
		goto out;
	if (strcmp(row.from_space, LEARN_CNN_FROM)) {
		errf(err, "space %s was not trained from images", name);
		goto out;
	}
	if (cnn_model_deserialize(row.weights, row.weights_len, m, err))
		goto out;
	mix_from_json(row.params, mx);
	if (mx->fuse < 0)	/* before the key existed: fused iff it has extra inputs */
		mx->fuse = cnn_model_arch(*m)->aux > 0;
	if (tta_check(&mx->tta, err))
		goto out;
	if (cnn_model_arch(*m)->aux != aux_dim(mx)) {
		errf(err, "model %s has %d extra inputs, its parameters say %d", name,
		     cnn_model_arch(*m)->aux, aux_dim(mx));
		goto out;
	}
	if (store_space_get(st, name, def, err))
		goto out;
	if (def->dim != cnn_model_arch(*m)->dim + (mx->w > 0 ? LCNN_APP : 0)) {
		errf(err, "model %s does not fit its space (dim %d)", name, def->dim);
		goto out;
	}
	rc = 0;
out:
	if (rc) {
		cnn_model_free(*m);
		*m = NULL;
	}
	store_model_release(&row);
	return rc;
}

int learn_cnn_is(struct store *st, const char *name, char *err)
{
	struct store_model row;
	int rc;

	memset(&row, 0, sizeof(row));
	rc = store_model_get(st, name, &row, err);
	if (rc == LSD_ENOTFOUND)
		return 0;
	if (rc)
		return -1;
	rc = !strcmp(row.from_space, LEARN_CNN_FROM);
	store_model_release(&row);
	return rc;
}

/* Embed lesions l[0..n) into space name; counts stored and missing. */
static int embed_into(struct store *st, struct spaces *r, const char *name, const char *images,
		      const struct lesion *l, size_t n, int threads, size_t *stored,
		      size_t *missing, char *err)
{
	struct cnn_model *m = NULL;
	struct cnn_patch *pa = NULL;
	struct space_def def;
	struct mix mx;
	int *rcs = NULL, rc = -1, dim;
	char *errs = NULL;
	float *y = NULL, *out = NULL, *aux = NULL;
	int64_t *ids = NULL;
	size_t i, k = 0;

	if (load(st, name, &m, &mx, &def, err))
		return -1;
	dim = cnn_model_arch(m)->dim;
	pa = calloc(n + 1, sizeof(*pa));
	rcs = calloc(n + 1, sizeof(int));
	y = malloc((n + 1) * (size_t)dim * sizeof(float));
	out = malloc((n + 1) * (size_t)def.dim * sizeof(float));
	ids = malloc((n + 1) * sizeof(int64_t));
	if (!pa || !rcs || !y || !out || !ids) {
		errf(err, "out of memory");
		goto out;
	}
	if (patches(l, n, cnn_model_arch(m), images, threads, pa, rcs, &errs, err))
		goto out;
	if (aux_dim(&mx) && aux_fill(r, l, n, pa, &mx, &aux, err))
		goto out;
	cnn_embed_many_tta(m, pa, n, &mx.tta, y, threads);
	for (i = 0; i < n; i++) {
		if (!pa[i].hu) {
			if (missing)
				(*missing)++;
			continue;
		}
		compose(y + i * (size_t)dim, dim, &l[i], &mx, 1, out + k * (size_t)def.dim);
		ids[k++] = l[i].id;
	}
	if (k && spacedb_put(st, r, &def, ids, out, k, err))
		goto out;
	if (stored)
		*stored += k;
	rc = 0;
out:
	cnn_model_free(m);
	patches_free(pa, n);
	free(rcs);
	free(errs);
	free(y);
	free(out);
	free(ids);
	free(aux);
	return rc;
}

int learn_cnn_embed_all(struct store *st, struct spaces *r, const char *name, const char *images,
			int threads, size_t *stored, size_t *missing, char *err)
{
	struct lesions all = { NULL, 0 };
	size_t i;
	int rc = 0;

	*stored = *missing = 0;
	if (store_lesion_all(st, &all.v, &all.n, err))
		return -1;
	for (i = 0; i < all.n && !rc; i += 4096)
		rc = embed_into(st, r, name, images, all.v + i, LSD_MIN((size_t)4096, all.n - i),
				threads, stored, missing, err);
	free(all.v);
	return rc;
}

int learn_cnn_embed_new(struct store *st, struct spaces *r, const char *images,
			const struct lesion *l, size_t n, char *err)
{
	char (*names)[SPACE_NAME_MAX] = malloc(LCNN_MAX_MODELS * sizeof(*names));
	char e2[LSD_ERRLEN], first[LSD_ERRLEN] = "";
	size_t nn = 0, i, failed = 0, at = 0;

	if (!names)
		return errf(err, "out of memory");
	if (store_model_names_from(st, LEARN_CNN_FROM, names, LCNN_MAX_MODELS, &nn, err)) {
		free(names);
		return -1;
	}
	/* one network that cannot embed (a model refused at load, say) must not keep the
	 * lesions out of the others: every space is tried, the first failure reported */
	for (i = 0; i < nn; i++)
		if (embed_into(st, r, names[i], images, l, n, 1, NULL, NULL, e2) && !failed++) {
			memcpy(first, e2, sizeof(first));
			at = i;
		}
	if (failed)
		errf(err, "%zu of %zu networks failed; space %s: %s", failed, nn, names[at], first);
	free(names);
	return failed ? -1 : 0;
}

int learn_cnn_region(struct store *st, const char *name, const char *images,
		     const struct lesion *l, int known_location, const float *builtin, float *out,
		     int dim, char *err)
{
	float a[DESC_APP_DIM + LCNN_CODE] = { 0 };
	struct cnn_model *m = NULL;
	struct cnn_patch pa = { 0 };
	struct space_def def;
	struct mix mx;
	float *y = NULL;
	char *errs = NULL;
	int rc = -1, prc = LSD_EFAIL;

	if (load(st, name, &m, &mx, &def, err))
		return -1;
	if (def.dim != dim) {
		errf(err, "space %s has dimension %d", name, def.dim);
		goto out;
	}
	y = malloc((size_t)cnn_model_arch(m)->dim * sizeof(float));
	if (!y) {
		errf(err, "out of memory");
		goto out;
	}
	if (patches(l, 1, cnn_model_arch(m), images, 1, &pa, &prc, &errs, err))
		goto out;
	if (prc != LSD_OK) {
		rc = prc == LSD_ENOTFOUND ? LSD_ENOTFOUND : -1;
		errf(err, "%s", errs);
		goto out;
	}
	if (mx.fuse && !builtin) {
		errf(err, "space %s is fused with the built-in descriptor, which the region has "
		     "none of", name);
		goto out;
	}
	aux_row(&mx, builtin ? builtin + DESC_APP_OFF : NULL, known_location ? l->loc : NULL, a);
	pa.aux = aux_dim(&mx) ? a : NULL;
	if (cnn_embed_many_tta(m, &pa, 1, &mx.tta, y, 1)) {
		errf(err, "the region embeds to the zero vector");
		goto out;
	}
	compose(y, cnn_model_arch(m)->dim, l, &mx, known_location, out);
	rc = 0;
out:
	cnn_model_free(m);
	free(pa.hu);
	free(errs);
	free(y);
	return rc;
}
