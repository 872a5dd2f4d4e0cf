/* test_space.c - embedding spaces against brute force computed here in double precision:
 * Flat and HNSW32 (tombstones), L2 and IP, updates and removals, subset scans, training
 * fallback, snapshot round trips, corrupt / truncated / foreign snapshots, and searches
 * hammering the space while a writer adds, deletes and rebuilds. */
#include "fhash.h"
#include "space.h"
#include "util.h"
#include "unit.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* deterministic vector of an id: a splitmix64 stream mapped to [-1, 1) */
static float comp(int64_t id, int j, unsigned salt)
{
	uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ull + (uint64_t)j * 0xbf58476d1ce4e5b9ull + salt;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (float)((double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void vec_of(int64_t id, int d, unsigned salt, float *v)
{
	int j;

	for (j = 0; j < d; j++)
		v[j] = comp(id, j, salt);
}

static double ref_dist(enum space_metric m, const float *a, const float *b, int d)
{
	double s = 0;
	int j;

	for (j = 0; j < d; j++)
		s += m == SPACE_IP ? (double)a[j] * b[j] : ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
	return s;
}

/* the reference: a set of (id, vector) kept here */
struct ref {
	int d;
	enum space_metric m;
	int64_t id[4096];
	float v[4096][64];
	int n;
};

static void ref_put(struct ref *r, int64_t id, const float *v)
{
	int i;

	for (i = 0; i < r->n; i++)
		if (r->id[i] == id)
			break;
	if (i == r->n)
		r->n++;
	r->id[i] = id;
	memcpy(r->v[i], v, sizeof(float) * (size_t)r->d);
}

static void ref_del(struct ref *r, int64_t id)
{
	int i;

	for (i = 0; i < r->n; i++)
		if (r->id[i] == id) {
			r->id[i] = r->id[r->n - 1];
			memcpy(r->v[i], r->v[r->n - 1], sizeof(float) * (size_t)r->d);
			r->n--;
			return;
		}
}

/* top-k by the reference; ties broken by id */
struct rc {
	double b;
	int64_t id;
};

static int rc_cmp(const void *pa, const void *pb)
{
	const struct rc *a = pa, *b = pb;

	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	return (a->id > b->id) - (a->id < b->id);
}

static int ref_knn(const struct ref *r, const float *q, int k, int64_t *ids, double *dist,
		   const int64_t *subset, int nsub)
{
	static struct rc all[4096];
	int i, j, n = 0;

	for (i = 0; i < r->n; i++) {
		int ok = !subset;

		for (j = 0; subset && j < nsub; j++)
			if (subset[j] == r->id[i])
				ok = 1;
		if (!ok)
			continue;
		all[n].b = ref_dist(r->m, q, r->v[i], r->d);
		if (r->m == SPACE_IP)
			all[n].b = -all[n].b;
		all[n++].id = r->id[i];
	}
	qsort(all, (size_t)n, sizeof(all[0]), rc_cmp);
	if (n > k)
		n = k;
	for (i = 0; i < n; i++) {
		ids[i] = all[i].id;
		dist[i] = r->m == SPACE_IP ? -all[i].b : all[i].b;
	}
	return n;
}

static void def_init(struct space_def *d, const char *name, int dim, enum space_metric m,
		     const char *type, const char *params)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->dim = dim;
	d->metric = m;
	snprintf(d->index_type, sizeof(d->index_type), "%s", type);
	snprintf(d->params, sizeof(d->params), "%s", params);
	snprintf(d->provenance, sizeof(d->provenance), "test vectors v1");
}

/* Compare the space's top-k with the reference for nq queries: exact ids for exact
 * indexes; for approximate ones, recall and exact distances of what is returned. */
static double compare(struct space *sp, const struct ref *r, int nq, int k, int exact, unsigned salt)
{
	float *q = calloc((size_t)(nq * r->d), sizeof(float));
	float *dist = calloc((size_t)(nq * k), sizeof(float));
	int64_t *ids = malloc(sizeof(int64_t) * (size_t)(nq * k)), rid[64];
	double rdist[64];
	char err[LSD_ERRLEN];
	int i, j, hit = 0, tot = 0;

	for (i = 0; i < nq; i++)
		vec_of(100000 + i, r->d, salt, q + i * r->d);
	CHECK_EQ_INT(space_search(sp, q, (size_t)nq, k, dist, ids, err), 0);
	for (i = 0; i < nq; i++) {
		int n = ref_knn(r, q + i * r->d, k, rid, rdist, NULL, 0);

		for (j = 0; j < k; j++) {
			int64_t got = ids[i * k + j];

			if (j >= n) {
				CHECK_EQ_INT(got, -1);
				continue;
			}
			tot++;
			if (exact) {
				CHECK_EQ_INT(got, rid[j]);
				CHECK_NEAR(dist[i * k + j], rdist[j], 1e-3 * (1 + fabs(rdist[j])));
				hit += got == rid[j];
			} else {
				int t, found = -1;

				for (t = 0; t < r->n; t++)
					if (r->id[t] == got)
						found = t;
				CHECK(found >= 0);	/* never a deleted id */
				if (found >= 0)
					CHECK_NEAR(dist[i * k + j],
						   ref_dist(r->m, q + i * r->d, r->v[found], r->d), 1e-3);
				for (t = 0; t < n; t++)
					hit += rid[t] == got;
				if (j > 0)	/* sorted best first */
					CHECK(r->m == SPACE_IP ? dist[i * k + j] <= dist[i * k + j - 1]
							       : dist[i * k + j] >= dist[i * k + j - 1]);
			}
		}
	}
	free(q);
	free(dist);
	free(ids);
	return tot ? (double)hit / tot : 1.0;
}

static struct ref R;

static void fill(struct space *sp, struct ref *r, int64_t from, int64_t to, unsigned salt)
{
	char err[LSD_ERRLEN];
	int64_t id;
	float v[64];

	for (id = from; id <= to; id++) {
		vec_of(id, r->d, salt, v);
		CHECK_EQ_INT(space_add(sp, &id, v, 1, err), 0);
		ref_put(r, id, v);
	}
}

/* Remove 100 ids (3, 10, 17, ...) and give 50 others (2, 13, 24, ...) new vectors, in the
 * space and the reference. */
static void churn(struct space *sp, struct ref *r)
{
	char err[LSD_ERRLEN];
	int64_t del[100];
	float v[64];
	int i;

	for (i = 0; i < 100; i++) {
		del[i] = 3 + 7 * i;
		ref_del(r, del[i]);
	}
	CHECK_EQ_INT(space_remove(sp, del, 100, NULL, err), 0);
	for (i = 0; i < 50; i++) {
		int64_t id = 2 + 11 * i;

		vec_of(id, r->d, 77, v);
		CHECK_EQ_INT(space_add(sp, &id, v, 1, err), 0);
		ref_put(r, id, v);
	}
}

static void run_exact(enum space_metric m)
{
	struct space_def d;
	struct space *sp = NULL;
	char err[LSD_ERRLEN];

	memset(&R, 0, sizeof(R));
	R.d = 24;
	R.m = m;
	def_init(&d, "flat", R.d, m, "Flat", "");
	CHECK_EQ_INT(space_create(&d, &sp, err), 0);
	if (!sp)
		return;
	compare(sp, &R, 3, 5, 1, 1);	/* empty: all -1 */
	fill(sp, &R, 1, 1500, 0);
	compare(sp, &R, 40, 10, 1, 1);
	churn(sp, &R);	/* remove 100, update 50 (to new vectors), compare again */
	compare(sp, &R, 40, 10, 1, 2);
	{
		struct space_info in;

		space_get_info(sp, &in);
		CHECK_EQ_INT(in.count, (size_t)R.n);
		CHECK_EQ_INT(in.stale, 0);
		CHECK_EQ_INT(in.removable, 1);
	}
	/* batched path (BLAS for nq >= 20) and k larger than the set */
	compare(sp, &R, 64, 20, 1, 3);
	space_destroy(sp);
}

static void test_flat_l2(void) { run_exact(SPACE_L2); }
static void test_flat_ip(void) { run_exact(SPACE_IP); }

static void run_hnsw(enum space_metric m)
{
	struct space_def d;
	struct space *sp = NULL;
	struct space_info in;
	char err[LSD_ERRLEN];
	int64_t del[300];
	float v[64];
	int i;
	double rec;

	memset(&R, 0, sizeof(R));
	R.d = 16;
	R.m = m;
	def_init(&d, "hnsw", R.d, m, "HNSW32", "efSearch=400");
	CHECK_EQ_INT(space_create(&d, &sp, err), 0);
	if (!sp)
		return;
	fill(sp, &R, 1, 2000, 5);
	rec = compare(sp, &R, 30, 10, 0, 9);
	CHECK(rec >= 0.95);
	/* delete 300 (including many near the queries' neighbours) and update 100 */
	for (i = 0; i < 300; i++) {
		del[i] = 1 + 6 * i;
		ref_del(&R, del[i]);
	}
	CHECK_EQ_INT(space_remove(sp, del, 300, NULL, err), 0);
	for (i = 0; i < 100; i++) {
		int64_t id = 5 + 13 * i;

		if (!space_has(sp, id))
			continue;
		vec_of(id, R.d, 99, v);
		CHECK_EQ_INT(space_add(sp, &id, v, 1, err), 0);
		ref_put(&R, id, v);
	}
	space_get_info(sp, &in);
	CHECK_EQ_INT(in.removable, 0);
	CHECK(in.stale >= 300);	/* tombstoned, not removed */
	CHECK_EQ_INT(in.count, (size_t)R.n);
	rec = compare(sp, &R, 30, 10, 0, 9);	/* no deleted id may come back */
	CHECK(rec >= 0.9);
	CHECK_EQ_INT(space_rebuild(sp, err), 0);
	space_get_info(sp, &in);
	CHECK_EQ_INT(in.stale, 0);
	CHECK_EQ_INT(in.index_total, (size_t)R.n);
	rec = compare(sp, &R, 30, 10, 0, 9);
	CHECK(rec >= 0.95);
	space_destroy(sp);
}

static void test_hnsw_l2_tombstones(void) { run_hnsw(SPACE_L2); }
static void test_hnsw_ip_tombstones(void) { run_hnsw(SPACE_IP); }

static void test_subset_and_get(void)
{
	struct space_def d;
	struct space *sp = NULL;
	char err[LSD_ERRLEN];
	int64_t sub[200], ids[10], rid[10];
	float q[64], dist[10], v[64];
	double rdist[10];
	int i, n;

	memset(&R, 0, sizeof(R));
	R.d = 32;
	R.m = SPACE_L2;
	def_init(&d, "sub", R.d, SPACE_L2, "HNSW32", "");
	CHECK_EQ_INT(space_create(&d, &sp, err), 0);
	if (!sp)
		return;
	fill(sp, &R, 1, 1000, 3);
	for (i = 0; i < 200; i++)
		sub[i] = 5 * i + 1;	/* 1..996; plus unknown ids below */
	sub[199] = 5000;
	vec_of(777777, R.d, 3, q);
	CHECK_EQ_INT(space_search_subset(sp, q, 1, 10, sub, 200, dist, ids, err), 0);
	n = ref_knn(&R, q, 10, rid, rdist, sub, 200);
	CHECK_EQ_INT(n, 10);
	for (i = 0; i < 10; i++) {
		CHECK_EQ_INT(ids[i], rid[i]);
		CHECK_NEAR(dist[i], rdist[i], 1e-3);
	}
	/* fewer candidates than k */
	CHECK_EQ_INT(space_search_subset(sp, q, 1, 10, sub + 198, 2, dist, ids, err), 0);
	CHECK_EQ_INT(ids[0], 991);
	CHECK_EQ_INT(ids[1], -1);
	CHECK(isinf(dist[1]));
	CHECK_EQ_INT(space_get_vector(sp, 42, v), 0);
	vec_of(42, R.d, 3, q);
	CHECK(!memcmp(v, q, sizeof(float) * (size_t)R.d));
	CHECK_EQ_INT(space_get_vector(sp, 4242, v), LSD_ENOTFOUND);
	/* refused inputs: NaN, zero id, duplicate id in a batch, bad k */
	{
		int64_t two[2] = {7, 7}, zero = 0, one = 3;
		float bad[128];

		memcpy(bad, q, sizeof(float) * 32);
		memcpy(bad + 32, q, sizeof(float) * 32);
		CHECK(space_add(sp, two, bad, 2, err) != 0);
		CHECK(strstr(err, "twice") != NULL);
		CHECK(space_add(sp, &zero, bad, 1, err) != 0);
		bad[5] = NAN;
		CHECK(space_add(sp, &one, bad, 1, err) != 0);
		CHECK(strstr(err, "finite") != NULL);
		bad[5] = INFINITY;
		CHECK(space_add(sp, &one, bad, 1, err) != 0);
		CHECK(space_search(sp, q, 1, 0, dist, ids, err) != 0);
		CHECK(space_search(sp, bad, 1, 3, dist, ids, err) != 0);
		CHECK_EQ_INT(space_get_vector(sp, 3, v), 0);	/* unchanged */
		vec_of(3, R.d, 3, q);
		CHECK(!memcmp(v, q, sizeof(float) * (size_t)R.d));
	}
	space_destroy(sp);
}

static void test_def_check(void)
{
	struct space_def d;
	char err[LSD_ERRLEN];

	def_init(&d, "ok_name-1.x", 8, SPACE_L2, "IVF1024,PQ4", "");
	CHECK_EQ_INT(space_def_check(&d, err), 0);
	def_init(&d, "../etc", 8, SPACE_L2, "Flat", "");
	CHECK(space_def_check(&d, err) != 0);
	def_init(&d, "x", 0, SPACE_L2, "Flat", "");
	CHECK(space_def_check(&d, err) != 0);
	def_init(&d, "x", 8, SPACE_L2, "NoSuchIndex77", "");
	CHECK(space_def_check(&d, err) != 0);
	def_init(&d, "x", 8, SPACE_L2, "Flat", "nprobe=4");
	CHECK(space_def_check(&d, err) != 0);	/* Flat has no nprobe */
}

static void test_ivf_training_fallback(void)
{
	struct space_def d;
	struct space *sp = NULL;
	struct space_info in;
	char err[LSD_ERRLEN];

	memset(&R, 0, sizeof(R));
	R.d = 8;
	R.m = SPACE_L2;
	def_init(&d, "ivf", R.d, SPACE_L2, "IVF16,Flat", "nprobe=16");
	CHECK_EQ_INT(space_create(&d, &sp, err), 0);
	if (!sp)
		return;
	space_get_info(sp, &in);
	CHECK_STR(in.index_active, "Flat");	/* nothing to train on yet */
	fill(sp, &R, 1, 10, 1);
	CHECK_EQ_INT(space_rebuild(sp, err), 0);	/* 10 < 16 lists: stays Flat */
	space_get_info(sp, &in);
	CHECK_STR(in.index_active, "Flat");
	CHECK_EQ_INT(space_needs_rebuild(sp), 0);
	fill(sp, &R, 11, 1200, 1);
	CHECK_EQ_INT(space_needs_rebuild(sp), 1);
	CHECK_EQ_INT(space_rebuild(sp, err), 0);
	space_get_info(sp, &in);
	CHECK_STR(in.index_active, "IVF16,Flat");
	CHECK_EQ_INT(in.removable, 1);
	compare(sp, &R, 20, 10, 1, 4);	/* nprobe = nlist: exact */
	/* deletes and updates in the live IVF: still exact (an IVF under an IndexIDMap
	 * answered ids shifted by the deletes before them) */
	churn(sp, &R);
	space_get_info(sp, &in);
	CHECK_STR(in.index_active, "IVF16,Flat");
	CHECK_EQ_INT(in.count, (size_t)R.n);
	compare(sp, &R, 20, 10, 1, 5);
	compare(sp, &R, 40, 10, 1, 6);	/* the batched path */
	space_destroy(sp);
}

/* ---------- snapshots ---------- */

static const char *tmpdir(void)
{
	const char *t = getenv("LSD_TEST_TMP");

	return t ? t : "/tmp";
}

static struct space *make_loaded(const struct space_def *d, int64_t n, unsigned salt, int64_t tweak)
{
	struct space *sp = NULL;
	char err[LSD_ERRLEN];
	int64_t id;
	float v[64];

	CHECK_EQ_INT(space_create(d, &sp, err), 0);
	for (id = 1; sp && id <= n; id++) {
		vec_of(id, d->dim, id == tweak ? salt + 1 : salt, v);
		CHECK_EQ_INT(space_load_vectors(sp, &id, v, 1, err), 0);
	}
	return sp;
}

static int open_how(struct space *sp, const char *prefix, char *why)
{
	char err[LSD_ERRLEN];
	int how = 0;

	CHECK_EQ_INT(space_open_index(sp, prefix, &how, why, err), 0);
	return how;
}

static void corrupt_byte(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	int c;

	if (!f)
		return;
	fseek(f, off, SEEK_SET);
	c = fgetc(f);
	fseek(f, off, SEEK_SET);
	fputc(c ^ 0x5a, f);
	fclose(f);
}

enum { SNAP_PATH = 600 };

/* A space of index type `type` (16-d L2, named s1) loaded with 800 vectors, and its
 * snapshot paths under a database prefix of its own, with no snapshot on disk yet.
 * prefix, ip and mp are SNAP_PATH bytes. NULL if the space cannot be made. */
static struct space *snap_fixture(struct space_def *d, const char *type, char *prefix,
				  char *ip, char *mp)
{
	snprintf(prefix, SNAP_PATH, "%s/snap-%s.db", tmpdir(), type);
	def_init(d, "s1", 16, SPACE_L2, type, "");
	space_snapshot_paths(prefix, "s1", ip, mp, SNAP_PATH);
	unlink(ip);
	unlink(mp);
	return make_loaded(d, 800, 2, 0);
}

static void run_snapshot(const char *type)
{
	struct space_def d, d2;
	struct space *a = NULL, *b = NULL;
	char err[LSD_ERRLEN], why[LSD_ERRLEN], prefix[SNAP_PATH], ip[SNAP_PATH], mp[SNAP_PATH];
	float q[16], d1[5], dd[5];
	int64_t i1[5], i2[5];
	long sz;

	a = snap_fixture(&d, type, prefix, ip, mp);
	if (!a)
		return;
	CHECK_EQ_INT(open_how(a, prefix, why), SPACE_OPEN_REBUILT);
	CHECK(strstr(why, "no snapshot") != NULL);
	{	/* delete some so HNSW carries stale entries into the snapshot */
		int64_t del[3] = {5, 6, 7};

		CHECK_EQ_INT(space_remove(a, del, 3, NULL, err), 0);
	}
	CHECK_EQ_INT(space_snapshot(a, prefix, err), 0);

	/* round trip: same vectors from "SQLite" (ids 5..7 gone) -> loaded, same answers */
	b = make_loaded(&d, 800, 2, 0);
	{
		int64_t del[3] = {5, 6, 7};

		space_remove(b, del, 3, NULL, err);
	}
	CHECK_EQ_INT(open_how(b, prefix, why), SPACE_OPEN_LOADED);
	vec_of(4444, 16, 2, q);
	CHECK_EQ_INT(space_search(a, q, 1, 5, d1, i1, err), 0);
	CHECK_EQ_INT(space_search(b, q, 1, 5, dd, i2, err), 0);
	CHECK(!memcmp(i1, i2, sizeof(i1)));
	{
		struct space_info in;

		space_get_info(b, &in);
		CHECK_EQ_INT(in.count, 797);
		CHECK_STR(in.index_active, type);
	}
	space_destroy(b);

	/* vectors differ in content (same count and max id) -> rebuilt */
	b = make_loaded(&d, 800, 2, 100);
	space_remove(b, (const int64_t[]){5, 6, 7}, 3, NULL, err);
	CHECK_EQ_INT(open_how(b, prefix, why), SPACE_OPEN_REBUILT);
	CHECK(strstr(why, "different content") != NULL);
	space_destroy(b);

	/* one vector more -> rebuilt */
	b = make_loaded(&d, 800, 2, 0);
	space_remove(b, (const int64_t[]){5, 6}, 2, NULL, err);
	CHECK_EQ_INT(open_how(b, prefix, why), SPACE_OPEN_REBUILT);
	CHECK(strstr(why, "another vector set") != NULL);
	space_destroy(b);

	/* a flipped byte in the index file -> checksum -> rebuilt */
	{
		FILE *f = fopen(ip, "rb");

		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		fclose(f);
	}
	corrupt_byte(ip, sz / 2);
	b = make_loaded(&d, 800, 2, 0);
	space_remove(b, (const int64_t[]){5, 6, 7}, 3, NULL, err);
	CHECK_EQ_INT(open_how(b, prefix, why), SPACE_OPEN_REBUILT);
	CHECK(strstr(why, "checksum") != NULL);
	space_destroy(b);

	/* truncated -> rebuilt */
	CHECK_EQ_INT(space_snapshot(a, prefix, err), 0);
	CHECK_EQ_INT(truncate(ip, sz - 100), 0);
	b = make_loaded(&d, 800, 2, 0);
	space_remove(b, (const int64_t[]){5, 6, 7}, 3, NULL, err);
	CHECK_EQ_INT(open_how(b, prefix, why), SPACE_OPEN_REBUILT);
	CHECK(strstr(why, "truncated") != NULL);
	space_destroy(b);

	/* a foreign snapshot: another space's pair copied under this name -> rebuilt */
	{
		char ip2[600], mp2[600], cmd[2600];
		struct space *c;

		def_init(&d2, "s2", 16, SPACE_L2, type, "");
		c = make_loaded(&d2, 800, 2, 0);
		CHECK_EQ_INT(open_how(c, NULL, why), SPACE_OPEN_REBUILT);
		CHECK_EQ_INT(space_snapshot(c, prefix, err), 0);
		space_snapshot_paths(prefix, "s2", ip2, mp2, sizeof(ip2));
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && cp '%s' '%s'", ip2, ip, mp2, mp);
		CHECK_EQ_INT(system(cmd), 0);
		b = make_loaded(&d, 800, 2, 0);
		CHECK_EQ_INT(open_how(b, prefix, why), SPACE_OPEN_REBUILT);
		CHECK(strstr(why, "space differs") != NULL);
		space_destroy(b);
		/* the foreign index file under a manifest of ours: checksum */
		CHECK_EQ_INT(space_snapshot(a, prefix, err), 0);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", ip2, ip);
		CHECK_EQ_INT(system(cmd), 0);
		b = make_loaded(&d, 800, 2, 0);
		space_remove(b, (const int64_t[]){5, 6, 7}, 3, NULL, err);
		CHECK_EQ_INT(open_how(b, prefix, why), SPACE_OPEN_REBUILT);
		CHECK(strstr(why, "checksum") != NULL || strstr(why, "bytes") != NULL);
		space_destroy(b);
		space_destroy(c);
	}
	/* garbage manifest */
	CHECK_EQ_INT(file_write_atomic(mp, "hello\n", 6, err), 0);
	b = make_loaded(&d, 800, 2, 0);
	CHECK_EQ_INT(open_how(b, prefix, why), SPACE_OPEN_REBUILT);
	CHECK(strstr(why, "not a lesiond snapshot") != NULL);
	space_destroy(b);
	/* dimension change in the config -> refused */
	CHECK_EQ_INT(space_snapshot(a, prefix, err), 0);
	def_init(&d2, "s1", 16, SPACE_IP, type, "");
	b = make_loaded(&d2, 800, 2, 0);
	CHECK_EQ_INT(open_how(b, prefix, why), SPACE_OPEN_REBUILT);
	CHECK(strstr(why, "metric") != NULL);
	space_destroy(b);
	space_destroy(a);
}

static void test_snapshot_ivf(void) { run_snapshot("IVF4,Flat"); }

/* A snapshot written before IVFs held their ids themselves: the IVF under an IndexIDMap2
 * (FAISS's layout: "IxM2", the index header, the IVF, the id map), with a manifest that
 * matches it. FAISS reads it; the shape is refused (its ids shift after deletes), and the
 * space is rebuilt. */
static void test_snapshot_legacy_idmap_ivf(void)
{
	struct space_def d;
	struct space *a, *b;
	char err[LSD_ERRLEN], why[LSD_ERRLEN], prefix[SNAP_PATH], ip[SNAP_PATH], mp[SNAP_PATH];
	char *body = NULL, *mtext = NULL, *m2 = NULL, *at;
	size_t blen = 0, mlen = 0, i;
	FILE *f;

	a = snap_fixture(&d, "IVF4,Flat", prefix, ip, mp);
	if (!a)
		return;
	CHECK_EQ_INT(open_how(a, prefix, why), SPACE_OPEN_REBUILT);
	CHECK_EQ_INT(space_snapshot(a, prefix, err), 0);
	body = file_read(ip, (size_t)1 << 24, &blen, err);
	mtext = file_read(mp, 65536, &mlen, err);
	CHECK(body != NULL && mtext != NULL);
	f = body && mtext ? fopen(ip, "wb") : NULL;
	if (f) {
		int32_t dim = 16, metric = 1;	/* METRIC_L2 */
		int64_t nt = 800, dummy = 1 << 20;
		uint64_t nids = 800, h;
		unsigned char trained = 1;
		long len;

		fwrite("IxM2", 1, 4, f);
		fwrite(&dim, sizeof(dim), 1, f);
		fwrite(&nt, sizeof(nt), 1, f);
		fwrite(&dummy, sizeof(dummy), 1, f);
		fwrite(&dummy, sizeof(dummy), 1, f);
		fwrite(&trained, 1, 1, f);
		fwrite(&metric, sizeof(metric), 1, f);
		fwrite(body, 1, blen, f);
		fwrite(&nids, sizeof(nids), 1, f);
		for (i = 1; i <= 800; i++) {
			int64_t id = (int64_t)i;

			fwrite(&id, sizeof(id), 1, f);
		}
		fclose(f);
		free(body);
		body = file_read(ip, (size_t)1 << 24, &blen, err);
		h = body ? fhash64_blocks(body, blen, 0) : 0;
		/* the manifest up to index_bytes, then the new size and hash */
		at = strstr(mtext, "index_bytes=");
		m2 = malloc(mlen + 128);
		CHECK(at != NULL && m2 != NULL);
		if (at && m2) {
			len = (long)(at - mtext);
			snprintf(m2, mlen + 128, "%.*sindex_bytes=%zu\nindex_fhash64=%016" PRIx64 "\n",
				 (int)len, mtext, blen, h);
			CHECK_EQ_INT(file_write_atomic(mp, m2, strlen(m2), err), 0);
		}
	}
	b = make_loaded(&d, 800, 2, 0);
	CHECK_EQ_INT(open_how(b, prefix, why), SPACE_OPEN_REBUILT);
	CHECK(strstr(why, "older lesiond") != NULL);
	/* and the rebuilt space's own snapshot loads again */
	CHECK_EQ_INT(space_snapshot(b, prefix, err), 0);
	space_destroy(b);
	b = make_loaded(&d, 800, 2, 0);
	CHECK_EQ_INT(open_how(b, prefix, why), SPACE_OPEN_LOADED);
	space_destroy(b);
	space_destroy(a);
	free(body);
	free(mtext);
	free(m2);
}

/* Exact Flat is flatscan over the memory copy: no FAISS copy of the vectors to build,
 * save or load (the memory copy itself is snapshotted by statesnap.c). */
static void test_flat_native(void)
{
	struct space_def d;
	struct space *a;
	struct space_info in;
	char err[LSD_ERRLEN], why[LSD_ERRLEN], prefix[SNAP_PATH], ip[SNAP_PATH], mp[SNAP_PATH];
	struct stat stt;

	a = snap_fixture(&d, "Flat", prefix, ip, mp);
	if (!a)
		return;
	CHECK_EQ_INT(open_how(a, prefix, why), SPACE_OPEN_LOADED);
	CHECK(strstr(why, "no index to load") != NULL);
	space_get_info(a, &in);
	CHECK_EQ_INT(in.ready, 1);
	CHECK_STR(in.index_active, "Flat");
	CHECK_EQ_INT(in.index_total, 800);
	CHECK_EQ_INT(space_snapshot(a, prefix, err), 0);
	CHECK(stat(ip, &stt) != 0);	/* nothing written */
	space_get_info(a, &in);
	CHECK_EQ_INT(in.writes_since_snapshot, 0);
	space_destroy(a);
}
static void test_snapshot_hnsw(void) { run_snapshot("HNSW32"); }

/* ---------- concurrency ---------- */

#define HAM_D 16
#define HAM_PERM 500		/* ids 1..500 are never deleted */
#define HAM_MAX 3000

struct ham {
	struct space *sp;
	volatile int stop;
	int bad, searches;
	unsigned seed;
};

static void *searcher(void *arg)
{
	struct ham *h = arg;
	char err[LSD_ERRLEN];
	float q[4 * HAM_D], dist[4 * 8], v[HAM_D];
	int64_t ids[4 * 8];
	unsigned s = h->seed;
	int i, j;

	while (!h->stop) {
		int64_t qid[4];

		for (i = 0; i < 4; i++) {
			s = s * 1103515245u + 12345u;
			qid[i] = 1 + (int64_t)((s >> 8) % HAM_PERM);
			vec_of(qid[i], HAM_D, 0, q + i * HAM_D);
		}
		if (space_search(h->sp, q, 4, 8, dist, ids, err)) {
			__atomic_add_fetch(&h->bad, 1, __ATOMIC_RELAXED);
			continue;
		}
		for (i = 0; i < 4; i++) {
			/* a permanent id finds itself at distance 0 first, whatever is going on */
			if (ids[i * 8] != qid[i] || dist[i * 8] > 1e-5f)
				__atomic_add_fetch(&h->bad, 1, __ATOMIC_RELAXED);
			for (j = 1; j < 8; j++) {
				int64_t id = ids[i * 8 + j];

				if (id < 1 || id > HAM_MAX || id == ids[i * 8 + j - 1] ||
				    dist[i * 8 + j] < dist[i * 8 + j - 1]) {
					__atomic_add_fetch(&h->bad, 1, __ATOMIC_RELAXED);
					continue;
				}
				/* the distance is that of the vector this id has (vectors never change) */
				vec_of(id, HAM_D, 0, v);
				double want = ref_dist(SPACE_L2, q + i * HAM_D, v, HAM_D);

				if (fabs(want - dist[i * 8 + j]) > 1e-3)
					__atomic_add_fetch(&h->bad, 1, __ATOMIC_RELAXED);
			}
		}
		__atomic_add_fetch(&h->searches, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void run_hammer(const char *type)
{
	struct space_def d;
	struct ham h;
	pthread_t th[3];
	char err[LSD_ERRLEN];
	int64_t id;
	float v[HAM_D];
	int i, round, rc_ok = 1;

	memset(&h, 0, sizeof(h));
	def_init(&d, "ham", HAM_D, SPACE_L2, type, "");
	CHECK_EQ_INT(space_create(&d, &h.sp, err), 0);
	if (!h.sp)
		return;
	for (id = 1; id <= 1500; id++) {
		vec_of(id, HAM_D, 0, v);
		space_add(h.sp, &id, v, 1, err);
	}
	for (i = 0; i < 3; i++) {
		h.seed = 17u * (unsigned)i + 1u;
		pthread_create(&th[i], NULL, searcher, &h);
	}
	/* at least 30 rounds, and on until the searchers have run plenty meanwhile */
	for (round = 0; round < 30 || (__atomic_load_n(&h.searches, __ATOMIC_RELAXED) < 300 &&
				       round < 100000); round++) {
		int64_t batch[50];

		for (i = 0; i < 50; i++) {
			batch[i] = 1501 + (round * 50 + i) % 1500;
			vec_of(batch[i], HAM_D, 0, v);
			rc_ok &= space_add(h.sp, &batch[i], v, 1, err) == 0;
		}
		for (i = 0; i < 50; i++)
			batch[i] = HAM_PERM + 1 + (round * 37 + i * 13) % (HAM_MAX - HAM_PERM);
		rc_ok &= space_remove(h.sp, batch, 50, NULL, err) == 0;
		sched_yield();
		if (round % 10 == 5 && round < 100)
			rc_ok &= space_rebuild(h.sp, err) == 0;
	}
	h.stop = 1;
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	CHECK(rc_ok);
	CHECK_EQ_INT(h.bad, 0);
	CHECK(h.searches > 0);
	printf("# %s: %d searches during writes\n", type, h.searches);
	space_destroy(h.sp);
}

static void test_concurrent_flat(void) { run_hammer("Flat"); }
static void test_concurrent_hnsw(void) { run_hammer("HNSW32"); }

static void test_registry(void)
{
	struct spaces *r = NULL;
	struct space *a = NULL, *b = NULL;
	struct space_def d;
	char err[LSD_ERRLEN];

	CHECK_EQ_INT(spaces_create(&r, err), 0);
	def_init(&d, "one", 4, SPACE_L2, "", "");
	space_create(&d, &a, err);
	space_create(&d, &b, err);
	CHECK_EQ_INT(spaces_add(r, a, err), 0);
	CHECK(spaces_add(r, b, err) != 0);
	space_destroy(b);
	CHECK(spaces_get(r, "one") == a);
	CHECK(spaces_get(r, "two") == NULL);
	CHECK_EQ_INT(spaces_count(r), 1);
	CHECK(spaces_at(r, 0) == a);
	CHECK_STR(a ? space_name(a) : NULL, "one");
	spaces_destroy(r);
	spaces_destroy(NULL);
	space_destroy(NULL);
}

int main(void)
{
	RUN(test_flat_l2);
	RUN(test_flat_ip);
	RUN(test_hnsw_l2_tombstones);
	RUN(test_hnsw_ip_tombstones);
	RUN(test_subset_and_get);
	RUN(test_def_check);
	RUN(test_ivf_training_fallback);
	RUN(test_snapshot_ivf);
	RUN(test_snapshot_legacy_idmap_ivf);
	RUN(test_flat_native);
	RUN(test_snapshot_hnsw);
	RUN(test_concurrent_flat);
	RUN(test_concurrent_hnsw);
	RUN(test_registry);
	return unit_done();
}
