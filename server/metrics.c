/* metrics.c - request counters and latency histograms (see metrics.h).
 * Statuses are bucketed into a fixed list of codes; latency buckets are fixed
 * (0.1 ms .. 10 s). All counters are relaxed atomics. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>

static const int status_codes[] = { 200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 409,
				    413, 415, 422, 429, 500, 501, 503, 0 /* other */ };
#define NSTATUS (sizeof(status_codes) / sizeof(status_codes[0]))
static const double buckets_s[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
				    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10 };
#define NBUCKETS (sizeof(buckets_s) / sizeof(buckets_s[0]))

struct route_m {
	uint64_t count[NSTATUS];
	uint64_t hist[NBUCKETS + 1];
	uint64_t sum_us;
};

struct metrics {
	int nroutes;
	const char *(*route_name)(int i);
	struct route_m *r;	/* nroutes + 1: the last is "unmatched" */
};

int metrics_create(int nroutes, const char *(*route_name)(int i), struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -1;
	m->nroutes = nroutes;
	m->route_name = route_name;
	m->r = calloc((size_t)nroutes + 1, sizeof(*m->r));
	if (!m->r) {
		free(m);
		return -1;
	}
	*out = m;
	return 0;
}

void metrics_destroy(struct metrics *m)
{
	if (!m)
		return;
	free(m->r);
	free(m);
}

void metrics_observe(struct metrics *m, int route, int status, uint64_t usec)
{
	struct route_m *r;
	size_t i;

	if (!m)
		return;
	r = &m->r[route >= 0 && route < m->nroutes ? route : m->nroutes];
	for (i = 0; i < NSTATUS - 1 && status_codes[i] != status; i++)
		;
	__atomic_fetch_add(&r->count[i], 1, __ATOMIC_RELAXED);
	for (i = 0; i < NBUCKETS && (double)usec / 1e6 > buckets_s[i]; i++)
		;
	__atomic_fetch_add(&r->hist[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->sum_us, usec, __ATOMIC_RELAXED);
}

void metrics_render(struct metrics *m, struct sb *b)
{
	int ri;
	size_t i;

	sb_adds(b, "# HELP lesiond_http_requests_total HTTP requests by route and status.\n"
		   "# TYPE lesiond_http_requests_total counter\n");
	for (ri = 0; ri <= m->nroutes; ri++) {
		const char *name = ri < m->nroutes ? m->route_name(ri) : "unmatched";

		for (i = 0; i < NSTATUS; i++) {
			uint64_t c = __atomic_load_n(&m->r[ri].count[i], __ATOMIC_RELAXED);

			if (!c)
				continue;
			char st[8];

			if (status_codes[i])
				snprintf(st, sizeof(st), "%d", status_codes[i]);
			else
				snprintf(st, sizeof(st), "other");
			sb_addf(b, "lesiond_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
				name, st, (unsigned long long)c);
		}
	}
	sb_adds(b, "# HELP lesiond_http_request_duration_seconds Request latency by route.\n"
		   "# TYPE lesiond_http_request_duration_seconds histogram\n");
	for (ri = 0; ri <= m->nroutes; ri++) {
		const char *name = ri < m->nroutes ? m->route_name(ri) : "unmatched";
		uint64_t cum = 0;

		for (i = 0; i <= NBUCKETS; i++)
			cum += __atomic_load_n(&m->r[ri].hist[i], __ATOMIC_RELAXED);
		if (!cum)
			continue;
		cum = 0;
		for (i = 0; i < NBUCKETS; i++) {
			cum += __atomic_load_n(&m->r[ri].hist[i], __ATOMIC_RELAXED);
			sb_addf(b, "lesiond_http_request_duration_seconds_bucket"
				"{route=\"%s\",le=\"%g\"} %llu\n", name, buckets_s[i],
				(unsigned long long)cum);
		}
		cum += __atomic_load_n(&m->r[ri].hist[NBUCKETS], __ATOMIC_RELAXED);
		sb_addf(b, "lesiond_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
			name, (unsigned long long)cum);
		sb_addf(b, "lesiond_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", name,
			(double)__atomic_load_n(&m->r[ri].sum_us, __ATOMIC_RELAXED) / 1e6);
		sb_addf(b, "lesiond_http_request_duration_seconds_count{route=\"%s\"} %llu\n", name,
			(unsigned long long)cum);
	}
}
