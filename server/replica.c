/* replica.c - a read replica following a primary (replica.h). The only user of libcurl.
 *
 * One follower thread: GET <primary>/v1/replication/changes?log=&after=&wait_ms=250,
 * apply the diff (index/store_repl.c) in one SQLite transaction, then, holding the gate
 * for writing, commit and bring the catalog and the FAISS spaces to the same state.
 * HTTP handlers hold the gate for reading, so none runs between the commit and the end
 * of the index update. Lag = seconds since the last diff that brought the replica to
 * the primary's head was applied (each poll returns everything committed up to its
 * read); /readyz is 503 beyond replica_max_lag. On 410 Gone (log truncated, primary
 * restored) the follower downloads and verifies a new snapshot while the old state is
 * served, then swaps it in under the gate.
 */
#define _GNU_SOURCE	/* pthread_rwlockattr_setkind_np: a writer-preferring gate */
#include "replica.h"
#include "backup.h"
#include "catalog.h"
#include "json.h"
#include "log.h"
#include "space.h"
#include "spacedb.h"
#include "store.h"
#include "store_repl.h"
#include "store_vec.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define POLL_WAIT_MS 250
#define DIFF_MAX (1ull << 30)

struct replica {
	struct app *app;
	struct replica_reload reload;	/* the space handlers, for a snapshot swap */
	char url[CONFIG_STR_MAX];
	char key[CONFIG_STR_MAX];
	double max_lag;
	pthread_rwlock_t gate;
	pthread_t th;
	int running;
	volatile int stop;
	pthread_mutex_t mu;		/* guards the fields below */
	char log_id[REPL_LOG_ID_LEN + 1];
	int64_t position, primary_position;
	double synced_ms;		/* now_ms() of the last sync; 0: never */
	uint64_t batches, records, snapshots, errors;
	char last_error[LSD_ERRLEN];
};

/* ---- HTTP client ---- */

struct sink {
	struct sb *b;
	FILE *f;
};

static size_t on_body(char *p, size_t size, size_t n, void *cls)
{
	struct sink *k = cls;

	if (k->f)
		return fwrite(p, size, n, k->f);
	return sb_add(k->b, p, size * n) ? 0 : size * n;
}

/* GET url into b (or the file f); *status gets the HTTP status (0 on transport error). */
static int http_get(const char *url, const char *key, struct sb *b, FILE *f, long timeout_s,
		    long *status, char *err)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct sink k = { b, f };
	char auth[CONFIG_STR_MAX + 32];
	CURLcode rc;

	*status = 0;
	if (!c)
		return errf(err, "curl: cannot initialise");
	if (key && *key) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
		h = curl_slist_append(h, auth);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	else
		errf(err, "%s: %s", url, curl_easy_strerror(rc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc == CURLE_OK ? 0 : -1;
}

/* "detail" of a problem+json body, for logs (best effort) */
static void problem_detail(const struct sb *b, char *out, size_t n)
{
	const char *d = b->len ? strstr(b->p, "\"detail\":\"") : NULL;
	size_t i = 0;

	out[0] = '\0';
	if (!d)
		return;
	for (d += 10; *d && *d != '"' && i + 1 < n; d++)
		out[i++] = *d;
	out[i] = '\0';
}

/* ---- snapshots ---- */

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX + 256];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (backup_name_ok(e->d_name)) {	/* only names a snapshot may hold */
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

/* Read a container (h_replication.c) from f into dir; every file checked by name. */
static int unpack(FILE *f, const char *dir, char *err)
{
	char line[256], path[PATH_MAX + 200], *buf = NULL;
	int nfiles = 0, rc = -1;

	if (!fgets(line, sizeof(line), f) || strcmp(line, "LSDSNAP1\n"))
		return errf(err, "snapshot: not a lesiond snapshot stream");
	if (mkdir_p(dir, err))
		return -1;
	buf = malloc(1 << 20);
	if (!buf)
		return errf(err, "out of memory");
	for (;;) {
		char name[200];
		unsigned long long size;
		FILE *o;

		if (!fgets(line, sizeof(line), f) || !strchr(line, '\n')) {
			errf(err, "snapshot: truncated after %d files", nfiles);
			goto out;
		}
		if (!strcmp(line, "END\n"))
			break;
		if (sscanf(line, "F %199s %llu", name, &size) != 2 || !backup_name_ok(name) ||
		    size > (1ull << 42) || nfiles > BACKUP_MAX_FILES) {
			errf(err, "snapshot: bad file header");
			goto out;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		o = fopen(path, "wb");
		if (!o) {
			errf(err, "%s: %s", path, strerror(errno));
			goto out;
		}
		while (size > 0) {
			size_t k = fread(buf, 1, (size_t)LSD_MIN(size, (unsigned long long)(1 << 20)), f);

			if (k == 0 || fwrite(buf, 1, k, o) != k)
				break;
			size -= k;
		}
		if (fclose(o) || size > 0) {
			errf(err, "snapshot: %s truncated", name);
			goto out;
		}
		nfiles++;
	}
	if (fgetc(f) != EOF) {
		errf(err, "snapshot: bytes after the end");
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

/* Download and verify a snapshot of url into staging dir (the old one removed first). */
static int fetch_snapshot(const char *url, const char *key, const char *db, char *dir,
			  size_t dirn, char *err)
{
	char u[CONFIG_STR_MAX + 64], tmp[PATH_MAX], detail[256];
	struct backup_manifest *m = calloc(1, sizeof(*m));
	struct sb eb;
	long status;
	FILE *f;
	int rc = -1;

	if (!m)
		return errf(err, "out of memory");
	snprintf(dir, dirn, "%s.replica-next", db);
	snprintf(tmp, sizeof(tmp), "%s.replica-download", db);
	snprintf(u, sizeof(u), "%s/v1/replication/snapshot", url);
	rm_dir(dir);
	f = fopen(tmp, "w+b");
	if (!f) {
		free(m);
		return errf(err, "%s: %s", tmp, strerror(errno));
	}
	sb_init(&eb, 1 << 16);
	if (http_get(u, key, &eb, f, 3600, &status, err))
		goto out;
	if (status != 200) {
		/* the body went to the file: read the problem back for the message */
		rewind(f);
		sb_free(&eb);
		sb_init(&eb, 1 << 16);
		{
			char tb[4096];
			size_t k = fread(tb, 1, sizeof(tb) - 1, f);

			sb_add(&eb, tb, k);
		}
		problem_detail(&eb, detail, sizeof(detail));
		errf(err, "%s: HTTP %ld %s", u, status, detail);
		goto out;
	}
	rewind(f);
	if (unpack(f, dir, err) || backup_verify(dir, m, err))
		goto out;
	rc = 0;
out:
	fclose(f);
	unlink(tmp);
	sb_free(&eb);
	free(m);
	if (rc)
		rm_dir(dir);
	return rc;
}

static void restore_log(void *cls, const char *line)
{
	(void)cls;
	log_msg(LOG_INFO, "replica: %s", line);
}

/* Install the verified staging dir as db and mark it a replica of url. */
static int install_at(const char *dir, const char *db, const char *url, struct backup_manifest *m,
		      char *err)
{
	struct store *st = NULL;
	int rc;

	rc = backup_restore(dir, db, 1, m, restore_log, NULL, err);
	rm_dir(dir);
	if (rc)
		return -1;
	if (store_open(db, &st, err))
		return -1;
	rc = store_repl_follow_init(st, url, err);
	store_close(st);
	return rc;
}

static int install(const char *dir, const char *db, const char *url, char *err)
{
	return install_at(dir, db, url, NULL, err);
}

/* Outside the gate: install the verified snapshot beside db as <db>.replica-staged (and
 * its index snapshots), following url; *m gets its manifest (the files to move). */
static int stage(const char *dir, const char *db, const char *url, char *staged, size_t n,
		 struct backup_manifest *m, char *err)
{
	char wal[PATH_MAX + 8];
	struct stat sb;

	snprintf(staged, n, "%s.replica-staged", db);
	if (install_at(dir, staged, url, m, err))
		return -1;
	snprintf(wal, sizeof(wal), "%s-wal", staged);
	if (stat(wal, &sb) == 0 && sb.st_size > 0)
		return errf(err, "%s: the staged copy kept a write-ahead log", staged);
	return 0;
}

/* Under the gate, the old store closed: move the staged files over db's, database last. */
static int swap_in(const char *staged, const char *db, const struct backup_manifest *m, char *err)
{
	char from[PATH_MAX], to[PATH_MAX];
	int i;

	for (i = m->nfiles - 1; i >= 0; i--) {
		const char *suffix = m->files[i].name + strlen(BACKUP_DB);

		snprintf(from, sizeof(from), "%s%s", staged, suffix);
		snprintf(to, sizeof(to), "%s%s", db, suffix);
		if (i == 0) {
			char side[PATH_MAX + 8];

			snprintf(side, sizeof(side), "%s-wal", db);
			unlink(side);
			snprintf(side, sizeof(side), "%s-shm", db);
			unlink(side);
		}
		if (rename(from, to))
			return errf(err, "rename %s: %s", from, strerror(errno));
	}
	return 0;
}

int replica_bootstrap(const struct config *cfg, char *err)
{
	char dir[PATH_MAX], e2[LSD_ERRLEN];
	struct stat sb;
	int tries = 0;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (stat(cfg->db, &sb) == 0 && sb.st_size > 0) {
		struct store *st = NULL;
		struct repl_info in;
		struct store_counts c;
		int rc = -1;

		if (store_open(cfg->db, &st, err))
			return -1;
		if (store_repl_info(st, &in, err) || store_counts(st, &c, err)) {
			store_close(st);
			return -1;
		}
		if (in.following && !strcmp(in.primary_url, cfg->replica_of)) {
			log_msg(LOG_INFO, "replica: resuming at position %lld of %s's log %s",
				(long long)in.position, in.primary_url, in.follow_log);
			rc = 0;
		} else if (in.following) {
			/* another primary: start over from a snapshot of this one */
			rc = 1;
		} else if (c.lesions > 0) {
			errf(err, "%s holds a database that is not a replica (%lld lesions); give "
			     "--replica-of a new --db path", cfg->db, (long long)c.lesions);
		} else {
			rc = 1;
		}
		store_close(st);
		if (rc <= 0)
			return rc;
	}
	for (;;) {
		log_msg(LOG_INFO, "replica: fetching a snapshot from %s", cfg->replica_of);
		if (!fetch_snapshot(cfg->replica_of, cfg->replica_key, cfg->db, dir, sizeof(dir), e2))
			break;
		if (++tries >= 60)
			return errf(err, "no snapshot from %s: %s", cfg->replica_of, e2);
		log_msg(LOG_WARN, "replica: snapshot failed (%s); retrying in 1 s", e2);
		sleep(1);
	}
	if (install(dir, cfg->db, cfg->replica_of, err))
		return -1;
	log_msg(LOG_INFO, "replica: snapshot verified and installed as %s", cfg->db);
	return 0;
}

/* ---- following ---- */

struct mem_update {
	struct app *app;
	size_t n;
};

/* After the commit, under the gate: bring the catalog and spaces to the new rows. */
static int update_memory(const struct repl_rec *r, void *arg)
{
	struct mem_update *u = arg;
	struct app *app = u->app;
	char err[LSD_ERRLEN];

	u->n++;
	if (r->tbl == REPL_T_SPACES && r->kind == 'P' && r->v[0].type == REPL_V_TEXT) {
		char name[SPACE_NAME_MAX];
		struct space_def def;
		struct space *sp;

		snprintf(name, sizeof(name), "%.*s", (int)r->v[0].len, (const char *)r->v[0].p);
		if (spaces_get(app->sp, name) || store_space_get(app->st, name, &def, err))
			return 0;
		if (space_create(&def, &sp, err) || spaces_add(app->sp, sp, err))
			log_msg(LOG_ERROR, "replica: space %s: %s", name, err);
	} else if (r->tbl == REPL_T_VECTORS && r->v[0].type == REPL_V_TEXT &&
		   r->v[1].type == REPL_V_INT) {
		char name[SPACE_NAME_MAX];
		struct space *sp;
		int64_t id = r->v[1].i;

		snprintf(name, sizeof(name), "%.*s", (int)r->v[0].len, (const char *)r->v[0].p);
		sp = spaces_get(app->sp, name);
		if (!sp)
			return 0;
		if (r->kind == 'D') {
			space_remove(sp, &id, 1, NULL, err);
		} else if (r->n >= 3 && r->v[2].type == REPL_V_BLOB &&
			   r->v[2].len == (uint32_t)space_dim(sp) * sizeof(float)) {
			float *v = malloc(r->v[2].len);

			if (v) {
				memcpy(v, r->v[2].p, r->v[2].len);
				if (space_add(sp, &id, v, 1, err))
					log_msg(LOG_ERROR, "replica: vector %s/%lld: %s", name,
						(long long)id, err);
				free(v);
			}
		}
	} else if (r->tbl == REPL_T_LESIONS && r->v[0].type == REPL_V_INT) {
		struct lesion l;

		if (r->kind == 'D') {
			catalog_remove(app->cat, r->v[0].i);
			spacedb_forget(app->sp, r->v[0].i);
		} else if (store_lesion_get(app->st, r->v[0].i, &l, err) == 0) {
			catalog_put(app->cat, &l, err);
		}
	}
	return 0;
}

static void set_error(struct replica *rp, const char *msg)
{
	pthread_mutex_lock(&rp->mu);
	rp->errors++;
	snprintf(rp->last_error, sizeof(rp->last_error), "%s", msg);
	pthread_mutex_unlock(&rp->mu);
}

/* One poll: 0 applied (or nothing new), REPL_GONE, -1 error. */
static int poll_once(struct replica *rp)
{
	struct app *app = rp->app;
	char u[CONFIG_STR_MAX + 128], err[LSD_ERRLEN], detail[256];
	struct repl_info in;
	struct repl_header h;
	struct repl_apply *a = NULL;
	struct mem_update mu = { app, 0 };
	struct sb b;
	long status;
	int rc = -1;

	if (store_repl_info(app->st, &in, err)) {
		set_error(rp, err);
		return -1;
	}
	snprintf(u, sizeof(u), "%s/v1/replication/changes?log=%s&after=%lld&wait_ms=%d", rp->url,
		 in.follow_log, (long long)in.position, POLL_WAIT_MS);
	sb_init(&b, DIFF_MAX);
	if (http_get(u, rp->key, &b, NULL, 600, &status, err)) {
		set_error(rp, err);
		goto out;
	}
	if (status == 410) {
		problem_detail(&b, detail, sizeof(detail));
		log_msg(LOG_WARN, "replica: the primary cannot continue this replica: %s", detail);
		rc = REPL_GONE;
		goto out;
	}
	if (status != 200) {
		problem_detail(&b, detail, sizeof(detail));
		snprintf(err, sizeof(err), "HTTP %ld from the primary: %s", status, detail);
		set_error(rp, err);
		goto out;
	}
	if (store_repl_apply_begin(app->st, b.p, b.len, &a, &h, err)) {
		log_msg(LOG_ERROR, "replica: diff refused, nothing applied: %s", err);
		set_error(rp, err);
		goto out;
	}
	if (h.nrec) {
		pthread_rwlock_wrlock(&rp->gate);
		rc = store_repl_apply_end(a, 1, err);
		if (!rc)
			repl_stream_foreach(b.p, b.len, update_memory, &mu, err);
		pthread_rwlock_unlock(&rp->gate);
	} else {
		rc = store_repl_apply_end(a, 1, err);
	}
	if (rc) {
		log_msg(LOG_ERROR, "replica: commit failed: %s", err);
		set_error(rp, err);
		goto out;
	}
	pthread_mutex_lock(&rp->mu);
	snprintf(rp->log_id, sizeof(rp->log_id), "%s", h.log_id);
	rp->position = h.to;
	rp->primary_position = h.to;
	rp->synced_ms = now_ms();
	if (h.nrec) {
		rp->batches++;
		rp->records += h.nrec;
	}
	pthread_mutex_unlock(&rp->mu);
	rc = 0;
out:
	sb_free(&b);
	return rc;
}

/* A new snapshot, fetched while the old state is served, swapped in under the gate. */
static int resnapshot(struct replica *rp)
{
	struct app *app = rp->app;
	char dir[PATH_MAX], staged[PATH_MAX], err[LSD_ERRLEN];
	struct backup_manifest *m = calloc(1, sizeof(*m));
	double t0;

	if (!m)
		return -1;
	/* download, verify, stage and check it while the old state is served */
	if (fetch_snapshot(rp->url, rp->key, app->cfg.db, dir, sizeof(dir), err) ||
	    stage(dir, app->cfg.db, rp->url, staged, sizeof(staged), m, err)) {
		log_msg(LOG_WARN, "replica: new snapshot failed: %s", err);
		set_error(rp, err);
		free(m);
		return -1;
	}
	t0 = now_ms();
	pthread_rwlock_wrlock(&rp->gate);
	rp->reload.stop(app);
	store_close(app->st);
	app->st = NULL;
	if (swap_in(staged, app->cfg.db, m, err) || store_open(app->cfg.db, &app->st, err) ||
	    rp->reload.load(app, err)) {
		/* the old files may be gone: nothing sound to serve until this works */
		__atomic_store_n(&app->ready, 0, __ATOMIC_RELEASE);
		pthread_rwlock_unlock(&rp->gate);
		log_msg(LOG_ERROR, "replica: installing the new snapshot failed: %s", err);
		set_error(rp, err);
		free(m);
		return -1;
	}
	__atomic_store_n(&app->ready, 1, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&rp->gate);
	free(m);
	pthread_mutex_lock(&rp->mu);
	rp->snapshots++;
	pthread_mutex_unlock(&rp->mu);
	log_msg(LOG_INFO, "replica: new snapshot swapped in (requests held %.0f ms)", now_ms() - t0);
	return 0;
}

static void *follower(void *arg)
{
	struct replica *rp = arg;
	int backoff = 0;

	while (!rp->stop) {
		int rc = rp->app->st ? poll_once(rp) : REPL_GONE;

		if (rc == REPL_GONE && !rp->stop)
			rc = resnapshot(rp);
		if (rc) {
			backoff = LSD_MIN(backoff + 100, 1000);
			usleep((useconds_t)backoff * 1000);
		} else {
			backoff = 0;
		}
	}
	return NULL;
}

int replica_start(struct app *app, const struct replica_reload *reload, char *err)
{
	struct replica *rp = calloc(1, sizeof(*rp));
	pthread_rwlockattr_t at;
	struct repl_info in;

	if (!rp)
		return errf(err, "out of memory");
	rp->app = app;
	rp->reload = *reload;
	snprintf(rp->url, sizeof(rp->url), "%s", app->cfg.replica_of);
	snprintf(rp->key, sizeof(rp->key), "%s", app->cfg.replica_key);
	rp->max_lag = app->cfg.replica_max_lag;
	pthread_mutex_init(&rp->mu, NULL);
	pthread_rwlockattr_init(&at);
	pthread_rwlockattr_setkind_np(&at, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&rp->gate, &at);
	pthread_rwlockattr_destroy(&at);
	if (store_repl_info(app->st, &in, err)) {
		free(rp);
		return -1;
	}
	snprintf(rp->log_id, sizeof(rp->log_id), "%s", in.follow_log);
	rp->position = in.position;
	app->replica = rp;
	rp->running = pthread_create(&rp->th, NULL, follower, rp) == 0;
	if (!rp->running) {
		app->replica = NULL;
		free(rp);
		return errf(err, "cannot start the replication thread");
	}
	return 0;
}

void replica_stop(struct app *app)
{
	struct replica *rp = app->replica;

	if (!rp)
		return;
	rp->stop = 1;
	if (rp->running)
		pthread_join(rp->th, NULL);
	app->replica = NULL;
	pthread_rwlock_destroy(&rp->gate);
	pthread_mutex_destroy(&rp->mu);
	free(rp);
	curl_global_cleanup();
}

void replica_gate_enter(struct replica *r)
{
	if (r)
		pthread_rwlock_rdlock(&r->gate);
}

void replica_gate_leave(struct replica *r)
{
	if (r)
		pthread_rwlock_unlock(&r->gate);
}

const char *replica_primary_url(const struct replica *r)
{
	return r ? r->url : "";
}

static double lag_s(struct replica *r)
{
	return r->synced_ms > 0 ? (now_ms() - r->synced_ms) / 1000.0 : -1;
}

int replica_in_sync(struct replica *r, char *why, size_t n)
{
	double lag;
	int ok;

	if (!r)
		return 1;
	pthread_mutex_lock(&r->mu);
	lag = lag_s(r);
	ok = lag >= 0 && lag <= r->max_lag;
	if (!ok && lag < 0)
		snprintf(why, n, "not yet in sync with the primary %s%s%s", r->url,
			 r->last_error[0] ? ": " : "", r->last_error);
	else if (!ok)
		snprintf(why, n, "%.1f s behind the primary %s (replica_max_lag %.1f s)%s%s", lag,
			 r->url, r->max_lag, r->last_error[0] ? ": " : "", r->last_error);
	pthread_mutex_unlock(&r->mu);
	return ok;
}

void replication_stats_json(struct app *app, struct sb *b)
{
	struct replica *r = app->replica;
	struct repl_info in;
	char err[LSD_ERRLEN];

	if (r) {
		double lag;

		pthread_mutex_lock(&r->mu);
		lag = lag_s(r);
		sb_adds(b, "{\"role\":\"replica\",\"primary\":");
		jw_str(b, r->url);
		sb_adds(b, ",\"log_id\":");
		jw_str(b, r->log_id);
		sb_addf(b, ",\"position\":%lld,\"primary_position\":%lld,\"lag_seconds\":",
			(long long)r->position, (long long)r->primary_position);
		if (lag >= 0)
			sb_addf(b, "%.3f", lag);
		else
			sb_adds(b, "null");
		sb_addf(b, ",\"max_lag_seconds\":%g,\"batches\":%llu,\"records\":%llu,"
			"\"snapshots\":%llu,\"errors\":%llu,\"last_error\":", r->max_lag,
			(unsigned long long)r->batches, (unsigned long long)r->records,
			(unsigned long long)r->snapshots, (unsigned long long)r->errors);
		jw_str(b, r->last_error);
		sb_addc(b, '}');
		pthread_mutex_unlock(&r->mu);
		return;
	}
	if (!app->st || store_repl_info(app->st, &in, err)) {
		sb_adds(b, "null");
		return;
	}
	sb_adds(b, "{\"role\":\"primary\",\"log_id\":");
	jw_str(b, in.log_id);
	sb_addf(b, ",\"position\":%lld,\"log_first\":%lld}", (long long)in.last,
		(long long)in.first);
}

void replication_metrics(struct app *app, struct sb *b)
{
	struct replica *r = app->replica;
	struct repl_info in;
	char err[LSD_ERRLEN];

	if (r) {
		double lag;

		pthread_mutex_lock(&r->mu);
		lag = lag_s(r);
		sb_addf(b, "# HELP lesiond_replica_position Last primary change-log entry applied.\n"
			   "# TYPE lesiond_replica_position gauge\nlesiond_replica_position %lld\n"
			   "# HELP lesiond_replica_lag_seconds Seconds since the replica was last in "
			   "sync with the primary (-1: never).\n# TYPE lesiond_replica_lag_seconds gauge\n"
			   "lesiond_replica_lag_seconds %.3f\n"
			   "# TYPE lesiond_replica_batches_total counter\nlesiond_replica_batches_total %llu\n"
			   "# TYPE lesiond_replica_records_total counter\nlesiond_replica_records_total %llu\n"
			   "# TYPE lesiond_replica_snapshots_total counter\n"
			   "lesiond_replica_snapshots_total %llu\n"
			   "# TYPE lesiond_replica_errors_total counter\nlesiond_replica_errors_total %llu\n",
			(long long)r->position, lag, (unsigned long long)r->batches,
			(unsigned long long)r->records, (unsigned long long)r->snapshots,
			(unsigned long long)r->errors);
		pthread_mutex_unlock(&r->mu);
		return;
	}
	if (app->st && !store_repl_info(app->st, &in, err))
		sb_addf(b, "# HELP lesiond_replication_log_position Newest change-log entry.\n"
			   "# TYPE lesiond_replication_log_position gauge\n"
			   "lesiond_replication_log_position %lld\n"
			   "# TYPE lesiond_replication_log_first gauge\nlesiond_replication_log_first %lld\n",
			(long long)in.last, (long long)in.first);
}
