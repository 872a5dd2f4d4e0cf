/* graphrun.h - the lesion graph over a store: each patient's graph built from the
 * store's lesions with embedding evidence from one space, ground-truth track files, and
 * the evaluation and calibration of the graph against them.
 *
 * Shared by `lesiond graph` (rebuild, --truth, --calibrate), the daemon's lesion writes
 * (graphrun_rebuild of one patient) and `lesiond eval --graph`, so both commands measure
 * the graph the same way. Only graphrun_rebuild writes to the store (its edges, through
 * store_graph_replace). Load: a patient at a time; the whole DeepLesion
 * (32k lesions, 4.4k patients) evaluates in well under a second, a calibration grid of
 * a few hundred settings in seconds.
 */
#ifndef LSD_GRAPHRUN_H
#define LSD_GRAPHRUN_H

#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "graph_fit.h"
#include "lesion.h"
#include "rng.h"
#include "space.h"
#include "store.h"
#include "util.h"

/* The embedding vectors of n lesions, in graph_build's form. */
struct graphrun_vecs {
	const float **emb;	/* n pointers (NULL: no vector), or NULL when none has one */
	float *buf;		/* storage behind emb */
	size_t dim;		/* the space's dimension (0 without a space) */
	size_t have;		/* lesions with a vector */
};
/* Look up each lesion's vector in sp (NULL: no embedding evidence, v->emb = NULL).
 * Returns 0, or -1 with err (out of memory). */
int graphrun_vectors(struct space *sp, const struct lesion *l, size_t n,
		     struct graphrun_vecs *v /* OUT */, char *err);
void graphrun_vecs_free(struct graphrun_vecs *v);

/* Recompute one patient's graph from its current lesions and replace its stored edges,
 * in one write transaction (a patient with no lesions left ends with no edges). Call
 * after adding or deleting a lesion of that patient. sp: the space whose vectors give
 * the embedding evidence (NULL: none; a lesion without a vector there gets none).
 * stats may be NULL. */
struct graphrun_stats {
	size_t lesions, edges, dropped, tracks;
	size_t with_vec;	/* lesions with a vector in sp */
};
int graphrun_rebuild(struct store *st, int64_t patient, const struct graph_params *p,
		     struct space *sp, struct graphrun_stats *stats /* OUT */, char *err);

/* Ground truth: a CSV whose header names at least lesion_id and track_id (other
 * columns ignored, no quoting), e.g. the demo's ground_truth.csv
 * (lesion_id,patient,study,true_type,track_id). Track ids are any integers, compared
 * within a patient. Or a pairs file whose header names lesion_a and lesion_b
 * (linkpairs.h, e.g. same_lesion_pairs.csv): the lesions it names, each track the
 * connected group of its links; lesions it does not name are not scored. */
struct graphrun_truth {
	int64_t *id, *track;	/* sorted by id */
	size_t n;
};
int graphrun_truth_load(const char *path, struct graphrun_truth *t /* OUT */, char *err);
void graphrun_truth_free(struct graphrun_truth *t);
/* 1 and *track when id has a row, else 0. */
int graphrun_truth_find(const struct graphrun_truth *t, int64_t id, int64_t *track /* OUT */);

struct graphrun_result {
	size_t patients;	/* patients built */
	size_t lesions;		/* their lesions */
	size_t labelled;	/* lesions with a truth row (the ones scored) */
	size_t with_vec;	/* lesions with a vector in the space */
	size_t edges, tracks;	/* of the graphs built with the given parameters */
	struct graph_eval ev;	/* those graphs against the truth */
	int calibrated;		/* the two fields below are set */
	struct graph_params best;
	struct graph_eval best_ev;
	double run[2];		/* thresholds from run[0] to run[1] score as well */
	double ms;		/* wall time of the whole run */
	struct sb list;		/* every missed / wrong labelled pair, one line each */
	size_t missed, wrong;
	int crossval;		/* the fold fields below are set */
	struct graph_params fold_best[2];	/* fitted on one half of the patients */
	struct graph_eval fold_ev[2];		/* measured on the other half */
	struct graph_eval cv;			/* both test halves together */
	size_t fold_patients[2];		/* labelled patients of each half */
	struct sb fold_list;	/* every missed / wrong pair of the test halves */
	size_t bags;		/* bootstrap samples of each crossval fit (0: none) */
	size_t repeats;		/* repeated random halvings (0: none); the fields below */
	uint64_t rep_seed;
	double rep_p[4], rep_r[4];	/* pooled P, R of a repeat: mean, sd, min, max */
	struct graph_eval rep_pooled;	/* every repeat's test halves together */
	int fit;			/* GRAPHRUN_FIT_GRID or GRAPHRUN_FIT_SCALES */
	struct graph_scales best_sc;	/* the scales of best (fit scales) */
	struct graph_scales fold_sc[2];	/* the scales of fold_best (fit scales) */
	double fold_run[2][2];		/* each fold fit's top-score threshold run, lo and hi
					 * (grid and threshold fits without bags; else 0) */
	double rep_thr[4];		/* fitted thresholds over all repeats' fits: mean,
					 * sd, min, max */
};
/* How --calibrate and --crossval fit: the grid search (graph_calibrate, optionally
 * bagged) or the scale model (graph_fit_scales, q = GRAPH_FIT_Q). */
#define GRAPHRUN_FIT_GRID 1
#define GRAPHRUN_FIT_SCALES 2
/* the threshold only: graph_calibrate on graph_grid_threshold (every weight the
 * config's), so a fit picks one number (issue 19, attempt 4) */
#define GRAPHRUN_FIT_THRESHOLD 3
void graphrun_result_free(struct graphrun_result *r);

/* Build the graph of every patient in pids[0..np-1] (pids NULL: every patient in the
 * store) in memory from its current lesions, parameters *p and the vectors of sp (NULL:
 * none), exactly as graphrun_rebuild would store it, and score the labelled lesions
 * against t (graph_eval). With calibrate, also grid-search the default grid
 * (graph_calibrate) on the labelled lesions only; gates come from *p. */
int graphrun_eval(struct store *st, struct space *sp, const struct graph_params *p,
		  const struct graphrun_truth *t, const int64_t *pids, size_t np, int calibrate,
		  struct graphrun_result *out /* OUT */, char *err);
/* calibrate: 0 none, 1 (GRAPHRUN_FIT_GRID) the grid, GRAPHRUN_FIT_SCALES the scale model,
 * GRAPHRUN_FIT_THRESHOLD the threshold alone (the weights *p's) */
/* Cross-validation by patient: the patients with a labelled lesion, in ascending id, are
 * dealt alternately into halves 0 and 1; the default grid is calibrated on one half
 * (graph_calibrate, gates from *p) and the chosen setting measured on the other, both
 * ways. The fold figures and the two test halves together (cv) go into *out, which
 * graphrun_eval filled (call it first, same arguments). */
/* With repeats > 0, also the same protocol over `repeats` random halvings (each repeat
 * shuffles the patients, Fisher-Yates with one rng seeded with seed, and deals them
 * alternately): mean, sd, min and max of each repeat's pooled P and R, and all repeats
 * pooled. Deterministic for a seed. */
/* fit GRAPHRUN_FIT_SCALES: every fit is graph_fit_scales (bags ignored).
 * GRAPHRUN_FIT_THRESHOLD: every fit is the calibration on graph_grid_threshold(p). Else
 * bags > 0: every fit is graph_calibrate_bagged with that many bootstrap samples
 * (seed GRAPHRUN_BAG_SEED), else graph_calibrate. */
#define GRAPHRUN_BAG_SEED 19
int graphrun_crossval(struct store *st, struct space *sp, const struct graph_params *p,
		      const struct graphrun_truth *t, const int64_t *pids, size_t np,
		      int fit, size_t bags, size_t repeats, uint64_t seed,
		      struct graphrun_result *out, char *err);
/* One random halving of npat patients (numbered 0..npat-1): a uniform permutation
 * into perm (Fisher-Yates with g), dealt alternately, so half_of[k] (0 or 1) puts
 * ceil(npat / 2) patients in half 0 and floor(npat / 2) in half 1. */
void graphrun_halves(struct rng *g, size_t npat, size_t *perm /* OUT: npat */,
		     unsigned char *half_of /* OUT: npat */);
/* precision, recall, F1 and the whole shares of e from its counts */
void graphrun_eval_rates(struct graph_eval *e);

/* The report both commands print: text lines, or one JSON object (json != 0) with
 * space (the name, "" for none), the parameters, the counts and the scores. */
void graphrun_report(struct sb *b, const char *space, const struct graph_params *p,
		     const struct graphrun_result *r, int json);

#endif
