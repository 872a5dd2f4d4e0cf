/* store_repl.h - replication of the store (index/store_repl.c, part of the store module).
 *
 * The primary's change log (migration 0005) holds, for every committed row change of a
 * replicated table, the row's key and a sequence number, written by triggers in the
 * same transaction as the change. A replica at position P asks for the diff after P:
 * store_repl_changes reads, in ONE read transaction, every key logged after P and the
 * current row of each (or its absence), so the diff always leads from one committed
 * state of the primary to a later committed state (never into the middle of a
 * transaction). The replica applies a diff in one write transaction together with its
 * new position (store_repl_apply_*), so it never holds a torn state either.
 *
 * The diff travels as a binary stream (layout in index/store_repl.c) ending with a
 * record count and an FNV-1a 64 checksum of every byte before it: repl_stream_check
 * rejects a truncated, corrupted or malformed stream before anything is applied.
 */
#ifndef LSD_STORE_REPL_H
#define LSD_STORE_REPL_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

#define REPL_GONE 2		/* the log cannot serve that position: take a new snapshot */
#define REPL_LOG_ID_LEN 32	/* hex digits */
#define REPL_MAX_COLS 64
#define REPL_VAL_MAX (512u << 20)	/* largest text/blob value in a stream */

/* Replicated tables, in apply order (parents first); the stream names them by number. */
enum repl_table {
	REPL_T_PATIENTS = 1, REPL_T_STUDIES, REPL_T_SERIES, REPL_T_LESIONS, REPL_T_SPACES,
	REPL_T_VECTORS, REPL_T_GRAPH_EDGES, REPL_T_MODELS, REPL_T_META, REPL_T_COUNT = REPL_T_META
};

struct repl_info {
	char log_id[REPL_LOG_ID_LEN + 1];	/* this database's log */
	int64_t first;		/* oldest kept entry (last + 1 when the log is empty) */
	int64_t last;		/* newest sequence number ever assigned (0: none) */
	int following;		/* 1 on a replica (repl_follow has its row) */
	char follow_log[REPL_LOG_ID_LEN + 1];	/* replica: the primary's log */
	int64_t position;	/* replica: last primary entry applied */
	char primary_url[512];
};
int store_repl_info(struct store *st, struct repl_info *out /* OUT */, char *err);

/* Primary: append the diff for a replica of log log_id at position after to b. Returns
 * 0 (*to = the position the diff reaches; *nkeys its records), REPL_GONE with err saying
 * why (another log, a position the log no longer holds or never had, or more than
 * max_keys changed keys), or -1. */
int store_repl_changes(struct store *st, const char *log_id, int64_t after, size_t max_keys,
		       struct sb *b, int64_t *to /* OUT */, size_t *nkeys /* OUT */, char *err);
/* Primary: delete all but the newest keep entries; *deleted may be NULL. */
int store_repl_trim(struct store *st, int64_t keep, size_t *deleted /* OUT */, char *err);

/* Replica, right after a snapshot was installed: follow url from the position the copy
 * holds (its own log's last entry) and empty the copied log. */
int store_repl_follow_init(struct store *st, const char *url, char *err);
/* After a restore: a new log name and no follower row (replicas of the old history
 * must take a new snapshot). */
int store_repl_new_history(struct store *st, char *err);

/* ---- the stream ---- */
enum repl_vtype { REPL_V_NULL = 0, REPL_V_INT = 1, REPL_V_REAL = 2, REPL_V_TEXT = 3, REPL_V_BLOB = 4 };

struct repl_val {
	enum repl_vtype type;
	int64_t i;
	double r;
	const void *p;		/* text / blob bytes, inside the stream buffer */
	uint32_t len;
};

struct repl_rec {
	char kind;		/* 'P' put (the whole row), 'D' delete (the key) */
	enum repl_table tbl;
	int n;
	struct repl_val v[REPL_MAX_COLS];
};

struct repl_header {
	int schema_version;
	char log_id[REPL_LOG_ID_LEN + 1];
	int64_t from, to;
	uint64_t nrec;
};

/* Verify the whole stream (framing, every record, count, checksum) without applying
 * it: 0 with *h filled, or -1 with err. */
int repl_stream_check(const void *buf, size_t len, struct repl_header *h /* OUT */, char *err);
/* Call fn for each record of a stream that passed repl_stream_check; a non-zero return
 * stops and is returned. */
int repl_stream_foreach(const void *buf, size_t len, int (*fn)(const struct repl_rec *r, void *arg),
			void *arg, char *err);

/* Replica: check the stream, check it continues this database's position in the same
 * log, and write it (rows and the new position) in one open write transaction. Then
 * store_repl_apply_end(ok=1) commits, ok=0 rolls back. The write lock is held between
 * the two: call end on every path. */
struct repl_apply;
int store_repl_apply_begin(struct store *st, const void *buf, size_t len,
			   struct repl_apply **out /* OUT */, struct repl_header *h /* OUT */,
			   char *err);
int store_repl_apply_end(struct repl_apply *a, int ok, char *err);

#endif
