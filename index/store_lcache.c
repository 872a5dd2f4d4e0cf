/* store_lcache.c - the store's small cache of lesion rows for store_lesion_get (part of
 * the store module; contract in store_int.h).
 *
 * Every lesion-addressed request (a patch, GET /v1/lesions/{id}, a graph walk) reads one
 * row by id; from SQLite that is a read transaction each time (WAL read-mark locks:
 * fcntl() on the -shm file, then the VDBE), ~5% of a warm patch's CPU. Here a
 * direct-mapped table of LCACHE_SLOTS rows keyed by id answers repeats with a copy.
 *
 * Validity: the store's write generation (wgen) advances after every write transaction
 * of this process that changed a row ends (store_write_end, before the write lock is
 * released, so before the writer's caller can reply). A reader reads the generation
 * BEFORE it reads the row from SQLite and files the row under that generation; a row is
 * served only while the generation is unchanged. A row read before a commit is
 * therefore filed under a generation that the commit ends; a row read after it may be
 * filed under the old one too, which only costs a miss. Any write that changes a row
 * (not only that lesion's) empties the cache logically: writes are rare next to reads.
 * A write transaction that changed no row (sqlite3_total_changes64 unchanged, e.g. the
 * replication log's idle trim every 5 s) keeps it. Writes by another process to the
 * same database are not seen, exactly as the daemon's catalog and indexes do not see
 * them: a serving daemon's lesions change through its API or its replica stream only.
 * Read-only stores (store_open_ro) have no cache. Locks: 16 striped mutexes, held for
 * one row copy (~400 bytes).
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#define LCACHE_SLOTS 4096	/* power of two; ids are dense, so id % slots spreads */
#define LCACHE_LOCKS 16

struct lslot {
	int64_t id;		/* 0: empty */
	uint64_t gen;
	struct lesion l;
};

struct store_lcache {
	pthread_mutex_t mu[LCACHE_LOCKS];
	struct lslot slot[LCACHE_SLOTS];
	uint64_t hits, misses;	/* atomics, for tests */
};

int store_lcache_init(struct store *st)
{
	struct store_lcache *lc = calloc(1, sizeof(*lc));
	int i;

	if (!lc)
		return -1;
	for (i = 0; i < LCACHE_LOCKS; i++)
		pthread_mutex_init(&lc->mu[i], NULL);
	st->lcache = lc;
	return 0;
}

void store_lcache_free(struct store *st)
{
	int i;

	if (!st->lcache)
		return;
	for (i = 0; i < LCACHE_LOCKS; i++)
		pthread_mutex_destroy(&st->lcache->mu[i]);
	free(st->lcache);
	st->lcache = NULL;
}

uint64_t store_lcache_gen(struct store *st)
{
	return __atomic_load_n(&st->wgen, __ATOMIC_ACQUIRE);
}

void store_lcache_bump(struct store *st)
{
	__atomic_add_fetch(&st->wgen, 1, __ATOMIC_RELEASE);
}

int store_lcache_get(struct store *st, int64_t id, uint64_t gen, struct lesion *out)
{
	struct store_lcache *lc = st->lcache;
	struct lslot *s;
	int hit;

	if (!lc || id <= 0)
		return 0;
	s = &lc->slot[(uint64_t)id & (LCACHE_SLOTS - 1)];
	pthread_mutex_lock(&lc->mu[(uint64_t)id % LCACHE_LOCKS]);
	hit = s->id == id && s->gen == gen;
	if (hit)
		*out = s->l;
	pthread_mutex_unlock(&lc->mu[(uint64_t)id % LCACHE_LOCKS]);
	__atomic_add_fetch(hit ? &lc->hits : &lc->misses, 1, __ATOMIC_RELAXED);
	return hit;
}

void store_lcache_put(struct store *st, int64_t id, uint64_t gen, const struct lesion *l)
{
	struct store_lcache *lc = st->lcache;
	struct lslot *s;

	if (!lc || id <= 0)
		return;
	s = &lc->slot[(uint64_t)id & (LCACHE_SLOTS - 1)];
	pthread_mutex_lock(&lc->mu[(uint64_t)id % LCACHE_LOCKS]);
	/* never replace a row filed under a newer generation by an older read */
	if (s->id != id || s->gen <= gen) {
		s->id = id;
		s->gen = gen;
		s->l = *l;
	}
	pthread_mutex_unlock(&lc->mu[(uint64_t)id % LCACHE_LOCKS]);
}

void store_lesion_cache_stats(struct store *st, uint64_t *hits, uint64_t *misses)
{
	*hits = st->lcache ? __atomic_load_n(&st->lcache->hits, __ATOMIC_RELAXED) : 0;
	*misses = st->lcache ? __atomic_load_n(&st->lcache->misses, __ATOMIC_RELAXED) : 0;
}
