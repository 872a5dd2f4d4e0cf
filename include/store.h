/* store.h - the metadata store: SQLite, the system of record for lesions, patients,
 * studies, series (and, in store_vec / store_graph, vectors and graph edges).
 *
 * The only module that includes sqlite3.h (files index/store*.c). Opening applies the
 * numbered migrations (migrations.h) in order, each in one transaction, recorded in
 * PRAGMA user_version; a database newer than this binary is refused. WAL mode.
 * Thread-safe: an internal pool of connections; writes are serialised by a mutex and
 * run in one transaction each (all-or-nothing).
 */
#ifndef LSD_STORE_H
#define LSD_STORE_H

#include <stddef.h>
#include <math.h>
#include <stdint.h>

#include "lesion.h"

struct store;


int store_open(const char *path, struct store **out /* OUT */, char *err);
/* Open read-only (index/store_ro.c): nothing is ever written to the database; SQLite may
 * leave -wal/-shm files beside it when the directory is writable. When it is not, or
 * with immutable (a backup: a file nobody changes), opened immutable: no locks, no side
 * files. The schema must be this lesiond's current one. For batch jobs: many processes
 * on many machines can share one copy. */
int store_open_ro(const char *path, int immutable, struct store **out /* OUT */, char *err);
int store_readonly(const struct store *st);
void store_close(struct store *st);
int store_schema_version(struct store *st);

/* Backups (index/store_backup.c): a consistent copy of the live database into dest
 * (replaced), through SQLite's online backup API; writers go on meanwhile. */
int store_backup(struct store *st, const char *dest, char *err);
/* PRAGMA integrity_check: 0 when it says "ok", else -1 with the first finding. */
int store_integrity(struct store *st, char *err);

struct store_counts {
	int64_t lesions, patients, studies, series;
};
int store_counts(struct store *st, struct store_counts *out /* OUT */, char *err);

/* 0, LSD_ENOTFOUND, or -1 with err. Repeats are answered from a small in-process cache
 * of rows (store_lcache.c), valid until this process's next write transaction ends;
 * writes by other processes to the same file are not seen (read-only stores: no cache). */
int store_lesion_get(struct store *st, int64_t id, struct lesion *out /* OUT */, char *err);
/* Reads store_lesion_get answered from that cache, and those that went to SQLite. */
void store_lesion_cache_stats(struct store *st, uint64_t *hits /* OUT */,
			      uint64_t *misses /* OUT */);

/* Insert lesions in one transaction. With ids set (id > 0) each is inserted under that
 * id: an existing identical row is left alone (counted in *same), an existing different
 * row fails the whole batch (err names the id). With id == 0 a new id is assigned
 * (max id + 1) and written back into l[i].id. On any failure nothing is written. */
int store_lesion_insert(struct store *st, struct lesion *l, size_t n, size_t *added /* OUT */,
			size_t *same /* OUT */, char *err);

/* Delete one lesion and everything hanging off it (vectors, graph edges). */
int store_lesion_delete(struct store *st, int64_t id, char *err);

struct store_filter {
	int64_t patient;	/* 0: any */
	int64_t study;		/* 0: any */
	unsigned type_mask;	/* bit t (1..8) set = allowed; bit 0 = unlabelled; 0: any */
	unsigned split_mask;	/* bit s (1..3); 0: any */
	double min_diam_mm, max_diam_mm;	/* long diameter; <= 0 / <= 0: no bound */
	char gender;		/* 0 any, 'M', 'F' */
	double min_age, max_age;	/* NAN: no bound (lesions with unknown age excluded when bounded) */
	int exclude_noisy;
};
void store_filter_init(struct store_filter *f);
/* 1 if the lesion satisfies the filter. */
/* The fields a filter looks at, from a lesion or a catalog entry: the one predicate both
 * use. diam_float: the long diameter was rounded to float (the catalog), so the diameter
 * bounds are rounded to float too and boundary cases agree with the store's exact ones
 * to float precision. age NAN: unknown (excluded by either age bound). */
struct store_filter_fields {
	int64_t patient, study;
	int type, split, noisy;
	double diam_mm, age;
	int diam_float;
	char gender;
};
/* inline: the catalog runs it on every entry of a filtered scan */
static inline int store_filter_test(const struct store_filter *f, const struct store_filter_fields *x)
{
	double lo = x->diam_float ? (double)(float)f->min_diam_mm : f->min_diam_mm;
	double hi = x->diam_float ? (double)(float)f->max_diam_mm : f->max_diam_mm;

	if (f->patient && x->patient != f->patient)
		return 0;
	if (f->study && x->study != f->study)
		return 0;
	if (f->type_mask && !(f->type_mask & (1u << (x->type > 0 ? x->type : 0))))
		return 0;
	if (f->split_mask && !(f->split_mask & (1u << x->split)))
		return 0;
	if (f->min_diam_mm > 0 && !(x->diam_mm >= lo))
		return 0;
	if (f->max_diam_mm > 0 && !(x->diam_mm <= hi))
		return 0;
	if (f->gender && x->gender != f->gender)
		return 0;
	if (!isnan(f->min_age) && !(x->age >= f->min_age))
		return 0;	/* NaN age fails the comparison: excluded */
	if (!isnan(f->max_age) && !(x->age <= f->max_age))
		return 0;
	if (f->exclude_noisy && x->noisy)
		return 0;
	return 1;
}
int store_filter_match(const struct store_filter *f, const struct lesion *l);

/* A page of lesions with id > after, in id order; *n_out <= limit. */
int store_lesion_list(struct store *st, const struct store_filter *f, int64_t after, int limit,
		      struct lesion *out /* OUT: limit entries */, int *n_out /* OUT */, char *err);

/* Call fn for every lesion in id order (no lock held across calls beyond the read
 * transaction). Stops early when fn returns non-zero, and returns that value. */
int store_lesion_foreach(struct store *st, int (*fn)(const struct lesion *l, void *arg),
			 void *arg, char *err);

/* Every lesion in id order into a malloc'd array (*v, free it; NULL when empty). */
int store_lesion_all(struct store *st, struct lesion **v /* OUT */, size_t *n /* OUT */,
		     char *err);

/* Largest lesion id (0 when empty). */
int64_t store_max_lesion_id(struct store *st);

/* Small key/value table for the modules' own bookkeeping. */
int store_meta_get(struct store *st, const char *key, char *val, size_t n, char *err);
int store_meta_set(struct store *st, const char *key, const char *val, char *err);

/* The file path the store was opened on (for snapshots beside it). */
const char *store_path(const struct store *st);

/* ---- the lesion graph (index/store_graph.c; the computation is graph.h's) ---- */
struct graph_params;
struct graph_edge;
struct space;

/* All lesions of one patient, ordered by (study, id); malloc'd, *n = 0 (out NULL) when
 * the patient has none. */
int store_patient_lesions(struct store *st, int64_t patient, struct lesion **out /* OUT */,
			  size_t *n /* OUT */, char *err);
/* Every patient id that has lesions, ascending; malloc'd. */
int store_patient_ids(struct store *st, int64_t **out /* OUT */, size_t *n /* OUT */,
		      char *err);
/* Replace one patient's stored edges in one write transaction: the patient's lesions
 * (ordered by study, id; n = 0 when none is left) are read while the write lock keeps
 * other writers out, build computes the edges from them (the edges stay the callback's:
 * they must live until it is called again or the replacement returns), and the old edges
 * are replaced all-or-nothing. build returns 0, or -1 with err (nothing changes). The
 * graph is graphrun_rebuild's (graphrun.h); the store only reads and writes rows. */
typedef int (*store_graph_build_fn)(void *cls, const struct lesion *l, size_t n,
				    const struct graph_edge **e /* OUT */, size_t *ne /* OUT */,
				    char *err);
int store_graph_replace(struct store *st, int64_t patient, store_graph_build_fn build, void *cls,
			char *err);
/* The stored edges of one patient, in (from, to) order; malloc'd. */
int store_graph_edges(struct store *st, int64_t patient, struct graph_edge **out /* OUT */,
		      size_t *n /* OUT */, char *err);

#endif
