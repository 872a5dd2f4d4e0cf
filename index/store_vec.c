/* store_vec.c - the store's embedding tables (spaces, vectors); API in store_vec.h.
 *
 * Called by the vector handlers and import-vectors (writes, one transaction per request
 * or file, all-or-nothing) and by the daemon at start-up (one streaming scan per space
 * into the space's memory copy). Owns nothing beyond the statements it prepares on
 * borrowed pool connections. Expected load: batches of 1-10^6 vectors of ~1 KB each.
 */
#include "store_int.h"
#include "store_vec.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VEC_CHUNK 4096

static const char SQL_SPACE_GET[] =
	"SELECT name, dim, metric, index_type, provenance FROM spaces WHERE name = ?1";
static const char SQL_SPACE_INS[] =
	"INSERT INTO spaces (name, dim, metric, index_type, provenance, created_at) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_SPACE_ALL[] =
	"SELECT name, dim, metric, index_type, provenance FROM spaces ORDER BY name";
static const char SQL_LESION_EXISTS[] = "SELECT 1 FROM lesions WHERE id = ?1";
static const char SQL_VEC_PUT[] =
	"INSERT OR REPLACE INTO vectors (space, lesion_id, vec) VALUES (?1, ?2, ?3)";
static const char SQL_VEC_DEL[] = "DELETE FROM vectors WHERE space = ?1 AND lesion_id = ?2";
static const char SQL_VEC_ALL[] =
	"SELECT lesion_id, vec FROM vectors WHERE space = ?1 ORDER BY lesion_id";

static void copy_col(sqlite3_stmt *s, int col, char *dst, size_t n)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(dst, n, "%s", t ? (const char *)t : "");
}

static void row_to_def(sqlite3_stmt *s, struct space_def *d)
{
	char m[16];

	memset(d, 0, sizeof(*d));
	copy_col(s, 0, d->name, sizeof(d->name));
	d->dim = sqlite3_column_int(s, 1);
	copy_col(s, 2, m, sizeof(m));
	if (space_metric_parse(m, &d->metric))
		d->metric = SPACE_L2;
	copy_col(s, 3, d->index_type, sizeof(d->index_type));
	copy_col(s, 4, d->provenance, sizeof(d->provenance));
}

/* 0 found, LSD_ENOTFOUND, -1 */
static int space_get_conn(struct store_conn *c, const char *name, struct space_def *out, char *err)
{
	sqlite3_stmt *s = store_stmt(c, SQL_SPACE_GET, err);
	int r;

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		row_to_def(s, out);
		sqlite3_reset(s);
		return 0;
	}
	sqlite3_reset(s);
	if (r != SQLITE_DONE)
		return store_err(c, "space lookup", err);
	return LSD_ENOTFOUND;
}

/* Inside a write transaction: the space's stored definition, inserting def if absent. */
static int ensure_conn(struct store_conn *c, const struct space_def *def, struct space_def *out,
		       int *created, char *err)
{
	sqlite3_stmt *s;
	int r = space_get_conn(c, def->name, out, err);

	*created = 0;
	if (r != LSD_ENOTFOUND)
		return r;	/* found (0) or failed */
	s = store_stmt(c, SQL_SPACE_INS, err);
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, def->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, def->dim);
	sqlite3_bind_text(s, 3, space_metric_name(def->metric), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, def->index_type[0] ? def->index_type : "Flat", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, def->provenance, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)time(NULL));
	r = sqlite3_step(s);
	sqlite3_reset(s);
	if (r != SQLITE_DONE)
		return store_err(c, "space insert", err);
	*out = *def;
	if (!out->index_type[0])
		snprintf(out->index_type, sizeof(out->index_type), "Flat");
	*created = 1;
	return 0;
}

int store_space_ensure(struct store *st, const struct space_def *def, struct space_def *out,
		       int *created, char *err)
{
	struct store_conn *c = store_write_begin(st, err);
	int r;

	if (!c)
		return -1;
	r = ensure_conn(c, def, out, created, err);
	if (store_write_end(st, c, r == 0, err))
		return -1;
	return 0;
}

int store_space_get(struct store *st, const char *name, struct space_def *out, char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	int r;

	if (!c)
		return -1;
	r = space_get_conn(c, name, out, err);
	store_conn_put(st, c);
	return r;
}

int store_space_list(struct store *st, struct space_def *out, size_t max, size_t *n, char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	sqlite3_stmt *s;
	int r, rc = -1;

	*n = 0;
	if (!c)
		return -1;
	s = store_stmt(c, SQL_SPACE_ALL, err);
	if (!s)
		goto out;
	while ((r = sqlite3_step(s)) == SQLITE_ROW && *n < max)
		row_to_def(s, &out[(*n)++]);
	sqlite3_reset(s);
	if (r != SQLITE_DONE && r != SQLITE_ROW) {
		store_err(c, "space list", err);
		goto out;
	}
	rc = 0;
out:
	store_conn_put(st, c);
	return rc;
}

int store_vec_put(struct store *st, const struct space_def *def, const int64_t *ids,
		  const float *vecs, size_t n, int64_t **unknown, size_t *n_unknown,
		  size_t unknown_max, char *err)
{
	struct store_conn *c;
	struct space_def have;
	sqlite3_stmt *s;
	size_t i, bytes = (size_t)def->dim * sizeof(float);
	int created, ok = 0, rc = -1, r;

	*unknown = NULL;
	*n_unknown = 0;
	c = store_write_begin(st, err);
	if (!c)
		return -1;
	if (ensure_conn(c, def, &have, &created, err))
		goto out;
	if (have.dim != def->dim) {
		errf(err, "space %s has dimension %d, got vectors of %d", def->name, have.dim, def->dim);
		rc = STORE_VEC_DIM;
		goto out;
	}
	s = store_stmt(c, SQL_LESION_EXISTS, err);
	if (!s)
		goto out;
	for (i = 0; i < n; i++) {
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, ids[i]);
		r = sqlite3_step(s);
		if (r == SQLITE_ROW)
			continue;
		if (r != SQLITE_DONE) {
			store_err(c, "lesion lookup", err);
			goto out;
		}
		if (*n_unknown < unknown_max) {
			if (!*unknown && !(*unknown = malloc(unknown_max * sizeof(int64_t)))) {
				errf(err, "out of memory");
				goto out;
			}
			(*unknown)[*n_unknown] = ids[i];
		}
		(*n_unknown)++;
	}
	sqlite3_reset(s);
	if (*n_unknown) {
		errf(err, "%zu unknown lesion id(s)", *n_unknown);
		rc = STORE_VEC_UNKNOWN;
		goto out;
	}
	s = store_stmt(c, SQL_VEC_PUT, err);
	if (!s)
		goto out;
	sqlite3_bind_text(s, 1, def->name, -1, SQLITE_STATIC);
	for (i = 0; i < n; i++) {
		if (i == n / 2)
			store_debug_pause("vectors");
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 2, ids[i]);
		/* float32 in host order: lesiond builds for little-endian hosts only */
		sqlite3_bind_blob(s, 3, vecs + i * (size_t)def->dim, (int)bytes, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE) {
			store_err(c, "vector insert", err);
			sqlite3_reset(s);
			goto out;
		}
	}
	sqlite3_reset(s);
	ok = 1;
	rc = 0;
out:
	if (store_write_end(st, c, ok, rc > 0 ? NULL : err))
		rc = rc > 0 ? rc : -1;
	if (rc != STORE_VEC_UNKNOWN) {
		free(*unknown);
		*unknown = NULL;
	}
	return rc;
}

int store_vec_delete(struct store *st, const char *space, const int64_t *ids, size_t n,
		     size_t *deleted, char *err)
{
	struct store_conn *c = store_write_begin(st, err);
	sqlite3_stmt *s;
	size_t i, nd = 0;
	int ok = 0;

	if (deleted)
		*deleted = 0;
	if (!c)
		return -1;
	s = store_stmt(c, SQL_VEC_DEL, err);
	if (!s)
		goto out;
	sqlite3_bind_text(s, 1, space, -1, SQLITE_STATIC);
	for (i = 0; i < n; i++) {
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 2, ids[i]);
		if (sqlite3_step(s) != SQLITE_DONE) {
			store_err(c, "vector delete", err);
			sqlite3_reset(s);
			goto out;
		}
		nd += (size_t)sqlite3_changes(c->db);
	}
	sqlite3_reset(s);
	ok = 1;
out:
	if (store_write_end(st, c, ok, err))
		return -1;
	if (deleted)
		*deleted = nd;
	return 0;
}

int store_vec_foreach(struct store *st, const char *space, int dim,
		      int (*fn)(const int64_t *ids, const float *vecs, size_t n, void *arg), void *arg,
		      char *err)
{
	struct store_conn *c = NULL;
	sqlite3_stmt *s = NULL;
	int64_t *ids = NULL;
	float *vecs = NULL;
	size_t n = 0, bytes = (size_t)dim * sizeof(float);
	int rc = -1, r;

	if (dim < 1 || dim > SPACE_DIM_MAX)
		return errf(err, "dimension %d out of range", dim);
	ids = malloc(VEC_CHUNK * sizeof(*ids));
	vecs = malloc(VEC_CHUNK * bytes);
	if (!ids || !vecs) {
		errf(err, "out of memory");
		goto out;
	}
	if (!(c = store_conn_get(st, err)))
		goto out;
	/* one read transaction: a consistent view even while writers commit */
	if (store_exec(c, "BEGIN", err))
		goto out;
	s = store_stmt(c, SQL_VEC_ALL, err);
	if (!s)
		goto out_tx;
	sqlite3_bind_text(s, 1, space, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		const void *b = sqlite3_column_blob(s, 1);

		if ((size_t)sqlite3_column_bytes(s, 1) != bytes || !b) {
			errf(err, "space %s: lesion %lld: stored vector has %d bytes, expected %zu",
			     space, (long long)id, sqlite3_column_bytes(s, 1), bytes);
			goto out_tx;
		}
		ids[n] = id;
		memcpy(vecs + n * (size_t)dim, b, bytes);
		if (++n == VEC_CHUNK) {
			if ((rc = fn(ids, vecs, n, arg)) != 0)
				goto out_tx;
			rc = -1;
			n = 0;
		}
	}
	if (r != SQLITE_DONE) {
		store_err(c, "vector scan", err);
		goto out_tx;
	}
	if (n && (rc = fn(ids, vecs, n, arg)) != 0)
		goto out_tx;
	rc = 0;
out_tx:
	if (s)
		sqlite3_reset(s);
	store_exec(c, "COMMIT", NULL);
out:
	store_conn_put(st, c);
	free(ids);
	free(vecs);
	return rc;
}

struct cks {
	int dim;
	size_t count;
	int64_t max_id;
	uint64_t sum;
};

static int cks_fn(const int64_t *ids, const float *vecs, size_t n, void *arg)
{
	struct cks *k = arg;
	size_t i;

	for (i = 0; i < n; i++) {
		k->sum += space_row_hash(ids[i], vecs + i * (size_t)k->dim, k->dim);
		if (ids[i] > k->max_id)
			k->max_id = ids[i];
	}
	k->count += n;
	return 0;
}

int store_vec_checksum(struct store *st, const char *space, int dim, size_t *count,
		       int64_t *max_id, uint64_t *checksum, char *err)
{
	struct cks k = {dim, 0, 0, 0};

	if (store_vec_foreach(st, space, dim, cks_fn, &k, err))
		return -1;
	*count = k.count;
	*max_id = k.max_id;
	*checksum = k.sum;
	return 0;
}

static int load_fn(const int64_t *ids, const float *vecs, size_t n, void *arg)
{
	struct space *sp = arg;
	char e[LSD_ERRLEN];

	/* values were checked on the way in; a refused row here is corruption */
	return space_load_vectors(sp, ids, vecs, n, e) ? 1 : 0;
}

int store_vec_open_space(struct store *st, const struct space_def *def, struct space **out,
			 int *how, char *why, char *err)
{
	struct space *sp = NULL;
	int r;

	*out = NULL;
	if (space_create(def, &sp, err))
		return -1;
	r = store_vec_foreach(st, def->name, def->dim, load_fn, sp, err);
	if (r) {
		if (r > 0)
			errf(err, "space %s: a stored vector is not finite or has a bad id", def->name);
		space_destroy(sp);
		return -1;
	}
	if (space_open_index(sp, store_path(st), how, why, err)) {
		space_destroy(sp);
		return -1;
	}
	*out = sp;
	return 0;
}
