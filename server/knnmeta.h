/* knnmeta.h - the description a knn job writes beside its arrays (PREFIX.knn.json), which
 * `lesiond knn-merge` reads to put shards back together: which space and metric, k, the
 * query rows the arrays hold (a slice of how many), which gallery shard, which filter.
 * server/ only (JSON through json.h). */
#ifndef LSD_KNNMETA_H
#define LSD_KNNMETA_H

#include <stddef.h>
#include <stdint.h>

#define KNNMETA_FORMAT "lesiond-knn-1"

struct knn_meta {
	char space[64];
	char metric[8];		/* "l2" / "ip" */
	int k;
	char source[512];	/* the queries: a file path, or split=/ids=/all */
	size_t rows_total;	/* queries in the whole job */
	size_t row_start, row_end;	/* the rows these arrays hold: [start, end) */
	int shard_i, shard_n;	/* query shard */
	int gshard_i, gshard_n;	/* gallery shard */
	size_t gallery;		/* vectors in this gallery (after the filter) */
	char filter[512];	/* canonical text of the filter and same_patient rule */
	int exact;
};

/* PREFIX.knn.json, atomically. */
int knnmeta_write(const char *prefix, const struct knn_meta *m, char *err);
/* 0, or -1 with err naming the file. */
int knnmeta_read(const char *prefix, struct knn_meta *m /* OUT */, char *err);
/* "PREFIX" + suffix into out (n bytes): -1 if too long. */
int knnmeta_path(char *out, size_t n, const char *prefix, const char *suffix);

#endif
