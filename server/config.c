/* config.c - the settings table, its parser and defaults. See config.h.
 * Called once at start (and on SIGHUP by serve). Not thread-safe by itself: serve
 * parses into a fresh struct and swaps it in. */
#include "config.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(struct config, f)
#define SZ(f) sizeof(((struct config *)0)->f)

const struct config_key config_keys[] = {
	{ "listen", CFG_STR, OFF(listen), "127.0.0.1", 0, 0, SZ(listen),
	  "address to listen on (IPv4 or IPv6 literal)" },
	{ "port", CFG_INT, OFF(port), "8080", 0, 65535, 0, "TCP port; 0 picks a free one" },
	{ "threads", CFG_INT, OFF(threads), "0", 0, 256, 0,
	  "HTTP worker threads; 0 = one per connection (a search blocks while batched)" },
	{ "db", CFG_STR, OFF(db), "lesiond.db", 0, 0, SZ(db),
	  "SQLite database; index snapshots are kept beside it" },
	{ "images", CFG_STR, OFF(images), "", 0, 0, SZ(images),
	  "DeepLesion Images_png folder (the one holding <patient>_<study>_<series>/)" },
	{ "body_max_json", CFG_LONG, OFF(body_max_json), "1048576", 1024, 1073741824.0, 0,
	  "largest JSON request body in bytes (413 beyond, counted while receiving)" },
	{ "body_max_bulk", CFG_LONG, OFF(body_max_bulk), "268435456", 1024, 17179869184.0, 0,
	  "largest NDJSON / octet-stream body in bytes (bulk imports, batch search)" },
	{ "conn_limit", CFG_INT, OFF(conn_limit), "512", 1, 100000, 0,
	  "open connections in total" },
	{ "conn_per_ip", CFG_INT, OFF(conn_per_ip), "128", 1, 100000, 0,
	  "open connections per client address" },
	{ "conn_timeout_s", CFG_INT, OFF(conn_timeout_s), "30", 1, 3600, 0,
	  "idle seconds before a connection is closed (also bounds a trickling body)" },
	{ "slice_cache_mb", CFG_INT, OFF(slice_cache_mb), "256", 0, 65536, 0,
	  "decoded-slice LRU cache size in MiB (0 disables)" },
	{ "patch_cache_mb", CFG_INT, OFF(patch_cache_mb), "64", 0, 65536, 0,
	  "encoded lesion-patch LRU cache size in MiB (0 disables)" },
	{ "png_level", CFG_INT, OFF(png_level), "1", 0, 9, 0,
	  "zlib level for rendered PNGs (1: fast, 9: small)" },
	{ "coalesce_max", CFG_INT, OFF(coalesce_max), "256", 1, 1024, 0,
	  "concurrent unfiltered searches run as one batch, at most this many (1 = off)" },
	{ "coalesce_wait_us", CFG_INT, OFF(coalesce_wait_us), "3000", 0, 100000, 0,
	  "microseconds a search waits for others to join its batch (only when others are in flight)" },
	{ "k_max", CFG_INT, OFF(k_max), "1000", 1, 100000, 0, "largest k a search may ask for" },
	{ "batch_max", CFG_LONG, OFF(batch_max), "1000000", 1, 100000000.0, 0,
	  "most queries in one batch request" },
	{ "cors_origins", CFG_STR, OFF(cors_origins), "*", 0, 0, SZ(cors_origins),
	  "comma-separated origins allowed by CORS; * for any, empty for none" },
	{ "index_type", CFG_STR, OFF(index_type), "Flat", 0, 0, SZ(index_type),
	  "FAISS factory string for new spaces: Flat (exact), HNSW32, IVF256,Flat, IVF1024,PQ32" },
	{ "search_params", CFG_STR, OFF(search_params), "", 0, 0, SZ(search_params),
	  "FAISS search parameters per space, e.g. builtin:efSearch=128;mymodel:nprobe=32 "
	  "(default efSearch=64, nprobe=16): recall bought with time" },
	{ "snapshot_every", CFG_INT, OFF(snapshot_every), "10000", 1, 100000000, 0,
	  "vectors written between index snapshots (also snapshotted at shutdown)" },
	{ "desc_w_appearance", CFG_DBL, OFF(desc_w_appearance), "1", 0, 100, 0,
	  "built-in descriptor: weight of the appearance block (0 switches it off)" },
	{ "desc_w_location", CFG_DBL, OFF(desc_w_location), "1", 0, 100, 0,
	  "built-in descriptor: weight of the body-location block" },
	{ "desc_w_size", CFG_DBL, OFF(desc_w_size), "1", 0, 100, 0,
	  "built-in descriptor: weight of the size block" },
	{ "graph_w_embed", CFG_DBL, OFF(graph_w_embed), "0", 0, 100, 0,
	  "lesion graph: weight of the embedding distance" },
	{ "graph_w_loc", CFG_DBL, OFF(graph_w_loc), "1", 0, 100, 0,
	  "lesion graph: weight of the normalised-location displacement" },
	{ "graph_w_size", CFG_DBL, OFF(graph_w_size), "0.1", 0, 100, 0,
	  "lesion graph: weight of the log size ratio" },
	{ "graph_axis_x", CFG_DBL, OFF(graph_axis_x), "1", 0, 100, 0,
	  "lesion graph: relative weight of the x displacement in the location term" },
	{ "graph_axis_y", CFG_DBL, OFF(graph_axis_y), "0.7", 0, 100, 0,
	  "lesion graph: relative weight of the y displacement (real y moves most)" },
	{ "graph_axis_z", CFG_DBL, OFF(graph_axis_z), "2", 0, 100, 0,
	  "lesion graph: relative weight of the z displacement (real z moves least)" },
	{ "graph_sequential", CFG_BOOL, OFF(graph_sequential), "true", 0, 1, 0,
	  "lesion graph: studies in time order, each matched to the tracks' latest lesions "
	  "(false: every study pair matched, the earlier rule)" },
	{ "graph_align", CFG_BOOL, OFF(graph_align), "true", 0, 1, 0,
	  "lesion graph: match again without each study pair's mean displacement" },
	{ "graph_align_wide", CFG_DBL, OFF(graph_align_wide), "1", 1, 10, 0,
	  "lesion graph: the mean displacement is taken from links up to this many "
	  "thresholds (docs/graph.md: 2 helps the demo, not the real pairs)" },
	{ "graph_shift_vote", CFG_BOOL, OFF(graph_shift_vote), "true", 0, 1, 0,
	  "lesion graph: when fewer than 2 lesions link, try each pair's displacement as the "
	  "study pair's shift and keep the one linking the most (docs/graph.md)" },
	{ "graph_wide", CFG_DBL, OFF(graph_wide), "1", 1, 10, 0,
	  "lesion graph: also link a lesion whose only candidate, both ways, costs below "
	  "this many thresholds (1: off)" },
	{ "graph_embed_link", CFG_BOOL, OFF(graph_embed_link), "false", 0, 1, 0,
	  "lesion graph: also link lesions left unmatched that are mutually nearest in "
	  "graph_space and pass the location, size and type gates" },
	{ "graph_series_dup", CFG_BOOL, OFF(graph_series_dup), "true", 0, 1, 0,
	  "lesion graph: two lesions of one study in different series within 0.02 and a "
	  "size factor 1.25 are one lesion bookmarked twice (docs/graph.md)" },
	{ "graph_size_quad", CFG_BOOL, OFF(graph_size_quad), "false", 0, 1, 0,
	  "lesion graph: combine the location and size terms in quadrature, "
	  "sqrt((w_loc d_loc)^2 + (w_size d_size)^2) (the scale model of --fit scales)" },
	{ "graph_space", CFG_STR, OFF(graph_space), "builtin", 0, 0, SZ(graph_space),
	  "lesion graph: embedding space of the embedding distance (empty: none; a lesion "
	  "without a vector there gets no embedding term)" },
	{ "graph_threshold", CFG_DBL, OFF(graph_threshold), "0.1", 0, 1000, 0,
	  "lesion graph: largest combined cost still linked" },
	{ "admin_keys", CFG_STR, OFF(admin_keys), "", 0, 0, SZ(admin_keys),
	  "comma-separated API keys that may write" },
	{ "read_keys", CFG_STR, OFF(read_keys), "", 0, 0, SZ(read_keys),
	  "comma-separated API keys that may search and render" },
	{ "open_access", CFG_BOOL, OFF(open_access), "false", 0, 1, 0,
	  "allow a non-loopback listen address without admin keys" },
	{ "key_file", CFG_STR, OFF(key_file), "", 0, 0, SZ(key_file),
	  "file of API keys, one per line: 'admin KEY' or 'read KEY' (reloaded on SIGHUP)" },
	{ "rate_limit", CFG_DBL, OFF(rate_limit), "0", 0, 1e9, 0,
	  "requests per second allowed per API key (per client address without keys); 0 = off" },
	{ "rate_burst", CFG_INT, OFF(rate_burst), "100", 1, 1000000, 0,
	  "requests a key may send at once before rate_limit applies" },
	{ "tls_cert", CFG_STR, OFF(tls_cert), "", 0, 0, SZ(tls_cert),
	  "PEM certificate file: serve HTTPS (with tls_key)" },
	{ "tls_key", CFG_STR, OFF(tls_key), "", 0, 0, SZ(tls_key),
	  "PEM private key file for tls_cert" },
	{ "replica_of", CFG_STR, OFF(replica_of), "", 0, 0, SZ(replica_of),
	  "serve as a read replica of this primary (base URL, e.g. http://10.0.0.1:8080); "
	  "empty: this server is a primary" },
	{ "replica_key", CFG_STR, OFF(replica_key), "", 0, 0, SZ(replica_key),
	  "replica: an admin key of the primary (when the primary has keys)" },
	{ "replica_max_lag", CFG_DBL, OFF(replica_max_lag), "2", 0.1, 3600, 0,
	  "replica: seconds behind the primary beyond which /readyz answers 503" },
	{ "replication_log_keep", CFG_LONG, OFF(replication_log_keep), "1000000", 100, 1e12, 0,
	  "primary: change-log entries kept for replicas (an older replica takes a new snapshot)" },
};
const size_t config_nkeys = LSD_ARRAY_LEN(config_keys);

int config_set(struct config *c, const char *name, const char *value, char *err)
{
	const struct config_key *k = NULL;
	char *dst;
	size_t i;

	for (i = 0; i < config_nkeys; i++)
		if (!strcmp(config_keys[i].name, name))
			k = &config_keys[i];
	if (!k)
		return errf(err, "unknown key '%s'", name);
	dst = (char *)c + k->off;
	switch (k->type) {
	case CFG_STR:
		if (strlen(value) >= k->size)
			return errf(err, "%s: value longer than %zu bytes", name, k->size - 1);
		memcpy(dst, value, strlen(value) + 1);
		return 0;
	case CFG_INT:
	case CFG_LONG: {
		int64_t v;

		if (parse_i64(value, (int64_t)k->lo, (int64_t)k->hi, &v))
			return errf(err, "%s: '%s' is not an integer in %.0f..%.0f", name, value,
				    k->lo, k->hi);
		if (k->type == CFG_INT)
			*(int *)(void *)dst = (int)v;
		else
			*(long *)(void *)dst = (long)v;
		return 0;
	}
	case CFG_DBL: {
		double v;

		if (parse_f64(value, &v) || v < k->lo || v > k->hi)
			return errf(err, "%s: '%s' is not a number in %g..%g", name, value, k->lo,
				    k->hi);
		*(double *)(void *)dst = v;
		return 0;
	}
	case CFG_BOOL:
		if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1"))
			*(int *)(void *)dst = 1;
		else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0"))
			*(int *)(void *)dst = 0;
		else
			return errf(err, "%s: '%s' is not true/false", name, value);
		return 0;
	}
	return errf(err, "%s: bad type", name);
}

void config_defaults(struct config *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < config_nkeys; i++)
		if (config_set(c, config_keys[i].name, config_keys[i].def, NULL))
			abort();	/* a bad default is a programming error */
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int config_load(struct config *c, const char *path, int optional, char *err)
{
	char line[2048], e2[LSD_ERRLEN];
	FILE *f;
	int lineno = 0, rc = 0;

	f = fopen(path, "r");
	if (!f) {
		if (optional && errno == ENOENT)
			return 0;
		return errf(err, "%s: %s", path, strerror(errno));
	}
	while (fgets(line, sizeof(line), f)) {
		char *eq, *key, *val, *s;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			rc = errf(err, "%s:%d: line too long", path, lineno);
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			rc = errf(err, "%s:%d: expected 'key = value'", path, lineno);
			break;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		if (strlen(val) >= 2 && val[0] == '"' && val[strlen(val) - 1] == '"') {
			val[strlen(val) - 1] = '\0';
			val++;
		}
		if (config_set(c, key, val, e2)) {
			rc = errf(err, "%s:%d: %s", path, lineno, e2);
			break;
		}
	}
	fclose(f);
	return rc;
}

int config_load_env(struct config *c, char *err)
{
	char name[64], e2[LSD_ERRLEN];
	const char *v;
	size_t i, j;

	for (i = 0; i < config_nkeys; i++) {
		const char *k = config_keys[i].name;

		memcpy(name, "LESIOND_", 8);
		for (j = 0; k[j] && 8 + j + 1 < sizeof(name); j++)
			name[8 + j] = (char)toupper((unsigned char)k[j]);
		name[8 + j] = '\0';
		v = getenv(name);
		if (v && config_set(c, k, v, e2))
			return errf(err, "environment %s: %s", name, e2);
	}
	return 0;
}
