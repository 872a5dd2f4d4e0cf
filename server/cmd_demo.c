/* cmd_demo.c - `lesiond demo --out DIR [--patients N] [--seed S] [--threads T]`.
 *
 * Writes the built-in synthetic DeepLesion dataset (see demo.h) into DIR: Images_png/,
 * DL_info.csv and ground_truth.csv, then prints one summary line with the counts and
 * the rendering speed. Used by `make run` through tools/demo_db.sh and by the tests.
 */
#include "cli.h"
#include "demo.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>

static const char usage[] =
	"usage: lesiond demo --out DIR [--patients N] [--seed S] [--threads T] [--csv-only]\n\n"
	"Write a synthetic DeepLesion dataset (16-bit PNG slices, DL_info.csv,\n"
	"ground_truth.csv) generated deterministically from the seed.";

int cmd_demo(int argc, char **argv)
{
	const char *out = NULL, *pat = "100", *seed = "1", *thr = "2", *csv_only = NULL;
	const struct cli_opt opts[] = {
		{ "--out", "DIR", &out, "output directory (required)" },
		{ "--patients", "N", &pat, "number of patients (default 100)" },
		{ "--seed", "S", &seed, "random seed (default 1)" },
		{ "--threads", "T", &thr, "writer threads (default 2)" },
		{ "--csv-only", NULL, &csv_only, "write DL_info.csv and ground_truth.csv only (no "
		  "images; the same rows)" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct demo *d = NULL;
	struct demo_stats st;
	char err[LSD_ERRLEN];
	int64_t np, sd, nt;
	int rc;

	rc = cli_parse(argc, argv, opts, usage, &cfg);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (!out) {
		fprintf(stderr, "lesiond demo: --out DIR is required\n");
		return 2;
	}
	if (parse_i64(pat, 1, DEMO_MAX_PATIENTS, &np) || parse_i64(seed, 0, INT64_MAX, &sd) ||
	    parse_i64(thr, 1, 16, &nt)) {
		fprintf(stderr, "lesiond demo: --patients 1..%d, --seed >= 0, --threads 1..16\n",
			DEMO_MAX_PATIENTS);
		return 2;
	}
	rc = 1;
	if (csv_only) {
		if (demo_create((int)np, (uint64_t)sd, &d, err) || demo_write_csv(d, out, err)) {
			fprintf(stderr, "lesiond demo: %s\n", err);
			goto out;
		}
		demo_stats_get(d, &st);
		printf("demo: %d patients, %d studies, %d lesions (%d tracks), CSV only -> %s\n",
		       st.patients, st.studies, st.lesions, st.tracks, out);
		rc = 0;
		goto out;
	}
	if (mkdir_p(out, err) || demo_create((int)np, (uint64_t)sd, &d, err) ||
	    demo_write(d, out, (int)nt, 1, &st, err)) {
		fprintf(stderr, "lesiond demo: %s\n", err);
		goto out;
	}
	printf("demo: %d patients, %d studies, %d series, %d lesions (%d tracks), %d slices "
	       "in %.1f s (%.0f slices/s, plan %.0f ms) -> %s\n", st.patients, st.studies,
	       st.series, st.lesions, st.tracks, st.slices, (st.plan_ms + st.write_ms) / 1000,
	       st.slices / (st.write_ms / 1000 + 1e-9), st.plan_ms, out);
	rc = 0;
out:
	demo_destroy(d);
	return rc;
}
