/* statesnap.c - the start-up snapshot <db>.state (see statesnap.h).
 *
 * Called by the daemon once at start (statesnap_open) and once at a clean stop
 * (statesnap_save). Load: at 10^6 lesions x 256-d about 1.1 GB, read in blocks of
 * FHASH_BLOCK straight into the arrays the space and the catalog keep, each block hashed
 * while it is still in the cache; no SQLite row is read.
 */
#include "statesnap.h"
#include "fhash.h"
#include "store_stamp.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "LSDSTAT1"
#define VERSION 2u
#define PAGE 4096u	/* the vectors start page-aligned: mapped, not copied */
#define SECT_MAX 4096
#define KIND_CATALOG 1u
#define KIND_SPACE 2u

struct hdr {
	char magic[8];
	uint32_t version;
	uint32_t nsect;
	uint32_t entry_size;	/* sizeof(struct catalog_entry): the layout this file holds */
	uint32_t pad;
	char stamp[STORE_STAMP_MAX];
	uint64_t hash;		/* fhash64 of this header (hash = 0) and the section table */
};

struct sect {
	char name[SPACE_NAME_MAX];	/* space name ("" for the catalog) */
	uint32_t kind;
	int32_t dim;
	uint32_t metric;
	uint32_t pad;
	uint64_t n;		/* rows (space) or entries (catalog, ids 0..n-1) */
	int64_t max_id;
	uint64_t checksum;	/* the space's vector-set checksum */
	uint64_t off, len;	/* bytes in the file */
	uint64_t vec_off;	/* space: where the vectors start (a multiple of PAGE) */
	uint64_t hash;		/* fhash64_blocks chained over the section's arrays */
};

int statesnap_path(const char *db, char *out, size_t n)
{
	int r = snprintf(out, n, "%s.state", db);

	return r < 0 || (size_t)r >= n ? -1 : 0;
}

/* 1 when h is a header of this version whose stamp is a string (not yet its hash). */
static int hdr_ok(const struct hdr *h)
{
	return !memcmp(h->magic, MAGIC, 8) && h->version == VERSION &&
	       h->entry_size == sizeof(struct catalog_entry) && h->nsect >= 1 &&
	       h->nsect <= SECT_MAX && memchr(h->stamp, 0, sizeof(h->stamp));
}

static uint64_t table_hash(const struct hdr *h, const struct sect *s, uint32_t n)
{
	struct hdr c = *h;

	c.hash = 0;
	return fhash64(s, n * sizeof(*s), fhash64(&c, sizeof(c), 0));
}

/* ---- writing ---- */

static int put(FILE *f, const void *p, size_t n, uint64_t *h)
{
	*h = fhash64_blocks(p, n, *h);
	return n && fwrite(p, 1, n, f) != n ? -1 : 0;
}

int statesnap_write(const char *path, const char *stamp, struct catalog *cat,
		    struct spaces *r, char *err)
{
	size_t ns = r ? spaces_count(r) : 0, i;
	struct sect *t = NULL;
	struct hdr h;
	char tmp[PATH_MAX + 32];
	FILE *f = NULL;
	uint64_t off;
	int rc = -1;

	if (ns + 1 > SECT_MAX)
		return errf(err, "state snapshot: %zu spaces", ns);
	if (strlen(stamp) >= STORE_STAMP_MAX || !*stamp)
		return errf(err, "state snapshot: no stamp");
	t = calloc(ns + 1, sizeof(*t));
	if (!t)
		return errf(err, "out of memory");
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, MAGIC, 8);
	h.version = VERSION;
	h.nsect = (uint32_t)(ns + 1);
	h.entry_size = (uint32_t)sizeof(struct catalog_entry);
	snprintf(h.stamp, sizeof(h.stamp), "%s", stamp);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	f = fopen(tmp, "wb");
	if (!f) {
		errf(err, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	off = sizeof(h) + (ns + 1) * sizeof(*t);
	if (fseeko(f, (off_t)off, SEEK_SET))
		goto io;
	{	/* section 0: the catalog, entries 0..max_id */
		int64_t max_id;
		const struct catalog_entry *e = catalog_lock(cat, &max_id);
		size_t len = (size_t)(max_id + 1) * sizeof(*e);

		t[0].kind = KIND_CATALOG;
		t[0].n = (uint64_t)max_id + 1;
		t[0].max_id = max_id;
		t[0].off = off;
		t[0].len = len;
		if (e ? put(f, e, len, &t[0].hash) : (t[0].n = 0, 0)) {
			catalog_unlock(cat);
			goto io;
		}
		catalog_unlock(cat);
		off += len;
	}
	for (i = 0; i < ns; i++) {
		struct space *sp = spaces_at(r, i);
		struct sect *s = &t[i + 1];
		struct space_info in;
		struct space_copy c;
		int bad;

		space_get_info(sp, &in);
		space_copy_view(sp, &c);
		snprintf(s->name, sizeof(s->name), "%s", in.def.name);
		s->kind = KIND_SPACE;
		s->dim = c.dim;
		s->metric = (uint32_t)in.def.metric;
		s->n = c.n;
		s->max_id = c.max_id;
		s->checksum = c.checksum;
		s->off = off;
		s->vec_off = (off + c.n * sizeof(int64_t) + PAGE - 1) / PAGE * PAGE;
		s->len = s->vec_off - off + c.n * ((size_t)c.dim * sizeof(float) + sizeof(float));
		bad = put(f, c.rid, c.n * sizeof(int64_t), &s->hash) ||
		      fseeko(f, (off_t)s->vec_off, SEEK_SET) ||
		      put(f, c.vec, c.n * (size_t)c.dim * sizeof(float), &s->hash) ||
		      put(f, c.norm, c.n * sizeof(float), &s->hash);
		space_copy_release(sp);
		if (bad)
			goto io;
		off += s->len;
	}
	h.hash = table_hash(&h, t, h.nsect);
	if (fseeko(f, 0, SEEK_SET) || fwrite(&h, sizeof(h), 1, f) != 1 ||
	    fwrite(t, sizeof(*t), ns + 1, f) != ns + 1 || fflush(f) || fsync(fileno(f)))
		goto io;
	if (fclose(f)) {
		f = NULL;
		goto io;
	}
	f = NULL;
	if (rename(tmp, path)) {
		errf(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	fsync_dir_of(path);
	rc = 0;
	goto out;
io:
	errf(err, "%s: %s", tmp, strerror(errno ? errno : EIO));
out:
	if (f)
		fclose(f);
	if (rc)
		unlink(tmp);
	free(t);
	return rc;
}

/* ---- reading ---- */

/* len bytes at off into p, hashed block by block into *h (the same blocks as put). */
static int get(int fd, uint64_t off, void *p, size_t len, uint64_t *h)
{
	unsigned char *d = p;
	size_t done = 0;

	while (done < len) {
		size_t m = LSD_MIN(FHASH_BLOCK, len - done), got = 0;

		while (got < m) {
			ssize_t r = pread(fd, d + done + got, m - got, (off_t)(off + done + got));

			if (r <= 0)
				return -1;
			got += (size_t)r;
		}
		*h = fhash64(d + done, m, *h);
		done += m;
	}
	return 0;
}

/* A large buffer: huge pages when the kernel offers them (fewer faults while filling). */
static void *big_alloc(size_t n)
{
	void *p = malloc(n ? n : 1);

#ifdef MADV_HUGEPAGE
	if (p && n >= ((size_t)64 << 20)) {
		uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;

		madvise((void *)a, n - (a - (uintptr_t)p), MADV_HUGEPAGE);
	}
#endif
	return p;
}

static int read_space(int fd, const struct sect *s, const struct space_def *def,
		      struct space **out, char *why, char *err)
{
	size_t n = (size_t)s->n, d = (size_t)def->dim, vlen = n * d * sizeof(float);
	int64_t *rid = big_alloc(n * sizeof(*rid));
	float *norm = big_alloc(n * sizeof(*norm)), *vec = NULL;
	size_t mapped = 0;
	struct space *sp = NULL;
	uint64_t h = 0;
	int rc = -1;

	if (!rid || !norm) {
		errf(err, "out of memory for %zu vectors", n);
		goto out;
	}
	if (vlen) {	/* the page cache's pages themselves, copy-on-write: no zeroing, no copy */
		/* populated read-only (a writable private mapping would be populated by
		 * copying every page), then made writable: a later write copies its page */
		void *m = mmap(NULL, vlen, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd,
			       (off_t)s->vec_off);

		if (m != MAP_FAILED && mprotect(m, vlen, PROT_READ | PROT_WRITE)) {
			munmap(m, vlen);
			m = MAP_FAILED;
		}
		if (m == MAP_FAILED) {
			errf(err, "cannot map %zu vectors: %s", n, strerror(errno));
			goto out;
		}
		vec = m;
		mapped = vlen;
	} else if (!(vec = malloc(1))) {
		errf(err, "out of memory");
		goto out;
	}
	rc = 1;
	if (get(fd, s->off, rid, n * sizeof(*rid), &h))
		goto bad;
	h = fhash64_blocks(vec, vlen, h);
	if (get(fd, s->vec_off + vlen, norm, n * sizeof(*norm), &h) || h != s->hash)
		goto bad;
	rc = -1;
	if (space_create(def, &sp, err))
		goto out;
	rc = space_copy_adopt(sp, n, rid, vec, mapped, norm, s->checksum, s->max_id, why) ? 1 : 0;
	rid = NULL;
	vec = NULL;
	norm = NULL;
	if (rc)
		space_destroy(sp);
	else
		*out = sp;
	return rc;
bad:
	errf(why, "space %s: section fails its checksum (damaged or torn)", def->name);
out:
	free(rid);
	free(norm);
	if (vec && mapped)
		munmap(vec, mapped);
	else
		free(vec);
	return rc;
}

/* The catalog section into a catalog of its own (installed by the caller when the
 * spaces load too). rc: 0, 1 refused (why), -1 error (err). */
struct cat_job {
	int fd;
	const struct sect *s;
	struct catalog *tmp;
	int rc;
	char why[LSD_ERRLEN], err[LSD_ERRLEN];
};

static void *cat_load(void *arg)
{
	struct cat_job *j = arg;
	struct catalog_entry *e = NULL;
	uint64_t hh = 0;

	j->rc = -1;
	if (catalog_create(&j->tmp, j->err))
		return NULL;
	if (!j->s->n) {
		j->rc = 0;
		return NULL;
	}
	if (!(e = big_alloc((size_t)j->s->len))) {
		errf(j->err, "out of memory");
		return NULL;
	}
	j->rc = 1;
	if (get(j->fd, j->s->off, e, (size_t)j->s->len, &hh) || hh != j->s->hash) {
		errf(j->why, "catalog section fails its checksum (damaged or torn)");
		free(e);
		return NULL;
	}
	if (catalog_adopt(j->tmp, e, (int64_t)j->s->n, j->why))	/* e is the catalog's */
		return NULL;
	j->rc = 0;
	return NULL;
}

int statesnap_read(const char *path, const char *stamp, struct catalog *cat,
		   const struct space_def *defs, size_t ndefs, struct space **out, char *why,
		   char *err)
{
	struct sect *t = NULL;
	struct cat_job job = { .rc = -1 };
	struct hdr h;
	struct stat stt;
	pthread_t th;
	size_t i, j;
	int fd, rc = 1, threaded = 0;

	for (i = 0; i < ndefs; i++)
		out[i] = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errf(why, "no state snapshot (%s: %s)", path, strerror(errno)), 1;
	if (fstat(fd, &stt) || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || !hdr_ok(&h)) {
		errf(why, "%s is not a state snapshot of this version", path);
		goto out;
	}
	if (strcmp(h.stamp, stamp)) {
		errf(why, "state snapshot is stale (database changed since: stamp %s, now %s)",
		     h.stamp, stamp);
		goto out;
	}
	if (!(t = calloc(h.nsect, sizeof(*t)))) {
		rc = errf(err, "out of memory");
		goto out;
	}
	if (pread(fd, t, h.nsect * sizeof(*t), sizeof(h)) != (ssize_t)(h.nsect * sizeof(*t)) ||
	    table_hash(&h, t, h.nsect) != h.hash) {
		errf(why, "state snapshot header fails its checksum (damaged or torn)");
		goto out;
	}
	/* every section must lie inside the file with the size its shape implies */
	for (i = 0; i < h.nsect; i++) {
		const struct sect *s = &t[i];
		uint64_t want;

		if (s->kind == KIND_CATALOG)
			want = s->n * sizeof(struct catalog_entry);
		else if (s->kind == KIND_SPACE && s->dim >= 1 && s->dim <= SPACE_DIM_MAX &&
			 s->n <= ((uint64_t)1 << 31) && s->vec_off % PAGE == 0 &&
			 s->vec_off >= s->off + s->n * sizeof(int64_t) &&
			 s->vec_off - (s->off + s->n * sizeof(int64_t)) < PAGE)
			want = s->vec_off - s->off +
			       s->n * ((uint64_t)s->dim * sizeof(float) + sizeof(float));
		else
			want = UINT64_MAX;
		if (want != s->len || s->off > (uint64_t)stt.st_size ||
		    s->len > (uint64_t)stt.st_size - s->off) {
			errf(why, "state snapshot section %zu has an impossible shape or lies past the "
			     "end (truncated?)", i);
			goto out;
		}
	}
	if (t[0].kind != KIND_CATALOG || h.nsect - 1 != ndefs) {
		errf(why, "state snapshot holds %u spaces, the database %zu", h.nsect - 1, ndefs);
		goto out;
	}
	/* the catalog (read, checked, posting lists built) on a second thread meanwhile */
	job.fd = fd;
	job.s = &t[0];
	threaded = !pthread_create(&th, NULL, cat_load, &job);
	if (!threaded)
		cat_load(&job);
	for (i = 0; i < ndefs; i++) {	/* every space of the database, same shape */
		for (j = 1; j < h.nsect; j++)
			if (!strncmp(t[j].name, defs[i].name, sizeof(t[j].name)))
				break;
		if (j == h.nsect || t[j].dim != defs[i].dim || t[j].metric != (uint32_t)defs[i].metric) {
			errf(why, "state snapshot has no space %s of dimension %d", defs[i].name,
			     defs[i].dim);
			goto out;
		}
		if ((rc = read_space(fd, &t[j], &defs[i], &out[i], why, err)) != 0)
			goto out;
		rc = 1;
	}
	if (threaded)
		pthread_join(th, NULL);
	threaded = 0;
	if (job.rc) {
		rc = job.rc;
		snprintf(rc < 0 ? err : why, LSD_ERRLEN, "%s", rc < 0 ? job.err : job.why);
		goto out;
	}
	if (catalog_move(cat, job.tmp, err)) {
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	if (threaded)
		pthread_join(th, NULL);
	catalog_destroy(job.tmp);
	if (rc)
		for (i = 0; i < ndefs; i++) {
			space_destroy(out[i]);
			out[i] = NULL;
		}
	free(t);
	close(fd);
	return rc;
}

/* ---- the daemon's start and stop ---- */

/* The spaces' FAISS snapshots read on a thread of their own while the state loads (an
 * IVF2048,SQ8 of 10^6 x 256-d takes ~2 s to hash and parse, as long as the state). */
struct preload_job {
	const struct space_def *defs;
	size_t n;
	const char *prefix;
	struct space_preload **pl;
};

static void *preload_run(void *arg)
{
	struct preload_job *j = arg;
	size_t i;

	for (i = 0; i < j->n; i++)
		j->pl[i] = space_preload_index(&j->defs[i], j->prefix);
	return NULL;
}

int statesnap_open(struct store *st, struct catalog *cat, struct spaces **out,
		   spacedb_log_fn log, void *cls, char *err)
{
	char path[PATH_MAX], s0[STORE_STAMP_MAX], s1[STORE_STAMP_MAX], why[LSD_ERRLEN];
	struct space_def *defs = NULL;
	struct space **pre = NULL;
	struct space_preload **pl = NULL;
	struct preload_job pj;
	pthread_t pth;
	size_t n = 0;
	int r, rc = -1, from_snap = 0, preloading = 0;
	double t0 = now_ms();

	*out = NULL;
	if (statesnap_path(store_path(st), path, sizeof(path)))
		return errf(err, "database path too long");
	if (store_stamp(st, s0, err) || spacedb_defs(st, &defs, &n, err))
		return -1;
	if (!(pre = calloc(n + 1, sizeof(*pre))) || !(pl = calloc(n + 1, sizeof(*pl)))) {
		errf(err, "out of memory");
		goto out;
	}
	pj.defs = defs;
	pj.n = n;
	pj.prefix = store_path(st);
	pj.pl = pl;
	preloading = !pthread_create(&pth, NULL, preload_run, &pj);
	r = statesnap_read(path, s0, cat, defs, n, pre, why, err);
	if (preloading) {
		pthread_join(pth, NULL);
		preloading = 0;
	}
	if (r < 0)
		goto out;
	if (r == 0) {
		from_snap = 1;
		lsd_note(log, cls, "state snapshot %s loaded: %zu lesions, %zu space(s), no SQLite "
			 "row read (%.0f ms)", path, catalog_count(cat), n, now_ms() - t0);
	} else {
		lsd_note(log, cls, "state snapshot not used: %s; loading from SQLite", why);
		if (catalog_load(cat, st, err))
			goto out;
	}
	if (spacedb_open_from(st, defs, n, from_snap ? pre : NULL, pl, out, log, cls, err))
		goto out;
	/* the view is the database's state s0 if nobody wrote while it was read */
	if (!store_stamp(st, s1, err) && !strcmp(s0, s1)) {
		store_stamp_set_known(st, s0);
		if (!from_snap && !store_readonly(st)) {
			double t1 = now_ms();

			if (statesnap_write(path, s0, cat, *out, why))
				lsd_note(log, cls, "state snapshot not written: %s", why);
			else
				lsd_note(log, cls, "state snapshot %s written (%.0f ms)", path,
					 now_ms() - t1);
		}
	}
	rc = 0;
out:
	if (preloading)
		pthread_join(pth, NULL);
	if (pre) {
		size_t i;

		for (i = 0; i < n; i++)
			space_destroy(pre[i]);
	}
	if (pl) {
		size_t i;

		for (i = 0; i < n; i++)
			space_preload_free(pl[i]);
	}
	free(pl);
	free(pre);
	free(defs);
	return rc;
}

int statesnap_save(struct store *st, struct catalog *cat, struct spaces *r,
		   spacedb_log_fn log, void *cls, char *err)
{
	char path[PATH_MAX], known[STORE_STAMP_MAX], now[STORE_STAMP_MAX];
	double t0 = now_ms();

	if (store_readonly(st))
		return 0;
	if (statesnap_path(store_path(st), path, sizeof(path)))
		return errf(err, "database path too long");
	store_stamp_known(st, known);
	if (!known[0]) {
		lsd_note(log, cls, "state snapshot not written: the database was changed by another "
			 "process while this one ran (the next start reads SQLite)");
		return 0;
	}
	if (!store_stamp(st, now, err) && strcmp(now, known)) {
		lsd_note(log, cls, "state snapshot not written: the database changed after this "
			 "process's last write (the next start reads SQLite)");
		return 0;
	}
	{	/* the file on disk already holds this state: nothing to write */
		struct hdr h;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		int same = fd >= 0 && pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
			   hdr_ok(&h) && !strcmp(h.stamp, known);

		if (fd >= 0)
			close(fd);
		if (same)
			return 0;
	}
	if (statesnap_write(path, known, cat, r, err))
		return -1;
	lsd_note(log, cls, "state snapshot %s written (%.0f ms)", path, now_ms() - t0);
	return 0;
}
