/* cmd_serve.c - `lesiond serve`: the HTTP daemon.
 *
 * Start-up order: settings (defaults < config file < flags), refuse an open
 * non-loopback listener without keys, open the store (migrations), start HTTP (so
 * /healthz answers while indexes load), load the indexes, then mark ready. Signals
 * are taken synchronously by the main thread (sigwait): SIGTERM/SIGINT stop accepting,
 * drain in-flight requests (10 s at most) and close the store cleanly.
 */
#include "app.h"
#include "auth.h"
#include "cli.h"
#include "handlers.h"
#include "httpd.h"
#include "keygen.h"
#include "log.h"
#include "metrics.h"
#include "replica.h"
#include "http.h"
#include "routes.h"
#include "store.h"
#include "util.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"usage: lesiond serve [--listen ADDR] [--port N] [--threads N] [--db PATH]\n"
	"                     [--images DIR] [--config FILE] [--port-file FILE]\n"
	"                     [--replica-of URL [--replica-key KEY]]\n"
	"                     [--generate-admin-key FILE]\n\n"
	"Run the HTTP daemon (default 127.0.0.1:8080). Settings: built-in defaults, then the\n"
	"config file, then LESIOND_<KEY> environment variables, then these flags.\n"
	"SIGTERM/SIGINT: stop accepting, finish in-flight requests, close the database.\n"
	"--replica-of: serve a read replica of that primary (--db names the replica's own\n"
	"database; writes are refused with 403).";

static int is_loopback(const char *a)
{
	return !strncmp(a, "127.", 4) || !strcmp(a, "::1") || !strcmp(a, "localhost");
}

/* LSD_DEBUG_LOAD_DELAY_MS=N (tests only): wait N ms (at most 60 s) before loading the
 * indexes, so a test can watch /readyz and the data routes answer 503 meanwhile. */
static void debug_load_delay(void)
{
	const char *v = getenv("LSD_DEBUG_LOAD_DELAY_MS");
	int64_t ms;

	if (!v || parse_i64(v, 1, 60000, &ms))
		return;
	log_msg(LOG_WARN, "LSD_DEBUG_LOAD_DELAY_MS: waiting %lld ms before loading", (long long)ms);
	usleep((useconds_t)(ms * 1000));
}

/* The API keys. With --generate-admin-key FILE, a server that would have none on a
 * non-loopback address without open_access uses the admin key in FILE (made first when
 * missing: keygen.h) instead of being refused. */
static int serve_auth(struct config *cfg, const char *gen, struct auth **a, char *err)
{
	int created;

	if (auth_load(cfg, a, err))
		return -1;
	if (!gen || is_loopback(cfg->listen) || auth_enabled(*a) || cfg->open_access)
		return 0;
	auth_free(*a);
	*a = NULL;
	if (config_set(cfg, "key_file", gen, err) || keygen_admin_file(gen, &created, err) ||
	    auth_load(cfg, a, err))
		return -1;
	if (created)
		log_msg(LOG_WARN, "no API keys configured: generated an admin key into %s "
			"(mode 0600); send it as 'Authorization: Bearer KEY'", gen);
	else
		log_msg(LOG_INFO, "no API keys configured: using the admin key in %s", gen);
	return 0;
}

#define MAX_RELOADS 1024

/* SIGHUP: read the settings again (file, then the same flags) and swap in the new key
 * set. Requests in flight keep the set they started with: old sets are freed only at
 * exit (a few KiB each, at most MAX_RELOADS reloads). Other settings need a restart. */
static void reload_keys(struct app *app, int argc, char **argv, struct auth **old,
			size_t *n_old)
{
	const char *ignored = NULL, *listen = NULL, *gen = NULL;
	const struct cli_opt opts[] = {
		{ "--listen", "ADDR", &listen, "" }, { "--port", "N", &ignored, "" },
		{ "--threads", "N", &ignored, "" }, { "--port-file", "FILE", &ignored, "" },
		{ "--replica-of", "URL", &ignored, "" }, { "--replica-key", "KEY", &ignored, "" },
		{ "--generate-admin-key", "FILE", &gen, "" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct auth *a = NULL;
	char err[LSD_ERRLEN];

	if (*n_old >= MAX_RELOADS) {
		log_msg(LOG_WARN, "SIGHUP: too many reloads; restart to reload again");
		return;
	}
	err[0] = '\0';
	if (cli_parse(argc, argv, opts, "", &cfg) ||
	    (listen && config_set(&cfg, "listen", listen, err)) ||
	    serve_auth(&cfg, gen, &a, err)) {
		log_msg(LOG_WARN, "SIGHUP: configuration not reloaded: %s", err);
		return;
	}
	old[(*n_old)++] = app->auth;
	__atomic_store_n(&app->auth, a, __ATOMIC_RELEASE);
	log_msg(LOG_INFO, "SIGHUP: API keys reloaded (%s)",
		auth_enabled(a) ? "keys required" : "no keys");
}

int cmd_serve(int argc, char **argv)
{
	const char *listen = NULL, *port = NULL, *threads = NULL, *port_file = NULL;
	const char *replica_of = NULL, *replica_key = NULL, *gen_key = NULL;
	const struct cli_opt opts[] = {
		{ "--listen", "ADDR", &listen, "address to listen on (default 127.0.0.1)" },
		{ "--port", "N", &port, "TCP port (default 8080; 0 = any free port)" },
		{ "--threads", "N", &threads, "worker threads" },
		{ "--port-file", "FILE", &port_file, "write the bound port here once listening" },
		{ "--replica-of", "URL", &replica_of, "serve a read replica of this primary" },
		{ "--replica-key", "KEY", &replica_key, "an admin key of the primary" },
		{ "--generate-admin-key", "FILE", &gen_key,
		  "beyond loopback with no keys and no open_access: use the admin key in FILE, "
		  "made (mode 0600) when missing" },
		{ NULL, NULL, NULL, NULL },
	};
	struct app app;
	const struct replica_reload reload = { h_spaces_stop, h_spaces_load };
	struct httpd *h = NULL;
	char err[LSD_ERRLEN];
	struct auth *old_auth[MAX_RELOADS];
	size_t n_old = 0, i;
	sigset_t set;
	int r, sig, rc = 1;

	memset(&app, 0, sizeof(app));
	r = cli_parse(argc, argv, opts, usage, &app.cfg);
	if (r)
		return r > 0 ? 0 : 2;
	if ((listen && config_set(&app.cfg, "listen", listen, err)) ||
	    (port && config_set(&app.cfg, "port", port, err)) ||
	    (threads && config_set(&app.cfg, "threads", threads, err)) ||
	    (replica_of && config_set(&app.cfg, "replica_of", replica_of, err)) ||
	    (replica_key && config_set(&app.cfg, "replica_key", replica_key, err))) {
		fprintf(stderr, "lesiond serve: %s\n", err);
		return 2;
	}
	if (serve_auth(&app.cfg, gen_key, &app.auth, err)) {
		fprintf(stderr, "lesiond serve: %s\n", err);
		return 2;
	}
	if (!is_loopback(app.cfg.listen) && !auth_enabled(app.auth) && !app.cfg.open_access) {
		auth_free(app.auth);
		fprintf(stderr, "lesiond serve: refusing to listen on %s with no admin_keys "
			"configured; set admin_keys/read_keys, or open_access = true to serve "
			"without keys\n", app.cfg.listen);
		return 2;
	}
	/* Block the stop signals in every thread; the main thread takes them in sigwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Requests allocate and free a few hundred kB each (zlib's state for a PNG, render
	 * buffers, replies) on many threads. glibc's defaults hand such blocks back to the
	 * kernel on free (mmap'd chunks, arena trimming with madvise) and fault them in
	 * again: perf on warm patches showed a third of the CPU in page faults, zeroing and
	 * TLB shootdowns. Keep up to 16 MB free at the top of each arena; only blocks over 4 MB are mmap'd. */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 16 << 20);

	/* a replica's database: resumed, or a verified snapshot of the primary */
	while (app.cfg.replica_of[0] && app.cfg.replica_of[strlen(app.cfg.replica_of) - 1] == '/')
		app.cfg.replica_of[strlen(app.cfg.replica_of) - 1] = '\0';
	if (app.cfg.replica_of[0] && replica_bootstrap(&app.cfg, err)) {
		fprintf(stderr, "lesiond serve: replica: %s\n", err);
		goto out;
	}
	if (store_open(app.cfg.db, &app.st, err)) {
		fprintf(stderr, "lesiond serve: %s\n", err);
		goto out;
	}
	if (h_images_start(&app, err)) {
		fprintf(stderr, "lesiond serve: images: %s\n", err);
		goto out;
	}
	if (app.cfg.rate_limit > 0 &&
	    ratelimit_create(app.cfg.rate_limit, app.cfg.rate_burst, &app.rl)) {
		fprintf(stderr, "lesiond serve: out of memory\n");
		goto out;
	}
	if (metrics_create((int)routes_count, routes_name, &app.metrics)) {
		fprintf(stderr, "lesiond serve: out of memory\n");
		goto out;
	}
	if (httpd_start(&app, &h, err)) {
		fprintf(stderr, "lesiond serve: %s\n", err);
		goto out;
	}
	log_msg(LOG_INFO, "listening on %s://%s:%d/ (db %s, images %s, threads %d (0: one per "
		"connection), %s)",
		app.cfg.tls_cert[0] ? "https" : "http", app.cfg.listen, httpd_port(h), app.cfg.db,
		app.cfg.images[0] ? app.cfg.images : "(none)", app.cfg.threads,
		auth_enabled(app.auth) ? "API keys required" : "no API keys");
	if (port_file) {
		char buf[16];

		snprintf(buf, sizeof(buf), "%d\n", httpd_port(h));
		if (file_write_atomic_nosync(port_file, buf, strlen(buf), err))
			log_msg(LOG_WARN, "port file: %s", err);
	}
	/* Now the indexes, with HTTP up: /healthz 200, /readyz and data routes 503 until
	 * ready is set (after every hook and pointer below is in place). */
	debug_load_delay();
	if (h_spaces_start(&app, err)) {
		log_msg(LOG_ERROR, "spaces: %s", err);
		fprintf(stderr, "lesiond serve: spaces: %s\n", err);
		goto out;
	}
	if (app.cfg.replica_of[0] ? replica_start(&app, &reload, err) : repl_primary_start(&app, err)) {
		log_msg(LOG_ERROR, "replication: %s", err);
		fprintf(stderr, "lesiond serve: replication: %s\n", err);
		goto out;
	}
	__atomic_store_n(&app.ready, 1, __ATOMIC_RELEASE);
	log_msg(LOG_INFO, "ready%s%s", app.replica ? ": read replica of " : "",
		app.replica ? app.cfg.replica_of : "");
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (sig == SIGHUP) {
			reload_keys(&app, argc, argv, old_auth, &n_old);
			continue;
		}
		log_msg(LOG_INFO, "%s: stopping (finishing in-flight requests)",
			sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	}
	__atomic_store_n(&app.ready, 0, __ATOMIC_RELEASE);
	httpd_stop(h, 10000);
	h = NULL;
	rc = 0;
out:
	httpd_stop(h, 0);
	replica_stop(&app);
	repl_primary_stop(&app);
	h_spaces_stop(&app);
	store_close(app.st);
	h_images_stop(&app);
	metrics_destroy(app.metrics);
	ratelimit_destroy(app.rl);
	auth_free(app.auth);
	for (i = 0; i < n_old; i++)
		auth_free(old_auth[i]);
	if (rc == 0)
		log_msg(LOG_INFO, "stopped cleanly");
	return rc;
}
