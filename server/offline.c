/* offline.c - open the store, catalog and spaces for a command-line tool. */
#include "offline.h"
#include "spacedb.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static void log_stderr(void *cls, const char *line)
{
	fprintf(stderr, "lesiond %s: %s\n", (const char *)cls, line);
}

/* ro: 0 read-write, 1 read-only, 2 read-only immutable */
static int open_(const struct config *cfg, const char *cmd, int ro, struct offline *o)
{
	char err[LSD_ERRLEN];

	memset(o, 0, sizeof(*o));
	if ((ro ? store_open_ro(cfg->db, ro == 2, &o->st, err) : store_open(cfg->db, &o->st, err)) ||
	    catalog_create(&o->cat, err) ||
	    catalog_load(o->cat, o->st, err) ||
	    spacedb_set_search_params(cfg->search_params, err) ||
	    spacedb_open(o->st, &o->sp, log_stderr, (void *)(uintptr_t)cmd, err)) {
		fprintf(stderr, "lesiond %s: %s\n", cmd, err);
		offline_close(o);
		return -1;
	}
	return 0;
}

int offline_open(const struct config *cfg, const char *cmd, struct offline *o)
{
	return open_(cfg, cmd, 0, o);
}

int offline_open_ro(const struct config *cfg, const char *cmd, int immutable, struct offline *o)
{
	return open_(cfg, cmd, immutable ? 2 : 1, o);
}

void offline_close(struct offline *o)
{
	spaces_destroy(o->sp);
	catalog_destroy(o->cat);
	store_close(o->st);
	memset(o, 0, sizeof(*o));
}

struct space *offline_space(struct offline *o, const char *cmd, const char *name)
{
	struct space *sp = spaces_get(o->sp, name);
	size_t i;

	if (sp)
		return sp;
	fprintf(stderr, "lesiond %s: no embedding space '%s'; the database has:", cmd, name);
	for (i = 0; i < spaces_count(o->sp); i++)
		fprintf(stderr, " %s", space_name(spaces_at(o->sp, i)));
	fprintf(stderr, "%s\n", spaces_count(o->sp) ? "" : " none (run lesiond embed)");
	return NULL;
}
