/* coalesce.h - gather concurrent single searches into one batched search.
 *
 * An exact search reads every vector of the space once; a batch of queries reads them
 * once for all (BLAS). When several requests search at the same time, the first one
 * becomes the leader: it waits up to wait_us for the others expected to join (the recent
 * peak of searches in flight; only if others are in flight now), takes up to max_batch
 * queued queries, runs them as one search_run, and hands every caller its own results.
 * A lone request never waits.
 * Used by the daemon for unfiltered queries; thread-safe.
 */
#ifndef LSD_COALESCE_H
#define LSD_COALESCE_H

#include "search.h"

struct coalescer;

/* leaders: batches that may run at once (1: each batch uses every core through the
 * Flat scan's threads, and the queue gathers while it runs). */
int coalescer_create(int max_batch, int wait_us, int leaders, struct coalescer **out /* OUT */);
void coalescer_destroy(struct coalescer *c);

/* Like search_run for one query; blocks until its batch has run. hits has q->k slots.
 * On success the search stays "in flight" (it counts towards the company a leader
 * expects) until the caller, having written its reply, calls coalescer_release once. */
int coalescer_search(struct coalescer *c, struct space *sp, struct catalog *cat,
		     const struct search_query *q, struct search_hit *hits, int *nhits /* OUT */,
		     int *mode /* OUT */, char *err);
void coalescer_release(struct coalescer *c);

struct coalescer_stats {
	uint64_t queries, batches, max_seen, waits;	/* waits: leaders that waited for company */
	uint64_t wait_us, run_us;	/* time leaders waited for company; time batches ran */
};
void coalescer_get_stats(struct coalescer *c, struct coalescer_stats *out /* OUT */);

#endif
