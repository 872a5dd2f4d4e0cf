/* statesnap.h - start-up from one file instead of every SQLite row.
 *
 * <db>.state holds what start-up otherwise reads row by row from SQLite: the lesion
 * catalog and every space's memory copy (ids, vectors, cached norms, the vector set's
 * checksum), stamped with the database's change stamp (store_stamp.h). It is valid
 * exactly while the database's stamp is that stamp; each section carries an fhash64
 * (fhash.h) checked as it is read, so a torn, truncated or damaged file is refused too.
 * A refused file costs one slow start (SQLite, as before), never a wrong answer: the
 * file is derived and rebuilt at the next clean stop.
 *
 * Written by `serve` at a clean stop (and by statesnap_open after a start from SQLite),
 * only with the stamp the process's own view corresponds to (store_stamp_known): when
 * another process wrote to the database meanwhile, nothing is written. Layout: a header
 * (magic, version, stamp, section count, hash of header and table), a section table,
 * then each section's bytes (native byte order and struct layout: the file is a cache
 * for this host and build, its header says which layout).
 */
#ifndef LSD_STATESNAP_H
#define LSD_STATESNAP_H

#include <stddef.h>

#include "catalog.h"
#include "space.h"
#include "spacedb.h"
#include "store.h"

/* <db>.state into out (n bytes); -1 if it does not fit. */
int statesnap_path(const char *db, char *out, size_t n);

/* Write the snapshot of cat and every space of r, stamped with stamp, atomically. */
int statesnap_write(const char *path, const char *stamp, struct catalog *cat,
		    struct spaces *r, char *err);

/* Read path into an empty catalog and new spaces for defs[0..ndefs) (memory copies
 * only; indexes not opened): 0 = loaded (out[i] set), 1 = refused (why says why:
 * absent, stale stamp, damaged, other spaces), -1 = out of memory (err). */
int statesnap_read(const char *path, const char *stamp, struct catalog *cat,
		   const struct space_def *defs, size_t ndefs, struct space **out /* OUT */,
		   char *why, char *err);

/* The daemon's start-up: the catalog and every space, from <db>.state when its stamp is
 * the database's, else from SQLite (then the snapshot is written for the next start).
 * Indexes: each space's own snapshot, or rebuilt (space_open_index). Sets the store's
 * known stamp when the view is consistent. */
int statesnap_open(struct store *st, struct catalog *cat, struct spaces **out /* OUT */,
		   spacedb_log_fn log, void *cls, char *err);

/* The daemon's clean stop: write <db>.state with the store's known stamp (nothing, and
 * a note saying why, when it is unknown). */
int statesnap_save(struct store *st, struct catalog *cat, struct spaces *r,
		   spacedb_log_fn log, void *cls, char *err);

#endif
