/* app.h - the daemon's shared state, created by `lesiond serve` and handed to every
 * handler through request.app. Fields are set once at start; the objects they point to
 * are thread-safe on their own (store, spaces, slice cache, metrics). */
#ifndef LSD_APP_H
#define LSD_APP_H

#include "config.h"

struct store;
struct spaces;
struct slicecache;
struct bytecache;
struct metrics;
struct auth;
struct ratelimit;
struct catalog;
struct coalescer;
struct replica;

struct app {
	struct config cfg;
	struct store *st;
	struct spaces *sp;		/* embedding spaces (NULL until loaded) */
	struct slicecache *cache;	/* decoded slices */
	struct bytecache *patches;	/* encoded lesion patches, by ETag */
	struct metrics *metrics;
	struct catalog *cat;		/* lesion metadata for search filters */
	struct coalescer *coal;		/* batches concurrent searches (NULL = off) */
	struct auth *auth;		/* current API keys; swapped atomically on SIGHUP */
	struct ratelimit *rl;		/* NULL when rate_limit = 0 */
	struct replica *replica;	/* NULL on a primary (replica.h) */
	volatile int ready;		/* /readyz: 1 once the store and indexes are loaded */
};

#endif
