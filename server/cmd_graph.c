/* cmd_graph.c - `lesiond graph`: (re)build the intra-patient lesion graph and, given
 * ground truth, measure or calibrate it.
 *
 *   lesiond graph [--patient N] [--space NAME]      rebuild (all patients, or one)
 *   lesiond graph --truth ground_truth.csv           rebuild, then pairwise P/R/F1
 *   lesiond graph --truth FILE --calibrate           grid-search the weights/threshold
 *
 * The embedding evidence comes from the space named by graph_space (or --space; "none"
 * for no embedding term). Measuring and calibrating are graphrun.c's, shared with
 * `lesiond eval --graph`; see docs/graph.md. Each patient is rebuilt in its own store
 * transaction. Load: DeepLesion's 32k lesions rebuild in seconds.
 */
#include "cli.h"
#include "graph.h"
#include "graphrun.h"
#include "handlers.h"
#include "offline.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRAPH_REPORT_MAX (1u << 20)

static const char usage[] =
	"usage: lesiond graph [--patient N] [--space NAME] [--truth ground_truth.csv "
	"[--calibrate] [--json]] [--db PATH]\n\n"
	"Rebuild the lesion graph (edges joining the same lesion across a patient's studies)\n"
	"from the config's graph_* settings, with embedding distances from the space named by\n"
	"graph_space (--space overrides it; none: no embedding term). With --truth, report\n"
	"pairwise precision, recall and F1 of same-lesion links against the file's track_id\n"
	"column and the share of true tracks recovered whole (as lesiond eval --graph); with\n"
	"--calibrate, grid-search graph_w_size, graph_w_embed and graph_threshold\n"
	"(graph_w_loc = 1) for the best F1 and print them as config lines (docs/graph.md);\n"
	"--fit scales: fit the scale model instead (robust per-axis and size scales of the\n"
	"labelled links, threshold from a chi-square quantile fixed in advance); --fit threshold:\n"
	"fit graph_threshold only, every weight the config's.";

/* --space NAME into cfg (none: no space); 0, or -1 when the name does not fit. */
int cmd_graph_space_opt(struct config *cfg, const char *space)
{
	if (!space)
		return 0;
	if (!strcmp(space, "none"))
		space = "";
	if (strlen(space) >= sizeof(cfg->graph_space))
		return -1;
	memcpy(cfg->graph_space, space, strlen(space) + 1);
	return 0;
}

int cmd_graph_fit_opt(const char *fit)
{
	if (!fit || !strcmp(fit, "grid"))
		return GRAPHRUN_FIT_GRID;
	if (!strcmp(fit, "threshold"))
		return GRAPHRUN_FIT_THRESHOLD;
	return strcmp(fit, "scales") ? -1 : GRAPHRUN_FIT_SCALES;
}

/* Score (and with calibrate, calibrate) the graph of patients pids (NULL: all) against
 * the truth file, print the report; the exit status. Shared with `lesiond eval --graph`. */
int cmd_graph_eval(const char *cmd, struct offline *o, const struct config *cfg,
		   const char *truth_path, const int64_t *pids, size_t np, int calibrate,
		   int crossval, int fit, size_t bags, size_t repeats, uint64_t seed,
		   int json)
{
	struct graphrun_truth t;
	struct graphrun_result res;
	struct graph_params p;
	struct space *sp = h_graph_space(o->sp, cfg);
	struct sb b;
	char err[LSD_ERRLEN];
	int rc = 1;

	sb_init(&b, GRAPH_REPORT_MAX);
	memset(&res, 0, sizeof(res));	/* freed at out, also when the truth file is refused */
	h_graph_params(cfg, &p);
	if (graphrun_truth_load(truth_path, &t, err)) {
		fprintf(stderr, "lesiond %s: %s\n", cmd, err);
		goto out;
	}
	if (graphrun_eval(o->st, sp, &p, &t, pids, np, calibrate ? fit : 0, &res, err) ||
	    (crossval && graphrun_crossval(o->st, sp, &p, &t, pids, np, fit, bags, repeats, seed,
					   &res, err))) {
		fprintf(stderr, "lesiond %s: %s\n", cmd, err);
		goto out;
	}
	graphrun_report(&b, sp ? space_name(sp) : "", &p, &res, json);
	fwrite(b.p, 1, b.len, stdout);
	rc = 0;
out:
	graphrun_truth_free(&t);
	graphrun_result_free(&res);
	sb_free(&b);
	return rc;
}

int cmd_graph(int argc, char **argv)
{
	const char *patient = NULL, *truth_path = NULL, *calibrate = NULL, *space = NULL;
	const char *json = NULL, *fit = NULL;
	const struct cli_opt opts[] = {
		{ "--patient", "N", &patient, "rebuild this patient only" },
		{ "--space", "NAME", &space, "embedding space (default: graph_space; none: no "
		  "embedding term)" },
		{ "--truth", "FILE", &truth_path, "ground truth CSV (lesion_id,...,track_id)" },
		{ "--calibrate", NULL, &calibrate, "grid-search the parameters (needs --truth)" },
		{ "--fit", "grid|scales|threshold", &fit, "with --calibrate: the grid search "
		  "(default), the scale model or the threshold alone (docs/graph.md)" },
		{ "--json", NULL, &json, "print the --truth report as JSON" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct graph_params p;
	struct offline o;
	struct space *sp;
	int64_t *pids = NULL, one;
	size_t np = 0, les = 0, edges = 0, dropped = 0, tracks = 0, with_vec = 0;
	char err[LSD_ERRLEN];
	double t0 = now_ms();
	int r, rc = 1, fitk;

	r = cli_parse(argc, argv, opts, usage, &cfg);
	if (r)
		return r > 0 ? 0 : 2;
	if (calibrate && !truth_path) {
		fprintf(stderr, "lesiond graph: --calibrate needs --truth FILE\n");
		return 2;
	}
	if ((fitk = cmd_graph_fit_opt(fit)) < 0 || (fit && !calibrate)) {
		fprintf(stderr, "lesiond graph: --fit grid|scales|threshold, with --calibrate\n");
		return 2;
	}
	if (patient && parse_i64(patient, 1, INT64_MAX, &one)) {
		fprintf(stderr, "lesiond graph: --patient: not a positive integer: %s\n", patient);
		return 2;
	}
	if (cmd_graph_space_opt(&cfg, space)) {
		fprintf(stderr, "lesiond graph: --space: name too long\n");
		return 2;
	}
	h_graph_params(&cfg, &p);
	if (offline_open(&cfg, "graph", &o))
		return 1;
	sp = h_graph_space(o.sp, &cfg);
	if (cfg.graph_space[0] && !sp)
		fprintf(stderr, "lesiond graph: no embedding space '%s' (run lesiond embed): "
			"building without the embedding term\n", cfg.graph_space);
	if (patient) {
		pids = malloc(sizeof(*pids));
		if (!pids)
			goto out;
		pids[0] = one;
		np = 1;
	} else if (store_patient_ids(o.st, &pids, &np, err)) {
		fprintf(stderr, "lesiond graph: %s\n", err);
		goto out;
	}
	for (size_t k = 0; k < np; k++) {
		struct graphrun_stats s;

		if (graphrun_rebuild(o.st, pids[k], &p, sp, &s, err)) {
			fprintf(stderr, "lesiond graph: patient %lld: %s\n", (long long)pids[k], err);
			goto out;
		}
		les += s.lesions;
		edges += s.edges;
		dropped += s.dropped;
		tracks += s.tracks;
		with_vec += s.with_vec;
	}
	if (!json) {
		printf("graph: %zu patients, %zu lesions, %zu edges (%zu dropped by the "
		       "one-lesion-per-study rule), %zu tracks, %.0f ms\n", np, les, edges, dropped,
		       tracks, now_ms() - t0);
		printf("graph: parameters w_loc %g w_size %g w_embed %g threshold %g (max_dloc %g, "
		       "max_size_ratio %g, type_gate %d); embedding space %s (%zu lesions with a "
		       "vector)\n", p.w_loc, p.w_size, p.w_embed, p.threshold, p.max_dloc,
		       p.max_size_ratio, p.type_gate, sp ? space_name(sp) : "none", with_vec);
	}
	if (truth_path) {
		fflush(stdout);
		rc = cmd_graph_eval("graph", &o, &cfg, truth_path, pids, np, calibrate != NULL, 0,
				    fitk, 0, 0, 0, json != NULL);
		goto out;
	}
	rc = 0;
out:
	offline_close(&o);
	free(pids);
	return rc;
}
