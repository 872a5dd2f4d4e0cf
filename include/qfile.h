/* qfile.h - query vectors streamed from a file, for batch kNN jobs (`lesiond knn
 * --queries FILE`): NumPy .npy (float32, 2-D, C order), .fvecs, or NDJSON (.ndjson,
 * .jsonl: one vector per line, `[0.1, ...]` or `{"vector": [...]}`; blank lines skipped).
 *
 * Memory stays bounded whatever the file's size: rows are read block by block into the
 * caller's buffer. The row count is known after qfile_open (NDJSON is counted in a first
 * pass), so a job can be sliced into shards (qfile_seek). Every row is validated as it is
 * read: dimension, finite values (NaN and infinities refused with the row or line
 * number). A truncated .npy/.fvecs file is refused at open from its size alone.
 * Leaf module (index/): errors name the file and the row or line. Not thread-safe (one
 * reader per handle).
 */
#ifndef LSD_QFILE_H
#define LSD_QFILE_H

#include <stddef.h>
#include <stdint.h>

#define QFILE_MAX_LINE ((size_t)16 << 20)	/* one NDJSON line */

enum qfile_format { QFILE_NPY = 1, QFILE_FVECS, QFILE_NDJSON };

struct qfile;

/* Open by extension (.npy, .fvecs, .ndjson / .jsonl). */
int qfile_open(const char *path, struct qfile **out /* OUT */, char *err);
void qfile_close(struct qfile *f);
int qfile_format(const struct qfile *f);
int qfile_dim(const struct qfile *f);
size_t qfile_rows(const struct qfile *f);
/* Position before row r (0-based, <= rows). */
int qfile_seek(struct qfile *f, size_t r, char *err);
/* Read up to max rows (dim floats each) into out; returns how many (0 at the end), or
 * -1 with err ("FILE: row R: ..." / "FILE:LINE: ..."). */
long qfile_read(struct qfile *f, float *out /* OUT */, size_t max, char *err);

/* One NDJSON line (no newline) into out (dim floats; dim <= 0: any, *got says how
 * many, at most max). 0, or -1 with err. Strict JSON numbers; exposed for fuzzing. */
int qfile_parse_line(const char *s, size_t len, float *out /* OUT */, int max, int *got /* OUT */,
		     char *err);

#endif
