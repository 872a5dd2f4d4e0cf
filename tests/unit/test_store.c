/* test_store.c - migrations (fresh, upgrade, newer refused), lesion round trips,
 * all-or-nothing inserts, delete cascades, filters and paging; the cache of lesion rows
 * never serving a row older than the last write (one thread, and readers racing a
 * writer). */
#include "dlcsv.h"
#include "migrations.h"
#include "store.h"
#include "store_repl.h"
#include "unit.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static char dbpath[512];

static void fresh_db(const char *name)
{
	char p[600];

	snprintf(dbpath, sizeof(dbpath), "%s/%s.db", getenv("LSD_TEST_TMP") ?
		 getenv("LSD_TEST_TMP") : "/tmp", name);
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
}

static int latest_version(void)
{
	int i, v = 0;

	for (i = 0; i < migrations_count; i++)
		v = migrations[i].version > v ? migrations[i].version : v;
	return v;
}

static int sqlite_cli(const char *sql)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' \"%s\"", dbpath, sql);
	return system(cmd);
}

static void test_migrations(void)
{
	struct store *st = NULL;
	char err[LSD_ERRLEN];

	fresh_db("mig");
	CHECK_EQ_INT(store_open(dbpath, &st, err), 0);
	CHECK_EQ_INT(store_schema_version(st), latest_version());
	store_close(st);
	/* reopening applies nothing and keeps the version */
	CHECK_EQ_INT(store_open(dbpath, &st, err), 0);
	CHECK_EQ_INT(store_schema_version(st), latest_version());
	store_close(st);
	/* a database from a newer lesiond is refused with a clear message */
	CHECK_EQ_INT(sqlite_cli("PRAGMA user_version = 999"), 0);
	CHECK_EQ_INT(store_open(dbpath, &st, err), -1);
	CHECK(strstr(err, "newer") != NULL);
	/* an older database (version 0: empty) is upgraded */
	fresh_db("mig0");
	CHECK_EQ_INT(sqlite_cli("CREATE TABLE unrelated(x); PRAGMA user_version = 0"), 0);
	CHECK_EQ_INT(store_open(dbpath, &st, err), 0);
	CHECK_EQ_INT(store_schema_version(st), latest_version());
	store_close(st);
}

static struct lesion *load_sample(size_t *n)
{
	char path[512], err[LSD_ERRLEN];
	struct dlcsv *c = NULL;
	struct lesion *v = calloc(400, sizeof(*v));

	*n = 0;
	snprintf(path, sizeof(path), "%s/DL_info_sample.csv", unit_shared_dir());
	if (dlcsv_open(path, &c, err))
		return v;
	while (*n < 400 && dlcsv_next(c, &v[*n], err) == 1)
		(*n)++;
	dlcsv_close(c);
	return v;
}

static void test_roundtrip_all_rows(void)
{
	struct store *st = NULL;
	char err[LSD_ERRLEN];
	size_t n, i, added, same;
	struct lesion *v = load_sample(&n), got;
	struct store_counts cnt;

	fresh_db("rt");
	CHECK_EQ_INT(n, 260);
	CHECK_EQ_INT(store_open(dbpath, &st, err), 0);
	CHECK_EQ_INT(store_lesion_insert(st, v, n, &added, &same, err), 0);
	CHECK_EQ_INT(added, 260);
	for (i = 0; i < n; i++) {
		CHECK_EQ_INT(store_lesion_get(st, (int64_t)i + 1, &got, err), 0);
		/* every field (the derived ones included), bit for bit */
		CHECK_EQ_INT(got.id, (int64_t)i + 1);
		CHECK_STR(got.file_name, v[i].file_name);
		CHECK(got.patient == v[i].patient && got.study == v[i].study);
		CHECK(got.series == v[i].series && got.key_slice == v[i].key_slice);
		CHECK(memcmp(got.recist, v[i].recist, sizeof(got.recist)) == 0);
		CHECK(memcmp(got.bbox, v[i].bbox, sizeof(got.bbox)) == 0);
		CHECK(memcmp(got.diam_px, v[i].diam_px, sizeof(got.diam_px)) == 0);
		CHECK(memcmp(got.loc, v[i].loc, sizeof(got.loc)) == 0);
		CHECK(got.type == v[i].type && got.noisy == v[i].noisy);
		CHECK(memcmp(got.slice_range, v[i].slice_range, sizeof(got.slice_range)) == 0);
		CHECK(memcmp(got.spacing, v[i].spacing, sizeof(got.spacing)) == 0);
		CHECK(memcmp(got.image_size, v[i].image_size, sizeof(got.image_size)) == 0);
		CHECK(memcmp(got.window, v[i].window, sizeof(got.window)) == 0);
		CHECK(got.gender == v[i].gender && got.split == v[i].split);
		CHECK(isnan(got.age) == isnan(v[i].age));
		CHECK(isnan(v[i].age) || got.age == v[i].age);
		/* derived: long/short diameter in mm = px x spacing x, computed here */
		CHECK_NEAR(got.diam_mm[0], v[i].diam_px[0] * v[i].spacing[0], 1e-4);
		CHECK_NEAR(got.diam_mm[1], v[i].diam_px[1] * v[i].spacing[0], 1e-4);
		CHECK_STR(got.image_path, v[i].image_path);
	}
	/* same rows again: nothing changes */
	CHECK_EQ_INT(store_lesion_insert(st, v, n, &added, &same, err), 0);
	CHECK_EQ_INT(added, 0);
	CHECK_EQ_INT(same, 260);
	/* a changed row fails the batch, and nothing of the batch is written */
	v[5].loc[0] += 0.01;
	v[0].id = 0;	/* would be a new lesion */
	CHECK_EQ_INT(store_lesion_insert(st, v, n, &added, &same, err), -1);
	CHECK(strstr(err, "lesion 6") != NULL);
	CHECK_EQ_INT(store_max_lesion_id(st), 260);
	CHECK_EQ_INT(store_counts(st, &cnt, err), 0);
	CHECK_EQ_INT(cnt.lesions, 260);
	CHECK_EQ_INT(cnt.patients, 47);
	store_close(st);
	free(v);
}

static void test_delete_filter_page(void)
{
	struct store *st = NULL;
	char err[LSD_ERRLEN];
	size_t n, i, added, same;
	struct lesion *v = load_sample(&n), page[300];
	struct store_filter f;
	int got, expect = 0;
	int64_t after = 0, seen = 0;

	fresh_db("del");
	CHECK_EQ_INT(store_open(dbpath, &st, err), 0);
	CHECK_EQ_INT(store_lesion_insert(st, v, n, &added, &same, err), 0);
	CHECK_EQ_INT(store_lesion_delete(st, 3, err), 0);
	CHECK_EQ_INT(store_lesion_get(st, 3, &page[0], err), LSD_ENOTFOUND);
	CHECK_EQ_INT(store_lesion_delete(st, 3, err), LSD_ENOTFOUND);
	/* lung lesions of the val split, counted independently from the rows */
	store_filter_init(&f);
	f.type_mask = 1u << 5;
	f.split_mask = 1u << 2;
	for (i = 0; i < n; i++)
		expect += i != 2 && v[i].type == 5 && v[i].split == 2;
	do {
		CHECK_EQ_INT(store_lesion_list(st, &f, after, 7, page, &got, err), 0);
		for (int k = 0; k < got; k++) {
			CHECK(page[k].type == 5 && page[k].split == 2 && page[k].id > after);
			after = page[k].id;
		}
		seen += got;
	} while (got == 7);
	CHECK_EQ_INT(seen, expect);
	CHECK(expect > 0);
	store_close(st);
	free(v);
}

/* ---- the lesion row cache (store_lcache.c) ---- */

static struct store *lc_st;
static int lc_round;		/* last round whose insert returned (atomic) */
static int lc_stop, lc_bad, lc_seen;

/* Readers: a row of lesion 7 found after round r completed must carry bbox[0] >= r. */
static void *lc_reader(void *arg)
{
	char err[LSD_ERRLEN];
	struct lesion l;
	int bad = 0, seen = 0;

	(void)arg;
	while (!__atomic_load_n(&lc_stop, __ATOMIC_ACQUIRE)) {
		int r = __atomic_load_n(&lc_round, __ATOMIC_ACQUIRE);
		int rc = store_lesion_get(lc_st, 7, &l, err);

		if (rc == 0) {
			seen++;
			bad += l.bbox[0] < r || l.id != 7;
		} else if (rc != LSD_ENOTFOUND) {
			bad++;
		}
		rc = store_lesion_get(lc_st, 8, &l, err);	/* never written: a hit */
		bad += rc != 0 || l.id != 8;
	}
	__atomic_add_fetch(&lc_bad, bad, __ATOMIC_RELAXED);
	__atomic_add_fetch(&lc_seen, seen, __ATOMIC_RELAXED);
	return NULL;
}

static void test_lesion_cache(void)
{
	struct store *st = NULL;
	char err[LSD_ERRLEN];
	size_t n, added, same;
	struct lesion *v = load_sample(&n), got, x;
	uint64_t h0, m0, h1, m1;
	pthread_t t[3];
	int i, r, stale = 0;
	size_t del;

	fresh_db("lcache");
	CHECK_EQ_INT(store_open(dbpath, &st, err), 0);
	if (!st)
		return;
	CHECK_EQ_INT(store_lesion_insert(st, v, n, &added, &same, err), 0);
	store_lesion_cache_stats(st, &h0, &m0);
	CHECK_EQ_INT(store_lesion_get(st, 7, &got, err), 0);
	CHECK_EQ_INT(store_lesion_get(st, 7, &got, err), 0);
	store_lesion_cache_stats(st, &h1, &m1);
	CHECK_EQ_INT(h1 - h0, 1);	/* the second read came from the cache */
	CHECK_EQ_INT(m1 - m0, 1);
	CHECK(memcmp(got.bbox, v[6].bbox, sizeof(got.bbox)) == 0);
	/* deleted: not served from the cache */
	CHECK_EQ_INT(store_lesion_delete(st, 7, err), 0);
	CHECK_EQ_INT(store_lesion_get(st, 7, &got, err), LSD_ENOTFOUND);
	/* re-inserted with other values: the new ones */
	x = v[6];
	x.bbox[0] += 5;
	x.bbox[2] += 5;
	CHECK_EQ_INT(store_lesion_insert(st, &x, 1, &added, &same, err), 0);
	CHECK_EQ_INT(added, 1);
	CHECK_EQ_INT(store_lesion_get(st, 7, &got, err), 0);
	CHECK(got.bbox[0] == x.bbox[0] && got.bbox[2] == x.bbox[2]);
	/* write transactions that change no row keep the cache: the replication log's idle
	 * trim (the daemon runs it every 5 s) and an unchanged re-insert */
	CHECK_EQ_INT(store_repl_trim(st, 1000000, &del, err), 0);
	CHECK_EQ_INT(del, 0);
	CHECK_EQ_INT(store_lesion_insert(st, &x, 1, &added, &same, err), 0);
	CHECK_EQ_INT(same, 1);
	store_lesion_cache_stats(st, &h0, &m0);
	CHECK_EQ_INT(store_lesion_get(st, 7, &got, err), 0);
	store_lesion_cache_stats(st, &h1, &m1);
	CHECK_EQ_INT(h1 - h0, 1);
	CHECK(got.bbox[0] == x.bbox[0] && got.bbox[2] == x.bbox[2]);
	/* a trim that deletes log entries is a change: the next read goes to SQLite */
	CHECK_EQ_INT(store_repl_trim(st, 1, &del, err), 0);
	CHECK(del > 0);
	CHECK_EQ_INT(store_lesion_get(st, 7, &got, err), 0);
	store_lesion_cache_stats(st, &h0, &m0);
	CHECK_EQ_INT(m0 - m1, 1);
	/* a failed (rolled back) write changes nothing */
	x.loc[0] += 0.01;
	CHECK_EQ_INT(store_lesion_insert(st, &x, 1, &added, &same, err), -1);
	CHECK_EQ_INT(store_lesion_get(st, 7, &got, err), 0);
	CHECK(got.loc[0] == v[6].loc[0]);
	/* readers racing a writer that rewrites lesion 7 with bbox[0] = round */
	lc_st = st;
	lc_round = lc_stop = lc_bad = lc_seen = 0;
	for (i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, lc_reader, NULL);
	for (r = 1; r <= 200; r++) {
		CHECK_EQ_INT(store_lesion_delete(st, 7, err), 0);
		x = v[6];
		x.bbox[0] = r;
		x.bbox[2] = r + 20;
		CHECK_EQ_INT(store_lesion_insert(st, &x, 1, &added, &same, err), 0);
		__atomic_store_n(&lc_round, r, __ATOMIC_RELEASE);
		/* the writer's own next read sees its write */
		stale += store_lesion_get(st, 7, &got, err) != 0 || got.bbox[0] != r;
	}
	__atomic_store_n(&lc_stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	store_lesion_cache_stats(st, &h1, &m1);
	printf("# lesion cache under a writer: %d reads of lesion 7 by 3 readers, %llu hits, "
	       "%llu misses\n", lc_seen, (unsigned long long)h1, (unsigned long long)m1);
	CHECK_EQ_INT(stale, 0);
	CHECK_EQ_INT(lc_bad, 0);
	CHECK(lc_seen > 0);
	CHECK(h1 > h0 + 1);
	store_close(st);
	free(v);
}

int main(void)
{
	RUN(test_migrations);
	RUN(test_roundtrip_all_rows);
	RUN(test_delete_filter_page);
	RUN(test_lesion_cache);
	return unit_done();
}
