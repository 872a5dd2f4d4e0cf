/* test_graph.c - the lesion graph: assignment against brute force, a hand-computed
 * three-study patient, the one-lesion-per-study rule, embeddings and gates, RECIST
 * boundaries, evaluation counts and calibration. Expected values are worked out by hand
 * in the comments, not taken from the code. */
#include "graph.h"
#include "util.h"

#include "graph_mk.h"
#include "unit.h"

/* series 0 unless a case sets it */
static struct lesion mk(int64_t id, int patient, int study, double x, double y, double z,
			double long_mm, int type)
{
	return unit_lesion(id, patient, study, 0, x, y, z, long_mm, type);
}

static struct graph_params test_params(void)
{
	struct graph_params p;

	memset(&p, 0, sizeof(p));
	p.w_loc = 1.0;
	p.w_size = 0.1;
	p.w_embed = 0.0;
	p.threshold = 0.1;
	/* the hand cases were worked out for the all-pairs rule, isotropic */
	p.axis[0] = p.axis[1] = p.axis[2] = 1;
	p.sequential = 0;
	p.align = 0;
	p.max_dloc = 0.25;
	p.max_size_ratio = 4.0;
	p.type_gate = 1;
	return p;
}

static const struct graph_edge *find_edge(const struct graph *g, int64_t a, int64_t b)
{
	for (size_t k = 0; k < g->nedges; k++)
		if (g->edges[k].from == a && g->edges[k].to == b)
			return &g->edges[k];
	return NULL;
}

static int track_of(const struct graph *g, int64_t id)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->ids[i] == id)
			return g->track[i];
	return -2;
}

/* ---- assignment ---- */

static uint64_t rng_state = 88172645463325252ull;

static double rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double brute(const double *a, size_t n, size_t *perm, size_t k, char *used)
{
	double best = INFINITY;

	if (k == n) {
		double s = 0;

		for (size_t r = 0; r < n; r++)
			s += a[r * n + perm[r]];
		return s;
	}
	for (size_t c = 0; c < n; c++) {
		if (used[c])
			continue;
		used[c] = 1;
		perm[k] = c;
		double s = brute(a, n, perm, k + 1, used);

		if (s < best)
			best = s;
		used[c] = 0;
	}
	return best;
}

static void test_assign_vs_brute(void)
{
	double a[49];
	size_t asg[7], perm[7];
	char used[7], seen[7];

	for (int trial = 0; trial < 300; trial++) {
		size_t n = 1 + (size_t)(rnd() * 7);
		double total, check = 0;

		for (size_t k = 0; k < n * n; k++)	/* some ties on purpose */
			a[k] = trial % 3 == 0 ? (double)(int)(rnd() * 4) : rnd() * 10 - 3;
		CHECK_EQ_INT(graph_assign(a, n, asg, &total), 0);
		memset(used, 0, sizeof(used));
		memset(seen, 0, sizeof(seen));
		for (size_t r = 0; r < n; r++) {
			CHECK(asg[r] < n);
			if (asg[r] < n) {
				CHECK(!seen[asg[r]]);
				seen[asg[r]] = 1;
				check += a[r * n + asg[r]];
			}
		}
		CHECK_NEAR(total, check, 1e-9);
		CHECK_NEAR(total, brute(a, n, perm, 0, used), 1e-9);
	}
	/* a known 3x3: rows pick columns 1, 0, 2 for 1 + 2 + 2 = 5 */
	const double k3[9] = { 4, 1, 3, 2, 0, 5, 3, 2, 2 };
	double t3;

	CHECK_EQ_INT(graph_assign(k3, 3, asg, &t3), 0);
	CHECK_NEAR(t3, 5, 1e-12);
	CHECK_EQ_INT(asg[0], 1);
	CHECK_EQ_INT(asg[1], 0);
	CHECK_EQ_INT(asg[2], 2);
}

/* ---- the "Done when" patient ----
 * Studies 1, 2, 3 (w_loc 1, w_size 0.1, threshold 0.1):
 *   G grows 10 -> 13 -> 17 mm, drifting +0.005 in x per study     ids 1, 11, 21
 *   V (lung) 20 -> 19 mm, gone in study 3                         ids 2, 12
 *   A (abdomen) appears in study 2, 8 -> 9 mm                     ids 13, 23
 *   C1, C2: two 10 mm lesions 0.03 apart that both drift in x:
 *     study 1: C1 0.400, C2 0.430; study 2: C1 0.418, C2 0.450; study 3: C1 0.420,
 *     C2 0.452. Nearest-neighbour per lesion would link C2(1) to C1(2) (0.012 < 0.020);
 *     the optimal assignment links C1-C1 + C2-C2 (0.018 + 0.020 = 0.038 < 0.012 + 0.050).
 * Costs: G1-G2 0.005 + 0.1 ln 1.3 = 0.0312364, G2-G3 0.005 + 0.1 ln(17/13) = 0.0318265,
 * G1-G3 0.010 + 0.1 ln 1.7 = 0.0630628, V 0.005 + 0.1 ln(20/19) = 0.0101293,
 * A 0.005 + 0.1 ln(9/8) = 0.0167783. G is 0.24+ from C; V and A are far from all. */
static size_t scenario(struct lesion *l)
{
	size_t n = 0;

	l[n++] = mk(1, 7, 1, 0.300, 0.400, 0.500, 10, 4);
	l[n++] = mk(2, 7, 1, 0.700, 0.600, 0.300, 20, 5);
	l[n++] = mk(3, 7, 1, 0.400, 0.200, 0.400, 10, 4);
	l[n++] = mk(4, 7, 1, 0.430, 0.200, 0.400, 10, 4);
	l[n++] = mk(11, 7, 2, 0.305, 0.400, 0.500, 13, 4);
	l[n++] = mk(12, 7, 2, 0.700, 0.605, 0.300, 19, 5);
	l[n++] = mk(13, 7, 2, 0.500, 0.800, 0.700, 8, 2);
	l[n++] = mk(14, 7, 2, 0.418, 0.200, 0.400, 10, 4);
	l[n++] = mk(15, 7, 2, 0.450, 0.200, 0.400, 10, 4);
	l[n++] = mk(21, 7, 3, 0.310, 0.400, 0.500, 17, 4);
	l[n++] = mk(23, 7, 3, 0.500, 0.805, 0.700, 9, 2);
	l[n++] = mk(24, 7, 3, 0.420, 0.200, 0.400, 10, 4);
	l[n++] = mk(25, 7, 3, 0.452, 0.200, 0.400, 10, 4);
	return n;
}

static void test_scenario_graph(void)
{
	struct lesion l[16];
	size_t n = scenario(l);
	struct graph_params p = test_params();
	struct graph *g = NULL;
	char err[LSD_ERRLEN] = "";
	static const int64_t want[][2] = {
		{ 1, 11 }, { 1, 21 }, { 2, 12 }, { 3, 14 }, { 3, 24 }, { 4, 15 }, { 4, 25 },
		{ 11, 21 }, { 13, 23 }, { 14, 24 }, { 15, 25 },
	};

	CHECK_EQ_INT(graph_build(l, n, NULL, 0, &p, &g, err), 0);
	if (!g)
		return;
	CHECK_EQ_INT(g->nedges, LSD_ARRAY_LEN(want));
	CHECK_EQ_INT(g->ndropped, 0);
	for (size_t k = 0; k < LSD_ARRAY_LEN(want); k++)
		CHECK(find_edge(g, want[k][0], want[k][1]) != NULL);
	CHECK(find_edge(g, 4, 14) == NULL);	/* the greedy mistake */
	/* edge order: (from study, from id, to study, to id) */
	CHECK_EQ_INT(g->edges[0].from, 1);
	CHECK_EQ_INT(g->edges[0].to, 11);
	CHECK_EQ_INT(g->edges[1].to, 21);
	CHECK_EQ_INT(g->edges[g->nedges - 1].from, 15);

	const struct graph_edge *e = find_edge(g, 1, 11);

	if (e) {
		CHECK_NEAR(e->d_loc, 0.005, 1e-12);
		CHECK_NEAR(e->size_ratio, 1.3, 1e-12);
		CHECK(isnan(e->d_embed));
		CHECK_NEAR(e->cost, 0.0312364, 1e-6);
		CHECK_NEAR(e->score, 1 - 0.312364, 1e-5);
	}
	e = find_edge(g, 1, 21);
	if (e) {
		CHECK_NEAR(e->cost, 0.0630628, 1e-6);
		CHECK_NEAR(e->size_ratio, 1.7, 1e-12);
	}
	e = find_edge(g, 2, 12);
	if (e)
		CHECK_NEAR(e->score, 1 - 0.101293, 1e-5);
	e = find_edge(g, 4, 25);
	if (e)
		CHECK_NEAR(e->d_loc, 0.022, 1e-12);
	for (size_t k = 0; k < g->nedges; k++)
		CHECK(g->edges[k].score > 0 && g->edges[k].score <= 1);

	/* 5 tracks numbered by first node in (study, id): G 0, V 1, C1 2, C2 3, A 4 */
	CHECK_EQ_INT(g->ntracks, 5);
	CHECK_EQ_INT(track_of(g, 1), 0);
	CHECK_EQ_INT(track_of(g, 11), 0);
	CHECK_EQ_INT(track_of(g, 21), 0);
	CHECK_EQ_INT(track_of(g, 2), 1);
	CHECK_EQ_INT(track_of(g, 12), 1);
	CHECK_EQ_INT(track_of(g, 3), 2);
	CHECK_EQ_INT(track_of(g, 24), 2);
	CHECK_EQ_INT(track_of(g, 4), 3);
	CHECK_EQ_INT(track_of(g, 25), 3);
	CHECK_EQ_INT(track_of(g, 13), 4);
	CHECK_EQ_INT(track_of(g, 23), 4);

	/* the stored-edges path gives the same tracks; an edge naming a stranger is ignored */
	int tr[16];
	struct graph_edge extra[16];

	memcpy(extra, g->edges, g->nedges * sizeof(*extra));
	extra[g->nedges] = extra[0];
	extra[g->nedges].to = 999;
	CHECK_EQ_INT(graph_components(l, n, extra, g->nedges + 1, tr, err), 5);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ_INT(tr[i], g->track[i]);
	CHECK_EQ_INT(graph_components(l, n, extra, 2, tr, err), 11);	/* G only */
	graph_destroy(g);
}

static void test_scenario_recist(void)
{
	struct lesion l[16];
	struct graph_point pts[4];
	const struct lesion *t[3];
	char err[LSD_ERRLEN];

	CHECK_EQ_INT(scenario(l), 13);
	/* G, given out of order: 10 BL; 13 = +30% but +3 mm: SD; 17 = +70%, +7 mm: PD */
	t[0] = &l[9];
	t[1] = &l[0];
	t[2] = &l[4];
	CHECK_EQ_INT(graph_recist(t, 3, 3, pts, err), 3);
	CHECK_EQ_INT(pts[0].id, 1);
	CHECK_EQ_INT(pts[0].cat, GRAPH_BL);
	CHECK_EQ_INT(pts[1].cat, GRAPH_SD);
	CHECK_EQ_INT(pts[2].cat, GRAPH_PD);
	CHECK_NEAR(pts[2].d_base_pct, 70, 1e-9);
	CHECK_NEAR(pts[2].d_nadir_mm, 7, 1e-9);
	CHECK_NEAR(pts[1].short_mm, 7.8, 1e-9);
	/* V: 20, 19, then absent in study 3 -> CR */
	t[0] = &l[1];
	t[1] = &l[5];
	CHECK_EQ_INT(graph_recist(t, 2, 3, pts, err), 3);
	CHECK_EQ_INT(pts[1].cat, GRAPH_SD);
	CHECK_EQ_INT(pts[2].cat, GRAPH_CR);
	CHECK_EQ_INT(pts[2].study, 3);
	CHECK_EQ_INT(pts[2].id, 0);
	CHECK_NEAR(pts[2].sum_mm, 0, 0);
	CHECK_NEAR(pts[2].d_base_pct, -100, 1e-9);
	CHECK_NEAR(pts[2].nadir_mm, 19, 1e-9);
	/* A: 8 -> 9 mm: SD; nothing after study 3 */
	t[0] = &l[6];
	t[1] = &l[10];
	CHECK_EQ_INT(graph_recist(t, 2, 3, pts, err), 2);
	CHECK_EQ_INT(pts[1].cat, GRAPH_SD);
	CHECK_STR(graph_recist_name(pts[1].cat), "SD");
	CHECK(strstr(graph_recist_rule(), "5 mm") != NULL);
}

/* Long diameters at studies 1..n; returns the last category (or -1). */
static int recist_of(const double *mm, size_t n, int latest, struct graph_point *pts)
{
	struct lesion l[8];
	const struct lesion *t[8];
	char err[LSD_ERRLEN];
	int np;

	for (size_t k = 0; k < n; k++) {
		l[k] = mk((int64_t)k + 1, 1, (int)k + 1, 0.5, 0.5, 0.5, mm[k], 4);
		t[k] = &l[k];
	}
	np = graph_recist(t, n, latest, pts, err);
	return np > 0 ? (int)pts[np - 1].cat : -1;
}

static void test_recist_boundaries(void)
{
	struct graph_point pts[9];
	static const double pd_exact[] = { 25, 30 };	/* +20%, +5 mm: PD */
	static const double pct_only[] = { 20, 24 };	/* +20%, +4 mm: not PD */
	static const double mm_only[] = { 50, 59 };	/* +18%, +9 mm: not PD */
	static const double pr_exact[] = { 10, 7 };	/* -30%: PR */
	static const double pr_short[] = { 10, 7.1 };	/* -29%: SD */
	static const double nadir_pd[] = { 40, 20, 25 };	/* +25%, +5 from nadir 20 */
	static const double nadir_pr[] = { 40, 20, 24 };	/* +20%, +4 from nadir: PR */
	static const double nadir_sd[] = { 40, 30, 35 };	/* 35 > 28: not PR; +5 is 16.7% */

	CHECK_EQ_INT(recist_of(pd_exact, 2, 2, pts), GRAPH_PD);
	CHECK_NEAR(pts[1].d_nadir_pct, 20, 1e-9);
	CHECK_EQ_INT(recist_of(pct_only, 2, 2, pts), GRAPH_SD);
	CHECK_EQ_INT(recist_of(mm_only, 2, 2, pts), GRAPH_SD);
	CHECK_EQ_INT(recist_of(pr_exact, 2, 2, pts), GRAPH_PR);
	CHECK_NEAR(pts[1].d_base_pct, -30, 1e-9);
	CHECK_EQ_INT(recist_of(pr_short, 2, 2, pts), GRAPH_SD);
	CHECK_EQ_INT(recist_of(nadir_pd, 3, 3, pts), GRAPH_PD);
	CHECK_EQ_INT(pts[1].cat, GRAPH_PR);
	CHECK_NEAR(pts[2].nadir_mm, 20, 1e-12);
	CHECK_NEAR(pts[2].d_base_pct, -37.5, 1e-9);
	CHECK_NEAR(pts[2].d_nadir_pct, 25, 1e-9);
	CHECK_EQ_INT(recist_of(nadir_pr, 3, 3, pts), GRAPH_PR);
	CHECK_EQ_INT(recist_of(nadir_sd, 3, 3, pts), GRAPH_SD);
	/* one point: baseline; one point and a later study: CR */
	CHECK_EQ_INT(recist_of(pd_exact, 1, 1, pts), GRAPH_BL);
	CHECK_EQ_INT(recist_of(pd_exact, 1, 4, pts), GRAPH_CR);
	CHECK_EQ_INT(pts[1].study, 4);

	/* errors: empty, two lesions in one study, no diameter */
	struct lesion a = mk(1, 1, 1, 0.5, 0.5, 0.5, 10, 4), b = mk(2, 1, 1, 0.5, 0.5, 0.5, 12, 4);
	const struct lesion *t[2] = { &a, &b };
	char err[LSD_ERRLEN] = "";

	CHECK_EQ_INT(graph_recist(t, 0, 1, pts, err), -1);
	CHECK_EQ_INT(graph_recist(t, 2, 1, pts, err), -1);
	CHECK(strstr(err, "same study") != NULL);
	a.diam_mm[0] = 0;
	CHECK_EQ_INT(graph_recist(t, 1, 1, pts, err), -1);
}

/* Transitive conflict: a(s1) 0.40, b(s2) 0.46, c(s3) 0.51, d(s3) 0.40, all 10 mm.
 * Candidates: a-b (0.06, score 0.4), b-c (0.05, 0.5; b's best in s3), a-d (0, 1.0).
 * Taken by score: a-d, b-c, then a-b would join c and d (both study 3): dropped. */
static void test_consistency_rule(void)
{
	struct lesion l[4];
	struct graph_params p = test_params();
	struct graph *g = NULL;
	char err[LSD_ERRLEN];

	l[0] = mk(1, 1, 1, 0.40, 0.5, 0.5, 10, 4);
	l[1] = mk(2, 1, 2, 0.46, 0.5, 0.5, 10, 4);
	l[2] = mk(3, 1, 3, 0.51, 0.5, 0.5, 10, 4);
	l[3] = mk(4, 1, 3, 0.40, 0.5, 0.5, 10, 4);
	CHECK_EQ_INT(graph_build(l, 4, NULL, 0, &p, &g, err), 0);
	if (!g)
		return;
	CHECK_EQ_INT(g->nedges, 2);
	CHECK_EQ_INT(g->ndropped, 1);
	CHECK(find_edge(g, 1, 4) != NULL);
	CHECK(find_edge(g, 2, 3) != NULL);
	CHECK(find_edge(g, 1, 2) == NULL);
	CHECK_EQ_INT(g->ntracks, 2);
	CHECK_EQ_INT(track_of(g, 1), 0);
	CHECK_EQ_INT(track_of(g, 4), 0);
	CHECK_EQ_INT(track_of(g, 2), 1);
	CHECK_EQ_INT(track_of(g, 3), 1);
	graph_destroy(g);
}

/* Two lesions 0.02 apart swap places between studies; their embeddings tell them apart.
 * Location alone: P-Q' and Q-P' cost 0, the true pairs 0.02 each. With w_embed 0.1 and
 * orthogonal vectors the wrong pairs cost 0.1 * sqrt(2) = 0.1414, the true ones 0.02. */
static void test_embedding_and_gates(void)
{
	struct lesion l[5];
	static const float e1[2] = { 1, 0 }, e1b[2] = { 3, 0 }, e2[2] = { 0, 1 },
			   e2b[2] = { 0, 2 };
	const float *emb[5] = { e1, e2, e1b, e2b, NULL };
	struct graph_params p = test_params();
	struct graph *g = NULL;
	char err[LSD_ERRLEN];

	l[0] = mk(1, 1, 1, 0.50, 0.5, 0.5, 10, 4);	/* P */
	l[1] = mk(2, 1, 1, 0.52, 0.5, 0.5, 10, 4);	/* Q */
	l[2] = mk(3, 1, 2, 0.52, 0.5, 0.5, 10, 4);	/* P' */
	l[3] = mk(4, 1, 2, 0.50, 0.5, 0.5, 10, 4);	/* Q' */
	p.threshold = 0.2;
	CHECK_EQ_INT(graph_build(l, 4, NULL, 0, &p, &g, err), 0);
	CHECK(g && find_edge(g, 1, 4) && find_edge(g, 2, 3));
	graph_destroy(g);
	g = NULL;
	p.w_embed = 0.1;
	CHECK_EQ_INT(graph_build(l, 4, emb, 2, &p, &g, err), 0);
	CHECK(g && find_edge(g, 1, 3) && find_edge(g, 2, 4));
	if (g && find_edge(g, 1, 3)) {
		CHECK_NEAR(find_edge(g, 1, 3)->d_embed, 0, 1e-9);
		CHECK_NEAR(find_edge(g, 1, 3)->cost, 0.02, 1e-9);
	}
	graph_destroy(g);
	g = NULL;

	/* no embedding for lesion 5: d_embed NAN, cost from location and size only */
	l[4] = mk(5, 1, 3, 0.50, 0.5, 0.5, 10, 4);
	CHECK_EQ_INT(graph_build(l, 5, emb, 2, &p, &g, err), 0);
	if (g) {
		const struct graph_edge *e = find_edge(g, 4, 5);

		CHECK(e && isnan(e->d_embed));
	}
	graph_destroy(g);
	g = NULL;

	/* gates: different known types never link; unknown (-1) may; distance and size */
	struct lesion t[2];

	t[0] = mk(1, 1, 1, 0.5, 0.5, 0.5, 10, 4);
	t[1] = mk(2, 1, 2, 0.5, 0.5, 0.5, 10, 5);
	CHECK_EQ_INT(graph_build(t, 2, NULL, 0, &p, &g, err), 0);
	CHECK(g && g->nedges == 0 && g->ntracks == 2);
	graph_destroy(g);
	t[1].type = -1;
	CHECK_EQ_INT(graph_build(t, 2, NULL, 0, &p, &g, err), 0);
	CHECK(g && g->nedges == 1 && g->ntracks == 1);
	graph_destroy(g);
	p.type_gate = 0;
	t[1].type = 5;
	CHECK_EQ_INT(graph_build(t, 2, NULL, 0, &p, &g, err), 0);
	CHECK(g && g->nedges == 1);
	graph_destroy(g);
	p.threshold = 100;
	p.max_dloc = 0.1;
	t[1].loc[0] = 0.62;		/* d_loc 0.12 > 0.1 */
	CHECK_EQ_INT(graph_build(t, 2, NULL, 0, &p, &g, err), 0);
	CHECK(g && g->nedges == 0);
	graph_destroy(g);
	t[1].loc[0] = 0.5;
	t[1].diam_mm[0] = 45;		/* ratio 4.5 > 4 */
	CHECK_EQ_INT(graph_build(t, 2, NULL, 0, &p, &g, err), 0);
	CHECK(g && g->nedges == 0);
	graph_destroy(g);

	/* same study never linked, even when identical */
	t[1] = t[0];
	t[1].id = 2;
	CHECK_EQ_INT(graph_build(t, 2, NULL, 0, &p, &g, err), 0);
	CHECK(g && g->nedges == 0 && g->ntracks == 2);
	graph_destroy(g);

	/* errors */
	t[1].patient = 2;
	CHECK_EQ_INT(graph_build(t, 2, NULL, 0, &p, &g, err), -1);
	CHECK(g == NULL);
	t[1].patient = 1;
	t[1].id = 1;
	CHECK_EQ_INT(graph_build(t, 2, NULL, 0, &p, &g, err), -1);
	p.threshold = 0;
	CHECK_EQ_INT(graph_build(t, 1, NULL, 0, &p, &g, err), -1);
	p.threshold = 1;
	CHECK_EQ_INT(graph_build(t, 0, NULL, 0, &p, &g, err), 0);
	CHECK(g && g->n == 0 && g->nedges == 0);
	graph_destroy(g);
	graph_destroy(NULL);
}

/* Patient 1: truth tracks {0,1,2} and {3,4}; predicted {0,1}, {2,3}, {4}.
 *   cross-study pairs: (0,1) TP, (0,2) FN, (1,2) FN, (2,3) FP, (3,4) FN, others TN.
 * Patient 2 (interleaved, same track ids): truth {5,6}, {7}; predicted the same: (5,6) TP.
 * TP 2, FP 1, FN 3: P 2/3, R 2/5, F1 0.5. Tracks 4, whole 2 (both of patient 2);
 * multi-lesion 3, whole 1. */
static void test_eval(void)
{
	static const int patient[] = { 1, 2, 1, 1, 2, 1, 1, 2 };
	static const int study[] = { 1, 1, 2, 3, 2, 1, 2, 3 };
	static const int64_t truth[] = { 1, 1, 1, 1, 1, 2, 2, 5 };
	static const int64_t pred[] = { 10, 10, 10, 11, 10, 11, 12, 13 };
	/* order above: item0 p1, item5 p2, item1 p1, item2 p1, item6 p2, item3, item4, item7 */
	struct graph_eval ev;
	char err[LSD_ERRLEN];

	CHECK_EQ_INT(graph_eval(patient, study, truth, pred, 8, &ev, err), 0);
	CHECK_EQ_INT(ev.tp, 2);
	CHECK_EQ_INT(ev.fp, 1);
	CHECK_EQ_INT(ev.fn, 3);
	CHECK_NEAR(ev.precision, 2.0 / 3, 1e-12);
	CHECK_NEAR(ev.recall, 0.4, 1e-12);
	CHECK_NEAR(ev.f1, 0.5, 1e-12);
	CHECK_EQ_INT(ev.tracks, 4);
	CHECK_EQ_INT(ev.whole, 2);
	CHECK_EQ_INT(ev.multi_tracks, 3);
	CHECK_EQ_INT(ev.multi_whole, 1);
	CHECK_NEAR(ev.whole_share, 0.5, 1e-12);
	CHECK_EQ_INT(graph_eval(patient, study, truth, pred, 0, &ev, err), 0);
	CHECK_NEAR(ev.f1, 1, 0);
}

/* Calibration on the scenario (two copies as two patients, truth = the hand tracks):
 * threshold 0.001 links nothing (recall 0); 0.1 is perfect, so it must be chosen (a
 * tie with 1.0 goes to the earlier grid value). */
static void test_calibrate(void)
{
	struct lesion l[32];
	int64_t truth[32];
	size_t n = scenario(l);
	static const int64_t tr[] = { 1, 2, 3, 4, 1, 2, 5, 3, 4, 1, 5, 3, 4 };
	static const double wl[] = { 1 }, ws[] = { 0.1 }, thr[] = { 0.001, 0.1, 1.0 };
	struct graph_grid grid = { wl, ws, NULL, thr, 1, 1, 0, 3, NULL, 0, NULL, 0, NULL, 0 };
	struct graph_params p = test_params(), best;
	struct graph_eval ev;
	double run[2] = { 0, 0 };
	char err[LSD_ERRLEN];

	for (size_t i = 0; i < n; i++) {
		truth[i] = tr[i];
		l[n + i] = l[i];
		l[n + i].patient = 8;
		l[n + i].id += 100;
		truth[n + i] = tr[i];
	}
	memset(&best, 0, sizeof(best));
	CHECK_EQ_INT(graph_calibrate(l, 2 * n, NULL, 0, truth, &grid, &p, &best, &ev, run, err), 0);
	/* perfect from 0.1 to the grid's end 1.0, the lower edge refined below 0.1 (above
	 * 0.001): the geometric middle of the refined run */
	CHECK(run[0] > 0.001 && run[0] <= 0.1 && run[1] == 1.0);
	CHECK_NEAR(best.threshold, sqrt(run[0] * run[1]), 1e-12);
	CHECK_NEAR(best.w_size, 0.1, 0);
	CHECK_NEAR(best.max_dloc, 0.25, 0);
	CHECK_NEAR(ev.f1, 1, 1e-12);
	CHECK_EQ_INT(ev.tp, 2 * (3 + 1 + 3 + 3 + 1));
	CHECK_EQ_INT(ev.whole, 10);
	/* the default grid runs too and finds a perfect setting on this easy case */
	CHECK_EQ_INT(graph_calibrate(l, 2 * n, NULL, 0, truth, NULL, &p, &best, &ev, NULL, err), 0);
	CHECK_NEAR(ev.f1, 1, 1e-12);
}

/* The plateau rule. Patient 1: A (study 1, x 0.30) and A' (study 2, x 0.31) are one
 * lesion; V (study 1, x 0.50, 10 mm) vanishes and N (study 2, x 0.56, 20 mm) appears.
 * Types unknown, so only cost and threshold decide:
 *   A-A' costs 0.01 (same size); V-N costs 0.06 + w_size * ln 2.
 *   Perfect iff 0.01 < threshold <= cost(V-N) (links need cost < threshold).
 * Grid thresholds 0.005 0.02 0.03 0.04 0.05 0.1 0.2:
 *   w_size 0:   V-N 0.06   -> perfect run 0.02..0.05 (4 values), refined (0.01, 0.06]
 *   w_size 0.1: V-N 0.1293 -> perfect run 0.02..0.1  (5 values), refined (0.01, 0.1293]
 * The wider (in ln threshold) wins: w_size 0.1, its edges refined to 0.01 (the lowest
 * threshold still linking A-A' is just above it) and 0.06 + 0.1 ln 2, threshold their
 * geometric middle 0.03596. The old "first perfect grid point" rule would have said
 * w_size 0, threshold 0.02; the grid-run rule 0.04. */
static void test_calibrate_plateau(void)
{
	struct lesion l[4];
	int64_t truth[4] = { 1, 1, 2, 3 };
	static const double wl[] = { 1 }, ws[] = { 0, 0.1 };
	static const double thr[] = { 0.005, 0.02, 0.03, 0.04, 0.05, 0.1, 0.2 };
	static const double bad[] = { 0.02, 0.01 };
	struct graph_grid grid = { wl, ws, NULL, thr, 1, 2, 0, 7, NULL, 0, NULL, 0, NULL, 0 };
	struct graph_params p = test_params(), best;
	struct graph_eval ev;
	double run[2] = { 0, 0 };
	char err[LSD_ERRLEN];

	l[0] = mk(1, 1, 1, 0.30, 0.5, 0.5, 10, -1);	/* A */
	l[1] = mk(2, 1, 2, 0.31, 0.5, 0.5, 10, -1);	/* A' */
	l[2] = mk(3, 1, 1, 0.50, 0.5, 0.5, 10, -1);	/* V */
	l[3] = mk(4, 1, 2, 0.56, 0.5, 0.5, 20, -1);	/* N */
	CHECK_EQ_INT(graph_calibrate(l, 4, NULL, 0, truth, &grid, &p, &best, &ev, run, err), 0);
	CHECK_NEAR(best.w_size, 0.1, 0);
	CHECK_NEAR(run[0], 0.01, 1e-5);
	CHECK(run[0] > 0.01);
	CHECK_NEAR(run[1], 0.06 + 0.1 * log(2), 1e-5);
	CHECK(run[1] <= 0.06 + 0.1 * log(2));
	CHECK_NEAR(best.threshold, sqrt(0.01 * (0.06 + 0.1 * log(2))), 1e-5);
	CHECK_NEAR(ev.f1, 1, 1e-12);
	CHECK_EQ_INT(ev.tp, 1);
	CHECK_EQ_INT(ev.whole, 3);
	/* thresholds must ascend */
	grid.threshold = bad;
	grid.n_threshold = 2;
	CHECK_EQ_INT(graph_calibrate(l, 4, NULL, 0, truth, &grid, &p, &best, &ev, run, err), -1);
}

/* The threshold-only grid (graph_grid_threshold): the default grid's thresholds, every
 * weight base's. The plateau case above (A-A' 0.01 apart in x, V-N 0.06 apart, 10 -> 20
 * mm), default thresholds 0.01 0.0125 ... 0.06 0.08 ... 0.3:
 *   base axis 1,1,1, w_size 0: A-A' 0.01, V-N 0.06; perfect iff 0.01 < thr <= 0.06:
 *     run refined to (0.01, 0.06], threshold sqrt(0.01 x 0.06) = 0.024495, w_size 0
 *     kept (the full default grid instead takes w_size 0.2: V-N 0.06 + 0.2 ln 2 = 0.1986,
 *     a wider run);
 *   base axis 2,1,1, w_size 0.1, vote on, wide 1: A-A' 0.02, V-N 0.12 + 0.1 ln 2 =
 *     0.189315; run (0.02, 0.189315], threshold sqrt(0.02 x 0.189315) = 0.061533, and
 *     axis, w_size, vote, wide come back as given. */
static void test_calibrate_threshold_only(void)
{
	struct lesion l[4];
	int64_t truth[4] = { 1, 1, 2, 3 };
	struct graph_params p = test_params(), best;
	struct graph_grid grid;
	struct graph_eval ev;
	double run[2] = { 0, 0 }, vn = 0.12 + 0.1 * log(2);
	char err[LSD_ERRLEN];

	l[0] = mk(1, 1, 1, 0.30, 0.5, 0.5, 10, -1);	/* A */
	l[1] = mk(2, 1, 2, 0.31, 0.5, 0.5, 10, -1);	/* A' */
	l[2] = mk(3, 1, 1, 0.50, 0.5, 0.5, 10, -1);	/* V */
	l[3] = mk(4, 1, 2, 0.56, 0.5, 0.5, 20, -1);	/* N */
	p.w_size = 0;
	graph_grid_threshold(&p, &grid);
	CHECK_EQ_INT(grid.n_loc * grid.n_size * grid.n_embed, 1);
	CHECK_EQ_INT(grid.n_axis + grid.n_vote + grid.n_wide, 0);
	CHECK_EQ_INT(grid.n_threshold, 16);
	CHECK_EQ_INT(graph_calibrate(l, 4, NULL, 0, truth, &grid, &p, &best, &ev, run, err), 0);
	CHECK_NEAR(run[0], 0.01, 1e-6);
	CHECK(run[0] > 0.01);
	CHECK_NEAR(run[1], 0.06, 1e-12);
	CHECK_NEAR(best.threshold, sqrt(0.01 * 0.06), 1e-6);
	CHECK_NEAR(best.w_size, 0, 0);
	CHECK_NEAR(ev.f1, 1, 1e-12);
	CHECK_EQ_INT(graph_calibrate(l, 4, NULL, 0, truth, NULL, &p, &best, &ev, run, err), 0);
	CHECK_NEAR(best.w_size, 0.2, 0);
	CHECK_NEAR(run[1], 0.06 + 0.2 * log(2), 1e-5);

	p.axis[0] = 2;
	p.w_size = 0.1;
	p.shift_vote = 1;
	p.wide = 1;
	graph_grid_threshold(&p, &grid);
	CHECK_EQ_INT(graph_calibrate(l, 4, NULL, 0, truth, &grid, &p, &best, &ev, run, err), 0);
	CHECK_NEAR(run[0], 0.02, 1e-6);
	CHECK_NEAR(run[1], vn, 1e-6);
	CHECK(run[1] <= vn);
	CHECK_NEAR(best.threshold, sqrt(0.02 * vn), 1e-6);
	CHECK_NEAR(best.threshold, 0.061533, 1e-6);
	CHECK_NEAR(best.axis[0], 2, 0);
	CHECK_NEAR(best.axis[1], 1, 0);
	CHECK_NEAR(best.w_size, 0.1, 0);
	CHECK_EQ_INT(best.shift_vote, 1);
	CHECK_NEAR(best.wide, 1, 0);
	CHECK_EQ_INT(ev.tp, 1);
}

static void test_defaults(void)
{
	struct graph_params p;

	graph_params_default(&p);
	CHECK(p.threshold > 0 && p.w_loc >= 0 && p.w_size >= 0 && p.w_embed >= 0);
}

/* Sequential rule, worked out by hand (axis 1,1,1, w_size 0, threshold 0.1, no align):
 * study 1: A (0.30,0.30,0.50), B (0.60,0.40,0.50); study 2: B' (0.62,0.40,0.50) only;
 * study 3: A'' (0.33,0.30,0.50), B'' (0.60,0.43,0.50). Study 2 links B -> B' (0.02);
 * A's track keeps A as its latest lesion, so study 3 is matched against heads {A, B'}:
 * A -> A'' (0.03) and B' -> B'' (sqrt(0.02^2 + 0.03^2) = 0.036). Edges: A->A'', B->B',
 * B'->B'' (consecutive lesions only; the all-pairs rule would also give B->B''). */
static void test_sequential(void)
{
	struct lesion l[5] = {
		mk(1, 3, 1, 0.30, 0.30, 0.50, 10, -1), mk(2, 3, 1, 0.60, 0.40, 0.50, 10, -1),
		mk(3, 3, 2, 0.62, 0.40, 0.50, 10, -1), mk(4, 3, 3, 0.33, 0.30, 0.50, 10, -1),
		mk(5, 3, 3, 0.60, 0.43, 0.50, 10, -1),
	};
	struct graph_params p = test_params();
	struct graph *g = NULL;
	char err[LSD_ERRLEN];
	const struct graph_edge *e;

	p.w_size = 0;
	p.sequential = 1;
	CHECK(graph_build(l, 5, NULL, 0, &p, &g, err) == 0);
	if (!g)
		return;
	CHECK_EQ_INT(g->nedges, 3);
	CHECK_EQ_INT(g->ntracks, 2);
	CHECK((e = find_edge(g, 1, 4)) != NULL && fabs(e->cost - 0.03) < 1e-9);
	CHECK((e = find_edge(g, 2, 3)) != NULL && fabs(e->cost - 0.02) < 1e-9);
	CHECK((e = find_edge(g, 3, 5)) != NULL && fabs(e->cost - sqrt(0.0013)) < 1e-9);
	CHECK(find_edge(g, 2, 5) == NULL);
	CHECK(track_of(g, 1) == track_of(g, 4) && track_of(g, 2) == track_of(g, 5));
	CHECK(track_of(g, 1) != track_of(g, 2));
	graph_destroy(g);
	/* the all-pairs rule on the same lesions adds B -> B'' */
	p.sequential = 0;
	CHECK(graph_build(l, 5, NULL, 0, &p, &g, err) == 0);
	CHECK(g && g->nedges == 4 && find_edge(g, 2, 5) != NULL);
	graph_destroy(g);
}

/* Alignment, by hand: three lesions in study 1, the same three in study 2 all moved by
 * +0.12 in x (beyond the threshold 0.1), plus 0.01 in y for the second.
 * - unaligned: every true pair costs >= 0.12 and crossing pairs cost more: no link;
 * - aligned, align_wide 1: the first assignment links nothing, so no offsets: no link;
 * - aligned, align_wide 2: the first assignment (threshold 0.2) links the three true
 *   pairs, offset = (0.12, 0.01/3, 0); then each costs |0.01 - 0.01/3| or 0.01/3 in y:
 *   three links, the middle one's cost 0.02/3. */
static void test_aligned(void)
{
	struct lesion l[6] = {
		mk(1, 4, 1, 0.20, 0.30, 0.50, 10, -1), mk(2, 4, 1, 0.50, 0.60, 0.50, 10, -1),
		mk(3, 4, 1, 0.70, 0.30, 0.60, 10, -1), mk(4, 4, 2, 0.32, 0.30, 0.50, 10, -1),
		mk(5, 4, 2, 0.62, 0.61, 0.50, 10, -1), mk(6, 4, 2, 0.82, 0.30, 0.60, 10, -1),
	};
	struct graph_params p = test_params();
	struct graph *g = NULL;
	char err[LSD_ERRLEN];
	const struct graph_edge *e;

	p.w_size = 0;
	p.sequential = 1;
	CHECK(graph_build(l, 6, NULL, 0, &p, &g, err) == 0);
	CHECK(g && g->nedges == 0);
	graph_destroy(g);
	p.align = 1;
	p.align_wide = 1;
	CHECK(graph_build(l, 6, NULL, 0, &p, &g, err) == 0);
	CHECK(g && g->nedges == 0);
	graph_destroy(g);
	p.align_wide = 2;
	CHECK(graph_build(l, 6, NULL, 0, &p, &g, err) == 0);
	if (!g)
		return;
	CHECK_EQ_INT(g->nedges, 3);
	CHECK((e = find_edge(g, 2, 5)) != NULL && fabs(e->cost - 0.02 / 3) < 1e-9);
	CHECK((e = find_edge(g, 1, 4)) != NULL && fabs(e->cost - 0.01 / 3) < 1e-9);
	CHECK(find_edge(g, 3, 6) != NULL);
	graph_destroy(g);
}

/* Shift vote, by hand, on test_aligned's geometry (three lesions all moved by +0.12 in
 * x, the second also +0.01 in y; threshold 0.1, align_wide 1): the first assignment links
 * nothing. Every crossing pair is gated (raw displacement > 0.25), so the candidate
 * offsets are the three true pairs' displacements: (0.12, 0, 0) links all three (total
 * 0.01), (0.12, 0.01, 0) links all three (total 0.02); the first wins, then the aligned
 * passes give the mean offset (0.12, 0.01/3, 0): costs 0.01/3, 0.02/3, 0.01/3.
 * A single lesion per study moved the same way is never linked by the vote (a shift
 * must link >= 2 lesions). */
static void test_shift_vote(void)
{
	struct lesion l[6] = {
		mk(1, 4, 1, 0.20, 0.30, 0.50, 10, -1), mk(2, 4, 1, 0.50, 0.60, 0.50, 10, -1),
		mk(3, 4, 1, 0.70, 0.30, 0.60, 10, -1), mk(4, 4, 2, 0.32, 0.30, 0.50, 10, -1),
		mk(5, 4, 2, 0.62, 0.61, 0.50, 10, -1), mk(6, 4, 2, 0.82, 0.30, 0.60, 10, -1),
	};
	struct lesion one[2] = { mk(1, 5, 1, 0.20, 0.30, 0.50, 10, -1),
				 mk(2, 5, 2, 0.32, 0.30, 0.50, 10, -1) };
	struct graph_params p = test_params();
	struct graph *g = NULL;
	char err[LSD_ERRLEN];
	const struct graph_edge *e;

	p.w_size = 0;
	p.sequential = 1;
	p.align = 1;
	p.align_wide = 1;
	p.shift_vote = 0;
	CHECK(graph_build(l, 6, NULL, 0, &p, &g, err) == 0);
	CHECK(g && g->nedges == 0);
	graph_destroy(g);
	p.shift_vote = 1;
	CHECK(graph_build(l, 6, NULL, 0, &p, &g, err) == 0);
	if (!g)
		return;
	CHECK_EQ_INT(g->nedges, 3);
	CHECK((e = find_edge(g, 1, 4)) != NULL && fabs(e->cost - 0.01 / 3) < 1e-9);
	CHECK((e = find_edge(g, 2, 5)) != NULL && fabs(e->cost - 0.02 / 3) < 1e-9);
	CHECK((e = find_edge(g, 3, 6)) != NULL && fabs(e->cost - 0.01 / 3) < 1e-9);
	graph_destroy(g);
	g = NULL;
	/* the vote needs no align pass to be off... but it is part of the aligned rule */
	p.align = 0;
	CHECK(graph_build(l, 6, NULL, 0, &p, &g, err) == 0);
	CHECK(g && g->nedges == 0);
	graph_destroy(g);
	g = NULL;
	p.align = 1;
	CHECK(graph_build(one, 2, NULL, 0, &p, &g, err) == 0);
	CHECK(g && g->nedges == 0);
	graph_destroy(g);
}

/* Unambiguous wide links, by hand (axis 1,1,1, w_size 0, threshold 0.1, no align):
 * A (0.30, 0.30) in study 1, A' (0.45, 0.30) in study 2: cost 0.15, above the threshold.
 * - wide 1 (off): no link; wide 2 (limit 0.2): A -> A' linked, score 0.5 * 0.1 / 0.15;
 * - a second lesion B' (0.30, 0.45) in study 2 also costs 0.15 from A: ambiguous, no link;
 * - instead a second head C (0.60, 0.30) in study 1, also 0.15 from A': no link;
 * - A' at (0.55, 0.30), cost 0.25 >= 0.2: no link. */
static void test_wide(void)
{
	struct lesion l[3];
	struct graph_params p = test_params();
	struct graph *g = NULL;
	char err[LSD_ERRLEN];
	const struct graph_edge *e;

	p.w_size = 0;
	p.sequential = 1;
	l[0] = mk(1, 6, 1, 0.30, 0.30, 0.50, 10, -1);
	l[1] = mk(2, 6, 2, 0.45, 0.30, 0.50, 10, -1);
	p.wide = 1;
	CHECK(graph_build(l, 2, NULL, 0, &p, &g, err) == 0);
	CHECK(g && g->nedges == 0);
	graph_destroy(g);
	g = NULL;
	p.wide = 2;
	CHECK(graph_build(l, 2, NULL, 0, &p, &g, err) == 0);
	CHECK(g && g->nedges == 1);
	CHECK(g && (e = find_edge(g, 1, 2)) != NULL && fabs(e->cost - 0.15) < 1e-9 &&
	      fabs(e->score - 0.5 * 0.1 / 0.15) < 1e-9);
	graph_destroy(g);
	g = NULL;
	l[2] = mk(3, 6, 2, 0.30, 0.45, 0.50, 10, -1);	/* B' */
	CHECK(graph_build(l, 3, NULL, 0, &p, &g, err) == 0);
	CHECK(g && g->nedges == 0);
	graph_destroy(g);
	g = NULL;
	l[2] = mk(3, 6, 1, 0.60, 0.30, 0.50, 10, -1);	/* C */
	CHECK(graph_build(l, 3, NULL, 0, &p, &g, err) == 0);
	CHECK(g && g->nedges == 0);
	graph_destroy(g);
	g = NULL;
	l[1] = mk(2, 6, 2, 0.55, 0.30, 0.50, 10, -1);
	CHECK(graph_build(l, 2, NULL, 0, &p, &g, err) == 0);
	CHECK(g && g->nedges == 0);
	graph_destroy(g);
}

/* Embedding-led links, by hand (axis 1,1,1, w_size 0, w_embed 0, threshold 0.1, no
 * align): A (0.30, 0.30) and B (0.60, 0.30) in study 1, A' (0.30, 0.50) and B' (0.60,
 * 0.50) in study 2: every true pair is 0.2 away (no location link), the crossing pairs
 * sqrt(0.13) = 0.36 (gated). Vectors A (1,0), B (0,1), A' (0.9,0.1), B' (0.1,0.9):
 * - embed_link 0: no link; 1: A -> A' and B -> B' (mutually nearest, within the gates);
 * - A' given (0.1,0.9) too: B' is nearest to B, A' is nearest to B: not mutual for
 *   A (A's nearest is A' or B'; both are nearer to B), A stays alone; B -> B' only
 *   if B and B' are mutually nearest: B's nearest is A' (tie broken by the first
 *   column), A''s nearest head is B; A' is 0.36 from B: gated, so no link at all;
 * - A' at (0.30, 0.60): the true pair is 0.3 > max_dloc 0.25: gated, no link for A. */
static void test_embed_links(void)
{
	struct lesion l[4] = {
		mk(1, 7, 1, 0.30, 0.30, 0.50, 10, -1), mk(2, 7, 1, 0.60, 0.30, 0.50, 10, -1),
		mk(3, 7, 2, 0.30, 0.50, 0.50, 10, -1), mk(4, 7, 2, 0.60, 0.50, 0.50, 10, -1),
	};
	float va[2] = { 1, 0 }, vb[2] = { 0, 1 }, va2[2] = { 0.9f, 0.1f }, vb2[2] = { 0.1f, 0.9f };
	const float *emb[4] = { va, vb, va2, vb2 };
	struct graph_params p = test_params();
	struct graph *g = NULL;
	char err[LSD_ERRLEN];

	p.w_size = 0;
	p.sequential = 1;
	CHECK(graph_build(l, 4, emb, 2, &p, &g, err) == 0);
	CHECK(g && g->nedges == 0);
	graph_destroy(g);
	g = NULL;
	p.embed_link = 1;
	CHECK(graph_build(l, 4, NULL, 0, &p, &g, err) == 0);	/* no vectors: no link */
	CHECK(g && g->nedges == 0);
	graph_destroy(g);
	g = NULL;
	CHECK(graph_build(l, 4, emb, 2, &p, &g, err) == 0);
	CHECK(g && g->nedges == 2 && find_edge(g, 1, 3) != NULL && find_edge(g, 2, 4) != NULL);
	CHECK(g && g->nedges == 2 && g->edges[0].score > 0 && g->edges[0].score <= 0.5);
	graph_destroy(g);
	g = NULL;
	emb[2] = vb2;
	CHECK(graph_build(l, 4, emb, 2, &p, &g, err) == 0);
	CHECK(g && g->nedges == 0);
	graph_destroy(g);
	g = NULL;
	emb[2] = va2;
	l[2].loc[1] = 0.60;
	CHECK(graph_build(l, 4, emb, 2, &p, &g, err) == 0);
	CHECK(g && g->nedges == 1 && find_edge(g, 2, 4) != NULL);
	graph_destroy(g);
}

/* Equal grid runs are told apart by their refined width. A (study 1, 10 mm) and A'
 * (study 2, 20 mm, x + 0.01) are one lesion; V (x 0.50, 10 mm) vanishes, N (x 0.56,
 * 20 mm) appears. A-A' costs 0.01 + w ln 2, V-N 0.06 + w ln 2; perfect iff
 * cost(A-A') < threshold <= cost(V-N). Grid w_size {0.1, 0}, thresholds 0.005 0.05 0.1
 * 0.2: w 0.1 is perfect at 0.1 only, refined (0.0793, 0.1293] (ln width 0.49), w 0 at
 * 0.05 only, refined (0.01, 0.06] (ln width 1.79): runs of 1 grid value each; the wider
 * wins (w_size 0, not the earlier grid row), threshold sqrt(0.01 x 0.06) = 0.0245.
 * Also: shift_vote and wide come from the grid, not from *base. */
static void test_calibrate_ties(void)
{
	struct lesion l[4];
	int64_t truth[4] = { 1, 1, 2, 3 };
	static const double wl[] = { 1 }, ws[] = { 0.1, 0 }, wide[] = { 1 };
	static const double thr[] = { 0.005, 0.05, 0.1, 0.2 };
	static const int vote[] = { 1 };
	struct graph_grid grid = { wl, ws, NULL, thr, 1, 2, 0, 4, NULL, 0, vote, 1, wide, 1 };
	struct graph_params p = test_params(), best;
	struct graph_eval ev;
	char err[LSD_ERRLEN];

	l[0] = mk(1, 1, 1, 0.30, 0.5, 0.5, 10, -1);
	l[1] = mk(2, 1, 2, 0.31, 0.5, 0.5, 20, -1);
	l[2] = mk(3, 1, 1, 0.50, 0.5, 0.5, 10, -1);
	l[3] = mk(4, 1, 2, 0.56, 0.5, 0.5, 20, -1);
	p.sequential = 1;
	p.wide = 3;
	CHECK_EQ_INT(graph_calibrate(l, 4, NULL, 0, truth, &grid, &p, &best, &ev, NULL, err), 0);
	CHECK_NEAR(best.w_size, 0, 0);
	CHECK_NEAR(best.threshold, sqrt(0.01 * 0.06), 1e-5);
	CHECK_NEAR(ev.f1, 1, 1e-12);
	CHECK_EQ_INT(best.shift_vote, 1);
	CHECK_NEAR(best.wide, 1, 0);
}

/* Series duplicates (graph.h): study 1 holds
 *   A (series 1, x 0.30, 20 mm) and A2 (series 2, x 0.31, 22 mm): d 0.01, ratio 1.1 -> one;
 *   C (1, 0.60) and C2 (2, 0.625): d 0.025 > 0.02 -> two;
 *   D (1, 0.80, 20 mm) and D2 (2, 0.81, 26 mm): ratio 1.3 > 1.25 -> two;
 *   E (1, 0.10, type 4) and E2 (2, 0.105, type 5): known, different types -> two;
 *   F and F2 (both series 1, 0.45 / 0.455): one series -> two;
 *   G (1, y 0.2), G2 (2, + 0.005), G3 (2, + 0.01): G-G2 first (nearest), then G-G3 would
 *   put two lesions of series 2 in one group -> G3 alone.
 * Representatives: A for A2, G for G2 (lower series); 2 duplicates. Study 2 holds A'
 * (series 1, x 0.315, 21 mm). Sequential, threshold 0.1, w_size 0.1: with the rule, A2
 * is out of the matching and A -> A' (0.015 + 0.1 ln 1.05) links, A -> A2 is a cost-0
 * edge, so A, A2, A' are one track, and its RECIST has 2 points (A, A'). Without the
 * rule A2 -> A' (0.005 + 0.1 ln(22/21)) wins the assignment over A -> A' and A stays
 * alone. */
static void test_series_dups(void)
{
	struct lesion l[14];
	size_t rep[14], ndup = 99, n = 0;
	struct graph_params p = test_params();
	struct graph *g = NULL;
	struct graph_point pts[4];
	const struct lesion *tl[3];
	const struct graph_edge *e;
	char err[LSD_ERRLEN];

	l[n++] = mk(1, 1, 1, 0.30, 0.5, 0.5, 20, -1);	/* A */
	l[n++] = mk(2, 1, 1, 0.31, 0.5, 0.5, 22, -1);	/* A2 */
	l[n++] = mk(3, 1, 1, 0.60, 0.5, 0.5, 20, -1);	/* C */
	l[n++] = mk(4, 1, 1, 0.625, 0.5, 0.5, 20, -1);	/* C2 */
	l[n++] = mk(5, 1, 1, 0.80, 0.5, 0.5, 20, -1);	/* D */
	l[n++] = mk(6, 1, 1, 0.81, 0.5, 0.5, 26, -1);	/* D2 */
	l[n++] = mk(7, 1, 1, 0.10, 0.5, 0.5, 20, 4);	/* E */
	l[n++] = mk(8, 1, 1, 0.105, 0.5, 0.5, 20, 5);	/* E2 */
	l[n++] = mk(9, 1, 1, 0.45, 0.5, 0.5, 20, -1);	/* F */
	l[n++] = mk(10, 1, 1, 0.455, 0.5, 0.5, 20, -1);	/* F2 */
	l[n++] = mk(11, 1, 1, 0.70, 0.2, 0.5, 20, -1);	/* G */
	l[n++] = mk(12, 1, 1, 0.705, 0.2, 0.5, 20, -1);	/* G2 */
	l[n++] = mk(13, 1, 1, 0.71, 0.2, 0.5, 20, -1);	/* G3 */
	l[n++] = mk(14, 1, 2, 0.315, 0.5, 0.5, 21, -1);	/* A' */
	for (size_t i = 0; i < n; i++)
		l[i].series = 1;
	l[1].series = l[3].series = l[5].series = l[7].series = l[11].series = 2;
	l[12].series = 2;
	p.series_dup = 1;
	CHECK_EQ_INT(graph_series_dups(l, n, &p, rep, &ndup), 0);
	CHECK_EQ_INT(ndup, 2);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ_INT(rep[i], i == 1 ? 0 : i == 11 ? 10 : i);
	/* the representative is the lower series even when its id is higher */
	l[0].series = 3;
	CHECK_EQ_INT(graph_series_dups(l, n, &p, rep, &ndup), 0);
	CHECK(ndup == 2 && rep[0] == 1 && rep[1] == 1);
	l[0].series = 1;
	/* the rule off: nobody is a duplicate */
	p.series_dup = 0;
	CHECK_EQ_INT(graph_series_dups(l, n, &p, rep, &ndup), 0);
	CHECK_EQ_INT(ndup, 0);

	/* the matching: A, A2 (study 1) and A' (study 2) */
	struct lesion m[3] = { l[0], l[1], l[13] };

	p.sequential = 1;
	p.series_dup = 1;
	CHECK_EQ_INT(graph_build(m, 3, NULL, 0, &p, &g, err), 0);
	CHECK(g && g->ntracks == 1 && g->track[0] == 0 && g->track[1] == 0 && g->track[2] == 0);
	CHECK(g && g->nedges == 2);
	e = g ? find_edge(g, 1, 2) : NULL;
	CHECK(e && e->cost == 0 && e->score == 1);
	CHECK(e && fabs(e->d_loc - 0.01) < 1e-9 && fabs(e->size_ratio - 1.1) < 1e-9);
	CHECK(g && find_edge(g, 1, 14) != NULL);
	graph_destroy(g);
	tl[0] = &m[2];
	tl[1] = &m[1];
	tl[2] = &m[0];
	CHECK_EQ_INT(graph_recist(tl, 3, 2, pts, err), 2);
	CHECK(pts[0].id == 1 && pts[1].id == 14);
	CHECK_NEAR(pts[1].d_base_mm, 1, 1e-9);
	p.series_dup = 0;
	CHECK_EQ_INT(graph_build(m, 3, NULL, 0, &p, &g, err), 0);
	CHECK(g && g->ntracks == 2 && g->track[1] == g->track[2] && g->track[0] != g->track[1]);
	graph_destroy(g);
}

/* Bagged calibration on the plateau case of test_calibrate_plateau as two identical
 * patients (ids 1..4 and 11..14): every bootstrap sample is copies of that patient (a
 * patient drawn twice becomes two patients with the same ids, which graph_build must
 * accept), so every bag chooses w_size 0.1 and threshold sqrt(0.01 x 0.1293), and so does
 * the bagged result; scored on both patients: tp 2, 6 tracks whole. bags 0 is
 * graph_calibrate itself. */
static void test_calibrate_bagged(void)
{
	struct lesion l[8];
	int64_t truth[8] = { 1, 1, 2, 3, 1, 1, 2, 3 };
	static const double wl[] = { 1 }, ws[] = { 0, 0.1 };
	static const double thr[] = { 0.005, 0.02, 0.03, 0.04, 0.05, 0.1, 0.2 };
	struct graph_grid grid = { wl, ws, NULL, thr, 1, 2, 0, 7, NULL, 0, NULL, 0, NULL, 0 };
	struct graph_params p = test_params(), best, b0;
	struct graph_eval ev, ev0;
	double run[2] = { 0, 0 };
	char err[LSD_ERRLEN];

	l[0] = mk(1, 1, 1, 0.30, 0.5, 0.5, 10, -1);
	l[1] = mk(2, 1, 2, 0.31, 0.5, 0.5, 10, -1);
	l[2] = mk(3, 1, 1, 0.50, 0.5, 0.5, 10, -1);
	l[3] = mk(4, 1, 2, 0.56, 0.5, 0.5, 20, -1);
	for (int i = 0; i < 4; i++) {
		l[4 + i] = l[i];
		l[4 + i].id += 10;
		l[4 + i].patient = 2;
	}
	CHECK_EQ_INT(graph_calibrate_bagged(l, 8, NULL, 0, truth, &grid, &p, 7, 5, &best, &ev,
					    run, err), 0);
	CHECK_NEAR(best.w_size, 0.1, 0);
	CHECK_NEAR(best.threshold, sqrt(0.01 * (0.06 + 0.1 * log(2))), 1e-5);
	CHECK_NEAR(run[0], best.threshold, 1e-12);
	CHECK_NEAR(run[1], best.threshold, 1e-12);
	CHECK_EQ_INT(ev.tp, 2);
	CHECK_EQ_INT(ev.fp, 0);
	CHECK_EQ_INT(ev.whole, 6);
	CHECK_EQ_INT(graph_calibrate_bagged(l, 8, NULL, 0, truth, &grid, &p, 0, 5, &b0, &ev0,
					    run, err), 0);
	CHECK_NEAR(b0.threshold, best.threshold, 1e-12);
	CHECK_NEAR(run[1], 0.06 + 0.1 * log(2), 1e-5);
}

int main(void)
{
	RUN(test_assign_vs_brute);
	RUN(test_scenario_graph);
	RUN(test_scenario_recist);
	RUN(test_recist_boundaries);
	RUN(test_consistency_rule);
	RUN(test_embedding_and_gates);
	RUN(test_eval);
	RUN(test_calibrate);
	RUN(test_calibrate_plateau);
	RUN(test_calibrate_threshold_only);
	RUN(test_defaults);
	RUN(test_sequential);
	RUN(test_aligned);
	RUN(test_shift_vote);
	RUN(test_wide);
	RUN(test_embed_links);
	RUN(test_calibrate_ties);
	RUN(test_series_dups);
	RUN(test_calibrate_bagged);
	return unit_done();
}
