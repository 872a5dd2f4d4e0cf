/* store_ro.c - read-only opens of a lesiond database (store_open_ro in store.h).
 *
 * Used by batch jobs (`lesiond knn`, many processes on many machines sharing one copy on
 * a shared or read-only file system, or a backup directory). First mode=ro, which sees a
 * live database's WAL; when that cannot work (a WAL database in a directory we cannot
 * write the -shm file into), immutable=1, which takes no locks and reads the main file
 * only. Never migrates: an older schema is refused with what to do.
 */
#include "migrations.h"
#include "store_int.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int schema_version(struct store_conn *c, int *v, char *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_master", -1, &s, NULL) != SQLITE_OK)
		return store_err(c, "read", err);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return store_err(c, "read", err);
	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return store_err(c, "user_version", err);
	*v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
	sqlite3_finalize(s);
	return 0;
}

static struct store *store_new(const char *path, int ro)
{
	struct store *st = calloc(1, sizeof(*st));

	if (!st || !(st->path = strdup(path))) {
		free(st);
		return NULL;
	}
	st->maxconn = 8;
	st->ro = ro;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	pthread_mutex_init(&st->wlock, NULL);
	return st;
}

int store_open_ro(const char *path, int immutable, struct store **out, char *err)
{
	struct store *st = NULL;
	char e1[LSD_ERRLEN];
	int version = -1, latest = 0, i, ro;

	*out = NULL;
	for (i = 0; i < migrations_count; i++)
		if (migrations[i].version > latest)
			latest = migrations[i].version;
	for (ro = immutable ? STORE_RO_IMMUTABLE : STORE_RO; ro <= STORE_RO_IMMUTABLE; ro++) {
		struct store_conn *c;
		int bad;

		st = store_new(path, ro);
		if (!st)
			return errf(err, "out of memory");
		c = store_conn_get(st, e1);
		bad = !c || schema_version(c, &version, e1);
		store_conn_put(st, c);
		if (!bad)
			break;
		store_close(st);
		st = NULL;
	}
	if (!st)
		return errf(err, "%s: cannot open read-only: %s", path, e1);
	if (version == 0) {
		errf(err, "%s: not a lesiond database (empty schema)", path);
		goto fail;
	}
	if (version != latest) {
		errf(err, "%s: schema version %d, this lesiond needs %d: %s", path, version, latest,
		     version < latest ? "open it once read-write (e.g. lesiond stats) to migrate" :
					"use a newer lesiond");
		goto fail;
	}
	st->version = version;
	*out = st;
	return 0;
fail:
	store_close(st);
	return -1;
}

int store_readonly(const struct store *st)
{
	return st->ro != 0;
}
