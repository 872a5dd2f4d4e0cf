/* learn.h - `lesiond train` as a library: a learned space trained from an existing one.
 *
 * Gathers one training sample per lesion of the source space (its vector, and from the
 * catalog its location, diameters, split and patient), decides which lesions' coarse
 * types training may see (the label policy below), fits the projection (train.h), writes
 * every source lesion's projection as a new space (spacedb.h: SQLite, then the index)
 * and stores the model with its parameters and loss curve (store_model.h). Lesions that
 * get a source vector later are projected by learn_project_new (the daemon calls it
 * after auto-embedding an added lesion).
 *
 * Label policy (as in Deep Lesion Graphs, where only val/test lesions have a type):
 *  - the evaluation split (default test) is held out entirely: its lesions are neither
 *    anchors nor candidates nor pseudo-labelled, and their types are never read;
 *  - without a labels table, a lesion's type is the catalog's (DeepLesion: val only);
 *  - with a labels table (ground_truth.csv), it is the table's, for every lesion listed;
 *    a table that gives types to lesions of the evaluation split is refused
 *    (LEARN_REFUSED) unless force is set, and even then those rows stay hidden;
 *  - every other lesion is unlabelled and gets a pseudo-type from its nearest labelled
 *    neighbours during training (train_params.pseudo_every).
 */
#ifndef LSD_LEARN_H
#define LSD_LEARN_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "space.h"
#include "store.h"
#include "train.h"

#define LEARN_REFUSED 2		/* labels of the evaluation split without force */

struct learn_opts {
	const char *from;		/* source space */
	const char *to;			/* new (or previously trained) space */
	struct train_params tp;		/* holdout_split is set from eval_split */
	const int8_t *labels;		/* labels[id] = 1..8 / -1, or NULL: catalog types */
	int64_t labels_n;		/* entries in labels */
	const char *labels_name;	/* for the provenance record, e.g. the file name */
	int eval_split;			/* 1..3, or 0: nothing held out */
	int force;			/* go on when labels cover the evaluation split */
	double keep_source;		/* 0: the new space is the projection; w in (0, 1):
					 * [sqrt(1-w^2) projection, w source/|source|] */
	int append_lo, append_hi;	/* source dimensions [lo, hi) appended as they are,
					 * times append_w, then the whole vector L2-normalised
					 * (e.g. the built-in descriptor's location and size
					 * blocks); lo == hi: none */
	double append_w;
	train_progress_fn progress;	/* may be NULL */
	void *ctx;
};

struct learn_report {
	size_t samples;			/* lesions of the source space */
	size_t held_out;		/* of which in the evaluation split */
	size_t labelled;		/* with a type training sees */
	size_t eval_labels;		/* labels given to eval-split lesions (refused/ignored) */
	int n_pseudo;			/* pseudo-labelled at the end of training */
	size_t projected;		/* vectors written to the new space */
	size_t failed;			/* lesions that projected to nothing */
	double final_loss;
	double train_seconds;		/* train_fit alone */
	double seconds;			/* everything */
};

/* Store the model row of space `to` trained from `from`: params (JSON object) and loss
 * curve (JSON array) built in string builders (oom: refused), the weights blob. */
int learn_store_model(struct store *st, const char *to, const char *from, const char *params,
		      int params_oom, const char *loss_curve, int curve_oom, void *blob,
		      size_t blob_len, double train_seconds, char *err);

/* The label policy for n lesions ids[] (catalog entries looked up here): types[i] =
 * the type training may see, or -1. *eval_labels counts labels table entries with a
 * type for lesions of eval_split. Returns 0, LEARN_REFUSED (with err) when that count
 * is non-zero and force is 0, or -1. */
int learn_label_policy(struct catalog *cat, const int64_t *ids, size_t n, const int8_t *labels,
		       int64_t labels_n, int eval_split, int force, int *types /* OUT */,
		       size_t *eval_labels /* OUT */, char *err);

/* Train o->to from o->from, write the space and the model. o->to must not exist, or
 * be a space earlier trained by learn_train (then it is replaced; same dimension).
 * Returns 0, LEARN_REFUSED, or -1. */
int learn_train(struct store *st, struct spaces *r, struct catalog *cat,
		const struct learn_opts *o, struct learn_report *rep /* OUT */, char *err);

/* Project lesions ids[] (those with a vector in from_space) into every space trained
 * from from_space, and on into spaces trained from those (up to 4 levels). *written
 * (may be NULL) counts the vectors written. 0 or -1 (the first failure; the others are
 * still attempted). */
int learn_project_new(struct store *st, struct spaces *r, const char *from_space,
		      const int64_t *ids, size_t n, size_t *written /* OUT */, char *err);

#endif
