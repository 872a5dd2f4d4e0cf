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
/* Create app->cache from cfg.images / slice_cache_mb (none when images is unset: the
 * image routes then answer 503) and add the cache counters to /metrics. */
int h_images_start(struct app *app, char *err);
void h_images_stop(struct app *app);	/* after the HTTP server has stopped */
/* h_www.c: the web viewer's static files */
void h_www_index(const struct request *r, struct reply *rp);
void h_www_file(const struct request *r, struct reply *rp);

/* h_search.c */
void h_similar(const struct request *r, struct reply *rp);
void h_search(const struct request *r, struct reply *rp);
void h_search_batch(const struct request *r, struct reply *rp);

/* h_spaces.c: load the catalog and spaces at start; snapshot and free at stop */
struct app;
int h_spaces_start(struct app *app, char *err);
void h_spaces_stop(struct app *app);
/* h_graph.c */
void h_patient_graph(const struct request *r, struct reply *rp);
void h_lesion_track(const struct request *r, struct reply *rp);

/* Hooks other modules set at start (NULL = none): lesions added / deleted through the
 * API, extra /metrics lines, extra /v1/stats "spaces" entries. */
struct app;
struct lesion;
extern void (*h_lesions_added)(struct app *app, const struct lesion *l, size_t n);
extern void (*h_lesion_deleted)(struct app *app, const struct lesion *l);
extern void (*h_metrics_extra)(struct app *app, struct sb *b);
extern void (*h_stats_extra)(struct app *app, struct sb *b);

/* h_graph.c: the graph's hooks (serve installs them) and its settings from the config. */
struct config;
struct graph_params;
void h_graph_lesions_added(struct app *app, const struct lesion *l, size_t n);
void h_graph_lesion_deleted(struct app *app, const struct lesion *l);
void h_graph_params(const struct config *c, struct graph_params *p /* OUT */);
/* The space named by graph_space (the embedding evidence), or NULL when it is empty or
 * the registry has no such space: the graph is then built without embedding distances. */
struct spaces;
struct space *h_graph_space(struct spaces *sp, const struct config *c);

#endif
