/* test_readyz.c - GET /readyz (server/h_service.c): 503 until serve marks the app
 * ready, 503 while any index is being rebuilt, 200 otherwise; and a rebuild never
 * blocks searches: while one runs (seen through space_rebuilds_running), searches on
 * the same space complete and return the exact neighbours. Ordering only, no timing:
 * the rebuild is an HNSW build of 8,000 vectors, and the check that it was still
 * running after the searches is made, not assumed. */
#include "app.h"
#include "handlers.h"
#include "http.h"
#include "space.h"
#include "unit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define N 8000
#define D 16

static int readyz(struct app *app)
{
	struct request r;
	struct reply rp;

	memset(&r, 0, sizeof(r));
	memset(&rp, 0, sizeof(rp));
	r.method = HTTP_GET;
	r.path = "/readyz";
	r.app = app;
	h_readyz(&r, &rp);
	free(rp.body);
	return rp.status;
}

struct job {
	struct space *sp;
	volatile int done;
	int rc;
};

static void *rebuilder(void *arg)
{
	struct job *j = arg;
	char err[LSD_ERRLEN];

	j->rc = space_rebuild(j->sp, err);
	__atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_not_ready_until_loaded(void)
{
	struct app app;

	memset(&app, 0, sizeof(app));
	CHECK_EQ_INT(readyz(&app), 503);
	app.ready = 1;
	CHECK_EQ_INT(readyz(&app), 200);
}

static void test_rebuild_readyz_and_searches(void)
{
	struct space_def def;
	struct space *sp = NULL;
	struct app app;
	struct job j;
	pthread_t th;
	char err[LSD_ERRLEN];
	float *v = malloc((size_t)N * D * sizeof(float)), dist[5];
	int64_t *ids = malloc(N * sizeof(int64_t)), got[5];
	int i, k, searched = 0, attempt, proven = 0;
	uint64_t x = 88172645463325252ull;

	CHECK(v && ids);
	if (!v || !ids)
		goto out;
	for (i = 0; i < N * D; i++) {	/* xorshift: reproducible, no libc rand state */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v[i] = (float)((double)(x >> 11) / 9007199254740992.0);
	}
	for (i = 0; i < N; i++)
		ids[i] = i + 1;
	memset(&def, 0, sizeof(def));
	snprintf(def.name, sizeof(def.name), "t");
	snprintf(def.index_type, sizeof(def.index_type), "HNSW16");
	def.dim = D;
	def.metric = SPACE_L2;
	CHECK_EQ_INT(space_create(&def, &sp, err), 0);
	CHECK_EQ_INT(space_add(sp, ids, v, N, err), 0);
	memset(&app, 0, sizeof(app));
	app.ready = 1;
	CHECK_EQ_INT(space_rebuilds_running(), 0);
	CHECK_EQ_INT(readyz(&app), 200);

	/* up to 3 attempts: on a busy machine this thread may be descheduled for a whole
	 * rebuild; the property needs one rebuild that outlived the searches */
	for (attempt = 0; attempt < 3 && !proven; attempt++) {
		int ok_hits = 0, during = 0;

		memset(&j, 0, sizeof(j));
		j.sp = sp;
		searched = 0;
		CHECK_EQ_INT(pthread_create(&th, NULL, rebuilder, &j), 0);
		while (!__atomic_load_n(&j.done, __ATOMIC_ACQUIRE) && space_rebuilds_running() == 0)
			;
		if (space_rebuilds_running() > 0) {
			during = readyz(&app);
			/* searches while the rebuild runs: each query is a stored vector, its own
			 * nearest neighbour at distance 0 */
			for (k = 0; k < 20 && space_rebuilds_running() > 0; k++) {
				int q = (k * 1999) % N;

				if (space_search(sp, v + (size_t)q * D, 1, 5, dist, got, err) == 0 &&
				    got[0] == q + 1 && dist[0] == 0)
					ok_hits++;
				searched++;
			}
			/* proven when the searches finished while the rebuild still ran: the
			 * counter went up before the first check and has not come down */
			if (space_rebuilds_running() > 0 && searched >= 1) {
				proven = 1;
				CHECK_EQ_INT(during, 503);
				CHECK_EQ_INT(ok_hits, searched);
			}
		}
		pthread_join(th, NULL);
		CHECK_EQ_INT(j.rc, 0);
	}
	CHECK(proven);
	CHECK_EQ_INT(space_rebuilds_running(), 0);
	CHECK_EQ_INT(readyz(&app), 200);
	printf("# %d searches answered during one rebuild (attempt %d)\n", searched, attempt);
out:
	space_destroy(sp);
	free(v);
	free(ids);
}

int main(void)
{
	RUN(test_not_ready_until_loaded);
	RUN(test_rebuild_readyz_and_searches);
	return unit_done();
}
