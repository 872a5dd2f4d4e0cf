/* routes.c - the route table: method, pattern, handler, body limit, access (ROUTE_*).
 * Read it at a glance; routes_match is a linear scan (a few dozen rows, microseconds).
 * Pattern segments: literal text, or "{}" (one non-empty segment), optionally with a
 * literal suffix ("{}.png"). Captures land in request.args in order. */
#include "routes.h"
#include "handlers.h"
#include "replica.h"

#include <string.h>

#define GET (HTTP_GET | HTTP_HEAD)
#define WRITE ROUTE_WRITE
#define ADMIN ROUTE_ADMIN
#define EARLY ROUTE_EARLY
#define PUBLIC (ROUTE_PUBLIC | ROUTE_EARLY)

const struct route routes[] = {
	/* service */
	{ GET, "/healthz", h_healthz, BODY_NONE, PUBLIC, "healthz" },
	{ GET, "/readyz", h_readyz, BODY_NONE, PUBLIC, "readyz" },
	{ GET, "/metrics", h_metrics, BODY_NONE, EARLY, "metrics" },
	{ GET, "/v1/stats", h_stats, BODY_NONE, 0, "stats" },
	{ GET, "/v1/openapi.json", h_openapi, BODY_NONE, EARLY, "openapi" },
	/* the web viewer (server/www/, embedded) */
	{ GET, "/", h_www_index, BODY_NONE, PUBLIC, "www_index" },
	{ GET, "/www/{}", h_www_file, BODY_NONE, PUBLIC, "www_file" },
	/* lesions */
	{ GET, "/v1/lesions", h_lesions_list, BODY_NONE, 0, "lesions_list" },
	{ HTTP_POST, "/v1/lesions", h_lesions_post, BODY_BULK, WRITE, "lesions_post" },
	{ GET, "/v1/lesions/{}", h_lesion_get, BODY_NONE, 0, "lesion_get" },
	{ HTTP_DELETE, "/v1/lesions/{}", h_lesion_delete, BODY_NONE, WRITE, "lesion_delete" },
	/* embeddings */
	{ HTTP_PUT, "/v1/lesions/{}/embedding", h_embedding_put, BODY_JSON, WRITE, "embedding_put" },
	{ GET, "/v1/lesions/{}/embedding", h_embedding_get, BODY_NONE, 0, "embedding_get" },
	{ HTTP_POST, "/v1/spaces/{}/vectors", h_space_vectors_post, BODY_BULK, WRITE, "vectors_post" },
	{ GET, "/v1/spaces/{}/training.png", h_space_training_png, BODY_NONE, 0, "space_training_png" },
	{ GET, "/v1/spaces/{}", h_space_get, BODY_NONE, 0, "space_get" },
	/* similar-lesion search */
	{ GET, "/v1/lesions/{}/similar.png", h_similar_png, BODY_NONE, 0, "similar_png" },
	{ GET, "/v1/lesions/{}/similar", h_similar, BODY_NONE, 0, "similar" },
	{ HTTP_POST, "/v1/search", h_search, BODY_JSON, 0, "search" },
	{ HTTP_POST, "/v1/search/batch", h_search_batch, BODY_BULK, 0, "search_batch" },
	/* rendered images */
	{ GET, "/v1/lesions/{}/patch.png", h_lesion_patch, BODY_NONE, 0, "lesion_patch" },
	{ GET, "/v1/slices/{}/{}.png", h_slice_png, BODY_NONE, 0, "slice_png" },
	/* lesion graph */
	{ GET, "/v1/patients/{}/graph.png", h_patient_graph_png, BODY_NONE, 0, "patient_graph_png" },
	{ GET, "/v1/patients/{}/graph", h_patient_graph, BODY_NONE, 0, "patient_graph" },
	{ GET, "/v1/lesions/{}/track", h_lesion_track, BODY_NONE, 0, "lesion_track" },
	/* replication (a primary's log and snapshots, for its replicas; replica.h) */
	{ GET, "/v1/replication/changes", h_repl_changes, BODY_NONE, ADMIN, "repl_changes" },
	{ GET, "/v1/replication/snapshot", h_repl_snapshot, BODY_NONE, ADMIN, "repl_snapshot" },
};
const size_t routes_count = sizeof(routes) / sizeof(routes[0]);

const char *routes_name(int i)
{
	return i >= 0 && (size_t)i < routes_count ? routes[i].name : "unmatched";
}

/* Match one path segment [s, s+n) against a pattern segment [p, p+pn). */
static int seg_match(const char *p, size_t pn, const char *s, size_t n, struct request *r,
		     size_t *argoff)
{
	const char *brace = memchr(p, '{', pn);
	size_t pre, suf, cap;

	if (!brace)
		return pn == n && !memcmp(p, s, n);
	pre = (size_t)(brace - p);
	suf = pn - pre - 2;
	if (n < pre + suf + 1 || memcmp(p, s, pre) || memcmp(p + pre + 2, s + n - suf, suf))
		return 0;
	cap = n - pre - suf;
	if (r->nargs >= REQ_MAX_ARGS || *argoff + cap + 1 > sizeof(r->argbuf))
		return 0;
	memcpy(r->argbuf + *argoff, s + pre, cap);
	r->argbuf[*argoff + cap] = '\0';
	r->args[r->nargs++] = r->argbuf + *argoff;
	*argoff += cap + 1;
	return 1;
}

static int path_match(const char *pat, const char *path, struct request *r)
{
	size_t argoff = 0;

	r->nargs = 0;
	for (;;) {
		const char *pe, *se;
		size_t pn, sn;

		if (*pat != '/' || *path != '/')
			return *pat == '\0' && *path == '\0';
		pat++;
		path++;
		pe = strchr(pat, '/');
		se = strchr(path, '/');
		pn = pe ? (size_t)(pe - pat) : strlen(pat);
		sn = se ? (size_t)(se - path) : strlen(path);
		if (!seg_match(pat, pn, path, sn, r, &argoff))
			return 0;
		pat += pn;
		path += sn;
		if (*pat == '\0' && *path == '\0')
			return 1;
	}
}

const struct route *routes_match(const char *path, enum http_method m, unsigned *allow,
				 struct request *r)
{
	const struct route *hit = NULL;
	struct request tmp;
	size_t i;

	*allow = 0;
	for (i = 0; i < routes_count; i++) {
		if (!path_match(routes[i].pattern, path, &tmp))
			continue;
		*allow |= routes[i].methods;
		if (!hit && (routes[i].methods & m)) {
			hit = &routes[i];
			memcpy(r->argbuf, tmp.argbuf, sizeof(r->argbuf));
			r->nargs = tmp.nargs;
			for (int k = 0; k < tmp.nargs; k++)
				r->args[k] = r->argbuf + (tmp.args[k] - tmp.argbuf);
		}
	}
	return hit;
}
