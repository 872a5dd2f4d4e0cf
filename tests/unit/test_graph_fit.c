/* test_graph_fit.c - the scale-model calibration (graph_fit.h): the chi-square quantile
 * against table values and a closed form, the fitted scales and parameters of a
 * hand-worked set of links (consecutive, one lesion per study, labelled only, sizes
 * only where both diameters exist), the quadrature cost, and the fitted threshold
 * deciding a link in graph_build. Every expected value is worked out in the comments. */
#include "graph.h"
#include "graph_fit.h"
#include "util.h"

#include "graph_mk.h"
#include "unit.h"

/* type 0 (unknown): the scale model's cases never gate on types */
static struct lesion mk(int64_t id, int patient, int study, int series, double x, double y,
			double z, double long_mm)
{
	return unit_lesion(id, patient, study, series, x, y, z, long_mm, 0);
}

static struct graph_params base_params(void)
{
	struct graph_params p;

	graph_params_default(&p);
	return p;
}

/* chi-square, 4 degrees of freedom: F(x) = 1 - exp(-x/2)(1 + x/2). Table values
 * (Abramowitz & Stegun 26.8): 0.95 -> 9.4877, 0.99 -> 13.2767; and the closed form
 * x = 2: F = 1 - 2/e. */
static void test_quantile(void)
{
	CHECK_NEAR(graph_chi2_4_quantile(0.95), 9.4877, 1e-4);
	CHECK_NEAR(graph_chi2_4_quantile(0.99), 13.2767, 1e-4);
	CHECK_NEAR(graph_chi2_4_quantile(1 - 2 / exp(1.0)), 2.0, 1e-9);
	CHECK(isnan(graph_chi2_4_quantile(0)));
	CHECK(isnan(graph_chi2_4_quantile(1)));
}

/* The hand set. Links (b - a: dx, dy, dz, ln long ratio):
 *   patient 1, track 7: A1 (study 1) -> A2 (study 2, series 1) -> A3 (study 3)
 *     L1 A1 -> A2  +0.04 +0.02 +0.005  +0.1
 *     L2 A2 -> A3  +0.05 -0.04 -0.010  -0.2
 *     A2x: study 2, series 2, same track, smaller id, 0.30 off in x: not a link member
 *     (one lesion per study: the lowest series); with it the links would change.
 *   patient 1, track 8: B1 (study 1) -> B3 (study 3)
 *     L3           +0.01 +0.06 +0.010  +0.3
 *   patient 2, track 8 (the number of patient 1's last track: compared within a
 *   patient, else B3 -> C1 would be a link)
 *     L4 C1 -> C2  +0.02 -0.08 -0.005  -0.4
 *   patient 2, track 9: D1 (study 1) -> D2 (study 2) -> D3 (study 4, no long diameter)
 *     L5 D1 -> D2  +0.03 +0.10 +0.010  +0.5
 *     L6 D2 -> D3  +0.03  0.00 +0.020  (no size)
 *   unlabelled U1 (patient 1, study 1), U2 (study 3): 0.2 apart in y, not a link.
 * |dx| {.01 .02 .03 .03 .04 .05} median 0.03; |dy| {0 .02 .04 .06 .08 .10} median 0.05;
 * |dz| {.005 .005 .01 .01 .01 .02} median 0.01; |ln r| {.1 .2 .3 .4 .5} median 0.3.
 * (All cross-study pairs instead of consecutive ones add A1 -> A3, dx 0.09, and
 * D1 -> D3, dx 0.06: median 0.035. The deviation about the median instead of 0 gives
 * median |dx - 0.03| = 0.01.)
 * s = 1.4826 x median: s_x 0.044478, s_y 0.07413, s_z 0.014826, s_r 0.44478.
 * Parameters: axis 1, 0.03/0.05 = 0.6, 0.03/0.01 = 3; w_size 0.03/0.3 = 0.1;
 * threshold s_x sqrt(13.2767) = 0.044478 x 3.643721 = 0.162065. */
#define NSET 14
static void hand_set(struct lesion *l, int64_t *t)
{
	double e1 = 20 * exp(0.1), e2 = e1 * exp(-0.2);
	size_t k = 0;

	l[k] = mk(1, 1, 1, 1, 0.40, 0.50, 0.500, 20);			t[k++] = 7;	/* A1 */
	l[k] = mk(5, 1, 2, 1, 0.44, 0.52, 0.505, e1);			t[k++] = 7;	/* A2 */
	l[k] = mk(2, 1, 2, 2, 0.70, 0.52, 0.505, 9);			t[k++] = 7;	/* A2x */
	l[k] = mk(6, 1, 3, 1, 0.49, 0.48, 0.495, e2);			t[k++] = 7;	/* A3 */
	l[k] = mk(7, 1, 1, 1, 0.20, 0.30, 0.300, 10);			t[k++] = 8;	/* B1 */
	l[k] = mk(8, 1, 3, 1, 0.21, 0.36, 0.310, 10 * exp(0.3));	t[k++] = 8;	/* B3 */
	l[k] = mk(9, 1, 1, 1, 0.80, 0.20, 0.700, 15);	t[k++] = GRAPH_UNLABELLED;	/* U1 */
	l[k] = mk(10, 1, 3, 1, 0.80, 0.40, 0.700, 15);	t[k++] = GRAPH_UNLABELLED;	/* U2 */
	l[k] = mk(11, 2, 1, 1, 0.30, 0.60, 0.400, 30);			t[k++] = 8;	/* C1 */
	l[k] = mk(12, 2, 2, 1, 0.32, 0.52, 0.395, 30 * exp(-0.4));	t[k++] = 8;	/* C2 */
	l[k] = mk(13, 2, 1, 1, 0.60, 0.30, 0.600, 12);			t[k++] = 9;	/* D1 */
	l[k] = mk(14, 2, 2, 1, 0.63, 0.40, 0.610, 12 * exp(0.5));	t[k++] = 9;	/* D2 */
	l[k] = mk(15, 2, 4, 1, 0.66, 0.40, 0.630, 0);			t[k++] = 9;	/* D3 */
	l[k] = mk(16, 2, 4, 1, 0.10, 0.10, 0.100, 8);	t[k++] = GRAPH_UNLABELLED;
}

/* The hand set with default base parameters, and the scale fit of it at quantile q. */
struct hand {
	struct lesion l[NSET];
	int64_t t[NSET];
	struct graph_params base, p;
	struct graph_scales sc;
	char err[LSD_ERRLEN];
};

static void hand_init(struct hand *h)
{
	hand_set(h->l, h->t);
	h->base = base_params();
}

static int hand_fit(struct hand *h, double q)
{
	return graph_fit_scales(h->l, NSET, h->t, q, &h->base, &h->p, &h->sc, h->err);
}

static void test_fit_hand(void)
{
	struct hand h;

	hand_init(&h);
	CHECK_EQ_INT(hand_fit(&h, 0.99), 0);
	CHECK_EQ_INT(h.sc.links, 6);
	CHECK_EQ_INT(h.sc.size_links, 5);
	CHECK_NEAR(h.sc.s[0], 0.044478, 1e-6);
	CHECK_NEAR(h.sc.s[1], 0.07413, 1e-6);
	CHECK_NEAR(h.sc.s[2], 0.014826, 1e-6);
	CHECK_NEAR(h.sc.s_r, 0.44478, 1e-6);
	CHECK_NEAR(h.sc.d, 3.643721, 1e-5);
	CHECK_NEAR(h.p.w_loc, 1, 0);
	CHECK_NEAR(h.p.axis[0], 1, 1e-12);
	CHECK_NEAR(h.p.axis[1], 0.6, 1e-9);
	CHECK_NEAR(h.p.axis[2], 3, 1e-9);
	CHECK_NEAR(h.p.w_size, 0.1, 1e-9);
	CHECK_NEAR(h.p.w_embed, 0, 0);
	CHECK_EQ_INT(h.p.size_quad, 1);
	CHECK_NEAR(h.p.threshold, 0.162065, 2e-6);
	/* the rest is base's */
	CHECK_EQ_INT(h.p.sequential, h.base.sequential);
	CHECK_EQ_INT(h.p.shift_vote, h.base.shift_vote);
	CHECK_EQ_INT(h.p.series_dup, h.base.series_dup);
	CHECK_NEAR(h.p.max_dloc, h.base.max_dloc, 0);
	CHECK_NEAR(h.p.max_size_ratio, h.base.max_size_ratio, 0);

	/* input order does not matter: reversed */
	{
		struct lesion r[NSET];
		int64_t rt[NSET];
		struct graph_params q;

		for (size_t i = 0; i < NSET; i++) {
			r[i] = h.l[NSET - 1 - i];
			rt[i] = h.t[NSET - 1 - i];
		}
		CHECK_EQ_INT(graph_fit_scales(r, NSET, rt, 0.99, &h.base, &q, NULL, h.err), 0);
		CHECK_NEAR(q.threshold, h.p.threshold, 1e-12);
		CHECK_NEAR(q.axis[1], h.p.axis[1], 1e-12);
		CHECK_NEAR(q.w_size, h.p.w_size, 1e-12);
	}
	/* q = 0.95: threshold s_x sqrt(9.4877) = 0.044478 x 3.080211 = 0.137002 */
	CHECK_EQ_INT(hand_fit(&h, 0.95), 0);
	CHECK_NEAR(h.p.threshold, 0.137002, 2e-6);
}

/* Too few links, a bad quantile, and scales floored instead of dividing by zero. */
static void test_fit_edges(void)
{
	struct hand h;

	hand_init(&h);
	/* patient 2 unlabelled: L1, L2, L3 left = 3 links < 4 */
	for (size_t i = 8; i < NSET; i++)
		h.t[i] = GRAPH_UNLABELLED;
	CHECK_EQ_INT(hand_fit(&h, 0.99), -1);
	CHECK(strstr(h.err, "3 labelled links") != NULL);
	/* six links but only L2, L3 with both diameters (A1, C1, D1 without): 2 < 4 */
	hand_init(&h);
	h.l[0].diam_mm[0] = h.l[8].diam_mm[0] = h.l[10].diam_mm[0] = 0;
	CHECK_EQ_INT(hand_fit(&h, 0.99), -1);
	CHECK(strstr(h.err, "6 labelled links (2 with both long diameters)") != NULL);
	hand_init(&h);
	CHECK_EQ_INT(hand_fit(&h, 1.0), -1);
	CHECK_EQ_INT(hand_fit(&h, 0.0), -1);
	/* nobody moved, nothing changed size: every scale at its floor; threshold
	 * 1e-4 x 3.643721, axis 1, 1, 1, w_size 1e-4 / 1e-3 = 0.1 */
	for (size_t i = 0; i < NSET; i++) {
		h.l[i].loc[0] = h.l[i].loc[1] = h.l[i].loc[2] = 0.5;
		h.l[i].diam_mm[0] = h.l[i].diam_mm[0] > 0 ? 10 : 0;
	}
	CHECK_EQ_INT(hand_fit(&h, 0.99), 0);
	CHECK_NEAR(h.sc.s[0], GRAPH_FIT_MIN_LOC, 0);
	CHECK_NEAR(h.sc.s_r, GRAPH_FIT_MIN_SIZE, 0);
	CHECK_NEAR(h.p.axis[1], 1, 1e-12);
	CHECK_NEAR(h.p.axis[2], 1, 1e-12);
	CHECK_NEAR(h.p.w_size, 0.1, 1e-12);
	CHECK_NEAR(h.p.threshold, 3.643721e-4, 1e-9);
}

/* size_quad: d_loc (isotropic) 0.05 (0.03, 0.04, 0), ln ratio 0.5, w_size 0.24:
 * quadrature sqrt(0.05^2 + 0.12^2) = 0.13; the sum 0.05 + 0.12 = 0.17. */
static void test_quad_cost(void)
{
	struct graph_params p = base_params();
	struct lesion a = mk(1, 1, 1, 1, 0.5, 0.5, 0.5, 10);
	struct lesion b = mk(2, 1, 2, 1, 0.53, 0.54, 0.5, 10 * exp(0.5));
	struct graph_pair e;

	p.axis[0] = p.axis[1] = p.axis[2] = 1;
	p.w_loc = 1;
	p.w_size = 0.24;
	p.size_quad = 1;
	graph_pair_evidence(&a, &b, NULL, NULL, 0, &p, &e);
	CHECK_NEAR(e.d_loc, 0.05, 1e-12);
	CHECK_NEAR(e.cost, 0.13, 1e-12);
	p.size_quad = 0;
	graph_pair_evidence(&a, &b, NULL, NULL, 0, &p, &e);
	CHECK_NEAR(e.cost, 0.17, 1e-12);
}

/* The fitted parameters of the hand set decide a two-study patient's one pair at
 * D = sqrt((dx/s_x)^2 + (dy/s_y)^2 + (dz/s_z)^2 + (ln r/s_r)^2) < 3.643721:
 *   dx = 3.60 s_x: D 3.60, linked;        dx = 3.70 s_x: D 3.70, not linked;
 *   dz = 3.60 s_z (z weighted 3x): linked; dz = 3.70 s_z: not;
 *   dx = 2 s_x, ln r = 3 s_r: D sqrt(13) = 3.606, linked (the weighted sum would be
 *   2 + 3 = 5 units: not);  dx = 2.2 s_x, ln r = 3 s_r: D sqrt(13.84) = 3.720, not. */
static int links(const struct graph_params *p, double dx, double dz, double lnr)
{
	struct lesion l[2];
	struct graph *g = NULL;
	char err[LSD_ERRLEN];
	int r;

	l[0] = mk(1, 5, 1, 1, 0.40, 0.5, 0.5, 10);
	l[1] = mk(2, 5, 2, 1, 0.40 + dx, 0.5, 0.5 + dz, 10 * exp(lnr));
	if (graph_build(l, 2, NULL, 0, p, &g, err))
		return -1;
	r = g->nedges == 1 && g->track[0] == g->track[1];
	graph_destroy(g);
	return r;
}

static void test_fit_decides(void)
{
	struct hand h;
	const double sx = 0.044478, sz = 0.014826, sr = 0.44478;

	hand_init(&h);
	CHECK_EQ_INT(hand_fit(&h, 0.99), 0);
	CHECK_EQ_INT(links(&h.p, 3.60 * sx, 0, 0), 1);
	CHECK_EQ_INT(links(&h.p, 3.70 * sx, 0, 0), 0);
	CHECK_EQ_INT(links(&h.p, 0, 3.60 * sz, 0), 1);
	CHECK_EQ_INT(links(&h.p, 0, 3.70 * sz, 0), 0);
	CHECK_EQ_INT(links(&h.p, 2 * sx, 0, 3 * sr), 1);
	CHECK_EQ_INT(links(&h.p, 2.2 * sx, 0, 3 * sr), 0);
}

int main(void)
{
	RUN(test_quantile);
	RUN(test_fit_hand);
	RUN(test_fit_edges);
	RUN(test_quad_cost);
	RUN(test_fit_decides);
	return unit_done();
}
