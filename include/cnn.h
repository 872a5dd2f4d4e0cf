/* cnn.h - the lesion network: a small VGG-like CNN on the lesion's CT patch, trained with
 * Deep Lesion Graphs' sequence-triplet loss (index/cnn.c; layers in nn.h, sampling in
 * train.h's train_sampler).
 *
 * Input (as in DLG / the NIH lesion networks): a side x side patch at mm_px mm/pixel
 * centred on the lesion box, channels = the key slice and its neighbours 2 mm above and
 * below (desc_patch: nearest/interpolated slices at that fixed offset) in a wide window
 * (HU / 1000, clipped to [-1, 1]) plus the key slice in a soft-tissue window (W400/L40).
 * Network: 3 blocks of two 3x3 conv + ReLU (width w, 2w, 4w), 2x2 max pool between
 * blocks; each block's output is average-pooled over the whole patch and (arch.centre)
 * over its central half, all concatenated (DLG's multi-scale features), then a fully
 * connected layer to dim and L2 normalisation.
 * Training: the sequence-triplet loss plus (cls_w) a softmax type head on the unit
 * embedding that exists during training only; Adam on mini-batches of anchors with a
 * cosine learning-rate decay (lr_end), gradients summed in a fixed number of chunks
 * (deterministic for a seed whatever the thread count), augmentation by shift, scale
 * and intensity jitter of a cached larger patch.
 */
#ifndef LSD_CNN_H
#define LSD_CNN_H

#include <stddef.h>
#include <stdint.h>

#include "train.h"

#define CNN_SLICES 3		/* slices read per lesion (desc_patch) */
#define CNN_CH 4		/* network input channels */
#define CNN_MARGIN_PX 16	/* extra border of the cached patch, for augmentation */

struct cnn_arch {
	int side;		/* input side in pixels, multiple of 4, 16..128 (default 48) */
	double mm_px;		/* mm per pixel (default 1.5) */
	int width;		/* channels of the first block, 4..64 (default 16) */
	int dim;		/* embedding dimension, 2..1024 (default 64) */
	int centre;		/* 1: each block also average-pooled over its central half
				 * (side/4 .. 3 side/4), so the head sees the lesion apart
				 * from its surroundings; 0: global pooling only */
	int aux;		/* extra inputs of the FC layer, after the pooled features
				 * (learn_cnn: the built-in descriptor's appearance block,
				 * fused and learned jointly); 0..4096, 0 = pixels only */
};

struct cnn_params {
	struct cnn_arch arch;
	struct train_params tp;	/* epochs, seed, lr, batch, margin, threads, pseudo-labels,
				 * sampling (train.h); tp.dim_out is arch.dim */
	double shift_mm;	/* augmentation: uniform shift +- (default 3) */
	double scale_jit;	/* scale in [1-s, 1+s] (default 0.1) */
	double hu_jit;		/* intensity offset sd in HU (default 20) */
	int val_every;		/* validation kNN every N epochs; 0 none (default 1) */
	double cls_w;		/* weight of the auxiliary type head (softmax on the unit
				 * embedding, training only); 0 = none */
	double lr_end;		/* learning rate decays (cosine) to lr x lr_end; 1 = constant */
	double wd;		/* decoupled weight decay (AdamW): each step the conv and FC
				 * weights (not biases) are scaled by 1 - lr x wd; 0 = none */
	int dihedral;		/* 1: augmentation also flips / turns the patch by 90 degrees
				 * (one of the 8 symmetries of the square, at random) */
	double drop;		/* dropout probability on the FC layer's input features
				 * (training only; kept ones scaled by 1/(1-drop)); 0 = none */
};

/* A lesion's cached input: CNN_SLICES planes of (side + 2 CNN_MARGIN_PX)^2 HU values. */
struct cnn_patch {
	int16_t *hu;
	const float *aux;	/* arch.aux extra FC inputs; NULL: zeros */
};

/* Per-epoch report (cnn_fit's progress callback). */
struct cnn_progress {
	int epoch, epochs;
	double loss, active, ms;
	int anchors, n_seeds, n_pseudo;
	double val_acc;		/* 5-NN type vote of labelled val lesions among other
				 * patients' labelled lesions; -1 when not measured */
};
typedef int (*cnn_progress_fn)(void *ctx, const struct cnn_progress *p);

struct cnn_model;

void cnn_params_default(struct cnn_params *p /* OUT */);
int cnn_arch_check(const struct cnn_arch *a, char *err);
int cnn_model_create(const struct cnn_arch *a, uint64_t seed, struct cnn_model **m /* OUT */,
		     char *err);
void cnn_model_free(struct cnn_model *m);
const struct cnn_arch *cnn_model_arch(const struct cnn_model *m);
/* The flat parameter vector (tests: gradient checks). */
float *cnn_model_params(struct cnn_model *m, size_t *n /* OUT */);

/* Side of the cached patch for an architecture. */
int cnn_patch_side(const struct cnn_arch *a);
/* Network input (CNN_CH x side x side) from a cached patch with the given jitter
 * (dx, dy in mm, scale, HU offset); zero jitter = the centred, unscaled input. */
void cnn_input(const struct cnn_arch *a, const int16_t *hu, double dx_mm, double dy_mm,
	       double scale, double hu_off, float *x /* OUT */);
/* The same after one of the 8 symmetries of the square (orient 0..7: bit 0 transposes,
 * bit 1 mirrors x, bit 2 mirrors y; 0 = cnn_input). */
void cnn_input_o(const struct cnn_arch *a, const int16_t *hu, double dx_mm, double dy_mm,
		 double scale, double hu_off, int orient, float *x /* OUT */);

/* Unit-length embedding of one input; returns 0, or -1 when it is the zero vector.
 * Thread-safe (allocates its own scratch). */
int cnn_forward(const struct cnn_model *m, const float *x, float *y /* OUT dim */);
/* The same with the arch.aux extra FC inputs (NULL: zeros). */
int cnn_forward_aux(const struct cnn_model *m, const float *x, const float *aux,
		    float *y /* OUT dim */);
/* Embeddings of n cached patches on threads; rows that fail are zeros. Returns failures. */
size_t cnn_embed_many(const struct cnn_model *m, const struct cnn_patch *p, size_t n,
		      float *y /* OUT n * dim */, int threads);

/* Test-time augmentation: a lesion's embedding is the L2-normalised mean of the unit
 * embeddings of several views of its centred patch: orient (1, 2 or 4) mirrorings (none;
 * + x mirrored; + y and both mirrored: cnn_input_o's orient 0, 2, 4, 6), each, when
 * shift_mm > 0, also shifted by +-shift_mm in x and in y (5 positions). NULL or
 * { 1, 0 }: one view, the plain centred patch. */
struct cnn_tta {
	int orient;
	double shift_mm;
};
int cnn_tta_views(const struct cnn_tta *t);
/* View v (0 .. cnn_tta_views - 1): its shift in mm and cnn_input_o orientation. */
void cnn_tta_view(const struct cnn_tta *t, int v, double *dx_mm /* OUT */,
		  double *dy_mm /* OUT */, int *orient /* OUT */);
/* cnn_embed_many with test-time augmentation (tta NULL: none). */
size_t cnn_embed_many_tta(const struct cnn_model *m, const struct cnn_patch *p, size_t n,
			  const struct cnn_tta *tta, float *y /* OUT n * dim */, int threads);
/* Sequence-triplet loss of an anchor and its sequence (inputs), and (when grad is not
 * NULL) its gradient added to grad (cnn_model_params layout). For the gradient check. */
double cnn_seq_loss(const struct cnn_model *m, const float *const *x, int k, double margin,
		    float *grad);
/* The same with aux[i] (arch.aux extra FC inputs of sample i; NULL: zeros) and dropout:
 * mask[i] (NULL: none) multiplies sample i's FC input features (cnn_model_nfeat of
 * them, aux included; 0 or 1/(1-p)). For the gradient check. */
double cnn_seq_loss_ex(const struct cnn_model *m, const float *const *x,
		       const float *const *aux, int k, double margin, const float *const *mask,
		       float *grad);
int cnn_model_nfeat(const struct cnn_model *m);
/* Decoupled weight decay: the conv and FC weights (not biases) times f. */
void cnn_model_decay(struct cnn_model *m, double f);

/* The auxiliary type head (training only): weighted softmax cross-entropy of
 * head = W[LESION_NTYPES][dim], b[LESION_NTYPES] applied to y against type t (1..8);
 * its gradient is ADDED to dy (w.r.t. y) and gh (head layout). For the gradient check. */
double cnn_head_loss(const float *head, int dim, const float *y, int t, double wt,
		     float *dy, float *gh);

/* Train on n samples (train.h's label and split fields; x unused) with cached patches
 * patch[i] (hu NULL: the lesion has no image and is never used). */
int cnn_fit(const struct train_sample *s, const struct cnn_patch *patch, size_t n,
	    const struct cnn_params *p, struct cnn_model **model /* OUT */,
	    double *loss_curve /* OUT epochs, may be NULL */,
	    double *val_curve /* OUT epochs, may be NULL */, int *n_pseudo /* OUT */,
	    cnn_progress_fn progress, void *ctx, char *err);

/* "LSDCNN01" blob: arch, weights (little-endian float32), FNV-1a checksum. */
int cnn_model_serialize(const struct cnn_model *m, void **blob /* OUT */, size_t *len /* OUT */,
			char *err);
int cnn_model_deserialize(const void *blob, size_t len, struct cnn_model **m /* OUT */,
			  char *err);

#endif
