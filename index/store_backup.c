/* store_backup.c - the store's part of backups (index/backup.c drives them): an online
 * copy of the live database through SQLite's backup API, and an integrity check.
 *
 * Part of the store module (the only one that includes sqlite3.h). The copy runs in one
 * backup step inside one read transaction, so it is a consistent snapshot of the
 * database as of one instant; in WAL mode writers (the daemon) go on meanwhile. The
 * copy is left in rollback-journal mode: one self-contained file. Cost: one sequential
 * read of the database. */
#include "store_int.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int store_backup(struct store *st, const char *dest, char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	sqlite3 *d = NULL;
	sqlite3_backup *b;
	int rc, tries = 0, ret = -1;

	if (!c)
		return -1;
	unlink(dest);
	rc = sqlite3_open_v2(dest, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		errf(err, "%s: %s", dest, d ? sqlite3_errmsg(d) : sqlite3_errstr(rc));
		goto out;
	}
	b = sqlite3_backup_init(d, "main", c->db, "main");
	if (!b) {
		errf(err, "backup: %s", sqlite3_errmsg(d));
		goto out;
	}
	while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
		if (++tries > 100)
			break;
		usleep(100000);
	}
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		errf(err, "backup: %s", sqlite3_errstr(rc));
		goto out;
	}
	if (sqlite3_exec(d, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK) {
		errf(err, "%s: %s", dest, sqlite3_errmsg(d));
		goto out;
	}
	ret = 0;
out:
	if (d && sqlite3_close(d) != SQLITE_OK && ret == 0)
		ret = errf(err, "%s: close failed", dest);
	store_conn_put(st, c);
	if (ret)
		unlink(dest);
	return ret;
}

int store_integrity(struct store *st, char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	sqlite3_stmt *s;
	int rc, ret = -1;

	if (!c)
		return -1;
	s = store_stmt(c, "PRAGMA integrity_check", err);
	if (!s)
		goto out;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		store_err(c, "integrity_check", err);
		goto out;
	}
	if (strcmp((const char *)sqlite3_column_text(s, 0), "ok")) {
		errf(err, "integrity_check: %.200s", (const char *)sqlite3_column_text(s, 0));
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		errf(err, "integrity_check: more than one finding");
		goto out;
	}
	ret = 0;
out:
	if (s)
		sqlite3_reset(s);
	store_conn_put(st, c);
	return ret;
}
