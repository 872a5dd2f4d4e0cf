/* cmd_knn.c - `lesiond knn`: batch k-nearest-neighbour search from the command line, no
 * server: the same search_run the API uses, in blocks through the index's batched
 * (BLAS) path. Writes CSV (query_id,rank,lesion_id,distance) or NDJSON to stdout. */
#include "cli.h"
#include "offline.h"
#include "search.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KNN_BLOCK 4096

static const char usage[] =
	"usage: lesiond knn [--space builtin] [--queries split=test|ids=FILE|all] [--k 10]\n"
	"                   [--same-patient include|exclude|only] [--format csv|ndjson]\n\n"
	"Batch nearest-neighbour search over the database's index, no server needed. Each\n"
	"query is a stored lesion (its vector); it is never its own neighbour. Output on\n"
	"stdout: CSV query_id,rank,lesion_id,distance (or NDJSON, one line per query).";

/* The query lesion ids, ascending. */
static int64_t *select_queries(struct offline *o, struct space *sp, const char *sel,
			       size_t *n)
{
	int64_t *ids = NULL, *out = NULL;
	size_t nids = 0, i, m = 0;
	char err[LSD_ERRLEN];
	int split = 0;

	*n = 0;
	if (!strncmp(sel, "ids=", 4)) {
		size_t len;
		char *text = file_read(sel + 4, 1u << 30, &len, err), *p, *save = NULL;
		size_t cap = 1024;

		if (!text) {
			fprintf(stderr, "lesiond knn: %s\n", err);
			return NULL;
		}
		out = malloc(cap * sizeof(*out));
		for (p = strtok_r(text, " \t\r\n,", &save); out && p; p = strtok_r(NULL, " \t\r\n,", &save)) {
			int64_t v;

			if (parse_i64(p, 1, INT64_MAX, &v)) {
				fprintf(stderr, "lesiond knn: %s: '%s' is not a lesion id\n", sel + 4, p);
				free(out);
				free(text);
				return NULL;
			}
			if (m == cap) {
				int64_t *q = realloc(out, cap * 2 * sizeof(*q));

				if (!q)
					break;
				out = q;
				cap *= 2;
			}
			out[m++] = v;
		}
		free(text);
		*n = m;
		return out;
	}
	if (!strncmp(sel, "split=", 6)) {
		split = lesion_split_parse(sel + 6);
		if (split < 0) {
			fprintf(stderr, "lesiond knn: --queries: unknown split '%s'\n", sel + 6);
			return NULL;
		}
	} else if (strcmp(sel, "all")) {
		fprintf(stderr, "lesiond knn: --queries: use split=S, ids=FILE or all\n");
		return NULL;
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
	/* ascending for a deterministic output order */
	for (i = 1; out && i < m; i++) {
		int64_t v = out[i];
		size_t j = i;

		while (j > 0 && out[j - 1] > v) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = v;
	}
	*n = m;
	return out;
}

int cmd_knn(int argc, char **argv)
{
	const char *space = "builtin", *queries = "all", *ks = "10", *fmt = "csv", *same = "include";
	const struct cli_opt opts[] = {
		{ "--space", "NAME", &space, "embedding space (default builtin)" },
		{ "--queries", "SEL", &queries, "split=train|val|test, ids=FILE, or all (default)" },
		{ "--k", "N", &ks, "neighbours per query (default 10)" },
		{ "--same-patient", "R", &same, "include (default), exclude or only" },
		{ "--format", "F", &fmt, "csv (default) or ndjson" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct offline o;
	struct space *sp;
	struct search_query *q = NULL;
	struct search_hit *hb = NULL, **hp = NULL;
	float *vecs = NULL;
	int *nh = NULL;
	int64_t *qids = NULL, k;
	size_t nq = 0, done = 0;
	int r, rc = 1, dim, sp_rule, tty = isatty(2), ndjson;
	char err[LSD_ERRLEN];
	double t0 = now_ms();

	r = cli_parse(argc, argv, opts, usage, &cfg);
	if (r)
		return r > 0 ? 0 : 2;
	sp_rule = search_same_patient_parse(same);
	ndjson = !strcmp(fmt, "ndjson");
	if (parse_i64(ks, 1, 10000, &k) || sp_rule < 0 || (!ndjson && strcmp(fmt, "csv"))) {
		fprintf(stderr, "lesiond knn: bad --k, --same-patient or --format (see --help)\n");
		return 2;
	}
	if (offline_open(&cfg, "knn", &o))
		return 1;
	sp = offline_space(&o, "knn", space);
	if (!sp)
		goto out;
	qids = select_queries(&o, sp, queries, &nq);
	if (!qids)
		goto out;
	dim = space_dim(sp);
	q = calloc(KNN_BLOCK, sizeof(*q));
	hp = calloc(KNN_BLOCK, sizeof(*hp));
	nh = calloc(KNN_BLOCK, sizeof(*nh));
	hb = malloc((size_t)KNN_BLOCK * (size_t)k * sizeof(*hb));
	vecs = malloc((size_t)KNN_BLOCK * (size_t)dim * sizeof(float));
	if (!q || !hp || !nh || !hb || !vecs) {
		fprintf(stderr, "lesiond knn: out of memory\n");
		goto out;
	}
	if (!ndjson)
		printf("query_id,rank,lesion_id,distance\n");
	while (done < nq) {
		size_t m = 0, j;

		for (; done < nq && m < KNN_BLOCK; done++) {
			struct catalog_entry e;

			if (space_get_vector(sp, qids[done], vecs + m * (size_t)dim)) {
				fprintf(stderr, "lesiond knn: lesion %lld has no vector in %s; skipped\n",
					(long long)qids[done], space);
				continue;
			}
			memset(&q[m], 0, sizeof(q[m]));
			q[m].vec = vecs + m * (size_t)dim;
			q[m].self_id = qids[done];
			q[m].patient = catalog_get(o.cat, qids[done], &e) ? 0 : e.patient;
			q[m].same_patient = sp_rule;
			q[m].k = (int)k;
			hp[m] = hb + m * (size_t)k;
			m++;
		}
		if (m && search_run(sp, o.cat, q, m, hp, nh, NULL, err)) {
			fprintf(stderr, "lesiond knn: %s\n", err);
			goto out;
		}
		for (j = 0; j < m; j++) {
			int h;

			if (ndjson) {
				printf("{\"query_id\":%lld,\"results\":[", (long long)q[j].self_id);
				for (h = 0; h < nh[j]; h++)
					printf("%s{\"rank\":%d,\"lesion_id\":%lld,\"distance\":%.7g}",
					       h ? "," : "", h + 1, (long long)hp[j][h].id, hp[j][h].dist);
				printf("]}\n");
			} else {
				for (h = 0; h < nh[j]; h++)
					printf("%lld,%d,%lld,%.7g\n", (long long)q[j].self_id, h + 1,
					       (long long)hp[j][h].id, hp[j][h].dist);
			}
		}
		if (tty)
			fprintf(stderr, "\rknn: %zu/%zu queries", done, nq);
	}
	if (tty)
		fprintf(stderr, "\n");
	fprintf(stderr, "knn: %zu queries, k=%lld, space %s, %.0f ms (%.0f queries/s)\n", nq,
		(long long)k, space, now_ms() - t0, nq / ((now_ms() - t0) / 1000.0 + 1e-9));
	rc = 0;
out:
	free(q);
	free(hp);
	free(nh);
	free(hb);
	free(vecs);
	free(qids);
	offline_close(&o);
	return rc;
}
