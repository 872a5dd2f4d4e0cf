/* store_model.c - the store's table of learned projections (API in store_model.h).
 *
 * Called by `lesiond train` once per training run (one write transaction) and, when
 * lesions are added to a server, once per added lesion and trained space (point reads
 * of a row of ~30 KB). Owns nothing beyond the statements it prepares on borrowed pool
 * connections and the copies it hands to the caller.
 */
#include "store_int.h"
#include "store_model.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char SQL_MODEL_PUT[] =
	"INSERT OR REPLACE INTO models (name, from_space, params, loss_curve, weights, "
	"created_at, train_seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_MODEL_GET[] =
	"SELECT name, from_space, params, loss_curve, weights, created_at, train_seconds "
	"FROM models WHERE name = ?1";
static const char SQL_MODEL_FROM[] =
	"SELECT name FROM models WHERE from_space = ?1 ORDER BY name";

int store_model_put(struct store *st, const struct store_model *m, char *err)
{
	struct store_conn *c;
	sqlite3_stmt *s;
	int ok = 0;

	if (!m->params || !m->loss_curve || !m->weights || !m->weights_len)
		return errf(err, "model %s: params, loss curve and weights are required", m->name);
	if (strlen(m->params) > STORE_MODEL_TEXT_MAX || strlen(m->loss_curve) > STORE_MODEL_TEXT_MAX ||
	    m->weights_len > STORE_MODEL_BLOB_MAX)
		return errf(err, "model %s: too large to store", m->name);
	c = store_write_begin(st, err);
	if (!c)
		return -1;
	s = store_stmt(c, SQL_MODEL_PUT, err);
	if (!s)
		goto out;
	sqlite3_bind_text(s, 1, m->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, m->from_space, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, m->params, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, m->loss_curve, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 5, m->weights, (int)m->weights_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, m->created_at ? m->created_at : (sqlite3_int64)time(NULL));
	sqlite3_bind_double(s, 7, m->train_seconds);
	if (sqlite3_step(s) != SQLITE_DONE)
		store_err(c, "model insert", err);
	else
		ok = 1;
	sqlite3_reset(s);
out:
	if (store_write_end(st, c, ok, err))
		return -1;
	return ok ? 0 : -1;
}

static char *dup_text(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	size_t n = t ? (size_t)sqlite3_column_bytes(s, col) : 0;
	char *p = malloc(n + 1);

	if (!p)
		return NULL;
	if (n)
		memcpy(p, t, n);
	p[n] = 0;
	return p;
}

int store_model_get(struct store *st, const char *name, struct store_model *out, char *err)
{
	struct store_conn *c;
	sqlite3_stmt *s;
	const void *blob;
	int r, rc = -1;

	memset(out, 0, sizeof(*out));
	c = store_conn_get(st, err);
	if (!c)
		return -1;
	s = store_stmt(c, SQL_MODEL_GET, err);
	if (!s)
		goto out;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_DONE) {
		rc = LSD_ENOTFOUND;
		goto out_reset;
	}
	if (r != SQLITE_ROW) {
		store_err(c, "model lookup", err);
		goto out_reset;
	}
	snprintf(out->name, sizeof(out->name), "%s", (const char *)sqlite3_column_text(s, 0));
	snprintf(out->from_space, sizeof(out->from_space), "%s",
		 (const char *)sqlite3_column_text(s, 1));
	out->params = dup_text(s, 2);
	out->loss_curve = dup_text(s, 3);
	blob = sqlite3_column_blob(s, 4);
	out->weights_len = (size_t)sqlite3_column_bytes(s, 4);
	out->weights = malloc(out->weights_len ? out->weights_len : 1);
	out->created_at = sqlite3_column_int64(s, 5);
	out->train_seconds = sqlite3_column_double(s, 6);
	if (!out->params || !out->loss_curve || !out->weights) {
		errf(err, "out of memory");
		store_model_release(out);
		goto out_reset;
	}
	if (out->weights_len)
		memcpy(out->weights, blob, out->weights_len);
	rc = 0;
out_reset:
	sqlite3_reset(s);
out:
	store_conn_put(st, c);
	return rc;
}

void store_model_release(struct store_model *m)
{
	if (!m)
		return;
	free(m->params);
	free(m->loss_curve);
	free(m->weights);
	m->params = NULL;
	m->loss_curve = NULL;
	m->weights = NULL;
	m->weights_len = 0;
}

int store_model_names_from(struct store *st, const char *from_space,
			   char (*names)[SPACE_NAME_MAX], size_t max, size_t *n, char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	sqlite3_stmt *s;
	int r, rc = -1;

	*n = 0;
	if (!c)
		return -1;
	s = store_stmt(c, SQL_MODEL_FROM, err);
	if (!s)
		goto out;
	sqlite3_bind_text(s, 1, from_space, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(s)) == SQLITE_ROW && *n < max)
		snprintf(names[(*n)++], SPACE_NAME_MAX, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_reset(s);
	if (r != SQLITE_DONE && r != SQLITE_ROW) {
		store_err(c, "model list", err);
		goto out;
	}
	rc = 0;
out:
	store_conn_put(st, c);
	return rc;
}
