/* space.c - named embedding spaces over the FAISS C API (the space module, space*.c, is
 * the only one that includes FAISS; space_int.h is what its files share).
 *
 * Called by the daemon (searches from request threads, writes from the vector handlers,
 * snapshots from its maintenance path), by import-vectors and knn on the command line,
 * and by the search module for filtered (subset) scans. Each space owns: a plain float
 * copy of its live vectors (row-major, rows swapped on removal) with an open-addressing
 * id -> row map, an order-independent checksum of that set, and one FAISS index
 * (an IVF holding the lesion ids itself, else an IndexIDMap around whatever the factory
 * string builds) proposing candidates. Expected
 * load: 10^4-10^6 vectors of dimension 64-2048, thousands of searches a second, writes in
 * batches. The memory copy is the truth; the index is derived and can be rebuilt, loaded
 * from a snapshot, or dropped (searches then scan the copy exactly) at any time.
 */
#define _GNU_SOURCE	/* pthread_rwlockattr_setkind_np: writers must not starve under searches */
#include "space_int.h"
#include "flatscan.h"
#include "kheap.h"
#include "util.h"

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/IndexScalarQuantizer_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/utils/distances_c.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROWS_MAX ((size_t)1 << 31)		/* vectors per space */
#define JOURNAL_MAX ((size_t)1 << 24)		/* writes replayed after one rebuild */
#define TRAIN_MAX ((size_t)131072)		/* training sample */
/* rows per FAISS add: in practice one call (IndexFlat grows by copying) */
#define ADD_CHUNK ((size_t)1 << 26)
#define SEARCH_CELLS ((size_t)1 << 22)		/* nq * k' cells per FAISS search call */
#define OMP_MIN_NQ 32				/* fewer queries: one thread, no OpenMP team */

/* ---------- the space ---------- */

int space_faiss_errf(char *err, const char *what)
{
	const char *m = faiss_get_last_error();

	return errf(err, "%s: %s", what, m && *m ? m : "FAISS error");
}

const char *space_metric_name(enum space_metric m)
{
	return m == SPACE_IP ? "ip" : "l2";
}

int space_metric_parse(const char *s, enum space_metric *out)
{
	if (!s)
		return -1;
	if (!strcmp(s, "l2") || !strcmp(s, "L2")) {
		*out = SPACE_L2;
		return 0;
	}
	if (!strcmp(s, "ip") || !strcmp(s, "IP") || !strcmp(s, "inner_product")) {
		*out = SPACE_IP;
		return 0;
	}
	return -1;
}

FaissMetricType space_faiss_metric(enum space_metric m)
{
	return m == SPACE_IP ? METRIC_INNER_PRODUCT : METRIC_L2;
}

const char *space_def_type(const struct space_def *d)
{
	return d->index_type[0] ? d->index_type : "Flat";
}

const char *space_def_params(const struct space_def *d)
{
	if (d->params[0])
		return d->params;
	if (strstr(space_def_type(d), "IVF"))
		return "nprobe=16";
	if (strstr(space_def_type(d), "HNSW"))
		return "efSearch=64";
	return "";
}

static int name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (!n || n >= SPACE_NAME_MAX || s[0] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

int space_apply_params(FaissIndex *idx, const char *params, char *err)
{
	FaissParameterSpace *ps = NULL;
	int rc = -1;

	if (!params || !*params)
		return 0;
	if (faiss_ParameterSpace_new(&ps)) {
		space_faiss_errf(err, "FAISS parameter space");
		goto out;
	}
	if (faiss_ParameterSpace_set_index_parameters(ps, idx, params)) {
		space_faiss_errf(err, "search parameters");
		goto out;
	}
	rc = 0;
out:
	faiss_ParameterSpace_free(ps);
	return rc;
}

int space_def_check(const struct space_def *def, char *err)
{
	FaissIndex *idx = NULL;
	int rc = -1;

	if (!name_ok(def->name))
		return errf(err, "space name '%s': use 1-%d of [A-Za-z0-9_.-], not starting with '.'",
			    def->name, SPACE_NAME_MAX - 1);
	if (def->dim < 1 || def->dim > SPACE_DIM_MAX)
		return errf(err, "space %s: dimension %d out of range 1..%d", def->name, def->dim,
			    SPACE_DIM_MAX);
	if (def->metric != SPACE_L2 && def->metric != SPACE_IP)
		return errf(err, "space %s: metric must be l2 or ip", def->name);
	if (memchr(def->provenance, '\n', strnlen(def->provenance, SPACE_PROV_MAX)) ||
	    memchr(def->provenance, '\r', strnlen(def->provenance, SPACE_PROV_MAX)))
		return errf(err, "space %s: provenance must be one line", def->name);
	if (strchr(space_def_type(def), '\n') || strchr(def->params, '\n'))
		return errf(err, "space %s: index type must be one line", def->name);
	if (faiss_index_factory(&idx, def->dim, space_def_type(def), space_faiss_metric(def->metric))) {
		char m[LSD_ERRLEN];

		space_faiss_errf(m, "FAISS");
		errf(err, "space %s: index type '%s' not accepted (%s)", def->name, space_def_type(def), m);
		goto out;
	}
	if (space_apply_params(idx, space_def_params(def), err))
		goto out;
	rc = 0;
out:
	faiss_Index_free(idx);
	return rc;
}

uint64_t space_row_hash(int64_t id, const float *vec, int dim)
{
	unsigned char le[8];
	uint64_t h, u = (uint64_t)id;
	int i;

	for (i = 0; i < 8; i++)
		le[i] = (unsigned char)(u >> (8 * i));
	h = fnv1a64(le, 8, 0);
	h = fnv1a64(vec, (size_t)dim * sizeof(float), h);
	/* splitmix64 finaliser: the set checksum is a sum of these */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

int space_create(const struct space_def *def, struct space **out, char *err)
{
	struct space *sp = NULL;

	*out = NULL;
	if (space_def_check(def, err))
		return -1;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return errf(err, "out of memory");
	sp->def = *def;
	if (!sp->def.index_type[0])
		snprintf(sp->def.index_type, sizeof(sp->def.index_type), "Flat");
	{
		pthread_rwlockattr_t a;

		pthread_rwlockattr_init(&a);
		pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&sp->lock, &a);
		pthread_rwlockattr_destroy(&a);
	}
	pthread_mutex_init(&sp->build_mu, NULL);
	sp->loaded = 1;	/* an empty space is ready; space_load_vectors() clears this */
	if (space_rebuild(sp, err)) {
		space_destroy(sp);
		return -1;
	}
	*out = sp;
	return 0;
}

static void vec_free(float *v, size_t mapped)
{
	if (mapped)
		munmap(v, mapped);
	else
		free(v);
}

void space_destroy(struct space *sp)
{
	if (!sp)
		return;
	faiss_Index_free(sp->index);
	idmap_free(&sp->map);
	vec_free(sp->vec, sp->vec_mapped);
	free(sp->norm);
	free(sp->rid);
	free(sp->journal);
	pthread_rwlock_destroy(&sp->lock);
	pthread_mutex_destroy(&sp->build_mu);
	free(sp);
}

const char *space_name(const struct space *sp)
{
	return sp->def.name;
}

int space_dim(const struct space *sp)
{
	return sp->def.dim;
}

size_t space_index_total(const struct space *sp)
{
	return sp->native ? sp->n : sp->index ? (size_t)faiss_Index_ntotal(sp->index) : 0;
}

void space_get_info(struct space *sp, struct space_info *o)
{
	pthread_rwlock_rdlock(&sp->lock);
	memset(o, 0, sizeof(*o));
	o->def = sp->def;
	snprintf(o->index_active, sizeof(o->index_active), "%s", sp->index || sp->native ? sp->active : "none");
	o->count = sp->n;
	o->index_total = space_index_total(sp);
	o->stale = o->index_total > sp->n ? o->index_total - sp->n : 0;
	o->max_id = sp->max_id;
	o->checksum = sp->checksum;
	o->writes_since_snapshot = sp->writes - sp->snap_writes + (sp->snap_stale ? 1 : 0);
	o->removable = sp->removable;
	o->ready = sp->loaded && (sp->index != NULL || sp->native);
	pthread_rwlock_unlock(&sp->lock);
}

/* ---------- memory copy (write lock held) ---------- */

static int mem_reserve(struct space *sp, size_t more)
{
	size_t need = sp->n + more, cap = sp->cap ? sp->cap : 256;
	float *v, *nv;
	int64_t *r;

	if (need > ROWS_MAX)
		return -1;
	if (idmap_reserve(&sp->map, more))
		return -1;
	if (need <= sp->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (sp->vec_mapped) {	/* a snapshot mapping cannot grow: move to the heap */
		v = malloc(cap * (size_t)sp->def.dim * sizeof(float));
		if (!v)
			return -1;
		memcpy(v, sp->vec, sp->n * (size_t)sp->def.dim * sizeof(float));
		munmap(sp->vec, sp->vec_mapped);
		sp->vec_mapped = 0;
	} else if (!(v = realloc(sp->vec, cap * (size_t)sp->def.dim * sizeof(float)))) {
		return -1;
	}
	sp->vec = v;
	nv = realloc(sp->norm, cap * sizeof(float));
	if (!nv)
		return -1;
	sp->norm = nv;
	r = realloc(sp->rid, cap * sizeof(int64_t));
	if (!r)
		return -1;
	sp->rid = r;
	sp->cap = cap;
	return 0;
}

static float *row_ptr(const struct space *sp, size_t row)
{
	return sp->vec + row * (size_t)sp->def.dim;
}

/* Room reserved by mem_reserve(). */
static void mem_put(struct space *sp, int64_t id, const float *v)
{
	size_t d = (size_t)sp->def.dim, row;

	if (idmap_find(&sp->map, id, &row)) {
		sp->checksum -= space_row_hash(id, row_ptr(sp, row), sp->def.dim);
	} else {
		row = sp->n++;
		sp->rid[row] = id;
		idmap_put(&sp->map, id, row);
	}
	memcpy(row_ptr(sp, row), v, d * sizeof(float));
	sp->norm[row] = flatscan_norm(v, d);
	sp->checksum += space_row_hash(id, v, sp->def.dim);
	if (id > sp->max_id)
		sp->max_id = id;
}

static int mem_del(struct space *sp, int64_t id)
{
	size_t row, last, i;

	if (!idmap_find(&sp->map, id, &row))
		return 0;
	sp->checksum -= space_row_hash(id, row_ptr(sp, row), sp->def.dim);
	idmap_del(&sp->map, id);
	last = --sp->n;
	if (row != last) {
		memcpy(row_ptr(sp, row), row_ptr(sp, last), (size_t)sp->def.dim * sizeof(float));
		sp->norm[row] = sp->norm[last];
		sp->rid[row] = sp->rid[last];
		idmap_put(&sp->map, sp->rid[row], row);
	}
	if (id == sp->max_id) {
		sp->max_id = 0;
		for (i = 0; i < sp->n; i++)
			if (sp->rid[i] > sp->max_id)
				sp->max_id = sp->rid[i];
	}
	return 1;
}

static void journal_add(struct space *sp, const int64_t *ids, size_t n)
{
	if (!sp->journaling || sp->joverflow)
		return;
	if (sp->jn + n > sp->jcap) {
		size_t cap = sp->jcap ? sp->jcap : 1024;
		int64_t *j;

		while (cap < sp->jn + n)
			cap *= 2;
		if (cap > JOURNAL_MAX || !(j = realloc(sp->journal, cap * sizeof(*j)))) {
			sp->joverflow = 1;
			return;
		}
		sp->journal = j;
		sp->jcap = cap;
	}
	memcpy(sp->journal + sp->jn, ids, n * sizeof(*ids));
	sp->jn += n;
}

/* A FAISS write failed on the live index: drop it; searches scan the copy exactly
 * until space_rebuild() (space_needs_rebuild() says so). */
static void drop_index(struct space *sp)
{
	faiss_Index_free(sp->index);
	sp->index = NULL;
	sp->native = 0;
}

static int remove_from_index(FaissIndex *idx, const int64_t *ids, size_t n)
{
	FaissIDSelectorBatch *sel = NULL;
	size_t nrem = 0;
	int rc;

	if (!n)
		return 0;
	if (faiss_IDSelectorBatch_new(&sel, n, ids))
		return -1;
	rc = faiss_Index_remove_ids(idx, (FaissIDSelector *)sel, &nrem);
	faiss_IDSelector_free((FaissIDSelector *)sel);
	return rc ? -1 : 0;
}

int space_check_vectors(const struct space *sp, const int64_t *ids, const float *vecs, size_t n,
			char *err)
{
	size_t i, j, d = (size_t)sp->def.dim;

	for (i = 0; i < n; i++) {
		if (ids[i] <= 0)
			return errf(err, "lesion id %" PRId64 " is not positive", ids[i]);
		for (j = 0; j < d; j++)
			if (!isfinite(vecs[i * d + j]))
				return errf(err, "vector for lesion %" PRId64 ": component %zu is not finite",
					    ids[i], j);
	}
	if (n > 1) {
		struct idmap seen = {0};

		if (idmap_reserve(&seen, n))
			return errf(err, "out of memory");
		for (i = 0; i < n; i++) {
			if (idmap_find(&seen, ids[i], NULL)) {
				idmap_free(&seen);
				return errf(err, "lesion id %" PRId64 " appears twice in the batch", ids[i]);
			}
			idmap_put(&seen, ids[i], i);
		}
		idmap_free(&seen);
	}
	return 0;
}

int space_load_vectors(struct space *sp, const int64_t *ids, const float *vecs, size_t n,
		       char *err)
{
	size_t i;
	int rc = -1;

	if (space_check_vectors(sp, ids, vecs, n, err))
		return -1;
	pthread_rwlock_wrlock(&sp->lock);
	if (mem_reserve(sp, n)) {
		errf(err, "space %s: out of memory for %zu more vectors", sp->def.name, n);
		goto out;
	}
	for (i = 0; i < n; i++)
		mem_put(sp, ids[i], vecs + i * (size_t)sp->def.dim);
	drop_index(sp);
	sp->loaded = 0;
	rc = 0;
out:
	pthread_rwlock_unlock(&sp->lock);
	return rc;
}

void space_copy_view(struct space *sp, struct space_copy *o)
{
	pthread_rwlock_rdlock(&sp->lock);
	o->n = sp->n;
	o->dim = sp->def.dim;
	o->rid = sp->rid;
	o->vec = sp->vec;
	o->norm = sp->norm;
	o->checksum = sp->checksum;
	o->max_id = sp->max_id;
}

void space_copy_release(struct space *sp)
{
	pthread_rwlock_unlock(&sp->lock);
}

int space_copy_adopt(struct space *sp, size_t n, int64_t *rid, float *vec, size_t vec_mapped,
		     float *norm, uint64_t checksum, int64_t max_id, char *err)
{
	struct idmap m = {0};
	int64_t mx = 0;
	size_t i;
	int rc = -1;

	pthread_rwlock_wrlock(&sp->lock);
	if (sp->n || n > ROWS_MAX) {
		errf(err, "space %s: not empty, or %zu rows", sp->def.name, n);
		goto out;
	}
	if (n && idmap_reserve(&m, n)) {
		errf(err, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (rid[i] <= 0 || idmap_find(&m, rid[i], NULL)) {
			errf(err, "space %s: row %zu: id %" PRId64 " not positive or repeated",
			     sp->def.name, i, rid[i]);
			goto out;
		}
		idmap_put(&m, rid[i], i);
		if (rid[i] > mx)
			mx = rid[i];
	}
	if (mx != max_id) {
		errf(err, "space %s: max id %" PRId64 ", expected %" PRId64, sp->def.name, mx, max_id);
		goto out;
	}
	idmap_free(&sp->map);
	vec_free(sp->vec, sp->vec_mapped);
	free(sp->norm);
	free(sp->rid);
	sp->map = m;
	sp->vec_mapped = vec_mapped;
	memset(&m, 0, sizeof(m));
	sp->vec = vec;
	sp->norm = norm;
	sp->rid = rid;
	vec = NULL;
	norm = NULL;
	rid = NULL;
	sp->n = sp->cap = n;
	sp->checksum = checksum;
	sp->max_id = max_id;
	drop_index(sp);
	sp->loaded = 0;
	rc = 0;
out:
	pthread_rwlock_unlock(&sp->lock);
	idmap_free(&m);
	if (vec)
		vec_free(vec, vec_mapped);
	free(norm);
	free(rid);
	return rc;
}

int space_add(struct space *sp, const int64_t *ids, const float *vecs, size_t n, char *err)
{
	int64_t *old = NULL;
	size_t i, nold = 0, row;
	int rc = -1;

	if (!n)
		return 0;
	if (space_check_vectors(sp, ids, vecs, n, err))
		return -1;
	pthread_rwlock_wrlock(&sp->lock);
	if (mem_reserve(sp, n) || !(old = malloc(n * sizeof(*old)))) {
		errf(err, "space %s: out of memory for %zu more vectors", sp->def.name, n);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (idmap_find(&sp->map, ids[i], &row))
			old[nold++] = ids[i];
	/* From here on nothing can fail for the caller: the memory copy is updated; a FAISS
	 * failure only drops the derived index. */
	if (sp->index && nold && sp->removable && remove_from_index(sp->index, old, nold))
		drop_index(sp);
	for (i = 0; i < n; i++)
		mem_put(sp, ids[i], vecs + i * (size_t)sp->def.dim);
	if (sp->index && faiss_Index_add_with_ids(sp->index, (int64_t)n, vecs, ids))
		drop_index(sp);
	journal_add(sp, ids, n);
	sp->writes += n;
	rc = 0;
out:
	pthread_rwlock_unlock(&sp->lock);
	free(old);
	return rc;
}

int space_remove(struct space *sp, const int64_t *ids, size_t n, size_t *removed, char *err)
{
	int64_t *gone = NULL;
	size_t i, ng = 0;
	int rc = -1;

	if (removed)
		*removed = 0;
	if (!n)
		return 0;
	if (!(gone = malloc(n * sizeof(*gone))))
		return errf(err, "out of memory");
	pthread_rwlock_wrlock(&sp->lock);
	for (i = 0; i < n; i++)
		if (mem_del(sp, ids[i]))
			gone[ng++] = ids[i];
	if (sp->index && sp->removable && remove_from_index(sp->index, gone, ng))
		drop_index(sp);
	journal_add(sp, gone, ng);
	sp->writes += ng;
	if (removed)
		*removed = ng;
	rc = 0;
	pthread_rwlock_unlock(&sp->lock);
	free(gone);
	return rc;
}

int space_get_vector(struct space *sp, int64_t id, float *out)
{
	size_t row;
	int rc = LSD_ENOTFOUND;

	pthread_rwlock_rdlock(&sp->lock);
	if (idmap_find(&sp->map, id, &row)) {
		memcpy(out, row_ptr(sp, row), (size_t)sp->def.dim * sizeof(float));
		rc = 0;
	}
	pthread_rwlock_unlock(&sp->lock);
	return rc;
}

int space_has(struct space *sp, int64_t id)
{
	int r;

	pthread_rwlock_rdlock(&sp->lock);
	r = idmap_find(&sp->map, id, NULL);
	pthread_rwlock_unlock(&sp->lock);
	return r;
}

int space_ids(struct space *sp, int64_t **out, size_t *n, char *err)
{
	int rc = 0;

	*out = NULL;
	*n = 0;
	pthread_rwlock_rdlock(&sp->lock);
	if (sp->n) {
		*out = malloc(sp->n * sizeof(int64_t));
		if (!*out) {
			rc = errf(err, "out of memory");
		} else {
			memcpy(*out, sp->rid, sp->n * sizeof(int64_t));
			*n = sp->n;
		}
	}
	pthread_rwlock_unlock(&sp->lock);
	return rc;
}

/* ---------- search ---------- */

/* "badness": squared L2, or minus the inner product; smaller is better. */
static float badness(const struct space *sp, const float *q, const float *x)
{
	float r;

	if (sp->def.metric == SPACE_IP) {
		faiss_fvec_inner_products_ny(&r, q, x, (size_t)sp->def.dim, 1);
		return -r;
	}
	faiss_fvec_L2sqr_ny(&r, q, x, (size_t)sp->def.dim, 1);
	return r;
}

static void emit(const struct space *sp, struct kcand *c, size_t nc, int k, float *dist, int64_t *ids)
{
	size_t i;

	if (nc > 1)
		qsort(c, nc, sizeof(*c), kcand_cmp);
	for (i = 0; i < (size_t)k; i++) {
		if (i < nc) {
			ids[i] = c[i].id;
			dist[i] = sp->def.metric == SPACE_IP ? -c[i].b : c[i].b;
		} else {
			ids[i] = -1;
			dist[i] = sp->def.metric == SPACE_IP ? -INFINITY : INFINITY;
		}
	}
}

static int check_query(const struct space *sp, const float *q, size_t nq, int k, char *err)
{
	size_t i, d = (size_t)sp->def.dim;

	if (k < 1 || k > SPACE_K_MAX)
		return errf(err, "k=%d out of range 1..%d", k, SPACE_K_MAX);
	for (i = 0; i < nq * d; i++)
		if (!isfinite(q[i]))
			return errf(err, "query %zu: component %zu is not finite", i / d, i % d);
	return 0;
}

/* Start loading a row of the copy into the cache. */
static void prefetch_row(const struct space *sp, size_t row)
{
	const char *p = (const char *)row_ptr(sp, row);
	size_t b, n = (size_t)sp->def.dim * sizeof(float);

	for (b = 0; b < n; b += 64)
		__builtin_prefetch(p + b);
}

/* Offer the subset ids' rows to the heap. The ids are scattered over the copy (a 1%
 * filter at 10^6: one row in 100), so each row and each id lookup is a cache miss; they
 * are resolved a block at a time with the map's slots prefetched, and each row
 * prefetched SUBSET_AHEAD rows before it is scored, so the misses overlap. */
#define SUBSET_BLOCK 64
#define SUBSET_AHEAD 8
static void scan_subset(const struct space *sp, const float *qv, const int64_t *subset,
			size_t n_subset, struct kcand *h, size_t *nh, size_t kk)
{
	size_t rows[SUBSET_BLOCK], i0, j, m, nr, row;
	int64_t rid[SUBSET_BLOCK];

	for (i0 = 0; i0 < n_subset; i0 += SUBSET_BLOCK) {
		m = LSD_MIN((size_t)SUBSET_BLOCK, n_subset - i0);
		for (j = 0; j < m; j++)
			idmap_prefetch(&sp->map, subset[i0 + j]);
		for (j = 0, nr = 0; j < m; j++) {
			if (!idmap_find(&sp->map, subset[i0 + j], &row))
				continue;
			rows[nr] = row;
			rid[nr++] = subset[i0 + j];
		}
		for (j = 0; j < nr && j < SUBSET_AHEAD; j++)
			prefetch_row(sp, rows[j]);
		for (j = 0; j < nr; j++) {
			struct kcand c;

			if (j + SUBSET_AHEAD < nr)
				prefetch_row(sp, rows[j + SUBSET_AHEAD]);
			c.b = badness(sp, qv, row_ptr(sp, rows[j]));
			c.id = rid[j];
			kheap_push(h, nh, kk, c);
		}
	}
}

static int threads_for_search(void);

/* A large subset (a filter keeping 1% of 10^6 is ~11,500 scattered rows, each a cache
 * miss) is split over the cores, as the unfiltered Flat scan is: chunks of SUBSET_CHUNK
 * ids taken in turn (a thread the scheduler delays leaves its chunks to the others), a
 * heap per thread, merged. The heaps rank by (badness, id), a total order, so the
 * merged k best are exactly the serial scan's. */
#define SUBSET_PAR_MIN 4096	/* ids from which the scan is split */
#define SUBSET_CHUNK 1024
static unsigned long subset_splits;

unsigned long space_subset_splits(void)
{
	return __atomic_load_n(&subset_splits, __ATOMIC_RELAXED);
}

struct subset_job {
	const struct space *sp;
	const float *qv;
	const int64_t *subset;
	size_t n_subset, kk;
	struct kcand *part;	/* kk per thread */
	size_t *pn;
};

static void subset_chunk(void *arg, size_t t, size_t c)
{
	struct subset_job *j = arg;

	scan_subset(j->sp, j->qv, j->subset + c * SUBSET_CHUNK,
		    LSD_MIN((size_t)SUBSET_CHUNK, j->n_subset - c * SUBSET_CHUNK),
		    j->part + t * j->kk, &j->pn[t], j->kk);
}

static void scan_subset_par(const struct space *sp, const float *qv, const int64_t *subset,
			    size_t n_subset, struct kcand *h, size_t *nh, size_t kk)
{
	size_t nt = (size_t)threads_for_search(), t, i;
	struct subset_job j = { sp, qv, subset, n_subset, kk, NULL, NULL };

	nt = LSD_MIN(nt, n_subset / (SUBSET_PAR_MIN / 2));
	if (nt >= 2) {
		j.part = malloc(nt * kk * sizeof(*j.part));
		j.pn = calloc(nt, sizeof(*j.pn));
	}
	if (!j.part || !j.pn) {	/* small, one core, or no memory: the serial scan */
		free(j.part);
		free(j.pn);
		scan_subset(sp, qv, subset, n_subset, h, nh, kk);
		return;
	}
	__atomic_fetch_add(&subset_splits, 1, __ATOMIC_RELAXED);
	flatscan_chunks((int)nt, (n_subset + SUBSET_CHUNK - 1) / SUBSET_CHUNK, subset_chunk, &j);
	for (t = 0; t < nt; t++)
		for (i = 0; i < j.pn[t]; i++)
			kheap_push(h, nh, kk, j.part[t * kk + i]);
	free(j.part);
	free(j.pn);
}

/* Exact scan of rows given by subset ids (or all rows when subset == NULL); lock held. */
static int scan_exact(const struct space *sp, const float *q, size_t nq, int k,
		      const int64_t *subset, size_t n_subset, float *dist, int64_t *ids, char *err)
{
	size_t qi, nh, row, kk = (size_t)k, d = (size_t)sp->def.dim;
	struct kcand *h = malloc(kk * sizeof(*h));

	if (!h)
		return errf(err, "out of memory");
	for (qi = 0; qi < nq; qi++) {
		const float *qv = q + qi * d;

		nh = 0;
		if (subset) {
			scan_subset_par(sp, qv, subset, n_subset, h, &nh, kk);
		} else {
			for (row = 0; row < sp->n; row++) {
				struct kcand c;

				c.b = badness(sp, qv, row_ptr(sp, row));
				c.id = sp->rid[row];
				kheap_push(h, &nh, kk, c);
			}
		}
		emit(sp, h, nh, k, dist + qi * kk, ids + qi * kk);
	}
	free(h);
	return 0;
}

int space_search_subset(struct space *sp, const float *q, size_t nq, int k, const int64_t *subset,
			size_t n_subset, float *dist, int64_t *ids, char *err)
{
	int rc;

	if (check_query(sp, q, nq, k, err))
		return -1;
	pthread_rwlock_rdlock(&sp->lock);
	static const int64_t none[1] = {0};

	rc = scan_exact(sp, q, nq, k, subset ? subset : none, subset ? n_subset : 0, dist, ids, err);
	pthread_rwlock_unlock(&sp->lock);
	return rc;
}

static void l2_ny(float *out, const float *x, const float *y, size_t d, size_t ny)
{
	faiss_fvec_L2sqr_ny(out, x, y, d, ny);
}

static void ip_ny(float *out, const float *x, const float *y, size_t d, size_t ny)
{
	faiss_fvec_inner_products_ny(out, x, y, d, ny);
}

/* Threads one exact Flat search may use (space_set_search_threads). */
static int search_threads;	/* 0: the online processors */

void space_set_search_threads(int n)
{
	__atomic_store_n(&search_threads, n < 1 ? 1 : n > 64 ? 64 : n, __ATOMIC_RELAXED);
}

static int threads_for_search(void)
{
	int n = __atomic_load_n(&search_threads, __ATOMIC_RELAXED);

	if (n <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);

		n = c < 1 ? 1 : c > 64 ? 64 : (int)c;
	}
	return n;
}

/* Flat: the memory copy is the database; candidates from flatscan (BLAS, cached norms,
 * FLAT_MARGIN more than k for the rounding of the BLAS distance), rescored exactly.
 * Read lock held. */
#define FLAT_MARGIN 8
static int search_flat(struct space *sp, const float *q, size_t nq, int k, float *dist,
		       int64_t *ids, char *err)
{
	size_t d = (size_t)sp->def.dim, kk = LSD_MIN((size_t)k + FLAT_MARGIN, sp->n);
	size_t chunk, q0, qi, j, nc;
	int64_t *rows = NULL;
	struct kcand *c = NULL;
	int rc = -1;

	chunk = LSD_MAX((size_t)1, LSD_MIN(nq, SEARCH_CELLS / (kk ? kk : 1)));
	rows = malloc(chunk * (kk ? kk : 1) * sizeof(*rows));
	c = malloc((kk ? kk : 1) * sizeof(*c));
	if (!rows || !c) {
		errf(err, "out of memory");
		goto out;
	}
	for (q0 = 0; q0 < nq; q0 += chunk) {
		size_t m = LSD_MIN(chunk, nq - q0);

		if (kk && flatscan_knn(sp->vec, sp->norm, sp->n, d, sp->def.metric == SPACE_IP,
				       q + q0 * d, m, kk,
				       threads_for_search(),
				       sp->def.metric == SPACE_IP ? ip_ny : l2_ny, rows, err))
			goto out;
		for (qi = 0; qi < m; qi++) {
			const float *qv = q + (q0 + qi) * d;

			for (j = 0, nc = 0; j < kk; j++) {
				int64_t r = rows[qi * kk + j];

				if (r < 0)
					break;
				c[nc].id = sp->rid[r];
				c[nc].b = badness(sp, qv, row_ptr(sp, (size_t)r));
				nc++;
			}
			emit(sp, c, nc, k, dist + (q0 + qi) * (size_t)k, ids + (q0 + qi) * (size_t)k);
		}
	}
	rc = 0;
out:
	free(rows);
	free(c);
	return rc;
}

int space_search(struct space *sp, const float *q, size_t nq, int k, float *dist, int64_t *ids,
		 char *err)
{
	size_t d = (size_t)sp->def.dim, total, stale, kk, chunk, q0, qi, j, nc, row;
	float *fd = NULL;
	int64_t *fl = NULL;
	struct kcand *c = NULL;
	int rc = -1;

	if (check_query(sp, q, nq, k, err))
		return -1;
	pthread_rwlock_rdlock(&sp->lock);
	if (!sp->loaded) {
		errf(err, "space %s: index not loaded yet", sp->def.name);
		goto out;
	}
	if (sp->native || (sp->index && !strcmp(sp->active, "Flat"))) {
		rc = search_flat(sp, q, nq, k, dist, ids, err);
		goto out;
	}
	if (!sp->index) {	/* dropped after a FAISS failure: exact scan of the copy */
		rc = scan_exact(sp, q, nq, k, NULL, 0, dist, ids, err);
		goto out;
	}
	total = space_index_total(sp);
	stale = total > sp->n ? total - sp->n : 0;
	kk = LSD_MIN((size_t)k + stale, total);
	if (kk == 0) {
		for (qi = 0; qi < nq; qi++)
			emit(sp, NULL, 0, k, dist + qi * (size_t)k, ids + qi * (size_t)k);
		rc = 0;
		goto out;
	}
	chunk = LSD_MAX((size_t)1, LSD_MIN(nq, SEARCH_CELLS / kk));
	fd = malloc(chunk * kk * sizeof(*fd));
	fl = malloc(chunk * kk * sizeof(*fl));
	c = malloc(kk * sizeof(*c));
	if (!fd || !fl || !c) {
		errf(err, "out of memory");
		goto out;
	}
	for (q0 = 0; q0 < nq; q0 += chunk) {
		size_t m = LSD_MIN(chunk, nq - q0);
		int r, omp_prev = omp_get_max_threads();

		/* a request thread's single query: no OpenMP team spinning beside it */
		if (m < OMP_MIN_NQ)
			omp_set_num_threads(1);
		r = faiss_Index_search(sp->index, (int64_t)m, q + q0 * d, (int64_t)kk, fd, fl);
		if (m < OMP_MIN_NQ)
			omp_set_num_threads(omp_prev);
		if (r) {
			space_faiss_errf(err, "search");
			goto out;
		}
		for (qi = 0; qi < m; qi++) {
			const float *qv = q + (q0 + qi) * d;
			size_t u = 0;

			/* drop stale candidates, rescore exactly from the copy, dedupe */
			for (j = 0, nc = 0; j < kk; j++) {
				int64_t id = fl[qi * kk + j];

				if (id <= 0 || !idmap_find(&sp->map, id, &row))
					continue;
				c[nc].id = id;
				c[nc].b = badness(sp, qv, row_ptr(sp, row));
				nc++;
			}
			qsort(c, nc, sizeof(*c), kcand_cmp);
			for (j = 0; j < nc; j++)
				if (!u || c[u - 1].id != c[j].id)
					c[u++] = c[j];
			emit(sp, c, u, k, dist + (q0 + qi) * (size_t)k, ids + (q0 + qi) * (size_t)k);
		}
	}
	rc = 0;
out:
	pthread_rwlock_unlock(&sp->lock);
	free(fd);
	free(fl);
	free(c);
	return rc;
}

/* ---------- building an index ---------- */

static int cmp_i64(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;

	return (a > b) - (a < b);
}

/* Whether the index supports remove_ids: the flat-codes and IVF families do; anything
 * else (HNSW, transforms, ...) is treated as append-only and gets tombstones. Decided by
 * type, not by trying: the C API prints every exception it catches. */
int space_probe_removable(FaissIndex *sub)
{
	return faiss_IndexFlat_cast(sub) || faiss_IndexIVF_cast(sub) ||
	       faiss_IndexScalarQuantizer_cast(sub);
}

/* Enough rows to train this index type? (k-means needs >= nlist points, PQ >= 256) */
static int can_train(FaissIndex *sub, const char *type, size_t n)
{
	FaissIndexIVF *ivf = faiss_IndexIVF_cast(sub);

	if (n == 0)
		return 0;
	if (ivf && n < faiss_IndexIVF_nlist(ivf))
		return 0;
	if (strstr(type, "PQ") && n < 256)
		return 0;
	return 1;
}

/* Build the index over n rows (train when the type needs it and it can): an IVF stores
 * the lesion ids in its lists itself; anything else goes under an IndexIDMap. Not an
 * IDMap around an IVF: IndexIDMap::remove_ids compacts its id map while the IVF keeps
 * the old positions, so after a delete the ids behind them are shifted (FAISS 1.7.3),
 * and its id map (and IDMap2's hash table, which only reconstruct() needs) would cost
 * 8-50 bytes a vector and a pass over all of them at every load.
 * *active gets the type that runs, *removable whether it supports removal. */
static int build_index(const struct space_def *def, const int64_t *rid, const float *vec, size_t n,
		       FaissIndex **out, char *active, int *removable, int *train_failed, char *err)
{
	FaissIndex *sub = NULL, *idx = NULL;
	FaissIndexIDMap *map = NULL;
	float *sample = NULL;
	size_t d = (size_t)def->dim, i;
	int rc = -1;

	*out = NULL;
	*train_failed = 0;
	if (faiss_index_factory(&sub, def->dim, space_def_type(def), space_faiss_metric(def->metric))) {
		space_faiss_errf(err, "index factory");
		goto out;
	}
	snprintf(active, SPACE_TYPE_MAX, "%s", space_def_type(def));
	if (!faiss_Index_is_trained(sub)) {
		size_t ns = LSD_MIN(n, TRAIN_MAX), step = ns ? n / ns : 1;
		int ok = 0;

		if (can_train(sub, space_def_type(def), n) && (sample = malloc(ns * d * sizeof(float)))) {
			for (i = 0; i < ns; i++)
				memcpy(sample + i * d, vec + i * step * d, d * sizeof(float));
			ok = faiss_Index_train(sub, (int64_t)ns, sample) == 0;
		}
		if (!ok) {	/* too few vectors to train: exact Flat until a later rebuild */
			*train_failed = 1;
			snprintf(active, SPACE_TYPE_MAX, "Flat");
			*removable = 1;
			rc = 0;	/* *out stays NULL: Flat is native (flatscan over the copy) */
			goto out;
		}
	}
	*removable = space_probe_removable(sub);
	if (faiss_IndexIVF_cast(sub)) {
		idx = sub;
	} else {
		if (faiss_IndexIDMap_new(&map, sub)) {
			space_faiss_errf(err, "IndexIDMap");
			goto out;
		}
		faiss_IndexIDMap_set_own_fields(map, 1);
		idx = (FaissIndex *)map;
	}
	sub = NULL;
	if (strcmp(active, "Flat") || !strcmp(space_def_type(def), "Flat"))
		if (space_apply_params(idx, space_def_params(def), err))
			goto out;
	for (i = 0; i < n; i += ADD_CHUNK) {
		size_t m = LSD_MIN(ADD_CHUNK, n - i);

		if (faiss_Index_add_with_ids(idx, (int64_t)m, vec + i * d, rid + i)) {
			space_faiss_errf(err, "index add");
			goto out;
		}
	}
	*out = idx;
	idx = NULL;
	rc = 0;
out:
	faiss_Index_free(sub);
	faiss_Index_free(idx);
	free(sample);
	return rc;
}

static int rebuild(struct space *sp, char *err)
{
	float *vec = NULL;
	int64_t *rid = NULL, *touched = NULL, *live = NULL;
	float *lvec = NULL;
	FaissIndex *idx = NULL, *old = NULL;
	char active[SPACE_TYPE_MAX];
	size_t n, d = (size_t)sp->def.dim, i, nt = 0, nl = 0, row;
	int removable = 0, train_failed = 0, rc = -1, locked = 0;

	pthread_mutex_lock(&sp->build_mu);
	pthread_rwlock_wrlock(&sp->lock);
	if (!strcmp(space_def_type(&sp->def), "Flat")) {
		/* exact Flat is flatscan over the memory copy: nothing to build or copy */
		old = sp->index;
		sp->index = NULL;
		sp->native = 1;
		snprintf(sp->active, sizeof(sp->active), "Flat");
		sp->removable = 1;
		sp->loaded = 1;
		sp->train_attempt_n = 0;
		pthread_rwlock_unlock(&sp->lock);
		rc = 0;
		goto out;
	}
	n = sp->n;
	if (n) {
		vec = malloc(n * d * sizeof(float));
		rid = malloc(n * sizeof(int64_t));
		if (!vec || !rid) {
			pthread_rwlock_unlock(&sp->lock);
			errf(err, "space %s: out of memory copying %zu vectors", sp->def.name, n);
			goto out;
		}
		memcpy(vec, sp->vec, n * d * sizeof(float));
		memcpy(rid, sp->rid, n * sizeof(int64_t));
	}
	sp->journaling = 1;
	sp->joverflow = 0;
	sp->jn = 0;
	pthread_rwlock_unlock(&sp->lock);

	if (build_index(&sp->def, rid, vec, n, &idx, active, &removable, &train_failed, err))
		goto out_journal;

	pthread_rwlock_wrlock(&sp->lock);
	locked = 1;
	if (sp->joverflow) {
		errf(err, "space %s: too many writes during the rebuild; try again", sp->def.name);
		goto out_journal;
	}
	/* replay the writes made meanwhile: take the ids out, put the live ones back */
	if (sp->jn && idx) {
		touched = malloc(sp->jn * sizeof(*touched));
		live = malloc(sp->jn * sizeof(*live));
		lvec = malloc(sp->jn * d * sizeof(float));
		if (!touched || !live || !lvec) {
			errf(err, "out of memory");
			goto out_journal;
		}
		memcpy(touched, sp->journal, sp->jn * sizeof(*touched));
		qsort(touched, sp->jn, sizeof(*touched), cmp_i64);
		for (i = 0; i < sp->jn; i++)
			if (!nt || touched[nt - 1] != touched[i])
				touched[nt++] = touched[i];
		if (removable && remove_from_index(idx, touched, nt)) {
			space_faiss_errf(err, "index remove");
			goto out_journal;
		}
		for (i = 0; i < nt; i++) {
			if (!idmap_find(&sp->map, touched[i], &row))
				continue;
			live[nl] = touched[i];
			memcpy(lvec + nl * d, row_ptr(sp, row), d * sizeof(float));
			nl++;
		}
		if (nl && faiss_Index_add_with_ids(idx, (int64_t)nl, lvec, live)) {
			space_faiss_errf(err, "index add");
			goto out_journal;
		}
	}
	old = sp->index;
	sp->index = idx;
	sp->native = idx == NULL;
	idx = NULL;
	snprintf(sp->active, sizeof(sp->active), "%s", active);
	sp->removable = removable;
	sp->loaded = 1;
	sp->snap_stale = 1;
	sp->train_attempt_n = train_failed ? n : 0;
	rc = 0;
out_journal:
	if (!locked)
		pthread_rwlock_wrlock(&sp->lock);
	sp->journaling = 0;
	sp->jn = 0;
	pthread_rwlock_unlock(&sp->lock);
out:
	pthread_mutex_unlock(&sp->build_mu);
	faiss_Index_free(old);
	faiss_Index_free(idx);
	free(vec);
	free(rid);
	free(touched);
	free(live);
	free(lvec);
	return rc;
}

/* Rebuilds in progress, all spaces together (readiness reports them). */
static int rebuilds_running;

int space_rebuild(struct space *sp, char *err)
{
	int rc;

	__atomic_add_fetch(&rebuilds_running, 1, __ATOMIC_RELAXED);
	rc = rebuild(sp, err);
	__atomic_sub_fetch(&rebuilds_running, 1, __ATOMIC_RELAXED);
	return rc;
}

int space_rebuilds_running(void)
{
	return __atomic_load_n(&rebuilds_running, __ATOMIC_RELAXED);
}

int space_needs_rebuild(struct space *sp)
{
	size_t total, stale;
	int r;

	pthread_rwlock_rdlock(&sp->lock);
	total = space_index_total(sp);
	stale = total > sp->n ? total - sp->n : 0;
	r = (!sp->index && !sp->native) || stale > LSD_MAX((size_t)1000, sp->n / 10) ||
	    (sp->train_attempt_n && sp->n >= 2 * sp->train_attempt_n);
	pthread_rwlock_unlock(&sp->lock);
	return r;
}
