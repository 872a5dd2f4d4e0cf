/* spacedb.h - embedding spaces backed by the store: the glue between store_vec (SQLite,
 * the system of record) and space (the in-memory FAISS indexes derived from it).
 *
 * Used by `lesiond serve` at start and on every vector write or lesion delete, and by
 * the offline commands (knn, eval, embed, train, import-vectors). Writes go to SQLite
 * first, in one transaction; only then to the index, so a crash between the two loses
 * nothing: the next start rebuilds the index from SQLite.
 */
#ifndef LSD_SPACEDB_H
#define LSD_SPACEDB_H

#include <stddef.h>
#include <stdint.h>

#include "space.h"
#include "store.h"
#include "util.h"

/* A log sink for one-line messages (which snapshot was loaded, why an index was
 * rebuilt); may be NULL. */
typedef lsd_note_fn spacedb_log_fn;

/* FAISS search parameters per space, applied to spaces opened or created afterwards:
 * "name:params;name:params", params as FAISS's ParameterSpace takes them
 * ("efSearch=128", "nprobe=32"); "" = the defaults (efSearch=64, nprobe=16). Recall is
 * bought with time here (config search_params). 0, or -1 when malformed. */
int spacedb_set_search_params(const char *spec, char *err);

/* Open every space recorded in the store into a new registry: vectors from SQLite,
 * index from the snapshot beside the database if it matches, else rebuilt. */
int spacedb_open(struct store *st, struct spaces **out /* OUT */, spacedb_log_fn log,
		 void *cls, char *err);

/* The spaces recorded in the store, with their search parameters applied (*out from
 * malloc, the caller frees it). */
int spacedb_defs(struct store *st, struct space_def **out /* OUT */, size_t *n /* OUT */,
		 char *err);
/* spacedb_open for defs[0..n); pre (may be NULL) holds spaces whose memory copy is
 * already loaded (from a snapshot; NULL entries are read from SQLite): each is taken
 * over (and set to NULL), also on failure. pl (may be NULL) holds their FAISS snapshots
 * read ahead (space_preload_index; used with pre only, still the caller's). */
int spacedb_open_from(struct store *st, const struct space_def *defs, size_t n,
		      struct space **pre, struct space_preload **pl,
		      struct spaces **out /* OUT */, spacedb_log_fn log, void *cls, char *err);

/* Insert or replace vectors of space def->name (created if absent, in the store and the
 * registry). Checks dimension, finiteness and lesion ids before writing anything.
 * Returns 0; LSD_EINVAL (dimension differs from the existing space, or bad values),
 * LSD_ENOTFOUND (unknown lesion ids, listed in err), or -1. */
int spacedb_put(struct store *st, struct spaces *r, const struct space_def *def,
		const int64_t *ids, const float *vecs, size_t n, char *err);

/* Drop a deleted lesion's vectors from every in-memory space (SQLite cascades itself). */
void spacedb_forget(struct spaces *r, int64_t id);

/* Snapshot every space whose writes since the last snapshot reach min_writes (0: all
 * with any write) beside the database. Rebuilds first where space_needs_rebuild. */
int spacedb_snapshot(struct store *st, struct spaces *r, uint64_t min_writes,
		     spacedb_log_fn log, void *cls, char *err);

#endif
