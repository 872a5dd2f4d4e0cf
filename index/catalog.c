/* catalog.c - in-memory lesion metadata for search filters and result summaries.
 * See catalog.h. An array indexed by lesion id, grown by doubling; ~48 bytes a lesion
 * (1.6 MB for DeepLesion's 32,735). Guarded by a pthread rwlock. */
#include "catalog.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_MAX_ID 100000000LL

struct catalog {
	pthread_rwlock_t lock;
	struct catalog_entry *e;
	int64_t cap;		/* entries allocated: ids 0..cap-1 */
	int64_t max_id;
	size_t count;
};

int catalog_create(struct catalog **out, char *err)
{
	struct catalog *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return errf(err, "out of memory");
	pthread_rwlock_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void catalog_destroy(struct catalog *c)
{
	if (!c)
		return;
	pthread_rwlock_destroy(&c->lock);
	free(c->e);
	free(c);
}

void catalog_entry_from_lesion(const struct lesion *l, struct catalog_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->patient = l->patient;
	e->study = l->study;
	e->series = l->series;
	e->key_slice = l->key_slice;
	e->diam_mm[0] = (float)l->diam_mm[0];
	e->diam_mm[1] = (float)l->diam_mm[1];
	e->loc[0] = (float)l->loc[0];
	e->loc[1] = (float)l->loc[1];
	e->loc[2] = (float)l->loc[2];
	e->age = isnan(l->age) ? NAN : (float)l->age;
	e->type = (int8_t)l->type;
	e->split = (int8_t)l->split;
	e->noisy = (int8_t)l->noisy;
	e->gender = l->gender;
	e->present = 1;
}

/* Grow to hold id; caller holds the write lock. */
static int grow(struct catalog *c, int64_t id, char *err)
{
	int64_t cap = c->cap ? c->cap : 1024;
	struct catalog_entry *p;

	if (id <= 0 || id > CATALOG_MAX_ID)
		return errf(err, "lesion id %lld out of the catalog's range", (long long)id);
	if (id < c->cap)
		return 0;
	while (cap <= id)
		cap *= 2;
	p = realloc(c->e, (size_t)cap * sizeof(*p));
	if (!p)
		return errf(err, "out of memory");
	memset(p + c->cap, 0, (size_t)(cap - c->cap) * sizeof(*p));
	c->e = p;
	c->cap = cap;
	return 0;
}

int catalog_put(struct catalog *c, const struct lesion *l, char *err)
{
	int rc;

	pthread_rwlock_wrlock(&c->lock);
	rc = grow(c, l->id, err);
	if (!rc) {
		if (!c->e[l->id].present)
			c->count++;
		catalog_entry_from_lesion(l, &c->e[l->id]);
		if (l->id > c->max_id)
			c->max_id = l->id;
	}
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

void catalog_remove(struct catalog *c, int64_t id)
{
	pthread_rwlock_wrlock(&c->lock);
	if (id > 0 && id < c->cap && c->e[id].present) {
		c->e[id].present = 0;
		c->count--;
	}
	pthread_rwlock_unlock(&c->lock);
}

int catalog_get(struct catalog *c, int64_t id, struct catalog_entry *out)
{
	int rc = -1;

	pthread_rwlock_rdlock(&c->lock);
	if (id > 0 && id < c->cap && c->e[id].present) {
		*out = c->e[id];
		rc = 0;
	}
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

static int load_one(const struct lesion *l, void *arg)
{
	char err[LSD_ERRLEN];

	return catalog_put(arg, l, err) ? -1 : 0;
}

int catalog_load(struct catalog *c, struct store *st, char *err)
{
	if (store_lesion_foreach(st, load_one, c, err))
		return errf(err, "catalog: cannot load lesions");
	return 0;
}

int catalog_match(const struct store_filter *f, const struct catalog_entry *e)
{
	struct store_filter_fields x = {
		.patient = e->patient, .study = e->study, .type = e->type, .split = e->split,
		.noisy = e->noisy, .diam_mm = e->diam_mm[0], .age = e->age, .diam_float = 1,
		.gender = e->gender,
	};

	return e->present && store_filter_test(f, &x);
}

const struct catalog_entry *catalog_lock(struct catalog *c, int64_t *max_id)
{
	pthread_rwlock_rdlock(&c->lock);
	*max_id = c->max_id;
	return c->e;
}

void catalog_unlock(struct catalog *c)
{
	pthread_rwlock_unlock(&c->lock);
}

size_t catalog_count(struct catalog *c)
{
	size_t n;

	pthread_rwlock_rdlock(&c->lock);
	n = c->count;
	pthread_rwlock_unlock(&c->lock);
	return n;
}

int catalog_adopt(struct catalog *c, struct catalog_entry *e, int64_t n, char *err)
{
	int64_t i, max_id = 0;
	size_t count = 0;
	int rc = -1;

	pthread_rwlock_wrlock(&c->lock);
	if (c->count || n < 1 || n > CATALOG_MAX_ID + 1) {
		errf(err, "catalog: not empty, or %lld entries", (long long)n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (e[i].present > 1 || (i == 0 && e[i].present)) {
			errf(err, "catalog: entry %lld is malformed", (long long)i);
			goto out;
		}
		if (e[i].present) {
			count++;
			max_id = i;
		}
	}
	free(c->e);
	c->e = e;
	e = NULL;
	c->cap = n;
	c->max_id = max_id;
	c->count = count;
	rc = 0;
out:
	pthread_rwlock_unlock(&c->lock);
	free(e);
	return rc;
}
