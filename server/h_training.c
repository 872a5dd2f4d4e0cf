/* h_training.c - a space's description and its training report:
 *   GET /v1/spaces/{name}               dim, metric, index, count, provenance, and for a
 *                                       trained space the model: parameters, the loss and
 *                                       validation 5-NN accuracy per epoch, training time;
 *   GET /v1/spaces/{name}/training.png  those curves as a plot (trainplot.h).
 * Reads the models table through store_model.h; no state of its own. */
#include "app.h"
#include "handlers.h"
#include "http.h"
#include "json.h"
#include "space.h"
#include "store.h"
#include "store_model.h"
#include "store_vec.h"
#include "trainplot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURVE_MAX 10000

static int ready(const struct request *r, struct reply *rp)
{
	if (r->app->ready && r->app->sp)
		return 1;
	reply_problem(rp, 503, "loading the database and indexes");
	rp->retry_after = 1;
	return 0;
}

/* A stored JSON array of numbers/nulls into v (null -> -1); returns the count. */
static int curve(const char *json, double *v, int max)
{
	struct jv *a = NULL;
	char err[LSD_ERRLEN];
	int i, n = 0;

	if (!json || json_parse(json, strlen(json), &a, err) || !json_is_arr(a)) {
		json_free(a);
		return 0;
	}
	for (i = 0; i < json_len(a) && n < max; i++) {
		const struct jv *x = json_at(a, i);

		v[n++] = json_is_num(x) ? json_num(x) : -1;
	}
	json_free(a);
	return n;
}

/* The validation curve inside the stored parameters ("val_acc":[...]), or 0 entries. */
static int val_curve(const char *params, double *v, int max)
{
	struct jv *o = NULL;
	char err[LSD_ERRLEN];
	const struct jv *a;
	int i, n = 0;

	if (!params || json_parse(params, strlen(params), &o, err)) {
		json_free(o);
		return 0;
	}
	a = json_get(o, "val_acc");
	for (i = 0; a && json_is_arr(a) && i < json_len(a) && n < max; i++) {
		const struct jv *x = json_at(a, i);

		v[n++] = json_is_num(x) ? json_num(x) : -1;
	}
	json_free(o);
	return n;
}

void h_space_get(const struct request *r, struct reply *rp)
{
	const char *name = r->nargs ? r->args[0] : "";
	struct store_model m;
	struct space_def def;
	struct space *sp;
	char err[LSD_ERRLEN];
	struct sb b;
	int rc;

	if (!ready(r, rp))
		return;
	sp = spaces_get(r->app->sp, name);
	if (!sp || store_space_get(r->app->st, name, &def, err)) {
		reply_problem(rp, 404, "no embedding space '%.64s' (see /v1/stats)", name);
		return;
	}
	memset(&m, 0, sizeof(m));
	rc = store_model_get(r->app->st, name, &m, err);
	if (rc && rc != LSD_ENOTFOUND) {
		reply_problem(rp, 500, "%s", err);
		return;
	}
	sb_init(&b, (size_t)4 << 20);
	sb_adds(&b, "{\"name\":");
	jw_str(&b, name);
	sb_addf(&b, ",\"dim\":%d,\"metric\":\"%s\",\"index\":", def.dim,
		space_metric_name(def.metric));
	jw_str(&b, def.index_type[0] ? def.index_type : "Flat");
	sb_adds(&b, ",\"provenance\":");
	jw_str(&b, def.provenance);
	if (rc == 0) {
		/* params and loss_curve are JSON written by lesiond train itself */
		sb_adds(&b, ",\"model\":{\"from\":");
		jw_str(&b, m.from_space);
		sb_addf(&b, ",\"created_at\":%lld,\"train_seconds\":%.3f,\"params\":%s,"
			"\"loss_curve\":%s,\"training_png\":\"/v1/spaces/", (long long)m.created_at,
			m.train_seconds, m.params, m.loss_curve);
		sb_adds(&b, name);	/* space names are [A-Za-z0-9_.-] */
		sb_adds(&b, "/training.png\"}");
	} else {
		sb_adds(&b, ",\"model\":null");
	}
	sb_addc(&b, '}');
	store_model_release(&m);
	reply_json(rp, 200, &b);
}

void h_space_training_png(const struct request *r, struct reply *rp)
{
	const char *name = r->nargs ? r->args[0] : "";
	struct store_model m;
	double *loss = NULL, *val = NULL;
	unsigned char *png = NULL;
	size_t len = 0;
	char err[LSD_ERRLEN], title[128];
	int n, nv, i, rc;

	if (!ready(r, rp))
		return;
	memset(&m, 0, sizeof(m));
	rc = store_model_get(r->app->st, name, &m, err);
	if (rc) {
		if (rc == LSD_ENOTFOUND)
			reply_problem(rp, 404, "space '%.64s' was not trained by lesiond train", name);
		else
			reply_problem(rp, 500, "%s", err);
		return;
	}
	loss = malloc(CURVE_MAX * sizeof(double));
	val = malloc(CURVE_MAX * sizeof(double));
	if (!loss || !val) {
		reply_problem(rp, 500, "out of memory");
		goto out;
	}
	n = curve(m.loss_curve, loss, CURVE_MAX);
	nv = val_curve(m.params, val, CURVE_MAX);
	for (i = nv; i < n; i++)
		val[i] = -1;
	snprintf(title, sizeof(title), "%.48s: loss, val 5-NN per epoch", name);
	if (trainplot_png(loss, val, n, title, &png, &len, err)) {
		reply_problem(rp, 404, "space '%.64s': %s", name, err);
		goto out;
	}
	reply_bytes(rp, 200, "image/png", png, len);
	png = NULL;
out:
	free(png);
	free(loss);
	free(val);
	store_model_release(&m);
}
