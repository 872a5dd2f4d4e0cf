/* replica.h - `lesiond serve --replica-of URL`: a read replica that follows a primary
 * (server/replica.c), and the primary's replication routes (server/h_replication.c).
 *
 * A new replica fetches a snapshot (GET /v1/replication/snapshot: the content of
 * `lesiond backup`, verified against its MANIFEST before use), then polls
 * GET /v1/replication/changes for the diff after its position and applies each diff in
 * one SQLite transaction; the in-memory catalog and indexes are updated under the
 * replica's gate (a writer-preferring rwlock every HTTP handler holds for reading), so
 * no request sees the database and the indexes disagree. When the primary answers 410
 * (log truncated, primary restored), the replica fetches a new snapshot while it keeps
 * serving the old state, then swaps it in under the gate.
 */
#ifndef LSD_REPLICA_H
#define LSD_REPLICA_H

#include "app.h"
#include "util.h"

struct replica;

/* Before the store is opened: make cfg.db a replica database of cfg.replica_of. A
 * database that already follows that primary is kept (resume); a missing or empty one
 * gets a verified snapshot; one that holds other data is refused. */
int replica_bootstrap(const struct config *cfg, char *err);
/* How a replica swaps its indexes when it installs a new snapshot: stop them before
 * the files change, load them from the new database after (the daemon's space
 * handlers; passed in so that the replica does not depend on the handlers). */
struct replica_reload {
	void (*stop)(struct app *app);
	int (*load)(struct app *app, char *err);
};
/* After the indexes are loaded: start following (app->replica is set). */
int replica_start(struct app *app, const struct replica_reload *reload, char *err);
void replica_stop(struct app *app);

/* The gate around every handler on a replica (no-ops when r is NULL). */
void replica_gate_enter(struct replica *r);
void replica_gate_leave(struct replica *r);
/* 1 when the replica is within replica_max_lag of the primary; else 0 with why. */
int replica_in_sync(struct replica *r, char *why, size_t n);
const char *replica_primary_url(const struct replica *r);

/* The "replication" object of /v1/stats and the lesiond_replication_* lines of
 * /metrics, for a primary (log position) or a replica (position, lag). */
void replication_stats_json(struct app *app, struct sb *b);
void replication_metrics(struct app *app, struct sb *b);

/* h_replication.c: the primary's routes and its log trimming */
struct request;
struct reply;
void h_repl_changes(const struct request *r, struct reply *rp);
void h_repl_snapshot(const struct request *r, struct reply *rp);
int repl_primary_start(struct app *app, char *err);
void repl_primary_stop(struct app *app);

#endif
