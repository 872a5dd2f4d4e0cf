/* kheap.h - the k best candidates of a scan: a bounded max-heap (the worst kept at the
 * root) of (badness, id) pairs, smaller badness better, ties to the lower id. Shared by
 * the exact scans of index/space.c (ids are lesion ids) and index/flatscan.c (ids are
 * row numbers), so that both rank and break ties the same way. Not thread-safe: one
 * heap per query and thread.
 */
#ifndef LSD_KHEAP_H
#define LSD_KHEAP_H

#include <stddef.h>
#include <stdint.h>

struct kcand {
	float b;	/* badness: squared L2, or minus the inner product */
	int64_t id;
};

/* Is a ranked after b? */
static inline int kcand_worse(const struct kcand *a, const struct kcand *b)
{
	return a->b > b->b || (a->b == b->b && a->id > b->id);
}

/* qsort comparator: best first. */
int kcand_cmp(const void *a, const void *b);

/* Offer c to the heap h of *n (<= k) entries: kept when it is among the k best so far. */
void kheap_push(struct kcand *h, size_t *n, size_t k, struct kcand c);

#endif
