/* config.h - lesiond's settings: one table of (name, type, default, bounds, doc).
 *
 * Built-in defaults, then config/lesiond.conf (or --config FILE), then LESIOND_<KEY>
 * environment variables, then command-line flags, each overriding the one before.
 * Errors name file:line. The table is the single source for the defaults, the parser,
 * `lesiond serve --help` and the sample config file's comments (tests check the file
 * documents every key).
 */
#ifndef LSD_CONFIG_H
#define LSD_CONFIG_H

#include <stddef.h>

#define CONFIG_STR_MAX 512

struct config {
	char listen[64];
	int port;
	int threads;
	char db[CONFIG_STR_MAX];
	char images[CONFIG_STR_MAX];
	long body_max_json;	/* bytes, JSON bodies */
	long body_max_bulk;	/* bytes, NDJSON / octet-stream bulk bodies */
	int conn_limit;
	int conn_per_ip;
	int conn_timeout_s;
	int slice_cache_mb;
	int patch_cache_mb;
	int png_level;
	int k_max;
	int coalesce_max;	/* queries batched together at most (1 = off) */
	int coalesce_wait_us;
	long batch_max;
	char cors_origins[CONFIG_STR_MAX];
	char index_type[64];
	char search_params[512];	/* per space "name:efSearch=128;..." (spacedb.h) */
	int snapshot_every;	/* vectors written between index snapshots */
	double graph_w_embed, graph_w_loc, graph_w_size, graph_threshold;
	double graph_axis_x, graph_axis_y, graph_axis_z;
	int graph_sequential, graph_align;
	double graph_align_wide;
	int graph_shift_vote, graph_embed_link, graph_series_dup, graph_size_quad;
	double graph_wide;
	char graph_space[64];	/* embedding space of the graph's d_embed; "" = none */
	char admin_keys[CONFIG_STR_MAX];
	char read_keys[CONFIG_STR_MAX];
	int open_access;
	char key_file[CONFIG_STR_MAX];	/* optional file of "admin KEY" / "read KEY" lines */
	double rate_limit;		/* requests/s per API key (or client address); 0 = off */
	int rate_burst;
	double desc_w_appearance, desc_w_location, desc_w_size;
	char tls_cert[CONFIG_STR_MAX];
	char tls_key[CONFIG_STR_MAX];
	/* replication (server/replica.c, server/h_replication.c) */
	char replica_of[CONFIG_STR_MAX];	/* primary's base URL: serve as its read replica */
	char replica_key[CONFIG_STR_MAX];	/* an admin key of the primary */
	double replica_max_lag;			/* seconds; /readyz 503 beyond */
	long replication_log_keep;		/* change-log entries a primary keeps */
};

enum config_type { CFG_STR, CFG_INT, CFG_LONG, CFG_DBL, CFG_BOOL };

struct config_key {
	const char *name;
	enum config_type type;
	size_t off;
	const char *def;
	double lo, hi;	/* bounds for numbers; ignored for strings */
	size_t size;	/* buffer size for strings */
	const char *doc;
};

extern const struct config_key config_keys[];
extern const size_t config_nkeys;

void config_defaults(struct config *c);
/* Set one key from text; returns 0 or -1 with err (no file:line: the caller adds it). */
int config_set(struct config *c, const char *name, const char *value, char *err);
/* Read "key = value" lines (# comments). Missing file: -1 unless optional. */
int config_load(struct config *c, const char *path, int optional, char *err);
/* Each key from the environment variable LESIOND_<KEY> (upper case: LESIOND_PORT,
 * LESIOND_ADMIN_KEYS, LESIOND_OPEN_ACCESS=1) when it is set; other LESIOND_* variables
 * are not settings and are ignored. -1 with err naming the variable. */
int config_load_env(struct config *c, char *err);

#endif
