/* cmd_ingest.c - `lesiond ingest --csv DL_info.csv [--images DIR]`.
 *
 * Reads the whole file first (every row parsed and validated), then writes it in one
 * store transaction: a bad row anywhere refuses the file whole and the database is
 * left as it was. Ids are 1-based row numbers, so re-importing the same file changes
 * nothing and a longer file adds only its new rows. With --images, each key slice is
 * checked on disk and the missing ones are reported (count and first few), not fatal.
 */
#include "cli.h"
#include "dlcsv.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INGEST_MAX_ROWS 20000000

static const char usage[] =
	"usage: lesiond ingest --csv DL_info.csv [--images DIR] [--db PATH]\n\n"
	"Import DeepLesion metadata. Lesion id = 1-based row number. The file is imported\n"
	"whole or not at all; re-importing the same file changes nothing.";

static int check_images(const char *root, const struct lesion *l, size_t n)
{
	char path[4096];
	size_t i, missing = 0;
	struct stat sb;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", root, l[i].image_path);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
			continue;
		if (missing < 5)
			fprintf(stderr, "ingest: lesion %lld: key slice %s not found\n",
				(long long)l[i].id, path);
		missing++;
	}
	if (missing)
		fprintf(stderr, "ingest: %zu of %zu key slices missing under %s (imported anyway)\n",
			missing, n, root);
	return 0;
}

int cmd_ingest(int argc, char **argv)
{
	const char *csv = NULL;
	const struct cli_opt opts[] = {
		{ "--csv", "FILE", &csv, "DeepLesion DL_info.csv (required)" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct dlcsv *c = NULL;
	struct store *st = NULL;
	struct lesion *rows = NULL;
	size_t n = 0, cap = 0, added = 0, same = 0;
	char err[LSD_ERRLEN];
	int r, rc = 1, tty = isatty(2);
	double t0 = now_ms(), t1;

	r = cli_parse(argc, argv, opts, usage, &cfg);
	if (r)
		return r > 0 ? 0 : 2;
	if (!csv) {
		fprintf(stderr, "lesiond ingest: --csv FILE is required\n");
		return 2;
	}
	if (dlcsv_open(csv, &c, err)) {
		fprintf(stderr, "lesiond ingest: %s\n", err);
		goto out;
	}
	for (;;) {
		if (n == cap) {
			struct lesion *p;

			if (cap >= INGEST_MAX_ROWS) {
				fprintf(stderr, "lesiond ingest: more than %d rows\n", INGEST_MAX_ROWS);
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			p = realloc(rows, cap * sizeof(*rows));
			if (!p) {
				fprintf(stderr, "lesiond ingest: out of memory\n");
				goto out;
			}
			rows = p;
		}
		r = dlcsv_next(c, &rows[n], err);
		if (r == 0)
			break;
		if (r < 0) {
			fprintf(stderr, "lesiond ingest: %s (nothing imported)\n", err);
			goto out;
		}
		n++;
		if (tty && n % 4096 == 0)
			fprintf(stderr, "\ringest: %zu rows parsed", n);
	}
	if (tty)
		fprintf(stderr, "\r");
	if (cfg.images[0])
		check_images(cfg.images, rows, n);
	if (store_open(cfg.db, &st, err)) {
		fprintf(stderr, "lesiond ingest: %s\n", err);
		goto out;
	}
	if (store_lesion_insert(st, rows, n, &added, &same, err)) {
		fprintf(stderr, "lesiond ingest: %s: %s (nothing imported)\n", csv, err);
		goto out;
	}
	t1 = now_ms();
	printf("ingest: %zu rows read, %zu added, %zu unchanged, %.0f ms (%.0f rows/s)\n", n,
	       added, same, t1 - t0, n / ((t1 - t0) / 1000.0 + 1e-9));
	rc = 0;
out:
	dlcsv_close(c);
	store_close(st);
	free(rows);
	return rc;
}
