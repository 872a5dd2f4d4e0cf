/* test_coalesce.c - concurrent searches through the coalescer return exactly what each
 * would get alone, and really are batched together. */
#include "catalog.h"
#include "coalesce.h"
#include "search.h"
#include "space.h"
#include "unit.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define N 4000
#define D 32
#define THREADS 12
#define PER_THREAD 40

static float vecs[N][D];
static struct space *sp;
static struct catalog *cat;
static struct coalescer *co;
static int mismatches, failures;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg, i, j;
	char err[LSD_ERRLEN];

	for (i = 0; i < PER_THREAD; i++) {
		int64_t self = 1 + (t * 97 + i * 31) % N;
		struct search_query q;
		struct search_hit a[10], b[10], *bp = b;
		int na = 0, nb = 0, ma, mb;

		memset(&q, 0, sizeof(q));
		q.vec = vecs[self - 1];
		q.self_id = self;
		q.k = 1 + (i % 10);
		if (coalescer_search(co, sp, cat, &q, a, &na, &ma, err)) {
			pthread_mutex_lock(&mu);
			failures++;
			pthread_mutex_unlock(&mu);
			continue;
		}
		coalescer_release(co);
		if (search_run(sp, cat, &q, 1, &bp, &nb, &mb, err)) {
			pthread_mutex_lock(&mu);
			failures++;
			pthread_mutex_unlock(&mu);
			continue;
		}
		pthread_mutex_lock(&mu);
		if (na != nb || na != q.k)
			mismatches++;
		for (j = 0; j < na && j < nb; j++)
			if (a[j].id != b[j].id || a[j].dist != b[j].dist || a[j].id == self)
				mismatches++;
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

static void test_concurrent_equals_alone(void)
{
	pthread_t th[THREADS];
	struct coalescer_stats st;
	int i;

	for (i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ_INT(failures, 0);
	CHECK_EQ_INT(mismatches, 0);
	coalescer_get_stats(co, &st);
	CHECK_EQ_INT(st.queries, THREADS * PER_THREAD);
	printf("# %llu queries in %llu batches, largest %llu\n", (unsigned long long)st.queries,
	       (unsigned long long)st.batches, (unsigned long long)st.max_seen);
	CHECK(st.max_seen > 1);	/* 12 threads at once: some queries did share a batch */
}

static void test_alone_does_not_wait(void)
{
	struct search_query q;
	struct search_hit a[5];
	char err[LSD_ERRLEN];
	double t0;
	int n, m, i;

	memset(&q, 0, sizeof(q));
	q.vec = vecs[0];
	q.self_id = 1;
	q.k = 5;
	t0 = now_ms();
	for (i = 0; i < 20; i++) {
		CHECK_EQ_INT(coalescer_search(co, sp, cat, &q, a, &n, &m, err), 0);
		coalescer_release(co);
	}
	/* a lone caller never sleeps for company (the wait is 200 ms here, so 20 searches
	 * that did wait would take 4 s; this is a structural check, not a timing target) */
	CHECK(now_ms() - t0 < 2000);
}

/* The release contract (coalesce.h): a search that failed writes no reply and never calls
 * coalescer_release, so the leader ends its flight; a lone search right after failures
 * must then run at once, not wait for company that will not come. Checked on the
 * leaders' wait counter, not on the clock: with the flight left open, each lone search
 * below would see another in flight and wait (200 ms here), counting a wait. */
static void test_lone_after_error_does_not_wait(void)
{
	struct coalescer_stats s0, s1;
	struct search_query q;
	struct search_hit a[5];
	float bad[D];
	char err[LSD_ERRLEN];
	int n, m, i;

	memcpy(bad, vecs[0], sizeof(bad));
	bad[3] = NAN;	/* search_run refuses a non-finite query */
	memset(&q, 0, sizeof(q));
	q.self_id = 1;
	q.k = 5;
	coalescer_get_stats(co, &s0);
	for (i = 0; i < 3; i++) {
		q.vec = bad;
		CHECK_EQ_INT(coalescer_search(co, sp, cat, &q, a, &n, &m, err), -1);
		q.vec = vecs[i + 1];
		CHECK_EQ_INT(coalescer_search(co, sp, cat, &q, a, &n, &m, err), 0);
		CHECK_EQ_INT(n, 5);
		coalescer_release(co);
	}
	coalescer_get_stats(co, &s1);
	CHECK_EQ_INT(s1.queries - s0.queries, 6);
	CHECK_EQ_INT(s1.waits - s0.waits, 0);
}

int main(void)
{
	struct space_def def;
	int64_t ids[N];
	char err[LSD_ERRLEN];
	int i, d;

	memset(&def, 0, sizeof(def));
	snprintf(def.name, sizeof(def.name), "c");
	def.dim = D;
	def.metric = SPACE_L2;
	catalog_create(&cat, err);
	for (i = 0; i < N; i++) {
		struct lesion l;

		memset(&l, 0, sizeof(l));
		l.id = i + 1;
		l.patient = 1 + i / 5;
		l.study = 1;
		l.type = -1;
		l.split = 1;
		l.gender = 'U';
		l.age = 50;
		catalog_put(cat, &l, err);
		ids[i] = i + 1;
		for (d = 0; d < D; d++)
			vecs[i][d] = (float)((i * 7919 + d * 104729) % 1000) / 1000.0f;
	}
	space_create(&def, &sp, err);
	space_add(sp, ids, &vecs[0][0], N, err);
	coalescer_create(16, 200000, 1, &co);
	RUN(test_concurrent_equals_alone);
	RUN(test_alone_does_not_wait);
	RUN(test_lone_after_error_does_not_wait);
	coalescer_destroy(co);
	space_destroy(sp);
	catalog_destroy(cat);
	return unit_done();
}
