/* cmd_realism.c - `lesiond realism`: the real DeepLesion rows and radiologist-linked
 * pairs next to a demo dataset planned in memory (no images written), as one markdown
 * table: follow-up displacement per axis, size change, slice spacing, sizes and
 * locations per type, age and sex (index/motion.c). tools/real_vs_demo.sh writes it to
 * docs/real_vs_demo.md.
 */
#include "cli.h"
#include "demo.h"
#include "dlcsv.h"
#include "linkpairs.h"
#include "motion.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: lesiond realism --csv DL_info.csv --pairs same_lesion_pairs.csv\n"
	"                       [--patients N] [--seed S]\n\n"
	"Print a markdown table comparing the real rows (tracks from the pairs file's\n"
	"lesion_a,lesion_b links) with the demo dataset `lesiond demo --patients N --seed S`\n"
	"would write (planned in memory; tracks from its ground truth): displacement of the\n"
	"normalised location between studies per axis, size change, spacing, per-type size\n"
	"and location, age, sex.";

#define REALISM_MAX_ROWS 2000000

/* The last component of a path (the whole path when it has no '/'). */
static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int load_real(const char *csv, const char *pairs, struct lesion **l, int64_t **tr,
		     size_t *n, char *err)
{
	struct dlcsv *c = NULL;
	struct linkpairs lp;
	size_t cap = 0;
	int r, rc = -1;

	*l = NULL;
	*tr = NULL;
	*n = 0;
	if (linkpairs_load(pairs, &lp, err))
		return -1;
	if (dlcsv_open(csv, &c, err))
		goto out;
	for (;;) {
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 1024;
			struct lesion *x = realloc(*l, nc * sizeof(*x));
			int64_t *y;

			if (!x || nc > REALISM_MAX_ROWS) {
				free(x);
				*l = NULL;
				errf(err, "%s: too many rows or out of memory", csv);
				goto out;
			}
			*l = x;
			y = realloc(*tr, nc * sizeof(*y));
			if (!y) {
				errf(err, "out of memory");
				goto out;
			}
			*tr = y;
			cap = nc;
		}
		r = dlcsv_next(c, &(*l)[*n], err);
		if (r < 0)
			goto out;
		if (r == 0)
			break;
		if (!linkpairs_track(&lp, (*l)[*n].id, &(*tr)[*n]))
			(*tr)[*n] = 0;
		(*n)++;
	}
	rc = 0;
out:
	dlcsv_close(c);
	linkpairs_free(&lp);
	return rc;
}

static int load_demo(int patients, uint64_t seed, struct lesion **l, int64_t **tr, size_t *n,
		     char *err)
{
	struct demo *d = NULL;
	int rows;

	if (demo_create(patients, seed, &d, err))
		return -1;
	rows = demo_nrows(d);
	*l = calloc((size_t)rows + 1, sizeof(**l));
	*tr = calloc((size_t)rows + 1, sizeof(**tr));
	if (!*l || !*tr) {
		demo_destroy(d);
		return errf(err, "out of memory");
	}
	for (int id = 1; id <= rows; id++) {
		int type, track;

		demo_row(d, id, &(*l)[id - 1]);
		demo_row_truth(d, id, &type, &track);
		(*l)[id - 1].type = type;	/* the true type, as the val/test rows show it */
		(*tr)[id - 1] = track;
	}
	*n = (size_t)rows;
	demo_destroy(d);
	return 0;
}

int cmd_realism(int argc, char **argv)
{
	const char *csv = NULL, *pairs = NULL, *pat = "100", *seed = "1";
	const struct cli_opt opts[] = {
		{ "--csv", "FILE", &csv, "real DL_info.csv rows (required)" },
		{ "--pairs", "FILE", &pairs, "their same-lesion pairs, lesion_a,lesion_b (required)" },
		{ "--patients", "N", &pat, "demo patients (default 100, as make run)" },
		{ "--seed", "S", &seed, "demo seed (default 1, as make run)" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct lesion *rl = NULL, *dl = NULL;
	int64_t *rt = NULL, *dt = NULL, np, sd;
	size_t rn = 0, dn = 0;
	struct motion_stats rs, ds;
	struct sb b;
	char err[LSD_ERRLEN], dname[64], rname[256];
	int r, rc = 1;

	r = cli_parse(argc, argv, opts, usage, &cfg);
	if (r)
		return r > 0 ? 0 : 2;
	if (!csv || !pairs) {
		fprintf(stderr, "lesiond realism: --csv and --pairs are required\n");
		return 2;
	}
	if (parse_i64(pat, 1, DEMO_MAX_PATIENTS, &np) || parse_i64(seed, 0, INT64_MAX, &sd)) {
		fprintf(stderr, "lesiond realism: --patients 1..%d, --seed >= 0\n",
			DEMO_MAX_PATIENTS);
		return 2;
	}
	sb_init(&b, 1u << 20);
	if (load_real(csv, pairs, &rl, &rt, &rn, err) ||
	    load_demo((int)np, (uint64_t)sd, &dl, &dt, &dn, err) ||
	    motion_measure(rl, rt, rn, &rs, err) || motion_measure(dl, dt, dn, &ds, err)) {
		fprintf(stderr, "lesiond realism: %s\n", err);
		goto out;
	}
	snprintf(dname, sizeof(dname), "demo (%lld patients, seed %lld)", (long long)np,
		 (long long)sd);
	snprintf(rname, sizeof(rname), "real (%s + %s)", base_name(csv), base_name(pairs));
	motion_table(&b, rname, &rs, dname, &ds);
	if (b.oom) {
		fprintf(stderr, "lesiond realism: report too long\n");
		goto out;
	}
	fwrite(b.p, 1, b.len, stdout);
	rc = 0;
out:
	sb_free(&b);
	free(rl);
	free(rt);
	free(dl);
	free(dt);
	return rc;
}
