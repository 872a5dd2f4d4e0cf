/* cmd_graph.c - `lesiond graph`: (re)build the intra-patient lesion graph and, given
 * ground truth, measure or calibrate it.
 *
 *   lesiond graph [--patient N]                      rebuild (all patients, or one)
 *   lesiond graph --truth ground_truth.csv           rebuild, then pairwise P/R/F1
 *   lesiond graph --truth FILE --calibrate           grid-search the weights/threshold
 *
 * The truth file is a CSV with a header naming at least `lesion_id` and `track_id`
 * (the demo generator's ground_truth.csv: lesion_id,patient,study,true_type,track_id);
 * lesions without a row are left out of the scores. Each patient is rebuilt in its own
 * store transaction; calibration runs in memory and prints config lines to paste into
 * lesiond.conf. Load: DeepLesion's 32k lesions rebuild in seconds.
 */
#include "cli.h"
#include "graph.h"
#include "handlers.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRUTH_MAX_BYTES (512u << 20)

static const char usage[] =
	"usage: lesiond graph [--patient N] [--truth ground_truth.csv [--calibrate]] [--db PATH]\n\n"
	"Rebuild the lesion graph (edges joining the same lesion across a patient's studies)\n"
	"from the config's graph_* settings. With --truth, report pairwise precision, recall\n"
	"and F1 of same-lesion links against the file's track_id column, and the share of\n"
	"true tracks recovered whole; with --calibrate, grid-search graph_w_size,\n"
	"graph_w_embed and graph_threshold (graph_w_loc = 1) for the best F1 and print them.";

struct truth {
	int64_t *id, *track;	/* sorted by id */
	size_t n;
};

struct idpair {
	int64_t id, track;
};

static int idpair_cmp(const void *x, const void *y)
{
	const struct idpair *a = x, *b = y;

	return (a->id > b->id) - (a->id < b->id);
}

/* Split a CSV line (no quoting needed for these files) into at most max fields. */
static int csv_split(char *s, char **f, int max)
{
	int n = 0;

	while (n < max) {
		f[n++] = s;
		s = strchr(s, ',');
		if (!s)
			break;
		*s++ = '\0';
	}
	return n;
}

static int truth_load(const char *path, struct truth *t, char *err)
{
	char *buf = NULL, *line, *next, *f[32];
	struct idpair *v = NULL;
	size_t len, n = 0, cap = 0;
	int ci = -1, ct = -1, nf, lineno = 1, rc = -1;

	memset(t, 0, sizeof(*t));
	buf = file_read(path, TRUTH_MAX_BYTES, &len, err);
	if (!buf)
		return -1;
	line = buf;
	next = strchr(line, '\n');
	if (next)
		*next++ = '\0';
	line[strcspn(line, "\r")] = '\0';
	nf = csv_split(line, f, 32);
	for (int k = 0; k < nf; k++) {
		if (!strcmp(f[k], "lesion_id"))
			ci = k;
		else if (!strcmp(f[k], "track_id"))
			ct = k;
	}
	if (ci < 0 || ct < 0) {
		errf(err, "%s: header needs lesion_id and track_id columns", path);
		goto out;
	}
	for (line = next; line && *line; line = next) {
		int64_t id, tr;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line[strcspn(line, "\r")] = '\0';
		if (!*line)
			continue;
		nf = csv_split(line, f, 32);
		if (nf <= ci || nf <= ct || parse_i64(f[ci], 1, INT64_MAX, &id) ||
		    parse_i64(f[ct], INT64_MIN, INT64_MAX, &tr)) {
			errf(err, "%s:%d: need integer lesion_id and track_id", path, lineno);
			goto out;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 4096;
			struct idpair *p = realloc(v, nc * sizeof(*v));

			if (!p) {
				errf(err, "out of memory");
				goto out;
			}
			v = p;
			cap = nc;
		}
		v[n].id = id;
		v[n].track = tr;
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), idpair_cmp);
	t->id = malloc((n ? n : 1) * sizeof(*t->id));
	t->track = malloc((n ? n : 1) * sizeof(*t->track));
	if (!t->id || !t->track) {
		errf(err, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		t->id[k] = v[k].id;
		t->track[k] = v[k].track;
	}
	t->n = n;
	rc = 0;
out:
	if (rc) {
		free(t->id);
		free(t->track);
		memset(t, 0, sizeof(*t));
	}
	free(v);
	free(buf);
	return rc;
}

static int truth_find(const struct truth *t, int64_t id, int64_t *track)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->id[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < t->n && t->id[lo] == id) {
		*track = t->track[lo];
		return 1;
	}
	return 0;
}

/* Labelled lesions of every patient with their stored-graph track. */
struct labelled {
	struct lesion *l;
	int *patient, *study;
	int64_t *truth, *pred;
	size_t n, cap;
};

static int lab_push(struct labelled *a, const struct lesion *l, int64_t truth, int64_t pred)
{
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 4096;
		struct lesion *l2 = realloc(a->l, nc * sizeof(*l2));
		int *p2, *s2;
		int64_t *t2, *q2;

		if (!l2)
			return -1;
		a->l = l2;
		p2 = realloc(a->patient, nc * sizeof(*p2));
		if (!p2)
			return -1;
		a->patient = p2;
		s2 = realloc(a->study, nc * sizeof(*s2));
		if (!s2)
			return -1;
		a->study = s2;
		t2 = realloc(a->truth, nc * sizeof(*t2));
		if (!t2)
			return -1;
		a->truth = t2;
		q2 = realloc(a->pred, nc * sizeof(*q2));
		if (!q2)
			return -1;
		a->pred = q2;
		a->cap = nc;
	}
	a->l[a->n] = *l;
	a->patient[a->n] = l->patient;
	a->study[a->n] = l->study;
	a->truth[a->n] = truth;
	a->pred[a->n] = pred;
	a->n++;
	return 0;
}

static void lab_free(struct labelled *a)
{
	free(a->l);
	free(a->patient);
	free(a->study);
	free(a->truth);
	free(a->pred);
}

static int collect(struct store *st, const int64_t *pids, size_t np, const struct truth *t,
		   struct labelled *a, char *err)
{
	for (size_t k = 0; k < np; k++) {
		struct lesion *l = NULL;
		struct graph_edge *e = NULL;
		int *track = NULL;
		size_t n = 0, ne = 0;
		int rc = -1;

		if (store_patient_lesions(st, pids[k], &l, &n, err) ||
		    store_graph_edges(st, pids[k], &e, &ne, err))
			goto next;
		track = malloc((n ? n : 1) * sizeof(*track));
		if (!track) {
			errf(err, "out of memory");
			goto next;
		}
		if (graph_components(l, n, e, ne, track, err) < 0)
			goto next;
		for (size_t i = 0; i < n; i++) {
			int64_t tr;

			if (truth_find(t, l[i].id, &tr) && lab_push(a, &l[i], tr, track[i])) {
				errf(err, "out of memory");
				goto next;
			}
		}
		rc = 0;
next:
		free(l);
		free(e);
		free(track);
		if (rc)
			return -1;
	}
	return 0;
}

static void print_eval(const char *what, const struct graph_eval *ev)
{
	printf("%s: pairs tp %lld fp %lld fn %lld; precision %.4f recall %.4f F1 %.4f; "
	       "tracks recovered whole %lld/%lld (%.4f), multi-lesion %lld/%lld (%.4f)\n", what,
	       (long long)ev->tp, (long long)ev->fp, (long long)ev->fn, ev->precision,
	       ev->recall, ev->f1, (long long)ev->whole, (long long)ev->tracks, ev->whole_share,
	       (long long)ev->multi_whole, (long long)ev->multi_tracks, ev->multi_whole_share);
}

int cmd_graph(int argc, char **argv)
{
	const char *patient = NULL, *truth_path = NULL, *calibrate = NULL;
	const struct cli_opt opts[] = {
		{ "--patient", "N", &patient, "rebuild this patient only" },
		{ "--truth", "FILE", &truth_path, "ground truth CSV (lesion_id,...,track_id)" },
		{ "--calibrate", NULL, &calibrate, "grid-search the parameters (needs --truth)" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct graph_params p;
	struct store *st = NULL;
	struct truth t;
	struct labelled lab;
	int64_t *pids = NULL, one;
	size_t np = 0, les = 0, edges = 0, dropped = 0, tracks = 0;
	char err[LSD_ERRLEN];
	double t0 = now_ms(), t1;
	int r, rc = 1;

	memset(&t, 0, sizeof(t));
	memset(&lab, 0, sizeof(lab));
	r = cli_parse(argc, argv, opts, usage, &cfg);
	if (r)
		return r > 0 ? 0 : 2;
	if (calibrate && !truth_path) {
		fprintf(stderr, "lesiond graph: --calibrate needs --truth FILE\n");
		return 2;
	}
	if (patient && parse_i64(patient, 1, INT64_MAX, &one)) {
		fprintf(stderr, "lesiond graph: --patient: not a positive integer: %s\n", patient);
		return 2;
	}
	h_graph_params(&cfg, &p);
	if (truth_path && truth_load(truth_path, &t, err)) {
		fprintf(stderr, "lesiond graph: %s\n", err);
		goto out;
	}
	if (store_open(cfg.db, &st, err)) {
		fprintf(stderr, "lesiond graph: %s\n", err);
		goto out;
	}
	if (patient) {
		pids = malloc(sizeof(*pids));
		if (!pids)
			goto out;
		pids[0] = one;
		np = 1;
	} else if (store_patient_ids(st, &pids, &np, err)) {
		fprintf(stderr, "lesiond graph: %s\n", err);
		goto out;
	}
	for (size_t k = 0; k < np; k++) {
		struct store_graph_stats s;

		if (store_graph_rebuild(st, pids[k], &p, &s, err)) {
			fprintf(stderr, "lesiond graph: patient %lld: %s\n", (long long)pids[k], err);
			goto out;
		}
		les += s.lesions;
		edges += s.edges;
		dropped += s.dropped;
		tracks += s.tracks;
	}
	t1 = now_ms();
	printf("graph: %zu patients, %zu lesions, %zu edges (%zu dropped by the "
	       "one-lesion-per-study rule), %zu tracks, %.0f ms\n", np, les, edges, dropped,
	       tracks, t1 - t0);
	printf("graph: parameters w_loc %g w_size %g w_embed %g threshold %g (max_dloc %g, "
	       "max_size_ratio %g, type_gate %d)\n", p.w_loc, p.w_size, p.w_embed, p.threshold,
	       p.max_dloc, p.max_size_ratio, p.type_gate);
	if (truth_path) {
		struct graph_eval ev;

		if (collect(st, pids, np, &t, &lab, err) ||
		    graph_eval(lab.patient, lab.study, lab.truth, lab.pred, lab.n, &ev, err)) {
			fprintf(stderr, "lesiond graph: %s\n", err);
			goto out;
		}
		printf("eval: %zu labelled lesions of %zu in the truth file\n", lab.n, t.n);
		print_eval("eval", &ev);
	}
	if (calibrate) {
		struct graph_params best;
		struct graph_eval ev;

		t0 = now_ms();
		if (graph_calibrate(lab.l, lab.n, NULL, 0, lab.truth, NULL, &p, &best, &ev, err)) {
			fprintf(stderr, "lesiond graph: %s\n", err);
			goto out;
		}
		printf("calibrate: %.0f ms\n", now_ms() - t0);
		print_eval("calibrate: best", &ev);
		printf("graph_w_loc = %g\ngraph_w_size = %g\ngraph_w_embed = %g\n"
		       "graph_threshold = %g\n", best.w_loc, best.w_size, best.w_embed,
		       best.threshold);
	}
	rc = 0;
out:
	store_close(st);
	free(pids);
	free(t.id);
	free(t.track);
	lab_free(&lab);
	return rc;
}
