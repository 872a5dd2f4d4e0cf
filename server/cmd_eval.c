/* cmd_eval.c - `lesiond eval`: Deep Lesion Graphs' retrieval protocol (index/eval.c),
 * printed as a table and as JSON; with --graph, the lesion graph's same-lesion links
 * against ground-truth track ids (cmd_graph_eval, shared with `lesiond graph --truth`). */
#include "cli.h"
#include "eval.h"
#include "graphrun.h"
#include "offline.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: lesiond eval [--space builtin] [--split test] [--truth ground_truth.csv] [--json]\n"
	"       lesiond eval --graph --truth ground_truth.csv [--space NAME] [--calibrate] [--json]\n"
	"       lesiond eval --graph --pairs PAIRS.csv [--crossval [--repeats N] [--seed S]\n"
	"                    [--bags B]] [--fit grid|scales|threshold]\n"
	"                    [--space NAME] [--calibrate]\n\n"
	"The retrieval protocol of Deep Lesion Graphs: each query lesion with a known coarse type\n"
	"(default: the test split) retrieves its nearest lesions among other patients'; at K = 1,\n"
	"5, 10: type precision, type accuracy by majority vote, location error (normalised x,y,z)\n"
	"and size error (mm). --truth takes every lesion's type from the demo's ground truth.\n"
	"--graph: build every patient's lesion graph in memory from the config's graph_*\n"
	"settings (embedding space graph_space, or --space; none: no embedding term) and\n"
	"report pairwise precision, recall and F1 of same-lesion links against the truth\n"
	"file's track_id column, and the share of true tracks recovered whole; --calibrate\n"
	"also grid-searches the weights and threshold (docs/graph.md). --pairs: the truth is a\n"
	"CSV of linked lesion_a,lesion_b ids (each track the connected group of its links;\n"
	"only the lesions it names are scored); every missed and wrong link is listed with its\n"
	"costs. --crossval: fit on half of the labelled patients, measure on the other half,\n"
	"both ways (docs/graph.md); --repeats N: also over N random halvings of the patients\n"
	"(seed S, default 1): mean, sd, min and max of P and R, and all repeats pooled;\n"
	"--bags B: each fit bagged over B bootstrap samples of its patients. --fit scales:\n"
	"--calibrate and each --crossval fit use the scale model (robust per-axis and size\n"
	"scales of the labelled links, threshold from a chi-square quantile fixed in advance);\n"
	"--fit threshold: fit the threshold only, every weight the config's.\n"
	"Nothing is written.";

static void print_json(const char *space, const struct eval_result *r)
{
	int i;

	printf("{\"space\":\"%s\",\"queries\":%ld,\"skipped\":%ld,\"seconds\":%.3f,\"at\":[", space,
	       r->queries, r->skipped, r->seconds);
	for (i = 0; i < EVAL_NK; i++)
		printf("%s{\"k\":%d,\"type_precision\":%.4f,\"type_accuracy\":%.4f,"
		       "\"location_error\":%.4f,\"size_error_long_mm\":%.3f,"
		       "\"size_error_short_mm\":%.3f}", i ? "," : "", r->ks[i], r->type_precision[i],
		       r->type_accuracy[i], r->loc_error[i], r->size_error_long[i],
		       r->size_error_short[i]);
	printf("]}\n");
}

int cmd_eval(int argc, char **argv)
{
	const char *space = NULL, *split = "test", *truth = NULL, *json = NULL, *graph = NULL;
	const char *calibrate = NULL, *pairs = NULL, *crossval = NULL, *repeats = NULL;
	const char *seed = NULL, *bags = NULL, *fit = NULL;
	int64_t nrep = 0, rseed = 1, nbags = 0;
	int fitk;
	const struct cli_opt opts[] = {
		{ "--space", "NAME", &space, "embedding space (default builtin; with --graph "
		  "graph_space)" },
		{ "--split", "S", &split, "query split: train, val, test or all (default test)" },
		{ "--truth", "FILE", &truth, "ground_truth.csv with every lesion's type" },
		{ "--json", NULL, &json, "print JSON only" },
		{ "--graph", NULL, &graph, "evaluate the lesion graph instead (needs --truth)" },
		{ "--calibrate", NULL, &calibrate, "with --graph: grid-search its parameters" },
		{ "--pairs", "FILE", &pairs, "with --graph: truth as linked pairs lesion_a,lesion_b" },
		{ "--crossval", NULL, &crossval, "with --graph: 2-fold cross-validation by patient" },
		{ "--repeats", "N", &repeats, "with --crossval: also N random halvings (1..10000)" },
		{ "--seed", "S", &seed, "with --repeats: the halvings' seed (default 1)" },
		{ "--bags", "B", &bags, "with --crossval: bag each fit over B bootstrap samples "
		  "(1..1000)" },
		{ "--fit", "grid|scales|threshold", &fit, "with --calibrate or --crossval: the grid "
		  "search (default), the scale model or the threshold alone" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct offline o;
	struct space *sp;
	struct eval_opts eo;
	struct eval_result res;
	int64_t *tracks = NULL;
	int8_t *types = NULL;
	char err[LSD_ERRLEN];
	int r, i, rc = 1;

	r = cli_parse(argc, argv, opts, usage, &cfg);
	if (r)
		return r > 0 ? 0 : 2;
	memset(&eo, 0, sizeof(eo));
	if (!strcmp(split, "all")) {
		eo.query_splits = (1u << 1) | (1u << 2) | (1u << 3);
	} else {
		int s = lesion_split_parse(split);

		if (s < 0) {
			fprintf(stderr, "lesiond eval: --split: '%s' is not train, val, test or all\n", split);
			return 2;
		}
		eo.query_splits = 1u << s;
	}
	if (calibrate && !graph) {
		fprintf(stderr, "lesiond eval: --calibrate needs --graph\n");
		return 2;
	}
	if ((pairs || crossval) && !graph) {
		fprintf(stderr, "lesiond eval: --pairs and --crossval need --graph\n");
		return 2;
	}
	if ((fitk = cmd_graph_fit_opt(fit)) < 0 || (fit && !calibrate && !crossval)) {
		fprintf(stderr, "lesiond eval: --fit grid|scales|threshold, with --calibrate or --crossval\n");
		return 2;
	}
	if (bags && fitk == GRAPHRUN_FIT_SCALES) {
		fprintf(stderr, "lesiond eval: --bags is for --fit grid\n");
		return 2;
	}
	if ((repeats || seed || bags) && !crossval) {
		fprintf(stderr, "lesiond eval: --repeats, --seed and --bags need --crossval\n");
		return 2;
	}
	if ((repeats && parse_i64(repeats, 1, 10000, &nrep)) ||
	    (seed && parse_i64(seed, 0, INT64_MAX, &rseed)) ||
	    (bags && parse_i64(bags, 1, 1000, &nbags))) {
		fprintf(stderr, "lesiond eval: --repeats 1..10000, --seed >= 0, --bags 1..1000\n");
		return 2;
	}
	if (graph) {
		if (pairs && truth) {
			fprintf(stderr, "lesiond eval: --graph takes --truth or --pairs, not both\n");
			return 2;
		}
		if (pairs)
			truth = pairs;
		if (!truth) {
			fprintf(stderr, "lesiond eval: --graph needs --truth FILE or --pairs FILE\n");
			return 2;
		}
		if (cmd_graph_space_opt(&cfg, space)) {
			fprintf(stderr, "lesiond eval: --space: name too long\n");
			return 2;
		}
		if (offline_open(&cfg, "eval", &o))
			return 1;
		if (cfg.graph_space[0] && !spaces_get(o.sp, cfg.graph_space))
			fprintf(stderr, "lesiond eval: no embedding space '%s': the graph is built "
				"without the embedding term\n", cfg.graph_space);
		rc = cmd_graph_eval("eval", &o, &cfg, truth, NULL, 0, calibrate != NULL,
				    crossval != NULL, fitk, (size_t)nbags, (size_t)nrep, (uint64_t)rseed,
				    json != NULL);
		offline_close(&o);
		return rc;
	}
	if (!space)
		space = "builtin";
	if (truth && eval_read_truth(truth, &types, &tracks, &eo.truth_n, err)) {
		fprintf(stderr, "lesiond eval: %s\n", err);
		return 1;
	}
	eo.truth = types;
	if (offline_open(&cfg, "eval", &o))
		goto out_free;
	sp = offline_space(&o, "eval", space);
	if (!sp)
		goto out;
	if (eval_retrieval(sp, o.cat, &eo, &res, err)) {
		fprintf(stderr, "lesiond eval: %s\n", err);
		goto out;
	}
	if (!json) {
		printf("Deep Lesion Graphs retrieval protocol: space %s, %ld queries (split %s%s), "
		       "gallery = other patients' lesions, %.2f s\n", space, res.queries, split,
		       truth ? ", types from --truth" : "", res.seconds);
		printf("%4s  %14s  %13s  %14s  %15s  %16s\n", "K", "type precision", "type accuracy",
		       "location error", "long diam. (mm)", "short diam. (mm)");
		for (i = 0; i < EVAL_NK; i++)
			printf("%4d  %14.3f  %13.3f  %14.4f  %15.2f  %16.2f\n", res.ks[i],
			       res.type_precision[i], res.type_accuracy[i], res.loc_error[i],
			       res.size_error_long[i], res.size_error_short[i]);
	}
	print_json(space, &res);
	rc = 0;
out:
	offline_close(&o);
out_free:
	free(types);
	free(tracks);
	return rc;
}
