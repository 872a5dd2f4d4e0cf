/* graph.h - the intra-patient lesion graph: which lesions of a patient's different
 * studies are the same physical lesion, the tracks they form, RECIST 1.1 along a track,
 * and the pairwise evaluation / calibration against ground-truth track ids.
 *
 * Pure computation (no SQLite, no HTTP): the store persists the edges (store_graph),
 * `lesiond graph` / the lesion handlers call graph_build once per patient, `lesiond eval
 * --graph` calls graph_eval and graph_calibrate. A patient has a few to a few dozen
 * lesions, so everything here is O(n^3) per study pair at worst and allocates per call.
 *
 * Matching rule (graph_build):
 *   For lesions a (study s) and b (study t != s) the evidence is
 *     d_loc   = sqrt(sum_k (axis[k] * (b.loc[k] - a.loc[k] - off[k]))^2), the weighted
 *               displacement of the normalised body locations (units of the normalised
 *               [0,1] body box); off = 0 except in the aligned pass below,
 *     d_size  = |log(long_a / long_b)|, long diameters in mm (size_ratio = long_later /
 *               long_earlier is kept on the edge),
 *     d_embed = Euclidean distance between the two L2-normalised embedding vectors, in
 *               [0, 2]; absent (NAN, term left out) when either vector is missing.
 *   cost = w_loc * d_loc + w_size * d_size + w_embed * d_embed
 *   (size_quad = 1: sqrt((w_loc * d_loc)^2 + (w_size * d_size)^2) + w_embed * d_embed).
 *   Hard gates make a pair unmatchable: the unweighted displacement (minus off) >
 *   max_dloc, long ratio > max_size_ratio,
 *   both types known (1..8) and different while type_gate is on.
 * Sequential rule (sequential = 1, the default): the studies are taken in time order
 *   (study index); the first study's lesions start one track each; each later study's
 *   lesions are assigned (Kuhn-Munkres as above, same padding and threshold) to the
 *   tracks' latest lesions (a track whose lesion is missing from a study keeps its
 *   older lesion); an assigned pair below the threshold extends the track (an edge from
 *   the track's latest lesion, score = 1 - cost / threshold), every other lesion starts
 *   a track. With align = 1, when
 *   the first assignment (threshold x align_wide when align_wide > 1) links >= 2
 *   lesions, each earlier study's offset off is the mean
 *   displacement of its linked pairs (>= 2 of them; else the mean over all linked
 *   pairs) and the assignment is solved again with it, twice: real follow-ups move
 *   mostly together (the normalisation of the body changes from study to study;
 *   docs/real_vs_demo.md), so the shared part is taken out before comparing lesions.
 *   Shift vote (shift_vote = 1, with align): when the assignment without offsets links
 *   fewer than 2 lesions, the displacement of every gate-passing (head, lesion) pair
 *   is tried as the offset of every head; the one linking the most lesions (>= 2 and
 *   more than without; ties: smaller total cost) is kept, then the two aligned passes
 *   refine it (per-study means); if they end below 2 links, no offset. Skipped (cost
 *   bound) when (gate-passing pairs) x max(heads, lesions)^3 > 2e8.
 *   Wide links (wide > 1): then an unmatched head and an unmatched lesion of the study
 *   that are each other's only candidate (over all heads and all the study's lesions)
 *   with gates passed and cost < threshold x wide are linked.
 *   Embedding links (embed_link = 1): then an unmatched head and an unmatched lesion,
 *   both with a vector, that are mutually nearest in d_embed (over all heads and all
 *   the study's lesions with a vector; the lesion not already taken) and pass the gates
 *   are linked. Wide and embedding links cost >= threshold; their edges get
 *   score = 0.5 * threshold / cost, in (0, 0.5].
 *   Edges join consecutive lesions of a track only.
 * All-pairs rule (sequential = 0, the rule before real follow-ups were measured):
 *   For every pair of studies (s < t) the assignment with the smallest total of
 *   min(cost, threshold) is solved exactly (Kuhn-Munkres on the square matrix padded
 *   with "no match" = threshold), so each lesion matches at most one lesion per other
 *   study; assigned pairs with cost < threshold become candidate edges with
 *   score = 1 - cost / threshold, in (0, 1]. Lesions of one study are never linked.
 * Series duplicates (series_dup = 1, both rules): two lesions of one study in different
 *   series whose normalised locations are at most GRAPH_DUP_DLOC (0.02, unweighted)
 *   apart, whose long diameters differ by at most a factor GRAPH_DUP_SIZE_RATIO (1.25)
 *   and whose types are not known and different (type_gate) are one lesion bookmarked
 *   in two series (graph_series_dups: nearest pairs first, a group never holds two
 *   lesions of one series). Only each group's representative (lowest series, then
 *   lowest id) takes part in the matching below; every other member joins its track
 *   through an edge representative -> member (cost 0, score 1, d_loc their
 *   displacement, size_ratio member / representative). So a track holds at most one
 *   lesion per study, except such duplicates (one per series).
 * Consistency rule (both; the sequential rule never breaks it):
 *   Candidate edges are taken in decreasing score (ties: smaller from id, then to id) and
 *   joined with union-find; an edge that would put two lesions of the same study into one
 *   track is dropped (so a track holds at most one lesion per study). The kept edges are
 *   the graph; the tracks are its connected components.
 */
#ifndef LSD_GRAPH_H
#define LSD_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "lesion.h"

struct graph_params {
	double w_embed, w_loc, w_size;	/* cost weights (>= 0) */
	double axis[3];			/* relative weights of the x, y, z displacement in d_loc */
	double threshold;		/* largest cost still linked (> 0) */
	double max_dloc;		/* gate on d_loc, normalised units; <= 0: no gate */
	double max_size_ratio;		/* gate on larger/smaller long diameter; <= 0: no gate */
	int type_gate;			/* 1: known, different types never link */
	int sequential;			/* 1: studies in time order, each matched to the tracks'
					 * latest lesions (see "Sequential rule" above) */
	int align;			/* 1: match again after removing the study pair's mean
					 * displacement (sequential rule only) */
	double align_wide;		/* the offsets' first assignment uses threshold x this
					 * (<= 1: the threshold itself) */
	int shift_vote;			/* 1: when the first assignment links < 2 lesions, vote
					 * for the study pair's offset (see "Shift vote") */
	double wide;			/* > 1: unambiguous links up to threshold x wide */
	int embed_link;			/* 1: embedding-led links (see "Embedding links") */
	int series_dup;			/* 1: merge series duplicates (see "Series duplicates") */
	int size_quad;			/* 1: cost = sqrt((w_loc d_loc)^2 + (w_size d_size)^2)
					 * + w_embed d_embed (the scale model, graph_fit.h);
					 * 0: the weighted sum below */
};

#define GRAPH_DUP_DLOC 0.02
#define GRAPH_DUP_SIZE_RATIO 1.25
/* The series duplicates of one patient's lesions l[0..n-1] under *p: rep[i] = the index
 * of lesion i's group representative (i itself when it is one, or when p->series_dup
 * is 0); *ndup = the lesions that are not their own representative. Returns 0, or -1
 * when out of memory. */
int graph_series_dups(const struct lesion *l, size_t n, const struct graph_params *p,
		      size_t *rep /* OUT: n */, size_t *ndup /* OUT */);

/* Defaults calibrated on the demo dataset (see graph.c for the command). */
void graph_params_default(struct graph_params *p /* OUT */);

struct graph_edge {
	int64_t from, to;	/* from is in the earlier study */
	double score;		/* 1 - cost / threshold, in (0, 1] */
	double cost;
	double d_embed;		/* NAN when no embedding evidence */
	double d_loc;
	double size_ratio;	/* long diameter of `to` / long diameter of `from` */
};

/* One patient's graph. Nodes are in input order; track[i] is node i's track number,
 * 0..ntracks-1, numbered in order of each track's first node (earliest study, then
 * smallest id). Edges are sorted by (from study, from id, to study, to id). */
struct graph {
	size_t n;
	int64_t *ids;
	int *study;
	int *track;
	size_t ntracks;
	struct graph_edge *edges;
	size_t nedges;
	size_t ndropped;	/* candidate edges dropped by the consistency rule */
};

/* Build the graph of one patient's lesions l[0..n-1] (all with the same patient; ids
 * distinct). emb: NULL for no embedding evidence, else n pointers to dim floats each,
 * emb[i] NULL when lesion i has no vector. Returns 0, or -1 with err. */
int graph_build(const struct lesion *l, size_t n, const float *const *emb, size_t dim,
		const struct graph_params *p, struct graph **out /* OUT */, char *err);
void graph_destroy(struct graph *g);

/* The evidence of one pair as graph_build sees it without an offset (a in the earlier
 * study): d_loc, d_embed (NAN: none), size_ratio, cost, gated. For reports. */
struct graph_pair {
	int gated;
	double cost, d_loc, d_embed, size_ratio;
};
void graph_pair_evidence(const struct lesion *a, const struct lesion *b, const float *ea,
			 const float *eb, size_t dim, const struct graph_params *p,
			 struct graph_pair *out /* OUT */);

/* Tracks from stored edges: track[i] for l[i], numbered as graph_build numbers them
 * (edges naming ids not in l are ignored). Returns the number of tracks, or -1 with err.
 * Stored edges already satisfy the one-lesion-per-study rule; this does not re-check. */
int graph_components(const struct lesion *l, size_t n, const struct graph_edge *e,
		     size_t ne, int *track /* OUT: n */, char *err);

/* Minimum-cost perfect assignment of an n x n cost matrix (row-major, finite values):
 * assign[r] = column of row r, *total = the sum of the chosen costs. O(n^3).
 * Returns 0, or -1 on allocation failure or non-finite costs. Exposed for the tests. */
int graph_assign(const double *cost, size_t n, size_t *assign /* OUT: n */,
		 double *total /* OUT */);

/* ---- RECIST 1.1 along one track ----
 * Rule (also returned to API clients by graph_recist_rule()): the track is followed as a
 * single target lesion (a series duplicate counts once: the first series' lesion). Its
 * measurement at a study is its long diameter in mm (RECIST measures the longest
 * diameter of a non-nodal lesion; DeepLesion does not mark lymph
 * nodes, so the short-axis rule for nodes is not applied); the "sum of diameters" of
 * one target lesion is that long diameter. Baseline = the track's first measurement;
 * nadir at a study = the smallest sum among the earlier points (baseline included).
 *   PD: sum >= nadir * 1.2 and sum - nadir >= 5 mm;
 *   else PR: sum <= baseline * 0.7;
 *   else SD.
 *   CR: the patient has a study later than the track's last lesion, and the track has no
 *   lesion there: one extra point (sum 0) for the patient's latest study, category CR.
 *   Studies between two points where the track has no lesion are not assessed (a
 *   radiologist's bookmark may simply be missing). The first point is the baseline
 *   (category BL). The track's response is the category of its last point. */
enum graph_recist { GRAPH_BL, GRAPH_CR, GRAPH_PR, GRAPH_SD, GRAPH_PD };

struct graph_point {
	int64_t id;		/* lesion id; 0 for the CR point */
	int study;
	double long_mm, short_mm;
	double sum_mm;		/* the RECIST sum (long diameter; 0 when absent) */
	double d_base_mm, d_base_pct;	/* change from baseline */
	double nadir_mm;	/* nadir before this point (baseline for the first) */
	double d_nadir_mm, d_nadir_pct;	/* change from that nadir */
	enum graph_recist cat;
};

/* Track lesions tl[0..n-1] (any order; sorted by study here), the patient's latest
 * study index. pts must hold n + 1 entries. Returns the number of points, or -1 with err
 * (n == 0, two lesions in one study and series, a non-positive long diameter). Two
 * lesions of one study in different series (series duplicates) give one point: the
 * lesion of the lowest series (then lowest id). */
int graph_recist(const struct lesion *const *tl, size_t n, int latest_study,
		 struct graph_point *pts /* OUT: n + 1 */, char *err);
const char *graph_recist_name(enum graph_recist c);	/* "BL", "CR", "PR", "SD", "PD" */
const char *graph_recist_rule(void);

/* ---- evaluation ----
 * Items i = 0..n-1 with patient, study, true track id and predicted track id (ids are
 * compared only within a patient). Pairs are all (i, j) of one patient in different
 * studies; a pair is positive in truth / prediction when both have the same track id.
 * A true track is recovered whole when some predicted track has exactly its members;
 * multi-lesion tracks (>= 2 members) are also counted apart. An item whose truth is
 * GRAPH_UNLABELLED is not scored (it took part in the matching, but nobody said which
 * lesion it is). */
#define GRAPH_UNLABELLED INT64_MIN
struct graph_eval {
	int64_t tp, fp, fn;
	double precision, recall, f1;	/* precision (recall) is 1 when nothing is predicted (true) */
	int64_t tracks, whole;		/* all true tracks */
	int64_t multi_tracks, multi_whole;	/* true tracks with >= 2 lesions */
	double whole_share, multi_whole_share;
};
int graph_eval(const int *patient, const int *study, const int64_t *truth,
	       const int64_t *pred, size_t n, struct graph_eval *out /* OUT */, char *err);

/* Grid search: try every combination of the grid values (w_embed values are only tried
 * when emb is given, else w_embed = 0), build each patient's graph from l[0..n-1]
 * (any order; grouped by patient here) and score it with graph_eval against truth[].
 * The top score is the highest F1, then the highest whole share. Every run of
 * consecutive grid thresholds that all reach it (per weight combination) has its two
 * edges refined between grid points (16 bisection steps in ln threshold; a run at the
 * grid's end ends there): lo, the lowest threshold found reaching the top, hi the
 * highest. The widest run in ln(hi / lo) wins, with threshold sqrt(lo * hi): the
 * setting farthest, as a factor, from the edges where links start to be missed or
 * wrongly made (a middle that does not itself reach the top, a hole in the plateau,
 * falls back to the run's lower-middle grid threshold). Ties (widths within 1e-9) go to
 * the setting that links the fewest pairs of lesions in all (the labelled lesions'
 * patients, unlabelled lesions included): when the labels cannot tell two settings
 * apart, the one claiming fewer unverified links wins; then to the earlier in the
 * grid. run[0], run[1] get lo and hi. Thresholds must ascend. Gates and type_gate come from *base. NULL grid:
 * graph_grid_default (w_loc 1; axis weights {1,1,1}, {1,0.7,2}, {1,1,3}; w_size,
 * w_embed 0..0.2 / 0..0.1; shift_vote {0, 1}; wide {1, 2}; thresholds 0.01..0.3 in
 * steps of ~1.25x). */
struct graph_grid {
	const double *w_loc, *w_size, *w_embed, *threshold;
	size_t n_loc, n_size, n_embed, n_threshold;
	const double *axis;	/* n_axis x, y, z triples; n_axis 0: base's axis */
	size_t n_axis;
	const int *shift_vote;	/* n_vote values of shift_vote; n_vote 0: base's */
	size_t n_vote;
	const double *wide;	/* n_wide values of wide; n_wide 0: base's */
	size_t n_wide;
};
void graph_grid_default(struct graph_grid *g /* OUT */);
/* The threshold-only grid: graph_grid_default's thresholds, and every weight (w_loc,
 * w_size, w_embed, axis, shift_vote, wide) base's own, one setting: the calibration then
 * fits one number. g points into *base, which must outlive it. */
void graph_grid_threshold(const struct graph_params *base, struct graph_grid *g /* OUT */);
/* Bagged calibration (bags > 0): graph_calibrate on `bags` bootstrap samples of the
 * patients (drawn with replacement, as many as there are, each copy a patient of its
 * own; rng seeded with seed); the chosen weights are the combination (axis, w_loc,
 * w_size, w_embed, shift_vote, wide) most bootstraps chose (ties: the one chosen first),
 * the threshold the median of those bootstraps' thresholds (even count: the geometric
 * mean of the two middle ones); *best_eval is that setting scored on all of l. bags 0:
 * graph_calibrate itself (run[] only then). Returns 0, or -1 with err. */
int graph_calibrate_bagged(const struct lesion *l, size_t n, const float *const *emb,
			   size_t dim, const int64_t *truth, const struct graph_grid *grid,
			   const struct graph_params *base, size_t bags, uint64_t seed,
			   struct graph_params *best /* OUT */,
			   struct graph_eval *best_eval /* OUT */, double *run /* OUT or NULL */,
			   char *err);
int graph_calibrate(const struct lesion *l, size_t n, const float *const *emb, size_t dim,
		    const int64_t *truth, const struct graph_grid *grid,
		    const struct graph_params *base, struct graph_params *best /* OUT */,
		    struct graph_eval *best_eval /* OUT */, double *run /* OUT: [2] or NULL */,
		    char *err);

#endif
