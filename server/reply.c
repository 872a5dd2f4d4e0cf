/* reply.c - what handlers fill a reply with (http.h): JSON, bytes, problem+json
 * (RFC 9457); the request's query lookup and the check of its raw URI. No MHD here:
 * http.c sends the reply.
 * Called from every handler on the worker threads; no state.
 */
#include "http.h"
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *req_query(const struct request *r, const char *key)
{
	int i;

	for (i = r->nquery - 1; i >= 0; i--)
		if (!strcmp(r->qkey[i], key))
			return r->qval[i];
	return NULL;
}

int req_uri_check(const char *uri, char *why, size_t n)
{
	static const char hex[] = "0123456789abcdef0123456789ABCDEF";
	size_t i;

	for (i = 0; uri[i]; i++) {
		unsigned c = (unsigned char)uri[i];

		if (c == '%' && uri[i + 1] && uri[i + 2]) {
			const char *hi = memchr(hex, uri[i + 1], 32), *lo = memchr(hex, uri[i + 2], 32);

			if (hi && lo)
				c = (unsigned)(((hi - hex) & 15) << 4 | ((lo - hex) & 15));
		}
		if (c < 0x20 || c == 0x7f) {
			snprintf(why, n, "the %s holds a control byte (0x%02x) at offset %zu",
				 memchr(uri, '?', i) ? "query string" : "path", c, i);
			return -1;
		}
	}
	return 0;
}

int req_etag_matches(const struct request *r, const char *etag)
{
	return etag[0] && r->if_none_match &&
	       (strstr(r->if_none_match, etag) || !strcmp(r->if_none_match, "*"));
}

int http_status_of(int lsd_status)
{
	switch (lsd_status) {
	case LSD_OK: return 200;
	case LSD_EMALFORMED: return 400;
	case LSD_EINVAL: return 422;
	case LSD_ENOTFOUND: return 404;
	case LSD_EUNAVAIL: return 503;
	case LSD_ETOOLARGE: return 413;
	default: return 500;	/* LSD_EFAIL, LSD_EIMAGE, LSD_ENOMEM */
	}
}

const char *http_status_title(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

int reply_bytes(struct reply *rp, int status, const char *ctype, void *body, size_t len)
{
	rp->status = status;
	rp->content_type = ctype;
	free(rp->body);
	rp->body = body;
	rp->body_len = len;
	return 0;
}

int reply_json(struct reply *rp, int status, struct sb *b)
{
	size_t n;
	char *p;

	if (b->oom) {
		sb_free(b);
		return reply_problem(rp, 500, "reply too large");
	}
	p = sb_steal(b, &n);
	return reply_bytes(rp, status, "application/json", p, n);
}

int reply_problem(struct reply *rp, int status, const char *fmt, ...)
{
	char detail[LSD_ERRLEN];
	struct sb b;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	sb_init(&b, 8192);
	sb_adds(&b, "{\"type\":\"about:blank\",\"status\":");
	jw_int(&b, status);
	sb_adds(&b, ",\"title\":");
	jw_str(&b, http_status_title(status));
	sb_adds(&b, ",\"detail\":");
	jw_str(&b, detail);
	sb_adds(&b, "}");
	rp->stream = NULL;
	rp->etag[0] = '\0';
	rp->immutable = 0;
	rp->cache_control = NULL;
	if (b.oom) {
		sb_free(&b);
		return reply_bytes(rp, status, "application/problem+json", NULL, 0);
	}
	{
		char *p = sb_steal(&b, &n);

		return reply_bytes(rp, status, "application/problem+json", p, n);
	}
}
