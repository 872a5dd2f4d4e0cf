/* linkpairs.h - radiologist-linked lesion pairs: a CSV of `lesion_a,lesion_b` rows (ids as
 * in the database; other columns ignored), e.g. ../shared/data/deeplesion/
 * same_lesion_pairs.csv, and the tracks they imply (connected components).
 *
 * Used by `lesiond eval --graph --pairs`, `lesiond realism` and the tests. Pure (no
 * store). Load: a few thousand pairs at most; union-find over the sorted ids.
 */
#ifndef LSD_LINKPAIRS_H
#define LSD_LINKPAIRS_H

#include <stddef.h>
#include <stdint.h>

struct linkpairs {
	int64_t *a, *b;		/* pair k links a[k] and b[k] (a[k] != b[k]) */
	size_t n;
	/* the components, filled by linkpairs_load: every id named by a pair, ascending,
	 * with its track = the smallest id of its component */
	int64_t *id, *track;
	size_t nid;
};

/* Read path. Errors: "path:line: what" (header without lesion_a and lesion_b, an id that
 * is not a positive integer, a lesion paired with itself, no pair at all). */
int linkpairs_load(const char *path, struct linkpairs *p /* OUT */, char *err);
void linkpairs_free(struct linkpairs *p);
/* 1 and *track when id is named by a pair, else 0. */
int linkpairs_track(const struct linkpairs *p, int64_t id, int64_t *track /* OUT */);

#endif
