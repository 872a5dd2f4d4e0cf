/* store_graph.c - the store's part of the lesion graph: a patient's lesions in time
 * order, and the persisted edges (table graph_edges, migrations/0003_graph.sql).
 *
 * Called by `lesiond graph` (every patient), by the lesion write handlers (the one
 * patient whose lesions changed, both through graphrun_rebuild) and by the graph / track
 * handlers (reads). The graph itself is computed by the caller's callback (graph.c
 * through graphrun.c); a replacement runs inside one write transaction: the patient's
 * lesions are read while the write lock keeps other writers out, the callback builds
 * the edges, and the patient's edges are replaced all-or-nothing. Deleting a lesion removes
 * its edges by ON DELETE CASCADE. Load: one rebuild per lesion write, a few ms for a
 * patient with dozens of lesions; a full rebuild is one transaction per patient.
 */
#include "store_int.h"
#include "graph.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STORE_GRAPH_PAGE 256
#define STORE_GRAPH_MAX_LESIONS 100000	/* per patient; DeepLesion's largest has < 300 */
#define STORE_GRAPH_MAX_PATIENTS 10000000

static int les_cmp(const void *x, const void *y)
{
	const struct lesion *a = x, *b = y;

	if (a->study != b->study)
		return a->study < b->study ? -1 : 1;
	return (a->id > b->id) - (a->id < b->id);
}

int store_patient_lesions(struct store *st, int64_t patient, struct lesion **out, size_t *n,
			  char *err)
{
	struct store_filter f;
	struct lesion *v = NULL;
	size_t len = 0, cap = 0;
	int64_t after = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	store_filter_init(&f);
	if (patient <= 0)
		return 0;
	f.patient = patient;
	for (;;) {
		int got = 0;

		if (cap - len < STORE_GRAPH_PAGE) {
			size_t nc = cap ? cap * 2 : STORE_GRAPH_PAGE;
			struct lesion *t;

			if (nc > STORE_GRAPH_MAX_LESIONS + STORE_GRAPH_PAGE) {
				errf(err, "patient %lld has more than %d lesions", (long long)patient,
				     STORE_GRAPH_MAX_LESIONS);
				goto out;
			}
			t = realloc(v, nc * sizeof(*v));
			if (!t) {
				errf(err, "out of memory");
				goto out;
			}
			v = t;
			cap = nc;
		}
		if (store_lesion_list(st, &f, after, STORE_GRAPH_PAGE, v + len, &got, err))
			goto out;
		if (got == 0)
			break;
		len += (size_t)got;
		after = v[len - 1].id;
		if (got < STORE_GRAPH_PAGE)
			break;
	}
	if (len)
		qsort(v, len, sizeof(*v), les_cmp);
	if (len == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = len;
	v = NULL;
	rc = 0;
out:
	free(v);
	return rc;
}

static const char SQL_PATIENTS[] = "SELECT DISTINCT patient FROM lesions ORDER BY patient";

int store_patient_ids(struct store *st, int64_t **out, size_t *n, char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	sqlite3_stmt *s;
	int64_t *v = NULL;
	size_t len = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*n = 0;
	if (!c)
		return -1;
	s = store_stmt(c, SQL_PATIENTS, err);
	if (!s)
		goto out;
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		if (len == cap) {
			size_t nc = cap ? cap * 2 : 256;
			int64_t *t;

			if (nc > STORE_GRAPH_MAX_PATIENTS) {
				errf(err, "more than %d patients", STORE_GRAPH_MAX_PATIENTS);
				goto out;
			}
			t = realloc(v, nc * sizeof(*v));
			if (!t) {
				errf(err, "out of memory");
				goto out;
			}
			v = t;
			cap = nc;
		}
		v[len++] = sqlite3_column_int64(s, 0);
	}
	if (r != SQLITE_DONE) {
		store_err(c, "patient list", err);
		goto out;
	}
	*out = v;
	*n = len;
	v = NULL;
	rc = 0;
out:
	if (s)
		sqlite3_reset(s);
	store_conn_put(st, c);
	free(v);
	return rc;
}

static const char SQL_EDEL[] = "DELETE FROM graph_edges WHERE patient = ?1";
static const char SQL_EINS[] =
	"INSERT INTO graph_edges (from_id, to_id, patient, score, cost, d_embed, d_loc, "
	"size_ratio) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

static void bind_opt(sqlite3_stmt *s, int i, double v)
{
	if (isnan(v))
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_double(s, i, v);
}

int store_graph_replace(struct store *st, int64_t patient, store_graph_build_fn build, void *cls,
			char *err)
{
	const struct graph_edge *e = NULL;
	struct store_conn *c = NULL;
	struct lesion *l = NULL;
	sqlite3_stmt *sdel = NULL, *sins = NULL;
	size_t n = 0, ne = 0;
	int ok = 0;

	c = store_write_begin(st, err);
	if (!c)
		return -1;
	/* read on another pooled connection: it sees the last commit, and the write lock
	 * we hold keeps every other writer out until we are done */
	if (store_patient_lesions(st, patient, &l, &n, err))
		goto out;
	if (build(cls, l, n, &e, &ne, err))
		goto out;
	sdel = store_stmt(c, SQL_EDEL, err);
	sins = sdel ? store_stmt(c, SQL_EINS, err) : NULL;
	if (!sins)
		goto out;
	sqlite3_bind_int64(sdel, 1, patient);
	if (sqlite3_step(sdel) != SQLITE_DONE) {
		store_err(c, "graph edges delete", err);
		goto out;
	}
	for (size_t k = 0; k < ne; k++) {
		if (k == ne / 2)
			store_debug_pause("graph");
		sqlite3_reset(sins);
		sqlite3_bind_int64(sins, 1, e[k].from);
		sqlite3_bind_int64(sins, 2, e[k].to);
		sqlite3_bind_int64(sins, 3, patient);
		sqlite3_bind_double(sins, 4, e[k].score);
		sqlite3_bind_double(sins, 5, e[k].cost);
		bind_opt(sins, 6, e[k].d_embed);
		sqlite3_bind_double(sins, 7, e[k].d_loc);
		bind_opt(sins, 8, e[k].size_ratio);
		if (sqlite3_step(sins) != SQLITE_DONE) {
			store_err(c, "graph edge insert", err);
			goto out;
		}
	}
	ok = 1;
out:
	if (sdel)
		sqlite3_reset(sdel);
	if (sins)
		sqlite3_reset(sins);
	free(l);
	if (store_write_end(st, c, ok, err))
		return -1;
	return 0;
}

static const char SQL_ESEL[] =
	"SELECT from_id, to_id, score, cost, d_embed, d_loc, size_ratio FROM graph_edges "
	"WHERE patient = ?1 ORDER BY from_id, to_id";

int store_graph_edges(struct store *st, int64_t patient, struct graph_edge **out, size_t *n,
		      char *err)
{
	struct store_conn *c = store_conn_get(st, err);
	sqlite3_stmt *s;
	struct graph_edge *v = NULL;
	size_t len = 0, cap = 0;
	int rc = -1, r;

	*out = NULL;
	*n = 0;
	if (!c)
		return -1;
	s = store_stmt(c, SQL_ESEL, err);
	if (!s)
		goto out;
	sqlite3_bind_int64(s, 1, patient);
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		struct graph_edge *e;

		if (len == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct graph_edge *t;

			if (nc > (size_t)STORE_GRAPH_MAX_LESIONS * 64) {
				errf(err, "patient %lld: too many edges", (long long)patient);
				goto out;
			}
			t = realloc(v, nc * sizeof(*v));
			if (!t) {
				errf(err, "out of memory");
				goto out;
			}
			v = t;
			cap = nc;
		}
		e = &v[len++];
		e->from = sqlite3_column_int64(s, 0);
		e->to = sqlite3_column_int64(s, 1);
		e->score = sqlite3_column_double(s, 2);
		e->cost = sqlite3_column_double(s, 3);
		e->d_embed = sqlite3_column_type(s, 4) == SQLITE_NULL ? NAN :
			     sqlite3_column_double(s, 4);
		e->d_loc = sqlite3_column_double(s, 5);
		e->size_ratio = sqlite3_column_type(s, 6) == SQLITE_NULL ? NAN :
				sqlite3_column_double(s, 6);
	}
	if (r != SQLITE_DONE) {
		store_err(c, "graph edges", err);
		goto out;
	}
	*out = v;
	*n = len;
	v = NULL;
	rc = 0;
out:
	if (s)
		sqlite3_reset(s);
	store_conn_put(st, c);
	free(v);
	return rc;
}
