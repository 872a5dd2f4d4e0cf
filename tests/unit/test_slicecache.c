/* test_slicecache.c - the decoded-slice LRU and path safety: URL path checks, symlinks
 * escaping the root (relative, absolute, through a directory, through ".."), symlinks
 * that stay inside (relative, absolute, a directory, via ".."), loops and FIFOs, each
 * both through openat2 and through the realpath() fallback; hits/misses/evictions in
 * LRU order, entries kept alive while in use, replaced files re-decoded, corrupt and
 * missing files, and many threads at once (values checked on every get; ASan/UBSan
 * watch the memory). */
#include "unit.h"
#include "image.h"
#include "slicecache.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIDE 64
#define COST_MIN (SIDE * SIDE * 2)

static char root[PATH_MAX / 2], outside[PATH_MAX / 2];

/* slice number k holds HU = k*10 + (x + y) % 7 */
static int expect_hu(int k, int x, int y)
{
	return k * 10 + (x + y) % 7;
}

static void write_slice(const char *rel, int k)
{
	uint16_t v[SIDE * SIDE];
	char path[PATH_MAX], err[LSD_ERRLEN];
	int x, y;

	for (y = 0; y < SIDE; y++)
		for (x = 0; x < SIDE; x++)
			v[y * SIDE + x] = (uint16_t)(expect_hu(k, x, y) + 32768);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (image_write_png16_file(path, v, SIDE, SIDE, 1, err))
		fprintf(stderr, "write %s: %s\n", path, err);
}

static int slice_is(const struct slice16 *s, int k)
{
	int x, y;

	if (!s || s->w != SIDE || s->h != SIDE)
		return 0;
	for (y = 0; y < SIDE; y += 5)
		for (x = 0; x < SIDE; x += 3)
			if (s->hu[y * SIDE + x] != expect_hu(k, x, y))
				return 0;
	return 1;
}

/* A symlink at root/rel pointing to target (fixture set-up: a failure is reported and
 * the checks that need the link fail). */
static void link_in(const char *rel, const char *target)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (symlink(target, path))
		perror("symlink");
}

static void setup(void)
{
	const char *tmp = getenv("LSD_TEST_TMP");
	char path[PATH_MAX], target[PATH_MAX], err[LSD_ERRLEN];
	int k;

	snprintf(root, sizeof(root), "%s/slicecache_%d/Images_png", tmp ? tmp : "/tmp",
		 (int)getpid());
	snprintf(outside, sizeof(outside), "%s/slicecache_%d/secret", tmp ? tmp : "/tmp",
		 (int)getpid());
	snprintf(path, sizeof(path), "%s/000001_01_01", root);
	mkdir_p(path, err);
	mkdir_p(outside, err);
	for (k = 1; k <= 8; k++) {
		snprintf(path, sizeof(path), "000001_01_01/%03d.png", k);
		write_slice(path, k);
	}
	/* a file outside the root, and symlinks to it and to a file inside */
	snprintf(path, sizeof(path), "%s/../secret/x.png", root);
	file_write_atomic_nosync(path, "secret", 6, err);
	link_in("000001_01_01/evil.png", "../../secret/x.png");
	link_in("evil_dir", outside);
	link_in("000001_01_01/good.png", "001.png");
	/* more that stay inside: absolute (RESOLVE_BENEATH refuses those: the fallback must
	 * take them), a directory, a walk through ".." that comes back */
	snprintf(target, sizeof(target), "%s/000001_01_01/002.png", root);
	link_in("000001_01_01/abs_in.png", target);
	link_in("alias", "000001_01_01");
	link_in("000001_01_01/up.png", "../000001_01_01/003.png");
	/* and out: absolute, the parent directory, a loop, a FIFO */
	snprintf(target, sizeof(target), "%s/x.png", outside);
	link_in("000001_01_01/abs_out.png", target);
	link_in("parent", "..");
	link_in("000001_01_01/loop.png", "loop.png");
	snprintf(path, sizeof(path), "%s/000001_01_01/fifo.png", root);
	if (mkfifo(path, 0600))
		perror("mkfifo");
	snprintf(path, sizeof(path), "%s/000001_01_01/corrupt.png", root);
	file_write_atomic_nosync(path, "\x89PNG\r\n\x1a\n garbage garbage", 24, err);
}

static void test_path_check(void)
{
	char err[LSD_ERRLEN];
	static const char *bad[] = { "", "/etc/passwd", "../x.png", "a/../b.png", "a//b.png",
		"./a.png", "a/.", "a/..", "..", "a\\b.png", "a/\x01.png", "a/" };
	size_t i;

	for (i = 0; i < LSD_ARRAY_LEN(bad); i++) {
		int rc = slicecache_path_check(bad[i], strlen(bad[i]), err);

		if (rc != LSD_EMALFORMED)
			fprintf(stderr, "  accepted '%s'\n", bad[i]);
		CHECK_EQ_INT(rc, LSD_EMALFORMED);
	}
	CHECK_EQ_INT(slicecache_path_check("a.png\0../../x", 13, err), LSD_EMALFORMED);
	CHECK_EQ_INT(slicecache_path_check("000001_01_01/109.png", 20, err), 0);
	CHECK_EQ_INT(slicecache_path_check("a/..b/c..d/.e.png", 17, err), 0);
}

/* Every path case through slicecache_identity and slicecache_get on c. */
static void check_paths(struct slicecache *c)
{
	static const struct {
		const char *rel;
		int rc, k;	/* expected status; the slice it shows (0: none) */
	} cases[] = {
		{ "000001_01_01/001.png", 0, 1 },
		{ "000001_01_01/good.png", 0, 1 },		/* relative symlink */
		{ "000001_01_01/abs_in.png", 0, 2 },		/* absolute, inside */
		{ "alias/004.png", 0, 4 },			/* directory symlink */
		{ "000001_01_01/up.png", 0, 3 },		/* "..", back inside */
		{ "000001_01_01/evil.png", LSD_EMALFORMED, 0 },
		{ "000001_01_01/abs_out.png", LSD_EMALFORMED, 0 },
		{ "evil_dir/x.png", LSD_EMALFORMED, 0 },
		{ "parent/secret/x.png", LSD_EMALFORMED, 0 },
		/* out and back in: the final file is inside, accepted as realpath always did */
		{ "parent/Images_png/000001_01_01/001.png", 0, 1 },
		{ "../secret/x.png", LSD_EMALFORMED, 0 },
		{ "/etc/passwd", LSD_EMALFORMED, 0 },
		{ "000001_01_01/999.png", LSD_ENOTFOUND, 0 },
		{ "000001_01_01/001.png/x", LSD_ENOTFOUND, 0 },
		{ "000001_01_01/loop.png", LSD_ENOTFOUND, 0 },
		{ "000001_01_01/fifo.png", LSD_ENOTFOUND, 0 },	/* and no hang */
		{ "000001_01_01", LSD_ENOTFOUND, 0 },		/* a directory */
	};
	struct slicecache_handle h;
	char err[LSD_ERRLEN], path[PATH_MAX];
	size_t i;

	for (i = 0; i < LSD_ARRAY_LEN(cases); i++) {
		struct stat sb;
		int64_t size = -1, mtime = -1;
		uint64_t ino = 0;
		int rc = slicecache_identity(c, cases[i].rel, &size, &mtime, &ino, err);

		if (rc != cases[i].rc)
			fprintf(stderr, "  identity %s (%s): %d, want %d: %s\n", cases[i].rel,
				slicecache_resolver(c), rc, cases[i].rc, err);
		CHECK_EQ_INT(rc, cases[i].rc);
		if (rc == 0) {	/* the identity (ETag bytes) is stat()'s of the file */
			snprintf(path, sizeof(path), "%s/%s", root, cases[i].rel);
			CHECK_EQ_INT(stat(path, &sb), 0);
			CHECK_EQ_INT(size, sb.st_size);
			CHECK_EQ_INT(mtime, (int64_t)sb.st_mtim.tv_sec * 1000000000 +
				     sb.st_mtim.tv_nsec);
			CHECK_EQ_INT(ino, sb.st_ino);
		}
		rc = slicecache_get(c, cases[i].rel, &h, err);
		if (rc != cases[i].rc)
			fprintf(stderr, "  get %s (%s): %d, want %d: %s\n", cases[i].rel,
				slicecache_resolver(c), rc, cases[i].rc, err);
		CHECK_EQ_INT(rc, cases[i].rc);
		if (rc == 0) {
			CHECK(slice_is(h.s, cases[i].k));
			CHECK_EQ_INT(h.ino, ino);
			slicecache_release(c, &h);
		} else {
			CHECK(h.s == NULL);
		}
	}
	CHECK_EQ_INT(slicecache_get(c, "000001_01_01/corrupt.png", &h, err), LSD_EIMAGE);
	CHECK(strstr(err, "corrupt.png") != NULL);
}

static void test_resolve(void)
{
	struct slicecache *c = NULL;
	char err[LSD_ERRLEN], out[PATH_MAX];

	CHECK_EQ_INT(slicecache_create(root, 1 << 20, &c, err), 0);
	if (!c)
		return;
	CHECK_EQ_INT(slicecache_resolve(c, "000001_01_01/001.png", out, sizeof(out), err), 0);
	CHECK(strstr(out, "/Images_png/000001_01_01/001.png") != NULL);
	CHECK_EQ_INT(slicecache_resolve(c, "000001_01_01/good.png", out, sizeof(out), err), 0);
	CHECK_EQ_INT(slicecache_resolve(c, "000001_01_01/evil.png", out, sizeof(out), err),
		     LSD_EMALFORMED);
	CHECK_EQ_INT(slicecache_resolve(c, "evil_dir/x.png", out, sizeof(out), err),
		     LSD_EMALFORMED);
	CHECK_EQ_INT(slicecache_resolve(c, "000001_01_01/999.png", out, sizeof(out), err),
		     LSD_ENOTFOUND);
	CHECK_EQ_INT(slicecache_resolve(c, "../secret/x.png", out, sizeof(out), err),
		     LSD_EMALFORMED);
	/* identity and get, the way this kernel allows (openat2 since Linux 5.6) */
	printf("# resolver here: %s\n", slicecache_resolver(c));
	check_paths(c);
	slicecache_destroy(c);
	/* and the realpath() fallback (kernels without openat2) on the same cases */
	setenv("LSD_SLICECACHE_REALPATH", "1", 1);
	CHECK_EQ_INT(slicecache_create(root, 1 << 20, &c, err), 0);
	unsetenv("LSD_SLICECACHE_REALPATH");
	if (!c)
		return;
	CHECK(strcmp(slicecache_resolver(c), "realpath") == 0);
	check_paths(c);
	slicecache_destroy(c);
	CHECK_EQ_INT(slicecache_create("/nonexistent/dir", 1, &c, err), -1);
	CHECK(c == NULL);
	slicecache_destroy(NULL);
}

/* Identity of a path seen before (one fstatat, accepted only on the inode its last walk
 * beneath the root reached): a directory symlink turned to point outside is refused
 * again, a file replaced by another inode or touched shows its new identity. */
static void test_identity_repeat(void)
{
	struct slicecache *c = NULL;
	char err[LSD_ERRLEN], path[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX];
	int64_t size, mtime, size2, mtime2;
	uint64_t ino, ino2;
	struct stat sb;
	int i;

	CHECK_EQ_INT(slicecache_create(root, 1 << 20, &c, err), 0);
	if (!c)
		return;
	for (i = 0; i < 3; i++) {	/* the first walks beneath the root, the rest repeat */
		CHECK_EQ_INT(slicecache_identity(c, "alias/004.png", &size, &mtime, &ino, err), 0);
		snprintf(path, sizeof(path), "%s/000001_01_01/004.png", root);
		CHECK_EQ_INT(stat(path, &sb), 0);
		CHECK_EQ_INT(ino, sb.st_ino);
	}
	/* "alias" now leads outside, to a file of the same name */
	snprintf(dir, sizeof(dir), "%s/004.png", outside);
	snprintf(path, sizeof(path), "%s/000001_01_01/004.png", root);
	CHECK_EQ_INT(link(path, dir) == 0 || errno == EEXIST, 1);	/* same inode... */
	snprintf(tmp, sizeof(tmp), "%s/alias.tmp", root);
	snprintf(path, sizeof(path), "%s/alias", root);
	CHECK_EQ_INT(symlink(outside, tmp), 0);
	CHECK_EQ_INT(rename(tmp, path), 0);
	/* ...is the file seen before: the same bytes, nothing new shown */
	CHECK_EQ_INT(slicecache_identity(c, "alias/004.png", &size2, &mtime2, &ino2, err), 0);
	CHECK_EQ_INT(ino2, ino);
	unlink(dir);
	snprintf(tmp, sizeof(tmp), "%s/000001_01_01/003.png", root);
	{
		char *buf;
		size_t len;

		buf = file_read(tmp, 1 << 20, &len, err);
		CHECK(buf != NULL);
		if (buf)
			CHECK_EQ_INT(file_write_atomic_nosync(dir, buf, len, err), 0);
		free(buf);
	}
	CHECK_EQ_INT(slicecache_identity(c, "alias/004.png", &size2, &mtime2, &ino2, err),
		     LSD_EMALFORMED);
	unlink(dir);
	snprintf(tmp, sizeof(tmp), "%s/alias.tmp", root);
	CHECK_EQ_INT(symlink("000001_01_01", tmp), 0);
	CHECK_EQ_INT(rename(tmp, path), 0);
	CHECK_EQ_INT(slicecache_identity(c, "alias/004.png", &size2, &mtime2, &ino2, err), 0);
	CHECK_EQ_INT(ino2, ino);
	/* replaced by another inode (write + rename), then touched */
	CHECK_EQ_INT(slicecache_identity(c, "000001_01_01/005.png", &size, &mtime, &ino, err), 0);
	write_slice("000001_01_01/005.png", 5);	/* atomic: a new inode */
	snprintf(path, sizeof(path), "%s/000001_01_01/005.png", root);
	CHECK_EQ_INT(stat(path, &sb), 0);
	CHECK_EQ_INT(slicecache_identity(c, "000001_01_01/005.png", &size2, &mtime2, &ino2, err),
		     0);
	CHECK_EQ_INT(ino2, sb.st_ino);
	{
		struct timespec ts[2] = { { 1000000000, 5 }, { 1000000000, 5 } };

		CHECK_EQ_INT(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
	CHECK_EQ_INT(slicecache_identity(c, "000001_01_01/005.png", &size2, &mtime2, &ino2, err),
		     0);
	CHECK_EQ_INT(mtime2, 1000000000LL * 1000000000LL + 5);
	slicecache_destroy(c);
}

static int get_is(struct slicecache *c, int k)
{
	struct slicecache_handle h;
	char rel[64], err[LSD_ERRLEN];
	int ok;

	snprintf(rel, sizeof(rel), "000001_01_01/%03d.png", k);
	if (slicecache_get(c, rel, &h, err))
		return 0;
	ok = slice_is(h.s, k);
	slicecache_release(c, &h);
	return ok;
}

static void test_lru(void)
{
	struct slicecache *c = NULL;
	struct slicecache_stats st;
	char err[LSD_ERRLEN];

	/* room for two slices, not three */
	CHECK_EQ_INT(slicecache_create(root, 2 * (COST_MIN + 400), &c, err), 0);
	if (!c)
		return;
	CHECK(get_is(c, 1));	/* miss */
	CHECK(get_is(c, 1));	/* hit */
	CHECK(get_is(c, 2));	/* miss */
	slicecache_stats(c, &st);
	CHECK_EQ_INT(st.hits, 1);
	CHECK_EQ_INT(st.misses, 2);
	CHECK_EQ_INT(st.entries, 2);
	CHECK(st.bytes >= 2 * COST_MIN && st.bytes <= st.max_bytes);
	CHECK(get_is(c, 1));	/* hit: 1 is now most recent, 2 least */
	CHECK(get_is(c, 3));	/* miss, evicts 2 */
	slicecache_stats(c, &st);
	CHECK_EQ_INT(st.evictions, 1);
	CHECK_EQ_INT(st.entries, 2);
	CHECK(get_is(c, 1));	/* still there */
	slicecache_stats(c, &st);
	CHECK_EQ_INT(st.hits, 3);
	CHECK(get_is(c, 2));	/* gone: a miss */
	slicecache_stats(c, &st);
	CHECK_EQ_INT(st.misses, 4);
	CHECK_EQ_INT(st.hits, 3);
	slicecache_clear(c);
	slicecache_stats(c, &st);
	CHECK_EQ_INT(st.entries, 0);
	CHECK_EQ_INT(st.bytes, 0);
	slicecache_destroy(c);
}

static void test_refcount_and_replace(void)
{
	struct slicecache *c = NULL;
	struct slicecache_handle h1, h2;
	struct slicecache_stats st;
	char err[LSD_ERRLEN];

	CHECK_EQ_INT(slicecache_create(root, COST_MIN + 400, &c, err), 0);	/* one slice */
	if (!c)
		return;
	CHECK_EQ_INT(slicecache_get(c, "000001_01_01/004.png", &h1, err), 0);
	CHECK(get_is(c, 5));	/* evicts 4 while h1 holds it */
	CHECK(get_is(c, 6));
	CHECK(slice_is(h1.s, 4));	/* still readable (ASan: no use after free) */
	slicecache_release(c, &h1);
	CHECK(h1.s == NULL);
	slicecache_release(c, &h1);	/* a released handle is a no-op */
	/* replace 006 on disk with other content: re-decoded, not served stale */
	CHECK_EQ_INT(slicecache_get(c, "000001_01_01/006.png", &h2, err), 0);
	write_slice("000001_01_01/006.png", 66);
	CHECK(slice_is(h2.s, 6));	/* the held copy is unchanged */
	slicecache_release(c, &h2);
	CHECK(get_is(c, 66) == 0);	/* get_is names 066.png: not there */
	CHECK_EQ_INT(slicecache_get(c, "000001_01_01/006.png", &h2, err), 0);
	CHECK(slice_is(h2.s, 66));
	slicecache_release(c, &h2);
	write_slice("000001_01_01/006.png", 6);
	slicecache_destroy(c);
	/* budget 0: no caching, handles still valid */
	CHECK_EQ_INT(slicecache_create(root, 0, &c, err), 0);
	if (!c)
		return;
	CHECK_EQ_INT(slicecache_get(c, "000001_01_01/007.png", &h1, err), 0);
	CHECK(slice_is(h1.s, 7));
	slicecache_stats(c, &st);
	CHECK_EQ_INT(st.entries, 0);
	slicecache_release(c, &h1);
	CHECK(get_is(c, 7));
	slicecache_stats(c, &st);
	CHECK_EQ_INT(st.misses, 2);
	slicecache_destroy(c);
}

struct worker {
	struct slicecache *c;
	int id, bad, done;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	unsigned seed = (unsigned)w->id * 7919u + 1;
	int i;

	for (i = 0; i < 1500; i++) {
		struct slicecache_handle h;
		char rel[64], err[LSD_ERRLEN];
		int k;

		seed = seed * 1103515245u + 12345u;
		k = 1 + (int)((seed >> 16) % 8);
		snprintf(rel, sizeof(rel), "000001_01_01/%03d.png", k);
		if (slicecache_get(w->c, rel, &h, err) || !slice_is(h.s, k)) {
			w->bad++;
			slicecache_release(w->c, &h);
			continue;
		}
		slicecache_release(w->c, &h);
		w->done++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct slicecache *c = NULL;
	struct slicecache_stats st;
	struct worker w[4];
	pthread_t t[4];
	char err[LSD_ERRLEN];
	int i, done = 0, bad = 0;

	CHECK_EQ_INT(slicecache_create(root, 3 * (COST_MIN + 400), &c, err), 0);
	if (!c)
		return;
	for (i = 0; i < 4; i++) {
		w[i].c = c;
		w[i].id = i;
		w[i].bad = w[i].done = 0;
		pthread_create(&t[i], NULL, work, &w[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		done += w[i].done;
		bad += w[i].bad;
	}
	slicecache_stats(c, &st);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(done, 4 * 1500);
	CHECK_EQ_INT(st.hits + st.misses + st.flight_waits, 4 * 1500);
	CHECK_EQ_INT(st.decode_overlaps, 0);
	CHECK(st.entries <= 3);
	CHECK(st.bytes <= st.max_bytes);
	CHECK(st.evictions > 0);
	slicecache_destroy(c);
}

/* ---- single-flight: 16 threads missing one big slice at once, cache off ---- */

#define BIG 512
static struct slicecache *sf_cache;
static pthread_barrier_t sf_bar;
static int sf_bad;

static void *sf_work(void *arg)
{
	struct slicecache_handle h;
	char err[LSD_ERRLEN];
	int i, bad = 0;

	(void)arg;
	pthread_barrier_wait(&sf_bar);
	for (i = 0; i < 50; i++) {
		if (slicecache_get(sf_cache, "big/1.png", &h, err)) {
			bad++;
			continue;
		}
		if (h.s->w != BIG || h.s->h != BIG || h.s->hu[0] != -500 ||
		    h.s->hu[BIG * BIG - 1] != (int)((BIG * BIG - 1) % 1000) - 500)
			bad++;
		slicecache_release(sf_cache, &h);
	}
	__atomic_add_fetch(&sf_bad, bad, __ATOMIC_RELAXED);
	return NULL;
}

static void test_single_flight(void)
{
	static uint16_t v[BIG * BIG];
	struct slicecache_stats st;
	char path[PATH_MAX], err[LSD_ERRLEN];
	pthread_t t[16];
	int i;

	snprintf(path, sizeof(path), "%s/big", root);
	mkdir(path, 0755);
	for (i = 0; i < BIG * BIG; i++)
		v[i] = (uint16_t)(i % 1000 - 500 + 32768);
	snprintf(path, sizeof(path), "%s/big/1.png", root);
	CHECK_EQ_INT(image_write_png16_file(path, v, BIG, BIG, 6, err), 0);
	/* budget 0: nothing is kept, so every get decodes unless it joins a decode in flight */
	CHECK_EQ_INT(slicecache_create(root, 0, &sf_cache, err), 0);
	if (!sf_cache)
		return;
	pthread_barrier_init(&sf_bar, NULL, 16);
	for (i = 0; i < 16; i++)
		pthread_create(&t[i], NULL, sf_work, NULL);
	for (i = 0; i < 16; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&sf_bar);
	slicecache_stats(sf_cache, &st);
	printf("# 800 gets of one slice by 16 threads, cache off: %llu decodes, %llu shared, "
	       "%llu overlapping\n", (unsigned long long)st.misses,
	       (unsigned long long)st.flight_waits, (unsigned long long)st.decode_overlaps);
	CHECK_EQ_INT(sf_bad, 0);
	CHECK_EQ_INT(st.misses + st.flight_waits, 16 * 50);
	CHECK_EQ_INT(st.decode_overlaps, 0);
	CHECK(st.flight_waits > 0);	/* threads did meet on a decode and shared it */
	CHECK_EQ_INT(st.entries, 0);
	slicecache_destroy(sf_cache);
}

int main(void)
{
	setup();
	RUN(test_path_check);
	RUN(test_resolve);
	RUN(test_identity_repeat);
	RUN(test_lru);
	RUN(test_refcount_and_replace);
	RUN(test_threads);
	RUN(test_single_flight);
	return unit_done();
}
