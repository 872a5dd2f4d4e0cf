/* auth.h - API keys and per-key rate limits for the HTTP layer.
 *
 * Two kinds of key (config admin_keys / read_keys, or key_file): admin keys may write,
 * read keys may search and render. Keys arrive as "Authorization: Bearer <key>" and are
 * compared in constant time; they are never logged (a key is named in logs by a short
 * non-reversible tag). A key set is immutable once loaded; SIGHUP loads a new one and
 * the daemon swaps the pointer. The rate limiter is a token bucket per key (or per client
 * address when no keys are configured), thread-safe.
 */
#ifndef LSD_AUTH_H
#define LSD_AUTH_H

#include <stdint.h>

#include "config.h"

enum auth_level { AUTH_DENIED = 0, AUTH_READ = 1, AUTH_ADMIN = 2 };

struct auth;
int auth_load(const struct config *cfg, struct auth **out /* OUT */, char *err);
void auth_free(struct auth *a);
/* 1 when any key is configured (then every request but the health probes needs one). */
int auth_enabled(const struct auth *a);
/* The level the Authorization header grants; *tag gets a loggable key tag (or "-"). */
enum auth_level auth_check(const struct auth *a, const char *authorization, uint64_t *tag);

struct ratelimit;
int ratelimit_create(double per_second, int burst, struct ratelimit **out /* OUT */);
void ratelimit_destroy(struct ratelimit *rl);
/* Take one token for who; 1 = allowed, 0 = limited (*retry_after_s set). */
int ratelimit_take(struct ratelimit *rl, uint64_t who, int *retry_after_s /* OUT */);

#endif
