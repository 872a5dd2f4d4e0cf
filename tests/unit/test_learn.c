/* test_learn.c - `lesiond train` as a library (index/learn.c, index/store_model.c): the
 * label policy (evaluation split hidden, labels covering it refused without force and
 * ignored with it), the model row round trip, a trained space whose vectors are the
 * stored model's projections, retraining and refusals, and the projection of a lesion
 * added later (plain and with --keep-source, recomputed here from the stored weights). */
#include "catalog.h"
#include "dlcsv.h"
#include "learn.h"
#include "space.h"
#include "spacedb.h"
#include "store.h"
#include "store_model.h"
#include "train.h"
#include "unit.h"
#include "util.h"

#include <stdio.h>
#include <unistd.h>

#define DIN 12
#define MAXL 400

static char dbpath[512];
static struct lesion all[MAXL];
static size_t nall;

static void fresh_db(const char *name)
{
	char p[700];
	const char *sfx[] = { "-wal", "-shm", NULL };
	int i;

	snprintf(dbpath, sizeof(dbpath), "%s/%s.db", getenv("LSD_TEST_TMP") ?
		 getenv("LSD_TEST_TMP") : "/tmp", name);
	unlink(dbpath);
	for (i = 0; sfx[i]; i++) {
		snprintf(p, sizeof(p), "%s%s", dbpath, sfx[i]);
		unlink(p);
	}
}

/* Store with the sample's lesions, catalog, registry with space "src": a vector that
 * carries the lesion's type (truth_type) in two dimensions plus location and noise. */
static uint64_t rs = 7;
static double runit(void)
{
	rs = rs * 6364136223846793005ull + 1442695040888963407ull;
	return (double)(rs >> 11) / 9007199254740992.0;
}

static int truth_type(const struct lesion *l)
{
	/* DeepLesion types where given; a made-up but fixed one for the train split */
	return l->type > 0 ? l->type : (int)(l->id % 3) + 1;
}

static void src_vec(const struct lesion *l, float *v)
{
	int j, t = truth_type(l);

	for (j = 0; j < DIN; j++)
		v[j] = (float)(runit() - 0.5);
	v[t % DIN] += 2.0f;
	v[(t * 5) % DIN] += 1.0f;
	v[9] += (float)l->loc[0];
	v[10] += (float)l->loc[1];
	v[11] += (float)l->loc[2];
}

struct env {
	struct store *st;
	struct catalog *cat;
	struct spaces *sp;
};

static int setup(const char *name, struct env *e)
{
	char path[512], err[LSD_ERRLEN];
	struct dlcsv *c = NULL;
	struct space_def d;
	int64_t *ids = malloc(MAXL * sizeof(int64_t));
	float *v = malloc(MAXL * DIN * sizeof(float));
	size_t added, same, i;
	int rc = -1;

	memset(e, 0, sizeof(*e));
	fresh_db(name);
	nall = 0;
	snprintf(path, sizeof(path), "%s/DL_info_sample.csv", unit_shared_dir());
	if (!dlcsv_open(path, &c, err)) {
		while (nall < MAXL - 1 && dlcsv_next(c, &all[nall], err) == 1)
			nall++;
		dlcsv_close(c);
	}
	if (!ids || !v || nall < 100)
		goto out;
	if (store_open(dbpath, &e->st, err) || store_lesion_insert(e->st, all, nall, &added,
								    &same, err) ||
	    catalog_create(&e->cat, err) || catalog_load(e->cat, e->st, err) ||
	    spaces_create(&e->sp, err))
		goto out;
	for (i = 0; i < nall; i++) {
		ids[i] = all[i].id;
		src_vec(&all[i], v + i * DIN);
	}
	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "src");
	d.dim = DIN;
	d.metric = SPACE_L2;
	snprintf(d.index_type, sizeof(d.index_type), "Flat");
	if (spacedb_put(e->st, e->sp, &d, ids, v, nall, err))
		goto out;
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "setup: %s\n", err);
	free(ids);
	free(v);
	return rc;
}

static void teardown(struct env *e)
{
	spaces_destroy(e->sp);
	catalog_destroy(e->cat);
	store_close(e->st);
}

static void opts_init(struct learn_opts *o, const char *to)
{
	memset(o, 0, sizeof(*o));
	train_params_default(&o->tp);
	o->tp.dim_out = 8;
	o->tp.epochs = 4;
	o->tp.threads = 1;
	o->from = "src";
	o->to = to;
	o->eval_split = 3;
}

static void test_label_policy(void)
{
	struct env e;
	int64_t ids[MAXL];
	int types[MAXL];
	int8_t labels[MAXL + 1];
	size_t i, ev, n_test = 0;
	char err[LSD_ERRLEN];

	CHECK_EQ_INT(setup("learn_policy", &e), 0);
	for (i = 0; i < nall; i++) {
		ids[i] = all[i].id;
		n_test += all[i].split == 3;
	}
	CHECK(n_test > 10);
	/* default: the catalog's types (DeepLesion: val and test), the test split hidden */
	CHECK_EQ_INT(learn_label_policy(e.cat, ids, nall, NULL, 0, 3, 0, types, &ev, err), 0);
	CHECK_EQ_INT(ev, 0);
	for (i = 0; i < nall; i++) {
		int want = all[i].split == 3 ? -1 : all[i].type;

		if (types[i] != want)
			CHECK_EQ_INT(types[i], want);
	}
	/* evaluating on val instead: the val types are the hidden ones now */
	CHECK_EQ_INT(learn_label_policy(e.cat, ids, nall, NULL, 0, 2, 0, types, &ev, err), 0);
	for (i = 0; i < nall; i++)
		if (all[i].split == 2 && types[i] != -1)
			CHECK_EQ_INT(types[i], -1);
	/* a table for every lesion: refused, since it covers the test split */
	memset(labels, -1, sizeof(labels));
	for (i = 0; i < nall; i++)
		labels[all[i].id] = (int8_t)truth_type(&all[i]);
	CHECK_EQ_INT(learn_label_policy(e.cat, ids, nall, labels, (int64_t)nall + 1, 3, 0, types,
					&ev, err), LEARN_REFUSED);
	CHECK_EQ_INT(ev, n_test);
	CHECK(strstr(err, "test") && strstr(err, "--force"));
	/* forced: accepted, the table's types everywhere but the test split */
	CHECK_EQ_INT(learn_label_policy(e.cat, ids, nall, labels, (int64_t)nall + 1, 3, 1, types,
					&ev, err), 0);
	CHECK_EQ_INT(ev, n_test);
	for (i = 0; i < nall; i++) {
		int want = all[i].split == 3 ? -1 : truth_type(&all[i]);

		if (types[i] != want)
			CHECK_EQ_INT(types[i], want);
	}
	/* a table without test lesions needs no force; out-of-range ids are unlabelled */
	for (i = 0; i < nall; i++)
		if (all[i].split == 3)
			labels[all[i].id] = -1;
	CHECK_EQ_INT(learn_label_policy(e.cat, ids, nall, labels, 50, 3, 0, types, &ev, err), 0);
	for (i = 0; i < nall; i++)
		if (all[i].id >= 50 && types[i] != -1)
			CHECK_EQ_INT(types[i], -1);
	teardown(&e);
}

static void test_model_row(void)
{
	struct env e;
	struct store_model m, g;
	struct space_def d;
	char names[4][SPACE_NAME_MAX], err[LSD_ERRLEN];
	unsigned char blob[300];
	int64_t id = 1;
	float v[3] = { 1, 0, 0 };
	size_t i, n;

	CHECK_EQ_INT(setup("learn_row", &e), 0);
	for (i = 0; i < sizeof(blob); i++)
		blob[i] = (unsigned char)(i * 37 + 1);
	memset(&m, 0, sizeof(m));
	snprintf(m.name, sizeof(m.name), "b");
	snprintf(m.from_space, sizeof(m.from_space), "src");
	m.params = (char *)(uintptr_t)"{\"dim\":3}";
	m.loss_curve = (char *)(uintptr_t)"[0.5,0.25]";
	m.weights = blob;
	m.weights_len = sizeof(blob);
	m.created_at = 1234;
	m.train_seconds = 2.5;
	/* the target space must exist */
	CHECK(store_model_put(e.st, &m, err) != 0);
	memset(&d, 0, sizeof(d));
	d.dim = 3;
	d.metric = SPACE_L2;
	snprintf(d.name, sizeof(d.name), "b");
	CHECK_EQ_INT(spacedb_put(e.st, e.sp, &d, &id, v, 1, err), 0);
	snprintf(d.name, sizeof(d.name), "a");
	CHECK_EQ_INT(spacedb_put(e.st, e.sp, &d, &id, v, 1, err), 0);
	CHECK_EQ_INT(store_model_put(e.st, &m, err), 0);
	snprintf(m.name, sizeof(m.name), "a");
	CHECK_EQ_INT(store_model_put(e.st, &m, err), 0);
	CHECK_EQ_INT(store_model_get(e.st, "b", &g, err), 0);
	CHECK_STR(g.name, "b");
	CHECK_STR(g.from_space, "src");
	CHECK_STR(g.params, "{\"dim\":3}");
	CHECK_STR(g.loss_curve, "[0.5,0.25]");
	CHECK_EQ_INT(g.weights_len, sizeof(blob));
	CHECK(g.weights && !memcmp(g.weights, blob, sizeof(blob)));
	CHECK_EQ_INT(g.created_at, 1234);
	CHECK_NEAR(g.train_seconds, 2.5, 0);
	store_model_release(&g);
	store_model_release(&g);	/* twice: a no-op */
	CHECK_EQ_INT(store_model_get(e.st, "nope", &g, err), LSD_ENOTFOUND);
	CHECK_EQ_INT(store_model_names_from(e.st, "src", names, 4, &n, err), 0);
	CHECK_EQ_INT(n, 2);
	CHECK_STR(names[0], "a");
	CHECK_STR(names[1], "b");
	CHECK_EQ_INT(store_model_names_from(e.st, "b", names, 4, &n, err), 0);
	CHECK_EQ_INT(n, 0);
	teardown(&e);
}

/* The stored model of space name, deserialised. */
static struct train_model *load_model(struct store *st, const char *name, char **params)
{
	struct store_model m;
	struct train_model *tm = NULL;
	char err[LSD_ERRLEN];

	if (store_model_get(st, name, &m, err))
		return NULL;
	if (train_model_deserialize(m.weights, m.weights_len, &tm, err))
		tm = NULL;
	if (params) {
		*params = m.params;
		m.params = NULL;
	}
	store_model_release(&m);
	return tm;
}

static int epochs_seen;
static int count_epochs(void *ctx, const struct train_progress *p)
{
	(void)ctx;
	(void)p;
	epochs_seen++;
	return 0;
}

static void test_train_and_project(void)
{
	struct env e;
	struct learn_opts o;
	struct learn_report rep;
	struct train_model *tm;
	struct space *dst, *src;
	struct lesion nl;
	int8_t labels[MAXL + 1];
	char err[LSD_ERRLEN], *params = NULL;
	float x[DIN], y[8], got[8 + DIN], p8[8];
	size_t i, n_test = 0, n_lab = 0, added, same, w;
	int64_t nid;
	int bad = 0, j;

	CHECK_EQ_INT(setup("learn_train", &e), 0);
	memset(labels, -1, sizeof(labels));
	for (i = 0; i < nall; i++) {
		labels[all[i].id] = (int8_t)truth_type(&all[i]);
		n_test += all[i].split == 3;
		n_lab += all[i].split != 3;
	}
	opts_init(&o, "learned");
	o.labels = labels;
	o.labels_n = (int64_t)nall + 1;
	o.labels_name = "truth \"x\".csv";
	/* labels over the test split: refused, nothing written */
	CHECK_EQ_INT(learn_train(e.st, e.sp, e.cat, &o, &rep, err), LEARN_REFUSED);
	CHECK(spaces_get(e.sp, "learned") == NULL);
	o.force = 1;
	o.progress = count_epochs;
	epochs_seen = 0;
	CHECK_EQ_INT(learn_train(e.st, e.sp, e.cat, &o, &rep, err), 0);
	CHECK_EQ_INT(epochs_seen, 4);
	CHECK_EQ_INT(rep.samples, nall);
	CHECK_EQ_INT(rep.held_out, n_test);
	CHECK_EQ_INT(rep.labelled, n_lab);
	CHECK_EQ_INT(rep.eval_labels, n_test);
	CHECK_EQ_INT(rep.projected + rep.failed, nall);
	dst = spaces_get(e.sp, "learned");
	src = spaces_get(e.sp, "src");
	CHECK(dst && space_dim(dst) == 8);
	tm = load_model(e.st, "learned", &params);
	CHECK(tm != NULL);
	CHECK(params && strstr(params, "\"dim\":8") && strstr(params, "\"holdout_split\":3") &&
	      strstr(params, "\"epochs\":4") && strstr(params, "truth \\\"x\\\".csv"));
	/* every stored vector, held-out lesions included, is the model's projection */
	for (i = 0; tm && dst && i < nall; i++) {
		space_get_vector(src, all[i].id, x);
		if (train_project(tm, x, y))
			continue;
		if (space_get_vector(dst, all[i].id, got)) {
			bad++;
			continue;
		}
		for (j = 0; j < 8; j++)
			if (got[j] != y[j])
				bad++;
	}
	CHECK_EQ_INT(bad, 0);
	train_model_free(tm);
	free(params);

	/* retraining the same space: accepted; a builtin-like space or other dim: refused */
	o.tp.seed = 2;
	CHECK_EQ_INT(learn_train(e.st, e.sp, e.cat, &o, &rep, err), 0);
	o.tp.dim_out = 6;
	CHECK(learn_train(e.st, e.sp, e.cat, &o, &rep, err) != 0);
	CHECK(strstr(err, "dimension") != NULL);
	o.to = "src";
	CHECK(learn_train(e.st, e.sp, e.cat, &o, &rep, err) != 0);
	/* a second trained space that keeps the source: [sqrt(1-w^2) p, w x/|x|] */
	o.tp.dim_out = 8;
	o.to = "mixed";
	o.keep_source = 0.5;
	CHECK_EQ_INT(learn_train(e.st, e.sp, e.cat, &o, &rep, err), 0);
	CHECK(spaces_get(e.sp, "mixed") && space_dim(spaces_get(e.sp, "mixed")) == 8 + DIN);
	/* a third that appends source dimensions 2..4 x 1.6, then L2-normalises */
	o.to = "appended";
	o.keep_source = 0;
	o.append_lo = 2;
	o.append_hi = 5;
	o.append_w = 1.6;
	CHECK_EQ_INT(learn_train(e.st, e.sp, e.cat, &o, &rep, err), 0);
	CHECK(spaces_get(e.sp, "appended") && space_dim(spaces_get(e.sp, "appended")) == 8 + 3);
	o.append_hi = DIN + 1;	/* past the source's dimension: refused */
	o.to = "badappend";
	CHECK(learn_train(e.st, e.sp, e.cat, &o, &rep, err) != 0);
	o.append_lo = o.append_hi = 0;

	/* a lesion added later, with a source vector: projected into both */
	nl = all[0];
	nl.id = 0;
	CHECK_EQ_INT(store_lesion_insert(e.st, &nl, 1, &added, &same, err), 0);
	nid = nl.id;
	CHECK(nid > (int64_t)nall);
	catalog_put(e.cat, &nl, err);
	for (j = 0; j < DIN; j++)
		x[j] = (float)(j - 5) * 0.25f;
	{
		struct space_def d;

		memset(&d, 0, sizeof(d));
		snprintf(d.name, sizeof(d.name), "src");
		d.dim = DIN;
		d.metric = SPACE_L2;
		CHECK_EQ_INT(spacedb_put(e.st, e.sp, &d, &nid, x, 1, err), 0);
	}
	CHECK(!space_has(spaces_get(e.sp, "learned"), nid));
	CHECK_EQ_INT(learn_project_new(e.st, e.sp, "src", &nid, 1, &w, err), 0);
	CHECK_EQ_INT(w, 3);
	tm = load_model(e.st, "learned", NULL);
	CHECK(tm && train_project(tm, x, y) == 0);
	CHECK_EQ_INT(space_get_vector(spaces_get(e.sp, "learned"), nid, got), 0);
	for (j = 0; j < 8; j++)
		CHECK_NEAR(got[j], y[j], 0);
	train_model_free(tm);
	tm = load_model(e.st, "mixed", NULL);
	CHECK(tm && train_project(tm, x, p8) == 0);
	CHECK_EQ_INT(space_get_vector(spaces_get(e.sp, "mixed"), nid, got), 0);
	{
		double nx = 0, n2 = 0;

		for (j = 0; j < DIN; j++)
			nx += (double)x[j] * x[j];
		for (j = 0; j < 8; j++)
			CHECK_NEAR(got[j], sqrt(0.75) * p8[j], 1e-6);
		for (j = 0; j < DIN; j++)
			CHECK_NEAR(got[8 + j], 0.5 * x[j] / sqrt(nx), 1e-6);
		for (j = 0; j < 8 + DIN; j++)
			n2 += (double)got[j] * got[j];
		CHECK_NEAR(n2, 1.0, 1e-5);
	}
	train_model_free(tm);
	tm = load_model(e.st, "appended", NULL);
	CHECK(tm && train_project(tm, x, p8) == 0);
	CHECK_EQ_INT(space_get_vector(spaces_get(e.sp, "appended"), nid, got), 0);
	{
		double v[11], n2 = 0;

		for (j = 0; j < 8; j++)
			v[j] = p8[j];
		for (j = 0; j < 3; j++)
			v[8 + j] = 1.6 * x[2 + j];
		for (j = 0; j < 11; j++)
			n2 += v[j] * v[j];
		for (j = 0; j < 11; j++)
			CHECK_NEAR(got[j], v[j] / sqrt(n2), 1e-6);
	}
	train_model_free(tm);
	/* nothing trained from "learned": no-op; a lesion without a source vector: skipped */
	CHECK_EQ_INT(learn_project_new(e.st, e.sp, "learned", &nid, 1, &w, err), 0);
	CHECK_EQ_INT(w, 0);
	nid = 999999;
	CHECK_EQ_INT(learn_project_new(e.st, e.sp, "src", &nid, 1, &w, err), 0);
	CHECK_EQ_INT(w, 0);
	teardown(&e);
}

static void test_deterministic(void)
{
	struct env e;
	struct learn_opts o;
	struct learn_report rep;
	char err[LSD_ERRLEN];
	float a[8], b[8];
	int diff = 0;
	size_t i;

	CHECK_EQ_INT(setup("learn_det", &e), 0);
	opts_init(&o, "one");
	o.tp.threads = 1;
	CHECK_EQ_INT(learn_train(e.st, e.sp, e.cat, &o, &rep, err), 0);
	opts_init(&o, "two");
	o.tp.threads = 2;
	CHECK_EQ_INT(learn_train(e.st, e.sp, e.cat, &o, &rep, err), 0);
	for (i = 0; i < nall; i++) {
		if (space_get_vector(spaces_get(e.sp, "one"), all[i].id, a) ||
		    space_get_vector(spaces_get(e.sp, "two"), all[i].id, b))
			continue;
		diff += memcmp(a, b, sizeof(a)) != 0;
	}
	CHECK_EQ_INT(diff, 0);
	teardown(&e);
}

int main(void)
{
	RUN(test_label_policy);
	RUN(test_model_row);
	RUN(test_train_and_project);
	RUN(test_deterministic);
	return unit_done();
}
