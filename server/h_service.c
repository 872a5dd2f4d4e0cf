/* h_service.c - service routes: /healthz, /readyz, /metrics, /v1/stats.
 * Cheap and lock-free except stats (one SQLite aggregate query). /readyz is 503 until
 * serve has loaded the catalog and every index, and while any index is being rebuilt. */
#include "app.h"
#include "handlers.h"
#include "json.h"
#include "metrics.h"
#include "replica.h"
#include "space.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

/* Other modules add their gauges to /metrics and their part of /v1/stats through these
 * hooks (set by serve when the module is present); NULL means nothing to add. */

void h_healthz(const struct request *r, struct reply *rp)
{
	struct sb b;

	(void)r;
	sb_init(&b, 64);
	sb_adds(&b, "{\"status\":\"ok\"}");
	reply_json(rp, 200, &b);
}

void h_readyz(const struct request *r, struct reply *rp)
{
	struct sb b;

	if (!__atomic_load_n(&r->app->ready, __ATOMIC_ACQUIRE)) {
		reply_problem(rp, 503, "loading the database and indexes");
		rp->retry_after = 1;
		return;
	}
	/* searches go on during a rebuild (the old index serves until the swap), but a
	 * balancer may prefer a replica that is not busy rebuilding */
	{
		char why[512];

		if (!replica_in_sync(r->app->replica, why, sizeof(why))) {
			reply_problem(rp, 503, "%s", why);
			rp->retry_after = 1;
			return;
		}
	}
	if (space_rebuilds_running() > 0) {
		reply_problem(rp, 503, "rebuilding %d index(es); searches are still answered",
			      space_rebuilds_running());
		rp->retry_after = 1;
		return;
	}
	sb_init(&b, 64);
	sb_adds(&b, "{\"status\":\"ready\"}");
	reply_json(rp, 200, &b);
}

void h_metrics(const struct request *r, struct reply *rp)
{
	struct sb b;
	size_t n;
	char *p;

	sb_init(&b, 4 << 20);
	metrics_render(r->app->metrics, &b);
	h_events_metrics(r->app, &b);
	replication_metrics(r->app, &b);
	if (b.oom) {
		sb_free(&b);
		reply_problem(rp, 500, "metrics too large");
		return;
	}
	p = sb_steal(&b, &n);
	reply_bytes(rp, 200, "text/plain; version=0.0.4; charset=utf-8", p, n);
}

void h_stats(const struct request *r, struct reply *rp)
{
	struct store_counts c;
	char err[LSD_ERRLEN];
	struct sb b;

	if (store_counts(r->app->st, &c, err)) {
		reply_problem(rp, 500, "%s", err);
		return;
	}
	sb_init(&b, 1 << 20);
	sb_adds(&b, "{\"lesions\":");
	jw_int(&b, c.lesions);
	sb_adds(&b, ",\"patients\":");
	jw_int(&b, c.patients);
	sb_adds(&b, ",\"studies\":");
	jw_int(&b, c.studies);
	sb_adds(&b, ",\"series\":");
	jw_int(&b, c.series);
	sb_adds(&b, ",\"schema_version\":");
	jw_int(&b, store_schema_version(r->app->st));
	sb_adds(&b, ",\"replication\":");
	replication_stats_json(r->app, &b);
	sb_adds(&b, ",\"spaces\":[");
	h_events_stats_spaces(r->app, &b);
	sb_adds(&b, "]}");
	reply_json(rp, 200, &b);
}
