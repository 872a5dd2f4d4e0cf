/* backup.c - online backups and verified restores (see include/backup.h).
 *
 * Called by `lesiond backup` and `lesiond restore` (server/cmd_backup.c, cmd_restore.c),
 * never by the daemon itself. Owns nothing beyond a call. Load: one sequential read of
 * the database and of each index snapshot, plus loading every space of the copy once to
 * write snapshots consistent with it (from the live snapshot when that still matches,
 * else a rebuild). Files are copied in 1 MiB chunks, checksummed on the way.
 */
#include "backup.h"
#include "migrations.h"
#include "space.h"
#include "store_vec.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define MANIFEST_MAX (1u << 20)

static int join(char *out, size_t n, const char *dir, const char *name)
{
	int k = snprintf(out, n, "%s/%s", dir, name);

	return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* path + suffix ("-wal"), or "" when too long */
static const char *side_file(char *out, size_t n, const char *path, const char *suffix)
{
	int k = snprintf(out, n, "%s%s", path, suffix);

	if (k < 0 || (size_t)k >= n)
		out[0] = '\0';
	return out;
}

static int exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* Size and FNV-1a 64 of a file, streamed (file_fnv). */
static int hash_file(const char *path, uint64_t *size, uint64_t *fnv, char *err)
{
	FILE *f = fopen(path, "rb");
	int rc;

	if (!f)
		return errf(err, "%s: %s", path, strerror(errno));
	rc = file_fnv(f, fnv, size);
	fclose(f);
	return rc ? errf(err, "%s: read error", path) : 0;
}

/* Copy src to dst (replaced; fsynced), checksumming what was copied. */
static int copy_file(const char *src, const char *dst, uint64_t *size, uint64_t *fnv, char *err)
{
	FILE *in = fopen(src, "rb");
	int out = -1, rc = -1;
	char *buf = malloc(CHUNK);
	uint64_t h = 0, total = 0;
	size_t n;

	if (!in || !buf) {
		errf(err, "%s: %s", src, in ? "out of memory" : strerror(errno));
		goto out;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0) {
		errf(err, "%s: %s", dst, strerror(errno));
		goto out;
	}
	while ((n = fread(buf, 1, CHUNK, in)) > 0) {
		size_t off = 0;

		while (off < n) {
			ssize_t w = write(out, buf + off, n - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				errf(err, "%s: %s", dst, strerror(errno));
				goto out;
			}
			off += (size_t)w;
		}
		h = fnv1a64(buf, n, h);
		total += n;
	}
	if (ferror(in)) {
		errf(err, "%s: read error", src);
		goto out;
	}
	if (fsync(out)) {
		errf(err, "%s: fsync: %s", dst, strerror(errno));
		goto out;
	}
	if (size)
		*size = total;
	if (fnv)
		*fnv = total ? h : fnv1a64("", 0, 0);
	rc = 0;
out:
	if (in)
		fclose(in);
	if (out >= 0 && close(out) && rc == 0)
		rc = errf(err, "%s: close: %s", dst, strerror(errno));
	free(buf);
	if (rc && out >= 0)
		unlink(dst);
	return rc;
}

static int name_ok(const char *s)
{
	if (!*s || *s == '.' || strlen(s) >= sizeof(((struct backup_file *)0)->name))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

int backup_name_ok(const char *name)
{
	return name_ok(name);
}

/* ---- manifest text ---- */

static int manifest_write(const char *dir, const struct backup_manifest *m, char *err)
{
	char path[PATH_MAX];
	struct sb b;
	int i, rc;

	sb_init(&b, MANIFEST_MAX);
	sb_addf(&b, "lesiond-backup=%d\nlesiond_version=%s\nschema_version=%d\ncreated=%s\n",
		m->format, m->lesiond_version, m->schema_version, m->created);
	sb_addf(&b, "lesions=%" PRId64 "\npatients=%" PRId64 "\nstudies=%" PRId64
		"\nseries=%" PRId64 "\n", m->counts.lesions, m->counts.patients,
		m->counts.studies, m->counts.series);
	for (i = 0; i < m->nspaces; i++)
		sb_addf(&b, "space=%s dim=%d metric=%s vectors=%zu checksum=%016" PRIx64 "\n",
			m->spaces[i].name, m->spaces[i].dim, m->spaces[i].metric,
			m->spaces[i].vectors, m->spaces[i].checksum);
	for (i = 0; i < m->nfiles; i++)
		sb_addf(&b, "file=%s size=%" PRIu64 " fnv1a64=%016" PRIx64 "\n", m->files[i].name,
			m->files[i].size, m->files[i].fnv);
	sb_addf(&b, "manifest_fnv1a64=%016" PRIx64 "\n", fnv1a64(b.p, b.len, 0));
	if (b.oom || join(path, sizeof(path), dir, BACKUP_MANIFEST)) {
		sb_free(&b);
		return errf(err, "manifest too large");
	}
	rc = file_write_atomic(path, b.p, b.len, err);
	sb_free(&b);
	return rc;
}

static int parse_u64(const char *s, int hex, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, hex ? 16 : 10);
	return errno || *end ? -1 : 0;
}

/* One "k=v k=v ..." line into its words; returns the value of key, or NULL. */
static const char *field(char *const *words, int n, const char *key)
{
	size_t kl = strlen(key);
	int i;

	for (i = 0; i < n; i++)
		if (!strncmp(words[i], key, kl) && words[i][kl] == '=')
			return words[i] + kl + 1;
	return NULL;
}

static int parse_line(struct backup_manifest *m, char *line, char *err)
{
	char *words[8], *save = NULL, *w;
	const char *v;
	uint64_t x;
	int n = 0;

	for (w = strtok_r(line, " ", &save); w && n < 8; w = strtok_r(NULL, " ", &save))
		words[n++] = w;
	if (!n || !strchr(words[0], '='))
		return errf(err, "MANIFEST: malformed line");
	if ((v = field(words, 1, "lesiond-backup"))) {
		if (parse_u64(v, 0, &x) || x != BACKUP_FORMAT)
			return errf(err, "MANIFEST: unknown backup format '%.20s'", v);
		m->format = (int)x;
	} else if ((v = field(words, 1, "lesiond_version"))) {
		snprintf(m->lesiond_version, sizeof(m->lesiond_version), "%s", v);
	} else if ((v = field(words, 1, "created"))) {
		snprintf(m->created, sizeof(m->created), "%s", v);
	} else if ((v = field(words, 1, "schema_version"))) {
		if (parse_u64(v, 0, &x) || x > 1000000)
			return errf(err, "MANIFEST: bad schema_version");
		m->schema_version = (int)x;
	} else if (field(words, 1, "lesions") || field(words, 1, "patients") ||
		   field(words, 1, "studies") || field(words, 1, "series")) {
		int64_t *dst = field(words, 1, "lesions") ? &m->counts.lesions :
			       field(words, 1, "patients") ? &m->counts.patients :
			       field(words, 1, "studies") ? &m->counts.studies : &m->counts.series;

		if (parse_u64(strchr(words[0], '=') + 1, 0, &x) || x > INT64_MAX)
			return errf(err, "MANIFEST: bad count '%.40s'", words[0]);
		*dst = (int64_t)x;
	} else if ((v = field(words, 1, "space"))) {
		struct backup_space *s;
		const char *d = field(words, n, "dim"), *mt = field(words, n, "metric"),
			   *vc = field(words, n, "vectors"), *cs = field(words, n, "checksum");
		uint64_t dim;

		if (m->nspaces >= BACKUP_MAX_SPACES)
			return errf(err, "MANIFEST: too many spaces");
		s = &m->spaces[m->nspaces];
		if (!d || !mt || !vc || !cs || strlen(v) >= sizeof(s->name) ||
		    strlen(mt) >= sizeof(s->metric) || parse_u64(d, 0, &dim) || !dim ||
		    dim > SPACE_DIM_MAX || parse_u64(vc, 0, &x) || parse_u64(cs, 1, &s->checksum))
			return errf(err, "MANIFEST: bad space line");
		snprintf(s->name, sizeof(s->name), "%s", v);
		snprintf(s->metric, sizeof(s->metric), "%s", mt);
		s->dim = (int)dim;
		s->vectors = (size_t)x;
		m->nspaces++;
	} else if ((v = field(words, 1, "file"))) {
		struct backup_file *f;
		const char *sz = field(words, n, "size"), *h = field(words, n, "fnv1a64");

		if (m->nfiles >= BACKUP_MAX_FILES)
			return errf(err, "MANIFEST: too many files");
		f = &m->files[m->nfiles];
		if (!sz || !h || !name_ok(v) || parse_u64(sz, 0, &f->size) ||
		    parse_u64(h, 1, &f->fnv))
			return errf(err, "MANIFEST: bad file line");
		snprintf(f->name, sizeof(f->name), "%s", v);
		m->nfiles++;
	} else {
		return errf(err, "MANIFEST: unknown key in '%.40s'", words[0]);
	}
	return 0;
}

static int manifest_read(const char *dir, struct backup_manifest *m, char *err)
{
	char path[PATH_MAX], *text, *line, *last, *save = NULL;
	size_t len;
	uint64_t want;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (join(path, sizeof(path), dir, BACKUP_MANIFEST))
		return errf(err, "path too long");
	text = file_read(path, MANIFEST_MAX, &len, err);
	if (!text)
		return -1;
	/* the last line checksums every byte before it */
	if (len < 2 || text[len - 1] != '\n' || memchr(text, '\0', len)) {
		errf(err, "%s: truncated or not text", path);
		goto out;
	}
	text[len - 1] = '\0';
	last = strrchr(text, '\n');
	if (!last || strncmp(last + 1, "manifest_fnv1a64=", 17) ||
	    parse_u64(last + 18, 1, &want)) {
		errf(err, "%s: no manifest checksum line", path);
		goto out;
	}
	if (fnv1a64(text, (size_t)(last + 1 - text), 0) != want) {
		errf(err, "%s: checksum mismatch (the manifest was altered or damaged)", path);
		goto out;
	}
	*last = '\0';
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (parse_line(m, line, err))
			goto out;
	if (m->format != BACKUP_FORMAT || !m->schema_version) {
		errf(err, "%s: not a lesiond backup manifest", path);
		goto out;
	}
	if (m->nfiles < 1 || strcmp(m->files[0].name, BACKUP_DB)) {
		errf(err, "%s: the database file is not listed first", path);
		goto out;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

/* ---- backup ---- */

static int add_file(struct backup_manifest *m, const char *dir, const char *name, char *err)
{
	char path[PATH_MAX];
	struct backup_file *f;

	if (m->nfiles >= BACKUP_MAX_FILES || !name_ok(name))
		return errf(err, "backup: bad file name %.80s", name);
	f = &m->files[m->nfiles];
	if (join(path, sizeof(path), dir, name) || hash_file(path, &f->size, &f->fnv, err))
		return -1;
	snprintf(f->name, sizeof(f->name), "%s", name);
	m->nfiles++;
	return 0;
}

/* Open every space of the copy (from the live snapshot copied beside it when that still
 * matches, else rebuilt) and write its snapshot; record it in m. */
static int snapshot_spaces(const char *copy, struct backup_manifest *m, backup_log_fn log,
			   void *cls, char *err)
{
	struct space_def *defs = calloc(BACKUP_MAX_SPACES, sizeof(*defs));
	struct store *st = NULL;
	size_t n = 0, i;
	int rc = -1;

	if (!defs)
		return errf(err, "out of memory");
	if (store_open(copy, &st, err) || store_integrity(st, err) ||
	    store_counts(st, &m->counts, err) ||
	    store_space_list(st, defs, BACKUP_MAX_SPACES, &n, err))
		goto out;
	m->schema_version = store_schema_version(st);
	for (i = 0; i < n; i++) {
		struct space *sp = NULL;
		struct space_info info;
		struct backup_space *bs = &m->spaces[m->nspaces];
		char why[LSD_ERRLEN];
		int how = 0;

		if (store_vec_open_space(st, &defs[i], &sp, &how, why, err))
			goto out;
		lsd_note(log, cls, "space %s: index %s (%s)", defs[i].name,
		    how == SPACE_OPEN_LOADED ? "from the live snapshot" : "rebuilt", why);
		if (space_snapshot(sp, copy, err)) {
			space_destroy(sp);
			goto out;
		}
		space_get_info(sp, &info);
		space_destroy(sp);
		snprintf(bs->name, sizeof(bs->name), "%s", defs[i].name);
		snprintf(bs->metric, sizeof(bs->metric), "%s", space_metric_name(defs[i].metric));
		bs->dim = defs[i].dim;
		bs->vectors = info.count;
		bs->checksum = info.checksum;
		m->nspaces++;
	}
	rc = 0;
out:
	store_close(st);
	free(defs);
	return rc;
}

int backup_create(struct store *st, const char *dir, struct backup_manifest *mout,
		  backup_log_fn log, void *cls, char *err)
{
	struct backup_manifest *m = calloc(1, sizeof(*m));
	struct space_def *defs = calloc(BACKUP_MAX_SPACES, sizeof(*defs));
	char copy[PATH_MAX], path[PATH_MAX], src_i[PATH_MAX], src_m[PATH_MAX];
	char dst_i[PATH_MAX], dst_m[PATH_MAX];
	size_t n = 0, i;
	double t0 = now_ms();
	time_t now = time(NULL);
	struct tm tm;
	int rc = -1;

	if (!m || !defs) {
		errf(err, "out of memory");
		goto out;
	}
	if (mkdir_p(dir, err))
		goto out;
	if (join(path, sizeof(path), dir, BACKUP_MANIFEST) ||
	    join(copy, sizeof(copy), dir, BACKUP_DB)) {
		errf(err, "path too long");
		goto out;
	}
	if (exists(path)) {
		errf(err, "%s already holds a backup (%s); use a new directory", dir, BACKUP_MANIFEST);
		goto out;
	}
	m->format = BACKUP_FORMAT;
	snprintf(m->lesiond_version, sizeof(m->lesiond_version), "%s", LSD_VERSION);
	gmtime_r(&now, &tm);
	strftime(m->created, sizeof(m->created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (store_backup(st, copy, err))
		goto out;
	lsd_note(log, cls, "database copied to %s in %.0f ms", copy, now_ms() - t0);
	/* the live snapshots, as a head start: used only where they match the copy */
	if (store_space_list(st, defs, BACKUP_MAX_SPACES, &n, err))
		goto out;
	for (i = 0; i < n; i++) {
		if (space_snapshot_paths(store_path(st), defs[i].name, src_i, src_m, PATH_MAX) ||
		    space_snapshot_paths(copy, defs[i].name, dst_i, dst_m, PATH_MAX)) {
			errf(err, "path too long");
			goto out;
		}
		if (exists(src_i) && exists(src_m) &&
		    (copy_file(src_m, dst_m, NULL, NULL, err) ||
		     copy_file(src_i, dst_i, NULL, NULL, err)))
			goto out;
	}
	if (snapshot_spaces(copy, m, log, cls, err))
		goto out;
	side_file(path, sizeof(path), copy, "-wal");
	if (exists(path)) {
		errf(err, "%s: the copy was left with a write-ahead log", copy);
		goto out;
	}
	side_file(path, sizeof(path), copy, "-shm");
	unlink(path);
	if (add_file(m, dir, BACKUP_DB, err))
		goto out;
	for (i = 0; i < (size_t)m->nspaces; i++) {
		if (space_snapshot_paths(BACKUP_DB, m->spaces[i].name, dst_i, dst_m, PATH_MAX) ||
		    join(path, sizeof(path), dir, dst_i)) {
			errf(err, "path too long");
			goto out;
		}
		if (!exists(path))	/* exact Flat: no derived index to carry */
			continue;
		if (add_file(m, dir, dst_i, err) || add_file(m, dir, dst_m, err))
			goto out;
	}
	if (manifest_write(dir, m, err))
		goto out;
	lsd_note(log, cls, "backup complete in %.0f ms: %" PRId64 " lesions, %d space(s), %d files",
	    now_ms() - t0, m->counts.lesions, m->nspaces, m->nfiles);
	if (mout)
		*mout = *m;
	rc = 0;
out:
	free(m);
	free(defs);
	return rc;
}

/* ---- verify and restore ---- */

int backup_verify(const char *dir, struct backup_manifest *m, char *err)
{
	char path[PATH_MAX];
	int i;

	if (manifest_read(dir, m, err))
		return -1;
	for (i = 0; i < m->nfiles; i++) {
		uint64_t size, fnv;

		if (join(path, sizeof(path), dir, m->files[i].name))
			return errf(err, "path too long");
		if (hash_file(path, &size, &fnv, err))
			return -1;
		if (size != m->files[i].size)
			return errf(err, "%s: %" PRIu64 " bytes, the manifest says %" PRIu64, path,
				    size, m->files[i].size);
		if (fnv != m->files[i].fnv)
			return errf(err, "%s: checksum mismatch (damaged or altered)", path);
	}
	return 0;
}

/* The staged database matches the manifest: integrity, counts, every space's vectors. */
static int check_staged(const char *db, const struct backup_manifest *m, char *err)
{
	struct store *st = NULL;
	struct store_counts c;
	int i, rc = -1;

	if (store_open(db, &st, err) || store_integrity(st, err) || store_counts(st, &c, err))
		goto out;
	if (c.lesions != m->counts.lesions || c.patients != m->counts.patients ||
	    c.studies != m->counts.studies || c.series != m->counts.series) {
		errf(err, "the database copy holds %" PRId64 " lesions, %" PRId64 " patients, %"
		     PRId64 " studies, %" PRId64 " series; the manifest says %" PRId64 ", %" PRId64
		     ", %" PRId64 ", %" PRId64, c.lesions, c.patients, c.studies, c.series,
		     m->counts.lesions, m->counts.patients, m->counts.studies, m->counts.series);
		goto out;
	}
	for (i = 0; i < m->nspaces; i++) {
		struct space_def def;
		size_t count;
		int64_t max_id;
		uint64_t cs;

		if (store_space_get(st, m->spaces[i].name, &def, err)) {
			errf(err, "space %s: in the manifest, not in the database", m->spaces[i].name);
			goto out;
		}
		if (def.dim != m->spaces[i].dim ||
		    store_vec_checksum(st, def.name, def.dim, &count, &max_id, &cs, err))
			goto out;
		if (count != m->spaces[i].vectors || cs != m->spaces[i].checksum) {
			errf(err, "space %s: %zu vectors (checksum %016" PRIx64 "), the manifest says "
			     "%zu (%016" PRIx64 ")", def.name, count, cs, m->spaces[i].vectors,
			     m->spaces[i].checksum);
			goto out;
		}
	}
	rc = 0;
out:
	store_close(st);
	return rc;
}

int backup_restore(const char *dir, const char *db, int force, struct backup_manifest *mout,
		   backup_log_fn log, void *cls, char *err)
{
	struct backup_manifest *m = calloc(1, sizeof(*m));
	char (*tmp)[PATH_MAX] = calloc(BACKUP_MAX_FILES, PATH_MAX);
	char (*dst)[PATH_MAX] = calloc(BACKUP_MAX_FILES, PATH_MAX);
	char src[PATH_MAX], side[PATH_MAX];
	struct stat sb;
	int i, staged = 0, rc = -1;

	if (!m || !tmp || !dst) {
		errf(err, "out of memory");
		goto out;
	}
	if (backup_verify(dir, m, err))
		goto out;
	lsd_note(log, cls, "backup %s verified: %d files, %" PRId64 " lesions, %d space(s), schema %d, "
	    "lesiond %s", dir, m->nfiles, m->counts.lesions, m->nspaces, m->schema_version,
	    m->lesiond_version);
	if (m->schema_version > migrations_count) {
		errf(err, "the backup's schema version %d is newer than this lesiond's (%d)",
		     m->schema_version, migrations_count);
		goto out;
	}
	if (stat(db, &sb) == 0 && sb.st_size > 0 && !force) {
		errf(err, "%s exists and is not empty; restore into a new path, or --force to "
		     "replace it (stop the daemon first)", db);
		goto out;
	}
	/* stage every file beside the target, under a temporary name */
	for (i = 0; i < m->nfiles; i++) {
		const char *suffix = m->files[i].name + strlen(BACKUP_DB);
		uint64_t size, fnv;

		if (strncmp(m->files[i].name, BACKUP_DB, strlen(BACKUP_DB))) {
			errf(err, "MANIFEST: unexpected file %s", m->files[i].name);
			goto out;
		}
		if (join(src, sizeof(src), dir, m->files[i].name) ||
		    snprintf(dst[i], PATH_MAX, "%s%s", db, suffix) >= PATH_MAX ||
		    snprintf(tmp[i], PATH_MAX, "%s.restore-%ld", dst[i], (long)getpid()) >= PATH_MAX) {
			errf(err, "path too long");
			goto out;
		}
		staged = i + 1;
		if (copy_file(src, tmp[i], &size, &fnv, err))
			goto out;
		if (size != m->files[i].size || fnv != m->files[i].fnv) {
			errf(err, "%s changed while it was copied", src);
			goto out;
		}
	}
	if (check_staged(tmp[0], m, err))
		goto out;
	side_file(side, sizeof(side), tmp[0], "-wal");
	if (exists(side)) {
		errf(err, "%s: a write-ahead log was left behind", tmp[0]);
		goto out;
	}
	side_file(side, sizeof(side), tmp[0], "-shm");
	unlink(side);
	lsd_note(log, cls, "staged copy checked (integrity, counts, vector checksums)");
	/* commit: the old database's side files would not match the new one */
	side_file(side, sizeof(side), db, "-wal");
	unlink(side);
	side_file(side, sizeof(side), db, "-shm");
	unlink(side);
	for (i = m->nfiles - 1; i >= 0; i--) {	/* snapshots first, the database last */
		if (rename(tmp[i], dst[i])) {
			errf(err, "rename %s: %s", dst[i], strerror(errno));
			goto out;
		}
		tmp[i][0] = '\0';
	}
	fsync_dir_of(db);
	lsd_note(log, cls, "restored into %s", db);
	if (mout)
		*mout = *m;
	rc = 0;
out:
	if (tmp)
		for (i = 0; i < staged; i++)
			if (tmp[i][0]) {
				unlink(tmp[i]);
				if (i == 0) {
					side_file(side, sizeof(side), tmp[0], "-wal");
					unlink(side);
					side_file(side, sizeof(side), tmp[0], "-shm");
					unlink(side);
				}
			}
	free(m);
	free(tmp);
	free(dst);
	return rc;
}
