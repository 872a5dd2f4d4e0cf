/* cmd_stubs.c - weak fallbacks for subcommands whose module is not built yet.
 * A real cmd_X in its own file overrides the weak one at link time. Each says so
 * plainly and exits 2, so nothing pretends to work. */
#include "cli.h"

#include <stdio.h>

#define LSD_STUB(fn, name) \
	__attribute__((weak)) int fn(int argc, char **argv) \
	{ \
		(void)argc; \
		(void)argv; \
		fprintf(stderr, "lesiond %s: not available in this build yet\n", name); \
		return 2; \
	}

LSD_STUB(cmd_serve, "serve")
LSD_STUB(cmd_ingest, "ingest")
LSD_STUB(cmd_demo, "demo")
LSD_STUB(cmd_embed, "embed")
LSD_STUB(cmd_import_vectors, "import-vectors")
LSD_STUB(cmd_knn, "knn")
LSD_STUB(cmd_eval, "eval")
LSD_STUB(cmd_graph, "graph")
LSD_STUB(cmd_train, "train")
LSD_STUB(cmd_backup, "backup")
LSD_STUB(cmd_restore, "restore")
