/* h_spaces.c - the daemon's side of embedding spaces: start-up (catalog and every
 * space loaded from the store, each index from its snapshot or rebuilt, with a log
 * line saying which), keeping them current when lesions are added or deleted (called
 * from h_events.c), the spaces' entries in /v1/stats and /metrics, a background thread
 * that snapshots spaces after enough writes, and the final snapshot at shutdown.
 */
#include "app.h"
#include "catalog.h"
#include "coalesce.h"
#include "embed.h"
#include "handlers.h"
#include "json.h"
#include "learn.h"
#include "learn_cnn.h"
#include "log.h"
#include "space.h"
#include "spacedb.h"
#include "statesnap.h"
#include "store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_t snap_thread;
static int snap_running;
static volatile int snap_stop;

static void log_line(void *cls, const char *line)
{
	(void)cls;
	log_msg(LOG_INFO, "%s", line);
}

void h_spaces_lesions_added(struct app *app, const struct lesion *l, size_t n)
{
	char err[LSD_ERRLEN];
	size_t i;

	if (!app->sp || !app->cat)
		return;	/* not started */
	for (i = 0; i < n; i++)
		if (catalog_put(app->cat, &l[i], err))
			log_msg(LOG_ERROR, "catalog: %s", err);
	/* the built-in descriptor for the new lesions, when images and statistics exist */
	if (app->cfg.images[0]) {
		struct embed_opts eo;

		memset(&eo, 0, sizeof(eo));
		eo.space = "builtin";
		eo.images = app->cfg.images;
		eo.weights[0] = (float)app->cfg.desc_w_appearance;
		eo.weights[1] = (float)app->cfg.desc_w_location;
		eo.weights[2] = (float)app->cfg.desc_w_size;
		for (i = 0; i < n; i++) {
			int rc = embed_one(app->st, app->sp, &eo, &l[i], err);

			if (rc == 1)
				break;	/* `lesiond embed` never ran: no statistics to use */
			if (rc)
				log_msg(LOG_WARN, "lesion %lld: no built-in descriptor: %s",
					(long long)l[i].id, rc == LSD_ENOTFOUND ? "image missing" : err);
			/* and into every space `lesiond train` learned from builtin */
			else if (learn_project_new(app->st, app->sp, "builtin", &l[i].id, 1, NULL, err))
				log_msg(LOG_WARN, "lesion %lld: not projected into a trained space: %s",
					(long long)l[i].id, err);
		}
		/* and into every space `lesiond train --from images` learned */
		if (learn_cnn_embed_new(app->st, app->sp, app->cfg.images, l, n, err))
			log_msg(LOG_WARN, "added lesions not embedded by a trained network: %s", err);
	}
}

void h_spaces_lesion_deleted(struct app *app, const struct lesion *l)
{
	if (!app->sp || !app->cat)
		return;	/* not started */
	catalog_remove(app->cat, l->id);
	spacedb_forget(app->sp, l->id);
}

void h_spaces_stats(struct app *app, struct sb *b)
{
	size_t i, n = app->sp ? spaces_count(app->sp) : 0;

	for (i = 0; i < n; i++) {
		struct space_info info;

		space_get_info(spaces_at(app->sp, i), &info);
		if (i || b->p[b->len - 1] != '[')
			sb_addc(b, ',');
		sb_adds(b, "{\"name\":");
		jw_str(b, info.def.name);
		sb_addf(b, ",\"dim\":%d,\"metric\":\"%s\",\"index_type\":", info.def.dim,
			space_metric_name(info.def.metric));
		jw_str(b, info.def.index_type[0] ? info.def.index_type : "Flat");
		sb_adds(b, ",\"index_active\":");
		jw_str(b, info.index_active);
		sb_addf(b, ",\"count\":%zu,\"stale\":%zu,\"ready\":%s,\"provenance\":", info.count,
			info.stale, info.ready ? "true" : "false");
		jw_str(b, info.def.provenance);
		sb_addc(b, '}');
	}
}

void h_spaces_metrics(struct app *app, struct sb *b)
{
	size_t i, n = app->sp ? spaces_count(app->sp) : 0;

	if (!app->sp)
		return;	/* not started: no spaces, no catalog yet */
	sb_adds(b, "# HELP lesiond_space_vectors Live vectors per embedding space.\n"
		   "# TYPE lesiond_space_vectors gauge\n");
	for (i = 0; i < n; i++) {
		struct space_info info;

		space_get_info(spaces_at(app->sp, i), &info);
		sb_addf(b, "lesiond_space_vectors{space=\"%s\"} %zu\n", info.def.name, info.count);
		sb_addf(b, "lesiond_space_index_entries{space=\"%s\"} %zu\n", info.def.name,
			info.index_total);
	}
	sb_addf(b, "# HELP lesiond_lesions Lesions in the catalog.\n# TYPE lesiond_lesions gauge\n"
		   "lesiond_lesions %zu\n", catalog_count(app->cat));
	{
		struct search_stats ss;

		search_stats_get(&ss);
		sb_addf(b, "# HELP lesiond_search_filtered_total Filtered searches by the path they "
			   "took (search.h).\n# TYPE lesiond_search_filtered_total counter\n"
			   "lesiond_search_filtered_total{path=\"exact_subset\"} %llu\n"
			   "lesiond_search_filtered_total{path=\"overfetch\"} %llu\n"
			   "lesiond_search_filtered_total{path=\"overfetch_ann\"} %llu\n"
			   "lesiond_search_filtered_total{path=\"ann_fallback\"} %llu\n"
			   "# HELP lesiond_search_overfetch_grow_total Over-fetch k' growth rounds.\n"
			   "# TYPE lesiond_search_overfetch_grow_total counter\n"
			   "lesiond_search_overfetch_grow_total %llu\n",
			(unsigned long long)ss.exact_subset, (unsigned long long)ss.overfetch,
			(unsigned long long)ss.overfetch_ann, (unsigned long long)ss.ann_fallback,
			(unsigned long long)ss.overfetch_grow);
	}
	if (app->coal) {
		struct coalescer_stats cs;

		coalescer_get_stats(app->coal, &cs);
		sb_addf(b, "# HELP lesiond_search_batched_queries_total Unfiltered searches run "
			   "through the coalescer.\n# TYPE lesiond_search_batched_queries_total counter\n"
			   "lesiond_search_batched_queries_total %llu\n"
			   "lesiond_search_batches_total %llu\nlesiond_search_batch_max %llu\n"
			   "# HELP lesiond_search_batch_seconds_total Time batches of the coalescer "
			   "ran (search and result lookup).\n"
			   "# TYPE lesiond_search_batch_seconds_total counter\n"
			   "lesiond_search_batch_seconds_total %.6f\n"
			   "# HELP lesiond_search_gather_seconds_total Time leaders waited for more "
			   "queries before a batch.\n# TYPE lesiond_search_gather_seconds_total counter\n"
			   "lesiond_search_gather_seconds_total %.6f\nlesiond_search_gathers_total %llu\n",
			(unsigned long long)cs.queries, (unsigned long long)cs.batches,
			(unsigned long long)cs.max_seen, (double)cs.run_us / 1e6,
			(double)cs.wait_us / 1e6, (unsigned long long)cs.waits);
	}
}

/* Snapshot spaces that took snapshot_every writes, every few seconds. */
static void *snapshotter(void *arg)
{
	struct app *app = arg;
	char err[LSD_ERRLEN];

	while (!snap_stop) {
		int i;

		for (i = 0; i < 20 && !snap_stop; i++)
			usleep(100000);
		if (!snap_stop)
			spacedb_snapshot(app->st, app->sp, (uint64_t)app->cfg.snapshot_every,
					 log_line, NULL, err);
	}
	return NULL;
}

int h_spaces_load(struct app *app, char *err)
{
	double t0 = now_ms();

	if (catalog_create(&app->cat, err))
		return -1;
	if (app->cfg.coalesce_max > 1 &&
	    coalescer_create(app->cfg.coalesce_max, app->cfg.coalesce_wait_us, 1, &app->coal))
		return errf(err, "out of memory");
	/* the catalog and the memory copies from <db>.state when it is current, else SQLite */
	if (spacedb_set_search_params(app->cfg.search_params, err) ||
	    statesnap_open(app->st, app->cat, &app->sp, log_line, NULL, err))
		return -1;
	log_msg(LOG_INFO, "catalog: %zu lesions; %zu embedding space(s) loaded in %.0f ms",
		catalog_count(app->cat), spaces_count(app->sp), now_ms() - t0);
	snap_stop = 0;
	snap_running = pthread_create(&snap_thread, NULL, snapshotter, app) == 0;
	return 0;
}

int h_spaces_start(struct app *app, char *err)
{
	return h_spaces_load(app, err);	/* the events reach the spaces through h_events.c */
}

void h_spaces_stop(struct app *app)
{
	char err[LSD_ERRLEN];

	if (snap_running) {
		snap_stop = 1;
		pthread_join(snap_thread, NULL);
		snap_running = 0;
	}
	if (app->sp && app->st) {
		spacedb_snapshot(app->st, app->sp, 0, log_line, NULL, err);
		if (app->cat && statesnap_save(app->st, app->cat, app->sp, log_line, NULL, err))
			log_msg(LOG_WARN, "state snapshot: %s", err);
	}
	spaces_destroy(app->sp);
	app->sp = NULL;
	catalog_destroy(app->cat);
	app->cat = NULL;
	coalescer_destroy(app->coal);
	app->coal = NULL;
}
