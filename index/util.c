/* util.c - bounded buffers, error strings, clocks and file helpers shared by all modules.
 * See util.h for the contracts. Thread-safe: no globals. */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

size_t str_copy(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src), k = len < n ? len : n - 1;

	memcpy(dst, src, k);
	dst[k] = '\0';
	return len;
}

int errf(char *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, LSD_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

void sb_init(struct sb *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void sb_free(struct sb *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static int sb_grow(struct sb *b, size_t need)
{
	size_t cap;
	char *p;

	if (b->oom)
		return -1;
	if (need > b->max || need + 1 < need) {
		b->oom = 1;
		return -1;
	}
	if (need + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need + 1)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

int sb_add(struct sb *b, const void *p, size_t n)
{
	if (sb_grow(b, b->len + n))
		return -1;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int sb_adds(struct sb *b, const char *s)
{
	return sb_add(b, s, strlen(s));
}

int sb_addc(struct sb *b, char c)
{
	return sb_add(b, &c, 1);
}

int sb_addf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	char tmp[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(tmp))
		return sb_add(b, tmp, (size_t)n);
	if (sb_grow(b, b->len + (size_t)n))
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *sb_steal(struct sb *b, size_t *len)
{
	char *p = b->p;

	if (len)
		*len = b->len;
	if (!p)
		p = calloc(1, 1);
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

char *file_read(const char *path, size_t max, size_t *len, char *err)
{
	FILE *f = NULL;
	char *buf = NULL, *out = NULL;
	size_t n = 0, cap = 0, r;

	f = fopen(path, "rb");
	if (!f) {
		errf(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		if (n + 65536 + 1 > cap) {
			size_t ncap = cap ? cap * 2 : 65536 + 1;
			char *p;

			if (ncap > max + 65536 + 1)
				ncap = max + 65536 + 1;
			p = realloc(buf, ncap);
			if (!p) {
				errf(err, "%s: out of memory", path);
				goto out;
			}
			buf = p;
			cap = ncap;
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (n > max) {
			errf(err, "%s: larger than %zu bytes", path, max);
			goto out;
		}
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		errf(err, "%s: read error", path);
		goto out;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	out = buf;
	buf = NULL;
out:
	if (f)
		fclose(f);
	free(buf);
	return out;
}

int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int file_fnv(FILE *f, uint64_t *fnv, uint64_t *size)
{
	static const size_t BLK = 1 << 20;
	unsigned char *buf = malloc(BLK);
	uint64_t h = fnv1a64("", 0, 0), total = 0;
	size_t r;

	*fnv = h;
	*size = 0;
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	rewind(f);
	while ((r = fread(buf, 1, BLK, f)) > 0) {
		h = fnv1a64(buf, r, h);
		total += r;
	}
	free(buf);
	*fnv = h;
	*size = total;
	return ferror(f) ? -1 : 0;
}

static int write_atomic(const char *path, const void *data, size_t len, int sync, char *err)
{
	char tmp[PATH_MAX];
	const char *p = data;
	int fd = -1, rc = -1;
	size_t off = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return errf(err, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		errf(err, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			errf(err, "%s: write: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if ((sync && fsync(fd)) || close(fd)) {
		fd = -1;
		errf(err, "%s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path)) {
		errf(err, "%s: rename: %s", path, strerror(errno));
		goto out;
	}
	if (sync)
		fsync_dir_of(path);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	return rc;
}

int mkdir_p(const char *path, char *err)
{
	char buf[PATH_MAX];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return errf(err, "bad directory path");
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] == '/' || buf[i] == '\0') {
			char c = buf[i];

			buf[i] = '\0';
			if (mkdir(buf, 0755) && errno != EEXIST)
				return errf(err, "%s: %s", buf, strerror(errno));
			buf[i] = c;
		}
	}
	return 0;
}

int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int parse_f64(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

uint64_t fnv1a64(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *c = p;
	uint64_t h = seed ? seed : 14695981039346656037ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= c[i];
		h *= 1099511628211ull;
	}
	return h;
}

int file_write_atomic(const char *path, const void *data, size_t len, char *err)
{
	return write_atomic(path, data, len, 1, err);
}

int file_write_atomic_nosync(const char *path, const void *data, size_t len, char *err)
{
	return write_atomic(path, data, len, 0, err);
}

void lsd_note(lsd_note_fn fn, void *cls, const char *fmt, ...)
{
	char line[LSD_ERRLEN + 128];
	va_list ap;

	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fn(cls, line);
}
