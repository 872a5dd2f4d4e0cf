/* slicecache.c - the shared LRU of decoded slices and safe path resolution under the
 * image root (contract in include/slicecache.h).
 *
 * Used by the image handlers on MHD worker threads and by the benches. Owns every
 * decoded slice it holds. One mutex guards the hash table, the LRU list and the
 * counters; file I/O and PNG decoding happen outside it, so a slow decode never blocks
 * hits. Decoding is single-flight: a miss registers a flight for its slice; a second
 * miss on the same slice meanwhile waits on that flight and shares its result (a
 * reference to the same entry, even when the cache is off), so concurrent misses on one
 * slice decode it once. A separate list of the slices being decoded right now counts
 * any decode that starts while the same slice is already being decoded
 * (decode_overlaps: 0 unless single-flight is broken; exported in /metrics). An entry
 * evicted while in use is unlinked at once (its bytes leave the budget) and freed by the
 * last release. Expected load: a hit per patch request (one stat() and a table lookup),
 * a 512x512 decode (~4 ms) per miss.
 *
 * Files are reached from a directory fd of the root with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS): the kernel refuses any walk that leaves the root, in one
 * syscall and without the race of resolve-then-open. Absolute symlinks (which
 * RESOLVE_BENEATH refuses even when they point inside) and kernels without openat2
 * (probed once at create) take the old way: realpath(), the prefix check, open().
 */
#define _GNU_SOURCE	/* O_PATH: open the root and a slice only to walk / fstat them */
#include "lru.h"
#include "slicecache.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ENTRY_OVERHEAD 256	/* bytes charged per entry besides the pixels */

struct entry {
	struct entry *hnext;		/* hash chain */
	struct lru_node lru;		/* recency, most recent at head */
	char *key;
	uint64_t hash;
	struct slice16 s;
	int64_t size, mtime_ns;
	uint64_t ino;
	size_t cost;
	int refs;
	int linked;			/* in the table and the list */
};

/* A decode in progress; waiters sleep on cv and share its result. */
struct flight {
	struct flight *next;
	const char *key;		/* the decoder's rel, valid while the flight is linked */
	uint64_t hash;
	pthread_cond_t cv;
	int done, rc, refs;		/* refs: the decoder + its waiters */
	struct entry *e;		/* the result, with one reference per waiter taken */
	char err[LSD_ERRLEN];
};

/* A decode running now (independent bookkeeping for the overlap counter). */
struct running {
	struct running *next;
	const char *key;
};

/* A slice path whose walk beneath the root reached inode (dev, ino): a later identity of
 * the same path that reaches the same inode by a plain fstatat needs no openat2. */
#define VERIFIED_SLOTS 1024		/* power of two */
#define VERIFIED_REL 112
struct verified {
	uint64_t hash, dev, ino;	/* hash 0: empty */
	char rel[VERIFIED_REL];
};

struct slicecache {
	char root[PATH_MAX];		/* realpath of the image root, no trailing slash */
	size_t rootlen;
	int root_fd;			/* O_PATH directory fd of root */
	int beneath;			/* openat2 works here (else realpath every time) */
	pthread_mutex_t vmu;		/* guards vt */
	struct verified *vt;		/* VERIFIED_SLOTS, direct-mapped by hash */
	size_t max_bytes;
	pthread_mutex_t mu;
	struct entry **tab;
	size_t nbuckets;		/* power of two */
	struct lru_list lru;
	struct flight *flights;
	struct running *running;
	struct slicecache_stats st;
};

static int sys_openat2(int dirfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)flags;
	how.resolve = resolve;
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* Does openat2 work (kernel >= 5.6, not filtered by a seccomp profile)? Set
 * LSD_SLICECACHE_REALPATH=1 to take the realpath() way anyway (tests of that path). */
static int probe_openat2(int root_fd)
{
	const char *force = getenv("LSD_SLICECACHE_REALPATH");
	int fd;

	if (force && *force && strcmp(force, "0"))
		return 0;
	fd = sys_openat2(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC,
			 RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

int slicecache_create(const char *root, size_t max_bytes, struct slicecache **out, char *err)
{
	struct slicecache *c = NULL;
	struct stat sb;
	size_t want;
	int rc = -1;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return errf(err, "out of memory");
	c->root_fd = -1;
	if (!root || !*root || !realpath(root, c->root)) {
		errf(err, "image root '%s': %s", root ? root : "", root && *root ?
		     strerror(errno) : "not set");
		goto out;
	}
	if (stat(c->root, &sb) || !S_ISDIR(sb.st_mode)) {
		errf(err, "image root '%s' is not a directory", root);
		goto out;
	}
	c->rootlen = strlen(c->root);
	if (c->rootlen == 1)	/* "/" */
		c->rootlen = 0;
	c->root_fd = open(c->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->root_fd < 0) {
		errf(err, "image root '%s': %s", root, strerror(errno));
		goto out;
	}
	c->beneath = probe_openat2(c->root_fd);
	c->vt = calloc(VERIFIED_SLOTS, sizeof(*c->vt));
	if (!c->vt || pthread_mutex_init(&c->vmu, NULL)) {
		free(c->vt);
		c->vt = NULL;
		errf(err, "out of memory");
		goto out;
	}
	c->max_bytes = max_bytes;
	want = max_bytes / (512 * 512 * 2) * 2;
	c->nbuckets = 256;
	while (c->nbuckets < want && c->nbuckets < ((size_t)1 << 20))
		c->nbuckets <<= 1;
	c->tab = calloc(c->nbuckets, sizeof(*c->tab));
	if (!c->tab) {
		errf(err, "out of memory");
		goto out;
	}
	if (pthread_mutex_init(&c->mu, NULL)) {
		errf(err, "mutex init failed");
		goto out;
	}
	c->st.max_bytes = max_bytes;
	*out = c;
	c = NULL;
	rc = 0;
out:
	if (c) {
		if (c->vt)
			pthread_mutex_destroy(&c->vmu);
		free(c->vt);
		if (c->root_fd >= 0)
			close(c->root_fd);
		free(c->tab);
		free(c);
	}
	return rc;
}

const char *slicecache_resolver(const struct slicecache *c)
{
	return c->beneath ? "openat2" : "realpath";
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	slice16_free(&e->s);
	free(e->key);
	free(e);
}

/* Unlink from table and list; caller holds the lock. */
static void unlink_entry(struct slicecache *c, struct entry *e)
{
	struct entry **pp = &c->tab[e->hash & (c->nbuckets - 1)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(&c->lru, &e->lru);
	e->hnext = NULL;
	e->linked = 0;
	c->st.bytes -= e->cost;
	c->st.entries--;
}

void slicecache_destroy(struct slicecache *c)
{
	struct entry *e, *n;

	if (!c)
		return;
	for (e = LRU_ENTRY(c->lru.head, struct entry, lru); e; e = n) {
		n = LRU_ENTRY(e->lru.next, struct entry, lru);
		entry_free(e);
	}
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->vmu);
	free(c->vt);
	close(c->root_fd);
	free(c->tab);
	free(c);
}

int slicecache_path_check(const char *rel, size_t len, char *err)
{
	size_t i, seg = 0;

	if (!rel || len == 0)
		return errf(err, "empty slice path"), LSD_EMALFORMED;
	if (len >= PATH_MAX / 2)
		return errf(err, "slice path too long"), LSD_EMALFORMED;
	if (rel[0] == '/')
		return errf(err, "absolute slice path"), LSD_EMALFORMED;
	for (i = 0; i <= len; i++) {
		unsigned char ch = i < len ? (unsigned char)rel[i] : '/';

		if (i < len && (ch < 0x20 || ch == 0x7f || ch == '\\'))
			return errf(err, "slice path: control character, NUL or backslash"),
			       LSD_EMALFORMED;
		if (ch != '/')
			continue;
		/* segment rel[seg, i) */
		if (i == seg || (i - seg == 1 && rel[seg] == '.') ||
		    (i - seg == 2 && rel[seg] == '.' && rel[seg + 1] == '.'))
			return errf(err, "slice path: empty, '.' or '..' segment"),
			       LSD_EMALFORMED;
		seg = i + 1;
	}
	return LSD_OK;
}

static int join(const struct slicecache *c, const char *rel, char *out, size_t n, char *err)
{
	int w = snprintf(out, n, "%.*s/%s", (int)c->rootlen, c->root, rel);

	if (w < 0 || (size_t)w >= n)
		return errf(err, "slice path too long"), LSD_EMALFORMED;
	return LSD_OK;
}

int slicecache_resolve(const struct slicecache *c, const char *rel, char *out, size_t n,
		       char *err)
{
	char full[PATH_MAX], real[PATH_MAX];
	int rc;

	rc = slicecache_path_check(rel, strlen(rel), err);
	if (rc == LSD_OK)
		rc = join(c, rel, full, sizeof(full), err);
	if (rc != LSD_OK)
		return rc;
	if (!realpath(full, real)) {
		if (errno == ENOENT || errno == ENOTDIR)
			return errf(err, "no such slice: %s", rel), LSD_ENOTFOUND;
		return errf(err, "slice %s: %s", rel, strerror(errno)), LSD_ENOTFOUND;
	}
	/* the real path must be strictly below the real root */
	if (strncmp(real, c->root, c->rootlen) || real[c->rootlen] != '/')
		return errf(err, "slice path %s leaves the image root", rel), LSD_EMALFORMED;
	if (strlen(real) >= n)
		return errf(err, "slice path too long"), LSD_EMALFORMED;
	memcpy(out, real, strlen(real) + 1);
	return LSD_OK;
}

static int64_t mtime_ns(const struct stat *sb)
{
	return (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

/* Open rel (checked here) under the root: flags plus O_CLOEXEC; *fd on LSD_OK, else
 * LSD_EMALFORMED (leaves the root) or LSD_ENOTFOUND with err. */
static int open_under(const struct slicecache *c, const char *rel, int flags, int *fd,
		      char *err)
{
	char real[PATH_MAX];
	int rc;

	*fd = -1;
	rc = slicecache_path_check(rel, strlen(rel), err);
	if (rc != LSD_OK)
		return rc;
	if (c->beneath) {
		*fd = sys_openat2(c->root_fd, rel, flags | O_CLOEXEC,
				  RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
		if (*fd >= 0)
			return LSD_OK;
		if (errno == ENOENT || errno == ENOTDIR)
			return errf(err, "no such slice: %s", rel), LSD_ENOTFOUND;
		/* EXDEV: an absolute symlink (refused even when it points inside) or a walk
		 * out of the root; EAGAIN: a rename raced a ".." (the kernel asks for a
		 * retry); ELOOP: a loop. realpath() decides those as it always did. */
		if (errno != EXDEV && errno != EAGAIN && errno != ELOOP)
			return errf(err, "slice %s: %s", rel, strerror(errno)), LSD_ENOTFOUND;
	}
	rc = slicecache_resolve(c, rel, real, sizeof(real), err);
	if (rc != LSD_OK)
		return rc;
	*fd = open(real, flags | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0)
		return errf(err, "slice %s: %s", rel, strerror(errno)), LSD_ENOTFOUND;
	return LSD_OK;
}

/* open_under + fstat: the file's identity, and the fd (flags) when fd is not NULL. */
static int stat_under(const struct slicecache *c, const char *rel, int flags, int *fd,
		      struct stat *sb, char *err)
{
	int f, rc = open_under(c, rel, flags, &f, err);

	if (rc != LSD_OK)
		return rc;
	if (fstat(f, sb) || !S_ISREG(sb->st_mode)) {
		close(f);
		return errf(err, "no such slice: %s", rel), LSD_ENOTFOUND;
	}
	if (fd)
		*fd = f;
	else
		close(f);
	return LSD_OK;
}

static struct verified *verified_slot(struct slicecache *c, const char *rel, size_t len,
				      uint64_t *hash)
{
	*hash = fnv1a64(rel, len, 0x5bd1e995ULL) | 1;	/* never 0 */
	return &c->vt[*hash & (VERIFIED_SLOTS - 1)];
}

/* The fast way: one fstatat from the root fd, accepted only when it reaches the inode
 * that a walk beneath the root reached for the same path before. That walk may follow
 * symlinks now that leave the root, but then it reaches another inode (a miss), unless
 * it leads to that very inode (the same file, hard-linked: nothing new is shown; and
 * pixels are only ever read through open_under). 1 when *sb holds the identity. */
static int identity_fast(struct slicecache *c, const char *rel, struct stat *sb)
{
	size_t len = strlen(rel);
	struct verified *v;
	uint64_t hash;
	int ok;

	if (!c->beneath || len >= VERIFIED_REL || slicecache_path_check(rel, len, NULL) ||
	    fstatat(c->root_fd, rel, sb, 0) || !S_ISREG(sb->st_mode))
		return 0;
	v = verified_slot(c, rel, len, &hash);
	pthread_mutex_lock(&c->vmu);
	ok = v->hash == hash && v->dev == (uint64_t)sb->st_dev &&
	     v->ino == (uint64_t)sb->st_ino && !strcmp(v->rel, rel);
	pthread_mutex_unlock(&c->vmu);
	return ok;
}

static void identity_remember(struct slicecache *c, const char *rel, const struct stat *sb)
{
	size_t len = strlen(rel);
	struct verified *v;
	uint64_t hash;

	if (!c->beneath || len >= VERIFIED_REL)	/* identity_fast reads only these */
		return;
	v = verified_slot(c, rel, len, &hash);
	pthread_mutex_lock(&c->vmu);
	v->hash = hash;
	v->dev = (uint64_t)sb->st_dev;
	v->ino = (uint64_t)sb->st_ino;
	memcpy(v->rel, rel, len + 1);
	pthread_mutex_unlock(&c->vmu);
}

int slicecache_identity(struct slicecache *c, const char *rel, int64_t *size,
			int64_t *mtime, uint64_t *ino, char *err)
{
	struct stat sb;
	int rc = LSD_OK;

	if (!identity_fast(c, rel, &sb)) {
		rc = stat_under(c, rel, O_PATH, NULL, &sb, err);
		if (rc == LSD_OK)
			identity_remember(c, rel, &sb);
	}
	if (rc != LSD_OK)
		return rc;
	*size = (int64_t)sb.st_size;
	*mtime = mtime_ns(&sb);
	*ino = (uint64_t)sb.st_ino;
	return LSD_OK;
}

/* Decode the regular file open on fd (taken over: closed here), whose fstat is sb. On
 * success *e is a new unlinked entry with refs = 1. */
static int load(const char *rel, int fd, const struct stat *sb, uint64_t hash,
		struct entry **eout, char *err)
{
	struct entry *e = NULL;
	FILE *f = NULL;
	int rc = LSD_ENOMEM;

	*eout = NULL;
	e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(rel)) || !(f = fdopen(fd, "rb"))) {
		errf(err, "out of memory");
		goto out;
	}
	fd = -1;	/* owned by f now */
	if (image_read_png16_fp(f, 0, &e->s, err)) {
		char why[LSD_ERRLEN];

		snprintf(why, sizeof(why), "%s", err ? err : "");
		errf(err, "slice %s: %s", rel, why);
		rc = LSD_EIMAGE;
		goto out;
	}
	e->hash = hash;
	e->size = (int64_t)sb->st_size;
	e->mtime_ns = mtime_ns(sb);
	e->ino = (uint64_t)sb->st_ino;
	e->cost = (size_t)e->s.w * (size_t)e->s.h * sizeof(int16_t) + ENTRY_OVERHEAD +
		  strlen(rel);
	e->refs = 1;
	*eout = e;
	e = NULL;
	rc = LSD_OK;
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	entry_free(e);
	return rc;
}

static struct entry *find(struct slicecache *c, const char *rel, uint64_t hash)
{
	struct entry *e;

	for (e = c->tab[hash & (c->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == hash && !strcmp(e->key, rel))
			return e;
	return NULL;
}

/* Unlink e; hand it back for freeing when nobody holds it. Caller holds the lock. */
static struct entry *drop(struct slicecache *c, struct entry *e)
{
	unlink_entry(c, e);
	return e->refs == 0 ? e : NULL;
}

static void fill(struct slicecache_handle *h, struct entry *e)
{
	h->s = &e->s;
	h->size = e->size;
	h->mtime_ns = e->mtime_ns;
	h->ino = e->ino;
	h->entry_ = e;
}

/* Finish a flight (unlinked already; lock held): hand its waiters the result, each
 * with its own reference on e taken now, before anyone can release. */
static void land(struct flight *f, int rc, struct entry *e)
{
	f->done = 1;
	f->rc = rc;
	f->e = e;
	if (e)
		e->refs += f->refs - 1;
	pthread_cond_broadcast(&f->cv);
	if (--f->refs == 0) {
		pthread_cond_destroy(&f->cv);
		free(f);
	}
}

int slicecache_get(struct slicecache *c, const char *rel, struct slicecache_handle *h,
		   char *err)
{
	struct entry *e, *old, *garbage[64];
	struct flight *f, **fp;
	struct running me, *rn, **rp;
	struct stat sb;
	uint64_t hash;
	size_t ng = 0, i;
	int rc, fd = -1;

	memset(h, 0, sizeof(*h));
	/* O_NONBLOCK: a FIFO under the root must not hang the open (it is refused as not
	 * a regular file); no effect on regular files */
	rc = stat_under(c, rel, O_RDONLY | O_NONBLOCK, &fd, &sb, err);
	if (rc != LSD_OK) {
		pthread_mutex_lock(&c->mu);
		c->st.errors++;
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	hash = fnv1a64(rel, strlen(rel), 0x9e3779b97f4a7c15ULL);
	pthread_mutex_lock(&c->mu);
	e = find(c, rel, hash);
	if (e && e->size == (int64_t)sb.st_size && e->mtime_ns == mtime_ns(&sb) &&
	    e->ino == (uint64_t)sb.st_ino) {
		e->refs++;
		lru_touch(&c->lru, &e->lru);
		c->st.hits++;
		pthread_mutex_unlock(&c->mu);
		close(fd);
		fill(h, e);
		return LSD_OK;
	}
	for (f = c->flights; f; f = f->next)
		if (f->hash == hash && !strcmp(f->key, rel))
			break;
	if (f) {	/* someone is decoding this slice: share its result */
		close(fd);
		f->refs++;
		c->st.flight_waits++;
		while (!f->done)
			pthread_cond_wait(&f->cv, &c->mu);
		rc = f->rc;
		e = f->e;
		if (rc != LSD_OK)
			errf(err, "%s", f->err);
		if (--f->refs == 0) {
			pthread_cond_destroy(&f->cv);
			free(f);
		}
		pthread_mutex_unlock(&c->mu);
		if (rc == LSD_OK)
			fill(h, e);	/* the decoder took our reference */
		return rc;
	}
	c->st.misses++;
	f = calloc(1, sizeof(*f));
	if (!f) {
		pthread_mutex_unlock(&c->mu);
		close(fd);
		return errf(err, "out of memory"), LSD_ENOMEM;
	}
	f->key = rel;
	f->hash = hash;
	f->refs = 1;
	pthread_cond_init(&f->cv, NULL);
	f->next = c->flights;
	c->flights = f;
	for (rn = c->running; rn; rn = rn->next)
		if (!strcmp(rn->key, rel))
			c->st.decode_overlaps++;
	me.key = rel;
	me.next = c->running;
	c->running = &me;
	pthread_mutex_unlock(&c->mu);

	rc = load(rel, fd, &sb, hash, &e, err);
	pthread_mutex_lock(&c->mu);
	for (rp = &c->running; *rp != &me; rp = &(*rp)->next)
		;
	*rp = me.next;
	for (fp = &c->flights; *fp != f; fp = &(*fp)->next)
		;
	*fp = f->next;	/* unlinked: later misses start a new flight (the lock is held
			 * until the entry is in the table, so none sees the gap) */
	if (rc != LSD_OK) {
		c->st.errors++;
		snprintf(f->err, sizeof(f->err), "%s", err ? err : "");
		land(f, rc, NULL);
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	old = find(c, rel, hash);
	if (old && old->size == e->size && old->mtime_ns == e->mtime_ns && old->ino == e->ino) {
		/* the same file got inserted meanwhile (only if it changed and changed back):
		 * use that entry */
		old->refs++;
		land(f, rc, old);
		pthread_mutex_unlock(&c->mu);
		entry_free(e);
		fill(h, old);
		return LSD_OK;
	}
	land(f, rc, e);
	if (old && (old = drop(c, old)))
		garbage[ng++] = old;
	if (e->cost <= c->max_bytes) {
		while (c->lru.tail && c->st.bytes + e->cost > c->max_bytes) {
			struct entry *v = drop(c, LRU_ENTRY(c->lru.tail, struct entry, lru));

			c->st.evictions++;
			if (v) {
				if (ng == LSD_ARRAY_LEN(garbage)) {
					pthread_mutex_unlock(&c->mu);
					for (i = 0; i < ng; i++)
						entry_free(garbage[i]);
					ng = 0;
					pthread_mutex_lock(&c->mu);
					continue;
				}
				garbage[ng++] = v;
			}
		}
		e->hnext = c->tab[hash & (c->nbuckets - 1)];
		c->tab[hash & (c->nbuckets - 1)] = e;
		lru_push_front(&c->lru, &e->lru);
		e->linked = 1;
		c->st.bytes += e->cost;
		c->st.entries++;
	}
	/* else: larger than the whole budget; handed out unlinked, freed on release */
	pthread_mutex_unlock(&c->mu);
	for (i = 0; i < ng; i++)
		entry_free(garbage[i]);
	fill(h, e);
	return LSD_OK;
}

void slicecache_release(struct slicecache *c, struct slicecache_handle *h)
{
	struct entry *e = h ? h->entry_ : NULL;
	int dead;

	if (!e)
		return;
	pthread_mutex_lock(&c->mu);
	dead = --e->refs == 0 && !e->linked;
	pthread_mutex_unlock(&c->mu);
	if (dead)
		entry_free(e);
	memset(h, 0, sizeof(*h));
}

void slicecache_stats(struct slicecache *c, struct slicecache_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	pthread_mutex_unlock(&c->mu);
}

void slicecache_clear(struct slicecache *c)
{
	struct entry *e, *n, *dead = NULL;

	pthread_mutex_lock(&c->mu);
	for (e = LRU_ENTRY(c->lru.head, struct entry, lru); e; e = n) {
		n = LRU_ENTRY(e->lru.next, struct entry, lru);
		if (drop(c, e)) {
			e->hnext = dead;	/* unlinked: the hash chain is free to reuse */
			dead = e;
		}
	}
	pthread_mutex_unlock(&c->mu);
	for (e = dead; e; e = n) {
		n = e->hnext;
		entry_free(e);
	}
}
