/* embed.c - the built-in descriptor stored as spaces (see embed.h).
 *
 * Resumable: raw descriptors are written to "<space>.raw" in chunks as they are
 * computed, so an interrupted run restarts where it stopped. Statistics are recomputed
 * over every stored raw vector on each full run and kept in the meta table (hex blob)
 * for the lesions added later. Load: ~10 ms a lesion (PNG decode dominates), 2 threads.
 */
#include "embed.h"
#include "spacedb.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBED_CHUNK 256

static void raw_name(const struct embed_opts *o, char *buf, size_t n)
{
	snprintf(buf, n, "%s.raw", o->space);
}

static void def_for(const char *name, const char *prov, struct space_def *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->dim = DESC_DIM;
	d->metric = SPACE_L2;
	snprintf(d->index_type, sizeof(d->index_type), "Flat");
	snprintf(d->provenance, sizeof(d->provenance), "%s", prov);
}

static int stats_key(const struct embed_opts *o, char *buf, size_t n)
{
	return snprintf(buf, n, "desc_stats:%s", o->space) >= (int)n ? -1 : 0;
}

static int stats_save(struct store *st, const struct embed_opts *o, const struct desc_stats *s,
		      char *err)
{
	unsigned char blob[DESC_STATS_BLOB_LEN];
	char *hex = malloc(2 * DESC_STATS_BLOB_LEN + 1), key[96];
	size_t i;
	int rc;

	if (!hex)
		return errf(err, "out of memory");
	desc_stats_encode(s, blob);
	for (i = 0; i < DESC_STATS_BLOB_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", blob[i]);
	stats_key(o, key, sizeof(key));
	rc = store_meta_set(st, key, hex, err);
	free(hex);
	return rc;
}

/* 0 loaded, 1 none stored yet, -1 error */
static int stats_load(struct store *st, const struct embed_opts *o, struct desc_stats *s,
		      char *err)
{
	char *hex = malloc(2 * DESC_STATS_BLOB_LEN + 8), key[96];
	unsigned char blob[DESC_STATS_BLOB_LEN];
	size_t i;
	int rc;

	if (!hex)
		return errf(err, "out of memory");
	stats_key(o, key, sizeof(key));
	rc = store_meta_get(st, key, hex, 2 * DESC_STATS_BLOB_LEN + 8, err);
	if (rc) {
		free(hex);
		return rc == LSD_ENOTFOUND ? 1 : -1;
	}
	if (strlen(hex) != 2 * DESC_STATS_BLOB_LEN) {
		free(hex);
		return errf(err, "stored descriptor statistics have the wrong size; run lesiond embed");
	}
	for (i = 0; i < DESC_STATS_BLOB_LEN; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
			free(hex);
			return errf(err, "stored descriptor statistics are damaged; run lesiond embed");
		}
		blob[i] = (unsigned char)v;
	}
	free(hex);
	return desc_stats_decode(blob, sizeof(blob), s, err);
}

int embed_all(struct store *st, struct spaces *r, const struct embed_opts *o,
	      struct embed_report *rep, char *err)
{
	struct { struct lesion *v; size_t n; } all = { NULL, 0 };
	struct lesion *todo = NULL;
	float *raw = NULL, *fin = NULL;
	int64_t *ids = NULL;
	int *status = NULL, *ok = NULL;
	char *errs = NULL, rname[SPACE_NAME_MAX + 8];
	struct space_def rdef, fdef;
	struct space *rsp;
	struct desc_stats stats;
	size_t i, ntodo = 0, nraw = 0;
	double t0 = now_ms();
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	raw_name(o, rname, sizeof(rname));
	def_for(rname, "lesiond built-in descriptor v1, raw (unstandardised)", &rdef);
	def_for(o->space, "lesiond built-in descriptor v1 (appearance, location, size; "
		"standardised, weighted, L2-normalised)", &fdef);
	if (store_lesion_all(st, &all.v, &all.n, err))
		goto out;
	rep->lesions = all.n;
	rsp = spaces_get(r, rname);
	todo = malloc((all.n ? all.n : 1) * sizeof(*todo));
	if (!todo) {
		errf(err, "out of memory");
		goto out;
	}
	for (i = 0; i < all.n; i++) {
		if (rsp && space_has(rsp, all.v[i].id))
			rep->reused++;
		else
			todo[ntodo++] = all.v[i];
	}
	raw = malloc((size_t)EMBED_CHUNK * DESC_RAW_DIM * sizeof(float));
	ids = malloc((size_t)(all.n ? all.n : 1) * sizeof(*ids));
	status = malloc(EMBED_CHUNK * sizeof(*status));
	errs = malloc((size_t)EMBED_CHUNK * LSD_ERRLEN);
	if (!raw || !ids || !status || !errs) {
		errf(err, "out of memory");
		goto out;
	}
	/* raw descriptors, chunk by chunk, each chunk stored before the next */
	for (i = 0; i < ntodo; i += EMBED_CHUNK) {
		size_t m = LSD_MIN((size_t)EMBED_CHUNK, ntodo - i), j, good = 0;

		if (desc_bulk(todo + i, m, desc_slice_files, (void *)(uintptr_t)o->images,
			      o->threads, raw, status, errs, NULL, NULL, err))
			goto out;
		for (j = 0; j < m; j++) {
			if (status[j] == LSD_OK) {
				ids[good] = todo[i + j].id;
				if (good != j)
					memmove(raw + good * DESC_RAW_DIM, raw + j * DESC_RAW_DIM,
						DESC_RAW_DIM * sizeof(float));
				good++;
				continue;
			}
			if (status[j] == LSD_ENOTFOUND)
				rep->missing++;
			else
				rep->failed++;
			if (o->note && rep->missing + rep->failed <= 5) {
				char line[LSD_ERRLEN + 64];

				snprintf(line, sizeof(line), "lesion %lld: %s", (long long)todo[i + j].id,
					 errs + j * LSD_ERRLEN);
				o->note(o->cls, line);
			}
		}
		if (good && spacedb_put(st, r, &rdef, ids, raw, good, err))
			goto out;
		rep->computed += good;
		if (o->progress)
			o->progress(o->cls, i + m, ntodo);
	}
	/* statistics over every stored raw descriptor, then the finished vectors */
	rsp = spaces_get(r, rname);
	if (!rsp) {
		errf(err, "no lesion has images: nothing to embed (is --images right?)");
		goto out;
	}
	free(raw);
	raw = malloc((size_t)(all.n ? all.n : 1) * DESC_RAW_DIM * sizeof(float));
	ok = malloc((all.n ? all.n : 1) * sizeof(*ok));
	fin = malloc((size_t)(all.n ? all.n : 1) * DESC_DIM * sizeof(float));
	if (!raw || !ok || !fin) {
		errf(err, "out of memory");
		goto out;
	}
	for (i = 0; i < all.n; i++) {
		if (space_get_vector(rsp, all.v[i].id, raw + nraw * DESC_RAW_DIM))
			continue;
		ids[nraw] = all.v[i].id;
		ok[nraw] = LSD_OK;
		nraw++;
	}
	desc_stats_compute(raw, ok, nraw, &stats);
	if (stats_save(st, o, &stats, err))
		goto out;
	for (i = 0; i < nraw; i++)
		if (desc_finish(raw + i * DESC_RAW_DIM, &stats, o->weights, fin + i * DESC_DIM)) {
			errf(err, "descriptor of lesion %lld could not be finished", (long long)ids[i]);
			goto out;
		}
	for (i = 0; i < nraw; i += 4096) {
		size_t m = LSD_MIN((size_t)4096, nraw - i);

		if (spacedb_put(st, r, &fdef, ids + i, fin + i * DESC_DIM, m, err))
			goto out;
	}
	rep->stored = nraw;
	rep->seconds = (now_ms() - t0) / 1000.0;
	rc = 0;
out:
	free(all.v);
	free(todo);
	free(raw);
	free(fin);
	free(ids);
	free(status);
	free(ok);
	free(errs);
	return rc;
}

int embed_one(struct store *st, struct spaces *r, const struct embed_opts *o,
	      const struct lesion *l, char *err)
{
	struct desc_stats stats;
	struct space_def rdef, fdef;
	char rname[SPACE_NAME_MAX + 8];
	float raw[DESC_RAW_DIM], fin[DESC_DIM];
	int rc;

	rc = stats_load(st, o, &stats, err);
	if (rc)
		return rc;
	rc = desc_raw(l, desc_slice_files, (void *)(uintptr_t)o->images, raw, err);
	if (rc)
		return rc;
	if (desc_finish(raw, &stats, o->weights, fin))
		return errf(err, "descriptor could not be finished");
	raw_name(o, rname, sizeof(rname));
	def_for(rname, "lesiond built-in descriptor v1, raw (unstandardised)", &rdef);
	def_for(o->space, "lesiond built-in descriptor v1 (appearance, location, size; "
		"standardised, weighted, L2-normalised)", &fdef);
	if (spacedb_put(st, r, &rdef, &l->id, raw, 1, err) ||
	    spacedb_put(st, r, &fdef, &l->id, fin, 1, err))
		return -1;
	return 0;
}

int embed_region(struct store *st, const struct embed_opts *o, const struct lesion *l,
		 int known_location, float *out, char *err)
{
	struct desc_stats stats;
	float raw[DESC_RAW_DIM];
	int rc, off, dim, i;

	rc = stats_load(st, o, &stats, err);
	if (rc == 1)
		return errf(err, "the built-in descriptor has no statistics yet: run lesiond embed");
	if (rc)
		return rc;
	rc = desc_raw(l, desc_slice_files, (void *)(uintptr_t)o->images, raw, err);
	if (rc)
		return rc;
	if (!known_location) {
		/* unknown location: the mean, which standardises to zero (no evidence) */
		desc_block_range(DESC_BLOCK_LOCATION, &off, &dim);
		for (i = 0; i < dim; i++)
			raw[off + i] = stats.mean[off + i];
	}
	if (desc_finish(raw, &stats, o->weights, out))
		return errf(err, "descriptor could not be finished");
	return 0;
}

int embed_slice_name_parse(const char *slice, int *patient, int *study, int *series,
			   int *key_slice)
{
	int used = 0;

	return sscanf(slice, "%6d_%2d_%2d/%4d.png%n", patient, study, series, key_slice,
		      &used) == 4 && (size_t)used == strlen(slice);
}

int embed_image(struct store *st, const struct embed_opts *o, const struct embed_image_query *q,
		float *out, char *err)
{
	struct lesion l;

	if (embed_image_lesion(q, &l, err))
		return -1;
	return embed_region(st, o, &l, q->location != NULL, out, err);
}

int embed_image_lesion(const struct embed_image_query *q, struct lesion *lo, char *err)
{
	const double *b = q->bbox;
	double cy = (b[1] + b[3]) / 2, cx = (b[0] + b[2]) / 2;
	struct lesion l;
	int sl;

	memset(&l, 0, sizeof(l));
	if (!embed_slice_name_parse(q->slice, &l.patient, &l.study, &l.series, &l.key_slice))
		return errf(err, "slice: not <patient>_<study>_<series>/<slice>.png");
	if (q->location)
		memcpy(l.loc, q->location, sizeof(l.loc));
	sl = l.key_slice;
	l.slice_range[0] = sl > 100 ? sl - 100 : 0;
	l.slice_range[1] = sl + 100;
	memcpy(l.bbox, b, sizeof(l.bbox));
	if (b[2] - b[0] >= b[3] - b[1]) {	/* long axis along x through the centre */
		double rl = LSD_MAX((b[2] - b[0]) / 2 - 5, 1), rs = LSD_MAX((b[3] - b[1]) / 2 - 5, 1);
		double r[8] = { cx - rl, cy, cx + rl, cy, cx, cy - rs, cx, cy + rs };

		memcpy(l.recist, r, sizeof(r));
		l.diam_px[0] = 2 * rl;
		l.diam_px[1] = 2 * rs;
	} else {
		double rl = LSD_MAX((b[3] - b[1]) / 2 - 5, 1), rs = LSD_MAX((b[2] - b[0]) / 2 - 5, 1);
		double r[8] = { cx, cy - rl, cx, cy + rl, cx - rs, cy, cx + rs, cy };

		memcpy(l.recist, r, sizeof(r));
		l.diam_px[0] = 2 * rl;
		l.diam_px[1] = 2 * rs;
	}
	l.spacing[0] = l.spacing[1] = q->spacing_mm;
	l.spacing[2] = q->slice_interval_mm > 0 ? q->slice_interval_mm : 5;
	l.image_size[0] = l.image_size[1] = 512;
	l.window[0] = -160;
	l.window[1] = 240;
	l.gender = 'U';
	l.age = NAN;
	l.split = 1;
	l.type = -1;
	lesion_derive(&l);
	snprintf(l.image_path, sizeof(l.image_path), "%s", q->slice);
	*lo = l;
	return 0;
}
