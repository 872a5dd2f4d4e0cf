/* cli.h - the command line: subcommand table and a small option parser shared by all
 * subcommands. Common options --config, --db, --images are handled here, so every
 * subcommand accepts them; its own options come as a table. */
#ifndef LSD_CLI_H
#define LSD_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct cli_opt {
	const char *name;	/* "--k" */
	const char *arg;	/* "N" for an option with a value, NULL for a flag */
	const char **val;	/* OUT: the value, or "1" for a flag; untouched if absent */
	const char *help;
};

/* Parse argv[1..] (argv[0] is the subcommand). Loads the config file first (--config,
 * default config/lesiond.conf when present), then applies --db / --images.
 * Returns 0 to go on, 1 when --help was printed (exit 0), -1 on error (message printed). */
int cli_parse(int argc, char **argv, const struct cli_opt *opts, const char *usage,
	      struct config *cfg /* OUT */);

/* Subcommands: each returns the process exit status. */
int cmd_serve(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_realism(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_import_vectors(int argc, char **argv);
int cmd_knn(int argc, char **argv);
int cmd_knn_merge(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);

/* cmd_graph.c, shared with `lesiond eval --graph`: --space NAME into cfg->graph_space
 * ("none": no embedding term; 0, or -1 when the name is too long), and the graph's
 * evaluation against a truth file (patients pids[0..np-1], NULL: all; with calibrate
 * the grid search too) printed as text or JSON; returns the exit status. */
struct offline;
int cmd_graph_space_opt(struct config *cfg, const char *space);
/* --fit: NULL or grid -> GRAPHRUN_FIT_GRID, scales -> GRAPHRUN_FIT_SCALES, threshold ->
 * GRAPHRUN_FIT_THRESHOLD, else -1 */
int cmd_graph_fit_opt(const char *fit);
int cmd_graph_eval(const char *cmd, struct offline *o, const struct config *cfg,
		   const char *truth_path, const int64_t *pids, size_t np, int calibrate,
		   int crossval, int fit, size_t bags, size_t repeats, uint64_t seed,
		   int json);

#endif
