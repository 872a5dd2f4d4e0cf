/* h_events.c - the daemon's events fanned out to the modules that care, in one place and in a
 * fixed order, instead of hook pointers chained at start-up: which module runs first is
 * read here, not inferred from the order of the start functions. Called by the lesion
 * handlers (writes) and the service handlers (/metrics, /v1/stats) on worker threads;
 * each callee is thread-safe and a no-op until its module has started.
 */
#include "handlers.h"

void h_events_lesions_added(struct app *app, const struct lesion *l, size_t n)
{
	/* catalog, built-in descriptor and trained projections first, so the graph
	 * rebuilt next sees the new lesions' vectors as embedding evidence */
	h_spaces_lesions_added(app, l, n);
	h_graph_lesions_added(app, l, n);
}

void h_events_lesion_deleted(struct app *app, const struct lesion *l)
{
	h_spaces_lesion_deleted(app, l);	/* out of the catalog and every space */
	h_graph_lesion_deleted(app, l);		/* then the patient's graph without it */
}

void h_events_metrics(struct app *app, struct sb *b)
{
	h_spaces_metrics(app, b);	/* spaces, catalog, search paths, coalescer */
	h_images_metrics(app, b);	/* the slice cache */
}

void h_events_stats_spaces(struct app *app, struct sb *b)
{
	h_spaces_stats(app, b);
}
