/* bench_faiss_raw.c - the reference for `lesiond knn`: raw FAISS batched exact search
 * through its C API, nothing around it. Run by bench_knn.sh on the same files:
 *   bench_faiss_raw GALLERY.fvecs QUERIES.npy K [BATCH]
 * builds an IndexFlatL2 over the gallery, searches the queries in batches of BATCH
 * (default: all at once, FAISS blocks them itself) and prints
 *   faiss_raw: N queries, k=K, gallery M x D, S s search (Q queries/s)
 * Threads are FAISS's and OpenBLAS's own (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS).
 * Without arguments (bench/run.sh runs every bench_*) it only says how to run it. */
#include "util.h"
#include "vecfile.h"

#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	FaissIndexFlatL2 *idx = NULL;
	float *g = NULL, *q = NULL, *dist;
	int64_t *ids, k, batch;
	size_t ng, nq, i;
	int dg, dq;
	char err[LSD_ERRLEN];
	double t0, t;

	if (argc < 4) {
		printf("bench_faiss_raw: run by bench_knn.sh (GALLERY.fvecs QUERIES.npy K [BATCH])\n");
		return 0;
	}
	k = atoll(argv[3]);
	if (vecfile_read(argv[1], &g, &ng, &dg, err) || vecfile_read(argv[2], &q, &nq, &dq, err)) {
		fprintf(stderr, "bench_faiss_raw: %s\n", err);
		return 1;
	}
	batch = argc > 4 ? atoll(argv[4]) : (int64_t)nq;
	if (dg != dq || k < 1 || batch < 1) {
		fprintf(stderr, "bench_faiss_raw: dimensions %d / %d, k %lld\n", dg, dq, (long long)k);
		return 1;
	}
	dist = malloc((size_t)batch * (size_t)k * sizeof(*dist));
	ids = malloc((size_t)batch * (size_t)k * sizeof(*ids));
	if (!dist || !ids || faiss_IndexFlatL2_new_with(&idx, dg) ||
	    faiss_Index_add((FaissIndex *)idx, (int64_t)ng, g)) {
		fprintf(stderr, "bench_faiss_raw: %s\n", faiss_get_last_error());
		return 1;
	}
	t0 = now_ms();
	for (i = 0; i < nq; i += (size_t)batch) {
		int64_t m = (int64_t)LSD_MIN((size_t)batch, nq - i);

		if (faiss_Index_search((FaissIndex *)idx, m, q + i * (size_t)dq, k, dist, ids)) {
			fprintf(stderr, "bench_faiss_raw: %s\n", faiss_get_last_error());
			return 1;
		}
	}
	t = (now_ms() - t0) / 1000.0;
	printf("faiss_raw: %zu queries, k=%lld, gallery %zu x %d, %.2f s search (%.0f queries/s)\n", nq,
	       (long long)k, ng, dg, t, nq / t);
	faiss_Index_free((FaissIndex *)idx);
	free(g);
	free(q);
	free(dist);
	free(ids);
	return 0;
}
