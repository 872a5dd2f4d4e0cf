/* offline.h - what the command-line tools (knn, eval, embed, train, graph) open to work
 * without a server: the store, the lesion catalog and every embedding space. */
#ifndef LSD_OFFLINE_H
#define LSD_OFFLINE_H
#include "catalog.h"
#include "config.h"
#include "space.h"
#include "store.h"

struct offline {
	struct store *st;
	struct catalog *cat;
	struct spaces *sp;
};
/* Open all three; messages on stderr prefixed with cmd. 0 or -1. */
int offline_open(const struct config *cfg, const char *cmd, struct offline *o /* OUT */);
/* The same, the database opened read-only (store_open_ro): never written; immutable for
 * a backup's copy. */
int offline_open_ro(const struct config *cfg, const char *cmd, int immutable,
		    struct offline *o /* OUT */);
void offline_close(struct offline *o);
/* The named space, or NULL with a message listing the spaces there are. */
struct space *offline_space(struct offline *o, const char *cmd, const char *name);
#endif
