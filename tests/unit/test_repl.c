/* test_repl.c - the replication change log and diff stream (index/store_repl.c).
 * A primary store with the DeepLesion sample, vectors and graph edges; a replica made
 * from an online copy. Checks: diffs bring the replica to the primary's exact state
 * (lesions field by field, vector checksums, every patient's edges, meta) across
 * inserts, deletes (cascades), vector rewrites; the log refuses another log id, a
 * position past its end and a truncated history (REPL_GONE); every truncation and
 * every single-byte corruption of a stream is refused by the parser and leaves the
 * replica untouched; a re-checksummed malformed stream is refused; a diff cannot be
 * applied twice. */
#include "dlcsv.h"
#include "graph.h"
#include "graphrun.h"
#include "store.h"
#include "store_repl.h"
#include "store_vec.h"
#include "unit.h"
#include "util.h"

#include <stdio.h>
#include <unistd.h>

static char pdb[512], rdb[512];

static void rm_db(const char *path)
{
	char p[600];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static struct lesion *load_sample(size_t *n)
{
	char path[512], err[LSD_ERRLEN];
	struct dlcsv *c = NULL;
	struct lesion *v = calloc(400, sizeof(*v));

	*n = 0;
	snprintf(path, sizeof(path), "%s/DL_info_sample.csv", unit_shared_dir());
	if (!v || dlcsv_open(path, &c, err))
		return v;
	while (*n < 400 && dlcsv_next(c, &v[*n], err) == 1)
		(*n)++;
	dlcsv_close(c);
	return v;
}

static const struct space_def SPACE_A = { "a", 8, SPACE_L2, "Flat", "test", "" };

static void put_vectors(struct store *st, int64_t first, size_t n, float base)
{
	int64_t *ids = calloc(n, sizeof(*ids));
	float *v = calloc(n * 8, sizeof(*v));
	int64_t *unk = NULL;
	size_t nunk = 0, i;
	char err[LSD_ERRLEN];

	for (i = 0; i < n; i++) {
		ids[i] = first + (int64_t)i;
		for (int k = 0; k < 8; k++)
			v[i * 8 + (size_t)k] = base + (float)(i * 8 + (size_t)k) * 0.001f;
	}
	CHECK_EQ_INT(store_vec_put(st, &SPACE_A, ids, v, n, &unk, &nunk, 10, err), 0);
	free(unk);
	free(ids);
	free(v);
}

struct fp {
	uint64_t h;
	size_t n;
};

static int fp_lesion(const struct lesion *l, void *arg)
{
	struct fp *f = arg;
	struct lesion c = *l;

	/* every stored field, bit for bit (the struct's padding zeroed by a copy) */
	f->h = fnv1a64(&c.id, sizeof(c.id), f->h);
	f->h = fnv1a64(c.file_name, strlen(c.file_name), f->h);
	f->h = fnv1a64(c.recist, sizeof(c.recist), f->h);
	f->h = fnv1a64(c.bbox, sizeof(c.bbox), f->h);
	f->h = fnv1a64(c.loc, sizeof(c.loc), f->h);
	f->h = fnv1a64(c.diam_mm, sizeof(c.diam_mm), f->h);
	f->h = fnv1a64(&c.age, sizeof(c.age), f->h);
	f->h = fnv1a64(&c.patient, sizeof(c.patient), f->h);
	f->h = fnv1a64(&c.type, sizeof(c.type), f->h);
	f->n++;
	return 0;
}

/* A fingerprint of everything replicated, read through the store's own API. */
static uint64_t state(struct store *st)
{
	struct fp f = { 0, 0 };
	char err[LSD_ERRLEN], val[256];
	int64_t *pids = NULL;
	size_t np = 0, i, cnt = 0;
	int64_t maxid = 0;
	uint64_t cs = 0;
	struct store_counts c;

	CHECK_EQ_INT(store_lesion_foreach(st, fp_lesion, &f, err), 0);
	CHECK_EQ_INT(store_counts(st, &c, err), 0);
	f.h = fnv1a64(&c, sizeof(c), f.h);
	if (store_vec_checksum(st, "a", 8, &cnt, &maxid, &cs, err) == 0) {
		f.h = fnv1a64(&cnt, sizeof(cnt), f.h);
		f.h = fnv1a64(&cs, sizeof(cs), f.h);
	}
	CHECK_EQ_INT(store_patient_ids(st, &pids, &np, err), 0);
	for (i = 0; i < np; i++) {
		struct graph_edge *e = NULL;
		size_t ne = 0, k;

		CHECK_EQ_INT(store_graph_edges(st, pids[i], &e, &ne, err), 0);
		for (k = 0; k < ne; k++) {
			f.h = fnv1a64(&e[k].from, sizeof(e[k].from), f.h);
			f.h = fnv1a64(&e[k].to, sizeof(e[k].to), f.h);
			f.h = fnv1a64(&e[k].score, sizeof(e[k].score), f.h);
		}
		free(e);
	}
	free(pids);
	if (store_meta_get(st, "test.key", val, sizeof(val), err) == 0)
		f.h = fnv1a64(val, strlen(val), f.h);
	return f.h ^ f.n;
}

static int64_t position(struct store *st)
{
	struct repl_info in;
	char err[LSD_ERRLEN];

	CHECK_EQ_INT(store_repl_info(st, &in, err), 0);
	return in.following ? in.position : in.last;
}

/* Diff primary -> replica and apply it; returns the apply status. */
static int sync_once(struct store *p, struct store *r, struct sb *out)
{
	struct repl_info in;
	struct repl_apply *a = NULL;
	struct repl_header h;
	char err[LSD_ERRLEN];
	int64_t to;
	size_t nk;

	CHECK_EQ_INT(store_repl_info(r, &in, err), 0);
	sb_init(out, 1 << 28);
	if (store_repl_changes(p, in.follow_log, in.position, 0, out, &to, &nk, err))
		return -2;
	if (store_repl_apply_begin(r, out->p, out->len, &a, &h, err))
		return -1;
	return store_repl_apply_end(a, 1, err);
}

static void rebuild_graph(struct store *st, int64_t patient)
{
	struct graph_params gp;
	char err[LSD_ERRLEN];

	graph_params_default(&gp);
	CHECK_EQ_INT(graphrun_rebuild(st, patient, &gp, NULL, NULL, err), 0);
}

static size_t nedges(struct store *st)
{
	int64_t *pids = NULL;
	size_t np = 0, i, total = 0;
	char err[LSD_ERRLEN];

	CHECK_EQ_INT(store_patient_ids(st, &pids, &np, err), 0);
	for (i = 0; i < np; i++) {
		struct graph_edge *e = NULL;
		size_t ne = 0;

		if (store_graph_edges(st, pids[i], &e, &ne, err) == 0)
			total += ne;
		free(e);
	}
	free(pids);
	return total;
}

static struct store *P, *R;

static void test_follow(void)
{
	char err[LSD_ERRLEN];
	size_t n, added, same;
	struct lesion *v = load_sample(&n);
	struct sb b;
	int i;

	snprintf(pdb, sizeof(pdb), "%s/repl_p.db", getenv("LSD_TEST_TMP") ? getenv("LSD_TEST_TMP") : "/tmp");
	snprintf(rdb, sizeof(rdb), "%s/repl_r.db", getenv("LSD_TEST_TMP") ? getenv("LSD_TEST_TMP") : "/tmp");
	rm_db(pdb);
	rm_db(rdb);
	CHECK_EQ_INT(n, 260);
	CHECK_EQ_INT(store_open(pdb, &P, err), 0);
	CHECK_EQ_INT(store_lesion_insert(P, v, 200, &added, &same, err), 0);
	put_vectors(P, 1, 150, 0.5f);
	for (i = 1; i <= 20; i++)
		rebuild_graph(P, i);
	CHECK(position(P) > 200);
	/* the replica: an online copy, then following */
	CHECK_EQ_INT(store_backup(P, rdb, err), 0);
	CHECK_EQ_INT(store_open(rdb, &R, err), 0);
	CHECK_EQ_INT(store_repl_follow_init(R, "http://primary", err), 0);
	CHECK_EQ_INT(position(R), position(P));
	CHECK(state(R) == state(P));
	/* nothing new: an empty diff applies */
	CHECK_EQ_INT(sync_once(P, R, &b), 0);
	sb_free(&b);
	/* inserts, a rewrite of vectors, deletes (cascading vectors and edges), meta */
	CHECK_EQ_INT(store_lesion_insert(P, v + 200, 60, &added, &same, err), 0);
	put_vectors(P, 100, 120, 2.0f);
	for (i = 1; i <= 60; i++)
		rebuild_graph(P, i);
	CHECK_EQ_INT(store_lesion_delete(P, 3, err), 0);
	CHECK_EQ_INT(store_lesion_delete(P, 250, err), 0);
	CHECK_EQ_INT(store_meta_set(P, "test.key", "v1", err), 0);
	CHECK(state(R) != state(P));
	CHECK_EQ_INT(sync_once(P, R, &b), 0);
	CHECK(b.len > 1000);
	sb_free(&b);
	CHECK_EQ_INT(position(R), position(P));
	CHECK(state(R) == state(P));
	/* the replica's own log stays empty: triggers are off on a follower */
	{
		struct repl_info in;

		CHECK_EQ_INT(store_repl_info(R, &in, err), 0);
		CHECK_EQ_INT(in.first, in.last + 1);	/* empty */
		CHECK(nedges(R) > 10);
		CHECK_EQ_INT(nedges(R), nedges(P));
	}
	/* a lesion id reused after a delete (max id + 1) */
	CHECK_EQ_INT(store_lesion_delete(P, 260, err), 0);
	v[10].id = 0;
	CHECK_EQ_INT(store_lesion_insert(P, v + 10, 1, &added, &same, err), 0);
	CHECK_EQ_INT(v[10].id, 260);
	put_vectors(P, 260, 1, 7.0f);
	CHECK_EQ_INT(sync_once(P, R, &b), 0);
	sb_free(&b);
	CHECK(state(R) == state(P));
	free(v);
}

static void test_gone(void)
{
	struct sb b;
	struct repl_info in;
	char err[LSD_ERRLEN];
	int64_t to;
	size_t nk;

	CHECK_EQ_INT(store_repl_info(P, &in, err), 0);
	sb_init(&b, 1 << 20);
	CHECK_EQ_INT(store_repl_changes(P, "0123456789abcdef0123456789abcdef", 0, 0, &b, &to, &nk, err),
		     REPL_GONE);
	CHECK(strstr(err, "restored") != NULL);
	CHECK_EQ_INT(store_repl_changes(P, in.log_id, in.last + 1, 0, &b, &to, &nk, err), REPL_GONE);
	/* max_keys: too far behind */
	CHECK_EQ_INT(store_repl_changes(P, in.log_id, 0, 10, &b, &to, &nk, err), REPL_GONE);
	/* trimmed: position 0 is no longer served, the newest 5 entries still are */
	CHECK_EQ_INT(store_repl_trim(P, 5, NULL, err), 0);
	CHECK_EQ_INT(store_repl_changes(P, in.log_id, 0, 0, &b, &to, &nk, err), REPL_GONE);
	CHECK(strstr(err, "truncated") != NULL);
	b.len = 0;
	CHECK_EQ_INT(store_repl_changes(P, in.log_id, in.last - 5, 0, &b, &to, &nk, err), 0);
	CHECK_EQ_INT(to, in.last);
	/* a restore's new history: another log id */
	sb_free(&b);
}

static void test_corruption(void)
{
	struct store_counts c0;
	struct repl_header h;
	struct repl_apply *a = NULL;
	char err[LSD_ERRLEN];
	struct sb b;
	uint64_t before;
	int64_t pos0, to;
	size_t nk, i, refused = 0, tried = 0;
	struct repl_info in;
	unsigned char *m;

	CHECK_EQ_INT(store_lesion_delete(P, 7, err), 0);
	put_vectors(P, 20, 30, 3.0f);
	CHECK_EQ_INT(store_repl_info(R, &in, err), 0);
	sb_init(&b, 1 << 26);
	CHECK_EQ_INT(store_repl_changes(P, in.follow_log, in.position, 0, &b, &to, &nk, err), 0);
	CHECK(nk > 30);
	CHECK_EQ_INT(repl_stream_check(b.p, b.len, &h, err), 0);
	CHECK_EQ_INT(h.nrec, nk);
	before = state(R);
	pos0 = position(R);
	store_counts(R, &c0, err);
	m = malloc(b.len);
	/* every truncation */
	for (i = 0; i < b.len; i++) {
		tried++;
		if (store_repl_apply_begin(R, b.p, i, &a, &h, err) != 0)
			refused++;
		else
			store_repl_apply_end(a, 0, err);
	}
	CHECK_EQ_INT(refused, tried);
	/* every single flipped byte (one bit each, cycling) */
	refused = tried = 0;
	for (i = 0; i < b.len; i++) {
		memcpy(m, b.p, b.len);
		m[i] ^= (unsigned char)(1u << (i % 8));
		tried++;
		if (repl_stream_check(m, b.len, &h, err) != 0)
			refused++;
	}
	CHECK_EQ_INT(refused, tried);
	CHECK(state(R) == before);
	CHECK_EQ_INT(position(R), pos0);
	/* a malformed record under a valid checksum: an unknown table */
	memcpy(m, b.p, b.len);
	m[8 + 4 + 32 + 16 + 1] = 42;
	{
		uint64_t f = fnv1a64(m, b.len - 8, 0);

		for (i = 0; i < 8; i++)
			m[b.len - 8 + i] = (unsigned char)(f >> (8 * i));
	}
	CHECK(repl_stream_check(m, b.len, &h, err) != 0);
	CHECK(strstr(err, "malformed") != NULL);
	/* the good stream applies once; a second time it does not continue the position */
	CHECK_EQ_INT(store_repl_apply_begin(R, b.p, b.len, &a, &h, err), 0);
	CHECK_EQ_INT(store_repl_apply_end(a, 1, err), 0);
	CHECK(state(R) == state(P));
	CHECK(store_repl_apply_begin(R, b.p, b.len, &a, &h, err) != 0);
	CHECK(strstr(err, "leads from") != NULL);
	/* a rolled-back apply leaves nothing behind */
	CHECK_EQ_INT(store_lesion_delete(P, 8, err), 0);
	b.len = 0;
	CHECK_EQ_INT(store_repl_info(R, &in, err), 0);
	CHECK_EQ_INT(store_repl_changes(P, in.follow_log, in.position, 0, &b, &to, &nk, err), 0);
	before = state(R);
	CHECK_EQ_INT(store_repl_apply_begin(R, b.p, b.len, &a, &h, err), 0);
	CHECK_EQ_INT(store_repl_apply_end(a, 0, err), 0);
	CHECK(state(R) == before);
	free(m);
	sb_free(&b);
}

/* A stream written by an independent encoder (tests/fuzz/corpus/repl/seed_stream, made
 * with Python's struct from the format in index/store_repl.c) is accepted. */
static void test_foreign_encoder(void)
{
	char err[LSD_ERRLEN];
	struct repl_header h;
	size_t len = 0;
	char *p = file_read("tests/fuzz/corpus/repl/seed_stream", 1 << 20, &len, err);

	CHECK(p != NULL);
	if (!p)
		return;
	CHECK_EQ_INT(repl_stream_check(p, len, &h, err), 0);
	CHECK_EQ_INT(h.nrec, 5);
	CHECK_EQ_INT(h.from, 10);
	CHECK_EQ_INT(h.to, 14);
	CHECK_EQ_INT(h.schema_version, 5);
	free(p);
}

static void test_new_history(void)
{
	char err[LSD_ERRLEN];
	struct repl_info a, b2;
	struct sb b;

	CHECK_EQ_INT(store_repl_info(P, &a, err), 0);
	CHECK_EQ_INT(store_repl_new_history(P, err), 0);
	CHECK_EQ_INT(store_repl_info(P, &b2, err), 0);
	CHECK(strcmp(a.log_id, b2.log_id) != 0);
	CHECK_EQ_INT(strlen(b2.log_id), 32);
	/* the replica of the old history is told to take a new snapshot */
	CHECK_EQ_INT(sync_once(P, R, &b), -2);
	sb_free(&b);
	store_close(P);
	store_close(R);
	rm_db(pdb);
	rm_db(rdb);
}

int main(void)
{
	RUN(test_follow);
	RUN(test_gone);
	RUN(test_corruption);
	RUN(test_foreign_encoder);
	RUN(test_new_history);
	return unit_done();
}
