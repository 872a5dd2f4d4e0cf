/* handlers.h - the HTTP handlers named in the route table (server/routes.c).
 * Each takes a plain request and fills a reply (http.h); one file per resource. */
#ifndef LSD_HANDLERS_H
#define LSD_HANDLERS_H
#include "http.h"

/* h_service.c */
void h_healthz(const struct request *r, struct reply *rp);
void h_readyz(const struct request *r, struct reply *rp);
void h_metrics(const struct request *r, struct reply *rp);
void h_stats(const struct request *r, struct reply *rp);
/* h_openapi.c: docs/openapi.json, embedded at build time */
void h_openapi(const struct request *r, struct reply *rp);
/* h_lesions.c */
void h_lesions_list(const struct request *r, struct reply *rp);
void h_lesion_get(const struct request *r, struct reply *rp);
void h_lesions_post(const struct request *r, struct reply *rp);
void h_lesion_delete(const struct request *r, struct reply *rp);
/* h_images.c */
void h_lesion_patch(const struct request *r, struct reply *rp);
void h_slice_png(const struct request *r, struct reply *rp);
/* h_vectors.c */
void h_embedding_put(const struct request *r, struct reply *rp);
void h_embedding_get(const struct request *r, struct reply *rp);
void h_space_vectors_post(const struct request *r, struct reply *rp);
void h_space_get(const struct request *r, struct reply *rp);		/* h_training.c */
void h_space_training_png(const struct request *r, struct reply *rp);
/* Create app->cache from cfg.images / slice_cache_mb (none when images is unset: the
 * image routes then answer 503) and add the cache counters to /metrics. A root that
 * does not exist yet is not an error: it is attached by h_images_cache once it does. */
int h_images_start(struct app *app, char *err);
/* The slice cache, attached on first use to a root that appeared after the start; NULL
 * while there is none. h_images_need: 0, or -1 with a 503 problem in rp saying why. */
struct slicecache *h_images_cache(struct app *app);
int h_images_need(struct app *app, struct reply *rp);
void h_images_stop(struct app *app);	/* after the HTTP server has stopped */
/* One lesion's patch for composed pictures (h_sheets.c), through the same slice cache
 * and renderer as patch.png: the strong ETag of the patch (without decoding) and its
 * pixels (render_patch_pixels: *chan 1, 3 or 2, malloc'd *px). Both return an
 * lsd_status with err (LSD_ENOTFOUND when no image root is configured). */
struct lesion;
struct render_params;
int h_images_patch_etag(struct app *app, const struct lesion *l, const struct render_params *p,
			char *etag /* OUT: RENDER_ETAG_LEN */, char *err);
int h_images_patch_pixels(struct app *app, const struct lesion *l, const struct render_params *p,
			  void **px /* OUT */, int *chan /* OUT */, char *err);
/* h_www.c: the web viewer's static files */
void h_www_index(const struct request *r, struct reply *rp);
void h_www_file(const struct request *r, struct reply *rp);

/* h_search.c */
void h_similar(const struct request *r, struct reply *rp);
void h_search(const struct request *r, struct reply *rp);
void h_search_batch(const struct request *r, struct reply *rp);
/* h_search_npz.c: the application/x-npy form of the batch, answered as .npz */
void h_search_batch_npy(const struct request *r, struct reply *rp);
/* The search of GET /v1/lesions/{id}/similar for other routes (the contact sheet): k,
 * space, filters and same_patient from r's query, k defaulting to k_default and bounded
 * by k_max (and the configured k_max). *hits (malloc'd) gets *n hits, space the space's
 * name. Returns 0, or -1 with the problem already in rp (404 unknown lesion / space,
 * 422 bad parameter). */
struct search_hit;
int h_similar_search(const struct request *r, int64_t id, int k_default, int k_max,
		     struct search_hit **hits /* OUT */, int *n /* OUT */, char *space /* OUT */,
		     size_t space_len, struct reply *rp);

/* h_spaces.c: load the catalog and spaces at start; snapshot and free at stop */
struct app;
int h_spaces_start(struct app *app, char *err);
void h_spaces_stop(struct app *app);
/* The loading part of h_spaces_start without installing the hooks: a replica reloads
 * its catalog and spaces with it after swapping in a new snapshot (after h_spaces_stop). */
int h_spaces_load(struct app *app, char *err);
/* h_graph.c */
void h_patient_graph(const struct request *r, struct reply *rp);
void h_lesion_track(const struct request *r, struct reply *rp);
/* h_sheets.c: composed PNGs, a retrieval's contact sheet and a patient's track timeline */
void h_similar_png(const struct request *r, struct reply *rp);
void h_patient_graph_png(const struct request *r, struct reply *rp);

/* h_events.c: what the daemon does when lesions are added or deleted through the API,
 * and what /metrics and /v1/stats add beyond the request counters, each in one fixed
 * order written in one place (instead of hook pointers chained at start-up). */
struct app;
struct lesion;
void h_events_lesions_added(struct app *app, const struct lesion *l, size_t n);
void h_events_lesion_deleted(struct app *app, const struct lesion *l);
void h_events_metrics(struct app *app, struct sb *b);
void h_events_stats_spaces(struct app *app, struct sb *b);
/* What each resource does for those events, and its /metrics lines and /v1/stats
 * entries; h_events.c calls them, in its order. Each is a no-op
 * until its module has started (h_spaces_start, h_images_start). */
struct app;
struct lesion;
void h_spaces_lesions_added(struct app *app, const struct lesion *l, size_t n);
void h_spaces_lesion_deleted(struct app *app, const struct lesion *l);
void h_spaces_metrics(struct app *app, struct sb *b);
void h_spaces_stats(struct app *app, struct sb *b);	/* the /v1/stats "spaces" entries */
void h_images_metrics(struct app *app, struct sb *b);

/* h_graph.c: keeping each patient's graph current (called from h_events.c) and the graph's
 * settings from the config. */
struct config;
struct graph_params;
void h_graph_lesions_added(struct app *app, const struct lesion *l, size_t n);
void h_graph_lesion_deleted(struct app *app, const struct lesion *l);
void h_graph_params(const struct config *c, struct graph_params *p /* OUT */);
/* One patient's lesions (*l, *n), stored edges (*e, *ne) and track numbers (*track: n,
 * graph_components numbering, *ntracks of them), all malloc'd. Returns 0, or -1 with the
 * problem in rp (404 when the patient has no lesions, 500); the caller frees l, e, track
 * on every path. */
struct graph_edge;
int h_graph_load(const struct request *r, int64_t pid, struct lesion **l /* OUT */,
		 size_t *n /* OUT */, struct graph_edge **e /* OUT */, size_t *ne /* OUT */,
		 int **track /* OUT */, int *ntracks /* OUT */, struct reply *rp);
/* The space named by graph_space (the embedding evidence), or NULL when it is empty or
 * the registry has no such space: the graph is then built without embedding distances. */
struct spaces;
struct space *h_graph_space(struct spaces *sp, const struct config *c);

#endif
