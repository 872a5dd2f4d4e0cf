/* test_bytecache.c - the byte LRU behind the encoded-patch cache: hits return the bytes
 * put (as a private copy), a key's later value replaces the earlier, eviction follows
 * recency within the byte budget, values over a quarter of the budget and a zero budget
 * keep nothing, the table grows without losing entries, and many threads at once get
 * only values that were put under their key (ASan/UBSan watch the memory). */
#include "unit.h"
#include "bytecache.h"
#include "util.h"

#include <pthread.h>
#include <stdint.h>

#define VLEN 100
/* what one entry of a 2-character key and a VLEN-byte value costs (bytecache.c) */
#define COST (VLEN + 3 + 64)

static void fill(unsigned char *v, size_t n, int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = (unsigned char)(seed * 31 + (int)i * 7);
}

/* 1 when key is held with the value fill(seed) of n bytes */
static int holds(struct bytecache *c, const char *key, int seed, size_t n)
{
	unsigned char *got = NULL, want[4096];
	size_t len = 0;
	int ok;

	if (!bytecache_get(c, key, &got, &len))
		return 0;
	fill(want, n, seed);
	ok = len == n && !memcmp(got, want, n);
	free(got);
	return ok;
}

static void put(struct bytecache *c, const char *key, int seed, size_t n)
{
	unsigned char v[4096];

	fill(v, n, seed);
	bytecache_put(c, key, v, n);
}

static void test_hit_miss_copy(void)
{
	struct bytecache *c = NULL;
	struct bytecache_stats st;
	unsigned char *got = NULL;
	size_t len = 7;
	char err[LSD_ERRLEN];

	CHECK(bytecache_create(1 << 20, &c, err) == 0);
	CHECK(bytecache_get(c, "k1", &got, &len) == 0);
	CHECK(got == NULL && len == 0);
	put(c, "k1", 1, VLEN);
	CHECK(bytecache_get(c, "k1", &got, &len) == 1);
	CHECK_EQ_INT(len, VLEN);
	if (got) {
		got[0] ^= 0xff;	/* the caller's copy: the cache must not change */
		free(got);
	}
	CHECK(holds(c, "k1", 1, VLEN));
	CHECK(!holds(c, "k2", 1, VLEN));
	put(c, "e0", 5, 0);	/* an empty value is a value */
	CHECK(bytecache_get(c, "e0", &got, &len) == 1 && len == 0);
	free(got);
	bytecache_stats(c, &st);
	CHECK_EQ_INT(st.hits, 3);
	CHECK_EQ_INT(st.misses, 2);
	CHECK_EQ_INT(st.entries, 2);
	CHECK_EQ_INT(st.insertions, 2);
	CHECK_EQ_INT(st.bytes, COST + (0 + 3 + 64));
	bytecache_destroy(c);
}

static void test_replace(void)
{
	struct bytecache *c = NULL;
	struct bytecache_stats st;
	char err[LSD_ERRLEN];

	CHECK(bytecache_create(1 << 20, &c, err) == 0);
	put(c, "k1", 1, VLEN);
	put(c, "k1", 2, VLEN / 2);
	CHECK(holds(c, "k1", 2, VLEN / 2));
	bytecache_stats(c, &st);
	CHECK_EQ_INT(st.entries, 1);
	CHECK_EQ_INT(st.bytes, VLEN / 2 + 3 + 64);
	CHECK_EQ_INT(st.evictions, 0);	/* a replacement is not an eviction */
	bytecache_destroy(c);
}

static void test_lru_order(void)
{
	struct bytecache *c = NULL;
	struct bytecache_stats st;
	char err[LSD_ERRLEN], key[16];
	int i;

	CHECK(bytecache_create(8 * COST, &c, err) == 0);	/* exactly eight entries */
	for (i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		put(c, key, i, VLEN);
	}
	CHECK(holds(c, "k0", 0, VLEN));	/* k0 is now the most recent, k1 the least */
	put(c, "k8", 8, VLEN);
	CHECK(!holds(c, "k1", 1, VLEN));
	for (i = 2; i <= 8; i++) {	/* recency now k0 (least), k2, ..., k8 */
		snprintf(key, sizeof(key), "k%d", i);
		CHECK(holds(c, key, i, VLEN));
	}
	CHECK(holds(c, "k0", 0, VLEN));	/* k2 is now the least recent, then k3 */
	bytecache_stats(c, &st);
	CHECK_EQ_INT(st.evictions, 1);
	CHECK_EQ_INT(st.entries, 8);
	CHECK_EQ_INT(st.bytes, 8 * COST);
	/* a value costing two entries (a quarter of the budget) evicts the two least recent */
	put(c, "kw", 9, 2 * COST - 3 - 64);
	CHECK(!holds(c, "k2", 2, VLEN));
	CHECK(!holds(c, "k3", 3, VLEN));
	CHECK(holds(c, "k4", 4, VLEN));
	CHECK(holds(c, "k0", 0, VLEN));
	CHECK(holds(c, "kw", 9, 2 * COST - 3 - 64));
	bytecache_stats(c, &st);
	CHECK_EQ_INT(st.evictions, 3);
	CHECK_EQ_INT(st.bytes, 8 * COST);
	bytecache_destroy(c);
}

static void test_too_large_and_zero(void)
{
	struct bytecache *c = NULL;
	struct bytecache_stats st;
	char err[LSD_ERRLEN];

	CHECK(bytecache_create(4 * COST, &c, err) == 0);
	put(c, "ka", 1, VLEN);
	put(c, "kb", 2, VLEN + 1);	/* over a quarter of the budget: not kept */
	CHECK(!holds(c, "kb", 2, VLEN + 1));
	CHECK(holds(c, "ka", 1, VLEN));	/* and nothing was evicted for it */
	bytecache_destroy(c);
	CHECK(bytecache_create(0, &c, err) == 0);
	put(c, "ka", 1, 1);
	CHECK(!holds(c, "ka", 1, 1));
	bytecache_stats(c, &st);
	CHECK_EQ_INT(st.entries, 0);
	CHECK_EQ_INT(st.bytes, 0);
	bytecache_destroy(c);
}

static void test_growth(void)
{
	struct bytecache *c = NULL;
	struct bytecache_stats st;
	char err[LSD_ERRLEN], key[32];
	int i, ok = 1;

	CHECK(bytecache_create(64 << 20, &c, err) == 0);
	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		put(c, key, i, (size_t)(i % 300));
	}
	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		ok &= holds(c, key, i, (size_t)(i % 300));
	}
	CHECK(ok);
	bytecache_stats(c, &st);
	CHECK_EQ_INT(st.entries, 5000);
	CHECK_EQ_INT(st.evictions, 0);
	bytecache_destroy(c);
}

struct worker {
	struct bytecache *c;
	int id, bad, hits;
};

/* key i always carries fill(i, 50 + i % 200): any hit with other bytes is a bug */
static void *work(void *arg)
{
	struct worker *w = arg;
	char key[32];
	int n, i;

	for (n = 0; n < 20000; n++) {
		i = (n * 7 + w->id * 13) % 97;
		snprintf(key, sizeof(key), "t%d", i);
		if (n % 3 == 0) {
			put(w->c, key, i, (size_t)(50 + i % 200));
		} else {
			unsigned char *got = NULL, want[4096];
			size_t len = 0;

			if (bytecache_get(w->c, key, &got, &len)) {
				fill(want, (size_t)(50 + i % 200), i);
				w->bad += len != (size_t)(50 + i % 200) || memcmp(got, want, len);
				w->hits++;
				free(got);
			}
		}
	}
	return NULL;
}

static void test_threads(void)
{
	struct bytecache *c = NULL;
	struct worker w[4];
	pthread_t t[4];
	char err[LSD_ERRLEN];
	int i, bad = 0, hits = 0;

	CHECK(bytecache_create(8 * 1024, &c, err) == 0);	/* small: evictions race gets */
	for (i = 0; i < 4; i++) {
		w[i] = (struct worker){ .c = c, .id = i };
		CHECK(pthread_create(&t[i], NULL, work, &w[i]) == 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		bad += w[i].bad;
		hits += w[i].hits;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(hits > 0);
	bytecache_destroy(c);
}

int main(void)
{
	RUN(test_hit_miss_copy);
	RUN(test_replace);
	RUN(test_lru_order);
	RUN(test_too_large_and_zero);
	RUN(test_growth);
	RUN(test_threads);
	return unit_done();
}
