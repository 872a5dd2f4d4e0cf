/* cmd_backup.c - `lesiond backup --out DIR`: an online backup of the database named by
 * --db (or the config) while the daemon keeps serving. The work is index/backup.c:
 * SQLite's backup API for a consistent copy, index snapshots consistent with that
 * copy, and a MANIFEST of versions, counts and checksums. Prints the manifest's summary. */
#include "backup.h"
#include "cli.h"
#include "store.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const char usage[] =
	"usage: lesiond backup --out DIR [--db PATH] [--config FILE]\n\n"
	"Back up the database and its index snapshots into DIR (a new directory), online:\n"
	"the daemon may keep running and writing. DIR/MANIFEST records versions, counts and\n"
	"checksums; `lesiond restore --from DIR` verifies them before installing anything.";

static void log_line(void *cls, const char *line)
{
	(void)cls;
	fprintf(stderr, "backup: %s\n", line);
}

int cmd_backup(int argc, char **argv)
{
	const char *out = NULL;
	const struct cli_opt opts[] = {
		{ "--out", "DIR", &out, "backup directory (created; must not hold a backup)" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct store *st = NULL;
	struct backup_manifest *m = NULL;
	char err[LSD_ERRLEN];
	int r, rc = 1, i;

	r = cli_parse(argc, argv, opts, usage, &cfg);
	if (r)
		return r > 0 ? 0 : 2;
	if (!out) {
		fprintf(stderr, "lesiond backup: --out DIR is required\n");
		return 2;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		fprintf(stderr, "lesiond backup: out of memory\n");
		return 1;
	}
	if (store_open(cfg.db, &st, err) || backup_create(st, out, m, log_line, NULL, err)) {
		fprintf(stderr, "lesiond backup: %s\n", err);
		goto out;
	}
	printf("backup %s: schema %d, %" PRId64 " lesions, %" PRId64 " patients, %" PRId64
	       " studies, %" PRId64 " series\n", out, m->schema_version, m->counts.lesions,
	       m->counts.patients, m->counts.studies, m->counts.series);
	for (i = 0; i < m->nspaces; i++)
		printf("space %s: %zu vectors (dim %d)\n", m->spaces[i].name, m->spaces[i].vectors,
		       m->spaces[i].dim);
	rc = 0;
out:
	store_close(st);
	free(m);
	return rc;
}
