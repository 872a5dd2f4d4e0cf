/* h_replication.c - the primary's side of replication: GET /v1/replication/changes
 * (the diff after a replica's position, index/store_repl.c's binary stream),
 * GET /v1/replication/snapshot (a fresh `lesiond backup`, streamed as one container),
 * and a thread that trims the change log to replication_log_keep entries.
 * Both routes need an admin key when keys are configured. Load: a replica polls changes
 * about four times a second (each poll waits up to wait_ms for a commit); a snapshot
 * costs one online backup of the database.
 *
 * Snapshot container (text framing, binary files):
 *   "LSDSNAP1\n", then per file "F <name> <size>\n" and exactly size bytes, then "END\n".
 * The files are the backup directory's (lesiond.db, index snapshots, MANIFEST); the
 * replica checks them against the MANIFEST's checksums before using any of them.
 */
#include "app.h"
#include "backup.h"
#include "http.h"
#include "log.h"
#include "replica.h"
#include "store.h"
#include "store_repl.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIFF_MAX_BYTES (1ull << 30)
#define DIFF_MAX_KEYS 500000
#define WAIT_MAX_MS 5000

static int refuse_on_replica(const struct request *r, struct reply *rp)
{
	if (!r->app->replica)
		return 0;
	reply_problem(rp, 403, "this server is a read replica of %s; replicas follow the "
		      "primary, not each other", replica_primary_url(r->app->replica));
	return 1;
}

void h_repl_changes(const struct request *r, struct reply *rp)
{
	const char *log_id = req_query(r, "log"), *after_s = req_query(r, "after"),
		   *wait_s = req_query(r, "wait_ms");
	int64_t after, wait = 0, to;
	struct repl_info in;
	char err[LSD_ERRLEN];
	double t0 = now_ms();
	size_t nkeys, len;
	struct sb b;
	int rc;

	if (refuse_on_replica(r, rp))
		return;
	if (!log_id || strlen(log_id) != REPL_LOG_ID_LEN || !after_s ||
	    parse_i64(after_s, 0, INT64_MAX, &after) ||
	    (wait_s && parse_i64(wait_s, 0, WAIT_MAX_MS, &wait))) {
		reply_problem(rp, 422, "expected log=<32 hex digits>&after=<position>"
			      "[&wait_ms=0..%d]", WAIT_MAX_MS);
		return;
	}
	/* long poll: answer as soon as something was committed after the position */
	for (;;) {
		if (store_repl_info(r->app->st, &in, err)) {
			reply_problem(rp, 500, "%s", err);
			return;
		}
		if (in.last != after || now_ms() - t0 >= (double)wait)
			break;
		usleep(20000);
	}
	sb_init(&b, DIFF_MAX_BYTES);
	rc = store_repl_changes(r->app->st, log_id, after, DIFF_MAX_KEYS, &b, &to, &nkeys, err);
	if (rc) {
		sb_free(&b);
		reply_problem(rp, rc == REPL_GONE ? 410 : 500, "%s", err);
		return;
	}
	{
		char *p = sb_steal(&b, &len);

		reply_bytes(rp, 200, "application/octet-stream", p, len);
	}
}

/* ---- the snapshot container ---- */

struct snapstream {
	char dir[PATH_MAX];
	char name[BACKUP_MAX_FILES + 1][160];
	int n, i;		/* files, current file (-1: the magic line not sent yet) */
	FILE *f;
	uint64_t left;		/* bytes of the current file still to send */
	char hdr[256];
	size_t hlen, hoff;
	int ended;
};

static void snap_cleanup(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX + 256];

	if (d) {
		while ((e = readdir(d)))
			if (e->d_name[0] != '.') {
				snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
				unlink(p);
			}
		closedir(d);
	}
	rmdir(dir);
}

static void snap_free(void *cls)
{
	struct snapstream *s = cls;

	if (s->f)
		fclose(s->f);
	snap_cleanup(s->dir);
	free(s);
}

/* the next header: the next file's "F name size" line, or "END" */
static int snap_next(struct snapstream *s)
{
	char path[PATH_MAX + 200];
	struct stat sb;

	if (s->f)
		fclose(s->f);
	s->f = NULL;
	s->i++;
	s->hoff = 0;
	if (s->i >= s->n) {
		s->hlen = (size_t)snprintf(s->hdr, sizeof(s->hdr), "END\n");
		s->ended = 1;
		return 0;
	}
	snprintf(path, sizeof(path), "%s/%s", s->dir, s->name[s->i]);
	s->f = fopen(path, "rb");
	if (!s->f || fstat(fileno(s->f), &sb))
		return -1;
	s->left = (uint64_t)sb.st_size;
	s->hlen = (size_t)snprintf(s->hdr, sizeof(s->hdr), "F %s %llu\n", s->name[s->i],
				   (unsigned long long)s->left);
	return 0;
}

static ssize_t snap_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct snapstream *s = cls;
	size_t out = 0;

	(void)pos;
	while (out < max) {
		if (s->hoff < s->hlen) {
			size_t k = LSD_MIN(max - out, s->hlen - s->hoff);

			memcpy(buf + out, s->hdr + s->hoff, k);
			s->hoff += k;
			out += k;
		} else if (s->ended) {
			break;
		} else if (s->f && s->left > 0) {
			size_t k = fread(buf + out, 1, (size_t)LSD_MIN((uint64_t)(max - out), s->left), s->f);

			if (k == 0)
				return REPLY_STREAM_ERROR;	/* the file shrank: abort, the replica retries */
			s->left -= k;
			out += k;
		} else if (snap_next(s)) {
			return REPLY_STREAM_ERROR;
		}
	}
	return out ? (ssize_t)out : REPLY_STREAM_END;
}

static void snap_log(void *cls, const char *line)
{
	(void)cls;
	log_msg(LOG_INFO, "replication snapshot: %s", line);
}

void h_repl_snapshot(const struct request *r, struct reply *rp)
{
	static unsigned counter;
	struct backup_manifest *m = NULL;
	struct snapstream *s = NULL;
	char err[LSD_ERRLEN];
	int i;

	if (refuse_on_replica(r, rp))
		return;
	m = calloc(1, sizeof(*m));
	s = calloc(1, sizeof(*s));
	if (!m || !s) {
		free(m);
		free(s);
		reply_problem(rp, 500, "out of memory");
		return;
	}
	snprintf(s->dir, sizeof(s->dir), "%s.replsnap-%ld-%u", store_path(r->app->st), (long)getpid(),
		 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	snap_cleanup(s->dir);
	if (backup_create(r->app->st, s->dir, m, snap_log, NULL, err)) {
		snap_cleanup(s->dir);
		free(m);
		free(s);
		reply_problem(rp, 500, "snapshot: %s", err);
		return;
	}
	for (i = 0; i < m->nfiles; i++)
		snprintf(s->name[s->n++], sizeof(s->name[0]), "%s", m->files[i].name);
	snprintf(s->name[s->n++], sizeof(s->name[0]), "%s", BACKUP_MANIFEST);
	free(m);
	s->i = -1;
	s->hlen = (size_t)snprintf(s->hdr, sizeof(s->hdr), "LSDSNAP1\n");
	rp->status = 200;
	rp->content_type = "application/octet-stream";
	rp->stream = snap_read;
	rp->stream_cls = s;
	rp->stream_free = snap_free;
}

/* ---- trimming the log ---- */

static pthread_t trim_thread;
static int trim_running;
static volatile int trim_stop;

static void *trimmer(void *arg)
{
	struct app *app = arg;
	char err[LSD_ERRLEN];
	size_t n;

	while (!trim_stop) {
		int i;

		for (i = 0; i < 50 && !trim_stop; i++)
			usleep(100000);
		if (trim_stop)
			break;
		if (store_repl_trim(app->st, app->cfg.replication_log_keep, &n, err))
			log_msg(LOG_WARN, "replication log trim: %s", err);
		else if (n)
			log_msg(LOG_INFO, "replication log: trimmed %zu entries (keeping %ld)", n,
				app->cfg.replication_log_keep);
	}
	return NULL;
}

int repl_primary_start(struct app *app, char *err)
{
	struct repl_info in;

	if (store_repl_info(app->st, &in, err))
		return -1;
	if (in.following) {
		/* a replica's database served without --replica-of: promote it */
		if (store_repl_new_history(app->st, err))
			return -1;
		log_msg(LOG_WARN, "this database was a replica of %s: promoted to a primary with a "
			"new change log (its replicas will take new snapshots)", in.primary_url);
	}
	trim_stop = 0;
	trim_running = pthread_create(&trim_thread, NULL, trimmer, app) == 0;
	return 0;
}

void repl_primary_stop(struct app *app)
{
	(void)app;
	if (trim_running) {
		trim_stop = 1;
		pthread_join(trim_thread, NULL);
		trim_running = 0;
	}
}
