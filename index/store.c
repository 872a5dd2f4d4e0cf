/* store.c - SQLite metadata store: write transactions, migrations, lesions.
 *
 * The system of record (API in store.h). Opened once per process; the HTTP workers
 * and the command-line tools share one struct store. Each connection is used by one
 * thread at a time (pool below); readers run in parallel under WAL, writers are
 * serialised by wlock and run in one BEGIN IMMEDIATE transaction each, so a failure
 * leaves the database exactly as it was. Expected load: point reads per request
 * (microseconds), bulk inserts of up to ~10^6 rows per transaction at import.
 */
#include "store_int.h"
#include "migrations.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_MAX_CONN 16

struct store_conn *store_write_begin(struct store *st, char *err)
{
	struct store_conn *c;

	pthread_mutex_lock(&st->wlock);
	c = store_conn_get(st, err);
	if (!c) {
		pthread_mutex_unlock(&st->wlock);
		return NULL;
	}
	if (store_exec(c, "BEGIN IMMEDIATE", err)) {
		store_conn_put(st, c);
		pthread_mutex_unlock(&st->wlock);
		return NULL;
	}
	store_stamp_tx_begin(st, c);
	c->changes0 = sqlite3_total_changes64(c->db);
	return c;
}

int store_write_end(struct store *st, struct store_conn *c, int ok, char *err)
{
	int rc = 0, changed = sqlite3_total_changes64(c->db) != c->changes0;

	if (ok) {
		store_stamp_tx_commit(st, c);
		if (store_exec(c, "COMMIT", err)) {
			store_exec(c, "ROLLBACK", NULL);
			rc = -1;
		}
	} else {
		store_exec(c, "ROLLBACK", NULL);
		rc = -1;
	}
	store_stamp_tx_end(st, rc == 0);
	store_conn_put(st, c);
	/* before the caller can reply: no row read earlier serves. A transaction that changed
	 * no row (the replication log's idle trim every 5 s, an unchanged re-ingest) keeps the
	 * cache: rows inserted, updated or deleted, triggers' included, are what it counts */
	if (changed)
		store_lcache_bump(st);
	pthread_mutex_unlock(&st->wlock);
	return rc;
}

/* Apply migrations newer than PRAGMA user_version, each in its own transaction. */
static int migrate(struct store *st, struct store_conn *c, char *err)
{
	sqlite3_stmt *s = NULL;
	char e2[LSD_ERRLEN], sql[64];
	int version = 0, latest = 0, i;

	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return store_err(c, "user_version", err);
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	for (i = 0; i < migrations_count; i++)
		if (migrations[i].version > latest)
			latest = migrations[i].version;
	if (version > latest)
		return errf(err, "%s: database schema version %d is newer than this lesiond "
			    "understands (%d); use a newer lesiond", st->path, version, latest);
	for (i = 0; i < migrations_count; i++) {
		const struct migration *m = &migrations[i];

		if (m->version <= version)
			continue;
		if (m->version != version + 1)
			return errf(err, "migration %s: expected version %d next", m->name,
				    version + 1);
		if (store_exec(c, "BEGIN IMMEDIATE", e2))
			return errf(err, "migration %s: %s", m->name, e2);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", m->version);
		if (store_exec(c, m->sql, e2) || store_exec(c, sql, e2)) {
			store_exec(c, "ROLLBACK", NULL);
			return errf(err, "migration %s: %s", m->name, e2);
		}
		if (store_exec(c, "COMMIT", e2)) {
			store_exec(c, "ROLLBACK", NULL);
			return errf(err, "migration %s: %s", m->name, e2);
		}
		version = m->version;
	}
	st->version = version;
	return 0;
}

int store_open(const char *path, struct store **out, char *err)
{
	struct store *st = NULL;
	struct store_conn *c = NULL;
	char e2[LSD_ERRLEN];
	int rc = -1;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return errf(err, "out of memory");
	st->path = strdup(path);
	st->maxconn = STORE_MAX_CONN;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	pthread_mutex_init(&st->wlock, NULL);
	if (!st->path) {
		errf(err, "out of memory");
		goto out;
	}
	c = store_conn_get(st, err);	/* the pool's first connection (read-write) */
	if (!c)
		goto out;
	if (store_exec(c, "PRAGMA journal_mode = WAL", e2)) {
		errf(err, "%s: cannot use WAL: %s", path, e2);
		goto out;
	}
	if (migrate(st, c, err))
		goto out;
	if (store_lcache_init(st)) {
		errf(err, "out of memory");
		goto out;
	}
	store_conn_put(st, c);
	c = NULL;
	*out = st;
	st = NULL;
	rc = 0;
out:
	store_conn_close(c);
	if (st)
		st->nconn = 0;
	store_close(st);
	return rc;
}

void store_close(struct store *st)
{
	struct store_conn *c;

	if (!st)
		return;
	while ((c = st->free)) {
		st->free = c->next;
		store_conn_close(c);
	}
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->wlock);
	store_lcache_free(st);
	free(st->path);
	free(st);
}

int store_schema_version(struct store *st)
{
	return st->version;
}

const char *store_path(const struct store *st)
{
	return st->path;
}

/* ---- lesions ---- */

#define LESION_COLS "id, file_name, patient, study, series, key_slice, " \
	"m_x11, m_y11, m_x12, m_y12, m_x21, m_y21, m_x22, m_y22, " \
	"box_x1, box_y1, box_x2, box_y2, diam_long_px, diam_short_px, loc_x, loc_y, loc_z, " \
	"type, noisy, slice_first, slice_last, spacing_x, spacing_y, spacing_z, image_w, " \
	"image_h, window_lo, window_hi, gender, age, split, diam_long_mm, diam_short_mm, " \
	"image_path"
#define LESION_NCOLS 40

static void row_to_lesion(sqlite3_stmt *s, struct lesion *l)
{
	const unsigned char *t;
	int i, k = 0;

	memset(l, 0, sizeof(*l));
	l->id = sqlite3_column_int64(s, k++);
	t = sqlite3_column_text(s, k++);
	snprintf(l->file_name, sizeof(l->file_name), "%s", t ? (const char *)t : "");
	l->patient = sqlite3_column_int(s, k++);
	l->study = sqlite3_column_int(s, k++);
	l->series = sqlite3_column_int(s, k++);
	l->key_slice = sqlite3_column_int(s, k++);
	for (i = 0; i < 8; i++)
		l->recist[i] = sqlite3_column_double(s, k++);
	for (i = 0; i < 4; i++)
		l->bbox[i] = sqlite3_column_double(s, k++);
	for (i = 0; i < 2; i++)
		l->diam_px[i] = sqlite3_column_double(s, k++);
	for (i = 0; i < 3; i++)
		l->loc[i] = sqlite3_column_double(s, k++);
	l->type = sqlite3_column_int(s, k++);
	l->noisy = sqlite3_column_int(s, k++);
	l->slice_range[0] = sqlite3_column_int(s, k++);
	l->slice_range[1] = sqlite3_column_int(s, k++);
	for (i = 0; i < 3; i++)
		l->spacing[i] = sqlite3_column_double(s, k++);
	l->image_size[0] = sqlite3_column_int(s, k++);
	l->image_size[1] = sqlite3_column_int(s, k++);
	l->window[0] = sqlite3_column_double(s, k++);
	l->window[1] = sqlite3_column_double(s, k++);
	t = sqlite3_column_text(s, k++);
	l->gender = t && t[0] ? (char)t[0] : 'U';
	if (sqlite3_column_type(s, k) == SQLITE_NULL)
		l->age = NAN;
	else
		l->age = sqlite3_column_double(s, k);
	k++;
	l->split = sqlite3_column_int(s, k++);
	l->diam_mm[0] = sqlite3_column_double(s, k++);
	l->diam_mm[1] = sqlite3_column_double(s, k++);
	t = sqlite3_column_text(s, k++);
	snprintf(l->image_path, sizeof(l->image_path), "%s", t ? (const char *)t : "");
}

static void bind_lesion(sqlite3_stmt *s, const struct lesion *l)
{
	char g[2] = { l->gender, '\0' };
	int i, k = 1;

	sqlite3_bind_int64(s, k++, l->id);
	sqlite3_bind_text(s, k++, l->file_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, k++, l->patient);
	sqlite3_bind_int(s, k++, l->study);
	sqlite3_bind_int(s, k++, l->series);
	sqlite3_bind_int(s, k++, l->key_slice);
	for (i = 0; i < 8; i++)
		sqlite3_bind_double(s, k++, l->recist[i]);
	for (i = 0; i < 4; i++)
		sqlite3_bind_double(s, k++, l->bbox[i]);
	for (i = 0; i < 2; i++)
		sqlite3_bind_double(s, k++, l->diam_px[i]);
	for (i = 0; i < 3; i++)
		sqlite3_bind_double(s, k++, l->loc[i]);
	sqlite3_bind_int(s, k++, l->type);
	sqlite3_bind_int(s, k++, l->noisy);
	sqlite3_bind_int(s, k++, l->slice_range[0]);
	sqlite3_bind_int(s, k++, l->slice_range[1]);
	for (i = 0; i < 3; i++)
		sqlite3_bind_double(s, k++, l->spacing[i]);
	sqlite3_bind_int(s, k++, l->image_size[0]);
	sqlite3_bind_int(s, k++, l->image_size[1]);
	sqlite3_bind_double(s, k++, l->window[0]);
	sqlite3_bind_double(s, k++, l->window[1]);
	sqlite3_bind_text(s, k++, g, 1, SQLITE_TRANSIENT);
	if (isnan(l->age))
		sqlite3_bind_null(s, k++);
	else
		sqlite3_bind_double(s, k++, l->age);
	sqlite3_bind_int(s, k++, l->split);
	sqlite3_bind_double(s, k++, l->diam_mm[0]);
	sqlite3_bind_double(s, k++, l->diam_mm[1]);
	sqlite3_bind_text(s, k++, l->image_path, -1, SQLITE_TRANSIENT);
}

static const char SQL_GET[] = "SELECT " LESION_COLS " FROM lesions WHERE id = ?1";

int store_lesion_get(struct store *st, int64_t id, struct lesion *out, char *err)
{
	uint64_t gen = store_lcache_gen(st);	/* before the row: see store_lcache.c */
	struct store_conn *c;
	sqlite3_stmt *s;
	int rc = -1, r;

	if (store_lcache_get(st, id, gen, out))
		return 0;
	c = store_conn_get(st, err);
	if (!c)
		return -1;
	s = store_stmt(c, SQL_GET, err);
	if (!s)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		row_to_lesion(s, out);
		rc = 0;
	} else if (r == SQLITE_DONE) {
		rc = LSD_ENOTFOUND;
	} else {
		store_err(c, "lesion get", err);
	}
	sqlite3_reset(s);
out:
	store_conn_put(st, c);
	if (rc == 0)
		store_lcache_put(st, id, gen, out);
	return rc;
}

/* Same stored values? Doubles are compared bit-exactly: SQLite REAL keeps them. */
static int lesion_same(const struct lesion *a, const struct lesion *b)
{
	int i;

	if (strcmp(a->file_name, b->file_name) || a->patient != b->patient ||
	    a->study != b->study || a->series != b->series || a->key_slice != b->key_slice ||
	    a->type != b->type || a->noisy != b->noisy || a->split != b->split ||
	    a->gender != b->gender || a->slice_range[0] != b->slice_range[0] ||
	    a->slice_range[1] != b->slice_range[1] || a->image_size[0] != b->image_size[0] ||
	    a->image_size[1] != b->image_size[1])
		return 0;
	for (i = 0; i < 8; i++)
		if (a->recist[i] != b->recist[i])
			return 0;
	for (i = 0; i < 4; i++)
		if (a->bbox[i] != b->bbox[i])
			return 0;
	for (i = 0; i < 3; i++)
		if (a->loc[i] != b->loc[i] || a->spacing[i] != b->spacing[i])
			return 0;
	if (a->diam_px[0] != b->diam_px[0] || a->diam_px[1] != b->diam_px[1] ||
	    a->window[0] != b->window[0] || a->window[1] != b->window[1])
		return 0;
	if (isnan(a->age) != isnan(b->age) || (!isnan(a->age) && a->age != b->age))
		return 0;
	return 1;
}

static const char SQL_INS[] = "INSERT INTO lesions (" LESION_COLS ") VALUES ("
	"?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,"
	"?21,?22,?23,?24,?25,?26,?27,?28,?29,?30,?31,?32,?33,?34,?35,?36,?37,?38,?39,?40)";
static const char SQL_PAT[] = "INSERT OR IGNORE INTO patients (id, gender) VALUES (?1, ?2)";
static const char SQL_STU[] = "INSERT OR IGNORE INTO studies (patient, study, age) VALUES (?1, ?2, ?3)";
static const char SQL_SER[] = "INSERT OR IGNORE INTO series (patient, study, series, dir) "
	"VALUES (?1, ?2, ?3, printf('%06d_%02d_%02d', ?1, ?2, ?3))";
static const char SQL_MAXID[] = "SELECT COALESCE(MAX(id), 0) FROM lesions";

static int step_done(struct store_conn *c, sqlite3_stmt *s, const char *what, char *err)
{
	int r = sqlite3_step(s);

	sqlite3_reset(s);
	if (r != SQLITE_DONE)
		return store_err(c, what, err);
	return 0;
}

int store_lesion_insert(struct store *st, struct lesion *l, size_t n, size_t *added,
			size_t *same, char *err)
{
	struct store_conn *c;
	sqlite3_stmt *sget, *sins, *spat, *sstu, *sser, *smax;
	int64_t next_id = 0;
	size_t i, nadd = 0, nsame = 0;
	int ok = 0;

	if (added)
		*added = 0;
	if (same)
		*same = 0;
	c = store_write_begin(st, err);
	if (!c)
		return -1;
	sget = store_stmt(c, SQL_GET, err);
	sins = sget ? store_stmt(c, SQL_INS, err) : NULL;
	spat = sins ? store_stmt(c, SQL_PAT, err) : NULL;
	sstu = spat ? store_stmt(c, SQL_STU, err) : NULL;
	sser = sstu ? store_stmt(c, SQL_SER, err) : NULL;
	smax = sser ? store_stmt(c, SQL_MAXID, err) : NULL;
	if (!smax)
		goto out;
	if (sqlite3_step(smax) != SQLITE_ROW) {
		store_err(c, "max id", err);
		goto out;
	}
	next_id = sqlite3_column_int64(smax, 0) + 1;
	sqlite3_reset(smax);
	for (i = 0; i < n; i++) {
		struct lesion *x = &l[i], old;
		char g[2] = { x->gender, '\0' };
		int r;

		if (i == n / 2)
			store_debug_pause("ingest");

		if (lesion_validate(x, err))
			goto out;
		lesion_derive(x);
		if (x->id > 0) {
			sqlite3_reset(sget);
			sqlite3_bind_int64(sget, 1, x->id);
			r = sqlite3_step(sget);
			if (r == SQLITE_ROW) {
				row_to_lesion(sget, &old);
				sqlite3_reset(sget);
				if (!lesion_same(&old, x)) {
					errf(err, "lesion %lld already exists with different values",
					     (long long)x->id);
					goto out;
				}
				nsame++;
				continue;
			}
			sqlite3_reset(sget);
			if (r != SQLITE_DONE) {
				store_err(c, "lesion lookup", err);
				goto out;
			}
			if (x->id >= next_id)
				next_id = x->id + 1;
		} else {
			x->id = next_id++;
		}
		sqlite3_reset(spat);
		sqlite3_bind_int(spat, 1, x->patient);
		sqlite3_bind_text(spat, 2, g, 1, SQLITE_TRANSIENT);
		if (step_done(c, spat, "patient insert", err))
			goto out;
		sqlite3_bind_int(sstu, 1, x->patient);
		sqlite3_bind_int(sstu, 2, x->study);
		if (isnan(x->age))
			sqlite3_bind_null(sstu, 3);
		else
			sqlite3_bind_double(sstu, 3, x->age);
		if (step_done(c, sstu, "study insert", err))
			goto out;
		sqlite3_bind_int(sser, 1, x->patient);
		sqlite3_bind_int(sser, 2, x->study);
		sqlite3_bind_int(sser, 3, x->series);
		if (step_done(c, sser, "series insert", err))
			goto out;
		bind_lesion(sins, x);
		if (step_done(c, sins, "lesion insert", err))
			goto out;
		sqlite3_clear_bindings(sins);
		nadd++;
	}
	ok = 1;
out:
	if (store_write_end(st, c, ok, ok ? err : NULL))
		return -1;
	if (added)
		*added = nadd;
	if (same)
		*same = nsame;
	return 0;
}

static const char SQL_DEL[] = "DELETE FROM lesions WHERE id = ?1";
static const char SQL_DEL_ORPHANS[] =
	"DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM lesions l WHERE l.patient = "
	"series.patient AND l.study = series.study AND l.series = series.series);"
	"DELETE FROM studies WHERE NOT EXISTS (SELECT 1 FROM series s WHERE s.patient = "
	"studies.patient AND s.study = studies.study);"
	"DELETE FROM patients WHERE NOT EXISTS (SELECT 1 FROM studies s WHERE s.patient = "
	"patients.id);";

int store_lesion_delete(struct store *st, int64_t id, char *err)
{
	struct store_conn *c = store_write_begin(st, err);
	sqlite3_stmt *s;
	int ok = 0, found = 0;

	if (!c)
		return -1;
	s = store_stmt(c, SQL_DEL, err);
	if (!s)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	if (step_done(c, s, "lesion delete", err))
		goto out;
	found = sqlite3_changes(c->db) > 0;
	if (found && store_exec(c, SQL_DEL_ORPHANS, err))
		goto out;
	ok = 1;
out:
	if (store_write_end(st, c, ok, err))
		return -1;
	return found ? 0 : LSD_ENOTFOUND;
}

void store_filter_init(struct store_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->min_age = NAN;
	f->max_age = NAN;
}

int store_filter_match(const struct store_filter *f, const struct lesion *l)
{
	struct store_filter_fields x = {
		.patient = l->patient, .study = l->study, .type = l->type, .split = l->split,
		.noisy = l->noisy, .diam_mm = l->diam_mm[0], .age = l->age, .diam_float = 0,
		.gender = l->gender,
	};

	return store_filter_test(f, &x);
}

static const char SQL_LIST[] = "SELECT " LESION_COLS " FROM lesions WHERE id > ?1 "
	"AND (?2 = 0 OR patient = ?2) AND (?3 = 0 OR study = ?3) ORDER BY id";

int store_lesion_list(struct store *st, const struct store_filter *f, int64_t after, int limit,
		      struct lesion *out, int *n_out, char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	sqlite3_stmt *s;
	int rc = -1, r = SQLITE_DONE, n = 0;

	*n_out = 0;
	if (!c)
		return -1;
	s = store_stmt(c, SQL_LIST, err);
	if (!s)
		goto out;
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, f->patient);
	sqlite3_bind_int64(s, 3, f->study);
	while (n < limit && (r = sqlite3_step(s)) == SQLITE_ROW) {
		row_to_lesion(s, &out[n]);
		if (store_filter_match(f, &out[n]))
			n++;
	}
	if (n < limit && r != SQLITE_DONE) {
		store_err(c, "lesion list", err);
		sqlite3_reset(s);
		goto out;
	}
	sqlite3_reset(s);
	*n_out = n;
	rc = 0;
out:
	store_conn_put(st, c);
	return rc;
}

static const char SQL_ALL[] = "SELECT " LESION_COLS " FROM lesions ORDER BY id";

int store_lesion_foreach(struct store *st, int (*fn)(const struct lesion *l, void *arg),
			 void *arg, char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	sqlite3_stmt *s;
	struct lesion l;
	int rc = -1, r;

	if (!c)
		return -1;
	s = store_stmt(c, SQL_ALL, err);
	if (!s)
		goto out;
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		row_to_lesion(s, &l);
		rc = fn(&l, arg);
		if (rc) {
			sqlite3_reset(s);
			goto out;
		}
	}
	sqlite3_reset(s);
	if (r != SQLITE_DONE) {
		store_err(c, "lesion scan", err);
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	store_conn_put(st, c);
	return rc;
}

struct lesion_vec {
	struct lesion *v;
	size_t n, cap;
	int oom;
};

static int lesion_push(const struct lesion *l, void *arg)
{
	struct lesion_vec *a = arg;

	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 1024;
		struct lesion *p = realloc(a->v, cap * sizeof(*p));

		if (!p)
			return a->oom = -1;
		a->v = p;
		a->cap = cap;
	}
	a->v[a->n++] = *l;
	return 0;
}

int store_lesion_all(struct store *st, struct lesion **v, size_t *n, char *err)
{
	struct lesion_vec a = { NULL, 0, 0, 0 };
	int rc = store_lesion_foreach(st, lesion_push, &a, err);

	if (rc) {
		if (a.oom)
			errf(err, "lesion scan: out of memory");
		free(a.v);
		*v = NULL;
		*n = 0;
		return -1;
	}
	*v = a.v;
	*n = a.n;
	return 0;
}

int64_t store_max_lesion_id(struct store *st)
{
	struct store_conn *c = store_conn_get(st, NULL);
	sqlite3_stmt *s;
	int64_t v = 0;

	if (!c)
		return 0;
	s = store_stmt(c, SQL_MAXID, NULL);
	if (s && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	if (s)
		sqlite3_reset(s);
	store_conn_put(st, c);
	return v;
}

static const char SQL_COUNTS[] = "SELECT COUNT(*), COUNT(DISTINCT patient), "
	"(SELECT COUNT(*) FROM (SELECT DISTINCT patient, study FROM lesions)), "
	"(SELECT COUNT(*) FROM (SELECT DISTINCT patient, study, series FROM lesions)) "
	"FROM lesions";

int store_counts(struct store *st, struct store_counts *out, char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	sqlite3_stmt *s;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!c)
		return -1;
	s = store_stmt(c, SQL_COUNTS, err);
	if (s && sqlite3_step(s) == SQLITE_ROW) {
		out->lesions = sqlite3_column_int64(s, 0);
		out->patients = sqlite3_column_int64(s, 1);
		out->studies = sqlite3_column_int64(s, 2);
		out->series = sqlite3_column_int64(s, 3);
		rc = 0;
	} else if (s) {
		store_err(c, "counts", err);
	}
	if (s)
		sqlite3_reset(s);
	store_conn_put(st, c);
	return rc;
}

static const char SQL_META_GET[] = "SELECT value FROM meta WHERE key = ?1";
static const char SQL_META_SET[] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
	"ON CONFLICT(key) DO UPDATE SET value = excluded.value";

int store_meta_get(struct store *st, const char *key, char *val, size_t n, char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	sqlite3_stmt *s;
	int rc = -1, r;

	if (!c)
		return -1;
	s = store_stmt(c, SQL_META_GET, err);
	if (!s)
		goto out;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		snprintf(val, n, "%s", (const char *)sqlite3_column_text(s, 0));
		rc = 0;
	} else if (r == SQLITE_DONE) {
		rc = LSD_ENOTFOUND;
	} else {
		store_err(c, "meta get", err);
	}
	sqlite3_reset(s);
out:
	store_conn_put(st, c);
	return rc;
}

int store_meta_set(struct store *st, const char *key, const char *val, char *err)
{
	struct store_conn *c = store_write_begin(st, err);
	sqlite3_stmt *s;
	int ok = 0;

	if (!c)
		return -1;
	s = store_stmt(c, SQL_META_SET, err);
	if (!s)
		goto out;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, val, -1, SQLITE_TRANSIENT);
	ok = step_done(c, s, "meta set", err) == 0;
out:
	return store_write_end(st, c, ok, err);
}
