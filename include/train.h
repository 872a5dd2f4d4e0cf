/* train.h - a learned projection from one lesion space to a new, L2-normalised one,
 * trained with Deep Lesion Graphs' sequential sampling and sequence-triplet loss.
 *
 * Called by `lesiond train` (fit, then store the model blob in SQLite) and by whatever
 * adds lesions to a trained space later (deserialize, project). Pure C: no SQLite, no
 * FAISS, no threads outside train_fit/train_project_many. The model is
 *     y = normalize(W2 relu(W1 s + b1) + b2)   (hidden > 0)
 *     y = normalize(W s + b)                   (hidden == 0, linear)
 * where s = (x - mean) / std is the input standardised with per-dimension statistics
 * computed on the training samples and stored in the model.
 *
 * Training (see index/train.c for the details and the thresholds):
 *  - every sample with a known type (1..LESION_NTYPES) is a seed; samples with type -1
 *    get a pseudo-type from the majority of their pseudo_k nearest seeds in the current
 *    embedding, first after pseudo_every epochs and again every pseudo_every epochs;
 *  - for an anchor A: S1 same type, near location, similar size; S2 same type, near
 *    location, not similar size; S3 same type, not near; S4 different type. Levels with
 *    no candidate are skipped; the loss is sum_i max(0, d(A,S_i) - d(A,S_i+1) + margin)
 *    over consecutive present levels, d = squared Euclidean distance of embeddings;
 *  - Adam on mini-batches; deterministic for (samples, params): the result does not
 *    depend on the thread count or on scheduling.
 */
#ifndef LSD_TRAIN_H
#define LSD_TRAIN_H

#include <stddef.h>
#include <stdint.h>

struct train_model;

struct train_params {
	int dim_out;		/* output dimension (default 64) */
	int hidden;		/* hidden units; 0 = linear projection (default 0) */
	int epochs;		/* default 30 */
	uint64_t seed;		/* default 1 */
	double margin;		/* on squared distances of unit vectors, (0, 4); default 0.2 */
	double lr;		/* Adam learning rate (default 5e-3) */
	int batch;		/* anchors per Adam step (default 64) */
	int anchors_per_epoch;	/* 0 = every sample with a (pseudo-)type, once per epoch */
	int pseudo_every;	/* pseudo-label refresh period in epochs; 0 = no pseudo labels */
	int pseudo_k;		/* neighbours voting for a pseudo-type (default 5) */
	double pseudo_weight;	/* loss weight of a pseudo-labelled anchor (default 0.5) */
	double near_q;		/* "near location": below this quantile of same-type
				 * location distances (default 0.25) */
	double similar_q;	/* "similar size": same, for size distances (default 0.25) */
	int sample_tries;	/* candidates drawn per anchor when filling S1..S4 (64) */
	int holdout_split;	/* samples of this split are ignored entirely; 0 = none */
	int threads;		/* worker threads (default 2) */
	int global_scale;	/* 1: centre each input dimension but scale all by one common
				 * factor, keeping the source space's own balance between
				 * dimensions (e.g. the built-in descriptor's block weights);
				 * 0: standardise every dimension on its own (default) */
};

/* One training lesion. x points at dim_in floats owned by the caller, valid during
 * train_fit. loc: normalised x,y,z (DeepLesion's normalised lesion location); diam_mm:
 * long and short diameter in mm (<= 0 or NaN = unknown, then never "similar size"). */
struct train_sample {
	const float *x;
	int type;		/* 1..LESION_NTYPES, or -1 unknown */
	double loc[3];
	double diam_mm[2];
	int split;		/* 1 train, 2 val, 3 test */
	int64_t id;
	int patient;
};

/* Per-epoch report handed to the progress callback. */
struct train_progress {
	int epoch;		/* 1-based */
	int epochs;
	double loss;		/* mean weighted sequence loss per anchor in this epoch */
	double active;		/* fraction of consecutive pairs with a positive hinge */
	int anchors;		/* anchors with a sequence of >= 2 levels in this epoch */
	int n_seeds;		/* samples with a given type */
	int n_pseudo;		/* samples with a pseudo-type this epoch */
	double ms;		/* wall time of the epoch, including a pseudo-label refresh */
};
/* Return nonzero to stop training (train_fit then fails with "cancelled"). */
typedef int (*train_progress_fn)(void *ctx, const struct train_progress *p);

/* Optional outputs of train_fit; any pointer may be NULL. */
struct train_out {
	double *loss_curve;	/* OUT: params.epochs entries, the per-epoch loss */
	int *types_used;	/* OUT: n entries: given type, final pseudo-type, or -1 */
	int n_pseudo;		/* OUT: samples with a pseudo-type at the end */
	double thr_loc;		/* OUT: the "near" location-distance threshold used */
	double thr_size;	/* OUT: the "similar" size-distance threshold used */
};

void train_params_default(struct train_params *p /* OUT */);
/* 0 when every field is in range, else -1 with "field: what" in err. */
int train_params_check(const struct train_params *p, char *err);

/* Learn a projection from the n samples (dim_in floats each). Fails when there are no
 * two seeds of one type, on bad parameters, on non-finite input, or when cancelled. */
int train_fit(const struct train_sample *samples, size_t n, int dim_in,
	      const struct train_params *p, struct train_model **model /* OUT */,
	      struct train_out *out, train_progress_fn progress, void *ctx, char *err);

/* y (dim_out floats) = the unit-length projection of x (dim_in floats). Returns -1 when
 * x has a non-finite value or projects to the zero vector (y is then all zeros).
 * Thread-safe: the model is read only. */
int train_project(const struct train_model *m, const float *x, float *y /* OUT */);
/* n rows at once, rows contiguous; returns the number of rows that failed. */
size_t train_project_many(const struct train_model *m, const float *x, size_t n,
			  float *y /* OUT */, int threads);

int train_model_dim_in(const struct train_model *m);
int train_model_dim_out(const struct train_model *m);
int train_model_hidden(const struct train_model *m);
void train_model_free(struct train_model *m);

/* A self-contained byte blob: magic "LSDTRAIN", version, dims, standardisation,
 * weights (little-endian IEEE doubles), FNV-1a checksum. *blob is malloc'd. */
int train_model_serialize(const struct train_model *m, void **blob /* OUT */,
			  size_t *len /* OUT */, char *err);
/* Checks magic, version, dims against length, checksum, and finite values. */
int train_model_deserialize(const void *blob, size_t len, struct train_model **m /* OUT */,
			    char *err);

/* Test and diagnostic hooks. A fresh model with random weights (as at the start of
 * training) and identity standardisation. */
int train_model_create(int dim_in, int hidden, int dim_out, uint64_t seed,
		       struct train_model **m /* OUT */, char *err);
/* The flat parameter vector the optimiser updates, n = its length, row-major:
 * hidden > 0: W1[dim_in][hidden], b1[hidden], W2[hidden][dim_out], b2[dim_out], with
 * h_j = b1_j + sum_i s_i W1[i][j]; linear: W[dim_in][dim_out], b[dim_out]. */
double *train_model_params(struct train_model *m, size_t *n /* OUT */);
/* The sequence-triplet loss of one anchor and its ordered sequence seq[0..nseq-1]
 * (most similar first), unweighted; when grad is not NULL, its gradient with respect to
 * train_model_params is ADDED to grad. */
double train_seq_loss(const struct train_model *m, const float *anchor,
		      const float *const *seq, int nseq, double margin, double *grad);

/* ---- the sampling of train_fit for models trained elsewhere (index/cnn.c) ----
 * The same label handling, thresholds, anchors per epoch, sequences (S1..S4, seeded per
 * epoch and position) and pseudo-labels as train_fit; samples' x may be NULL. */
struct train_sampler;
int train_sampler_new(const struct train_sample *s, size_t n, const struct train_params *p,
		      struct train_sampler **out /* OUT */, char *err);
void train_sampler_free(struct train_sampler *sm);
/* The anchors of epoch (0-based), shuffled; valid until the next call. */
size_t train_sampler_epoch(struct train_sampler *sm, int epoch, const size_t **anchors /* OUT */);
/* The sequence (most similar first) of anchor a at position pos of epoch: 0..4 members. */
int train_sampler_pick(const struct train_sampler *sm, size_t a, int epoch, size_t pos,
		       size_t *seq /* OUT 4 */);
double train_sampler_weight(const struct train_sampler *sm, size_t a);	/* pseudo_weight or 1 */
/* New pseudo-types from unit-length embeddings emb[n][dim] (rows of zeros: none). */
int train_sampler_pseudo(struct train_sampler *sm, float *emb, int dim, char *err);
void train_sampler_counts(const struct train_sampler *sm, size_t *nseeds /* OUT */,
			  size_t *npseudo /* OUT */, double *thr_loc /* OUT */,
			  double *thr_size /* OUT */);
int train_sampler_type(const struct train_sampler *sm, size_t i);	/* -1 none */

/* Run fn(ctx, tid) for tid 0..n-1 on n threads (tid 0 on the caller's). */
void train_par_run(int n, void (*fn)(void *ctx, int tid), void *ctx);

#endif
