/* space.h - named embedding spaces: FAISS indexes over lesion vectors.
 *
 * A space has a name, a dimension, a metric (squared L2 or inner product), a FAISS
 * factory string ("Flat" = exact, "HNSW32", "IVF256,Flat", "IVF1024,PQ32", ...) and a
 * provenance line (the model that produced the vectors). The vectors themselves live in
 * SQLite (store_vec); a space keeps a plain float copy in memory (id -> row), which is
 * what rebuilds, exact subset scans and space_get_vector() read, and a FAISS index derived
 * from it (an IVF holding the lesion ids itself, or an IndexIDMap: lesion ids are FAISS
 * ids). Only index/space*.c include FAISS.
 *
 * Distances: every distance this module returns is recomputed exactly from the stored
 * vector, whatever the index type (the index only proposes candidates):
 *   SPACE_L2: squared Euclidean distance sum((q-x)^2), as FAISS reports it; smaller = closer.
 *   SPACE_IP: inner product sum(q*x); larger = closer (normalise the vectors yourself for
 *             cosine similarity).
 * Result rows are sorted best first; missing slots (fewer than k vectors) have id -1 and
 * distance +INFINITY (L2) or -INFINITY (IP).
 *
 * Index types that cannot remove vectors (HNSW, plain PQ) keep stale entries for deleted
 * or replaced ids; a search over-fetches by the number of stale entries and drops every
 * candidate that is not live in the memory copy (the live map is the tombstone set), and
 * space_rebuild() purges them. Index types that need training (IVF, PQ) run an exact Flat
 * index until a rebuild has enough vectors to train (space_info says which is active).
 *
 * Threads: every function is thread-safe. Searches hold the space's read lock and run in
 * parallel; adds and removes hold the write lock briefly; a rebuild copies the vectors,
 * builds the new index with no lock held, then swaps it in under the write lock after
 * replaying the writes it missed. No search ever sees a half-built index.
 *
 * Snapshots: space_snapshot() writes <prefix>.space-<name>.faiss (FAISS's format) and
 * <prefix>.space-<name>.manifest (text key=value: space, dim, metric, index type, live
 * count, max id, checksum of the live vector set, byte size and FNV-1a 64 of the index
 * file), each atomically. space_open_index() loads the snapshot only if the manifest
 * matches the vectors loaded from SQLite and the file matches its checksum; otherwise it
 * rebuilds and says why.
 */
#ifndef LSD_SPACE_H
#define LSD_SPACE_H

#include <stddef.h>
#include <stdint.h>

#define SPACE_NAME_MAX 64
#define SPACE_TYPE_MAX 64
#define SPACE_PROV_MAX 256
#define SPACE_DIM_MAX 65536
#define SPACE_K_MAX 100000

/* Exact searches of this many queries at once go through BLAS (spaces_create sets it):
 * one pass over the vectors for the whole batch. The coalescer aims for it. */
#define SPACE_BLAS_MIN_NQ 8

enum space_metric { SPACE_L2 = 1, SPACE_IP = 2 };

struct space_def {
	char name[SPACE_NAME_MAX];	/* [A-Za-z0-9_.-], not starting with '.' */
	int dim;			/* 1..SPACE_DIM_MAX */
	enum space_metric metric;
	char index_type[SPACE_TYPE_MAX];	/* FAISS factory string; "" = "Flat" */
	char provenance[SPACE_PROV_MAX];	/* model name/version, free text */
	/* FAISS search parameters ("nprobe=16,efSearch=64"); "" = those defaults. */
	char params[SPACE_TYPE_MAX];
};

struct space_info {
	struct space_def def;
	char index_active[SPACE_TYPE_MAX];	/* what runs now: def.index_type or "Flat" */
	size_t count;		/* live vectors */
	size_t index_total;	/* entries in the FAISS index, stale ones included */
	size_t stale;		/* index_total - count */
	int64_t max_id;
	uint64_t checksum;	/* of the live (id, vector) set, order-independent */
	uint64_t writes_since_snapshot;
	int removable;		/* the index type supports removal */
	int ready;		/* an index is built or loaded */
};

struct space;
struct spaces;

/* 0 if def is acceptable (name, dim, metric, a factory string FAISS accepts), else -1. */
int space_def_check(const struct space_def *def, char *err);
const char *space_metric_name(enum space_metric m);	/* "l2" / "ip" */
int space_metric_parse(const char *s, enum space_metric *out /* OUT */);

/* An empty space: no vectors, index ready (empty). */
int space_create(const struct space_def *def, struct space **out /* OUT */, char *err);
void space_destroy(struct space *sp);
const char *space_name(const struct space *sp);
int space_dim(const struct space *sp);
void space_get_info(struct space *sp, struct space_info *out /* OUT */);

/* Start-up path: put vectors into the memory copy only (chunk by chunk, e.g. from a
 * store_vec_foreach callback), marking the index not ready; then space_open_index(). */
int space_load_vectors(struct space *sp, const int64_t *ids, const float *vecs, size_t n,
		       char *err);

/* The memory copy as arrays, for the start-up snapshot (statesnap.c): space_copy_view
 * takes the space's read lock (writers wait) until space_copy_release. */
struct space_copy {
	size_t n;
	int dim;
	const int64_t *rid;	/* n lesion ids */
	const float *vec;	/* n x dim */
	const float *norm;	/* n squared norms */
	uint64_t checksum;	/* space_row_hash summed over the rows */
	int64_t max_id;
};
void space_copy_view(struct space *sp, struct space_copy *out /* OUT */);
void space_copy_release(struct space *sp);
/* Start-up path from a snapshot: install n rows (arrays from malloc, or vec a private
 * file mapping of vec_mapped bytes when vec_mapped > 0: the space owns them from here
 * on, also on failure) as the memory copy of an empty space, index not ready
 * (space_open_index next). Refuses ids <= 0, a repeated id, or a max_id that does not
 * match the ids (0, or -1 with err). */
int space_copy_adopt(struct space *sp, size_t n, int64_t *rid, float *vec, size_t vec_mapped,
		     float *norm, uint64_t checksum, int64_t max_id, char *err);

#define SPACE_OPEN_LOADED 1
#define SPACE_OPEN_REBUILT 2
/* Load the snapshot at prefix (NULL: no snapshot) if it matches, else rebuild. *how says
 * which, why (LSD_ERRLEN) says why in one line for the log. -1 only if the rebuild fails. */
int space_open_index(struct space *sp, const char *prefix, int *how /* OUT */,
		     char *why /* OUT */, char *err);
/* The heavy half of loading a snapshot, without the space, so that it can run on another
 * thread while the space's vectors load: the manifest checked against the definition, the
 * index file hashed and parsed. NULL for Flat (nothing to load), without a prefix, or out
 * of memory; a refused file is kept as such (space_open_index_with says why and
 * rebuilds). space_open_index_with then checks it against the space's vectors exactly as
 * space_open_index does (pre NULL or of another space: read now). */
struct space_preload;
struct space_preload *space_preload_index(const struct space_def *def, const char *prefix);
void space_preload_free(struct space_preload *p);
int space_open_index_with(struct space *sp, const char *prefix, struct space_preload *pre,
			  int *how /* OUT */, char *why /* OUT */, char *err);

/* Insert or replace n vectors (ids > 0, row-major n x dim). All-or-nothing: every vector
 * is checked (finite values, positive ids, no duplicate id in the batch) before any
 * change. */
int space_add(struct space *sp, const int64_t *ids, const float *vecs, size_t n, char *err);
/* The checks space_add makes, without touching the space: call before writing to SQLite. */
int space_check_vectors(const struct space *sp, const int64_t *ids, const float *vecs, size_t n,
			char *err);
/* Remove ids (unknown ones ignored); *removed counts the live ones removed (may be NULL). */
int space_remove(struct space *sp, const int64_t *ids, size_t n, size_t *removed /* OUT */,
		 char *err);

/* k nearest neighbours of nq queries (row-major nq x dim) through the index; batched
 * queries use BLAS for exact indexes. dist/ids: nq x k. 0 or -1 (e.g. k out of range,
 * non-finite query). */
int space_search(struct space *sp, const float *q, size_t nq, int k, float *dist /* OUT */,
		 int64_t *ids /* OUT */, char *err);
/* Threads one exact (Flat) search may use; default (0) the online processors, so a
 * batch runs on every core. Flat searches scan the memory copy (flatscan.h). */
void space_set_search_threads(int n);
/* Subset scans split over more than one thread so far (process-wide; for tests). */
unsigned long space_subset_splits(void);
/* Exact brute force over an explicit id subset (ids not in the space are skipped; a
 * duplicated id counts once only if the caller passes it once). For filtered search.
 * A subset of 4,096 ids or more is split over the search threads (same answer). */
int space_search_subset(struct space *sp, const float *q, size_t nq, int k,
			const int64_t *subset, size_t n_subset, float *dist /* OUT */,
			int64_t *ids /* OUT */, char *err);
/* Copy the stored vector of id into out (dim floats): 0, LSD_ENOTFOUND. */
int space_get_vector(struct space *sp, int64_t id, float *out /* OUT */);
/* 1 if id has a vector in the space. */
int space_has(struct space *sp, int64_t id);
/* A malloc'd copy of the live ids (any order); *n gets their count. */
int space_ids(struct space *sp, int64_t **out /* OUT */, size_t *n /* OUT */, char *err);

/* Rebuild the index from the memory copy off to the side and swap it in (trains
 * IVF/PQ when there are enough vectors; purges stale entries). */
int space_rebuild(struct space *sp, char *err);
/* Rebuilds in progress right now, over every space of the process (for /readyz). */
int space_rebuilds_running(void);
/* 1 when a rebuild would help: stale entries > max(1000, count/10), or an index type
 * waiting for training whose vector count has doubled since the last attempt. */
int space_needs_rebuild(struct space *sp);

/* Write the snapshot pair beside prefix (normally the database path). */
int space_snapshot(struct space *sp, const char *prefix, char *err);
/* Paths of the snapshot pair for prefix and name (buffers of n bytes). */
int space_snapshot_paths(const char *prefix, const char *name, char *index_path, char *manifest_path,
			 size_t n);

/* Order-independent checksum of a set of (id, vector) rows, the one the manifest
 * records: store_vec computes the same over SQLite. */
uint64_t space_row_hash(int64_t id, const float *vec, int dim);

/* ---- the registry of named spaces (the daemon owns one) ---- */
int spaces_create(struct spaces **out /* OUT */, char *err);
void spaces_destroy(struct spaces *r);	/* destroys the spaces it holds */
/* Hand sp to the registry (which then owns it); fails if the name is taken. */
int spaces_add(struct spaces *r, struct space *sp, char *err);
/* The space named name, or NULL. Spaces are never removed while the registry lives, so
 * the pointer stays valid until spaces_destroy(). */
struct space *spaces_get(struct spaces *r, const char *name);
size_t spaces_count(struct spaces *r);
struct space *spaces_at(struct spaces *r, size_t i);	/* in creation order */

#endif
