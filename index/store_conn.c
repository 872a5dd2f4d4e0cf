/* store_conn.c - the store's connections: opening (read-write or read-only through a
 * file: URI), the per-connection statement cache, and the pool that store_conn_get and
 * store_conn_put borrow from. The bottom of the store's files: it calls none of the
 * others, so store.c, store_ro.c and store_stamp.c build on it without a call circle.
 */
#include "store_int.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int store_ro_uri(const char *path, int ro, char *out, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *tail = ro == STORE_RO_IMMUTABLE ? "?immutable=1" : "?mode=ro";
	size_t o = 0;
	const unsigned char *p;

	if (n < 8)
		return -1;
	memcpy(out, "file:", 5);
	o = 5;
	for (p = (const unsigned char *)path; *p; p++) {
		if (o + 4 >= n)
			return -1;
		if (*p == '?' || *p == '#' || *p == '%' || *p < 0x21 || *p > 0x7e) {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		} else {
			out[o++] = (char)*p;
		}
	}
	if (o + strlen(tail) + 1 > n)
		return -1;
	memcpy(out + o, tail, strlen(tail) + 1);
	return 0;
}

int store_err(struct store_conn *c, const char *what, char *err)
{
	return errf(err, "%s: %s", what, c && c->db ? sqlite3_errmsg(c->db) : "no connection");
}

/* ro: 0 read-write, STORE_RO (mode=ro), STORE_RO_IMMUTABLE (immutable=1: no locks, for
 * read-only media); read-only opens go through a file: URI with the path escaped. */
static int conn_open(const char *path, int ro, struct store_conn **out, char *err)
{
	struct store_conn *c = calloc(1, sizeof(*c));
	char uri[4200];
	int rc, flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

	*out = NULL;
	if (!c)
		return errf(err, "out of memory");
	if (ro) {
		if (store_ro_uri(path, ro, uri, sizeof(uri))) {
			free(c);
			return errf(err, "%s: path too long", path);
		}
		flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
	}
	rc = sqlite3_open_v2(ro ? uri : path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		errf(err, "%s: %s", path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sqlite3_close(c->db);
		free(c);
		return -1;
	}
	sqlite3_busy_timeout(c->db, 10000);
	sqlite3_extended_result_codes(c->db, 1);
	if (store_exec(c, ro ? "PRAGMA query_only = ON;" :
		       "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;", err)) {
		sqlite3_close(c->db);
		free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void store_conn_close(struct store_conn *c)
{
	int i;

	if (!c)
		return;
	for (i = 0; i < c->nstmt; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close(c->db);
	free(c);
}

int store_exec(struct store_conn *c, const char *sql, char *err)
{
	char *msg = NULL;

	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		errf(err, "%s", msg ? msg : sqlite3_errmsg(c->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

sqlite3_stmt *store_stmt(struct store_conn *c, const char *sql, char *err)
{
	sqlite3_stmt *s = NULL;
	int i;

	for (i = 0; i < c->nstmt; i++) {
		if (c->sql[i] == sql) {
			sqlite3_reset(c->stmt[i]);
			sqlite3_clear_bindings(c->stmt[i]);
			return c->stmt[i];
		}
	}
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
		store_err(c, "prepare", err);
		return NULL;
	}
	if (c->nstmt < STORE_STMT_CACHE) {
		c->sql[c->nstmt] = sql;
		c->stmt[c->nstmt++] = s;
	} else {
		/* cache full: replace the last slot (never happens with the fixed SQL set) */
		sqlite3_finalize(c->stmt[STORE_STMT_CACHE - 1]);
		c->sql[STORE_STMT_CACHE - 1] = sql;
		c->stmt[STORE_STMT_CACHE - 1] = s;
	}
	return s;
}

struct store_conn *store_conn_get(struct store *st, char *err)
{
	struct store_conn *c = NULL;

	pthread_mutex_lock(&st->mu);
	while (!st->free && st->nconn >= st->maxconn)
		pthread_cond_wait(&st->cv, &st->mu);
	if (st->free) {
		c = st->free;
		st->free = c->next;
		pthread_mutex_unlock(&st->mu);
		return c;
	}
	st->nconn++;
	pthread_mutex_unlock(&st->mu);
	if (conn_open(st->path, st->ro, &c, err)) {
		pthread_mutex_lock(&st->mu);
		st->nconn--;
		pthread_cond_signal(&st->cv);
		pthread_mutex_unlock(&st->mu);
		return NULL;
	}
	return c;
}

void store_conn_put(struct store *st, struct store_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&st->mu);
	c->next = st->free;
	st->free = c;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

