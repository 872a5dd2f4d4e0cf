/* util.h - small shared helpers: bounded string buffers, error messages, clocks, files.
 *
 * Used by every module of index/ and server/. No third-party headers here.
 * An error message buffer is always `char *err` of LSD_ERRLEN bytes supplied by the
 * caller (leaf modules never log; they fill this, and the caller with context logs).
 */
#ifndef LSD_UTIL_H
#define LSD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdarg.h>

#define LSD_ERRLEN 512

/* The library's one error vocabulary. A function that can fail returns 0 or one of these
 * (never an HTTP status), with a message in the caller's err buffer; -1 (errf's return)
 * is LSD_EFAIL. The server maps them to HTTP statuses in one function (http.h,
 * http_status_of); the command line prints err. */
enum lsd_status {
	LSD_OK = 0,
	LSD_EFAIL = -1,		/* anything else: I/O, SQLite, FAISS (500) */
	LSD_EMALFORMED = -2,	/* input text is not what it should be: a bad path (400) */
	LSD_EINVAL = -3,	/* well-formed but invalid: out of range, unknown name (422) */
	LSD_ENOTFOUND = -4,	/* no such lesion, slice, space, vector or image (404) */
	LSD_EIMAGE = -5,	/* a source image exists but is unreadable or corrupt (500) */
	LSD_ENOMEM = -6,	/* out of memory (500) */
	LSD_EUNAVAIL = -7,	/* not available now: no image root, still loading (503) */
	LSD_ETOOLARGE = -8	/* more than a configured limit allows (413) */
};

/* lesiond's release version (backup manifests, logs) */
#define LSD_VERSION "0.1.0"

#if defined(__GNUC__)
#define LSD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LSD_PRINTF(a, b)
#endif

/* Set by tools/variant.c: 1 in the AVX2 binary, 0 in lesiond-generic and the tests. */
extern const int lsd_variant_avx2;

/* Write a formatted message into err (LSD_ERRLEN bytes); returns -1 so callers can
 * `return errf(err, ...)`. err may be NULL. */
int errf(char *err, const char *fmt, ...) LSD_PRINTF(2, 3);

/* Copy the string src into dst of n > 0 bytes, truncated to fit and NUL-terminated: the
 * bytes snprintf(dst, n, "%s", src) writes, without printf (glibc's printf takes its
 * slow path in every lesiond process: libquadmath, loaded with OpenBLAS, registers
 * printf hooks). Returns strlen(src). */
size_t str_copy(char *dst, size_t n, const char *src);

/* A growable byte buffer with a hard cap chosen by its owner (curl's dynbuf idea).
 * Always NUL-terminated when len > 0. An append past `max` fails and sets `oom`. */
struct sb {
	char *p;
	size_t len, cap, max;
	int oom;
};
void sb_init(struct sb *b, size_t max);
void sb_free(struct sb *b);
int sb_add(struct sb *b, const void *p, size_t n);
int sb_adds(struct sb *b, const char *s);
int sb_addf(struct sb *b, const char *fmt, ...) LSD_PRINTF(2, 3);
int sb_addc(struct sb *b, char c);
/* Hand the bytes to the caller (who frees them); the buffer is left empty. */
char *sb_steal(struct sb *b, size_t *len /* OUT */);

/* Monotonic clock. */
double now_ms(void);
uint64_t now_us(void);

/* Whole-file read with a size cap; returns malloc'd bytes (NUL-terminated) or NULL. */
char *file_read(const char *path, size_t max, size_t *len /* OUT */, char *err);
/* Atomically replace path with data: temp file in the same dir, fsync, rename, fsync dir. */
int file_write_atomic(const char *path, const void *data, size_t len, char *err);
/* Same without fsync (bulk generated files: a crash leaves the old file or none). */
int file_write_atomic_nosync(const char *path, const void *data, size_t len, char *err);
int mkdir_p(const char *path, char *err);
/* fsync the directory holding path ("." without a slash), so a rename into it is
 * durable. 0, or -1 (errno) when it cannot be opened or synced. */
int fsync_dir_of(const char *path);
/* Size and FNV-1a 64 (fnv1a64, from the offset basis) of an open file from its start,
 * read in blocks; the position is left at the end. 0, or -1 (errno) on a read error or
 * out of memory. */
int file_fnv(FILE *f, uint64_t *fnv /* OUT */, uint64_t *size /* OUT */);

/* Strict number parsing: the whole string must be a number in range. 0 on success. */
int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out /* OUT */);
int parse_f64(const char *s, double *out /* OUT */);

/* A progress or diagnostic line for the caller to log (leaf modules do not log): fn
 * gets one formatted line (at most LSD_ERRLEN + 127 bytes); fn NULL drops it. */
typedef void (*lsd_note_fn)(void *cls, const char *line);
void lsd_note(lsd_note_fn fn, void *cls, const char *fmt, ...) LSD_PRINTF(3, 4);

/* FNV-1a 64-bit, for ETags and checksums that need not be cryptographic. */
uint64_t fnv1a64(const void *p, size_t n, uint64_t seed);

/* The slot of key in an open-addressing table of cap (a power of two) slots: the high
 * bits folded down and multiplied (MurmurHash3's finaliser, first round), so dense and
 * strided keys spread. */
static inline size_t lsd_hash_slot(int64_t key, size_t cap)
{
	uint64_t x = (uint64_t)key;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (size_t)x & (cap - 1);
}

#define LSD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LSD_MAX(a, b) ((a) > (b) ? (a) : (b))
#define LSD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
