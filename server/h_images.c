/* h_images.c - rendered image routes: GET/HEAD /v1/lesions/{id}/patch.png and
 * /v1/slices/{series_dir}/{slice}.png.
 *
 * Each request: parse the rendering parameters (render.h), find the slice file under
 * the image root (slicecache.h does the path safety), compute the strong ETag from the
 * file's identity and every parameter, answer 304 before decoding anything when
 * If-None-Match already has it, else take the decoded slice from the shared cache,
 * render and encode. Replies are immutable (Cache-Control and Cross-Origin-Resource-
 * Policy are added by server/http.c for immutable replies; CORS by its origin list).
 * The same patch path (slice, ETag, pixels) is exported as h_images_patch_etag /
 * h_images_patch_pixels for the composed pictures of h_sheets.c.
 * Runs on MHD worker threads; no state of its own besides the /metrics hook chain.
 * Expected load: interactive viewers and contact sheets, hundreds of patches per second.
 */
#include "apijson.h"
#include "app.h"
#include "handlers.h"
#include "log.h"
#include "render.h"
#include "slicecache.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one map from render/slicecache status codes to HTTP statuses. */
int h_images_status(int rc)
{
	switch (rc) {
	case RENDER_EMALFORMED: return 400;	/* == SLICECACHE_EBADPATH for URL paths */
	case RENDER_EINVAL: return 422;
	case RENDER_ENOENT: return 404;		/* == SLICECACHE_ENOENT */
	default: return 500;			/* EIMAGE, ENOMEM */
	}
}

static int need_cache(const struct request *r, struct reply *rp)
{
	if (!r->app->cache) {
		reply_problem(rp, 503, "no image root configured (set images in the config "
			      "or --images DIR)");
		return -1;
	}
	return 0;
}

/* Fill a 304 (etag matches) and return 1, else 0. */
static int not_modified(const struct request *r, struct reply *rp, const char *etag)
{
	snprintf(rp->etag, sizeof(rp->etag), "%s", etag);
	rp->immutable = 1;
	if (r->if_none_match && (strstr(r->if_none_match, etag) ||
				 !strcmp(r->if_none_match, "*"))) {
		rp->status = 304;
		rp->content_type = "image/png";
		return 1;
	}
	return 0;
}

/* Source identity for the ETag, without decoding. */
static int source_of(const struct request *r, const char *rel, struct render_source *src,
		     char *err)
{
	int64_t size, mtime;
	uint64_t ino;
	int rc = slicecache_identity(r->app->cache, rel, &size, &mtime, &ino, err);

	if (rc)
		return rc;
	src->path = rel;
	src->size = size;
	src->mtime_ns = mtime;
	src->ino = ino;
	return 0;
}

static void reply_png(struct reply *rp, unsigned char *png, size_t len)
{
	reply_bytes(rp, 200, "image/png", png, len);	/* png's ownership moves here */
	rp->immutable = 1;
}

/* A cache failure for a slice the caller named or the lesion points at. */
static void slice_problem(const struct request *r, struct reply *rp, int rc, const char *err)
{
	if (rc == SLICECACHE_EIMAGE) {
		log_msg(LOG_ERROR, "req %llu: %s", (unsigned long long)r->id, err);
		reply_problem(rp, 500, "%s", err);
	} else if (rc == SLICECACHE_EBADPATH) {
		reply_problem(rp, 404, "%s", err);	/* never reveal what is outside */
	} else {
		reply_problem(rp, h_images_status(rc), "%s", err);
	}
}

static int common_params(const struct request *r, struct render_params *p, char *err)
{
	return render_params_parse(req_query(r, "size"), req_query(r, "fov_mm"),
				   req_query(r, "overlay"), req_query(r, "slice_offset"),
				   req_query(r, "format"), p, err);
}

/* The slice a lesion patch reads (rel) and the patch's strong ETag, without decoding.
 * Returns a render / slicecache status with err. */
static int patch_source(struct app *app, const struct lesion *l, const struct render_params *p,
			char *rel, size_t reln, char *etag, char *err)
{
	struct render_source src;
	int64_t size, mtime;
	uint64_t ino;
	int rc = render_slice_path(l, p->slice_offset, rel, reln, err);

	if (rc)
		return rc;
	rc = slicecache_identity(app->cache, rel, &size, &mtime, &ino, err);
	if (rc)
		return rc;
	src.path = rel;
	src.size = size;
	src.mtime_ns = mtime;
	src.ino = ino;
	render_etag(&src, l, p, 0, etag);
	return 0;
}

/* render_patch_pixels on the cached slice rel. */
static int patch_pixels(struct app *app, const char *rel, const struct lesion *l,
			const struct render_params *p, void **px, int *chan, char *err)
{
	struct slicecache_handle h = { 0 };
	int rc = slicecache_get(app->cache, rel, &h, err);

	*px = NULL;
	if (rc)
		return rc;
	rc = render_patch_pixels(h.s, l, p, px, chan, err);
	slicecache_release(app->cache, &h);
	return rc;
}

int h_images_patch_etag(struct app *app, const struct lesion *l, const struct render_params *p,
			char *etag, char *err)
{
	char rel[LESION_PATH_MAX + 16];

	if (!app->cache)
		return errf(err, "no image root configured"), RENDER_ENOENT;
	return patch_source(app, l, p, rel, sizeof(rel), etag, err);
}

int h_images_patch_pixels(struct app *app, const struct lesion *l, const struct render_params *p,
			  void **px, int *chan, char *err)
{
	char rel[LESION_PATH_MAX + 16], etag[RENDER_ETAG_LEN];
	int rc;

	*px = NULL;
	if (!app->cache)
		return errf(err, "no image root configured"), RENDER_ENOENT;
	rc = patch_source(app, l, p, rel, sizeof(rel), etag, err);
	return rc ? rc : patch_pixels(app, rel, l, p, px, chan, err);
}

void h_lesion_patch(const struct request *r, struct reply *rp)
{
	struct render_params p;
	struct lesion l;
	char err[LSD_ERRLEN], rel[LESION_PATH_MAX + 16], etag[RENDER_ETAG_LEN];
	unsigned char *png = NULL;
	void *px = NULL;
	size_t len = 0;
	int rc, chan = 0;

	if (need_cache(r, rp) || apijson_path_lesion(r, &l, rp))
		return;
	render_params_init(&p, r->app->cfg.png_level);
	rc = common_params(r, &p, err);
	/* png16 is unwindowed, but an explicit bad window= is still an error */
	if (rc == RENDER_OK && (p.format != RENDER_FMT_PNG16 || req_query(r, "window")))
		rc = render_window_parse(req_query(r, "window"), &l, &p.lo, &p.hi, err);
	if (rc != RENDER_OK) {
		reply_problem(rp, h_images_status(rc), "%s", err);
		return;
	}
	rc = patch_source(r->app, &l, &p, rel, sizeof(rel), etag, err);
	if (rc) {
		slice_problem(r, rp, rc, err);
		return;
	}
	if (not_modified(r, rp, etag))
		return;
	rc = patch_pixels(r->app, rel, &l, &p, &px, &chan, err);
	if (rc) {
		slice_problem(r, rp, rc, err);
		return;
	}
	rc = image_encode_png(px, p.size, p.size, chan == 3 ? IMAGE_RGB8 : chan == 2 ?
			      IMAGE_GRAY16 : IMAGE_GRAY8, p.png_level, &png, &len, err);
	free(px);
	if (rc) {
		reply_problem(rp, 500, "%s", err);
		return;
	}
	reply_png(rp, png, len);
	snprintf(rp->etag, sizeof(rp->etag), "%s", etag);
}

void h_slice_png(const struct request *r, struct reply *rp)
{
	struct slicecache_handle h = { 0 };
	struct render_params p;
	struct render_source src;
	char err[LSD_ERRLEN], rel[512], etag[RENDER_ETAG_LEN];
	const char *win = req_query(r, "window"), *size = req_query(r, "size");
	unsigned char *png = NULL;
	size_t len = 0;
	int rc, n, side = 0;

	if (need_cache(r, rp))
		return;
	if (r->nargs < 2) {
		reply_problem(rp, 404, "expected /v1/slices/{series_dir}/{slice}.png");
		return;
	}
	n = snprintf(rel, sizeof(rel), "%s/%s.png", r->args[0], r->args[1]);
	if (n < 0 || (size_t)n >= sizeof(rel) ||
	    slicecache_path_check(rel, strlen(rel), err)) {
		reply_problem(rp, 400, "bad slice path");
		return;
	}
	render_params_init(&p, r->app->cfg.png_level);
	/* a bare slice has no lesion: no DICOM window (default soft_tissue), no overlay,
	 * no field of view; size= resamples the whole slice (default: native pixels) */
	if (req_query(r, "overlay") && strcmp(req_query(r, "overlay"), "none")) {
		reply_problem(rp, 422, "overlay needs a lesion: use /v1/lesions/{id}/patch.png");
		return;
	}
	if (req_query(r, "fov_mm") || req_query(r, "slice_offset")) {
		reply_problem(rp, 422, "fov_mm and slice_offset apply to lesion patches only");
		return;
	}
	rc = common_params(r, &p, err);
	if (rc == RENDER_OK && p.format != RENDER_FMT_PNG16)
		rc = render_window_parse(win && *win ? win : "soft_tissue", NULL, &p.lo, &p.hi,
					 err);
	if (rc != RENDER_OK) {
		reply_problem(rp, h_images_status(rc), "%s", err);
		return;
	}
	side = size ? p.size : 0;
	p.size = side;
	rc = source_of(r, rel, &src, err);
	if (rc) {
		slice_problem(r, rp, rc, err);
		return;
	}
	render_etag(&src, NULL, &p, side, etag);
	if (not_modified(r, rp, etag))
		return;
	rc = slicecache_get(r->app->cache, rel, &h, err);
	if (rc) {
		slice_problem(r, rp, rc, err);
		return;
	}
	rc = render_slice_png(h.s, &p, side, &png, &len, err);
	slicecache_release(r->app->cache, &h);
	if (rc) {
		reply_problem(rp, h_images_status(rc), "%s", err);
		return;
	}
	reply_png(rp, png, len);
	snprintf(rp->etag, sizeof(rp->etag), "%s", etag);
}

static void (*prev_metrics)(struct app *app, struct sb *b);

static void images_metrics(struct app *app, struct sb *b)
{
	struct slicecache_stats st;

	if (prev_metrics)
		prev_metrics(app, b);
	if (!app->cache)
		return;
	slicecache_stats(app->cache, &st);
	sb_addf(b, "# HELP lesiond_slice_cache_hits_total Decoded-slice cache hits.\n"
		"# TYPE lesiond_slice_cache_hits_total counter\n"
		"lesiond_slice_cache_hits_total %llu\n"
		"# HELP lesiond_slice_cache_misses_total Decoded-slice cache misses (decodes).\n"
		"# TYPE lesiond_slice_cache_misses_total counter\n"
		"lesiond_slice_cache_misses_total %llu\n"
		"# HELP lesiond_slice_cache_evictions_total Slices evicted to stay in budget.\n"
		"# TYPE lesiond_slice_cache_evictions_total counter\n"
		"lesiond_slice_cache_evictions_total %llu\n"
		"# HELP lesiond_slice_cache_errors_total Missing, rejected or corrupt slices.\n"
		"# TYPE lesiond_slice_cache_errors_total counter\n"
		"lesiond_slice_cache_errors_total %llu\n"
		"# HELP lesiond_slice_cache_bytes Bytes of decoded slices held.\n"
		"# TYPE lesiond_slice_cache_bytes gauge\n"
		"lesiond_slice_cache_bytes %zu\n"
		"# HELP lesiond_slice_cache_entries Decoded slices held.\n"
		"# TYPE lesiond_slice_cache_entries gauge\n"
		"lesiond_slice_cache_entries %zu\n"
		"# HELP lesiond_slice_cache_max_bytes The cache's budget (slice_cache_mb).\n"
		"# TYPE lesiond_slice_cache_max_bytes gauge\n"
		"lesiond_slice_cache_max_bytes %zu\n"
		"# HELP lesiond_slice_decode_shared_total Misses that waited for another "
		"request's decode of the same slice instead of decoding it again.\n"
		"# TYPE lesiond_slice_decode_shared_total counter\n"
		"lesiond_slice_decode_shared_total %llu\n"
		"# HELP lesiond_slice_decode_overlaps_total Decodes started while the same slice "
		"was being decoded (single-flight: always 0).\n"
		"# TYPE lesiond_slice_decode_overlaps_total counter\n"
		"lesiond_slice_decode_overlaps_total %llu\n",
		(unsigned long long)st.hits, (unsigned long long)st.misses,
		(unsigned long long)st.evictions, (unsigned long long)st.errors, st.bytes,
		st.entries, st.max_bytes, (unsigned long long)st.flight_waits,
		(unsigned long long)st.decode_overlaps);
}

int h_images_start(struct app *app, char *err)
{
	if (!app->cfg.images[0])
		return 0;	/* image routes answer 503 */
	if (slicecache_create(app->cfg.images, (size_t)app->cfg.slice_cache_mb << 20,
			      &app->cache, err))
		return -1;
	prev_metrics = h_metrics_extra;
	h_metrics_extra = images_metrics;
	return 0;
}

void h_images_stop(struct app *app)
{
	slicecache_destroy(app->cache);
	app->cache = NULL;
}
