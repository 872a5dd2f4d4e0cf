/* vecfile.h - readers for bulk vector files: NumPy .npy (float32, 2-D, C order,
 * little-endian), .fvecs (int32 dim + dim float32 per row) and ids.txt (one positive lesion
 * id per line).
 *
 * Leaf module (no logging): strict validation, errors naming the file and what is wrong,
 * size caps checked before any allocation sized by the input. Used by import-vectors and
 * the bulk upload handler; the parse_* functions take a buffer (fuzzable, testable).
 */
#ifndef LSD_VECFILE_H
#define LSD_VECFILE_H

#include <stddef.h>
#include <stdint.h>

#define VECFILE_MAX_BYTES ((size_t)16 << 30)	/* 16 GiB per file */
#define VECFILE_MAX_DIM 65536
#define VECFILE_MAX_ROWS ((size_t)1 << 31)

/* Parse a whole .npy / .fvecs image. *out (malloc'd, rows x dim floats) on success. */
int vecfile_parse_npy(const void *buf, size_t len, float **out /* OUT */, size_t *rows /* OUT */,
		      int *dim /* OUT */, char *err);
int vecfile_parse_fvecs(const void *buf, size_t len, float **out /* OUT */, size_t *rows /* OUT */,
			int *dim /* OUT */, char *err);
/* Validate a .npy header: buf holds the file's first len bytes (at least the header;
 * 4096 is always enough for the headers this accepts), file_size the whole file's size.
 * *off gets the payload offset, *rows x *dim its shape (float32). For streaming readers. */
int vecfile_npy_header(const void *buf, size_t len, uint64_t file_size, size_t *off /* OUT */,
		       size_t *rows /* OUT */, int *dim /* OUT */, char *err);
/* Read a file, by extension (.npy or .fvecs). Errors are prefixed with the path. */
int vecfile_read(const char *path, float **out /* OUT */, size_t *rows /* OUT */, int *dim /* OUT */,
		 char *err);

/* One positive integer id per line (blank lines and a final newline allowed, '\r'
 * tolerated); duplicates are an error naming both lines. *out malloc'd. */
int vecfile_parse_ids(const char *buf, size_t len, int64_t **out /* OUT */, size_t *n /* OUT */,
		      char *err);
int vecfile_read_ids(const char *path, int64_t **out /* OUT */, size_t *n /* OUT */, char *err);

#endif
