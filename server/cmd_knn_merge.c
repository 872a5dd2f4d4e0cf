/* cmd_knn_merge.c - `lesiond knn-merge --k K --out PREFIX SHARD_PREFIX...`: put the
 * outputs of sharded `lesiond knn --out` runs back together into the unsharded answer.
 *
 * Shards may split the queries (--shard: row slices, concatenated in order), the gallery
 * (--gallery-shard: for the same rows, each shard's top-k lists are merged by (distance,
 * lesion id), the order every answer uses, so the result is exactly the unsharded one),
 * or both (a grid). Every shard's PREFIX.knn.json is checked first: same space, metric,
 * queries and filter, k >= K, the rows tiling 0..n and each row slice covered by every
 * gallery shard once; then the arrays are streamed in blocks of rows (memory: a block
 * per shard). Output written like knn's: atomically, nothing on failure.
 */
#include "cli.h"
#include "knnjob.h"
#include "knnmeta.h"
#include "npyout.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MERGE_BLOCK 1024
#define MERGE_MAX 4096

static const char usage[] =
	"usage: lesiond knn-merge --k K --out PREFIX SHARD_PREFIX...\n\n"
	"Merge the outputs of `lesiond knn --out SHARD_PREFIX` runs with --shard and/or\n"
	"--gallery-shard into PREFIX.ids.npy / PREFIX.distances.npy / PREFIX.knn.json: query\n"
	"slices are concatenated, gallery shards' top-k lists merged (distance, then smaller\n"
	"lesion id), giving exactly the unsharded run's files.";

struct shard {
	char *prefix;
	struct knn_meta m;
	FILE *ids, *dist;
	int64_t *bid;
	float *bd;
};

static int cmp_shard(const void *pa, const void *pb)
{
	const struct shard *a = pa, *b = pb;

	if (a->m.row_start != b->m.row_start)
		return a->m.row_start < b->m.row_start ? -1 : 1;
	return (a->m.gshard_i > b->m.gshard_i) - (a->m.gshard_i < b->m.gshard_i);
}

static FILE *open_array(const char *prefix, const char *suffix, const char *descr, size_t rows,
			int k, char *err)
{
	char path[4096], want[NPYOUT_HEADER], have[NPYOUT_HEADER];
	struct stat st;
	FILE *f;
	size_t esz = descr[2] == '8' ? 8 : 4;

	if (knnmeta_path(path, sizeof(path), prefix, suffix)) {
		errf(err, "%s: path too long", prefix);
		return NULL;
	}
	f = fopen(path, "rb");
	if (!f) {
		errf(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	npyout_header(want, descr, rows, (size_t)k);
	if (fstat(fileno(f), &st) || fread(have, 1, sizeof(have), f) != sizeof(have) ||
	    memcmp(have, want, sizeof(want)) ||
	    (uint64_t)st.st_size != NPYOUT_HEADER + (uint64_t)rows * (uint64_t)k * esz) {
		errf(err, "%s: not the %zu x %d %s array its .knn.json describes (truncated or "
		     "replaced?)", path, rows, k, descr);
		fclose(f);
		return NULL;
	}
	return f;
}

/* Check the set of shards; sorts them by (row_start, gallery shard). */
static int check_set(struct shard *s, int n, int k, char *err)
{
	size_t row = 0;
	int i = 0;

	qsort(s, (size_t)n, sizeof(*s), cmp_shard);
	for (i = 0; i < n; i++) {
		const struct knn_meta *a = &s[0].m, *b = &s[i].m;

		if (strcmp(a->space, b->space) || strcmp(a->metric, b->metric) ||
		    strcmp(a->source, b->source) || a->rows_total != b->rows_total ||
		    strcmp(a->filter, b->filter))
			return errf(err, "%s and %s are not shards of one job (space, metric, queries "
				    "or filter differ)", s[0].prefix, s[i].prefix);
		if (b->k < k)
			return errf(err, "%s has k=%d, less than --k %d", s[i].prefix, b->k, k);
		if (!b->exact)
			fprintf(stderr, "lesiond knn-merge: warning: %s came from an approximate index; "
				"the merge is not exact\n", s[i].prefix);
	}
	for (i = 0; i < n;) {
		int j = i, gn = s[i].m.gshard_n, g;

		if (s[i].m.row_start != row)
			return errf(err, "query rows %zu..%zu are missing or overlap (next shard %s "
				    "starts at %zu)", row, s[i].m.row_start, s[i].prefix, s[i].m.row_start);
		for (g = 0; g < gn; g++, j++) {
			if (j >= n || s[j].m.row_start != s[i].m.row_start ||
			    s[j].m.row_end != s[i].m.row_end || s[j].m.gshard_n != gn ||
			    s[j].m.gshard_i != g)
				return errf(err, "query rows %zu..%zu: need gallery shards 0..%d of %d once "
					    "each (missing, repeated or a different split at %s)",
					    s[i].m.row_start, s[i].m.row_end, gn - 1, gn,
					    j < n ? s[j].prefix : "the end");
		}
		if (j < n && s[j].m.row_start == s[i].m.row_start)
			return errf(err, "query rows %zu..%zu: more shards than gallery shards %d",
				    s[i].m.row_start, s[i].m.row_end, gn);
		row = s[i].m.row_end;
		i = j;
	}
	if (row != s[0].m.rows_total)
		return errf(err, "query rows %zu..%zu are missing", row, s[0].m.rows_total);
	return 0;
}

/* Merge rows of the gallery shards s[0..gn) into out (m rows x k). */
static int merge_rows(struct shard *s, int gn, size_t m, int k, enum space_metric metric,
		      int64_t *oid, float *od, char *err)
{
	size_t r;
	int g;

	for (r = 0; r < m; r++) {
		int pos[MERGE_MAX], h;

		memset(pos, 0, sizeof(int) * (size_t)gn);
		for (h = 0; h < k; h++) {
			int best = -1;

			for (g = 0; g < gn; g++) {
				size_t kk = (size_t)s[g].m.k, at = r * kk + (size_t)pos[g];

				if ((size_t)pos[g] >= kk || s[g].bid[at] < 0)
					continue;
				if (best < 0 || knn_better(metric, s[g].bd[at], s[g].bid[at],
							   s[best].bd[r * (size_t)s[best].m.k + (size_t)pos[best]],
							   s[best].bid[r * (size_t)s[best].m.k + (size_t)pos[best]]))
					best = g;
			}
			if (best < 0) {
				oid[r * (size_t)k + (size_t)h] = -1;
				od[r * (size_t)k + (size_t)h] = metric == SPACE_IP ? -INFINITY : INFINITY;
				continue;
			}
			{
				size_t at = r * (size_t)s[best].m.k + (size_t)pos[best];

				if (h && oid[r * (size_t)k + (size_t)h - 1] == s[best].bid[at])
					return errf(err, "lesion %lld appears in two gallery shards (row "
						    "%zu): overlapping shards", (long long)s[best].bid[at], r);
				oid[r * (size_t)k + (size_t)h] = s[best].bid[at];
				od[r * (size_t)k + (size_t)h] = s[best].bd[at];
				pos[best]++;
			}
		}
	}
	return 0;
}

static int merge(struct shard *s, int n, int k, const char *out, char *err)
{
	char path[4096];
	struct npyw *wi = NULL, *wd = NULL;
	int64_t *oid = malloc((size_t)MERGE_BLOCK * (size_t)k * sizeof(*oid));
	float *od = malloc((size_t)MERGE_BLOCK * (size_t)k * sizeof(*od));
	enum space_metric metric;
	struct knn_meta mm;
	int i, rc = -1, exact = 1;
	size_t gallery = 0;

	if (!oid || !od) {
		errf(err, "out of memory");
		goto out;
	}
	if (space_metric_parse(s[0].m.metric, &metric)) {
		errf(err, "%s: unknown metric '%s'", s[0].prefix, s[0].m.metric);
		goto out;
	}
	if (knnmeta_path(path, sizeof(path), out, ".ids.npy") ||
	    npyw_open(path, "<i8", s[0].m.rows_total, (size_t)k, &wi, err) ||
	    knnmeta_path(path, sizeof(path), out, ".distances.npy") ||
	    npyw_open(path, "<f4", s[0].m.rows_total, (size_t)k, &wd, err))
		goto out;
	for (i = 0; i < n;) {
		int gn = s[i].m.gshard_n, g;
		size_t rows = s[i].m.row_end - s[i].m.row_start, r, m;

		for (g = 0; g < gn; g++) {
			struct shard *x = &s[i + g];
			size_t cells = (size_t)MERGE_BLOCK * (size_t)x->m.k;

			if (s[i].m.row_start == 0)
				gallery += x->m.gallery;
			exact &= x->m.exact;
			x->ids = open_array(x->prefix, ".ids.npy", "<i8", rows, x->m.k, err);
			x->dist = x->ids ? open_array(x->prefix, ".distances.npy", "<f4", rows, x->m.k, err) : NULL;
			x->bid = malloc(cells * sizeof(*x->bid));
			x->bd = malloc(cells * sizeof(*x->bd));
			if (!x->ids || !x->dist || !x->bid || !x->bd) {
				if (x->ids && x->dist)
					errf(err, "out of memory");
				goto out;
			}
		}
		for (r = 0; r < rows; r += m) {
			m = LSD_MIN((size_t)MERGE_BLOCK, rows - r);
			for (g = 0; g < gn; g++) {
				struct shard *x = &s[i + g];
				size_t cells = m * (size_t)x->m.k;

				if (fread(x->bid, sizeof(*x->bid), cells, x->ids) != cells ||
				    fread(x->bd, sizeof(*x->bd), cells, x->dist) != cells) {
					errf(err, "%s: short read", x->prefix);
					goto out;
				}
			}
			if (merge_rows(&s[i], gn, m, k, metric, oid, od, err) ||
			    npyw_write(wi, oid, m * (size_t)k * sizeof(*oid), err) ||
			    npyw_write(wd, od, m * (size_t)k * sizeof(*od), err))
				goto out;
		}
		for (g = 0; g < gn; g++) {
			struct shard *x = &s[i + g];

			fclose(x->ids);
			fclose(x->dist);
			free(x->bid);
			free(x->bd);
			x->ids = x->dist = NULL;
			x->bid = NULL;
			x->bd = NULL;
		}
		i += gn;
	}
	if (npyw_finish(wi, err) || npyw_finish(wd, err))
		goto out;
	rc = npyw_commit(wi, err);
	wi = NULL;
	if (rc)
		goto out;
	rc = npyw_commit(wd, err);
	wd = NULL;
	if (rc)
		goto out;
	mm = s[0].m;
	mm.k = k;
	mm.row_start = 0;
	mm.row_end = mm.rows_total;
	mm.shard_i = mm.gshard_i = 0;
	mm.shard_n = mm.gshard_n = 1;
	mm.gallery = gallery;
	mm.exact = exact;
	rc = knnmeta_write(out, &mm, err);
out:
	for (i = 0; i < n; i++) {
		if (s[i].ids)
			fclose(s[i].ids);
		if (s[i].dist)
			fclose(s[i].dist);
		free(s[i].bid);
		free(s[i].bd);
	}
	npyw_abort(wi);
	npyw_abort(wd);
	free(oid);
	free(od);
	return rc;
}

/* A shard prefix, or one of its files (a shell glob of PREFIX*): 1 if new, 0 if seen. */
static int add_prefix(struct shard *s, int n, const char *arg)
{
	static const char *const suffix[] = { ".ids.npy", ".distances.npy", ".knn.json", NULL };
	size_t len = strlen(arg), l;
	int i;

	for (i = 0; suffix[i]; i++) {
		l = strlen(suffix[i]);
		if (len > l && !strcmp(arg + len - l, suffix[i])) {
			len -= l;
			break;
		}
	}
	for (i = 0; i < n; i++)
		if (strlen(s[i].prefix) == len && !strncmp(s[i].prefix, arg, len))
			return 0;
	s[n].prefix = strndup(arg, len);
	return s[n].prefix ? 1 : 0;
}

static void free_shards(struct shard *s, int n)
{
	int i;

	for (i = 0; s && i < n; i++)
		free(s[i].prefix);
	free(s);
}

int cmd_knn_merge(int argc, char **argv)
{
	const char *ks = NULL, *out = NULL;
	const struct cli_opt opts[] = {
		{ "--k", "K", &ks, "neighbours per query in the merged answer (<= each shard's k)" },
		{ "--out", "PREFIX", &out, "write PREFIX.ids.npy, PREFIX.distances.npy, PREFIX.knn.json" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct shard *s = NULL;
	char err[LSD_ERRLEN];
	int64_t k;
	int r, i, n = 0;

	/* the shard prefixes: every argument that is not an option or its value */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--k") || !strcmp(argv[i], "--out") || !strcmp(argv[i], "--config") ||
		    !strcmp(argv[i], "--db") || !strcmp(argv[i], "--images")) {
			i++;
			continue;
		}
		if (argv[i][0] != '-' || !argv[i][1])
			n++;
	}
	s = calloc((size_t)(n ? n : 1), sizeof(*s));
	if (!s)
		return 1;
	{
		char **av = calloc((size_t)argc + 1, sizeof(*av));
		int ac = 0;

		if (!av) {
			free(s);
			return 1;
		}
		n = 0;
		for (i = 0; i < argc; i++) {
			if (i > 0 && (!strcmp(argv[i], "--k") || !strcmp(argv[i], "--out") ||
				      !strcmp(argv[i], "--config") || !strcmp(argv[i], "--db") ||
				      !strcmp(argv[i], "--images")) && i + 1 < argc) {
				av[ac++] = argv[i];
				av[ac++] = argv[++i];
			} else if (i > 0 && argv[i][0] != '-') {
				n += add_prefix(s, n, argv[i]);
			} else {
				av[ac++] = argv[i];
			}
		}
		r = cli_parse(ac, av, opts, usage, &cfg);
		free(av);
	}
	if (r) {
		free_shards(s, n);
		return r > 0 ? 0 : 2;
	}
	if (!ks || !out || n < 1 || parse_i64(ks, 1, 100000, &k)) {
		fprintf(stderr, "lesiond knn-merge: need --k K (1..100000), --out PREFIX and at least "
			"one shard prefix (see --help)\n");
		free_shards(s, n);
		return 2;
	}
	if (n > MERGE_MAX) {
		fprintf(stderr, "lesiond knn-merge: at most %d shards\n", MERGE_MAX);
		free_shards(s, n);
		return 2;
	}
	for (i = 0; i < n; i++) {
		if (!strcmp(s[i].prefix, out)) {
			fprintf(stderr, "lesiond knn-merge: --out %s is also a shard\n", out);
			free_shards(s, n);
			return 2;
		}
		if (knnmeta_read(s[i].prefix, &s[i].m, err)) {
			fprintf(stderr, "lesiond knn-merge: %s\n", err);
			free_shards(s, n);
			return 1;
		}
	}
	if (check_set(s, n, (int)k, err) || merge(s, n, (int)k, out, err)) {
		fprintf(stderr, "lesiond knn-merge: %s (no output written)\n", err);
		free_shards(s, n);
		return 1;
	}
	fprintf(stderr, "knn-merge: %d shards, %zu queries, k=%lld -> %s.ids.npy, %s.distances.npy\n",
		n, s[0].m.rows_total, (long long)k, out, out);
	free_shards(s, n);
	return 0;
}
