/* catalog.h - the lesion metadata search needs, held in memory: one compact entry per
 * lesion id (patient, study, type, split, sizes, location, gender, age, noisy flag).
 *
 * Filtered search evaluates its filter on every candidate, and batch search writes a
 * summary per hit: going to SQLite for each would cost microseconds a hit; the catalog
 * costs nanoseconds. It is derived from the store (catalog_load) and kept current by
 * the daemon on every add and delete. Entries are indexed directly by id (DeepLesion ids
 * are dense 1..N). Thread-safe: a rwlock; readers copy what they need.
 *
 * Beside the entries the catalog keeps posting lists (postings.h) of the equality fields
 * (patient, study, type, split, gender, noisy), maintained by every put and remove and
 * rebuilt by adopt, so that catalog_select resolves a selective filter from the lists
 * (~1% of 10^6 lesions: ~10^4 ids touched) instead of walking every entry.
 */
#ifndef LSD_CATALOG_H
#define LSD_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "lesion.h"
#include "store.h"

struct catalog_entry {
	int32_t patient, study, series, key_slice;
	float diam_mm[2];
	float loc[3];
	float age;		/* NAN when unknown */
	int8_t type;		/* 1..8, -1 */
	int8_t split;
	int8_t noisy;
	char gender;
	uint8_t present;
};

struct catalog;

int catalog_create(struct catalog **out /* OUT */, char *err);
void catalog_destroy(struct catalog *c);
/* Fill from every lesion in the store. */
int catalog_load(struct catalog *c, struct store *st, char *err);
int catalog_put(struct catalog *c, const struct lesion *l, char *err);
void catalog_remove(struct catalog *c, int64_t id);
/* Copy the entry for id: 0, or -1 when there is none. */
int catalog_get(struct catalog *c, int64_t id, struct catalog_entry *out /* OUT */);
/* Does the entry satisfy the filter (same semantics as store_filter_match)? */
int catalog_match(const struct store_filter *f, const struct catalog_entry *e);
void catalog_entry_from_lesion(const struct lesion *l, struct catalog_entry *e /* OUT */);
/* Which lesions a search may return: the filter (NULL: any), never skip_id (0: none),
 * and, by patient: with patient_only only the lesions of patient; with patient_skip none
 * of them. */
struct catalog_sel {
	const struct store_filter *filter;
	int64_t skip_id;
	int patient_only, patient_skip;
	int64_t patient;
};
/* Does entry id (e) pass sel? The one predicate catalog_select answers for all ids. */
int catalog_sel_match(const struct catalog_sel *s, int64_t id, const struct catalog_entry *e);
/* The ids passing sel, ascending, into a malloc'd array (*ids; free it, also when *n is
 * 0), *n of them, and *total the entries in the catalog. From the posting lists: the
 * smallest list (or union of one field's lists) that the filter names, intersected with
 * the others that are not much larger, the rest checked entry by entry; a walk of every
 * entry only when the filter names no equality field. 0, or -1 with err. */
int catalog_select(struct catalog *c, const struct catalog_sel *sel, int64_t **ids /* OUT */,
		   size_t *n /* OUT */, size_t *total /* OUT */, char *err);
/* How many selects walked every entry (for tests and /metrics). */
uint64_t catalog_select_walks(struct catalog *c);
/* Read-locked access for scans: lock, then entries[1..max_id], then unlock. */
const struct catalog_entry *catalog_lock(struct catalog *c, int64_t *max_id /* OUT */);
void catalog_unlock(struct catalog *c);
size_t catalog_count(struct catalog *c);
/* Start-up path from a snapshot (statesnap.c): install entries[0..n) (from malloc: the
 * catalog owns them from here on, also on failure) into an empty catalog. Refuses an
 * entry of an impossible shape (0, or -1 with err). */
int catalog_adopt(struct catalog *c, struct catalog_entry *e, int64_t n, char *err);
/* Move everything src holds (entries and posting lists) into the empty dst; src is left
 * empty. Lets a catalog be built aside (another thread, statesnap.c) and installed at
 * once. 0, or -1 with err when dst is not empty. */
int catalog_move(struct catalog *dst, struct catalog *src, char *err);

#endif
