/* h_www.c - the built-in web viewer: GET / (index.html) and GET /www/{file}.
 * The files live in the binary (www.h, generated from server/www/ at build time), so
 * a deployed lesiond needs nothing beside it. Each reply carries the file's ETag and
 * "Cache-Control: no-cache": browsers keep a copy but revalidate, and get a 304 while
 * the binary is unchanged. Load: one page view = three small requests. */
#include "handlers.h"
#include "www.h"

#include <stdlib.h>
#include <string.h>

const struct www_file *www_find(const char *name)
{
	size_t i;

	for (i = 0; i < www_files_count; i++)
		if (!strcmp(www_files[i].path, name))
			return &www_files[i];
	return NULL;
}

static void serve(const struct www_file *f, struct reply *rp)
{
	char *copy;

	/* the reply body is freed by the HTTP layer, so hand it a copy */
	copy = malloc(f->len ? f->len : 1);
	if (!copy) {
		reply_problem(rp, 500, "out of memory");
		return;
	}
	memcpy(copy, f->data, f->len);
	reply_bytes(rp, 200, f->content_type, copy, f->len);
	if (strlen(f->etag) < sizeof(rp->etag))
		memcpy(rp->etag, f->etag, strlen(f->etag) + 1);
	rp->cache_control = "no-cache";
}

void h_www_index(const struct request *r, struct reply *rp)
{
	const struct www_file *f = www_find("index.html");

	(void)r;
	if (!f) {
		reply_problem(rp, 404, "this build of lesiond has no web viewer");
		return;
	}
	serve(f, rp);
}

void h_www_file(const struct request *r, struct reply *rp)
{
	const struct www_file *f = r->nargs == 1 ? www_find(r->args[0]) : NULL;

	if (!f) {
		reply_problem(rp, 404, "no file /www/%.60s in the web viewer",
			      r->nargs == 1 ? r->args[0] : "");
		return;
	}
	serve(f, rp);
}
