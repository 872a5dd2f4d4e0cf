/* test_graphrun.c - the lesion graph over a store: graphrun_rebuild with and without
 * a space's vectors as embedding evidence (a lesion without a vector falls back to
 * location), the header-driven truth file, and graphrun_eval's scores and calibration
 * on a hand-built patient. Expected links and scores are worked out in the comments. */
#include "graph.h"
#include "graphrun.h"
#include "space.h"
#include "store.h"
#include "unit.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char dbpath[512], truthpath[512];

static void tmp_paths(void)
{
	const char *d = getenv("LSD_TEST_TMP") ? getenv("LSD_TEST_TMP") : "/tmp";
	char p[700];

	snprintf(dbpath, sizeof(dbpath), "%s/graphrun.db", d);
	snprintf(truthpath, sizeof(truthpath), "%s/graphrun_truth.csv", d);
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
}

/* A valid lesion at normalised location (x, 0.5, 0.5), long diameter 10 mm, type
 * unknown (no type gate). */
static struct lesion mk(int64_t id, int patient, int study, double x)
{
	struct lesion l;

	memset(&l, 0, sizeof(l));
	l.id = id;
	l.patient = patient;
	l.study = study;
	l.series = 1;
	l.key_slice = 50;
	snprintf(l.file_name, sizeof(l.file_name), "%06d_%02d_01_050.png", patient, study);
	l.recist[0] = 100;
	l.recist[1] = 100;
	l.recist[2] = 110;
	l.recist[3] = 100;
	l.recist[4] = 105;
	l.recist[5] = 97;
	l.recist[6] = 105;
	l.recist[7] = 103;
	l.bbox[0] = 95;
	l.bbox[1] = 90;
	l.bbox[2] = 115;
	l.bbox[3] = 110;
	l.diam_px[0] = 10;
	l.diam_px[1] = 6;
	l.loc[0] = x;
	l.loc[1] = 0.5;
	l.loc[2] = 0.5;
	l.type = -1;
	l.slice_range[0] = 45;
	l.slice_range[1] = 55;
	l.spacing[0] = 1;
	l.spacing[1] = 1;
	l.spacing[2] = 5;
	l.image_size[0] = 512;
	l.image_size[1] = 512;
	l.window[0] = -175;
	l.window[1] = 275;
	l.gender = 'F';
	l.age = 60;
	l.split = 1;
	lesion_derive(&l);
	return l;
}

static int has_edge(const struct graph_edge *e, size_t n, int64_t a, int64_t b)
{
	for (size_t k = 0; k < n; k++)
		if (e[k].from == a && e[k].to == b)
			return 1;
	return 0;
}

/* Patient 1. Study 1: A (id 1) at x 0.40, B (id 2) at x 0.44. Study 2: X (id 3) at
 * x 0.419, the truth says it is B (its vector equals B's; A's is orthogonal).
 *   location only (w_loc 1, threshold 0.1): A-X costs 0.019 < B-X 0.021, so A-X links
 *     (wrong): one false and one missed pair.
 *   w_embed 0.1: A-X = 0.019 + 0.1 * sqrt(2) = 0.1604 >= 0.1 (not linkable), B-X =
 *     0.021 + 0 -> B-X links (right).
 * Patient 2: P (id 4, study 1) at x 0.30 and Q (id 5, study 2) at x 0.31, same track,
 * but Q has no vector: the pair falls back to location, cost 0.01, and links. */
static void test_rebuild_with_space(void)
{
	struct lesion l[5];
	struct store *st = NULL;
	struct space *sp = NULL;
	struct space_def def;
	struct graph_params p;
	struct graphrun_stats s;
	struct graph_edge *e = NULL;
	size_t ne = 0, added, same;
	static const int64_t vid[4] = { 1, 2, 3, 4 };
	static const float vec[8] = { 1, 0, 0, 2, 0, 3, 1, 1 };	/* A, B, X = 1.5 B, P */
	char err[LSD_ERRLEN];

	tmp_paths();
	l[0] = mk(1, 1, 1, 0.40);
	l[1] = mk(2, 1, 1, 0.44);
	l[2] = mk(3, 1, 2, 0.419);
	l[3] = mk(4, 2, 1, 0.30);
	l[4] = mk(5, 2, 2, 0.31);
	CHECK_EQ_INT(store_open(dbpath, &st, err), 0);
	if (!st)
		return;
	CHECK_EQ_INT(store_lesion_insert(st, l, 5, &added, &same, err), 0);
	memset(&def, 0, sizeof(def));
	snprintf(def.name, sizeof(def.name), "emb");
	def.dim = 2;
	def.metric = SPACE_L2;
	CHECK_EQ_INT(space_create(&def, &sp, err), 0);
	CHECK_EQ_INT(space_add(sp, vid, vec, 4, err), 0);

	graph_params_default(&p);
	p.w_loc = 1;
	p.w_size = 0;
	p.w_embed = 0.1;
	p.threshold = 0.1;
	/* no space: location decides, A-X */
	CHECK_EQ_INT(graphrun_rebuild(st, 1, &p, NULL, &s, err), 0);
	CHECK_EQ_INT(s.with_vec, 0);
	CHECK_EQ_INT(store_graph_edges(st, 1, &e, &ne, err), 0);
	CHECK(ne == 1 && has_edge(e, ne, 1, 3));
	free(e);
	e = NULL;
	/* with the space: B-X, d_embed 0 recorded */
	CHECK_EQ_INT(graphrun_rebuild(st, 1, &p, sp, &s, err), 0);
	CHECK_EQ_INT(s.with_vec, 3);
	CHECK_EQ_INT(store_graph_edges(st, 1, &e, &ne, err), 0);
	CHECK(ne == 1 && has_edge(e, ne, 2, 3));
	if (ne == 1) {
		CHECK_NEAR(e[0].d_embed, 0, 1e-6);
		CHECK_NEAR(e[0].cost, 0.021, 1e-6);
	}
	free(e);
	e = NULL;
	/* patient 2: Q has no vector, the link is made on location, d_embed NULL */
	CHECK_EQ_INT(graphrun_rebuild(st, 2, &p, sp, &s, err), 0);
	CHECK_EQ_INT(s.with_vec, 1);
	CHECK_EQ_INT(store_graph_edges(st, 2, &e, &ne, err), 0);
	CHECK(ne == 1 && has_edge(e, ne, 4, 5));
	if (ne == 1) {
		CHECK(isnan(e[0].d_embed));
		CHECK_NEAR(e[0].cost, 0.01, 1e-6);
	}
	free(e);
	e = NULL;

	/* graphrun_eval against truth tracks A=7, B=X=8 (patient 1), P=Q=7 (patient 2; track
	 * ids only compare within a patient). Extra columns and a row for an unknown id
	 * are fine. */
	{
		static const char csv[] = "patient,lesion_id,note,track_id\r\n1,1,a,7\r\n1,2,b,8\r\n"
					  "1,3,x,8\r\n2,4,p,7\r\n2,5,q,7\r\n9,99,z,1\r\n";
		struct graphrun_truth t;
		struct graphrun_result r;
		int64_t tr;

		CHECK_EQ_INT(file_write_atomic(truthpath, csv, sizeof(csv) - 1, err), 0);
		CHECK_EQ_INT(graphrun_truth_load(truthpath, &t, err), 0);
		CHECK_EQ_INT(t.n, 6);
		CHECK(graphrun_truth_find(&t, 3, &tr) == 1 && tr == 8);
		CHECK_EQ_INT(graphrun_truth_find(&t, 6, &tr), 0);
		/* location only: pairs (A,X) FP, (B,X) FN, (P,Q) TP -> P 1/2, R 1/2 */
		CHECK_EQ_INT(graphrun_eval(st, NULL, &p, &t, NULL, 0, 0, &r, err), 0);
		CHECK_EQ_INT(r.patients, 2);
		CHECK_EQ_INT(r.lesions, 5);
		CHECK_EQ_INT(r.labelled, 5);
		CHECK_EQ_INT(r.with_vec, 0);
		CHECK_EQ_INT(r.ev.tp, 1);
		CHECK_EQ_INT(r.ev.fp, 1);
		CHECK_EQ_INT(r.ev.fn, 1);
		CHECK_NEAR(r.ev.precision, 0.5, 1e-12);
		CHECK_NEAR(r.ev.recall, 0.5, 1e-12);
		/* tracks: {A}, {B,X}, {P,Q}; whole: {P,Q} only (A is joined to X) */
		CHECK_EQ_INT(r.ev.tracks, 3);
		CHECK_EQ_INT(r.ev.whole, 1);
		graphrun_result_free(&r);
		/* with the space: perfect, and the calibration (grid includes w_embed > 0)
		 * finds a perfect setting with a positive embedding weight */
		CHECK_EQ_INT(graphrun_eval(st, sp, &p, &t, NULL, 0, 1, &r, err), 0);
		CHECK_EQ_INT(r.with_vec, 4);
		CHECK_NEAR(r.ev.f1, 1, 1e-12);
		CHECK_EQ_INT(r.ev.whole, 3);
		CHECK(r.calibrated);
		CHECK_NEAR(r.best_ev.f1, 1, 1e-12);
		CHECK(r.best.w_embed > 0);
		CHECK(r.run[0] <= r.best.threshold && r.best.threshold <= r.run[1]);
		graphrun_result_free(&r);
		/* one patient only */
		{
			const int64_t one = 2;

			CHECK_EQ_INT(graphrun_eval(st, sp, &p, &t, &one, 1, 0, &r, err), 0);
			CHECK_EQ_INT(r.labelled, 2);
			CHECK_EQ_INT(r.ev.tp, 1);
			graphrun_result_free(&r);
		}
		graphrun_truth_free(&t);
		graphrun_truth_free(&t);	/* idempotent */

		/* a file without the columns, and a duplicated id */
		CHECK_EQ_INT(file_write_atomic(truthpath, "id,track\n1,2\n", 13, err), 0);
		CHECK_EQ_INT(graphrun_truth_load(truthpath, &t, err), -1);
		CHECK_EQ_INT(file_write_atomic(truthpath, "lesion_id,track_id\n1,2\n1,3\n", 27,
						err), 0);
		CHECK_EQ_INT(graphrun_truth_load(truthpath, &t, err), -1);
		CHECK_EQ_INT(file_write_atomic(truthpath, "lesion_id,track_id\n1,x\n", 23, err),
			     0);
		CHECK_EQ_INT(graphrun_truth_load(truthpath, &t, err), -1);
	}
	space_destroy(sp);
	store_close(st);
	unlink(truthpath);
}

/* graphrun_vectors: no space or no vector at all -> emb NULL; else per-lesion pointers. */
static void test_vectors(void)
{
	struct lesion l[2];
	struct graphrun_vecs v;
	struct space *sp = NULL;
	struct space_def def;
	static const int64_t id = 2;
	static const float x[3] = { 1, 2, 3 };
	char err[LSD_ERRLEN];

	l[0] = mk(1, 1, 1, 0.5);
	l[1] = mk(2, 1, 2, 0.5);
	CHECK_EQ_INT(graphrun_vectors(NULL, l, 2, &v, err), 0);
	CHECK(v.emb == NULL && v.have == 0);
	graphrun_vecs_free(&v);
	memset(&def, 0, sizeof(def));
	snprintf(def.name, sizeof(def.name), "v");
	def.dim = 3;
	def.metric = SPACE_L2;
	CHECK_EQ_INT(space_create(&def, &sp, err), 0);
	if (!sp)
		return;
	CHECK_EQ_INT(graphrun_vectors(sp, l, 2, &v, err), 0);
	CHECK(v.emb == NULL && v.have == 0 && v.dim == 3);
	graphrun_vecs_free(&v);
	CHECK_EQ_INT(space_add(sp, &id, x, 1, err), 0);
	CHECK_EQ_INT(graphrun_vectors(sp, l, 2, &v, err), 0);
	CHECK(v.emb != NULL && v.have == 1 && v.dim == 3);
	if (v.emb) {
		CHECK(v.emb[0] == NULL);
		CHECK(v.emb[1] != NULL && v.emb[1][2] == 3.0f);
	}
	graphrun_vecs_free(&v);
	graphrun_vecs_free(&v);
	space_destroy(sp);
}

/* graphrun_halves: perm is a permutation of 0..n-1; half 0 holds ceil(n/2) patients,
 * half 1 floor(n/2); one seed gives one sequence of halvings; over many halvings each
 * patient is in half 0 about ceil(n/2)/n of the time (a fixed deal, e.g. the identity
 * permutation, would put patient 0 in half 0 every time), and patients 0 and 1 share a
 * half in (C(8,2) + C(7,2)) / C(15,2) = 47% of them (a fixed deal: always or never);
 * both checked loosely (+-10% of the draws, and 30%..70%). */
static void test_halves(void)
{
	enum { N = 15, REP = 2000 };
	size_t perm[N], perm2[N], in0[N] = { 0 }, same01 = 0, differ = 0;
	unsigned char h[N], h2[N];
	struct rng g, g2;

	rng_seed(&g, 42);
	rng_seed(&g2, 42);
	for (int r = 0; r < REP; r++) {
		size_t seen[N] = { 0 }, n0 = 0;

		graphrun_halves(&g, N, perm, h);
		graphrun_halves(&g2, N, perm2, h2);
		for (size_t i = 0; i < N; i++) {
			CHECK(perm[i] < N);
			if (perm[i] < N)
				seen[perm[i]]++;
			CHECK(h[i] <= 1);
			n0 += h[i] == 0;
			in0[i] += h[i] == 0;
			CHECK(perm[i] == perm2[i] && h[i] == h2[i]);
		}
		for (size_t i = 0; i < N; i++)
			CHECK_EQ_INT(seen[i], 1);
		CHECK_EQ_INT(n0, (N + 1) / 2);
		same01 += h[0] == h[1];
		for (size_t i = 0; i < N; i++)	/* dealt alternately along perm */
			CHECK_EQ_INT(h[perm[i]], i % 2);
	}
	for (size_t i = 0; i < N; i++)
		CHECK(in0[i] > REP * 8 / 15 - REP / 10 && in0[i] < REP * 8 / 15 + REP / 10);
	CHECK(same01 > REP * 3 / 10 && same01 < REP * 7 / 10);
	/* another seed: another sequence */
	rng_seed(&g2, 43);
	rng_seed(&g, 42);
	for (int r = 0; r < 10; r++) {
		graphrun_halves(&g, N, perm, h);
		graphrun_halves(&g2, N, perm2, h2);
		for (size_t i = 0; i < N; i++)
			differ += h[i] != h2[i];
	}
	CHECK(differ > 0);
	/* one patient: half 0 */
	graphrun_halves(&g, 1, perm, h);
	CHECK(perm[0] == 0 && h[0] == 0);
}

int main(void)
{
	RUN(test_halves);
	RUN(test_vectors);
	RUN(test_rebuild_with_space);
	return unit_done();
}
