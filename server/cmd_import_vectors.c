/* cmd_import_vectors.c - `lesiond import-vectors --space NAME --ids ids.txt --vectors F`.
 *
 * Bulk-loads embeddings computed elsewhere: F is a NumPy .npy (float32, 2-D, C order) or
 * an .fvecs file, ids.txt gives the lesion id of each row. Everything is checked first
 * (row count = id count, dimension = the space's, every value finite, no duplicate id,
 * every lesion id known), then written in one SQLite transaction: the file goes in whole
 * or not at all. A new space is created with --metric / --index-type / --provenance. The
 * server derives its index from SQLite at its next start (the snapshot no longer matches,
 * so it rebuilds); --build-index does that now and writes the snapshot.
 */
#include "cli.h"
#include "space.h"
#include "store.h"
#include "store_vec.h"
#include "util.h"
#include "vecfile.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNKNOWN_SHOW 20

static const char usage[] =
	"usage: lesiond import-vectors --space NAME --ids ids.txt --vectors FILE.npy|FILE.fvecs\n"
	"       [--metric l2|ip] [--index-type FACTORY] [--provenance TEXT] [--build-index] [--db PATH]\n\n"
	"Store one embedding per lesion in space NAME (created on first use; metric l2 by\n"
	"default, index type from the config's index_type). Row i of the vector file belongs to\n"
	"the lesion id on line i of ids.txt. All or nothing: any bad row refuses the whole file.";

int cmd_import_vectors(int argc, char **argv)
{
	const char *space = NULL, *ids_path = NULL, *vec_path = NULL, *metric = NULL,
		   *itype = NULL, *prov = NULL, *build = NULL;
	const struct cli_opt opts[] = {
		{ "--space", "NAME", &space, "embedding space (required)" },
		{ "--ids", "FILE", &ids_path, "lesion ids, one per line, in row order (required)" },
		{ "--vectors", "FILE", &vec_path, ".npy float32 2-D or .fvecs (required)" },
		{ "--metric", "l2|ip", &metric, "metric of a new space (default l2)" },
		{ "--index-type", "FACTORY", &itype, "FAISS factory string of a new space" },
		{ "--provenance", "TEXT", &prov, "model name/version of a new space" },
		{ "--build-index", NULL, &build, "build the index now and write its snapshot" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct store *st = NULL;
	struct space_def def, have;
	struct space *sp = NULL;
	int64_t *ids = NULL, *unknown = NULL;
	float *vecs = NULL;
	size_t nids = 0, rows = 0, nunk = 0, i;
	int dim = 0, r, rc = 1, how;
	char err[LSD_ERRLEN], why[LSD_ERRLEN];
	double t0 = now_ms(), t1;

	r = cli_parse(argc, argv, opts, usage, &cfg);
	if (r)
		return r > 0 ? 0 : 2;
	if (!space || !ids_path || !vec_path) {
		fprintf(stderr, "lesiond import-vectors: --space, --ids and --vectors are required\n");
		return 2;
	}
	memset(&def, 0, sizeof(def));
	snprintf(def.name, sizeof(def.name), "%s", space);
	def.metric = SPACE_L2;
	if (metric && space_metric_parse(metric, &def.metric)) {
		fprintf(stderr, "lesiond import-vectors: --metric must be l2 or ip\n");
		return 2;
	}
	snprintf(def.index_type, sizeof(def.index_type), "%s",
		 itype ? itype : cfg.index_type[0] ? cfg.index_type : "Flat");
	snprintf(def.provenance, sizeof(def.provenance), "%s", prov ? prov : "");
	if (strlen(space) >= sizeof(def.name)) {
		fprintf(stderr, "lesiond import-vectors: space name too long\n");
		return 2;
	}
	if (vecfile_read_ids(ids_path, &ids, &nids, err) ||
	    vecfile_read(vec_path, &vecs, &rows, &dim, err)) {
		fprintf(stderr, "lesiond import-vectors: %s (nothing imported)\n", err);
		goto out;
	}
	if (rows != nids) {
		fprintf(stderr, "lesiond import-vectors: %s has %zu rows but %s has %zu ids "
			"(nothing imported)\n", vec_path, rows, ids_path, nids);
		goto out;
	}
	for (i = 0; i < rows * (size_t)dim; i++)
		if (!isfinite(vecs[i])) {
			fprintf(stderr, "lesiond import-vectors: row %zu (lesion %" PRId64 "), component "
				"%zu is not finite (nothing imported)\n", i / (size_t)dim,
				ids[i / (size_t)dim], i % (size_t)dim);
			goto out;
		}
	def.dim = dim;
	if (space_def_check(&def, err)) {
		fprintf(stderr, "lesiond import-vectors: %s\n", err);
		goto out;
	}
	if (store_open(cfg.db, &st, err)) {
		fprintf(stderr, "lesiond import-vectors: %s\n", err);
		goto out;
	}
	r = store_space_get(st, space, &have, err);
	if (r && r != LSD_ENOTFOUND) {
		fprintf(stderr, "lesiond import-vectors: %s\n", err);
		goto out;
	}
	if (r == 0) {
		if (have.dim != dim) {
			fprintf(stderr, "lesiond import-vectors: space %s has dimension %d, %s has %d "
				"(nothing imported)\n", space, have.dim, vec_path, dim);
			goto out;
		}
		if ((metric && have.metric != def.metric) ||
		    (itype && strcmp(have.index_type, def.index_type))) {
			fprintf(stderr, "lesiond import-vectors: space %s exists as metric %s, index "
				"%s; --metric/--index-type differ (nothing imported)\n", space,
				space_metric_name(have.metric), have.index_type);
			goto out;
		}
		def = have;
	}
	r = store_vec_put(st, &def, ids, vecs, rows, &unknown, &nunk, UNKNOWN_SHOW, err);
	if (r == STORE_VEC_UNKNOWN) {
		fprintf(stderr, "lesiond import-vectors: %zu lesion id(s) not in the database "
			"(nothing imported):", nunk);
		for (i = 0; i < nunk && i < UNKNOWN_SHOW; i++)
			fprintf(stderr, " %" PRId64, unknown[i]);
		fprintf(stderr, "%s\n", nunk > UNKNOWN_SHOW ? " ..." : "");
		goto out;
	}
	if (r) {
		fprintf(stderr, "lesiond import-vectors: %s (nothing imported)\n", err);
		goto out;
	}
	t1 = now_ms();
	printf("import-vectors: %zu vectors of dimension %d into space %s (%s, %s) in %.0f ms "
	       "(%.0f vectors/s)\n", rows, dim, def.name, space_metric_name(def.metric),
	       def.index_type, t1 - t0, rows / ((t1 - t0) / 1000.0 + 1e-9));
	if (build) {
		if (store_vec_open_space(st, &def, &sp, &how, why, err) ||
		    space_snapshot(sp, store_path(st), err)) {
			fprintf(stderr, "lesiond import-vectors: index: %s (the vectors are stored; "
				"the server rebuilds at start)\n", err);
			goto out;
		}
		printf("import-vectors: %s; snapshot written in %.0f ms\n", why, now_ms() - t1);
	}
	rc = 0;
out:
	space_destroy(sp);
	store_close(st);
	free(ids);
	free(vecs);
	free(unknown);
	return rc;
}
