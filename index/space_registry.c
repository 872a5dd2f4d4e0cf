/* space_registry.c - the daemon's named set of spaces: add at start (or when a space is
 * created through the API), look up by name from request threads. Owns the spaces added
 * to it (spaces_destroy destroys them). Thread-safe (one mutex); a handful of spaces.
 */
#include "space_int.h"
#include "util.h"

#include <faiss/c_api/utils/distances_c.h>

#include <stdlib.h>
#include <string.h>

int spaces_create(struct spaces **out, char *err)
{
	struct spaces *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return errf(err, "out of memory");
	/* Exact search of 8+ queries at once goes through BLAS: one pass over the vectors
	 * for the whole batch. Measured on 32,735 x 256 (one core): 8 queries 1,745/s and 16
	 * queries 3,022/s through BLAS, against ~1,100/s one by one (FAISS's default
	 * threshold is 20). This is what makes coalescing concurrent queries pay. */
	faiss_set_distance_compute_blas_threshold(SPACE_BLAS_MIN_NQ);
	pthread_mutex_init(&r->mu, NULL);
	*out = r;
	return 0;
}

void spaces_destroy(struct spaces *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		space_destroy(r->v[i]);
	free(r->v);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int spaces_add(struct spaces *r, struct space *sp, char *err)
{
	size_t i;
	int rc = -1;

	pthread_mutex_lock(&r->mu);
	for (i = 0; i < r->n; i++)
		if (!strcmp(r->v[i]->def.name, sp->def.name)) {
			errf(err, "space %s exists", sp->def.name);
			goto out;
		}
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 8;
		struct space **v;

		if (cap > 4096 || !(v = realloc(r->v, cap * sizeof(*v)))) {
			errf(err, "too many spaces");
			goto out;
		}
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = sp;
	rc = 0;
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

struct space *spaces_get(struct spaces *r, const char *name)
{
	struct space *sp = NULL;
	size_t i;

	pthread_mutex_lock(&r->mu);
	for (i = 0; i < r->n; i++)
		if (!strcmp(r->v[i]->def.name, name)) {
			sp = r->v[i];
			break;
		}
	pthread_mutex_unlock(&r->mu);
	return sp;
}

size_t spaces_count(struct spaces *r)
{
	size_t n;

	pthread_mutex_lock(&r->mu);
	n = r->n;
	pthread_mutex_unlock(&r->mu);
	return n;
}

struct space *spaces_at(struct spaces *r, size_t i)
{
	struct space *sp = NULL;

	pthread_mutex_lock(&r->mu);
	if (i < r->n)
		sp = r->v[i];
	pthread_mutex_unlock(&r->mu);
	return sp;
}
