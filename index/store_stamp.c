/* store_stamp.c - the database's change stamp and the process's known stamp (see
 * store_stamp.h). Called inside every write transaction (store.c), so one small query. */
#include "store_int.h"
#include "store_stamp.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static const char SQL_STAMP[] =
	"SELECT (SELECT id FROM repl_log LIMIT 1), "
	"COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changelog'), 0), "
	"COALESCE((SELECT log_id || '@' || position FROM repl_follow LIMIT 1), '-')";

int store_stamp_conn(struct store_conn *c, char *out, char *err)
{
	sqlite3_stmt *s = store_stmt(c, SQL_STAMP, err);
	int r, rc = -1;

	out[0] = 0;
	if (!s)
		return -1;
	r = sqlite3_step(s);
	if (r == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_TEXT) {
		int n = snprintf(out, STORE_STAMP_MAX, "%s:%lld:%s",
				 (const char *)sqlite3_column_text(s, 0),
				 (long long)sqlite3_column_int64(s, 1),
				 (const char *)sqlite3_column_text(s, 2));

		if (n > 0 && n < STORE_STAMP_MAX)
			rc = 0;
		else
			errf(err, "change stamp too long");
	} else {
		errf(err, "the database has no change log (schema older than 5?)");
	}
	sqlite3_reset(s);
	if (rc)
		out[0] = 0;
	return rc;
}

int store_stamp(struct store *st, char *out, char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	int rc;

	out[0] = 0;
	if (!c)
		return -1;
	rc = store_exec(c, "BEGIN", err);
	if (!rc) {
		rc = store_stamp_conn(c, out, err);
		store_exec(c, "COMMIT", NULL);
	}
	store_conn_put(st, c);
	return rc;
}

void store_stamp_known(struct store *st, char *out)
{
	pthread_mutex_lock(&st->wlock);
	snprintf(out, STORE_STAMP_MAX, "%s", st->known);
	pthread_mutex_unlock(&st->wlock);
}

void store_stamp_set_known(struct store *st, const char *stamp)
{
	pthread_mutex_lock(&st->wlock);
	snprintf(st->known, sizeof(st->known), "%s", stamp ? stamp : "");
	pthread_mutex_unlock(&st->wlock);
}

/* Write lock held, inside BEGIN IMMEDIATE: does this transaction start from the known
 * state? If not, somebody else wrote: the known stamp is lost. */
void store_stamp_tx_begin(struct store *st, struct store_conn *c)
{
	char now[STORE_STAMP_MAX], e[LSD_ERRLEN];

	st->tracking = 0;
	if (!st->known[0])
		return;
	if (store_stamp_conn(c, now, e) || strcmp(now, st->known))
		st->known[0] = 0;
	else
		st->tracking = 1;
}

/* Write lock held, before COMMIT: the stamp the commit will produce (into st->next). */
void store_stamp_tx_commit(struct store *st, struct store_conn *c)
{
	char e[LSD_ERRLEN];

	if (st->tracking && store_stamp_conn(c, st->next, e))
		st->tracking = 0;
}

/* Write lock held, after the transaction ended (committed or not). */
void store_stamp_tx_end(struct store *st, int committed)
{
	if (st->tracking && committed)
		snprintf(st->known, sizeof(st->known), "%s", st->next);
	st->tracking = 0;
}
