/* coalesce.c - concurrent searches batched by a leader (see coalesce.h).
 *
 * One mutex guards a FIFO of jobs. A caller enqueues its job and loops until the job is
 * done: while its job is still queued and fewer than `leaders` batches are running, it
 * becomes a leader (waits up to wait_us for the expected company when others are in
 * flight, takes everything queued up to max_batch, runs it unlocked, marks the jobs done
 * and wakes each owner, then wakes the oldest queued job to lead the next batch);
 * otherwise it sleeps on its own job's semaphore, so a finished batch wakes exactly the
 * threads it concerns. Jobs live on their callers' stacks and are only touched under the
 * mutex or by the leader that took them.
 *
 * Wakes without the mutex: a leader marks its jobs done under the mutex, then posts their
 * semaphores after unlocking, and an owner woken for a done job returns without taking
 * the mutex (a condition variable would make each of the batch's owners take it in turn
 * on waking, each handing it to the next: measured ~0.4-1.2 extra context switches a
 * request at 32 clients). An owner never returns while a post it was promised is still
 * to come (posts counts them, seen the ones consumed), so no post reaches a dead stack.
 *
 * The expected company is the recent peak of searches in flight (queued, running, or
 * writing their replies: coalescer_release ends a search's flight). Under a steady load
 * of c clients it settles at c, so one batch takes them all instead of two halves
 * alternating; a wait that times out lowers it to the company that did come.
 */
#include "coalesce.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cjob {
	struct space *sp;
	const struct search_query *q;
	struct search_hit *hits;
	int nhits, mode, rc, taken;
	int done;		/* atomic: set under the mutex (release), read by the owner */
	unsigned posts;		/* atomic: posts promised to sem (under the mutex) */
	unsigned seen;		/* posts the owner consumed (owner only) */
	char err[LSD_ERRLEN];
	sem_t sem;		/* this job's owner sleeps here: done, or lead next */
	struct cjob *next;
};

struct coalescer {
	pthread_mutex_t mu;
	pthread_cond_t full_cv;		/* the queue reached max_batch */
	struct cjob *head, *tail;
	int queued, busy;	/* busy: batches running */
	int inside;		/* atomic; in flight: entered coalescer_search, not released */
	int max_batch, wait_us, max_busy;
	int expect;		/* queries a leader waits for: the recent peak of inside */
	struct coalescer_stats st;
};

int coalescer_create(int max_batch, int wait_us, int leaders, struct coalescer **out)
{
	struct coalescer *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;

	*out = NULL;
	if (!c)
		return -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->full_cv, &ca);
	pthread_condattr_destroy(&ca);
	c->max_batch = max_batch < 1 ? 1 : max_batch > 1024 ? 1024 : max_batch;
	c->wait_us = wait_us < 0 ? 0 : wait_us;
	c->max_busy = leaders < 1 ? 1 : leaders;
	c->expect = 1;
	*out = c;
	return 0;
}

void coalescer_destroy(struct coalescer *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->full_cv);
	free(c);
}

/* Run a taken list: one search_run per space among the jobs (almost always one). */
static void run_batch(struct catalog *cat, struct cjob *list)
{
	struct search_query *qs = NULL;
	struct search_hit **hp = NULL;
	int *nh = NULL, *md = NULL;
	struct cjob *j, *k;
	size_t n = 0, m;
	char err[LSD_ERRLEN];

	for (j = list; j; j = j->next)
		n++;
	qs = malloc(n * sizeof(*qs));
	hp = malloc(n * sizeof(*hp));
	nh = malloc(n * sizeof(*nh));
	md = malloc(n * sizeof(*md));
	for (j = list; j; j = j->next)
		j->rc = 1;	/* not run yet */
	for (j = list; j; j = j->next) {
		if (j->rc != 1)
			continue;
		if (!qs || !hp || !nh || !md) {
			j->rc = errf(j->err, "out of memory");
			continue;
		}
		m = 0;
		for (k = j; k; k = k->next)
			if (k->rc == 1 && k->sp == j->sp) {
				qs[m] = *k->q;
				hp[m] = k->hits;
				m++;
			}
		if (search_run(j->sp, cat, qs, m, hp, nh, md, err)) {
			for (k = j; k; k = k->next)
				if (k->rc == 1 && k->sp == j->sp) {
					k->rc = -1;
					memcpy(k->err, err, sizeof(err));
				}
			continue;
		}
		m = 0;
		for (k = j; k; k = k->next)
			if (k->rc == 1 && k->sp == j->sp) {
				k->nhits = nh[m];
				k->mode = md[m];
				k->rc = 0;
				m++;
			}
	}
	free(qs);
	free(hp);
	free(nh);
	free(md);
}

/* Post to a job's owner: promise under the mutex (posts), post when convenient. */
static void promise(struct cjob *j)
{
	__atomic_add_fetch(&j->posts, 1, __ATOMIC_RELAXED);
}

static void post(struct cjob *j)
{
	sem_post(&j->sem);
}

/* The owner: one post consumed. */
static void take_post(struct cjob *j)
{
	while (sem_wait(&j->sem) && errno == EINTR)
		;
	j->seen++;
}

int coalescer_search(struct coalescer *c, struct space *sp, struct catalog *cat,
		     const struct search_query *q, struct search_hit *hits, int *nhits,
		     int *mode, char *err)
{
	struct cjob job;
	int in;

	memset(&job, 0, sizeof(job));
	job.sp = sp;
	job.q = q;
	job.hits = hits;
	if (sem_init(&job.sem, 0, 0))
		return errf(err, "cannot create a semaphore");
	pthread_mutex_lock(&c->mu);
	if (c->tail)
		c->tail->next = &job;
	else
		c->head = &job;
	c->tail = &job;
	c->queued++;
	in = __atomic_add_fetch(&c->inside, 1, __ATOMIC_SEQ_CST);
	if (in > c->expect)
		c->expect = LSD_MIN(c->max_batch, in);
	if (c->queued >= c->expect)
		pthread_cond_broadcast(&c->full_cv);
	for (;;) {
		struct cjob *list, *last, *j, *next;
		uint64_t t0;
		int n;

		if (__atomic_load_n(&job.done, __ATOMIC_RELAXED))
			break;
		if (job.taken || c->busy >= c->max_busy) {
			/* woken by the leader that ran our job (done: return without the
			 * mutex), or (queued, first in line) by one that finished, to lead the
			 * next batch */
			pthread_mutex_unlock(&c->mu);
			take_post(&job);
			if (__atomic_load_n(&job.done, __ATOMIC_ACQUIRE))
				goto finish;
			pthread_mutex_lock(&c->mu);
			continue;
		}
		c->busy++;
		/* Adaptive gathering: wait up to wait_us until the expected company (the
		 * recent peak in flight) is queued, only when other searches are in flight
		 * now. A lone request (inside == 1) never waits. A wait that times out means
		 * the load fell: expect what did come. */
		if (__atomic_load_n(&c->inside, __ATOMIC_SEQ_CST) > 1 && c->queued < c->expect &&
		    c->wait_us > 0) {
			struct timespec ts;
			int rc = 0;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += (long)c->wait_us * 1000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			c->st.waits++;
			t0 = now_us();
			while (c->queued < c->expect && rc != ETIMEDOUT)
				rc = pthread_cond_timedwait(&c->full_cv, &c->mu, &ts);
			c->st.wait_us += now_us() - t0;
			if (c->queued < c->expect)
				c->expect = LSD_MAX(1, c->queued);
		}
		/* take everything queued (up to max_batch), oldest first */
		list = c->head;
		if (!list) {	/* another leader took everything meanwhile */
			c->busy--;
			continue;
		}
		last = list;
		last->taken = 1;
		for (n = 1; n < c->max_batch && last->next; n++) {
			last = last->next;
			last->taken = 1;
		}
		c->head = last->next;
		if (!c->head)
			c->tail = NULL;
		last->next = NULL;
		c->queued -= n;
		c->st.batches++;
		c->st.queries += (uint64_t)n;
		if ((uint64_t)n > c->st.max_seen)
			c->st.max_seen = (uint64_t)n;
		pthread_mutex_unlock(&c->mu);
		t0 = now_us();
		run_batch(cat, list);
		t0 = now_us() - t0;
		pthread_mutex_lock(&c->mu);
		c->st.run_us += t0;
		for (j = list; j; j = j->next) {
			if (j->rc)	/* failed: its caller writes no reply, no release */
				__atomic_sub_fetch(&c->inside, 1, __ATOMIC_SEQ_CST);
			if (j != &job)
				promise(j);
			__atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
		}
		c->busy--;
		/* one wake-up, not a herd: the oldest queued job leads the next batch */
		if (c->head && !c->head->taken) {
			promise(c->head);
			post(c->head);
		}
		pthread_mutex_unlock(&c->mu);
		/* the owners were promised these posts, so each job lives until its own */
		for (j = list; j; j = next) {
			next = j->next;
			if (j != &job)
				post(j);
		}
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
finish:
	/* posts promised but not yet consumed (a lead wake that came late, or the done post
	 * of a job found done under the mutex) must arrive before the job's memory goes */
	while (job.seen != __atomic_load_n(&job.posts, __ATOMIC_ACQUIRE))
		take_post(&job);
	sem_destroy(&job.sem);
	if (job.rc)
		return errf(err, "%s", job.err);
	*nhits = job.nhits;
	*mode = job.mode;
	return 0;
}

void coalescer_release(struct coalescer *c)
{
	/* no mutex: leaders read inside as a hint of the company to expect */
	__atomic_sub_fetch(&c->inside, 1, __ATOMIC_SEQ_CST);
}

void coalescer_get_stats(struct coalescer *c, struct coalescer_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	pthread_mutex_unlock(&c->mu);
}
