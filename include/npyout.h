/* npyout.h - writing NumPy arrays: .npy files (written to a temporary file, renamed into
 * place on commit: a failed job leaves no output file) and the pieces of an uncompressed
 * .npz (a ZIP of .npy members) that can be streamed without knowing the CRC in advance.
 *
 * Headers are format 1.0, always NPYOUT_HEADER (128) bytes, the same bytes numpy.save
 * writes for these shapes: {'descr': '<i8', 'fortran_order': False, 'shape': (n, k), }.
 * Little-endian only (x86-64, arm64). Used by `lesiond knn --out` / `knn-merge` and the
 * npz reply of POST /v1/search/batch. Leaf module (index/).
 */
#ifndef LSD_NPYOUT_H
#define LSD_NPYOUT_H

#include <stddef.h>
#include <stdint.h>

#define NPYOUT_HEADER 128

/* descr: "<i8" or "<f4". Writes NPYOUT_HEADER bytes into out. */
void npyout_header(char *out, const char *descr, size_t rows, size_t cols);

struct npyw;
/* Create path's temporary sibling and write a header for (rows, cols); rows may be
 * corrected by npyw_commit (NDJSON queries are counted as they stream). */
int npyw_open(const char *path, const char *descr, size_t rows, size_t cols,
	      struct npyw **out /* OUT */, char *err);
int npyw_write(struct npyw *w, const void *data, size_t bytes, char *err);
size_t npyw_rows_written(const struct npyw *w);
/* Rewrite the header with the rows written, fsync; the file stays temporary. */
int npyw_finish(struct npyw *w, char *err);
/* Rename the finished temporary into place and free w. */
int npyw_commit(struct npyw *w, char *err);
/* Remove the temporary file and free w (NULL is fine). */
void npyw_abort(struct npyw *w);

/* ---- .npz, streamed: per member a local header, the bytes, a data descriptor; then
 * the central directory. Sizes are known in advance (the .npy header and rows x cols),
 * the CRC-32 is accumulated over the bytes as they are sent. Members < 4 GiB. */
#define NPZ_LOCAL_MAX 64
#define NPZ_DESC_LEN 16
struct npz_member {
	char name[32];		/* "ids.npy" */
	uint32_t crc, size, offset;
};
uint32_t npz_crc32(uint32_t crc, const void *data, size_t len);
/* local file header of m into out (returns its length) */
size_t npz_local(char *out, const struct npz_member *m);
/* data descriptor after the member's bytes (NPZ_DESC_LEN bytes) */
size_t npz_desc(char *out, const struct npz_member *m);
/* central directory + end record for n members, malloc'd into *out; returns its length
 * (0 on allocation failure). cd_offset: where it starts in the stream. */
size_t npz_central(char **out, const struct npz_member *m, int n, uint32_t cd_offset);

#endif
