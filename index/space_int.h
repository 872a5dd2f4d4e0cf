/* space_int.h - what the files of the space module (space.c: the space, its memory
 * copy, searches and rebuilds; space_idmap.c: the id -> row map; space_snap.c: snapshots;
 * space_registry.c: the named set of spaces) share and nobody else sees. Like
 * store_int.h for the store: include it only from index/space*.c.
 */
#ifndef LSD_SPACE_INT_H
#define LSD_SPACE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <faiss/c_api/Index_c.h>

#include "space.h"

/* ---------- id -> row map: linear probing, backward-shift deletion (space_idmap.c) ---------- */

struct idmap {
	int64_t *key;	/* 0 = empty (ids are > 0) */
	uint32_t *row;
	size_t cap;	/* power of two */
	size_t n;
};

void idmap_free(struct idmap *m);
/* 1 and *row (row may be NULL) when id is in the map, else 0. */
int idmap_find(const struct idmap *m, int64_t id, size_t *row);
/* Start loading id's home slot into the cache (a lookup soon after misses less). */
void idmap_prefetch(const struct idmap *m, int64_t id);
/* Make room for `more` insertions without failing later; -1 when out of memory. */
int idmap_reserve(struct idmap *m, size_t more);
/* Insert or update; the caller reserved room. */
void idmap_put(struct idmap *m, int64_t id, size_t row);
void idmap_del(struct idmap *m, int64_t id);

/* ---------- the space (space.c) ---------- */

struct space {
	struct space_def def;
	pthread_rwlock_t lock;		/* everything below */
	pthread_mutex_t build_mu;	/* one rebuild or snapshot at a time */

	/* memory copy: rows 0..n-1 */
	float *vec;
	size_t vec_mapped;	/* > 0: vec is a private file mapping of this many bytes
				 * (statesnap.c; copied to the heap at the first growth) */
	float *norm;		/* squared L2 norm of each row (flatscan) */
	int64_t *rid;
	size_t n, cap;
	struct idmap map;
	uint64_t checksum;
	int64_t max_id;

	/* the derived index: NULL = none (not loaded yet, or dropped after a FAISS failure,
	 * or native: the active type is Flat, answered by flatscan over the copy itself) */
	FaissIndex *index;
	int native;
	char active[SPACE_TYPE_MAX];
	int removable;
	int loaded;		/* the start-up load finished (index or not) */
	size_t train_attempt_n;	/* count at the last failed training attempt */

	/* writes made while a rebuild runs off to the side, replayed before the swap */
	int journaling, joverflow;
	int64_t *journal;
	size_t jn, jcap;

	uint64_t writes, snap_writes;
	int snap_stale;		/* the index was rebuilt since the last snapshot */
};

struct spaces {
	pthread_mutex_t mu;
	struct space **v;
	size_t n, cap;
};

/* errf with FAISS's last error message after what; returns -1. */
int space_faiss_errf(char *err, const char *what);
FaissMetricType space_faiss_metric(enum space_metric m);
/* The definition's index type ("Flat" when unset) and search parameters (the type's
 * defaults when unset). */
const char *space_def_type(const struct space_def *d);
const char *space_def_params(const struct space_def *d);
/* Apply "name=value,..." search parameters to idx; 0 or -1 with err. */
int space_apply_params(FaissIndex *idx, const char *params, char *err);
/* Whether the sub-index supports remove_ids (decided by type). */
int space_probe_removable(FaissIndex *sub);
/* Entries in the index (0 without one); lock held. */
size_t space_index_total(const struct space *sp);

#endif
