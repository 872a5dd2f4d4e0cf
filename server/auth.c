/* auth.c - API keys (constant-time comparison) and token-bucket rate limits. See auth.h.
 * Load: one auth_check and one ratelimit_take per request: a few hundred nanoseconds. */
#include "auth.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AUTH_MAX_KEYS 256
#define AUTH_KEY_MAX 256

struct auth {
	int n;
	char key[AUTH_MAX_KEYS][AUTH_KEY_MAX];
	size_t len[AUTH_MAX_KEYS];
	enum auth_level level[AUTH_MAX_KEYS];
};

static int add_key(struct auth *a, const char *k, size_t n, enum auth_level lv, char *err)
{
	if (n == 0)
		return 0;
	if (n >= AUTH_KEY_MAX)
		return errf(err, "an API key is longer than %d bytes", AUTH_KEY_MAX - 1);
	if (n < 8)
		return errf(err, "an API key is shorter than 8 characters");
	if (a->n >= AUTH_MAX_KEYS)
		return errf(err, "more than %d API keys", AUTH_MAX_KEYS);
	memcpy(a->key[a->n], k, n);
	a->key[a->n][n] = '\0';
	a->len[a->n] = n;
	a->level[a->n] = lv;
	a->n++;
	return 0;
}

static int add_list(struct auth *a, const char *list, enum auth_level lv, char *err)
{
	const char *p = list;

	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		while (n && isspace((unsigned char)*p)) {
			p++;
			n--;
		}
		while (n && isspace((unsigned char)p[n - 1]))
			n--;
		if (add_key(a, p, n, lv, err))
			return -1;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

static int load_file(struct auth *a, const char *path, char *err)
{
	char line[512], e2[LSD_ERRLEN];
	FILE *f = fopen(path, "r");
	int lineno = 0, rc = 0;

	if (!f)
		return errf(err, "%s: cannot open key file", path);
	while (fgets(line, sizeof(line), f)) {
		char kind[16], key[AUTH_KEY_MAX + 1];
		int nf;

		lineno++;
		if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
			continue;
		nf = sscanf(line, "%15s %256s", kind, key);
		if (nf != 2 || (strcmp(kind, "admin") && strcmp(kind, "read"))) {
			rc = errf(err, "%s:%d: expected 'admin KEY' or 'read KEY'", path, lineno);
			break;
		}
		if (add_key(a, key, strlen(key), !strcmp(kind, "admin") ? AUTH_ADMIN : AUTH_READ, e2)) {
			rc = errf(err, "%s:%d: %s", path, lineno, e2);
			break;
		}
	}
	fclose(f);
	return rc;
}

int auth_load(const struct config *cfg, struct auth **out, char *err)
{
	struct auth *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (!a)
		return errf(err, "out of memory");
	if (add_list(a, cfg->admin_keys, AUTH_ADMIN, err) ||
	    add_list(a, cfg->read_keys, AUTH_READ, err) ||
	    (cfg->key_file[0] && load_file(a, cfg->key_file, err))) {
		free(a);
		return -1;
	}
	*out = a;
	return 0;
}

void auth_free(struct auth *a)
{
	free(a);
}

int auth_enabled(const struct auth *a)
{
	return a && a->n > 0;
}

/* Equal in time that depends only on the length of the offered key. */
static int ct_equal(const char *offered, size_t on, const char *key, size_t kn)
{
	unsigned diff = (unsigned)(on ^ kn);
	size_t i;

	for (i = 0; i < on; i++)
		diff |= (unsigned char)offered[i] ^ (unsigned char)key[i % kn];
	return diff == 0;
}

enum auth_level auth_check(const struct auth *a, const char *h, uint64_t *tag)
{
	enum auth_level best = AUTH_DENIED;
	size_t on;
	int i;

	*tag = 0;
	if (!h || strncasecmp(h, "Bearer ", 7))
		return AUTH_DENIED;
	h += 7;
	while (*h == ' ')
		h++;
	on = strlen(h);
	if (on == 0 || on >= AUTH_KEY_MAX)
		return AUTH_DENIED;
	/* every key is compared, so the time does not say which one matched */
	for (i = 0; i < a->n; i++)
		if (ct_equal(h, on, a->key[i], a->len[i]) && a->level[i] > best)
			best = a->level[i];
	if (best != AUTH_DENIED)
		*tag = fnv1a64(h, on, 0x6c657369);
	return best;
}

/* ---- token buckets: a fixed open-addressed table; the oldest slot is reused ---- */

#define RL_SLOTS 4096

struct bucket {
	uint64_t who;
	double tokens;
	double t;	/* seconds, monotonic */
};

struct ratelimit {
	pthread_mutex_t mu;
	double rate;
	double burst;
	struct bucket b[RL_SLOTS];
};

int ratelimit_create(double per_second, int burst, struct ratelimit **out)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	*out = NULL;
	if (!rl)
		return -1;
	pthread_mutex_init(&rl->mu, NULL);
	rl->rate = per_second;
	rl->burst = burst > 0 ? burst : 1;
	*out = rl;
	return 0;
}

void ratelimit_destroy(struct ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

int ratelimit_take(struct ratelimit *rl, uint64_t who, int *retry_after_s)
{
	double now = now_ms() / 1000.0;
	struct bucket *b = NULL, *oldest = NULL;
	size_t i, h;
	int ok;

	*retry_after_s = 0;
	if (!rl || rl->rate <= 0)
		return 1;
	who |= 1;	/* 0 marks a free slot */
	pthread_mutex_lock(&rl->mu);
	h = (size_t)(who % RL_SLOTS);
	for (i = 0; i < 8; i++) {
		struct bucket *c = &rl->b[(h + i) % RL_SLOTS];

		if (c->who == who) {
			b = c;
			break;
		}
		if (!oldest || c->t < oldest->t)
			oldest = c;
	}
	if (!b) {
		b = oldest;
		b->who = who;
		b->tokens = rl->burst;
		b->t = now;
	}
	b->tokens = fmin(rl->burst, b->tokens + (now - b->t) * rl->rate);
	b->t = now;
	ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	else
		*retry_after_s = (int)ceil((1.0 - b->tokens) / rl->rate);
	pthread_mutex_unlock(&rl->mu);
	if (!ok && *retry_after_s < 1)
		*retry_after_s = 1;
	return ok;
}
