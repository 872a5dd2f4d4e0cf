/* backup.h - online backups and verified restores of a lesiond database (index/backup.c).
 *
 * A backup directory holds lesiond.db (a consistent copy taken with SQLite's backup API
 * while the daemon keeps serving and writing), one index snapshot pair per embedding
 * space (lesiond.db.space-<name>.faiss / .manifest, consistent with that copy), and
 * MANIFEST: a text file of key=value lines - format, lesiond and schema versions, row
 * counts, per space its dimension, metric, vector count and vector-set checksum, and per
 * file its size and FNV-1a 64 checksum - ending with the FNV-1a 64 of the lines before.
 *
 * Restore verifies everything before it touches the target: the manifest's own
 * checksum, every file's size and checksum, then a staged copy of the database
 * (integrity check, counts and per-space vector checksums equal to the manifest). Only
 * then are the files renamed into place. Used by `lesiond backup` / `lesiond restore`.
 */
#ifndef LSD_BACKUP_H
#define LSD_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

#define BACKUP_MANIFEST "MANIFEST"
#define BACKUP_DB "lesiond.db"
#define BACKUP_FORMAT 1
#define BACKUP_MAX_SPACES 64
#define BACKUP_MAX_FILES (1 + 2 * BACKUP_MAX_SPACES)

struct backup_space {
	char name[64];
	int dim;
	char metric[8];
	size_t vectors;
	uint64_t checksum;	/* space_row_hash sum over the space's vectors */
};

struct backup_file {
	char name[160];		/* inside the backup directory; no '/' */
	uint64_t size;
	uint64_t fnv;
};

struct backup_manifest {
	int format;
	char lesiond_version[32];
	int schema_version;
	char created[32];	/* UTC, ISO 8601 */
	struct store_counts counts;
	struct backup_space spaces[BACKUP_MAX_SPACES];
	int nspaces;
	struct backup_file files[BACKUP_MAX_FILES];
	int nfiles;
};

/* 1 when name may be a file of a backup directory ([A-Za-z0-9._-], not starting with
 * '.', shorter than backup_file.name): what a manifest or a snapshot stream may name. */
int backup_name_ok(const char *name);

typedef lsd_note_fn backup_log_fn;

/* Back up the open store (the live database) into dir (created; must hold no MANIFEST).
 * *m (may be NULL) gets what the manifest records. */
int backup_create(struct store *st, const char *dir, struct backup_manifest *m /* OUT */,
		  backup_log_fn log, void *cls, char *err);
/* Check dir's manifest and every file it lists, reading only. */
int backup_verify(const char *dir, struct backup_manifest *m /* OUT */, char *err);
/* Verify dir, then install it as database db (+ its index snapshots beside it). A
 * target db that exists and is not empty is refused unless force (the daemon must not be
 * running on it). Nothing at the target changes unless every check passed. */
int backup_restore(const char *dir, const char *db, int force, struct backup_manifest *m /* OUT */,
		   backup_log_fn log, void *cls, char *err);

#endif
