/* bytecache.h - a bounded, thread-safe LRU of byte strings keyed by text: the encoded
 * replies that are expensive to make and cheap to keep (the server's lesion patches,
 * keyed by their strong ETag, which already names the slice file's identity and every
 * rendering parameter).
 *
 * Every call is thread-safe (one mutex, held for table and list updates and the copy of
 * one value). A value is copied in by bytecache_put and copied out by bytecache_get, so
 * nothing handed out can be freed under its user. The budget counts value bytes plus
 * the key and a fixed per-entry overhead; a value larger than a quarter of the budget is
 * never kept (one huge reply must not flush everything else). A budget of 0 keeps
 * nothing (every get is a miss, puts are dropped).
 */
#ifndef LSD_BYTECACHE_H
#define LSD_BYTECACHE_H

#include <stddef.h>
#include <stdint.h>

struct bytecache;

struct bytecache_stats {
	uint64_t hits, misses, insertions, evictions;
	size_t bytes, entries, max_bytes;
};

/* A cache of at most max_bytes; 0 on success, else -1 with err (out of memory). */
int bytecache_create(size_t max_bytes, struct bytecache **out, char *err);
void bytecache_destroy(struct bytecache *c);

/* On a hit: 1, with *out a malloc'd copy of the value (the caller frees it) and *len its
 * size; the entry becomes the most recent. On a miss: 0 (*out NULL). Out of memory for
 * the copy counts as a miss. */
int bytecache_get(struct bytecache *c, const char *key, unsigned char **out, size_t *len);

/* Keep a copy of v[0..len) under key (replacing an earlier value of that key), evicting
 * the least recently used entries to stay within the budget. Silently keeps nothing when
 * the value is too large for the budget or memory is short: a cache may forget. */
void bytecache_put(struct bytecache *c, const char *key, const unsigned char *v, size_t len);

void bytecache_stats(struct bytecache *c, struct bytecache_stats *st);

#endif
