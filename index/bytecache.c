/* bytecache.c - the bounded LRU of byte strings (contract in include/bytecache.h).
 *
 * Used by the image handlers on MHD worker threads for encoded patches: a hit per warm
 * patch request (a hash, a table lookup and a copy of ~5-20 KB), a put per miss. One
 * mutex guards the hash table (chained, power-of-two buckets, doubled when the entries
 * outnumber them), the LRU list and the counters.
 */
#include "bytecache.h"
#include "lru.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_OVERHEAD 64	/* bytes charged per entry besides key and value */

struct entry {
	struct entry *hnext;		/* hash chain */
	struct lru_node lru;
	uint64_t hash;
	size_t len, cost;
	unsigned char *val;
	char key[];
};

struct bytecache {
	pthread_mutex_t mu;
	struct entry **tab;
	size_t nbuckets;		/* power of two */
	struct lru_list lru;		/* most recent at head */
	struct bytecache_stats st;
};

int bytecache_create(size_t max_bytes, struct bytecache **out, char *err)
{
	struct bytecache *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return errf(err, "out of memory");
	c->nbuckets = 64;
	c->tab = calloc(c->nbuckets, sizeof(*c->tab));
	if (!c->tab || pthread_mutex_init(&c->mu, NULL)) {
		free(c->tab);
		free(c);
		return errf(err, "out of memory");
	}
	c->st.max_bytes = max_bytes;
	*out = c;
	return 0;
}

void bytecache_destroy(struct bytecache *c)
{
	struct entry *e, *n;

	if (!c)
		return;
	for (e = LRU_ENTRY(c->lru.head, struct entry, lru); e; e = n) {
		n = LRU_ENTRY(e->lru.next, struct entry, lru);
		free(e->val);
		free(e);
	}
	pthread_mutex_destroy(&c->mu);
	free(c->tab);
	free(c);
}

static uint64_t key_hash(const char *key)
{
	return fnv1a64(key, strlen(key), 0);
}

/* The entry of key, or NULL; caller holds the lock. */
static struct entry *find(struct bytecache *c, const char *key, uint64_t h)
{
	struct entry *e = c->tab[h & (c->nbuckets - 1)];

	while (e && (e->hash != h || strcmp(e->key, key)))
		e = e->hnext;
	return e;
}

/* Remove e from table, list and budget, and free it; caller holds the lock. */
static void drop(struct bytecache *c, struct entry *e)
{
	struct entry **pp = &c->tab[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(&c->lru, &e->lru);
	c->st.bytes -= e->cost;
	c->st.entries--;
	free(e->val);
	free(e);
}

/* Double the buckets when the entries outnumber them (a failed allocation keeps the
 * table as it is: longer chains, still correct); caller holds the lock. */
static void maybe_grow(struct bytecache *c)
{
	size_t nb = c->nbuckets * 2, i;
	struct entry **t, *e, *n;

	if (c->st.entries <= c->nbuckets || nb > ((size_t)1 << 24))
		return;
	t = calloc(nb, sizeof(*t));
	if (!t)
		return;
	for (i = 0; i < c->nbuckets; i++)
		for (e = c->tab[i]; e; e = n) {
			n = e->hnext;
			e->hnext = t[e->hash & (nb - 1)];
			t[e->hash & (nb - 1)] = e;
		}
	free(c->tab);
	c->tab = t;
	c->nbuckets = nb;
}

int bytecache_get(struct bytecache *c, const char *key, unsigned char **out, size_t *len)
{
	uint64_t h = key_hash(key);
	struct entry *e;
	int hit = 0;

	*out = NULL;
	*len = 0;
	pthread_mutex_lock(&c->mu);
	e = find(c, key, h);
	if (e && (*out = malloc(e->len ? e->len : 1))) {
		memcpy(*out, e->val, e->len);
		*len = e->len;
		lru_touch(&c->lru, &e->lru);
		hit = 1;
	}
	if (hit)
		c->st.hits++;
	else
		c->st.misses++;
	pthread_mutex_unlock(&c->mu);
	return hit;
}

void bytecache_put(struct bytecache *c, const char *key, const unsigned char *v, size_t len)
{
	size_t klen = strlen(key), cost = len + klen + 1 + ENTRY_OVERHEAD;
	uint64_t h = key_hash(key);
	struct entry *e, *old;

	if (cost > c->st.max_bytes / 4)
		return;
	/* allocate and copy outside the lock */
	e = malloc(sizeof(*e) + klen + 1);
	if (!e)
		return;
	e->val = malloc(len ? len : 1);
	if (!e->val) {
		free(e);
		return;
	}
	memcpy(e->val, v, len);
	memcpy(e->key, key, klen + 1);
	e->hash = h;
	e->len = len;
	e->cost = cost;
	e->lru.prev = e->lru.next = NULL;
	pthread_mutex_lock(&c->mu);
	old = find(c, key, h);
	if (old)
		drop(c, old);
	while (c->lru.tail && c->st.bytes + cost > c->st.max_bytes) {
		drop(c, LRU_ENTRY(c->lru.tail, struct entry, lru));
		c->st.evictions++;
	}
	e->hnext = c->tab[h & (c->nbuckets - 1)];
	c->tab[h & (c->nbuckets - 1)] = e;
	lru_push_front(&c->lru, &e->lru);
	c->st.bytes += cost;
	c->st.entries++;
	c->st.insertions++;
	maybe_grow(c);
	pthread_mutex_unlock(&c->mu);
}

void bytecache_stats(struct bytecache *c, struct bytecache_stats *st)
{
	pthread_mutex_lock(&c->mu);
	*st = c->st;
	pthread_mutex_unlock(&c->mu);
}
