/* space_snap.c - a space's FAISS index snapshotted beside the database and loaded back.
 *
 * space_snapshot writes <prefix>.space-<name>.faiss and a .manifest (format, definition,
 * counts, the vector set's checksum, the index file's size and FNV-1a), each atomically;
 * space_open_index at start installs the snapshot only if the manifest matches the
 * space's current vectors and the file its checksum, else rebuilds from the memory copy
 * (the database's vectors). Called by the daemon at start, every snapshot_every writes
 * and at shutdown, and by import-vectors. Load: one index file of up to a few GB.
 */
#include "space_int.h"
#include "fhash.h"
#include "util.h"

#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/index_io_c.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_MAX 65536
#define INDEX_FILE_MAX ((size_t)1 << 40)
/* format 2 checks the index file with fhash64 (fhash.h); format 1 (FNV-1a, byte by byte:
 * ~2 s a GB) is still read, e.g. from older backups */
#define MANIFEST_FORMAT "lesiond-space-snapshot-2"
#define MANIFEST_FORMAT_1 "lesiond-space-snapshot-1"

int space_snapshot_paths(const char *prefix, const char *name, char *index_path,
			 char *manifest_path, size_t n)
{
	int a = snprintf(index_path, n, "%s.space-%s.faiss", prefix, name);
	int b = snprintf(manifest_path, n, "%s.space-%s.manifest", prefix, name);

	return (a < 0 || (size_t)a >= n || b < 0 || (size_t)b >= n) ? -1 : 0;
}

/* Size and fhash64_blocks of an open file from its start (the position is left at the
 * end). 0, or -1 (errno). */
static int file_fhash(FILE *f, uint64_t *h, uint64_t *size)
{
	unsigned char *buf = malloc(FHASH_BLOCK);
	uint64_t v = 0, total = 0;
	size_t got;
	int rc = -1;

	if (!buf)
		return -1;
	if (fseek(f, 0, SEEK_SET))
		goto out;
	do {	/* whole blocks, so that the chaining matches fhash64_blocks */
		got = 0;
		while (got < FHASH_BLOCK) {
			size_t r = fread(buf + got, 1, FHASH_BLOCK - got, f);

			if (!r)
				break;
			got += r;
		}
		if (ferror(f))
			goto out;
		if (got || !total)
			v = fhash64(buf, got, v);
		total += got;
	} while (got == FHASH_BLOCK);
	*h = v;
	*size = total;
	rc = 0;
out:
	free(buf);
	return rc;
}

int space_snapshot(struct space *sp, const char *prefix, char *err)
{
	char ipath[PATH_MAX], mpath[PATH_MAX], tmp[PATH_MAX + 32];
	struct sb m;
	FILE *f = NULL;
	uint64_t h = 0, size = 0, writes;
	size_t count, total;
	int64_t max_id;
	uint64_t checksum;
	int rc = -1, fd;

	sb_init(&m, MANIFEST_MAX);
	if (space_snapshot_paths(prefix, sp->def.name, ipath, mpath, sizeof(ipath)))
		return errf(err, "snapshot path too long");
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", ipath, (long)getpid());
	pthread_mutex_lock(&sp->build_mu);
	f = fopen(tmp, "w+b");
	if (!f) {
		errf(err, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	pthread_rwlock_rdlock(&sp->lock);
	if (sp->loaded && sp->native) {
		/* exact Flat over the memory copy: there is no derived index to save */
		writes = sp->writes;
		pthread_rwlock_unlock(&sp->lock);
		fclose(f);
		f = NULL;
		unlink(tmp);
		pthread_rwlock_wrlock(&sp->lock);
		sp->snap_writes = writes;
		sp->snap_stale = 0;
		pthread_rwlock_unlock(&sp->lock);
		rc = 0;
		goto out;
	}
	if (!sp->loaded || !sp->index) {
		pthread_rwlock_unlock(&sp->lock);
		errf(err, "space %s: no index to snapshot", sp->def.name);
		goto out;
	}
	count = sp->n;
	total = space_index_total(sp);
	max_id = sp->max_id;
	checksum = sp->checksum;
	writes = sp->writes;
	sb_addf(&m, "format=%s\nspace=%s\ndim=%d\nmetric=%s\nindex_type=%s\nindex_active=%s\n"
		"params=%s\ncount=%zu\nindex_total=%zu\nmax_id=%" PRId64 "\nvectors_checksum=%016"
		PRIx64 "\n", MANIFEST_FORMAT, sp->def.name, sp->def.dim,
		space_metric_name(sp->def.metric), space_def_type(&sp->def), sp->active,
		space_def_params(&sp->def), count, total, max_id, checksum);
	rc = faiss_write_index(sp->index, f);
	pthread_rwlock_unlock(&sp->lock);
	if (rc) {
		rc = -1;
		space_faiss_errf(err, "write index");
		goto out;
	}
	rc = -1;
	if (fflush(f) || fsync(fileno(f)) || file_fhash(f, &h, &size)) {
		errf(err, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = fclose(f);
	f = NULL;
	if (fd || rename(tmp, ipath)) {
		errf(err, "%s: %s", ipath, strerror(errno));
		goto out;
	}
	fsync_dir_of(ipath);
	sb_addf(&m, "index_bytes=%" PRIu64 "\nindex_fhash64=%016" PRIx64 "\n", size, h);
	if (m.oom) {
		errf(err, "manifest too long");
		goto out;
	}
	if (file_write_atomic(mpath, m.p, m.len, err))
		goto out;
	pthread_rwlock_wrlock(&sp->lock);
	sp->snap_writes = writes;
	sp->snap_stale = 0;
	pthread_rwlock_unlock(&sp->lock);
	rc = 0;
out:
	if (f) {
		fclose(f);
		unlink(tmp);
	}
	pthread_mutex_unlock(&sp->build_mu);
	sb_free(&m);
	return rc;
}

/* value of key in a key=value manifest, copied into v; NULL if absent */
static const char *mf_get(const char *text, const char *key, char *v, size_t n)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);

		if (ll > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			size_t vl = ll - kl - 1;

			if (vl >= n)
				return NULL;
			memcpy(v, p + kl + 1, vl);
			v[vl] = 0;
			return v;
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

static int mf_u64(const char *text, const char *key, int hex, uint64_t *out)
{
	char v[64], *end;

	if (!mf_get(text, key, v, sizeof(v)) || !v[0])
		return -1;
	errno = 0;
	*out = strtoull(v, &end, hex ? 16 : 10);
	return (errno || *end || v[0] == '-') ? -1 : 0;
}

/* The ids an index holds, in a malloc'd array: an IVF's from its lists, an IndexIDMap's
 * (or a legacy IndexIDMap2's) id map. NULL: out of memory, or neither shape. */
static int64_t *index_ids(FaissIndex *idx, size_t *n)
{
	FaissIndexIVF *ivf = faiss_IndexIVF_cast(idx);
	FaissIndexIDMap *map = faiss_IndexIDMap_cast(idx);
	int64_t *ids, *m = NULL;
	size_t i, nl, at = 0, sz;

	*n = (size_t)faiss_Index_ntotal(idx);
	if (!(ids = malloc((*n ? *n : 1) * sizeof(*ids))))
		return NULL;
	if (map) {
		faiss_IndexIDMap_id_map(map, &m, &sz);
		if (sz != *n)
			goto bad;
		memcpy(ids, m, sz * sizeof(*ids));
		return ids;
	}
	if (!ivf)
		goto bad;
	nl = faiss_IndexIVF_nlist(ivf);
	for (i = 0; i < nl; i++) {
		sz = faiss_IndexIVF_get_list_size(ivf, i);
		if (sz > *n - at)
			goto bad;
		faiss_IndexIVF_invlists_get_ids(ivf, i, ids + at);
		at += sz;
	}
	if (at == *n)
		return ids;
bad:
	free(ids);
	return NULL;
}

/* The index's shape: a bare IVF (ids in its lists) or an IndexIDMap around a non-IVF.
 * An IVF under an id map (written before: its ids shift after a delete) is refused. */
static FaissIndex *index_sub(FaissIndex *idx)
{
	FaissIndexIDMap *map = faiss_IndexIDMap_cast(idx);

	if (faiss_IndexIVF_cast(idx))
		return idx;
	if (!map || faiss_IndexIVF_cast(faiss_IndexIDMap_sub_index(map)))
		return NULL;
	return faiss_IndexIDMap_sub_index(map);
}

/* What can be read of a snapshot without the space: the manifest checked against the
 * definition, the index file hashed and parsed by FAISS (the heavy part: ~2 s for an
 * IVF2048,SQ8 of 10^6 x 256-d), an index of the right shape. */
struct space_preload {
	char name[SPACE_NAME_MAX];
	int rc;			/* 0: idx and mtext hold the snapshot; -1: refused (why) */
	char why[LSD_ERRLEN];
	char *mtext;
	FaissIndex *idx;
	char active[SPACE_TYPE_MAX];
	uint64_t total;
};

static void preload_file(const struct space_def *def, const char *prefix, struct space_preload *p)
{
	char ipath[PATH_MAX], mpath[PATH_MAX], v[SPACE_PROV_MAX];
	char *why = p->why;
	void *itext = MAP_FAILED;
	int v1 = 0;
	size_t mlen = 0, ilen = 0;
	uint64_t u, bytes, fnv, total;
	FaissIndex *idx = NULL;
	FILE *mf = NULL;
	struct stat stt;

	p->rc = -1;
	if (space_snapshot_paths(prefix, def->name, ipath, mpath, sizeof(ipath))) {
		errf(why, "snapshot path too long");
		return;
	}
	if (stat(mpath, &stt) && errno == ENOENT) {
		errf(why, "no snapshot (%s absent)", mpath);
		return;
	}
	if (!(p->mtext = file_read(mpath, MANIFEST_MAX, &mlen, why)))
		goto out;
	if (mf_get(p->mtext, "format", v, sizeof(v)) && !strcmp(v, MANIFEST_FORMAT_1))
		v1 = 1;
	else if (!mf_get(p->mtext, "format", v, sizeof(v)) || strcmp(v, MANIFEST_FORMAT)) {
		errf(why, "manifest %s is not a lesiond snapshot manifest", mpath);
		goto out;
	}
#define MF_STR(key, want) do { if (!mf_get(p->mtext, key, v, sizeof(v)) || strcmp(v, want)) { \
	errf(why, "snapshot %s differs (%s, expected %s)", key, mf_get(p->mtext, key, v, \
	     sizeof(v)) ? v : "missing", want); goto out; } } while (0)
	MF_STR("space", def->name);
	MF_STR("metric", space_metric_name(def->metric));
	MF_STR("index_type", space_def_type(def));
	/* params (efSearch, nprobe) are search-time settings, applied below: not checked */
#undef MF_STR
	if (mf_u64(p->mtext, "dim", 0, &u) || u != (uint64_t)def->dim) {
		errf(why, "snapshot dimension differs (expected %d)", def->dim);
		goto out;
	}
	if (!mf_get(p->mtext, "index_active", v, sizeof(v)) ||
	    (strcmp(v, space_def_type(def)) && strcmp(v, "Flat"))) {
		errf(why, "snapshot index_active is not %s or Flat", space_def_type(def));
		goto out;
	}
	snprintf(p->active, sizeof(p->active), "%.*s", (int)sizeof(p->active) - 1, v);
	if (mf_u64(p->mtext, "index_bytes", 0, &bytes) ||
	    mf_u64(p->mtext, v1 ? "index_fnv1a64" : "index_fhash64", 1, &fnv) ||
	    mf_u64(p->mtext, "index_total", 0, &total) || bytes > INDEX_FILE_MAX) {
		errf(why, "manifest %s incomplete", mpath);
		goto out;
	}
	if (stat(ipath, &stt)) {
		errf(why, "%s: %s", ipath, strerror(errno));
		goto out;
	}
	if ((uint64_t)stt.st_size != bytes) {
		errf(why, "index file %s has %lld bytes, manifest says %" PRIu64 " (truncated or replaced)",
		     ipath, (long long)stt.st_size, bytes);
		goto out;
	}
	{	/* mapped, not copied: hashed, then parsed by FAISS straight from the pages */
		int fd = open(ipath, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || bytes == 0) {
			errf(why, "%s: %s", ipath, fd < 0 ? strerror(errno) : "empty");
			if (fd >= 0)
				close(fd);
			goto out;
		}
		itext = mmap(NULL, (size_t)bytes, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		close(fd);
		if (itext == MAP_FAILED) {
			errf(why, "%s: %s", ipath, strerror(errno));
			goto out;
		}
		ilen = (size_t)bytes;
	}
	if ((v1 ? fnv1a64(itext, ilen, 0) : fhash64_blocks(itext, ilen, 0)) != fnv) {
		errf(why, "index file %s fails its checksum (corrupt or foreign)", ipath);
		goto out;
	}
	if (!(mf = fmemopen(itext, ilen, "rb")) || faiss_read_index(mf, 0, &idx)) {
		space_faiss_errf(why, "FAISS cannot read the snapshot");
		goto out;
	}
	if (!index_sub(idx)) {
		errf(why, "snapshot index is neither an IVF nor an IndexIDMap around another type "
		     "(an IVF under an id map, from an older lesiond, shifts ids after deletes)");
		goto out;
	}
	if (faiss_Index_d(idx) != def->dim ||
	    faiss_Index_metric_type(idx) != space_faiss_metric(def->metric) ||
	    (uint64_t)faiss_Index_ntotal(idx) != total) {
		errf(why, "snapshot index is not of %d dims, metric %s, %" PRIu64 " entries",
		     def->dim, space_metric_name(def->metric), total);
		goto out;
	}
	p->idx = idx;
	idx = NULL;
	p->total = total;
	p->rc = 0;
out:
	if (mf)
		fclose(mf);
	faiss_Index_free(idx);
	if (itext != MAP_FAILED)
		munmap(itext, ilen);
}

struct space_preload *space_preload_index(const struct space_def *def, const char *prefix)
{
	struct space_preload *p;

	if (!prefix || !strcmp(space_def_type(def), "Flat") || !(p = calloc(1, sizeof(*p))))
		return NULL;
	snprintf(p->name, sizeof(p->name), "%s", def->name);
	preload_file(def, prefix, p);
	return p;
}

void space_preload_free(struct space_preload *p)
{
	if (!p)
		return;
	faiss_Index_free(p->idx);
	free(p->mtext);
	free(p);
}

/* Try the snapshot (pre: read already, else read now); 0 = installed, -1 = refused (why
 * says why). The snapshot must be of the space's current vector set: its counts and
 * checksum, and its id map must hold every live id. Write lock not held. */
static int try_snapshot(struct space *sp, const char *prefix, struct space_preload *pre,
			char *why)
{
	struct space_preload own = { .rc = -1 }, *p = pre;
	unsigned char *seen = NULL;
	int64_t *idm = NULL;
	size_t i, seen_n = 0, row, idn = 0;
	int rc = -1, removable;

	if (!p || strcmp(p->name, sp->def.name)) {
		p = &own;
		preload_file(&sp->def, prefix, p);
	}
	if (p->rc) {
		errf(why, "%s", p->why);
		goto out;
	}
	pthread_rwlock_rdlock(&sp->lock);
	{
		uint64_t cnt = 0, mid = 0, cks = 0;
		int bad = mf_u64(p->mtext, "count", 0, &cnt) || mf_u64(p->mtext, "max_id", 0, &mid) ||
			  mf_u64(p->mtext, "vectors_checksum", 1, &cks);

		if (bad || cnt != sp->n || mid != (uint64_t)sp->max_id || cks != sp->checksum) {
			errf(why, "snapshot is of another vector set (%" PRIu64 " vectors, max id %"
			     PRIu64 "; the database has %zu, max id %" PRId64 "%s)", cnt, mid, sp->n,
			     sp->max_id, (cnt == sp->n && mid == (uint64_t)sp->max_id) ?
			     ", different content" : "");
			pthread_rwlock_unlock(&sp->lock);
			goto out;
		}
	}
	idm = index_ids(p->idx, &idn);
	if (!idm || idn != p->total || !(seen = calloc(sp->n + 1, 1))) {
		pthread_rwlock_unlock(&sp->lock);
		errf(why, "snapshot index has %zu ids, expected %" PRIu64, idm ? idn : 0, p->total);
		goto out;
	}
	for (i = 0; i < idn; i++) {
		if (idm[i] <= 0)
			break;
		if (idmap_find(&sp->map, idm[i], &row) && !seen[row]) {
			seen[row] = 1;
			seen_n++;
		}
	}
	pthread_rwlock_unlock(&sp->lock);
	if (i < idn || seen_n != sp->n) {
		errf(why, "snapshot index holds %zu of the %zu live ids", seen_n, sp->n);
		goto out;
	}
	removable = space_probe_removable(index_sub(p->idx));
	if (strcmp(p->active, "Flat") || !strcmp(space_def_type(&sp->def), "Flat"))
		if (space_apply_params(p->idx, space_def_params(&sp->def), why))
			goto out;
	pthread_rwlock_wrlock(&sp->lock);
	faiss_Index_free(sp->index);
	sp->index = p->idx;
	p->idx = NULL;
	sp->loaded = 1;
	sp->removable = removable;
	snprintf(sp->active, sizeof(sp->active), "%s", p->active);
	sp->snap_writes = sp->writes;
	sp->snap_stale = 0;
	sp->train_attempt_n = strcmp(p->active, space_def_type(&sp->def)) ? sp->n : 0;
	pthread_rwlock_unlock(&sp->lock);
	errf(why, "loaded snapshot %s.space-%s.faiss (%zu vectors, %" PRIu64 " index entries, %s%s)",
	     prefix, sp->def.name, seen_n, p->total, p->active,
	     p == pre ? "; read while the vectors loaded" : "");
	rc = 0;
out:
	free(seen);
	free(idm);
	faiss_Index_free(own.idx);
	free(own.mtext);
	return rc;
}

int space_open_index(struct space *sp, const char *prefix, int *how, char *why, char *err)
{
	return space_open_index_with(sp, prefix, NULL, how, why, err);
}

int space_open_index_with(struct space *sp, const char *prefix, struct space_preload *pre,
			  int *how, char *why, char *err)
{
	char reason[LSD_ERRLEN] = "no snapshot location";
	int rc;

	*how = 0;
	if (!strcmp(space_def_type(&sp->def), "Flat")) {
		if (space_rebuild(sp, err))
			return -1;
		*how = SPACE_OPEN_LOADED;
		errf(why, "space %s: exact Flat over the memory copy (%zu vectors; no index to load)",
		     sp->def.name, sp->n);
		return 0;
	}
	if (prefix) {
		pthread_mutex_lock(&sp->build_mu);
		rc = try_snapshot(sp, prefix, pre, reason);
		pthread_mutex_unlock(&sp->build_mu);
		if (!rc) {
			*how = SPACE_OPEN_LOADED;
			errf(why, "space %s: %s", sp->def.name, reason);
			return 0;
		}
	}
	if (space_rebuild(sp, err))
		return -1;
	*how = SPACE_OPEN_REBUILT;
	errf(why, "space %s: rebuilt from the database (%zu vectors, %s): %s", sp->def.name, sp->n,
	     sp->active, reason);
	return 0;
}
