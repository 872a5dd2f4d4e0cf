/* store_int.h - internals shared by the store's files (index/store*.c) only.
 * The store module is the only one that includes sqlite3.h. */
#ifndef LSD_STORE_INT_H
#define LSD_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"

#define STORE_STMT_CACHE 64

struct store_conn {
	sqlite3 *db;
	const char *sql[STORE_STMT_CACHE];	/* statement cache keyed by the SQL's address */
	sqlite3_stmt *stmt[STORE_STMT_CACHE];
	int nstmt;
	sqlite3_int64 changes0;	/* sqlite3_total_changes64 at store_write_begin */
	struct store_conn *next;
};

struct store {
	char *path;
	pthread_mutex_t mu;		/* guards the pool */
	pthread_cond_t cv;
	struct store_conn *free;
	int nconn, maxconn;
	pthread_mutex_t wlock;		/* one writer at a time */
	int version;
	int ro;				/* 0, STORE_RO or STORE_RO_IMMUTABLE (store_ro.c) */
	/* store_stamp.c, under wlock: the stamp of this process's view ("" = unknown), and
	 * during a write transaction whether it started from it and the stamp it commits */
	char known[128], next[128];
	int tracking;
	/* store_lcache.c: rows for store_lesion_get, valid while wgen (advanced after every
	 * write transaction of this process) is unchanged; NULL for read-only stores */
	struct store_lcache *lcache;
	uint64_t wgen;
};

#define STORE_RO 1
#define STORE_RO_IMMUTABLE 2
/* store_conn.c, which calls no other store file: */
/* The file: URI opening path read-only; -1 if it does not fit. */
int store_ro_uri(const char *path, int ro, char *out, size_t n);
/* Borrow a connection (blocks while all are busy) and give it back; close one for good. */
struct store_conn *store_conn_get(struct store *st, char *err);
void store_conn_put(struct store *st, struct store_conn *c);
void store_conn_close(struct store_conn *c);
/* A prepared statement for a static SQL string, cached per connection, reset and
 * cleared of bindings. NULL with err on failure. */
sqlite3_stmt *store_stmt(struct store_conn *c, const char *sql, char *err);
int store_exec(struct store_conn *c, const char *sql, char *err);

/* A write transaction: takes the write lock and a connection, BEGIN IMMEDIATE.
 * store_write_end commits when ok, else rolls back; always releases both. */
struct store_conn *store_write_begin(struct store *st, char *err);
int store_write_end(struct store *st, struct store_conn *c, int ok, char *err);

/* The change stamp (store_stamp.h) read on c; the known stamp kept across this
 * process's own write transactions (called by store_write_begin / store_write_end). */
int store_stamp_conn(struct store_conn *c, char *out, char *err);
void store_stamp_tx_begin(struct store *st, struct store_conn *c);
void store_stamp_tx_commit(struct store *st, struct store_conn *c);
void store_stamp_tx_end(struct store *st, int committed);

/* store_lcache.c: init (0 or -1, out of memory) and free; the write generation, read
 * before a row is read from SQLite and advanced after each write transaction; a row
 * filed under gen and served (1) only while gen is current (0: read SQLite). */
int store_lcache_init(struct store *st);
void store_lcache_free(struct store *st);
uint64_t store_lcache_gen(struct store *st);
void store_lcache_bump(struct store *st);
int store_lcache_get(struct store *st, int64_t id, uint64_t gen, struct lesion *out /* OUT */);
void store_lcache_put(struct store *st, int64_t id, uint64_t gen, const struct lesion *l);

/* Tests only (store_debug.c): pause inside a write transaction when
 * LSD_DEBUG_TX_PAUSE_MS is set (where: "ingest", "vectors", "graph"). */
void store_debug_pause(const char *where);
/* Error text for the connection's last failure (store_conn.c). */
int store_err(struct store_conn *c, const char *what, char *err);

#endif
