/* http.h - what a request handler sees: a plain request struct in, a reply struct out.
 *
 * server/http.c (the only user of libmicrohttpd) turns each HTTP request into a
 * struct request, finds the route (routes.h: a static table of method, pattern,
 * handler), calls the handler and sends the struct reply (reply.c fills it). Handlers never see MHD, so
 * they can be unit-tested without a socket. Bodies are buffered up to the route's limit
 * (413 while receiving beyond it). Handlers run on MHD's worker threads, concurrently.
 */
#ifndef LSD_HTTP_H
#define LSD_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

enum http_method {
	HTTP_GET = 1, HTTP_HEAD = 2, HTTP_POST = 4, HTTP_PUT = 8, HTTP_DELETE = 16,
	HTTP_OPTIONS = 32
};

struct app;	/* app.h: the daemon's shared state (config, store, spaces, caches) */

#define REQ_MAX_ARGS 4
#define REQ_MAX_QUERY 32

struct request {
	enum http_method method;
	const char *path;		/* URL path, percent-decoded */
	const char *args[REQ_MAX_ARGS];	/* the {…} segments of the route pattern, in order */
	int nargs;
	const char *qkey[REQ_MAX_QUERY];	/* query string, decoded, in order */
	const char *qval[REQ_MAX_QUERY];
	int nquery;
	const char *content_type;	/* without parameters, lower case; NULL if absent */
	const char *if_none_match;
	const char *origin;
	const char *accept;		/* Accept header as sent; NULL if absent */
	const char *authorization;
	const char *body;		/* NUL-terminated; NULL when empty */
	size_t body_len;
	uint64_t id;			/* request id, for logs */
	struct app *app;
	char argbuf[256];		/* storage behind args[] */
};

/* Streamed reply body (chunked): called with the byte position so far; writes at most
 * max bytes into buf and returns their count (> 0), REPLY_STREAM_END when done or
 * REPLY_STREAM_ERROR to abort the connection. Never 0 (that means "poll again").
 * stream_free is called once at the end, on every path. May block (it runs on a worker). */
typedef ssize_t (*reply_stream_fn)(void *cls, uint64_t pos, char *buf, size_t max);
#define REPLY_STREAM_END ((ssize_t)-1)
#define REPLY_STREAM_ERROR ((ssize_t)-2)

struct reply {
	int status;
	const char *content_type;	/* static string */
	char *body;			/* malloc'd; ownership passes to the HTTP layer */
	size_t body_len;
	char etag[40];			/* "" for none; set => If-None-Match honoured, 304 */
	int immutable;			/* Cache-Control: public, max-age=31536000, immutable */
	const char *cache_control;	/* static string: another Cache-Control (NULL: none) */
	const char *allow;		/* Allow header (405) */
	int retry_after;		/* seconds, > 0 adds Retry-After */
	int www_authenticate;		/* add WWW-Authenticate: Bearer (401) */
	reply_stream_fn stream;		/* set for a chunked streamed body */
	void *stream_cls;
	void (*stream_free)(void *cls);
};

/* Value of a query parameter (the last one if repeated), or NULL. */
const char *req_query(const struct request *r, const char *key);
/* The raw request target (path and query, before percent-decoding): 0, or -1 with why
 * when it holds a control byte (0x00-0x1f, 0x7f), raw or percent-encoded, which would
 * end or change a decoded path segment or query value. Every request is refused with
 * 400 on it before routing (http.c). */
int req_uri_check(const char *uri, char *why, size_t n);
/* 1 when the request's If-None-Match names etag (or is "*"): answer 304. */
int req_etag_matches(const struct request *r, const char *etag);

/* Fill the reply. Each returns 0; on allocation failure they fall back to a static 500. */
int reply_json(struct reply *rp, int status, struct sb *b);	/* takes b's bytes */
int reply_bytes(struct reply *rp, int status, const char *ctype, void *body, size_t len);
/* application/problem+json (RFC 9457) with status, title (from the status), detail. */
int reply_problem(struct reply *rp, int status, const char *fmt, ...) LSD_PRINTF(3, 4);
const char *http_status_title(int status);
/* The one map from the library's status (util.h, enum lsd_status) to an HTTP status. */
int http_status_of(int lsd_status);

#endif
