/* slicecache.h - decoded CT slices, shared between requests: a bounded LRU keyed by the
 * slice's path relative to the image root, plus the only safe way from a URL-supplied
 * path to a file under that root.
 *
 * Created by `lesiond serve` (app->cache), used by the image handlers and the benches on
 * many threads at once: every call is thread-safe (one mutex, held only for list and
 * table updates, never during file I/O or decoding). A slice handed out is reference
 * counted: it stays valid until slicecache_release, even if evicted meanwhile.
 * Concurrent misses on one slice decode it once (single-flight) and share it. The
 * budget counts decoded pixels (2 bytes each) plus a small per-entry overhead.
 */
#ifndef LSD_SLICECACHE_H
#define LSD_SLICECACHE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

struct slicecache;

/* Status codes: util.h's enum lsd_status (LSD_EMALFORMED path rejected: absolute, "..",
 * NUL, escapes the root; LSD_ENOTFOUND no such file; LSD_EIMAGE not a readable 16-bit
 * gray PNG; LSD_ENOMEM). */

/* A slice in use: s stays valid until slicecache_release(h). */
struct slicecache_handle {
	const struct slice16 *s;
	int64_t size, mtime_ns;		/* identity of the file that was decoded */
	uint64_t ino;
	void *entry_;			/* private */
};

struct slicecache_stats {
	uint64_t hits, misses, evictions, errors;
	uint64_t flight_waits;		/* misses that shared another thread's decode */
	uint64_t decode_overlaps;	/* decodes started while the same slice was decoding: 0 */
	size_t bytes, entries, max_bytes;
};

/* root: the image root directory (must exist). max_bytes 0 disables caching (every get
 * decodes; handles still work). */
int slicecache_create(const char *root, size_t max_bytes, struct slicecache **out /* OUT */,
		      char *err);
void slicecache_destroy(struct slicecache *c);	/* every handle must be released first */
/* How files are reached: "openat2", or "realpath" when the kernel (or a seccomp profile)
 * refuses openat2, or LSD_SLICECACHE_REALPATH=1 was set at create (tests). */
const char *slicecache_resolver(const struct slicecache *c);

/* Check a relative path of len bytes as it came from a URL: non-empty, not absolute, no
 * NUL, no control characters or backslashes, no empty, "." or ".." segments. Returns 0 or
 * LSD_EMALFORMED with err. */
int slicecache_path_check(const char *rel, size_t len, char *err);

/* Resolve rel under the root with realpath(): LSD_EMALFORMED when it (through
 * symlinks) leaves the root, LSD_ENOTFOUND when missing. out gets the real path. The
 * identity and get below open files with openat2(RESOLVE_BENEATH) from a directory fd
 * of the root instead (one syscall, no resolve-then-open race) and come here only for
 * what that refuses but realpath may accept (absolute symlinks pointing inside), or on
 * kernels without openat2; the same files are accepted and refused either way. */
int slicecache_resolve(const struct slicecache *c, const char *rel, char *out, size_t n,
		       char *err);

/* Identity (size, mtime, inode) of the file at rel, resolved as for a get but without
 * decoding: enough for an ETag, so an If-None-Match revalidation costs no decode. A path
 * seen before costs one fstatat: accepted when it reaches the inode its last walk
 * beneath the root reached (else the full check runs again). */
int slicecache_identity(struct slicecache *c, const char *rel, int64_t *size /* OUT */,
			int64_t *mtime_ns /* OUT */, uint64_t *ino /* OUT */, char *err);

/* The decoded slice at rel (relative to the root). A hit is checked against the file's
 * current size and mtime, so a replaced file is decoded again. */
int slicecache_get(struct slicecache *c, const char *rel, struct slicecache_handle *h /* OUT */,
		   char *err);
void slicecache_release(struct slicecache *c, struct slicecache_handle *h);

void slicecache_stats(struct slicecache *c, struct slicecache_stats *out /* OUT */);
/* Drop every unused entry (tests, benches: measure cold decodes). */
void slicecache_clear(struct slicecache *c);

#endif
