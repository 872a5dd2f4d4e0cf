/* cmd_restore.c - `lesiond restore --from DIR [--force]`: install a backup made by
 * `lesiond backup` as the database named by --db (or the config). index/backup.c
 * verifies the manifest, every file's checksum and a staged copy of the database before
 * anything at the target changes; an existing non-empty database is replaced only with
 * --force (stop the daemon first). --verify-only checks the backup and stops. */
#include "backup.h"
#include "cli.h"
#include "store_repl.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const char usage[] =
	"usage: lesiond restore --from DIR [--db PATH] [--force] [--verify-only]\n\n"
	"Verify the backup in DIR (manifest, checksums of every file, the database's\n"
	"integrity, counts and vectors), then install it as the database and its index\n"
	"snapshots. Refuses an existing non-empty database unless --force; with --force the\n"
	"daemon must not be running on it. Nothing changes unless every check passes.";

static void log_line(void *cls, const char *line)
{
	(void)cls;
	fprintf(stderr, "restore: %s\n", line);
}

int cmd_restore(int argc, char **argv)
{
	const char *from = NULL, *force = NULL, *verify = NULL;
	const struct cli_opt opts[] = {
		{ "--from", "DIR", &from, "backup directory (required)" },
		{ "--force", NULL, &force, "replace an existing database" },
		{ "--verify-only", NULL, &verify, "check the backup, change nothing" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct backup_manifest *m;
	char err[LSD_ERRLEN];
	int r, rc = 1;

	r = cli_parse(argc, argv, opts, usage, &cfg);
	if (r)
		return r > 0 ? 0 : 2;
	if (!from) {
		fprintf(stderr, "lesiond restore: --from DIR is required\n");
		return 2;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		fprintf(stderr, "lesiond restore: out of memory\n");
		return 1;
	}
	if (verify ? backup_verify(from, m, err) :
	    backup_restore(from, cfg.db, force != NULL, m, log_line, NULL, err)) {
		fprintf(stderr, "lesiond restore: %s\n", err);
		goto out;
	}
	/* a restored database starts a new replication history: replicas that followed the
	 * old one notice (another log id) and take a new snapshot */
	if (!verify) {
		struct store *st = NULL;

		if (store_open(cfg.db, &st, err) || store_repl_new_history(st, err)) {
			store_close(st);
			fprintf(stderr, "lesiond restore: %s\n", err);
			goto out;
		}
		store_close(st);
	}
	printf("%s %s: schema %d, %" PRId64 " lesions, %d space(s), %d files\n",
	       verify ? "verified" : "restored", verify ? from : cfg.db, m->schema_version,
	       m->counts.lesions, m->nspaces, m->nfiles);
	rc = 0;
out:
	free(m);
	return rc;
}
