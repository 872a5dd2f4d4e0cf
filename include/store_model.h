/* store_model.h - the store's table of learned projections (index/store_model.c).
 *
 * Part of the store module (SQLite stays inside index/store*.c). One row per trained
 * space (the model's name is the target space's name): the space it was trained from,
 * the training parameters as JSON, the per-epoch loss as a JSON array, the weights as
 * train_model_serialize's blob, and timing. The row goes with its space (ON DELETE
 * CASCADE). Callers: `lesiond train` (put) and whatever projects lesions added later
 * into trained spaces (learn.h: get, names_from).
 */
#ifndef LSD_STORE_MODEL_H
#define LSD_STORE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "space.h"
#include "store.h"

#define STORE_MODEL_TEXT_MAX (1u << 20)		/* params, loss_curve */
#define STORE_MODEL_BLOB_MAX (256u << 20)	/* weights */

struct store_model {
	char name[SPACE_NAME_MAX];		/* the trained (target) space */
	char from_space[SPACE_NAME_MAX];	/* the space it projects from */
	char *params;				/* JSON object, NUL-terminated */
	char *loss_curve;			/* JSON array, NUL-terminated */
	void *weights;				/* train_model_serialize's blob */
	size_t weights_len;
	int64_t created_at;			/* unix seconds */
	double train_seconds;
};

/* Insert or replace the row m->name (the space must exist). created_at 0 = now. */
int store_model_put(struct store *st, const struct store_model *m, char *err);
/* 0 (out's strings and blob malloc'd: store_model_release), LSD_ENOTFOUND, or -1. */
int store_model_get(struct store *st, const char *name, struct store_model *out /* OUT */,
		    char *err);
/* Free what store_model_get allocated (the struct itself is the caller's); NULL ok. */
void store_model_release(struct store_model *m);
/* Names of the models trained from from_space, in name order; *n <= max. */
int store_model_names_from(struct store *st, const char *from_space,
			   char (*names)[SPACE_NAME_MAX] /* OUT */, size_t max,
			   size_t *n /* OUT */, char *err);

#endif
