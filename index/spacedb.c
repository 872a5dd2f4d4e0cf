/* spacedb.c - spaces backed by the store (see spacedb.h). Holds no state of its own:
 * the registry (space.c) and the store (store*.c) are the owners. A mutex serialises
 * writers so that SQLite order and index order agree. */
#include "spacedb.h"
#include "store_vec.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPACEDB_MAX_SPACES 256

static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;
/* search parameters per space ("name:efSearch=128;other:nprobe=32"), set before open */
static char search_params[512];

int spacedb_set_search_params(const char *spec, char *err)
{
	const char *p = spec ? spec : "";

	if (strlen(p) >= sizeof(search_params))
		return errf(err, "search_params: longer than %zu bytes", sizeof(search_params) - 1);
	while (*p) {
		const char *end = strchr(p, ';'), *colon = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n && (!colon || colon >= p + n || colon == p ||
			  (size_t)(p + n - colon - 1) >= SPACE_TYPE_MAX))
			return errf(err, "search_params: '%.*s' is not space:params "
				    "(e.g. builtin:efSearch=128)", (int)n, p);
		p += n + (end != NULL);
	}
	pthread_mutex_lock(&write_mu);
	snprintf(search_params, sizeof(search_params), "%s", spec ? spec : "");
	pthread_mutex_unlock(&write_mu);
	return 0;
}

/* def->params from the spec, when the spec names the space */
static void params_for(struct space_def *def)
{
	const char *p = search_params;
	size_t nl = strlen(def->name);

	while (*p) {
		const char *end = strchr(p, ';');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n > nl && !strncmp(p, def->name, nl) && p[nl] == ':')
			snprintf(def->params, sizeof(def->params), "%.*s", (int)(n - nl - 1),
				 p + nl + 1);
		p += n + (end != NULL);
	}
}

int spacedb_defs(struct store *st, struct space_def **out, size_t *n, char *err)
{
	struct space_def *defs = calloc(SPACEDB_MAX_SPACES, sizeof(*defs));
	size_t i;

	*out = NULL;
	*n = 0;
	if (!defs)
		return errf(err, "out of memory");
	if (store_space_list(st, defs, SPACEDB_MAX_SPACES, n, err)) {
		free(defs);
		return -1;
	}
	pthread_mutex_lock(&write_mu);
	for (i = 0; i < *n; i++)
		params_for(&defs[i]);
	pthread_mutex_unlock(&write_mu);
	*out = defs;
	return 0;
}

int spacedb_open_from(struct store *st, const struct space_def *defs, size_t n,
		      struct space **pre, struct space_preload **pl, struct spaces **out,
		      spacedb_log_fn log, void *cls, char *err)
{
	struct spaces *r = NULL;
	size_t i = 0;
	int rc = -1;

	*out = NULL;
	if (spaces_create(&r, err))
		goto out;
	for (i = 0; i < n; i++) {
		struct space *sp = pre ? pre[i] : NULL;
		char why[LSD_ERRLEN];
		int how = 0;
		double t0 = now_ms();

		if (pre)
			pre[i] = NULL;	/* ours now */
		if (sp ? space_open_index_with(sp, store_path(st), pl ? pl[i] : NULL, &how, why, err) :
			 store_vec_open_space(st, &defs[i], &sp, &how, why, err)) {
			space_destroy(sp);
			goto out;
		}
		lsd_note(log, cls, "%s (%.0f ms)", why, now_ms() - t0);
		if (how == SPACE_OPEN_REBUILT && !store_readonly(st)) {
			/* so that the next start can load instead of rebuilding */
			if (space_snapshot(sp, store_path(st), why))
				lsd_note(log, cls, "space %s: snapshot failed: %s", defs[i].name, why);
		}
		if (spaces_add(r, sp, err)) {
			space_destroy(sp);
			goto out;
		}
	}
	*out = r;
	r = NULL;
	rc = 0;
out:
	for (; pre && i < n; i++) {
		space_destroy(pre[i]);
		pre[i] = NULL;
	}
	spaces_destroy(r);
	return rc;
}

int spacedb_open(struct store *st, struct spaces **out, spacedb_log_fn log, void *cls,
		 char *err)
{
	struct space_def *defs = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (spacedb_defs(st, &defs, &n, err))
		return -1;
	rc = spacedb_open_from(st, defs, n, NULL, NULL, out, log, cls, err);
	free(defs);
	return rc;
}

int spacedb_put(struct store *st, struct spaces *r, const struct space_def *def,
		const int64_t *ids, const float *vecs, size_t n, char *err)
{
	struct space *sp, *fresh = NULL;
	struct space_def have;
	struct space_info info;
	int64_t *unknown = NULL;
	size_t nunk = 0, i;
	int rc = -1, got;

	pthread_mutex_lock(&write_mu);
	sp = spaces_get(r, def->name);
	if (!sp) {
		/* a new space: registered only once its first vectors are in SQLite */
		got = store_space_get(st, def->name, &have, err);
		if (got && got != LSD_ENOTFOUND)
			goto out;
		if (got == LSD_ENOTFOUND)
			have = *def;
		params_for(&have);
		if (space_def_check(&have, err)) {
			rc = LSD_EINVAL;
			goto out;
		}
		if (space_create(&have, &fresh, err))
			goto out;
		sp = fresh;
	}
	if (space_dim(sp) != def->dim) {
		errf(err, "space '%s' has dimension %d, got vectors of dimension %d",
		     def->name, space_dim(sp), def->dim);
		rc = LSD_EINVAL;
		goto out;
	}
	if (space_check_vectors(sp, ids, vecs, n, err)) {
		rc = LSD_EINVAL;
		goto out;
	}
	space_get_info(sp, &info);
	rc = store_vec_put(st, &info.def, ids, vecs, n, &unknown, &nunk, 20, err);
	if (rc == STORE_VEC_UNKNOWN) {
		struct sb b;

		sb_init(&b, LSD_ERRLEN - 1);
		sb_addf(&b, "%zu unknown lesion id%s:", nunk, nunk == 1 ? "" : "s");
		for (i = 0; i < nunk && i < 20; i++)
			sb_addf(&b, " %lld", (long long)unknown[i]);
		if (nunk > 20)
			sb_adds(&b, " ...");
		snprintf(err, LSD_ERRLEN, "%s", b.p ? b.p : "unknown lesion ids");
		sb_free(&b);
		rc = LSD_ENOTFOUND;
		goto out;
	}
	if (rc == STORE_VEC_DIM) {
		rc = LSD_EINVAL;
		goto out;
	}
	if (rc)
		goto out;
	/* SQLite has them: now the index (a failure here is repaired by the next rebuild) */
	rc = space_add(sp, ids, vecs, n, err) ? -1 : 0;
	if (fresh) {
		if (spaces_add(r, fresh, err))
			rc = -1;
		else
			fresh = NULL;
	}
out:
	pthread_mutex_unlock(&write_mu);
	space_destroy(fresh);
	free(unknown);
	return rc;
}

void spacedb_forget(struct spaces *r, int64_t id)
{
	size_t i, n = r ? spaces_count(r) : 0;
	char err[LSD_ERRLEN];

	for (i = 0; i < n; i++)
		space_remove(spaces_at(r, i), &id, 1, NULL, err);
}

int spacedb_snapshot(struct store *st, struct spaces *r, uint64_t min_writes,
		     spacedb_log_fn log, void *cls, char *err)
{
	size_t i, n = r ? spaces_count(r) : 0;
	int rc = 0;

	for (i = 0; i < n; i++) {
		struct space *sp = spaces_at(r, i);
		struct space_info info;
		double t0 = now_ms();

		space_get_info(sp, &info);
		if (!info.writes_since_snapshot || info.writes_since_snapshot < min_writes)
			continue;
		if (space_needs_rebuild(sp) && space_rebuild(sp, err)) {
			lsd_note(log, cls, "space %s: rebuild failed: %s", info.def.name, err);
			rc = -1;
			continue;
		}
		if (space_snapshot(sp, store_path(st), err)) {
			lsd_note(log, cls, "space %s: snapshot failed: %s", info.def.name, err);
			rc = -1;
			continue;
		}
		lsd_note(log, cls, "space %s: snapshot written (%zu vectors, %.0f ms)", info.def.name,
		    info.count, now_ms() - t0);
	}
	return rc;
}
