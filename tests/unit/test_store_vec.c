/* test_store_vec.c - vectors in SQLite: all-or-nothing puts (unknown ids listed, dimension
 * mismatch refused), replace, cascade with the lesion, the streaming scan, the checksum
 * against one computed here, and start-up (snapshot loaded when it matches SQLite,
 * rebuilt when SQLite changed behind it). */
#include "dlcsv.h"
#include "space.h"
#include "store.h"
#include "store_vec.h"
#include "unit.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

/* The manifest's row checksum written out here from its definition (space.h), not with
 * lesiond's own space_row_hash: FNV-1a 64 over the id's 8 little-endian bytes, then on
 * over the float32 bytes, then the splitmix64 finaliser; the set's checksum is the sum. */
static uint64_t ref_fnv(const unsigned char *p, size_t n, uint64_t h)
{
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t ref_row_hash(int64_t id, const float *v, int dim)
{
	unsigned char le[8];
	uint64_t h;
	int i;

	for (i = 0; i < 8; i++)
		le[i] = (unsigned char)((uint64_t)id >> (8 * i));
	h = ref_fnv(le, 8, 0xcbf29ce484222325ull);
	h = ref_fnv((const unsigned char *)v, (size_t)dim * sizeof(float), h);
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

static char dbpath[512];

static void fresh_db(const char *name)
{
	char p[700];

	snprintf(dbpath, sizeof(dbpath), "%s/%s.db", getenv("LSD_TEST_TMP") ?
		 getenv("LSD_TEST_TMP") : "/tmp", name);
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s.space-emb.faiss", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s.space-emb.manifest", dbpath);
	unlink(p);
}

static struct store *open_with_lesions(const char *name, size_t *n)
{
	char path[512], err[LSD_ERRLEN];
	struct dlcsv *c = NULL;
	struct lesion *v = calloc(400, sizeof(*v));
	struct store *st = NULL;
	size_t added, same;

	*n = 0;
	fresh_db(name);
	snprintf(path, sizeof(path), "%s/DL_info_sample.csv", unit_shared_dir());
	if (!dlcsv_open(path, &c, err)) {
		while (*n < 400 && dlcsv_next(c, &v[*n], err) == 1)
			(*n)++;
		dlcsv_close(c);
	}
	CHECK(*n > 100);
	CHECK_EQ_INT(store_open(dbpath, &st, err), 0);
	if (st)
		CHECK_EQ_INT(store_lesion_insert(st, v, *n, &added, &same, err), 0);
	free(v);
	return st;
}

static void def_init(struct space_def *d, int dim)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "emb");
	d->dim = dim;
	d->metric = SPACE_L2;
	snprintf(d->index_type, sizeof(d->index_type), "Flat");
	snprintf(d->provenance, sizeof(d->provenance), "unit test");
}

static void vec_of(int64_t id, int d, int salt, float *v)
{
	int j;

	for (j = 0; j < d; j++)
		v[j] = (float)((id * 31 + j * 7 + salt) % 97) / 97.0f - 0.5f;
}

struct collect {
	int64_t ids[512];
	float v[512][8];
	size_t n;
};

static int collect_fn(const int64_t *ids, const float *vecs, size_t n, void *arg)
{
	struct collect *c = arg;
	size_t i;

	for (i = 0; i < n && c->n < 512; i++) {
		c->ids[c->n] = ids[i];
		memcpy(c->v[c->n], vecs + i * 8, sizeof(c->v[0]));
		c->n++;
	}
	return 0;
}

static void test_put_and_scan(void)
{
	struct store *st;
	struct space_def d, got;
	char err[LSD_ERRLEN];
	int64_t ids[100], *unk = NULL;
	float v[100 * 8];
	size_t n, nunk, i, cnt;
	int64_t maxid;
	uint64_t cks, mine = 0;
	struct collect c;

	st = open_with_lesions("sv1", &n);
	if (!st)
		return;
	def_init(&d, 8);
	for (i = 0; i < 100; i++) {
		ids[i] = (int64_t)(100 - i);	/* out of order on purpose */
		vec_of(ids[i], 8, 0, v + i * 8);
	}
	CHECK_EQ_INT(store_vec_put(st, &d, ids, v, 100, &unk, &nunk, 10, err), 0);
	CHECK_EQ_INT(store_space_get(st, "emb", &got, err), 0);
	CHECK_EQ_INT(got.dim, 8);
	CHECK_STR(got.provenance, "unit test");
	/* unknown ids: refused whole, listed */
	ids[3] = 900001;
	ids[7] = 900002;
	vec_of(1, 8, 5, v);	/* would change lesion 100 if anything were written */
	CHECK_EQ_INT(store_vec_put(st, &d, ids, v, 100, &unk, &nunk, 10, err), STORE_VEC_UNKNOWN);
	CHECK_EQ_INT(nunk, 2);
	CHECK(unk && unk[0] == 900001 && unk[1] == 900002);
	free(unk);
	/* dimension mismatch */
	def_init(&d, 4);
	CHECK_EQ_INT(store_vec_put(st, &d, ids, v, 1, &unk, &nunk, 10, err), STORE_VEC_DIM);
	def_init(&d, 8);
	/* scan: id order, exactly the first put's content */
	memset(&c, 0, sizeof(c));
	CHECK_EQ_INT(store_vec_foreach(st, "emb", 8, collect_fn, &c, err), 0);
	CHECK_EQ_INT(c.n, 100);
	for (i = 0; i < c.n; i++) {
		float want[8];

		CHECK_EQ_INT(c.ids[i], (int64_t)i + 1);
		vec_of((int64_t)i + 1, 8, 0, want);
		CHECK(!memcmp(c.v[i], want, sizeof(want)));
		mine += ref_row_hash((int64_t)i + 1, want, 8);
	}
	CHECK_EQ_INT(store_vec_checksum(st, "emb", 8, &cnt, &maxid, &cks, err), 0);
	CHECK_EQ_INT(cnt, 100);
	CHECK_EQ_INT(maxid, 100);
	CHECK(cks == mine);
	/* replace one; delete a lesion: its vector goes with it */
	ids[0] = 50;
	vec_of(50, 8, 9, v);
	CHECK_EQ_INT(store_vec_put(st, &d, ids, v, 1, &unk, &nunk, 10, err), 0);
	CHECK_EQ_INT(store_lesion_delete(st, 60, err), 0);
	memset(&c, 0, sizeof(c));
	CHECK_EQ_INT(store_vec_foreach(st, "emb", 8, collect_fn, &c, err), 0);
	CHECK_EQ_INT(c.n, 99);
	CHECK_EQ_INT(c.ids[49], 50);
	CHECK(!memcmp(c.v[49], v, sizeof(float) * 8));
	CHECK_EQ_INT(c.ids[59], 61);
	store_close(st);
}

static void test_open_space_snapshot(void)
{
	struct store *st;
	struct space_def d;
	struct space *sp = NULL;
	char err[LSD_ERRLEN], why[LSD_ERRLEN];
	int64_t ids[200], *unk = NULL;
	float v[200 * 8], got[8];
	size_t n, nunk, i;
	int how = 0;

	st = open_with_lesions("sv2", &n);
	if (!st)
		return;
	def_init(&d, 8);
	/* a derived FAISS index to snapshot (exact Flat has none: it scans the copy) */
	snprintf(d.index_type, sizeof(d.index_type), "HNSW16");
	for (i = 0; i < 200; i++) {
		ids[i] = (int64_t)i + 1;
		vec_of(ids[i], 8, 1, v + i * 8);
	}
	CHECK_EQ_INT(store_vec_put(st, &d, ids, v, 200, &unk, &nunk, 10, err), 0);
	CHECK_EQ_INT(store_vec_open_space(st, &d, &sp, &how, why, err), 0);
	CHECK_EQ_INT(how, SPACE_OPEN_REBUILT);
	CHECK(strstr(why, "no snapshot") != NULL);
	if (!sp)
		goto out;
	CHECK_EQ_INT(space_get_vector(sp, 123, got), 0);
	CHECK(!memcmp(got, v + 122 * 8, sizeof(got)));
	CHECK_EQ_INT(space_snapshot(sp, store_path(st), err), 0);
	space_destroy(sp);
	sp = NULL;
	/* unchanged database: loaded */
	CHECK_EQ_INT(store_vec_open_space(st, &d, &sp, &how, why, err), 0);
	CHECK_EQ_INT(how, SPACE_OPEN_LOADED);
	space_destroy(sp);
	sp = NULL;
	/* a vector changed in SQLite after the snapshot (e.g. a crash before the next one) */
	vec_of(7, 8, 2, v);
	ids[0] = 7;
	CHECK_EQ_INT(store_vec_put(st, &d, ids, v, 1, &unk, &nunk, 10, err), 0);
	CHECK_EQ_INT(store_vec_open_space(st, &d, &sp, &how, why, err), 0);
	CHECK_EQ_INT(how, SPACE_OPEN_REBUILT);
	CHECK(strstr(why, "different content") != NULL);
	if (sp) {
		CHECK_EQ_INT(space_get_vector(sp, 7, got), 0);
		CHECK(!memcmp(got, v, sizeof(got)));
	}
out:
	space_destroy(sp);
	store_close(st);
}

int main(void)
{
	RUN(test_put_and_scan);
	RUN(test_open_space_snapshot);
	return unit_done();
}
