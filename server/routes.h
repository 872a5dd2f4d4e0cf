/* routes.h - the route table (routes.c): method, pattern, handler, body limit, access.
 * Read by the HTTP glue (http.c) to dispatch and by `serve` to size the metrics. */
#ifndef LSD_ROUTES_H
#define LSD_ROUTES_H

#include <stddef.h>

#include "http.h"

/* access flags */
#define ROUTE_WRITE 1	/* a write: needs an admin key (when keys are configured); refused on
			 * a replica */
#define ROUTE_ADMIN 2	/* a read that needs an admin key */
#define ROUTE_EARLY 4	/* answers while serve is still loading (touches no data) */
#define ROUTE_PUBLIC 8	/* no key ever (probes, the viewer's static files); implies EARLY */

typedef void (*handler_fn)(const struct request *r, struct reply *rp);

enum body_class { BODY_NONE = 0, BODY_JSON, BODY_BULK };

struct route {
	unsigned methods;		/* HTTP_GET | HTTP_HEAD ... */
	const char *pattern;		/* "/v1/lesions/{}/patch.png": {} captures one segment */
	handler_fn handler;
	enum body_class body;		/* which size limit applies */
	unsigned access;		/* ROUTE_* flags; 0: a read route, after loading */
	const char *name;		/* route label for logs and metrics */
};

extern const struct route routes[];
extern const size_t routes_count;

/* The label of route i for logs and metrics ("unmatched" outside the table). */
const char *routes_name(int i);

/* Match a path against the table: the route, or NULL; *allow gets the methods that
 * exist for the path (for 405). Captures go into r->args. */
const struct route *routes_match(const char *path, enum http_method m, unsigned *allow,
				 struct request *r);

#endif
