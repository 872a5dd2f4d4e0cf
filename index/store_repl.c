/* store_repl.c - the change log, the diff stream and its application (store_repl.h).
 *
 * Stream layout (little-endian):
 *   "LSDREPL1"  u32 schema_version  32 bytes log id (hex)  i64 from  i64 to
 *   records:    u8 kind ('P' | 'D')  u8 table (1..9)  u16 n  n values
 *     value:    u8 type, then INT i64 | REAL f64 bits | TEXT/BLOB u32 len + bytes | NULL -
 *   trailer:    u8 'E'  u64 record count  u64 FNV-1a 64 of every byte before this field
 * Deletes come first, children before parents; then puts, parents before children: with
 * foreign keys deferred to the commit, the replica applies records in stream order.
 * Serving reads one snapshot (one read transaction) of the log and the rows; applying
 * is one write transaction. Load: a diff costs one indexed lookup per changed key.
 */
#include "store_int.h"
#include "store_repl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "LSDREPL1"
#define HDR_LEN (8 + 4 + REPL_LOG_ID_LEN + 8 + 8)
#define TRAILER_LEN (1 + 8 + 8)

struct tdesc {
	const char *name;
	int npk;
	const char *pk[3];
};

static const struct tdesc tables[REPL_T_COUNT + 1] = {
	[REPL_T_PATIENTS] = { "patients", 1, { "id" } },
	[REPL_T_STUDIES] = { "studies", 2, { "patient", "study" } },
	[REPL_T_SERIES] = { "series", 3, { "patient", "study", "series" } },
	[REPL_T_LESIONS] = { "lesions", 1, { "id" } },
	[REPL_T_SPACES] = { "spaces", 1, { "name" } },
	[REPL_T_VECTORS] = { "vectors", 2, { "space", "lesion_id" } },
	[REPL_T_GRAPH_EDGES] = { "graph_edges", 2, { "from_id", "to_id" } },
	[REPL_T_MODELS] = { "models", 1, { "name" } },
	[REPL_T_META] = { "meta", 1, { "key" } },
};

/* ---- little-endian encoding ---- */

static void put_u64(struct sb *b, uint64_t v, int nbytes)
{
	unsigned char x[8];
	int i;

	for (i = 0; i < nbytes; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	sb_add(b, x, (size_t)nbytes);
}

static uint64_t get_u64(const unsigned char *p, int nbytes)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < nbytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_col(struct sb *b, sqlite3_stmt *s, int i)
{
	switch (sqlite3_column_type(s, i)) {
	case SQLITE_INTEGER:
		sb_addc(b, REPL_V_INT);
		put_u64(b, (uint64_t)sqlite3_column_int64(s, i), 8);
		break;
	case SQLITE_FLOAT: {
		double d = sqlite3_column_double(s, i);
		uint64_t u;

		memcpy(&u, &d, 8);
		sb_addc(b, REPL_V_REAL);
		put_u64(b, u, 8);
		break;
	}
	case SQLITE_TEXT: {
		const unsigned char *t = sqlite3_column_text(s, i);
		int n = sqlite3_column_bytes(s, i);

		sb_addc(b, REPL_V_TEXT);
		put_u64(b, (uint64_t)n, 4);
		sb_add(b, t, (size_t)n);
		break;
	}
	case SQLITE_BLOB: {
		const void *p = sqlite3_column_blob(s, i);
		int n = sqlite3_column_bytes(s, i);

		sb_addc(b, REPL_V_BLOB);
		put_u64(b, (uint64_t)n, 4);
		if (n)
			sb_add(b, p, (size_t)n);
		break;
	}
	default:
		sb_addc(b, REPL_V_NULL);
	}
}

/* ---- reading the log ---- */

static const char SQL_LOG_ID[] = "SELECT id FROM repl_log LIMIT 1";
static const char SQL_LAST[] = "SELECT seq FROM sqlite_sequence WHERE name = 'changelog'";
static const char SQL_FIRST[] = "SELECT MIN(seq) FROM changelog";
static const char SQL_FOLLOW[] = "SELECT log_id, position, primary_url FROM repl_follow LIMIT 1";

static int64_t one_i64(struct store_conn *c, const char *sql, int64_t dflt, int *ok, char *err)
{
	sqlite3_stmt *s = store_stmt(c, sql, err);
	int64_t v = dflt;
	int r;

	if (!s) {
		*ok = 0;
		return dflt;
	}
	r = sqlite3_step(s);
	if (r == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
	else if (r != SQLITE_ROW && r != SQLITE_DONE)
		*ok = store_err(c, sql, err) == 0;
	sqlite3_reset(s);
	return v;
}

static int info_conn(struct store_conn *c, struct repl_info *out, char *err)
{
	sqlite3_stmt *s;
	int ok = 1, r;

	memset(out, 0, sizeof(*out));
	if (!(s = store_stmt(c, SQL_LOG_ID, err)))
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		snprintf(out->log_id, sizeof(out->log_id), "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_reset(s);
	out->last = one_i64(c, SQL_LAST, 0, &ok, err);
	out->first = one_i64(c, SQL_FIRST, out->last + 1, &ok, err);
	if (!ok || !(s = store_stmt(c, SQL_FOLLOW, err)))
		return -1;
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		out->following = 1;
		snprintf(out->follow_log, sizeof(out->follow_log), "%s",
			 (const char *)sqlite3_column_text(s, 0));
		out->position = sqlite3_column_int64(s, 1);
		snprintf(out->primary_url, sizeof(out->primary_url), "%s",
			 (const char *)sqlite3_column_text(s, 2));
	}
	sqlite3_reset(s);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return store_err(c, "repl_follow", err);
	if (strlen(out->log_id) != REPL_LOG_ID_LEN)
		return errf(err, "the database has no replication log (schema older than 5?)");
	return 0;
}

int store_repl_info(struct store *st, struct repl_info *out, char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	int rc;

	if (!c)
		return -1;
	rc = store_exec(c, "BEGIN", err);
	if (!rc) {
		rc = info_conn(c, out, err);
		store_exec(c, "COMMIT", NULL);
	}
	store_conn_put(st, c);
	return rc;
}

static const char SQL_KEYS[] = "SELECT DISTINCT k1, k2, k3 FROM changelog "
	"WHERE seq > ?1 AND seq <= ?2 AND tbl = ?3";
static const char SQL_NKEYS[] = "SELECT COUNT(*) FROM changelog WHERE seq > ?1 AND seq <= ?2";

static int prepare_row(struct store_conn *c, int t, sqlite3_stmt **out, char *err)
{
	char sql[256];
	int k, off;

	off = snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE ", tables[t].name);
	for (k = 0; k < tables[t].npk; k++)
		off += snprintf(sql + off, sizeof(sql) - (size_t)off, "%s%s = ?%d", k ? " AND " : "",
				tables[t].pk[k], k + 1);
	if (sqlite3_prepare_v2(c->db, sql, -1, out, NULL) != SQLITE_OK)
		return store_err(c, "prepare", err);
	return 0;
}

/* Every changed key of table t: its row now ('P' into puts) or its absence ('D' into dels). */
static int diff_table(struct store_conn *c, int t, int64_t after, int64_t last, struct sb *puts,
		      struct sb *dels, size_t *nrec, char *err)
{
	sqlite3_stmt *keys = store_stmt(c, SQL_KEYS, err), *row = NULL;
	int r, k, n, rc = -1;

	if (!keys || prepare_row(c, t, &row, err))
		goto out;
	sqlite3_bind_int64(keys, 1, after);
	sqlite3_bind_int64(keys, 2, last);
	sqlite3_bind_int(keys, 3, t);
	while ((r = sqlite3_step(keys)) == SQLITE_ROW) {
		sqlite3_reset(row);
		for (k = 0; k < tables[t].npk; k++)
			sqlite3_bind_value(row, k + 1, sqlite3_column_value(keys, k));
		r = sqlite3_step(row);
		if (r == SQLITE_ROW) {
			n = sqlite3_column_count(row);
			sb_addc(puts, 'P');
			sb_addc(puts, (char)t);
			put_u64(puts, (uint64_t)n, 2);
			for (k = 0; k < n; k++)
				put_col(puts, row, k);
		} else if (r == SQLITE_DONE) {
			sb_addc(dels, 'D');
			sb_addc(dels, (char)t);
			put_u64(dels, (uint64_t)tables[t].npk, 2);
			for (k = 0; k < tables[t].npk; k++)
				put_col(dels, keys, k);
		} else {
			store_err(c, "row read", err);
			goto out;
		}
		(*nrec)++;
	}
	if (r != SQLITE_DONE) {
		store_err(c, "change log read", err);
		goto out;
	}
	rc = 0;
out:
	if (keys)
		sqlite3_reset(keys);
	sqlite3_finalize(row);
	return rc;
}

int store_repl_changes(struct store *st, const char *log_id, int64_t after, size_t max_keys,
		       struct sb *b, int64_t *to, size_t *nkeys, char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	struct sb dels[REPL_T_COUNT + 1], puts;
	struct repl_info in;
	size_t nrec = 0, start;
	int64_t n = 0;
	int t, ok = 1, rc = -1;

	*to = after;
	*nkeys = 0;
	if (!c)
		return -1;
	sb_init(&puts, b->max);
	for (t = 0; t <= REPL_T_COUNT; t++)
		sb_init(&dels[t], b->max);
	if (store_exec(c, "BEGIN", err))
		goto out;
	if (info_conn(c, &in, err))
		goto out_tx;
	if (strcmp(log_id, in.log_id)) {
		errf(err, "this primary's change log is %s, not %.40s (restored or replaced): "
			  "take a new snapshot", in.log_id, log_id);
		rc = REPL_GONE;
		goto out_tx;
	}
	if (after > in.last || after < 0) {
		errf(err, "position %lld is past this log's end %lld (the primary was "
			  "restored?): take a new snapshot", (long long)after, (long long)in.last);
		rc = REPL_GONE;
		goto out_tx;
	}
	if (after < in.first - 1) {
		rc = errf(err, "the log was truncated: it starts at %lld, position %lld is older: "
			  "take a new snapshot", (long long)in.first, (long long)after);
		rc = REPL_GONE;
		goto out_tx;
	}
	if (max_keys && after < in.last) {
		sqlite3_stmt *s = store_stmt(c, SQL_NKEYS, err);

		if (!s)
			goto out_tx;
		sqlite3_bind_int64(s, 1, after);
		sqlite3_bind_int64(s, 2, in.last);
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int64(s, 0);
		else
			ok = 0;
		sqlite3_reset(s);
		if (!ok) {
			store_err(c, "change count", err);
			goto out_tx;
		}
		if ((uint64_t)n > max_keys) {
			errf(err, "%lld changes after position %lld, more than %zu: take a new "
				  "snapshot", (long long)n, (long long)after, max_keys);
		rc = REPL_GONE;
			goto out_tx;
		}
	}
	start = b->len;
	sb_add(b, MAGIC, 8);
	put_u64(b, (uint64_t)store_schema_version(st), 4);
	sb_add(b, in.log_id, REPL_LOG_ID_LEN);
	put_u64(b, (uint64_t)after, 8);
	put_u64(b, (uint64_t)in.last, 8);
	if (after < in.last)
		for (t = 1; t <= REPL_T_COUNT; t++)
			if (diff_table(c, t, after, in.last, &puts, &dels[t], &nrec, err))
				goto out_tx;
	for (t = REPL_T_COUNT; t >= 1; t--)	/* children first */
		sb_add(b, dels[t].p, dels[t].len);
	sb_add(b, puts.p, puts.len);
	sb_addc(b, 'E');
	put_u64(b, (uint64_t)nrec, 8);
	put_u64(b, fnv1a64(b->p + start, b->len - start, 0), 8);
	if (b->oom || puts.oom) {
		errf(err, "the diff is larger than %zu bytes: take a new snapshot", b->max);
		rc = REPL_GONE;
		goto out_tx;
	}
	*to = in.last;
	*nkeys = nrec;
	rc = 0;
out_tx:
	store_exec(c, "COMMIT", NULL);
out:
	store_conn_put(st, c);
	sb_free(&puts);
	for (t = 0; t <= REPL_T_COUNT; t++)
		sb_free(&dels[t]);
	return rc;
}

static const char SQL_TRIM[] = "DELETE FROM changelog WHERE seq <= ?1";

int store_repl_trim(struct store *st, int64_t keep, size_t *deleted, char *err)
{
	struct store_conn *c;
	sqlite3_stmt *s;
	int64_t last;
	int ok = 1;

	if (deleted)
		*deleted = 0;
	c = store_write_begin(st, err);
	if (!c)
		return -1;
	last = one_i64(c, SQL_LAST, 0, &ok, err);
	if (ok && last - keep > 0 && (s = store_stmt(c, SQL_TRIM, err))) {
		sqlite3_bind_int64(s, 1, last - keep);
		ok = sqlite3_step(s) == SQLITE_DONE;
		sqlite3_reset(s);
		if (!ok)
			store_err(c, "trim", err);
		else if (deleted)
			*deleted = (size_t)sqlite3_changes(c->db);
	}
	return store_write_end(st, c, ok, err);
}

static const char SQL_FOLLOW_INS[] = "INSERT INTO repl_follow (log_id, position, primary_url) "
	"VALUES ((SELECT id FROM repl_log LIMIT 1), "
	"COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changelog'), 0), ?1)";

int store_repl_follow_init(struct store *st, const char *url, char *err)
{
	struct store_conn *c = store_write_begin(st, err);
	sqlite3_stmt *s;
	int ok = 0;

	if (!c)
		return -1;
	if (store_exec(c, "DELETE FROM repl_follow", err) || !(s = store_stmt(c, SQL_FOLLOW_INS, err)))
		goto out;
	sqlite3_bind_text(s, 1, url, -1, SQLITE_TRANSIENT);
	ok = sqlite3_step(s) == SQLITE_DONE;
	sqlite3_reset(s);
	if (!ok)
		store_err(c, "repl_follow", err);
	else
		ok = store_exec(c, "DELETE FROM changelog", err) == 0;
out:
	return store_write_end(st, c, ok, err);
}

int store_repl_new_history(struct store *st, char *err)
{
	struct store_conn *c = store_write_begin(st, err);
	int ok;

	if (!c)
		return -1;
	ok = store_exec(c, "UPDATE repl_log SET id = lower(hex(randomblob(16)));"
			"DELETE FROM repl_follow; DELETE FROM changelog;", err) == 0;
	return store_write_end(st, c, ok, err);
}

/* ---- parsing ---- */

static int parse(const unsigned char *p, size_t len, struct repl_header *h,
		 int (*fn)(const struct repl_rec *r, void *arg), void *arg, char *err)
{
	size_t pos = HDR_LEN, end;
	uint64_t nrec = 0, want;
	struct repl_rec *r = NULL;
	int i, rc = -1;

	memset(h, 0, sizeof(*h));
	if (!p || len < HDR_LEN + TRAILER_LEN)
		return errf(err, "replication stream: truncated (%zu bytes)", len);
	if (memcmp(p, MAGIC, 8))
		return errf(err, "replication stream: bad magic");
	end = len - TRAILER_LEN;
	if (p[end] != 'E')
		return errf(err, "replication stream: truncated (no trailer)");
	if (fnv1a64(p, len - 8, 0) != get_u64(p + len - 8, 8))
		return errf(err, "replication stream: checksum mismatch (corrupted or truncated)");
	want = get_u64(p + end + 1, 8);
	h->schema_version = (int)get_u64(p + 8, 4);
	for (i = 0; i < REPL_LOG_ID_LEN; i++) {
		char ch = (char)p[12 + i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return errf(err, "replication stream: bad log id");
		h->log_id[i] = ch;
	}
	h->from = (int64_t)get_u64(p + 12 + REPL_LOG_ID_LEN, 8);
	h->to = (int64_t)get_u64(p + 20 + REPL_LOG_ID_LEN, 8);
	if (h->schema_version <= 0 || h->from < 0 || h->to < h->from)
		return errf(err, "replication stream: bad header");
	r = malloc(sizeof(*r));
	if (!r)
		return errf(err, "out of memory");
	while (pos < end) {
		int t, n;

		if (end - pos < 4) {
			errf(err, "replication stream: record %llu truncated", (unsigned long long)nrec);
			goto out;
		}
		r->kind = (char)p[pos];
		t = p[pos + 1];
		n = (int)get_u64(p + pos + 2, 2);
		pos += 4;
		if ((r->kind != 'P' && r->kind != 'D') || t < 1 || t > REPL_T_COUNT || n < 1 ||
		    n > REPL_MAX_COLS || (r->kind == 'D' && n != tables[t].npk)) {
			errf(err, "replication stream: record %llu malformed", (unsigned long long)nrec);
			goto out;
		}
		r->tbl = (enum repl_table)t;
		r->n = n;
		for (i = 0; i < n; i++) {
			struct repl_val *v = &r->v[i];
			uint64_t u;

			if (pos >= end)
				goto trunc;
			v->type = (enum repl_vtype)p[pos++];
			switch (v->type) {
			case REPL_V_NULL:
				break;
			case REPL_V_INT:
			case REPL_V_REAL:
				if (end - pos < 8)
					goto trunc;
				u = get_u64(p + pos, 8);
				v->i = (int64_t)u;
				memcpy(&v->r, &u, 8);
				pos += 8;
				break;
			case REPL_V_TEXT:
			case REPL_V_BLOB:
				if (end - pos < 4)
					goto trunc;
				v->len = (uint32_t)get_u64(p + pos, 4);
				pos += 4;
				if (v->len > REPL_VAL_MAX || end - pos < v->len)
					goto trunc;
				v->p = p + pos;
				pos += v->len;
				break;
			default:
				errf(err, "replication stream: record %llu: unknown value type %d",
				     (unsigned long long)nrec, (int)v->type);
				goto out;
			}
		}
		nrec++;
		if (fn && (rc = fn(r, arg)) != 0)
			goto out;
	}
	if (nrec != want) {
		errf(err, "replication stream: %llu records, the trailer says %llu",
		     (unsigned long long)nrec, (unsigned long long)want);
		goto out;
	}
	h->nrec = nrec;
	rc = 0;
	goto out;
trunc:
	errf(err, "replication stream: record %llu truncated", (unsigned long long)nrec);
	rc = -1;
out:
	free(r);
	return rc;
}

int repl_stream_check(const void *buf, size_t len, struct repl_header *h, char *err)
{
	return parse(buf, len, h, NULL, NULL, err);
}

int repl_stream_foreach(const void *buf, size_t len, int (*fn)(const struct repl_rec *r, void *arg),
			void *arg, char *err)
{
	struct repl_header h;

	return parse(buf, len, &h, fn, arg, err);
}

/* ---- applying ---- */

struct repl_apply {
	struct store *st;
	struct store_conn *c;
	sqlite3_stmt *put[REPL_T_COUNT + 1], *del[REPL_T_COUNT + 1];
	int ncols[REPL_T_COUNT + 1];
	char err[LSD_ERRLEN];
};

/* INSERT ... ON CONFLICT DO UPDATE and DELETE for table t, from its own schema. */
static int prepare_apply(struct repl_apply *a, int t, char *err)
{
	char sql[4096], name[REPL_MAX_COLS][64];
	int pk[REPL_MAX_COLS], n = 0, k, off, any = 0;
	sqlite3_stmt *s;

	snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", tables[t].name);
	if (sqlite3_prepare_v2(a->c->db, sql, -1, &s, NULL) != SQLITE_OK)
		return store_err(a->c, "table_info", err);
	while (sqlite3_step(s) == SQLITE_ROW && n < REPL_MAX_COLS) {
		snprintf(name[n], sizeof(name[n]), "%s", (const char *)sqlite3_column_text(s, 1));
		pk[n] = sqlite3_column_int(s, 5);
		n++;
	}
	sqlite3_finalize(s);
	off = snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (", tables[t].name);
	for (k = 0; k < n; k++)
		off += snprintf(sql + off, sizeof(sql) - (size_t)off, "%s?%d", k ? "," : "", k + 1);
	off += snprintf(sql + off, sizeof(sql) - (size_t)off, ") ON CONFLICT (");
	for (k = 0; k < tables[t].npk; k++)
		off += snprintf(sql + off, sizeof(sql) - (size_t)off, "%s\"%s\"", k ? "," : "",
				tables[t].pk[k]);
	off += snprintf(sql + off, sizeof(sql) - (size_t)off, ") DO UPDATE SET ");
	for (k = 0; k < n; k++)
		if (!pk[k])
			off += snprintf(sql + off, sizeof(sql) - (size_t)off, "%s\"%s\" = excluded.\"%s\"",
					any++ ? "," : "", name[k], name[k]);
	if (!any || (size_t)off >= sizeof(sql))
		return errf(err, "%s: too many columns", tables[t].name);
	if (sqlite3_prepare_v2(a->c->db, sql, -1, &a->put[t], NULL) != SQLITE_OK)
		return store_err(a->c, "prepare put", err);
	off = snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE ", tables[t].name);
	for (k = 0; k < tables[t].npk; k++)
		off += snprintf(sql + off, sizeof(sql) - (size_t)off, "%s\"%s\" = ?%d",
				k ? " AND " : "", tables[t].pk[k], k + 1);
	if (sqlite3_prepare_v2(a->c->db, sql, -1, &a->del[t], NULL) != SQLITE_OK)
		return store_err(a->c, "prepare delete", err);
	a->ncols[t] = n;
	return 0;
}

static int apply_rec(const struct repl_rec *r, void *arg)
{
	struct repl_apply *a = arg;
	sqlite3_stmt *s;
	int i, rc;

	if (!a->put[r->tbl] && prepare_apply(a, r->tbl, a->err))
		return -1;
	if (r->kind == 'P' && r->n != a->ncols[r->tbl])
		return errf(a->err, "%s: %d values, the table has %d columns", tables[r->tbl].name,
			    r->n, a->ncols[r->tbl]);
	s = r->kind == 'P' ? a->put[r->tbl] : a->del[r->tbl];
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	for (i = 0; i < r->n; i++) {
		const struct repl_val *v = &r->v[i];

		switch (v->type) {
		case REPL_V_INT: sqlite3_bind_int64(s, i + 1, v->i); break;
		case REPL_V_REAL: sqlite3_bind_double(s, i + 1, v->r); break;
		case REPL_V_TEXT: sqlite3_bind_text(s, i + 1, v->p, (int)v->len, SQLITE_STATIC); break;
		case REPL_V_BLOB: sqlite3_bind_blob(s, i + 1, v->p, (int)v->len, SQLITE_STATIC); break;
		default: sqlite3_bind_null(s, i + 1);
		}
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return errf(a->err, "%s %s: %s", r->kind == 'P' ? "put" : "delete",
			    tables[r->tbl].name, sqlite3_errmsg(a->c->db));
	return 0;
}

static const char SQL_POS[] = "UPDATE repl_follow SET position = ?1";

static void apply_free(struct repl_apply *a)
{
	int t;

	for (t = 0; t <= REPL_T_COUNT; t++) {
		sqlite3_finalize(a->put[t]);
		sqlite3_finalize(a->del[t]);
	}
	free(a);
}

int store_repl_apply_begin(struct store *st, const void *buf, size_t len, struct repl_apply **out,
			   struct repl_header *h, char *err)
{
	struct repl_apply *a;
	struct repl_info in;
	sqlite3_stmt *s;
	int ok;

	*out = NULL;
	if (repl_stream_check(buf, len, h, err))
		return -1;
	if (h->schema_version != store_schema_version(st))
		return errf(err, "the primary's schema version is %d, this replica's %d: run the "
			    "same lesiond on both", h->schema_version, store_schema_version(st));
	a = calloc(1, sizeof(*a));
	if (!a)
		return errf(err, "out of memory");
	a->st = st;
	a->c = store_write_begin(st, err);
	if (!a->c) {
		free(a);
		return -1;
	}
	if (info_conn(a->c, &in, err))
		goto fail;
	if (!in.following || strcmp(in.follow_log, h->log_id) || in.position != h->from) {
		errf(err, "the diff leads from %.32s@%lld, this replica is at %s@%lld",
		     h->log_id, (long long)h->from, in.following ? in.follow_log : "(none)",
		     (long long)in.position);
		goto fail;
	}
	if (store_exec(a->c, "PRAGMA defer_foreign_keys = ON", err))
		goto fail;
	if (repl_stream_foreach(buf, len, apply_rec, a, err)) {
		if (a->err[0])
			errf(err, "%s", a->err);
		goto fail;
	}
	s = store_stmt(a->c, SQL_POS, err);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, h->to);
	ok = sqlite3_step(s) == SQLITE_DONE;
	sqlite3_reset(s);
	if (!ok) {
		store_err(a->c, "position", err);
		goto fail;
	}
	*out = a;
	return 0;
fail:
	store_write_end(st, a->c, 0, NULL);
	apply_free(a);
	return -1;
}

int store_repl_apply_end(struct repl_apply *a, int ok, char *err)
{
	int t, rc;

	if (!a)
		return -1;
	for (t = 0; t <= REPL_T_COUNT; t++) {	/* no statement may be pending at COMMIT */
		sqlite3_finalize(a->put[t]);
		sqlite3_finalize(a->del[t]);
		a->put[t] = a->del[t] = NULL;
	}
	rc = store_write_end(a->st, a->c, ok, err);
	free(a);
	return ok ? rc : 0;
}
