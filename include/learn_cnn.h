/* learn_cnn.h - `lesiond train --from images`: the lesion network (cnn.h) trained on the
 * lesions' CT and stored as a space (index/learn_cnn.c).
 *
 * Same label policy as learn.h (learn_label_policy: the evaluation split held out, the
 * catalog's types or a labels table, pseudo-labels for the rest). Lesions whose key slice
 * is missing are reported and skipped. The new space's vector is the network's unit
 * embedding, optionally followed by the lesion's normalised location (3) and log long and
 * short diameters (2), standardised over the lesions, times append_w / sqrt(5), the whole
 * L2-normalised. The model row (store_model.h) has from_space LEARN_CNN_FROM, the
 * parameters (with the standardisation), the loss and validation curves, the weights.
 * Lesions added later (learn_cnn_embed_new) and image-region queries (learn_cnn_region)
 * go through the same network. A fused model (fuse, `train --fuse-builtin 1`) also
 * feeds the lesion's stored `builtin` vector's appearance block (times the stored
 * fuse_scale) to its FC layer; lesions without one are skipped, and a
 * region query passes the region's built-in descriptor (builtin: DESC_DIM floats). With
 * loc_code (`train --location-code 1`) the FC layer also gets a radial-basis code of the
 * lesion's normalised location (zeros for a region query without one); the model's
 * extra-input count is the sum, checked against its parameters on every load.
 */
#ifndef LSD_LEARN_CNN_H
#define LSD_LEARN_CNN_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "cnn.h"
#include "lesion.h"
#include "space.h"
#include "store.h"

#define LEARN_CNN_FROM "@images"

struct learn_cnn_opts {
	const char *to;
	const char *images;
	struct cnn_params cp;
	const int8_t *labels;
	int64_t labels_n;
	const char *labels_name;
	int eval_split;
	int force;
	int fuse;			/* 1: builtin's appearance block is an FC input */
	int loc_code;			/* 1: the location code is an FC input too */
	double append_w;		/* 0: the embedding alone */
	struct cnn_tta tta;		/* test-time views, used by every embedding of the
					 * space (stored in the parameters); { 1, 0 }: none */
	cnn_progress_fn progress;
	void (*note)(void *ctx, const char *line);	/* missing images; may be NULL */
	void *ctx;
};

struct learn_cnn_report {
	size_t lesions, missing, failed, samples, held_out, labelled, eval_labels, stored;
	int n_pseudo;
	double final_loss, final_val, patch_seconds, train_seconds, seconds;
};

/* Returns 0, LEARN_REFUSED (learn.h) or -1. */
int learn_cnn_train(struct store *st, struct spaces *r, struct catalog *cat,
		    const struct learn_cnn_opts *o, struct learn_cnn_report *rep /* OUT */,
		    char *err);
/* Every lesion with images into the trained space name (lesiond embed --space NAME). */
int learn_cnn_embed_all(struct store *st, struct spaces *r, const char *name, const char *images,
			int threads, size_t *stored /* OUT */, size_t *missing /* OUT */, char *err);
/* Lesions l[0..n) into every space trained from images (the daemon, after an add). A
 * space that fails (its model refused, say) does not stop the others: every one is tried,
 * and -1 returns the count and the first failure in err. */
int learn_cnn_embed_new(struct store *st, struct spaces *r, const char *images,
			const struct lesion *l, size_t n, char *err);
/* 1 when name is a space trained from images, 0 when not, -1 on error. */
int learn_cnn_is(struct store *st, const char *name, char *err);
/* The vector of an image region (l: slice, box, spacing) in space name; the appended
 * location is the lesions' mean (unknown) unless known_location. out: space dim floats. */
int learn_cnn_region(struct store *st, const char *name, const char *images,
		     const struct lesion *l, int known_location, const float *builtin, float *out,
		     int dim, char *err);

#endif
