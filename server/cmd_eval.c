/* cmd_eval.c - `lesiond eval`: Deep Lesion Graphs' retrieval protocol (index/eval.c),
 * printed as a table and as JSON. */
#include "cli.h"
#include "eval.h"
#include "offline.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: lesiond eval [--space builtin] [--split test] [--truth ground_truth.csv] [--json]\n\n"
	"The retrieval protocol of Deep Lesion Graphs: each query lesion with a known coarse type\n"
	"(default: the test split) retrieves its nearest lesions among other patients'; at K = 1,\n"
	"5, 10: type precision, type accuracy by majority vote, location error (normalised x,y,z)\n"
	"and size error (mm). --truth takes every lesion's type from the demo's ground truth.";

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
	const char *space = "builtin", *split = "test", *truth = NULL, *json = NULL, *graph = NULL;
	const struct cli_opt opts[] = {
		{ "--space", "NAME", &space, "embedding space (default builtin)" },
		{ "--split", "S", &split, "query split: train, val, test or all (default test)" },
		{ "--truth", "FILE", &truth, "ground_truth.csv with every lesion's type" },
		{ "--json", NULL, &json, "print JSON only" },
		{ "--graph", NULL, &graph, "evaluate the lesion graph instead (needs --truth)" },
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
	if (graph) {
		fprintf(stderr, "lesiond eval: --graph is not available in this build\n");
		return 2;
	}
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
