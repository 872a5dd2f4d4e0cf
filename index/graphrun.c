/* graphrun.c - the lesion graph over a store: vectors for graph_build, ground-truth
 * track files, whole-store evaluation and calibration, and the report text.
 *
 * Called by `lesiond graph` and the daemon's lesion writes (graphrun_rebuild, one
 * patient at a time) and by `lesiond eval --graph` (the rest). Owns nothing between calls.
 * Load: one pass over the store's patients; an evaluation is one graph_build per
 * patient, a calibration one per patient and grid point (graph_calibrate).
 */
#include "graphrun.h"
#include "csvline.h"
#include "linkpairs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRUTH_MAX_BYTES (512u << 20)
#define TRUTH_MAX_FIELDS 64
#define GRAPHRUN_LIST_MAX (8u << 20)

/* ---- vectors ---- */

int graphrun_vectors(struct space *sp, const struct lesion *l, size_t n,
		     struct graphrun_vecs *v, char *err)
{
	memset(v, 0, sizeof(*v));
	if (!sp || n == 0)
		return 0;
	v->dim = (size_t)space_dim(sp);
	v->emb = calloc(n, sizeof(*v->emb));
	v->buf = malloc(n * v->dim * sizeof(*v->buf));
	if (!v->emb || !v->buf) {
		graphrun_vecs_free(v);
		return errf(err, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		float *x = v->buf + i * v->dim;

		if (space_get_vector(sp, l[i].id, x) == 0) {
			v->emb[i] = x;
			v->have++;
		}
	}
	if (v->have == 0) {	/* no evidence at all: graph_build's emb = NULL */
		size_t dim = v->dim;

		graphrun_vecs_free(v);
		v->dim = dim;
	}
	return 0;
}

void graphrun_vecs_free(struct graphrun_vecs *v)
{
	free(v->emb);
	free(v->buf);
	memset(v, 0, sizeof(*v));
}

/* ---- one patient's stored graph ---- */

struct rebuild {
	const struct graph_params *p;
	struct space *sp;
	struct graphrun_vecs v;
	struct graph *g;
};

/* store_graph_replace's callback: the graph of the patient's lesions, read under the
 * store's write lock; the edges live in r->g until the caller frees it. */
static int rebuild_build(void *cls, const struct lesion *l, size_t n,
			 const struct graph_edge **e, size_t *ne, char *err)
{
	struct rebuild *r = cls;

	if (graphrun_vectors(r->sp, l, n, &r->v, err) ||
	    graph_build(l, n, (const float *const *)r->v.emb, r->v.dim, r->p, &r->g, err))
		return -1;
	*e = r->g->edges;
	*ne = r->g->nedges;
	return 0;
}

int graphrun_rebuild(struct store *st, int64_t patient, const struct graph_params *p,
		     struct space *sp, struct graphrun_stats *stats, char *err)
{
	struct rebuild r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.p = p;
	r.sp = sp;
	if (stats)
		memset(stats, 0, sizeof(*stats));
	rc = store_graph_replace(st, patient, rebuild_build, &r, err);
	if (rc == 0 && stats && r.g) {
		stats->lesions = r.g->n;
		stats->edges = r.g->nedges;
		stats->dropped = r.g->ndropped;
		stats->tracks = r.g->ntracks;
		stats->with_vec = r.v.have;
	}
	graph_destroy(r.g);
	graphrun_vecs_free(&r.v);
	return rc;
}

/* ---- truth ---- */

struct idpair {
	int64_t id, track;
};

static int idpair_cmp(const void *x, const void *y)
{
	const struct idpair *a = x, *b = y;

	return (a->id > b->id) - (a->id < b->id);
}

/* 1 when the file's header names lesion_a and lesion_b (a pairs file). */
static int truth_is_pairs(const char *path)
{
	char head[4096];
	FILE *f = fopen(path, "r");
	int r = 0;

	if (!f)
		return 0;
	if (fgets(head, sizeof(head), f))
		r = strstr(head, "lesion_a") && strstr(head, "lesion_b");
	fclose(f);
	return r;
}

static int truth_from_pairs(const char *path, struct graphrun_truth *t, char *err)
{
	struct linkpairs lp;

	if (linkpairs_load(path, &lp, err))
		return -1;
	t->id = lp.id;
	t->track = lp.track;
	t->n = lp.nid;
	lp.id = lp.track = NULL;
	linkpairs_free(&lp);
	return 0;
}

int graphrun_truth_load(const char *path, struct graphrun_truth *t, char *err)
{
	char *buf = NULL, *cur, *line, *f[TRUTH_MAX_FIELDS];
	struct idpair *v = NULL;
	size_t len, n = 0, cap = 0;
	int ci = -1, ct = -1, nf, lineno = 1, rc = -1;

	memset(t, 0, sizeof(*t));
	if (truth_is_pairs(path))
		return truth_from_pairs(path, t, err);
	buf = file_read(path, TRUTH_MAX_BYTES, &len, err);
	if (!buf)
		return -1;
	cur = buf;
	line = csvline_next(&cur);
	nf = line ? csvline_split(line, f, TRUTH_MAX_FIELDS) : 0;
	for (int k = 0; k < nf; k++) {
		if (!strcmp(f[k], "lesion_id"))
			ci = k;
		else if (!strcmp(f[k], "track_id"))
			ct = k;
	}
	if (ci < 0 || ct < 0) {
		errf(err, "%s: header needs lesion_id and track_id columns", path);
		goto out;
	}
	while ((line = csvline_next(&cur)) != NULL) {
		int64_t id, tr;

		lineno++;
		if (!*line)
			continue;
		nf = csvline_split(line, f, TRUTH_MAX_FIELDS);
		if (nf <= ci || nf <= ct || parse_i64(f[ci], 1, INT64_MAX, &id) ||
		    parse_i64(f[ct], INT64_MIN, INT64_MAX, &tr)) {
			errf(err, "%s:%d: need integer lesion_id and track_id", path, lineno);
			goto out;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 4096;
			struct idpair *p = realloc(v, nc * sizeof(*v));

			if (!p) {
				errf(err, "out of memory");
				goto out;
			}
			v = p;
			cap = nc;
		}
		v[n].id = id;
		v[n].track = tr;
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), idpair_cmp);
	for (size_t k = 1; k < n; k++)
		if (v[k].id == v[k - 1].id) {
			errf(err, "%s: lesion_id %lld appears twice", path, (long long)v[k].id);
			goto out;
		}
	t->id = malloc((n ? n : 1) * sizeof(*t->id));
	t->track = malloc((n ? n : 1) * sizeof(*t->track));
	if (!t->id || !t->track) {
		errf(err, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		t->id[k] = v[k].id;
		t->track[k] = v[k].track;
	}
	t->n = n;
	rc = 0;
out:
	if (rc)
		graphrun_truth_free(t);
	free(v);
	free(buf);
	return rc;
}

void graphrun_truth_free(struct graphrun_truth *t)
{
	free(t->id);
	free(t->track);
	memset(t, 0, sizeof(*t));
}

int graphrun_truth_find(const struct graphrun_truth *t, int64_t id, int64_t *track)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->id[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < t->n && t->id[lo] == id) {
		*track = t->track[lo];
		return 1;
	}
	return 0;
}

/* ---- evaluation ---- */

/* The labelled lesions of every patient: what graph_eval and graph_calibrate take. The
 * vectors are copied so that emb[] stays valid after the patient's buffers are gone. */
struct labelled {
	struct lesion *l;
	int *patient, *study;
	int64_t *truth, *pred;
	float *vec;		/* n x dim */
	char *has;		/* has[i]: vec row i is a vector */
	size_t n, cap, dim;
};

#define GROW(field)                                                  \
	do {                                                         \
		void *q_ = realloc(a->field, nc * sizeof(*a->field)); \
		if (!q_)                                             \
			return -1;                                   \
		a->field = q_;                                       \
	} while (0)

static int lab_push(struct labelled *a, const struct lesion *l, int64_t truth, int64_t pred,
		    const float *vec)
{
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 1024;

		GROW(l);
		GROW(patient);
		GROW(study);
		GROW(truth);
		GROW(pred);
		GROW(has);
		if (a->dim) {
			float *q = realloc(a->vec, nc * a->dim * sizeof(*q));

			if (!q)
				return -1;
			a->vec = q;
		}
		a->cap = nc;
	}
	a->l[a->n] = *l;
	a->patient[a->n] = l->patient;
	a->study[a->n] = l->study;
	a->truth[a->n] = truth;
	a->pred[a->n] = pred;
	a->has[a->n] = vec != NULL;
	if (vec)
		memcpy(a->vec + a->n * a->dim, vec, a->dim * sizeof(*vec));
	a->n++;
	return 0;
}

#undef GROW

static void lab_free(struct labelled *a)
{
	free(a->l);
	free(a->patient);
	free(a->study);
	free(a->truth);
	free(a->pred);
	free(a->vec);
	free(a->has);
}

/* Every missed and wrong link of one patient's labelled pairs, with its costs (without
 * the aligned pass's offset), into r->list. */
static void list_errors(const struct lesion *l, size_t n, const struct graphrun_truth *t,
			const struct graph *g, const float *const *emb, size_t dim,
			const struct graph_params *p, struct graphrun_result *r)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			int64_t ti, tj;
			struct graph_pair pe;
			size_t a = i, b = j;

			if (l[i].study == l[j].study || !graphrun_truth_find(t, l[i].id, &ti) ||
			    !graphrun_truth_find(t, l[j].id, &tj) ||
			    (ti == tj) == (g->track[i] == g->track[j]))
				continue;
			if (l[j].study < l[i].study) {
				a = j;
				b = i;
			}
			graph_pair_evidence(&l[a], &l[b], emb ? emb[a] : NULL, emb ? emb[b] : NULL,
					    dim, p, &pe);
			sb_addf(&r->list, "%s %lld -> %lld (patient %d, studies %d -> %d): "
				"displacement %+.4f %+.4f %+.4f, long %.1f -> %.1f mm, d_loc %.4f, "
				"d_embed %s%.4f, cost %.4f vs threshold %g%s\n",
				ti == tj ? "missed" : "wrong", (long long)l[a].id, (long long)l[b].id,
				l[a].patient, l[a].study, l[b].study, l[b].loc[0] - l[a].loc[0],
				l[b].loc[1] - l[a].loc[1], l[b].loc[2] - l[a].loc[2], l[a].diam_mm[0],
				l[b].diam_mm[0], pe.d_loc, isnan(pe.d_embed) ? "none " : "",
				isnan(pe.d_embed) ? 0.0 : pe.d_embed, pe.cost, p->threshold,
				pe.gated ? " (gated)" : "");
			if (ti == tj)
				r->missed++;
			else
				r->wrong++;
		}
}

/* Build one patient's graph and push its labelled lesions with their predicted track. */
static int eval_patient(struct store *st, struct space *sp, const struct graph_params *p,
			const struct graphrun_truth *t, int64_t pid, struct labelled *a,
			struct graphrun_result *r, char *err)
{
	struct lesion *l = NULL;
	struct graphrun_vecs v;
	struct graph *g = NULL;
	size_t n = 0;
	int rc = -1;

	memset(&v, 0, sizeof(v));
	if (store_patient_lesions(st, pid, &l, &n, err) || graphrun_vectors(sp, l, n, &v, err))
		goto out;
	if (graph_build(l, n, (const float *const *)v.emb, v.dim, p, &g, err))
		goto out;
	r->patients++;
	r->lesions += n;
	r->with_vec += v.have;
	r->edges += g->nedges;
	r->tracks += g->ntracks;
	for (size_t i = 0; i < n; i++) {
		int64_t tr;

		if (graphrun_truth_find(t, l[i].id, &tr))
			break;
		if (i + 1 == n)
			goto done;	/* nobody labelled: not scored, not calibrated on */
	}
	/* every lesion of a labelled patient (the unlabelled ones compete in the matching) */
	for (size_t i = 0; i < n; i++) {
		int64_t tr;

		if (!graphrun_truth_find(t, l[i].id, &tr))
			tr = GRAPH_UNLABELLED;
		else
			r->labelled++;
		if (lab_push(a, &l[i], tr, g->track[i], v.emb ? v.emb[i] : NULL)) {
			errf(err, "out of memory");
			goto out;
		}
	}
	list_errors(l, n, t, g, v.emb ? (const float *const *)v.emb : NULL, v.dim, p, r);
done:
	rc = 0;
out:
	graph_destroy(g);
	graphrun_vecs_free(&v);
	free(l);
	return rc;
}

/* The labelled lesions' patients rebuilt with *q (metadata only: the scale model has no
 * embedding term) and scored: the fitted setting's in-sample figure. */
static int fit_score(const struct labelled *a, const struct graph_params *q,
		     struct graph_eval *ev, char *err)
{
	int64_t *pred = malloc((a->n ? a->n : 1) * sizeof(*pred));
	int rc = -1;

	if (!pred)
		return errf(err, "out of memory");
	for (size_t b = 0; b < a->n;) {
		size_t e = b;
		struct graph *g = NULL;

		while (e < a->n && a->patient[e] == a->patient[b])
			e++;
		if (graph_build(a->l + b, e - b, NULL, 0, q, &g, err))
			goto out;
		for (size_t k = b; k < e; k++)
			pred[k] = g->track[k - b];
		graph_destroy(g);
		b = e;
	}
	rc = graph_eval(a->patient, a->study, a->truth, pred, a->n, ev, err);
out:
	free(pred);
	return rc;
}

int graphrun_eval(struct store *st, struct space *sp, const struct graph_params *p,
		  const struct graphrun_truth *t, const int64_t *pids, size_t np, int calibrate,
		  struct graphrun_result *r, char *err)
{
	struct labelled a;
	int64_t *all = NULL;
	const float **emb = NULL;
	double t0 = now_ms();
	int rc = -1;

	memset(r, 0, sizeof(*r));
	sb_init(&r->list, GRAPHRUN_LIST_MAX);
	memset(&a, 0, sizeof(a));
	a.dim = sp ? (size_t)space_dim(sp) : 0;
	if (!pids) {
		if (store_patient_ids(st, &all, &np, err))
			return -1;
		pids = all;
	}
	for (size_t k = 0; k < np; k++)
		if (eval_patient(st, sp, p, t, pids[k], &a, r, err))
			goto out;
	if (r->labelled == 0) {
		errf(err, "no lesion of the store has a row in the truth file");
		goto out;
	}
	if (graph_eval(a.patient, a.study, a.truth, a.pred, a.n, &r->ev, err))
		goto out;
	if (calibrate) {
		size_t have = 0;

		emb = calloc(a.n, sizeof(*emb));
		if (!emb) {
			errf(err, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < a.n; i++)
			if (a.has[i]) {
				emb[i] = a.vec + i * a.dim;
				have++;
			}
		if (calibrate == GRAPHRUN_FIT_SCALES) {
			if (graph_fit_scales(a.l, a.n, a.truth, GRAPH_FIT_Q, p, &r->best,
					     &r->best_sc, err) ||
			    fit_score(&a, &r->best, &r->best_ev, err))
				goto out;
			r->run[0] = r->run[1] = r->best.threshold;
		} else {
			struct graph_grid g;

			if (calibrate == GRAPHRUN_FIT_THRESHOLD)
				graph_grid_threshold(p, &g);
			if (graph_calibrate(a.l, a.n, have ? (const float *const *)emb : NULL,
					    a.dim, a.truth,
					    calibrate == GRAPHRUN_FIT_THRESHOLD ? &g : NULL, p,
					    &r->best, &r->best_ev, r->run, err))
				goto out;
		}
		r->calibrated = 1;
		r->fit = calibrate;
	}
	r->ms = now_ms() - t0;
	rc = 0;
out:
	free(emb);
	free(all);
	lab_free(&a);
	return rc;
}

void graphrun_result_free(struct graphrun_result *r)
{
	sb_free(&r->list);
	sb_free(&r->fold_list);
}

/* ---- cross-validation ---- */

/* The items of a whose patient is in half `half` (patients numbered in order of first
 * appearance; a is grouped by patient): lesions, vectors, truth. */
struct subset {
	struct lesion *l;
	const float **emb;
	int64_t *truth, *pred;
	int *patient, *study;
	size_t n, npat;
};

static void subset_free(struct subset *s)
{
	free(s->l);
	free(s->emb);
	free(s->truth);
	free(s->pred);
	free(s->patient);
	free(s->study);
	memset(s, 0, sizeof(*s));
}

/* half_of[k]: the half (0 or 1) of the k-th patient of a, in order of appearance. */
static int subset_make(const struct labelled *a, const unsigned char *half_of, int half,
		       struct subset *s, char *err)
{
	size_t pos = 0;

	memset(s, 0, sizeof(*s));
	s->l = malloc((a->n ? a->n : 1) * sizeof(*s->l));
	s->emb = calloc(a->n ? a->n : 1, sizeof(*s->emb));
	s->truth = malloc((a->n ? a->n : 1) * sizeof(*s->truth));
	s->pred = malloc((a->n ? a->n : 1) * sizeof(*s->pred));
	s->patient = malloc((a->n ? a->n : 1) * sizeof(*s->patient));
	s->study = malloc((a->n ? a->n : 1) * sizeof(*s->study));
	if (!s->l || !s->emb || !s->truth || !s->pred || !s->patient || !s->study) {
		subset_free(s);
		return errf(err, "out of memory");
	}
	for (size_t i = 0; i < a->n; i++) {
		if (i && a->patient[i] != a->patient[i - 1])
			pos++;
		if (half_of[pos] != half)
			continue;
		if (s->n == 0 || s->patient[s->n - 1] != a->patient[i])
			s->npat++;
		s->l[s->n] = a->l[i];
		s->emb[s->n] = a->has[i] ? a->vec + i * a->dim : NULL;
		s->truth[s->n] = a->truth[i];
		s->patient[s->n] = a->patient[i];
		s->study[s->n] = a->study[i];
		s->n++;
	}
	return 0;
}

/* The missed and wrong labelled pairs of one test half, "crossval fold N: missed a -> b
 * (patient, studies): cost" lines into *list (items b..e-1 are one patient). */
static void subset_errors(const struct subset *s, size_t b, size_t e, int fold,
			  const struct graph_params *p, struct sb *list)
{
	if (!list)
		return;
	for (size_t i = b; i < e; i++)
		for (size_t j = i + 1; j < e; j++) {
			size_t x = i, y = j;
			struct graph_pair pe;
			int same_t = s->truth[i] == s->truth[j];

			if (s->study[i] == s->study[j] || s->truth[i] == GRAPH_UNLABELLED ||
			    s->truth[j] == GRAPH_UNLABELLED || same_t == (s->pred[i] == s->pred[j]))
				continue;
			if (s->study[j] < s->study[i]) {
				x = j;
				y = i;
			}
			graph_pair_evidence(&s->l[x], &s->l[y], NULL, NULL, 0, p, &pe);
			sb_addf(list, "crossval fold %d: %s %lld -> %lld (patient %d, studies %d -> %d): "
				"d_loc %.4f, long %.1f -> %.1f mm, cost %.4f vs threshold %g%s\n", fold,
				same_t ? "missed" : "wrong", (long long)s->l[x].id, (long long)s->l[y].id,
				s->patient[x], s->study[x], s->study[y], pe.d_loc, s->l[x].diam_mm[0],
				s->l[y].diam_mm[0], pe.cost, p->threshold, pe.gated ? " (gated)" : "");
		}
}

static int subset_eval(struct subset *s, size_t dim, int have_emb, const struct graph_params *p,
		       struct graph_eval *ev, int fold, struct sb *list, char *err)
{
	for (size_t b = 0; b < s->n;) {
		size_t e = b;
		struct graph *g = NULL;

		while (e < s->n && s->patient[e] == s->patient[b])
			e++;
		if (graph_build(s->l + b, e - b, have_emb ? s->emb + b : NULL, dim, p, &g, err))
			return -1;
		for (size_t k = b; k < e; k++)
			s->pred[k] = g->track[k - b];
		graph_destroy(g);
		subset_errors(s, b, e, fold, p, list);
		b = e;
	}
	return graph_eval(s->patient, s->study, s->truth, s->pred, s->n, ev, err);
}

/* Fit on one half, measure on the other, both ways: fold figures into fev[2] (the
 * fitted settings into fbest[2], the test halves' patients into fpat[2] when not NULL),
 * the two test halves together into *cv. */
static int crossval_split(const struct labelled *a, const unsigned char *half_of, int have,
			  const struct graph_params *p, int fitk, size_t bags,
			  struct graph_params *fbest, struct graph_scales *fsc,
			  double (*frun)[2], struct graph_eval *fev, size_t *fpat,
			  struct graph_eval *cv, struct sb *list, char *err)
{
	struct subset h[2];
	int rc = -1;

	memset(h, 0, sizeof(h));
	if (subset_make(a, half_of, 0, &h[0], err) || subset_make(a, half_of, 1, &h[1], err))
		goto out;
	if (h[0].npat == 0 || h[1].npat == 0) {
		errf(err, "cross-validation needs labelled lesions of at least 2 patients");
		goto out;
	}
	for (int f = 0; f < 2; f++) {
		struct subset *fit = &h[f], *test = &h[1 - f];
		int fit_kind = fitk;
		struct graph_eval fit_ev;

		if (fit_kind == GRAPHRUN_FIT_SCALES) {
			if (graph_fit_scales(fit->l, fit->n, fit->truth, GRAPH_FIT_Q, p, &fbest[f],
					     &fsc[f], err))
				goto out;
		} else {
			struct graph_grid g;

			if (fit_kind == GRAPHRUN_FIT_THRESHOLD)
				graph_grid_threshold(p, &g);
			if (graph_calibrate_bagged(fit->l, fit->n, have ? fit->emb : NULL, a->dim,
						   fit->truth,
						   fit_kind == GRAPHRUN_FIT_THRESHOLD ? &g : NULL, p,
						   bags, GRAPHRUN_BAG_SEED, &fbest[f], &fit_ev,
						   frun && !bags ? frun[f] : NULL, err))
				goto out;
		}
		if (subset_eval(test, a->dim, have, &fbest[f], &fev[f], f + 1, list, err))
			goto out;
		if (fpat)
			fpat[f] = test->npat;
	}
	memset(cv, 0, sizeof(*cv));
	cv->tp = fev[0].tp + fev[1].tp;
	cv->fp = fev[0].fp + fev[1].fp;
	cv->fn = fev[0].fn + fev[1].fn;
	cv->tracks = fev[0].tracks + fev[1].tracks;
	cv->whole = fev[0].whole + fev[1].whole;
	cv->multi_tracks = fev[0].multi_tracks + fev[1].multi_tracks;
	cv->multi_whole = fev[0].multi_whole + fev[1].multi_whole;
	graphrun_eval_rates(cv);
	rc = 0;
out:
	subset_free(&h[0]);
	subset_free(&h[1]);
	return rc;
}

void graphrun_eval_rates(struct graph_eval *e)
{
	e->whole_share = e->tracks ? (double)e->whole / (double)e->tracks : 1;
	e->multi_whole_share = e->multi_tracks ? (double)e->multi_whole / (double)e->multi_tracks : 1;
	e->precision = e->tp + e->fp ? (double)e->tp / (double)(e->tp + e->fp) : 1;
	e->recall = e->tp + e->fn ? (double)e->tp / (double)(e->tp + e->fn) : 1;
	e->f1 = e->precision + e->recall > 0 ? 2 * e->precision * e->recall /
		(e->precision + e->recall) : 0;
}

/* mean, sample sd, min, max of x[0..n-1] into s[4] */
static void summary4(const double *x, size_t n, double *s)
{
	double m = 0, v = 0;

	s[2] = s[3] = n ? x[0] : 0;
	for (size_t i = 0; i < n; i++) {
		m += x[i];
		s[2] = x[i] < s[2] ? x[i] : s[2];
		s[3] = x[i] > s[3] ? x[i] : s[3];
	}
	m = n ? m / (double)n : 0;
	for (size_t i = 0; i < n; i++)
		v += (x[i] - m) * (x[i] - m);
	s[0] = m;
	s[1] = n > 1 ? sqrt(v / (double)(n - 1)) : 0;
}

void graphrun_halves(struct rng *g, size_t npat, size_t *perm, unsigned char *half_of)
{
	for (size_t i = 0; i < npat; i++)
		perm[i] = i;
	for (size_t i = npat; i > 1; i--) {
		size_t j = (size_t)(rng_next(g) % i), t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	for (size_t i = 0; i < npat; i++)
		half_of[perm[i]] = (unsigned char)(i % 2);
}

/* Repeated halvings: each repeat shuffles the patient order (Fisher-Yates, one rng seeded
 * with seed for all repeats) and deals it alternately into the two halves. */
static int crossval_repeats(const struct labelled *a, size_t npat, int have,
			    const struct graph_params *p, int fit, size_t bags, size_t repeats,
			    uint64_t seed, struct graphrun_result *r, char *err)
{
	unsigned char *half_of = malloc(npat ? npat : 1);
	size_t *perm = malloc((npat ? npat : 1) * sizeof(*perm));
	double *pr = malloc((repeats ? repeats : 1) * 4 * sizeof(*pr));
	struct rng g;
	int rc = -1;

	if (!half_of || !perm || !pr) {
		errf(err, "out of memory");
		goto out;
	}
	rng_seed(&g, seed);
	memset(&r->rep_pooled, 0, sizeof(r->rep_pooled));
	for (size_t k = 0; k < repeats; k++) {
		struct graph_params fb[2];
		struct graph_scales fs[2];
		struct graph_eval fe[2], cv;

		graphrun_halves(&g, npat, perm, half_of);
		if (crossval_split(a, half_of, have, p, fit, bags, fb, fs, NULL, fe, NULL, &cv,
				   NULL, err))
			goto out;
		pr[2 * repeats + 2 * k] = fb[0].threshold;
		pr[2 * repeats + 2 * k + 1] = fb[1].threshold;
		pr[k] = cv.precision;
		pr[repeats + k] = cv.recall;
		r->rep_pooled.tp += cv.tp;
		r->rep_pooled.fp += cv.fp;
		r->rep_pooled.fn += cv.fn;
		r->rep_pooled.tracks += cv.tracks;
		r->rep_pooled.whole += cv.whole;
		r->rep_pooled.multi_tracks += cv.multi_tracks;
		r->rep_pooled.multi_whole += cv.multi_whole;
	}
	graphrun_eval_rates(&r->rep_pooled);
	summary4(pr, repeats, r->rep_p);
	summary4(pr + repeats, repeats, r->rep_r);
	summary4(pr + 2 * repeats, 2 * repeats, r->rep_thr);
	r->repeats = repeats;
	r->rep_seed = seed;
	rc = 0;
out:
	free(half_of);
	free(perm);
	free(pr);
	return rc;
}

int graphrun_crossval(struct store *st, struct space *sp, const struct graph_params *p,
		      const struct graphrun_truth *t, const int64_t *pids, size_t np,
		      int fit, size_t bags, size_t repeats, uint64_t seed,
		      struct graphrun_result *r, char *err)
{
	struct labelled a;
	struct graphrun_result scratch;
	unsigned char *half_of = NULL;
	int64_t *all = NULL;
	size_t npat = 0;
	int rc = -1, have = 0;

	memset(&a, 0, sizeof(a));
	memset(&scratch, 0, sizeof(scratch));
	sb_init(&scratch.list, GRAPHRUN_LIST_MAX);
	sb_free(&r->fold_list);
	sb_init(&r->fold_list, GRAPHRUN_LIST_MAX);
	a.dim = sp ? (size_t)space_dim(sp) : 0;
	if (!pids) {
		if (store_patient_ids(st, &all, &np, err))
			goto out;
		pids = all;
	}
	for (size_t k = 0; k < np; k++)
		if (eval_patient(st, sp, p, t, pids[k], &a, &scratch, err))
			goto out;
	for (size_t i = 0; i < a.n; i++) {
		have |= a.has[i];
		npat += i == 0 || a.patient[i] != a.patient[i - 1];
	}
	half_of = malloc(npat ? npat : 1);
	if (!half_of) {
		errf(err, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < npat; k++)	/* ascending patient id, dealt alternately */
		half_of[k] = (unsigned char)(k % 2);
	if (fit != GRAPHRUN_FIT_SCALES && fit != GRAPHRUN_FIT_THRESHOLD)
		fit = GRAPHRUN_FIT_GRID;
	if (crossval_split(&a, half_of, have, p, fit, bags, r->fold_best, r->fold_sc, r->fold_run,
			   r->fold_ev, r->fold_patients, &r->cv, &r->fold_list, err) ||
	    (repeats && crossval_repeats(&a, npat, have, p, fit, bags, repeats, seed, r, err)))
		goto out;
	r->crossval = 1;
	r->fit = fit;
	r->bags = fit == GRAPHRUN_FIT_SCALES ? 0 : bags;
	rc = 0;
out:
	free(half_of);
	graphrun_result_free(&scratch);
	free(all);
	lab_free(&a);
	return rc;
}

/* ---- report ---- */

static void eval_text(struct sb *b, const char *what, const struct graph_eval *ev)
{
	sb_addf(b, "%s: same-lesion pairs tp %lld fp %lld fn %lld; precision %.4f recall %.4f "
		"F1 %.4f; tracks recovered whole %lld/%lld (%.4f), multi-lesion %lld/%lld "
		"(%.4f)\n", what, (long long)ev->tp, (long long)ev->fp, (long long)ev->fn,
		ev->precision, ev->recall, ev->f1, (long long)ev->whole, (long long)ev->tracks,
		ev->whole_share, (long long)ev->multi_whole, (long long)ev->multi_tracks,
		ev->multi_whole_share);
}

static void eval_json(struct sb *b, const struct graph_eval *ev)
{
	sb_addf(b, "{\"tp\":%lld,\"fp\":%lld,\"fn\":%lld,\"precision\":%.4f,\"recall\":%.4f,"
		"\"f1\":%.4f,\"tracks\":%lld,\"tracks_whole\":%lld,\"tracks_whole_share\":%.4f,"
		"\"multi_tracks\":%lld,\"multi_tracks_whole\":%lld,"
		"\"multi_tracks_whole_share\":%.4f}", (long long)ev->tp, (long long)ev->fp,
		(long long)ev->fn, ev->precision, ev->recall, ev->f1, (long long)ev->tracks,
		(long long)ev->whole, ev->whole_share, (long long)ev->multi_tracks,
		(long long)ev->multi_whole, ev->multi_whole_share);
}

static void params_json(struct sb *b, const struct graph_params *p)
{
	sb_addf(b, "{\"w_loc\":%g,\"w_size\":%g,\"w_embed\":%g,\"threshold\":%g,"
		"\"axis\":[%g,%g,%g],\"shift_vote\":%s,\"wide\":%g,\"embed_link\":%s,"
		"\"series_dup\":%s,\"size_quad\":%s,\"max_dloc\":%g,\"max_size_ratio\":%g,"
		"\"type_gate\":%s}",
		p->w_loc, p->w_size, p->w_embed, p->threshold, p->axis[0], p->axis[1], p->axis[2],
		p->shift_vote ? "true" : "false", p->wide, p->embed_link ? "true" : "false",
		p->series_dup ? "true" : "false", p->size_quad ? "true" : "false", p->max_dloc,
		p->max_size_ratio,
		p->type_gate ? "true" : "false");
}

/* The scale model's fit (fold 0: the calibration on all labelled lesions). */
static void scales_text(struct sb *b, int fold, const struct graph_scales *sc)
{
	if (fold)
		sb_addf(b, "crossval fold %d: ", fold);
	else
		sb_adds(b, "calibrate: ");
	sb_addf(b, "scale model on %zu links (%zu with sizes): s_x %.4f s_y %.4f s_z %.4f "
		"s_lnsize %.4f; threshold D < %.4f (chi2_4 quantile %g)\n", sc->links,
		sc->size_links, sc->s[0], sc->s[1], sc->s[2], sc->s_r, sc->d, sc->q);
}

void graphrun_report(struct sb *b, const char *space, const struct graph_params *p,
		     const struct graphrun_result *r, int json)
{
	if (json) {
		sb_adds(b, "{\"space\":\"");
		for (const char *c = space; *c; c++)	/* space names are [A-Za-z0-9_.-] */
			if (*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20)
				sb_addc(b, *c);
		sb_addf(b, "\",\"patients\":%zu,\"lesions\":%zu,\"labelled\":%zu,"
			"\"with_vector\":%zu,\"edges\":%zu,\"tracks\":%zu,\"ms\":%.0f,"
			"\"params\":", r->patients, r->lesions, r->labelled, r->with_vec, r->edges,
			r->tracks, r->ms);
		params_json(b, p);
		sb_adds(b, ",\"eval\":");
		eval_json(b, &r->ev);
		if (r->calibrated) {
			sb_adds(b, ",\"calibrated\":{\"params\":");
			params_json(b, &r->best);
			sb_adds(b, ",\"eval\":");
			eval_json(b, &r->best_ev);
			sb_addf(b, ",\"threshold_run\":[%g,%g]}", r->run[0], r->run[1]);
		}
		sb_adds(b, "}\n");
		return;
	}
	sb_addf(b, "graph eval: %zu patients, %zu lesions (%zu labelled, %zu with a vector in "
		"space %s), %zu edges, %zu tracks, %.0f ms\n", r->patients, r->lesions,
		r->labelled, r->with_vec, *space ? space : "(none)", r->edges, r->tracks, r->ms);
	sb_addf(b, "graph eval: w_loc %g w_size %g w_embed %g threshold %g (axis %g,%g,%g, "
		"shift_vote %d, wide %g, embed_link %d, series_dup %d, size_quad %d, max_dloc %g, "
		"max_size_ratio %g, type_gate %d)%s\n", p->w_loc, p->w_size, p->w_embed,
		p->threshold, p->axis[0], p->axis[1], p->axis[2], p->shift_vote, p->wide,
		p->embed_link, p->series_dup, p->size_quad, p->max_dloc, p->max_size_ratio,
		p->type_gate,
		r->with_vec ? "" : "; no embedding evidence");
	eval_text(b, "graph eval", &r->ev);
	if (r->list.len) {
		sb_addf(b, "graph eval: %zu missed and %zu wrong links among the labelled pairs:\n",
			r->missed, r->wrong);
		sb_add(b, r->list.p, r->list.len);
	}
	for (int f = 0; r->crossval && f < 2; f++) {
		const struct graph_params *q = &r->fold_best[f];

		sb_addf(b, "crossval fold %d: fitted on half %d (w_loc %g axis %g,%g,%g w_size %g "
			"w_embed %g shift_vote %d wide %g threshold %g), measured on half %d (%zu "
			"patients)", f + 1, f, q->w_loc, q->axis[0], q->axis[1], q->axis[2],
			q->w_size, q->w_embed, q->shift_vote, q->wide, q->threshold, 1 - f,
			r->fold_patients[f]);
		eval_text(b, "", &r->fold_ev[f]);
		if (r->fit == GRAPHRUN_FIT_SCALES)
			scales_text(b, f + 1, &r->fold_sc[f]);
		else if (r->fold_run[f][1] > 0)
			sb_addf(b, "crossval fold %d: %s every threshold from %g to %g scores as "
				"well on half %d; their geometric middle is chosen\n", f + 1,
				r->fit == GRAPHRUN_FIT_THRESHOLD ? "threshold only (weights of the "
				"config):" : "with the chosen weights", r->fold_run[f][0],
				r->fold_run[f][1], f);
	}
	if (r->crossval && r->bags)
		sb_addf(b, "crossval: each fit bagged: the weights most of %zu bootstrap samples of "
			"the fit half's patients chose, their median threshold\n", r->bags);
	if (r->crossval && r->fold_list.len)
		sb_add(b, r->fold_list.p, r->fold_list.len);
	if (r->crossval)
		eval_text(b, "crossval both test halves", &r->cv);
	if (r->crossval && r->repeats) {
		sb_addf(b, "crossval repeated: %zu random halvings (seed %llu): precision mean "
			"%.4f sd %.4f min %.4f max %.4f; recall mean %.4f sd %.4f min %.4f max "
			"%.4f\n", r->repeats, (unsigned long long)r->rep_seed, r->rep_p[0],
			r->rep_p[1], r->rep_p[2], r->rep_p[3], r->rep_r[0], r->rep_r[1],
			r->rep_r[2], r->rep_r[3]);
		eval_text(b, "crossval repeated, all test halves", &r->rep_pooled);
		sb_addf(b, "crossval repeated, fitted thresholds of the %zu fits: mean %.4f sd "
			"%.4f min %.4f max %.4f\n", 2 * r->repeats, r->rep_thr[0], r->rep_thr[1],
			r->rep_thr[2], r->rep_thr[3]);
	}
	if (r->calibrated && r->fit == GRAPHRUN_FIT_SCALES) {
		eval_text(b, "calibrate (scale model, in-sample)", &r->best_ev);
		scales_text(b, 0, &r->best_sc);
	} else if (r->calibrated) {
		eval_text(b, "calibrate: best", &r->best_ev);
		sb_addf(b, "calibrate: with these weights every threshold from %g to %g scores "
			"as well (edges refined between grid thresholds); their geometric middle "
			"%g is chosen\n", r->run[0], r->run[1], r->best.threshold);
	}
	if (r->calibrated) {
		sb_addf(b, "# calibrated on %zu labelled lesions; paste into lesiond.conf:\n"
			"graph_w_loc = %g\ngraph_w_size = %g\ngraph_w_embed = %g\n"
			"graph_axis_x = %g\ngraph_axis_y = %g\ngraph_axis_z = %g\n"
			"graph_shift_vote = %s\ngraph_wide = %g\ngraph_size_quad = %s\n"
			"graph_threshold = %g\n", r->labelled, r->best.w_loc, r->best.w_size,
			r->best.w_embed, r->best.axis[0], r->best.axis[1], r->best.axis[2],
			r->best.shift_vote ? "true" : "false", r->best.wide,
			r->best.size_quad ? "true" : "false", r->best.threshold);
		if (*space && r->best.w_embed > 0)
			sb_addf(b, "graph_space = %s\n", space);
	}
}
