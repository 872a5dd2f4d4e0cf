/* cmd_knn.c - `lesiond knn`: batch k-nearest-neighbour jobs from the command line, no
 * server. Queries are stored lesions (split=, ids=, all) or vectors from a file (.npy,
 * .fvecs, NDJSON) streamed block by block; the gallery is the space, restricted by the
 * same filters as the HTTP search and optionally to one gallery shard (knnjob.h: exact,
 * ties by lesion id). Writes CSV / NDJSON on stdout and/or, with --out PREFIX,
 * PREFIX.ids.npy (int64 n x k, -1 padding), PREFIX.distances.npy (float32) and
 * PREFIX.knn.json (what knn-merge needs), each atomically, none on failure. The database
 * is opened read-only (many jobs may share one copy, or a backup directory).
 * Memory: one block of queries and answers, whatever the number of queries.
 */
#include "apijson.h"
#include "backup.h"
#include "cli.h"
#include "json.h"
#include "knnjob.h"
#include "knnmeta.h"
#include "npyout.h"
#include "offline.h"
#include "qfile.h"
#include "search.h"
#include "spacedb.h"
#include "util.h"
#include "vecfile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KNN_BLOCK 4096
#define KNN_CELLS ((size_t)1 << 24)	/* block x candidates bound for large k */

static const char usage[] =
	"usage: lesiond knn [--space builtin] [--queries split=test|ids=FILE|all|FILE] [--k 10]\n"
	"                   [--out PREFIX] [--format csv|ndjson|none] [--shard I/N]\n"
	"                   [--gallery-shard I/N] [--filter JSON | --type T --split S ...]\n"
	"                   [--same-patient include|exclude|only] [--threads N] [--quiet]\n\n"
	"Batch nearest-neighbour search over a database (opened read-only; --db may name a\n"
	"backup directory), no server needed. Queries: stored lesions (never their own\n"
	"neighbour), or vectors from FILE: .npy (float32 n x d), .fvecs, or .ndjson/.jsonl\n"
	"(one [..] or {\"vector\":[..]} per line), streamed in blocks. Filters as in the HTTP\n"
	"search restrict the gallery. --out PREFIX writes PREFIX.ids.npy (int64 n x k, -1 where\n"
	"fewer than k), PREFIX.distances.npy (float32 n x k) and PREFIX.knn.json, atomically;\n"
	"stdout then gets nothing unless --format is given (default csv without --out:\n"
	"query_id,rank,lesion_id,distance; query_id is the row number for a FILE).\n"
	"--shard I/N answers the I-th of N contiguous slices of the queries (I from 0, as\n"
	"SLURM_ARRAY_TASK_ID); --gallery-shard I/N searches the I-th slice of the gallery;\n"
	"lesiond knn-merge puts them together, exactly. Answers are exact (ties: smaller\n"
	"lesion id first) unless the space has an approximate index and no filter or shard.";

/* filter flags: --min-diam-mm -> min_diam_mm */
static const char *const filter_flags[] = { "type", "split", "patient", "study", "min_diam_mm",
					    "max_diam_mm", "gender", "min_age", "max_age",
					    "exclude_noisy", NULL };

struct job {
	/* options */
	const char *space, *queries, *out, *fmt;
	int k, sp_rule, nthreads, quiet;
	int shard_i, shard_n, gshard_i, gshard_n;
	struct store_filter filter;
	int has_filter;
	char filter_text[512];
	/* state */
	struct offline o;
	struct space *sp;
	struct knn_gallery *g;
	struct qfile *qf;		/* external queries, or NULL */
	int64_t *qids;			/* stored-lesion queries (with vectors) */
	size_t nq_total, row0, row1;	/* the job's rows and this shard's slice */
	int dim;
	struct npyw *w_ids, *w_dist;
	int csv, ndjson;
};

static int parse_shard(const char *s, const char *what, int *i, int *n)
{
	int64_t a, b;
	char buf[64], *slash;

	if (!s)
		return 0;
	if (strlen(s) >= sizeof(buf) || !(slash = strchr(memcpy(buf, s, strlen(s) + 1), '/')))
		goto bad;
	*slash = 0;
	if (parse_i64(buf, 0, KNN_SHARDS_MAX - 1, &a) || parse_i64(slash + 1, 1, KNN_SHARDS_MAX, &b) ||
	    a >= b)
		goto bad;
	*i = (int)a;
	*n = (int)b;
	return 0;
bad:
	fprintf(stderr, "lesiond knn: %s '%s': need I/N with 0 <= I < N <= %d\n", what, s,
		KNN_SHARDS_MAX);
	return -1;
}

static int cmp_id(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;

	return (a > b) - (a < b);
}

/* The query lesion ids, ascending (or the file's order for ids=FILE), with vectors. */
static int64_t *select_queries(struct offline *o, struct space *sp, const char *sel, size_t *n)
{
	int64_t *ids = NULL, *out = NULL;
	size_t nids = 0, i, m = 0;
	char err[LSD_ERRLEN];
	int split = 0;

	*n = 0;
	if (!strncmp(sel, "ids=", 4)) {
		if (vecfile_read_ids(sel + 4, &ids, &nids, err)) {
			fprintf(stderr, "lesiond knn: %s\n", err);
			return NULL;
		}
		for (i = 0; i < nids; i++) {
			if (space_has(sp, ids[i]))
				ids[m++] = ids[i];
			else
				fprintf(stderr, "lesiond knn: lesion %lld has no vector in %s; skipped\n",
					(long long)ids[i], space_name(sp));
		}
		*n = m;
		return ids;
	}
	if (!strncmp(sel, "split=", 6)) {
		split = lesion_split_parse(sel + 6);
		if (split < 0) {
			fprintf(stderr, "lesiond knn: --queries: unknown split '%s'\n", sel + 6);
			return NULL;
		}
	}
	if (space_ids(sp, &ids, &nids, err)) {
		fprintf(stderr, "lesiond knn: %s\n", err);
		return NULL;
	}
	out = malloc((nids ? nids : 1) * sizeof(*out));
	for (i = 0; out && i < nids; i++) {
		struct catalog_entry e;

		if (catalog_get(o->cat, ids[i], &e) || (split && e.split != split))
			continue;
		out[m++] = ids[i];
	}
	free(ids);
	if (!out) {
		fprintf(stderr, "lesiond knn: out of memory\n");
		return NULL;
	}
	qsort(out, m, sizeof(*out), cmp_id);
	*n = m;
	return out;
}

static int stored_selector(const char *s)
{
	return !strcmp(s, "all") || !strncmp(s, "split=", 6) || !strncmp(s, "ids=", 4);
}

/* Progress on a terminal: a bar, rate and time left, at most 5 times a second. */
static void progress(const struct job *j, size_t done, double t0, int last)
{
	static double shown;
	size_t total = j->row1 - j->row0;
	double t = now_ms(), rate = done / ((t - t0) / 1000.0 + 1e-9), frac = total ? (double)done / total : 1;
	char bar[31];
	int i, fill = (int)(frac * 30);

	if (j->quiet || !isatty(2) || (!last && t - shown < 200))
		return;
	shown = t;
	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
	bar[30] = 0;
	fprintf(stderr, "\rknn [%s] %5.1f%% %zu/%zu queries, %.0f/s, %.0f s left   ", bar,
		100 * frac, done, total, rate, rate > 0 ? (total - done) / rate : 0.0);
	if (last)
		fputc('\n', stderr);
}

static void print_block(const struct job *j, size_t row, const int64_t *ids, const float *dist,
			size_t m)
{
	size_t i;
	int h;

	for (i = 0; i < m; i++) {
		long long qid = j->qids ? (long long)j->qids[row + i] : (long long)(row + i);
		const int64_t *id = ids + i * (size_t)j->k;
		const float *d = dist + i * (size_t)j->k;

		if (j->ndjson) {
			printf("{\"query_id\":%lld,\"results\":[", qid);
			for (h = 0; h < j->k && id[h] >= 0; h++)
				printf("%s{\"rank\":%d,\"lesion_id\":%lld,\"distance\":%.9g}", h ? "," : "",
				       h + 1, (long long)id[h], d[h]);
			printf("]}\n");
		} else if (j->csv) {
			for (h = 0; h < j->k && id[h] >= 0; h++)
				printf("%lld,%d,%lld,%.9g\n", qid, h + 1, (long long)id[h], d[h]);
		}
	}
}

static int open_outputs(struct job *j, char *err)
{
	char path[4096];
	size_t rows = j->row1 - j->row0;

	if (!j->out)
		return 0;
	if (knnmeta_path(path, sizeof(path), j->out, ".ids.npy") ||
	    npyw_open(path, "<i8", rows, (size_t)j->k, &j->w_ids, err))
		return -1;
	if (knnmeta_path(path, sizeof(path), j->out, ".distances.npy") ||
	    npyw_open(path, "<f4", rows, (size_t)j->k, &j->w_dist, err))
		return -1;
	return 0;
}

static int commit_outputs(struct job *j, char *err)
{
	struct knn_meta m;
	struct space_info info;
	int rc;

	if (!j->out)
		return 0;
	if (npyw_finish(j->w_ids, err) || npyw_finish(j->w_dist, err))
		return -1;
	rc = npyw_commit(j->w_ids, err);
	j->w_ids = NULL;
	if (rc)
		return -1;
	rc = npyw_commit(j->w_dist, err);
	j->w_dist = NULL;
	if (rc)
		return -1;
	memset(&m, 0, sizeof(m));
	space_get_info(j->sp, &info);
	snprintf(m.space, sizeof(m.space), "%s", j->space);
	snprintf(m.metric, sizeof(m.metric), "%s", space_metric_name(info.def.metric));
	m.k = j->k;
	snprintf(m.source, sizeof(m.source), "%s", j->queries);
	m.rows_total = j->nq_total;
	m.row_start = j->row0;
	m.row_end = j->row1;
	m.shard_i = j->shard_i;
	m.shard_n = j->shard_n;
	m.gshard_i = j->gshard_i;
	m.gshard_n = j->gshard_n;
	m.gallery = knn_gallery_count(j->g);
	snprintf(m.filter, sizeof(m.filter), "%s", j->filter_text);
	m.exact = knn_gallery_exact(j->g);
	return knnmeta_write(j->out, &m, err);
}

/* Fill one block of query vectors (and exclusions for stored lesions); returns rows. */
static long next_block(struct job *j, size_t row, size_t max, float *vecs, struct knn_excl *ex,
		       char *err)
{
	size_t i, m = LSD_MIN(max, j->row1 - row);

	if (j->qf)
		return qfile_read(j->qf, vecs, m, err);
	for (i = 0; i < m; i++) {
		struct catalog_entry e;
		int64_t id = j->qids[row + i];

		if (space_get_vector(j->sp, id, vecs + i * (size_t)j->dim))
			return errf(err, "lesion %lld lost its vector", (long long)id);
		ex[i].self_id = id;
		ex[i].patient = catalog_get(j->o.cat, id, &e) ? 0 : e.patient;
		ex[i].same_patient = j->sp_rule;
	}
	return (long)m;
}

static int run(struct job *j)
{
	size_t block, row, done = 0;
	float *vecs = NULL, *dist = NULL;
	int64_t *ids = NULL;
	struct knn_excl *ex = NULL;
	char err[LSD_ERRLEN];
	double t0 = now_ms();
	uint64_t cert, fb;
	int rc = -1;

	block = LSD_MAX((size_t)1, LSD_MIN((size_t)KNN_BLOCK, KNN_CELLS / (2 * (size_t)j->k + 16)));
	vecs = malloc(block * (size_t)j->dim * sizeof(*vecs));
	dist = malloc(block * (size_t)j->k * sizeof(*dist));
	ids = malloc(block * (size_t)j->k * sizeof(*ids));
	ex = calloc(block, sizeof(*ex));
	if (!vecs || !dist || !ids || !ex) {
		errf(err, "out of memory");
		goto out;
	}
	if (open_outputs(j, err))
		goto out;
	if (j->csv)
		printf("query_id,rank,lesion_id,distance\n");
	for (row = j->row0; row < j->row1; row += (size_t)done) {
		long m = next_block(j, row, block, vecs, ex, err);

		if (m <= 0) {
			if (m == 0)
				errf(err, "queries ended early at row %zu", row);
			goto out;
		}
		done = (size_t)m;
		if (knn_search(j->g, vecs, (size_t)m, j->k, j->qids ? ex : NULL, j->nthreads, ids, dist,
			       err))
			goto out;
		if (j->out && (npyw_write(j->w_ids, ids, (size_t)m * (size_t)j->k * sizeof(*ids), err) ||
			       npyw_write(j->w_dist, dist, (size_t)m * (size_t)j->k * sizeof(*dist), err)))
			goto out;
		print_block(j, row, ids, dist, (size_t)m);
		progress(j, row + (size_t)m - j->row0, t0, 0);
	}
	if (fflush(stdout) || ferror(stdout)) {
		errf(err, "writing to stdout failed");
		goto out;
	}
	if (commit_outputs(j, err))
		goto out;
	progress(j, j->row1 - j->row0, t0, 1);
	knn_gallery_stats(j->g, &cert, &fb);
	fprintf(stderr, "knn: %zu queries, k=%d, space %s, gallery %zu vectors%s, %.0f ms "
		"(%.0f queries/s)%s; %llu certified, %llu by exact scan\n", j->row1 - j->row0, j->k,
		j->space, knn_gallery_count(j->g), j->has_filter ? " (filtered)" : "",
		now_ms() - t0, (j->row1 - j->row0) / ((now_ms() - t0) / 1000.0 + 1e-9),
		knn_gallery_exact(j->g) ? ", exact" : ", approximate index",
		(unsigned long long)cert, (unsigned long long)fb);
	rc = 0;
out:
	if (rc) {
		if (j->qf || j->out)
			progress(j, 0, t0, 0);
		fprintf(stderr, "%slesiond knn: %s%s\n", isatty(2) && !j->quiet ? "\n" : "", err,
			j->out ? " (no output written)" : "");
	}
	npyw_abort(j->w_ids);
	npyw_abort(j->w_dist);
	j->w_ids = j->w_dist = NULL;
	free(vecs);
	free(dist);
	free(ids);
	free(ex);
	return rc;
}

/* --filter JSON and the filter flags into j->filter; a canonical text for the metadata. */
static int parse_filter(struct job *j, const char *json, const char *const *vals, const char *same)
{
	char err[LSD_ERRLEN];
	struct sb t;
	int i;

	store_filter_init(&j->filter);
	sb_init(&t, sizeof(j->filter_text) - 1);
	if (json) {
		struct jv *doc = NULL;
		const struct jv *sp;

		if (json_parse(json, strlen(json), &doc, err) || apijson_filter_json(doc, &j->filter, err)) {
			json_free(doc);
			fprintf(stderr, "lesiond knn: --filter: %s\n", err);
			sb_free(&t);
			return -1;
		}
		sp = json_get(doc, "same_patient");
		if (sp && json_is_str(sp) && !same)
			j->sp_rule = search_same_patient_parse(json_str(sp));
		json_free(doc);
		sb_adds(&t, json);
	}
	for (i = 0; filter_flags[i]; i++) {
		if (!vals[i])
			continue;
		if (json) {
			fprintf(stderr, "lesiond knn: give --filter or the filter flags, not both\n");
			sb_free(&t);
			return -1;
		}
		if (apijson_filter_kv(&j->filter, filter_flags[i], vals[i], err)) {
			fprintf(stderr, "lesiond knn: %s\n", err);
			sb_free(&t);
			return -1;
		}
		sb_addf(&t, "%s%s=%s", t.len ? "&" : "", filter_flags[i], vals[i]);
	}
	if (apijson_filter_done(&j->filter, err)) {
		fprintf(stderr, "lesiond knn: %s\n", err);
		sb_free(&t);
		return -1;
	}
	if (j->sp_rule < 0) {
		fprintf(stderr, "lesiond knn: same_patient must be include, exclude or only\n");
		sb_free(&t);
		return -1;
	}
	if (j->sp_rule != SEARCH_SP_INCLUDE)
		sb_addf(&t, "%ssame_patient=%s", t.len ? " " : "",
			j->sp_rule == SEARCH_SP_EXCLUDE ? "exclude" : "only");
	j->has_filter = apijson_filter_is_set(&j->filter);
	snprintf(j->filter_text, sizeof(j->filter_text), "%s", t.p ? t.p : "");
	sb_free(&t);
	return 0;
}


/* --db may name a backup directory: its lesiond.db, opened immutable (1). */
static int resolve_db(struct config *cfg)
{
	struct stat st;
	char p[sizeof(cfg->db)];

	if (stat(cfg->db, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (size_t)snprintf(p, sizeof(p), "%s/%s", cfg->db, BACKUP_DB) < sizeof(p)) {
		memcpy(cfg->db, p, sizeof(p));
		return 1;
	}
	return 0;
}

int cmd_knn(int argc, char **argv)
{
	const char *space = "builtin", *queries = "all", *ks = "10", *fmt = NULL, *same = NULL;
	const char *out = NULL, *shard = NULL, *gshard = NULL, *filter = NULL, *threads = NULL;
	const char *quiet = NULL, *fv[11] = { NULL };
	const struct cli_opt opts[] = {
		{ "--space", "NAME", &space, "embedding space (default builtin)" },
		{ "--queries", "SEL", &queries, "split=train|val|test, ids=FILE, all (default), or "
		  "a vector file .npy/.fvecs/.ndjson" },
		{ "--k", "N", &ks, "neighbours per query (default 10, at most 10000)" },
		{ "--out", "PREFIX", &out, "write PREFIX.ids.npy, PREFIX.distances.npy, PREFIX.knn.json" },
		{ "--format", "F", &fmt, "stdout: csv (default without --out), ndjson or none" },
		{ "--shard", "I/N", &shard, "the I-th of N slices of the queries (I from 0)" },
		{ "--gallery-shard", "I/N", &gshard, "search the I-th of N slices of the gallery" },
		{ "--filter", "JSON", &filter, "the HTTP search's filter object" },
		{ "--type", "T", &fv[0], "lesion types (names or codes, comma-separated)" },
		{ "--split", "S", &fv[1], "train, val, test (comma-separated)" },
		{ "--patient", "N", &fv[2], "one patient" },
		{ "--study", "N", &fv[3], "one study" },
		{ "--min-diam-mm", "MM", &fv[4], "long diameter at least" },
		{ "--max-diam-mm", "MM", &fv[5], "long diameter at most" },
		{ "--gender", "M|F", &fv[6], "gender" },
		{ "--min-age", "Y", &fv[7], "age at least" },
		{ "--max-age", "Y", &fv[8], "age at most" },
		{ "--exclude-noisy", "BOOL", &fv[9], "true: leave out lesions marked noisy" },
		{ "--same-patient", "R", &same, "include (default), exclude or only (stored lesions)" },
		{ "--threads", "N", &threads, "search threads (default: the CPUs)" },
		{ "--quiet", NULL, &quiet, "no progress bar" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct job j;
	char err[LSD_ERRLEN];
	int64_t v;
	int r, rc = 1;

	memset(&j, 0, sizeof(j));
	j.shard_n = j.gshard_n = 1;
	r = cli_parse(argc, argv, opts, usage, &cfg);
	if (r)
		return r > 0 ? 0 : 2;
	j.space = space;
	j.queries = queries;
	j.out = out;
	j.quiet = !!quiet;
	j.sp_rule = same ? search_same_patient_parse(same) : SEARCH_SP_INCLUDE;
	if (!fmt)
		fmt = out ? "none" : "csv";
	j.csv = !strcmp(fmt, "csv");
	j.ndjson = !strcmp(fmt, "ndjson");
	if (parse_i64(ks, 1, 10000, &v) || (!j.csv && !j.ndjson && strcmp(fmt, "none"))) {
		fprintf(stderr, "lesiond knn: bad --k or --format (see --help)\n");
		return 2;
	}
	j.k = (int)v;
	j.nthreads = (int)LSD_MAX(1, sysconf(_SC_NPROCESSORS_ONLN));
	if (threads) {
		if (parse_i64(threads, 1, 256, &v)) {
			fprintf(stderr, "lesiond knn: --threads: 1..256\n");
			return 2;
		}
		j.nthreads = (int)v;
	}
	if (parse_shard(shard, "--shard", &j.shard_i, &j.shard_n) ||
	    parse_shard(gshard, "--gallery-shard", &j.gshard_i, &j.gshard_n) ||
	    parse_filter(&j, filter, fv, same))
		return 2;
	if (!stored_selector(queries) && j.sp_rule != SEARCH_SP_INCLUDE) {
		fprintf(stderr, "lesiond knn: same_patient rules need stored-lesion queries (a vector "
			"file has no patient)\n");
		return 2;
	}
	if (offline_open_ro(&cfg, "knn", resolve_db(&cfg), &j.o))
		return 1;
	j.sp = offline_space(&j.o, "knn", space);
	if (!j.sp)
		goto out;
	j.dim = space_dim(j.sp);
	if (stored_selector(queries)) {
		j.qids = select_queries(&j.o, j.sp, queries, &j.nq_total);
		if (!j.qids)
			goto out;
	} else {
		if (qfile_open(queries, &j.qf, err)) {
			fprintf(stderr, "lesiond knn: %s\n", err);
			goto out;
		}
		if (qfile_dim(j.qf) != j.dim) {
			fprintf(stderr, "lesiond knn: %s: vectors of dimension %d, space %s has %d\n",
				queries, qfile_dim(j.qf), space, j.dim);
			goto out;
		}
		j.nq_total = qfile_rows(j.qf);
	}
	j.row0 = knn_slice_start(j.nq_total, j.shard_i, j.shard_n);
	j.row1 = knn_slice_start(j.nq_total, j.shard_i + 1, j.shard_n);
	if (j.qf && qfile_seek(j.qf, j.row0, err)) {
		fprintf(stderr, "lesiond knn: %s\n", err);
		goto out;
	}
	if (knn_gallery_open(j.sp, j.o.cat, j.has_filter ? &j.filter : NULL, j.gshard_i,
			     j.gshard_n, &j.g, err)) {
		fprintf(stderr, "lesiond knn: %s\n", err);
		goto out;
	}
	rc = run(&j) ? 1 : 0;
out:
	knn_gallery_close(j.g);
	qfile_close(j.qf);
	free(j.qids);
	offline_close(&j.o);
	return rc;
}
