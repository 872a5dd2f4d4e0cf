/* postings.h - posting lists: for each field of a record set and each value of that
 * field, the ascending ids (uint32) of the records holding that value; plus the sorted-list
 * operations that resolve a conjunction of "field in {values}" without visiting the other
 * records (a k-way union of one field's lists, marking a list's members in another).
 *
 * The catalog (catalog.c) keeps one set over its entries (patient, study, type, split,
 * gender, noisy) so that a filter keeping 1% of 10^6 lesions touches ~10^4 ids, not
 * 10^6 entries. Values are int64 keys, hashed per field (open addressing); a key whose
 * list empties keeps its slot. Ids inserted in ascending order append in O(1); others
 * cost a binary search and a memmove of the list's tail. Memory: 4 bytes an id a field,
 * plus ~40 bytes a distinct value. Not thread-safe: the owner locks.
 */
#ifndef LSD_POSTINGS_H
#define LSD_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#define POSTINGS_MAX_FIELDS 8
#define POSTINGS_UNION_MAX 64	/* lists one postings_union merges */

struct postings;

int postings_create(int nfields, struct postings **out /* OUT */, char *err);
void postings_destroy(struct postings *p);
/* Forget every list (the hash tables keep their size). */
void postings_clear(struct postings *p);
/* Add id to field's list for key: 0, or -1 (out of memory; the list is unchanged).
 * Adding an id already there changes nothing. */
int postings_insert(struct postings *p, int field, int64_t key, uint32_t id);
/* Take id out of field's list for key (nothing when it is not there). */
void postings_erase(struct postings *p, int field, int64_t key, uint32_t id);
/* field's list for key, ascending, *n ids; NULL with *n = 0 when there is none. Valid
 * until the next insert or erase. */
const uint32_t *postings_get(const struct postings *p, int field, int64_t key, size_t *n /* OUT */);
/* Ids in all postings lists of field, over every key (the field's record count). */
size_t postings_total(const struct postings *p, int field);

/* Set mark[i] = 1 for each a[i] found in b (both ascending); other marks untouched.
 * Gallops through b: O(na log(nb / na)). */
void postings_mark(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint8_t *mark);
/* Merge k (1..POSTINGS_UNION_MAX) ascending lists (pairwise disjoint or not) into out (room for the sum of
 * their lengths), ascending, duplicates kept once; returns the count. */
size_t postings_union(const uint32_t *const *lists, const size_t *lens, int k, uint32_t *out);

#endif
