/* keygen.c - the generated admin key file. See keygen.h. */
#include "keygen.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_BYTES 32

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int keygen_admin_file(const char *path, int *created, char *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[KEY_BYTES];
	char line[8 + 2 * KEY_BYTES], tmp[PATH_MAX];
	struct stat sb;
	size_t i, n;
	int fd, rc = -1;

	*created = 0;
	if (!lstat(path, &sb))
		return 0;
	if (errno != ENOENT)
		return errf(err, "%s: %s", path, strerror(errno));
	if (strlen(path) + 32 >= sizeof(tmp))
		return errf(err, "%s: path too long", path);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return errf(err, "getrandom: %s", strerror(errno));
	n = (size_t)snprintf(line, sizeof(line), "admin ");
	for (i = 0; i < KEY_BYTES; i++) {
		line[n++] = hex[rnd[i] >> 4];
		line[n++] = hex[rnd[i] & 15];
	}
	line[n++] = '\n';
	snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		errf(err, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, line, n) || fsync(fd)) {
		errf(err, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (link(tmp, path) == 0)
		*created = 1;
	else if (errno != EEXIST) {	/* EEXIST: made meanwhile by another process: use it */
		errf(err, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	unlink(tmp);
	rc = 0;
out:
	explicit_bzero(rnd, sizeof(rnd));
	explicit_bzero(line, sizeof(line));
	return rc;
}
