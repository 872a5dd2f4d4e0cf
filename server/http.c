/* http.c - libmicrohttpd glue: requests in, handler replies out. The only file that
 * includes microhttpd.h.
 *
 * Per-request state (struct rstate) is born in the first access-handler call and freed
 * only in the completion callback, on every path (done, client gone, timeout). Bodies
 * are counted while they arrive and capped per route (413 queued at once when the
 * declared or received size passes the cap). Handlers (routes.c) never see MHD; they
 * fill a struct reply through reply.c. Each
 * request gets one access-log line and one metrics observation. Load: thousands of
 * small requests per second on a pool of `threads` workers.
 */
#include "httpd.h"
#include "auth.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "replica.h"
#include "routes.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct httpd {
	struct MHD_Daemon *d;
	char *tls_cert, *tls_key;	/* PEM text, alive as long as the daemon */
	struct app *app;
	int port;
	int active;		/* requests in flight (atomic) */
	uint64_t next_id;	/* atomic */
};

struct rstate {
	struct request req;
	const struct route *route;
	int route_idx;
	struct sb body;
	size_t body_max;
	int too_large;
	int done;		/* a response was queued */
	int status;
	size_t bytes;
	uint64_t t0;
	char method[8];
	char *url;		/* for the log */
	char allowbuf[96];
	struct httpd *h;
};

static enum http_method method_of(const char *m)
{
	if (!strcmp(m, "GET")) return HTTP_GET;
	if (!strcmp(m, "HEAD")) return HTTP_HEAD;
	if (!strcmp(m, "POST")) return HTTP_POST;
	if (!strcmp(m, "PUT")) return HTTP_PUT;
	if (!strcmp(m, "DELETE")) return HTTP_DELETE;
	if (!strcmp(m, "OPTIONS")) return HTTP_OPTIONS;
	return 0;
}

static void allow_string(unsigned allow, char *buf, size_t n)
{
	static const struct { unsigned m; const char *s; } names[] = {
		{ HTTP_GET, "GET" }, { HTTP_HEAD, "HEAD" }, { HTTP_POST, "POST" },
		{ HTTP_PUT, "PUT" }, { HTTP_DELETE, "DELETE" }, { HTTP_OPTIONS, "OPTIONS" },
	};
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < LSD_ARRAY_LEN(names); i++)
		if (allow & names[i].m)
			off += (size_t)snprintf(buf + off, n - off, "%s%s", off ? ", " : "",
						names[i].s);
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct request *r = cls;

	(void)kind;
	if (r->nquery >= REQ_MAX_QUERY) {
		r->nquery = REQ_MAX_QUERY + 1;	/* marks overflow */
		return MHD_NO;
	}
	r->qkey[r->nquery] = key;
	r->qval[r->nquery] = value ? value : "";
	r->nquery++;
	return MHD_YES;
}

/* Is this Origin allowed by the cors_origins list? */
static int cors_allowed(const struct config *cfg, const char *origin, const char **echo)
{
	const char *p = cfg->cors_origins;
	size_t on;

	*echo = NULL;
	if (!origin || !*p)
		return 0;
	if (!strcmp(p, "*")) {
		*echo = "*";
		return 1;
	}
	on = strlen(origin);
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		while (n && *p == ' ') {
			p++;
			n--;
		}
		while (n && p[n - 1] == ' ')
			n--;
		if (n == on && !strncmp(p, origin, n)) {
			*echo = origin;
			return 1;
		}
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct rstate *s,
				  struct reply *rp)
{
	struct MHD_Response *resp;
	const struct config *cfg = &s->h->app->cfg;
	const char *echo = NULL;
	enum MHD_Result ret;
	char idbuf[32];
	int not_modified = 0;

	if (rp->status == 200 && req_etag_matches(&s->req, rp->etag))
		not_modified = 1;
	if (not_modified) {
		free(rp->body);
		rp->body = NULL;
		if (rp->stream_free)
			rp->stream_free(rp->stream_cls);
		rp->stream = NULL;
		rp->status = 304;
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	} else if (rp->stream) {
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
							 rp->stream,
							 rp->stream_cls, rp->stream_free);
		if (!resp && rp->stream_free)
			rp->stream_free(rp->stream_cls);
	} else {
		/* ownership of rp->body moves to MHD here */
		resp = MHD_create_response_from_buffer(rp->body_len, rp->body, MHD_RESPMEM_MUST_FREE);
		if (!resp)
			free(rp->body);
		else
			s->bytes = rp->body_len;
	}
	rp->body = NULL;
	if (!resp)
		return MHD_NO;
	if (rp->content_type && !not_modified)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rp->content_type);
	if (rp->etag[0]) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, rp->etag);
		if (rp->immutable)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
						"public, max-age=31536000, immutable");
	}
	if (rp->cache_control && !rp->immutable)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, rp->cache_control);
	if (rp->immutable)
		MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "cross-origin");
	if (rp->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rp->allow);
	if (rp->www_authenticate)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"lesiond\"");
	if (rp->retry_after > 0) {
		char ra[16];

		snprintf(ra, sizeof(ra), "%d", rp->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (cors_allowed(cfg, s->req.origin, &echo)) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin", echo);
		MHD_add_response_header(resp, "Access-Control-Expose-Headers", "ETag, X-Request-Id");
		if (strcmp(echo, "*"))
			MHD_add_response_header(resp, "Vary", "Origin");
	}
	snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)s->req.id);
	MHD_add_response_header(resp, "X-Request-Id", idbuf);
	s->status = rp->status;
	ret = MHD_queue_response(conn, (unsigned)rp->status, resp);
	MHD_destroy_response(resp);
	s->done = 1;
	return ret;
}

static enum MHD_Result send_problem(struct MHD_Connection *conn, struct rstate *s, int status,
				    const char *allow, const char *fmt, ...) LSD_PRINTF(5, 6);

static enum MHD_Result send_problem(struct MHD_Connection *conn, struct rstate *s, int status,
				    const char *allow, const char *fmt, ...)
{
	struct reply rp;
	char detail[LSD_ERRLEN];
	va_list ap;

	memset(&rp, 0, sizeof(rp));
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	reply_problem(&rp, status, "%s", detail);
	rp.allow = allow;
	return send_reply(conn, s, &rp);
}

static void lower_ctype(const char *in, char *out, size_t n)
{
	size_t i = 0;

	while (*in == ' ')
		in++;
	for (; in[i] && in[i] != ';' && in[i] != ' ' && i + 1 < n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

static enum MHD_Result preflight(struct MHD_Connection *conn, struct rstate *s, unsigned allow)
{
	struct MHD_Response *resp;
	const char *echo = NULL;
	char methods[96];
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	allow_string(allow | HTTP_OPTIONS, methods, sizeof(methods));
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, methods);
	if (cors_allowed(&s->h->app->cfg, s->req.origin, &echo)) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin", echo);
		MHD_add_response_header(resp, "Access-Control-Allow-Methods", methods);
		MHD_add_response_header(resp, "Access-Control-Allow-Headers",
					"Content-Type, Authorization, If-None-Match");
		MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
		if (strcmp(echo, "*"))
			MHD_add_response_header(resp, "Vary", "Origin");
	}
	s->status = 204;
	ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, resp);
	MHD_destroy_response(resp);
	s->done = 1;
	return ret;
}

/* API keys and rate limits: queues 401/403/429 and marks s->done when refused.
 * The health probes are always open (orchestrators call them without keys), and so are
 * the web viewer's static files (no data in them; the viewer asks for a key and sends it
 * with its API requests). */
static enum MHD_Result access_check(struct MHD_Connection *conn, struct rstate *s)
{
	struct app *app = s->h->app;
	struct auth *a = __atomic_load_n(&app->auth, __ATOMIC_ACQUIRE);
	enum auth_level lv = AUTH_ADMIN;
	uint64_t who = 0;
	int retry = 0;

	if (s->route->access & ROUTE_PUBLIC)
		return MHD_YES;
	if (auth_enabled(a)) {
		lv = auth_check(a, s->req.authorization, &who);
		if (lv == AUTH_DENIED) {
			struct reply rp;

			memset(&rp, 0, sizeof(rp));
			reply_problem(&rp, 401, s->req.authorization ? "the API key is not valid" :
				      "an API key is required: Authorization: Bearer <key>");
			rp.www_authenticate = 1;
			return send_reply(conn, s, &rp);
		}
		if ((s->route->access & (ROUTE_WRITE | ROUTE_ADMIN)) && lv < AUTH_ADMIN)
			return send_problem(conn, s, 403, NULL, "this is a read-only key; %s %s "
					    "needs an admin key", s->method, s->req.path);
	}
	if (app->rl) {
		if (!who) {
			const union MHD_ConnectionInfo *ci =
				MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

			/* the address only: the port differs on every connection */
			if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
				who = fnv1a64(&((const struct sockaddr_in6 *)(const void *)
						ci->client_addr)->sin6_addr, 16, 0);
			else if (ci && ci->client_addr)
				who = fnv1a64(&((const struct sockaddr_in *)(const void *)
						ci->client_addr)->sin_addr, 4, 0);
		}
		if (!ratelimit_take(app->rl, who, &retry)) {
			struct reply rp;

			memset(&rp, 0, sizeof(rp));
			reply_problem(&rp, 429, "rate limit of %g requests/s exceeded; retry in %d s",
				      app->cfg.rate_limit, retry);
			rp.retry_after = retry;
			return send_reply(conn, s, &rp);
		}
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct httpd *h = cls;
	struct rstate *s = *con_cls;
	struct reply rp;
	unsigned allow = 0;
	const char *v;

	(void)version;
	if (!s)
		return MHD_NO;	/* the URI log callback always creates it */
	if (s->done) {
		*upload_data_size = 0;	/* a 413 was queued: discard the rest */
		return MHD_YES;
	}
	if (!s->req.path) {
		/* first call: headers are here, the body (if any) is not */
		char ct[96], why[128];

		s->req.path = url;
		snprintf(s->method, sizeof(s->method), "%s", method);
		s->req.method = method_of(method);
		s->req.id = __atomic_add_fetch(&h->next_id, 1, __ATOMIC_RELAXED);
		s->req.app = h->app;
		v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
		if (v) {
			lower_ctype(v, ct, sizeof(ct));
			s->req.content_type = strdup(ct);
		}
		s->req.if_none_match = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								   MHD_HTTP_HEADER_IF_NONE_MATCH);
		s->req.origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
		s->req.accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
		s->req.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								   MHD_HTTP_HEADER_AUTHORIZATION);
		MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &s->req);
		if (!s->req.method)
			return send_problem(conn, s, 405, "GET, HEAD, POST, PUT, DELETE, OPTIONS",
					    "method %.16s is not supported", method);
		if (s->req.nquery > REQ_MAX_QUERY)
			return send_problem(conn, s, 400, NULL, "more than %d query parameters",
					    REQ_MAX_QUERY);
		/* one place for every route: a NUL would cut a decoded path or query value
		 * short (/v1/lesions/1%00x read as lesion 1), other control bytes are never
		 * part of a valid one */
		if (req_uri_check(s->url ? s->url : "", why, sizeof(why)))
			return send_problem(conn, s, 400, NULL, "%s", why);
		s->route = routes_match(url, s->req.method == HTTP_HEAD ? HTTP_GET :
					s->req.method, &allow, &s->req);
		if (s->req.method == HTTP_OPTIONS && allow)
			return preflight(conn, s, allow);
		if (!s->route) {
			if (!allow)
				return send_problem(conn, s, 404, NULL, "no route for %.200s", url);
			allow_string(allow, s->allowbuf, sizeof(s->allowbuf));
			return send_problem(conn, s, 405, s->allowbuf, "%s is not allowed on %.200s; "
					    "allowed: %s", method, url, s->allowbuf);
		}
		s->route_idx = (int)(s->route - routes);
		if (h->app->replica && (s->route->access & ROUTE_WRITE))
			return send_problem(conn, s, 403, NULL, "this server is a read replica; send "
					    "%s %s to the primary, %s", s->method, s->req.path,
					    replica_primary_url(h->app->replica));
		if (access_check(conn, s) != MHD_YES || s->done)
			return s->done ? MHD_YES : MHD_NO;
		if (!__atomic_load_n(&h->app->ready, __ATOMIC_ACQUIRE) && !(s->route->access & ROUTE_EARLY)) {
			memset(&rp, 0, sizeof(rp));
			reply_problem(&rp, 503, "loading the database and indexes; retry shortly "
				      "(GET /readyz says when)");
			rp.retry_after = 1;
			return send_reply(conn, s, &rp);
		}
		s->body_max = s->route->body == BODY_BULK ? (size_t)h->app->cfg.body_max_bulk :
			      s->route->body == BODY_JSON ? (size_t)h->app->cfg.body_max_json : 0;
		v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (v) {
			int64_t len;

			if (parse_i64(v, 0, INT64_MAX, &len))
				return send_problem(conn, s, 400, NULL, "bad Content-Length");
			if ((uint64_t)len > s->body_max)
				return send_problem(conn, s, 413, NULL, "body of %lld bytes is larger "
						    "than this route's limit of %zu bytes",
						    (long long)len, s->body_max);
		}
		sb_init(&s->body, s->body_max);
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (s->body.len + *upload_data_size > s->body_max) {
			*upload_data_size = 0;
			return send_problem(conn, s, 413, NULL, "body larger than this route's "
					    "limit of %zu bytes", s->body_max);
		}
		if (sb_add(&s->body, upload_data, *upload_data_size)) {
			*upload_data_size = 0;
			return send_problem(conn, s, 500, NULL, "out of memory receiving the body");
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* the whole request is here: run the handler */
	s->req.body = s->body.len ? s->body.p : NULL;
	s->req.body_len = s->body.len;
	memset(&rp, 0, sizeof(rp));
	rp.status = 500;
	/* on a replica, never between a diff's commit and its index update (replica.h) */
	replica_gate_enter(s->h->app->replica);
	s->route->handler(&s->req, &rp);
	replica_gate_leave(s->h->app->replica);
	if (!rp.body && !rp.stream && rp.status != 204 && rp.status != 304)
		reply_problem(&rp, rp.status >= 400 ? rp.status : 500, "handler produced no reply");
	return send_reply(conn, s, &rp);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct httpd *h = cls;
	struct rstate *s = calloc(1, sizeof(*s));

	(void)conn;
	if (!s)
		return NULL;
	s->h = h;
	s->t0 = now_us();
	s->route_idx = -1;
	s->url = strdup(uri ? uri : "");
	__atomic_add_fetch(&h->active, 1, __ATOMIC_RELAXED);
	return s;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct httpd *h = cls;
	struct rstate *s = *con_cls;
	uint64_t us;

	(void)conn;
	if (!s)
		return;
	us = now_us() - s->t0;
	if (!s->done)
		s->status = 499;	/* client gone / timeout before a reply */
	log_msg(LOG_INFO, "req=%llu %s %s route=%s status=%d bytes=%zu us=%llu%s",
		(unsigned long long)s->req.id, s->method[0] ? s->method : "-", s->url,
		routes_name(s->route_idx), s->status, s->bytes, (unsigned long long)us,
		toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" :
		toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? " (timeout)" :
		toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? " (client gone)" : " (aborted)");
	metrics_observe(h->app->metrics, s->route_idx, s->status, us);
	sb_free(&s->body);
	free((void *)(uintptr_t)s->req.content_type);
	free(s->url);
	free(s);
	*con_cls = NULL;
	__atomic_sub_fetch(&h->active, 1, __ATOMIC_RELAXED);
}

__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_msg(LOG_WARN, "libmicrohttpd: %s", msg);
}

int httpd_start(struct app *app, struct httpd **out, char *err)
{
	struct httpd *h = calloc(1, sizeof(*h));
	struct sockaddr_in6 a6;
	struct sockaddr_in a4;
	struct sockaddr *sa;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
			 MHD_USE_ITC;

	*out = NULL;
	if (!h)
		return errf(err, "out of memory");
	h->app = app;
	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	if (inet_pton(AF_INET, app->cfg.listen, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		a4.sin_port = htons((uint16_t)app->cfg.port);
		sa = (struct sockaddr *)&a4;
	} else if (inet_pton(AF_INET6, app->cfg.listen, &a6.sin6_addr) == 1) {
		a6.sin6_family = AF_INET6;
		a6.sin6_port = htons((uint16_t)app->cfg.port);
		sa = (struct sockaddr *)&a6;
		flags |= MHD_USE_IPv6;
	} else {
		free(h);
		return errf(err, "listen: '%s' is not an IPv4 or IPv6 address", app->cfg.listen);
	}
	{
		struct MHD_OptionItem o[16];
		int n = 0;

#define OPT(k, v, p) do { o[n].option = (k); o[n].value = (intptr_t)(v); o[n].ptr_value = (p); n++; } while (0)
		OPT(MHD_OPTION_SOCK_ADDR, 0, sa);
		/* threads = 0: a thread per connection. A similar search blocks its thread
		 * while the coalescer batches it with the others; in a pool, every other
		 * connection of that thread waits too (measured at 32 connections: batches
		 * of 1.6 queries in a pool of 16, 17 with a thread per connection). */
		if (app->cfg.threads == 0)
			flags |= MHD_USE_THREAD_PER_CONNECTION;
		else
			OPT(MHD_OPTION_THREAD_POOL_SIZE, app->cfg.threads, NULL);
		OPT(MHD_OPTION_CONNECTION_LIMIT, app->cfg.conn_limit, NULL);
		OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, app->cfg.conn_per_ip, NULL);
		OPT(MHD_OPTION_CONNECTION_TIMEOUT, app->cfg.conn_timeout_s, NULL);
		OPT(MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL);
		if (app->cfg.tls_cert[0] || app->cfg.tls_key[0]) {
			size_t len;

			if (!app->cfg.tls_cert[0] || !app->cfg.tls_key[0]) {
				free(h);
				return errf(err, "TLS needs both tls_cert and tls_key");
			}
			h->tls_cert = file_read(app->cfg.tls_cert, 1 << 20, &len, err);
			h->tls_key = h->tls_cert ? file_read(app->cfg.tls_key, 1 << 20, &len, err) : NULL;
			if (!h->tls_cert || !h->tls_key) {
				free(h->tls_cert);
				free(h);
				return -1;
			}
			flags |= MHD_USE_TLS;
			OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert);
			OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key);
		}
		OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
		h->d = MHD_start_daemon(flags, (uint16_t)app->cfg.port, NULL, NULL, on_request, h,
					MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
					MHD_OPTION_ARRAY, o,
					MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
					MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
					MHD_OPTION_END);
	}
	if (!h->d) {
		free(h->tls_cert);
		free(h->tls_key);
		free(h);
		return errf(err, "cannot listen on %s port %d (in use, not allowed, or bad TLS "
			    "certificate/key)", app->cfg.listen, app->cfg.port);
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : app->cfg.port;
	*out = h;
	return 0;
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}

void httpd_stop(struct httpd *h, int wait_ms)
{
	int waited = 0;

	if (!h)
		return;
	MHD_quiesce_daemon(h->d);
	while (__atomic_load_n(&h->active, __ATOMIC_RELAXED) > 0 && waited < wait_ms) {
		usleep(10000);
		waited += 10;
	}
	MHD_stop_daemon(h->d);
	free(h->tls_cert);
	free(h->tls_key);
	free(h);
}
