/* store_vec.h - the store's embedding tables: spaces and vectors (index/store_vec.c).
 *
 * Part of the store module (SQLite stays inside index/store*.c). Every vector is a
 * little-endian float32 BLOB in `vectors`, keyed by (space, lesion_id), deleted with its
 * lesion by ON DELETE CASCADE. Writes run in one transaction each: all or nothing.
 * Callers: the vector handlers, import-vectors, and the daemon's start-up which loads
 * every space into memory (space_load_vectors) through store_vec_foreach.
 */
#ifndef LSD_STORE_VEC_H
#define LSD_STORE_VEC_H

#include <stddef.h>
#include <stdint.h>

#include "space.h"
#include "store.h"

#define STORE_VEC_DIM 2		/* the space exists with another dimension */
#define STORE_VEC_UNKNOWN 3	/* some lesion ids do not exist (listed) */

/* Create the space row if absent. If it exists, *out gets the stored definition and
 * *created 0 (the caller compares); else *out = *def and *created 1. */
int store_space_ensure(struct store *st, const struct space_def *def, struct space_def *out /* OUT */,
		       int *created /* OUT */, char *err);
/* 0, LSD_ENOTFOUND, or -1. */
int store_space_get(struct store *st, const char *name, struct space_def *out /* OUT */, char *err);
/* Every space, in name order; *n <= max. */
int store_space_list(struct store *st, struct space_def *out /* OUT */, size_t max, size_t *n /* OUT */,
		     char *err);

/* Insert or replace n vectors of def->dim floats in space def->name, creating the space
 * row from def if absent, in one transaction. Returns 0; STORE_VEC_DIM if the space exists
 * with another dimension; STORE_VEC_UNKNOWN if some lesion ids do not exist: *unknown gets
 * a malloc'd list of them (at most unknown_max, *n_unknown counts them all) and nothing is
 * written; -1 on other errors. Values are not checked here (space_add does). */
int store_vec_put(struct store *st, const struct space_def *def, const int64_t *ids,
		  const float *vecs, size_t n, int64_t **unknown /* OUT */, size_t *n_unknown /* OUT */,
		  size_t unknown_max, char *err);
/* Delete the vectors of ids in space (absent ones ignored); *deleted may be NULL. */
int store_vec_delete(struct store *st, const char *space, const int64_t *ids, size_t n,
		     size_t *deleted /* OUT */, char *err);

/* Stream the space's vectors in lesion id order, chunk by chunk (at most 4096 rows):
 * fn(ids, vecs, n, arg); a non-zero return stops and is returned. A blob of the wrong
 * size is an error (names the lesion). */
int store_vec_foreach(struct store *st, const char *space, int dim,
		      int (*fn)(const int64_t *ids, const float *vecs, size_t n, void *arg), void *arg,
		      char *err);
/* Count, max lesion id and the order-independent checksum (sum of space_row_hash) of the
 * space's vectors in SQLite: what a snapshot manifest records. */
int store_vec_checksum(struct store *st, const char *space, int dim, size_t *count /* OUT */,
		       int64_t *max_id /* OUT */, uint64_t *checksum /* OUT */, char *err);

/* Start-up of one space: create it from def, stream its vectors from SQLite into memory,
 * then load the snapshot beside the database if it matches, else rebuild
 * (space_open_index: *how and the one-line *why for the log). */
int store_vec_open_space(struct store *st, const struct space_def *def, struct space **out /* OUT */,
			 int *how /* OUT */, char *why /* OUT */, char *err);

#endif
