/* metrics.h - Prometheus counters for the daemon: requests by route and status, a
 * latency histogram per route, and gauges supplied by other modules at scrape time.
 * Lock-free (atomic counters); observed from every worker thread. */
#ifndef LSD_METRICS_H
#define LSD_METRICS_H
#include <stdint.h>
#include "util.h"

struct metrics;
/* nroutes routes, route_name(i) naming route i in the rendered text. */
int metrics_create(int nroutes, const char *(*route_name)(int i), struct metrics **out /* OUT */);
void metrics_destroy(struct metrics *m);
/* route: index into the route table, or -1 for unmatched requests. */
void metrics_observe(struct metrics *m, int route, int status, uint64_t usec);
/* Append the request metrics in Prometheus text format. */
void metrics_render(struct metrics *m, struct sb *b);
#endif
