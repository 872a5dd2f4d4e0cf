/* h_images.c - rendered image routes: GET/HEAD /v1/lesions/{id}/patch.png and
 * /v1/slices/{series_dir}/{slice}.png.
 *
 * Each request: parse the rendering parameters (render.h), find the slice file under
 * the image root (slicecache.h does the path safety), compute the strong ETag from the
 * file's identity and every parameter, answer 304 before decoding anything when
 * If-None-Match already has it, else take the decoded slice from the shared cache,
 * render and encode. Encoded lesion patches are kept in a byte LRU (bytecache.h,
 * patch_cache_mb) keyed by ETag and slice path, so a warm patch is a stat(), a lookup
 * and a copy: no decode, render or zlib. Replies are immutable (Cache-Control and Cross-Origin-Resource-
 * Policy are added by server/http.c for immutable replies; CORS by its origin list).
 * The same patch path (slice, ETag, pixels) is exported as h_images_patch_etag /
 * h_images_patch_pixels for the composed pictures of h_sheets.c.
 * Runs on MHD worker threads; its state (slice cache, patch cache) lives in the app.
 * Expected load: interactive viewers and contact sheets, hundreds of patches per second.
 */
#include "apijson.h"
#include "app.h"
#include "bytecache.h"
#include "handlers.h"
#include "log.h"
#include "render.h"
#include "slicecache.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Serialises attaching the cache to an image root that appeared after the start. */
static pthread_mutex_t attach_mu = PTHREAD_MUTEX_INITIALIZER;

/* The slice cache once attached (set once, never reset while serving). */
static struct slicecache *cache_of(struct app *app)
{
	return __atomic_load_n(&app->cache, __ATOMIC_ACQUIRE);
}

struct slicecache *h_images_cache(struct app *app)
{
	struct slicecache *c = cache_of(app);
	char err[LSD_ERRLEN];

	if (c || !app->cfg.images[0])
		return c;
	pthread_mutex_lock(&attach_mu);
	c = app->cache;
	if (!c && !slicecache_create(app->cfg.images, (size_t)app->cfg.slice_cache_mb << 20,
				     &c, err)) {
		__atomic_store_n(&app->cache, c, __ATOMIC_RELEASE);
		log_msg(LOG_INFO, "image root '%s' is there now: image routes enabled",
			app->cfg.images);
	}
	pthread_mutex_unlock(&attach_mu);
	return c;
}

int h_images_need(struct app *app, struct reply *rp)
{
	if (h_images_cache(app))
		return 0;
	if (app->cfg.images[0])
		reply_problem(rp, 503, "image root '%s' does not exist (yet): put the "
			      "DeepLesion Images_png folder there; no restart is needed",
			      app->cfg.images);
	else
		reply_problem(rp, 503, "no image root configured (set images in the config "
			      "or --images DIR)");
	return -1;
}

static int need_cache(const struct request *r, struct reply *rp)
{
	return h_images_need(r->app, rp);
}

/* Fill a 304 (etag matches) and return 1, else 0. */
static int not_modified(const struct request *r, struct reply *rp, const char *etag)
{
	str_copy(rp->etag, sizeof(rp->etag), etag);
	rp->immutable = 1;
	if (req_etag_matches(r, etag)) {
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
	int rc = slicecache_identity(cache_of(r->app), rel, &size, &mtime, &ino, err);

	if (rc)
		return rc;
	src->path = rel;
	src->size = size;
	src->mtime_ns = mtime;
	src->ino = ino;
	return 0;
}

/* A 200 with png (its ownership moves to the reply), immutable, under its strong etag. */
static void reply_png(struct reply *rp, unsigned char *png, size_t len, const char *etag)
{
	reply_bytes(rp, 200, "image/png", png, len);
	rp->immutable = 1;
	str_copy(rp->etag, sizeof(rp->etag), etag);
}

/* A cache failure for a slice the caller named or the lesion points at. */
static void slice_problem(const struct request *r, struct reply *rp, int rc, const char *err)
{
	if (rc == LSD_EIMAGE) {
		log_msg(LOG_ERROR, "req %llu: %s", (unsigned long long)r->id, err);
		reply_problem(rp, 500, "%s", err);
	} else if (rc == LSD_EMALFORMED) {
		reply_problem(rp, 404, "%s", err);	/* never reveal what is outside */
	} else {
		reply_problem(rp, http_status_of(rc), "%s", err);
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
	rc = slicecache_identity(cache_of(app), rel, &size, &mtime, &ino, err);
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
	int rc = slicecache_get(cache_of(app), rel, &h, err);

	*px = NULL;
	if (rc)
		return rc;
	rc = render_patch_pixels(h.s, l, p, px, chan, err);
	slicecache_release(cache_of(app), &h);
	return rc;
}

int h_images_patch_etag(struct app *app, const struct lesion *l, const struct render_params *p,
			char *etag, char *err)
{
	char rel[LESION_PATH_MAX + 16];

	if (!h_images_cache(app))
		return errf(err, "no image root"), LSD_ENOTFOUND;
	return patch_source(app, l, p, rel, sizeof(rel), etag, err);
}

int h_images_patch_pixels(struct app *app, const struct lesion *l, const struct render_params *p,
			  void **px, int *chan, char *err)
{
	char rel[LESION_PATH_MAX + 16], etag[RENDER_ETAG_LEN];
	int rc;

	*px = NULL;
	if (!h_images_cache(app))
		return errf(err, "no image root"), LSD_ENOTFOUND;
	rc = patch_source(app, l, p, rel, sizeof(rel), etag, err);
	return rc ? rc : patch_pixels(app, rel, l, p, px, chan, err);
}

void h_lesion_patch(const struct request *r, struct reply *rp)
{
	struct render_params p;
	struct lesion l;
	char err[LSD_ERRLEN], rel[LESION_PATH_MAX + 16], etag[RENDER_ETAG_LEN];
	char key[RENDER_ETAG_LEN + LESION_PATH_MAX + 18];
	unsigned char *png = NULL;
	void *px = NULL;
	size_t len = 0, n;
	int rc, chan = 0;

	if (need_cache(r, rp) || apijson_path_lesion(r, &l, rp))
		return;
	render_params_init(&p, r->app->cfg.png_level);
	rc = common_params(r, &p, err);
	/* png16 is unwindowed, but an explicit bad window= is still an error */
	if (rc == LSD_OK && (p.format != RENDER_FMT_PNG16 || req_query(r, "window")))
		rc = render_window_parse(req_query(r, "window"), &l, &p.lo, &p.hi, err);
	if (rc != LSD_OK) {
		reply_problem(rp, http_status_of(rc), "%s", err);
		return;
	}
	rc = patch_source(r->app, &l, &p, rel, sizeof(rel), etag, err);
	if (rc) {
		slice_problem(r, rp, rc, err);
		return;
	}
	if (not_modified(r, rp, etag))
		return;
	/* "etag|rel" (str_copy: no printf on the warm path); always fits: 23 + 1 + 95 */
	n = str_copy(key, sizeof(key), etag);
	key[n] = '|';
	str_copy(key + n + 1, sizeof(key) - n - 1, rel);
	if (r->app->patches && bytecache_get(r->app->patches, key, &png, &len)) {
		reply_png(rp, png, len, etag);
		return;
	}
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
	if (r->app->patches)
		bytecache_put(r->app->patches, key, png, len);
	reply_png(rp, png, len, etag);
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
	if (rc == LSD_OK && p.format != RENDER_FMT_PNG16)
		rc = render_window_parse(win && *win ? win : "soft_tissue", NULL, &p.lo, &p.hi,
					 err);
	if (rc != LSD_OK) {
		reply_problem(rp, http_status_of(rc), "%s", err);
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
	rc = slicecache_get(cache_of(r->app), rel, &h, err);
	if (rc) {
		slice_problem(r, rp, rc, err);
		return;
	}
	rc = render_slice_png(h.s, &p, side, &png, &len, err);
	slicecache_release(cache_of(r->app), &h);
	if (rc) {
		reply_problem(rp, http_status_of(rc), "%s", err);
		return;
	}
	reply_png(rp, png, len, etag);
}

void h_images_metrics(struct app *app, struct sb *b)
{
	struct slicecache_stats st;
	struct bytecache_stats pst;
	uint64_t lh = 0, lm = 0;

	/* the store's lesion rows: every patch reads its lesion first */
	if (app->st)
		store_lesion_cache_stats(app->st, &lh, &lm);
	sb_addf(b, "# HELP lesiond_lesion_cache_hits_total Lesion reads by id answered from the "
		"store's row cache (valid until the next write that changes a row).\n"
		"# TYPE lesiond_lesion_cache_hits_total counter\n"
		"lesiond_lesion_cache_hits_total %llu\n"
		"# HELP lesiond_lesion_cache_misses_total Lesion reads by id that went to SQLite.\n"
		"# TYPE lesiond_lesion_cache_misses_total counter\n"
		"lesiond_lesion_cache_misses_total %llu\n",
		(unsigned long long)lh, (unsigned long long)lm);
	if (app->patches) {
		bytecache_stats(app->patches, &pst);
		sb_addf(b, "# HELP lesiond_patch_cache_hits_total Lesion patches served from the "
			"encoded-patch cache (no decode, render or PNG encode).\n"
			"# TYPE lesiond_patch_cache_hits_total counter\n"
			"lesiond_patch_cache_hits_total %llu\n"
			"# HELP lesiond_patch_cache_misses_total Lesion patches rendered and encoded.\n"
			"# TYPE lesiond_patch_cache_misses_total counter\n"
			"lesiond_patch_cache_misses_total %llu\n"
			"# HELP lesiond_patch_cache_evictions_total Patches evicted to stay in budget.\n"
			"# TYPE lesiond_patch_cache_evictions_total counter\n"
			"lesiond_patch_cache_evictions_total %llu\n"
			"# HELP lesiond_patch_cache_bytes Bytes charged to the encoded-patch cache.\n"
			"# TYPE lesiond_patch_cache_bytes gauge\n"
			"lesiond_patch_cache_bytes %zu\n"
			"# HELP lesiond_patch_cache_entries Encoded patches held.\n"
			"# TYPE lesiond_patch_cache_entries gauge\n"
			"lesiond_patch_cache_entries %zu\n"
			"# HELP lesiond_patch_cache_max_bytes The budget (patch_cache_mb).\n"
			"# TYPE lesiond_patch_cache_max_bytes gauge\n"
			"lesiond_patch_cache_max_bytes %zu\n",
			(unsigned long long)pst.hits, (unsigned long long)pst.misses,
			(unsigned long long)pst.evictions, pst.bytes, pst.entries, pst.max_bytes);
	}
	if (!cache_of(app))
		return;
	slicecache_stats(cache_of(app), &st);
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
	struct stat sb;

	if (!app->cfg.images[0])
		return 0;	/* image routes answer 503 */
	if (app->cfg.patch_cache_mb > 0 &&
	    bytecache_create((size_t)app->cfg.patch_cache_mb << 20, &app->patches, err))
		return -1;
	/* A root that does not exist yet (an empty volume) is attached on first use once it
	 * does; meanwhile image routes answer 503. Anything else wrong with it is fatal. */
	if (stat(app->cfg.images, &sb) && errno == ENOENT)
		log_msg(LOG_WARN, "image root '%s' does not exist (yet): image routes answer 503 "
			"until it does", app->cfg.images);
	else if (slicecache_create(app->cfg.images, (size_t)app->cfg.slice_cache_mb << 20,
				   &app->cache, err))
		return -1;
	else if (strcmp(slicecache_resolver(app->cache), "openat2"))
		log_msg(LOG_WARN, "openat2(RESOLVE_BENEATH) is not available (Linux < 5.6 or a "
			"seccomp filter): slice paths are checked with realpath() (slower, "
			"same files accepted)");
	return 0;
}

void h_images_stop(struct app *app)
{
	slicecache_destroy(app->cache);
	app->cache = NULL;
	bytecache_destroy(app->patches);
	app->patches = NULL;
}
