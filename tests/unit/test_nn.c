/* test_nn.c - the lesion network: every layer's gradient against finite differences,
 * the whole network's, determinism for a seed (and across thread counts), a model blob
 * round trip, and a tiny synthetic problem where only the pixels carry the class. */
#include "cnn.h"
#include "descriptor.h"
#include "lesion.h"
#include "util.h"
#include "nn.h"
#include "rng.h"
#include "unit.h"

static struct rng R;

static void fill(float *v, size_t n, double sd)
{
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = (float)(sd * rng_normal(&R));
}

static double dotf(const float *a, const float *b, size_t n)
{
	double s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

/* relative agreement of an analytic and a numeric derivative */
static int close_enough(double an, double nu, double tol)
{
	return fabs(an - nu) <= tol * (fabs(an) + fabs(nu)) + tol * 0.05;
}

enum { C = 3, H = 6, W = 6, CO = 4 };

static double conv_loss(const float *in, const float *wt, const float *b, const float *r)
{
	float col[9 * C * H * W], out[CO * H * W];

	nn_conv3_fwd(in, C, H, W, wt, b, CO, col, out);
	return dotf(out, r, CO * H * W);
}

static void test_conv_grad(void)
{
	float in[C * H * W], wt[CO * 9 * C], b[CO], r[CO * H * W];
	float col[9 * C * H * W], dcol[9 * C * H * W], dw[CO * 9 * C] = { 0 }, db[CO] = { 0 };
	float din[C * H * W];
	const float eps = 1e-2f;
	int i, bad = 0;

	fill(in, C * H * W, 1);
	fill(wt, CO * 9 * C, 0.5);
	fill(b, CO, 0.5);
	fill(r, CO * H * W, 1);
	nn_conv3_bwd(in, C, H, W, wt, CO, r, col, dcol, dw, db, din);
	for (i = 0; i < C * H * W; i++) {
		float s = in[i];
		double lp, lm;

		in[i] = s + eps;
		lp = conv_loss(in, wt, b, r);
		in[i] = s - eps;
		lm = conv_loss(in, wt, b, r);
		in[i] = s;
		bad += !close_enough(din[i], (lp - lm) / (2 * eps), 1e-2);
	}
	for (i = 0; i < CO * 9 * C; i++) {
		float s = wt[i];
		double lp, lm;

		wt[i] = s + eps;
		lp = conv_loss(in, wt, b, r);
		wt[i] = s - eps;
		lm = conv_loss(in, wt, b, r);
		wt[i] = s;
		bad += !close_enough(dw[i], (lp - lm) / (2 * eps), 1e-2);
	}
	for (i = 0; i < CO; i++) {
		float s = b[i];
		double lp, lm;

		b[i] = s + eps;
		lp = conv_loss(in, wt, b, r);
		b[i] = s - eps;
		lm = conv_loss(in, wt, b, r);
		b[i] = s;
		bad += !close_enough(db[i], (lp - lm) / (2 * eps), 1e-2);
	}
	CHECK_EQ_INT(bad, 0);
}

static void test_pool_gap_relu_grad(void)
{
	float in[C * H * W], out[C * H * W / 4], r[C * H * W / 4], din[C * H * W];
	float g[C], rg[C], dg[C * H * W] = { 0 }, y[C * H * W], ry[C * H * W], dy[C * H * W];
	int arg[C * H * W / 4], i, bad = 0;
	const float eps = 1e-3f;

	fill(in, C * H * W, 1);
	fill(r, C * H * W / 4, 1);
	nn_pool2_fwd(in, C, H, W, out, arg);
	nn_pool2_bwd(r, arg, C, H, W, din);
	for (i = 0; i < C * H * W; i++) {
		float s = in[i];
		double lp, lm;

		in[i] = s + eps;
		nn_pool2_fwd(in, C, H, W, out, arg);
		lp = dotf(out, r, C * H * W / 4);
		in[i] = s - eps;
		nn_pool2_fwd(in, C, H, W, out, arg);
		lm = dotf(out, r, C * H * W / 4);
		in[i] = s;
		bad += !close_enough(din[i], (lp - lm) / (2 * eps), 2e-2);
	}
	fill(rg, C, 1);
	nn_gap_bwd(rg, C, H * W, dg);
	for (i = 0; i < C * H * W; i++) {
		float s = in[i];
		double lp, lm;

		in[i] = s + 1e-2f;
		nn_gap_fwd(in, C, H * W, g);
		lp = dotf(g, rg, C);
		in[i] = s - 1e-2f;
		nn_gap_fwd(in, C, H * W, g);
		lm = dotf(g, rg, C);
		in[i] = s;
		bad += !close_enough(dg[i], (lp - lm) / 2e-2, 1e-2);
	}
	/* centre average pool over rows/columns 1..4 of the 6 x 6 planes */
	memset(dg, 0, sizeof(dg));
	nn_cap_bwd(rg, C, H, W, 1, 5, dg);
	for (i = 0; i < C * H * W; i++) {
		float s = in[i];
		double lp, lm;

		in[i] = s + 1e-2f;
		nn_cap_fwd(in, C, H, W, 1, 5, g);
		lp = dotf(g, rg, C);
		in[i] = s - 1e-2f;
		nn_cap_fwd(in, C, H, W, 1, 5, g);
		lm = dotf(g, rg, C);
		in[i] = s;
		bad += !close_enough(dg[i], (lp - lm) / 2e-2, 1e-2);
	}
	/* ReLU: away from the kink the derivative is 0 or 1 */
	fill(ry, C * H * W, 1);
	for (i = 0; i < C * H * W; i++)
		y[i] = in[i];
	nn_relu_fwd(y, C * H * W);
	memcpy(dy, ry, sizeof(dy));
	nn_relu_bwd(y, dy, C * H * W);
	for (i = 0; i < C * H * W; i++) {
		double xp = in[i] + 1e-3, xm = in[i] - 1e-3;
		double nu = ((xp > 0 ? xp : 0) - (xm > 0 ? xm : 0)) / 2e-3 * ry[i];

		if (fabs(in[i]) > 2e-3)
			bad += !close_enough(dy[i], nu, 1e-3);
	}
	CHECK_EQ_INT(bad, 0);
}

static void test_fc_l2n_grad(void)
{
	enum { NI = 7, NO = 5 };
	float in[NI], wt[NO * NI], b[NO], z[NO], y[NO], r[NO], dz[NO], dw[NO * NI] = { 0 };
	float db[NO] = { 0 }, din[NI], norm;
	const float eps = 1e-2f;
	int i, bad = 0;

	fill(in, NI, 1);
	fill(wt, NO * NI, 0.5);
	fill(b, NO, 0.5);
	fill(r, NO, 1);
	/* L = r . l2n(fc(in)) */
	nn_fc_fwd(in, NI, wt, b, NO, z);
	norm = nn_l2n_fwd(z, NO, y);
	nn_l2n_bwd(y, norm, r, NO, dz);
	nn_fc_bwd(in, NI, wt, NO, dz, dw, db, din);
	for (i = 0; i < NI + NO * NI; i++) {
		float *v = i < NI ? &in[i] : &wt[i - NI], s = *v;
		double lp, lm, an = i < NI ? din[i] : dw[i - NI];

		*v = s + eps;
		nn_fc_fwd(in, NI, wt, b, NO, z);
		nn_l2n_fwd(z, NO, y);
		lp = dotf(y, r, NO);
		*v = s - eps;
		nn_fc_fwd(in, NI, wt, b, NO, z);
		nn_l2n_fwd(z, NO, y);
		lm = dotf(y, r, NO);
		*v = s;
		bad += !close_enough(an, (lp - lm) / (2 * eps), 3e-2);
	}
	CHECK_EQ_INT(bad, 0);
}

enum { HD = 6, HNH = 8 * (HD + 1) };

/* How many of p[0..n-1] (coordinates of the head's input y or of its weights) have an
 * analytic gradient an[] that central differences of cnn_head_loss do not confirm. */
static int head_fd_bad(const float *head, const float *y, float *p, const float *an, int n)
{
	float d0[HD] = { 0 }, g0[HNH] = { 0 };
	const float eps = 1e-2f;
	int i, bad = 0;

	for (i = 0; i < n; i++) {
		float v = p[i];
		double lp, lm;

		p[i] = v + eps;
		lp = cnn_head_loss(head, HD, y, 3, 0.7, d0, g0);
		p[i] = v - eps;
		lm = cnn_head_loss(head, HD, y, 3, 0.7, d0, g0);
		p[i] = v;
		bad += !close_enough(an[i], (lp - lm) / (2 * eps), 1e-2);
	}
	return bad;
}

/* The auxiliary type head's cross-entropy, w.r.t. its input and its weights. */
static void test_head_grad(void)
{
	float head[HNH], y[HD], dy[HD] = { 0 }, gh[HNH] = { 0 }, d0[HD] = { 0 }, g0[HNH] = { 0 };

	fill(head, HNH, 0.5);
	fill(y, HD, 1);
	cnn_head_loss(head, HD, y, 3, 0.7, dy, gh);
	CHECK_EQ_INT(head_fd_bad(head, y, y, dy, HD), 0);
	CHECK_EQ_INT(head_fd_bad(head, y, head, gh, HNH), 0);
	/* a cross-entropy is never negative */
	CHECK(cnn_head_loss(head, HD, y, 3, 1, d0, g0) >= 0);
}

static const struct cnn_arch tiny = { 16, 1.0, 4, 8, 1, 0 };	/* with centre pooling */
static const struct cnn_arch tiny_aux = { 16, 1.0, 4, 8, 1, 5 };	/* + 5 extra FC inputs */

/* The whole network with the sequence loss, on random coordinates of every layer;
 * drop: with a fixed dropout mask (p 0.5) on the FC input of each sample; a: the
 * architecture (tiny_aux: random extra FC inputs, their FC weights among the checked). */
static void network_grad(const struct cnn_arch *a, int drop)
{
	struct cnn_model *m;
	char err[256];
	float *x[4], *mk[4], *ax[4], *g, *p;
	size_t np, i, q, ni = 0, *idx;
	int k, bad = 0, tried = 0, nf, j;
	const int n = CNN_CH * 16 * 16;
	const float *const *mask;
	double l0;

	CHECK(cnn_model_create(a, 3, &m, err) == 0);
	p = cnn_model_params(m, &np);
	nf = cnn_model_nfeat(m);
	CHECK(nf == 2 * (4 + 8 + 16) + a->aux);
	g = calloc(np, sizeof(float));
	for (k = 0; k < 4; k++) {
		x[k] = malloc(n * sizeof(float));
		fill(x[k], n, 1);
		mk[k] = malloc(nf * sizeof(float));
		for (j = 0; j < nf; j++)
			mk[k][j] = rng_uniform(&R) < 0.5 ? 0.0f : 2.0f;
		ax[k] = malloc((a->aux + 1) * sizeof(float));
		fill(ax[k], a->aux, 1);
	}
	mask = drop ? (const float *const *)mk : NULL;
	/* margin 4: every triplet active */
	l0 = cnn_seq_loss_ex(m, (const float *const *)x, (const float *const *)ax, 3, 4.0, mask, g);
	CHECK(l0 > 0);
	/* the mask is applied: the loss differs from the one without it */
	if (drop || a->aux)
		CHECK(fabs(l0 - cnn_seq_loss(m, (const float *const *)x, 3, 4.0, NULL)) > 1e-6);
	/* every 1 + np/97-th parameter, then every FC weight of the extra inputs (row o of the
	 * FC: nf weights, the aux last; the dim biases follow the FC weights) */
	idx = malloc((np + 1) * sizeof(size_t));
	for (i = 0; i < np; i += 1 + np / 97)
		idx[ni++] = i;
	for (q = 0; q < (size_t)a->aux * a->dim; q++)
		idx[ni++] = np - (size_t)a->dim - (size_t)a->dim * nf + q / a->aux * nf +
			    (nf - a->aux) + q % a->aux;
	for (q = 0; q < ni; q++) {
		float s;
		double lp, lm, nu;

		i = idx[q];
		s = p[i];

		p[i] = s + 1e-2f;
		lp = cnn_seq_loss_ex(m, (const float *const *)x, (const float *const *)ax, 3, 4.0, mask, NULL);
		p[i] = s - 1e-2f;
		lm = cnn_seq_loss_ex(m, (const float *const *)x, (const float *const *)ax, 3, 4.0, mask, NULL);
		p[i] = s;
		nu = (lp - lm) / 2e-2;
		tried++;
		if (!close_enough(g[i], nu, 5e-2)) {
			bad++;
			fprintf(stderr, "  param %zu: analytic %g numeric %g\n", i, g[i], nu);
		}
	}
	/* a ReLU or max-pool kink crossed by the step may spoil a few */
	CHECK(tried > 50);
	CHECK(bad <= tried / 20);
	free(idx);
	for (k = 0; k < 4; k++) {
		free(x[k]);
		free(mk[k]);
		free(ax[k]);
	}
	free(g);
	cnn_model_free(m);
}

static void test_network_grad(void)
{
	network_grad(&tiny, 0);
	network_grad(&tiny, 1);
	network_grad(&tiny_aux, 1);
}

/* The dropout layer alone: forward and backward against finite differences of
 * L = r . mask(x). */
static void test_mask_grad(void)
{
	float x[32], mk[32], r[32], d[32], y[32];
	int i, bad = 0;

	fill(x, 32, 1);
	fill(r, 32, 1);
	for (i = 0; i < 32; i++)
		mk[i] = i % 3 ? 1.5f : 0.0f;
	memcpy(d, r, sizeof(d));
	nn_mask_bwd(d, mk, 32);
	for (i = 0; i < 32; i++) {
		float s = x[i];
		double lp, lm;

		x[i] = s + 1e-2f;
		memcpy(y, x, sizeof(y));
		nn_mask_fwd(y, mk, 32);
		lp = dotf(y, r, 32);
		x[i] = s - 1e-2f;
		memcpy(y, x, sizeof(y));
		nn_mask_fwd(y, mk, 32);
		lm = dotf(y, r, 32);
		x[i] = s;
		bad += !close_enough(d[i], (lp - lm) / 2e-2, 1e-3);
	}
	CHECK(bad == 0);
}

/* Decoupled weight decay scales the conv and FC weights and leaves the biases:
 * tiny has 6 conv layers (4, 4, 8, 8, 16, 16 outputs) and an FC of dim 8, so
 * 56 + 8 biases. */
static void test_decay(void)
{
	struct cnn_model *m;
	char err[256];
	size_t np, i, half = 0, one = 0;
	float *p;

	CHECK(cnn_model_create(&tiny, 5, &m, err) == 0);
	p = cnn_model_params(m, &np);
	for (i = 0; i < np; i++)
		p[i] = 1;
	cnn_model_decay(m, 0.5);
	for (i = 0; i < np; i++) {
		half += p[i] == 0.5f;
		one += p[i] == 1.0f;
	}
	CHECK(one == 56 + 8);
	CHECK(half == np - one);
	cnn_model_free(m);
}

/* The 8 symmetries of the input: orient 0 is cnn_input, bit 0 transposes, bit 1
 * mirrors x, bit 2 mirrors y (exactly, at zero jitter). */
static void test_dihedral(void)
{
	const int ps = cnn_patch_side(&tiny), s = tiny.side, n = CNN_CH * 16 * 16;
	int16_t *hu = malloc((size_t)CNN_SLICES * ps * ps * sizeof(int16_t));
	float x0[CNN_CH * 16 * 16], xo[CNN_CH * 16 * 16], x1[CNN_CH * 16 * 16];
	int i, j, k, o, bad = 0, moved = 0;

	for (i = 0; i < CNN_SLICES * ps * ps; i++)
		hu[i] = (int16_t)(rng_uniform(&R) * 1600 - 800);
	cnn_input(&tiny, hu, 0, 0, 1, 0, x0);
	cnn_input_o(&tiny, hu, 0, 0, 1, 0, 0, x1);
	CHECK(memcmp(x0, x1, sizeof(x0)) == 0);
	for (o = 1; o < 8; o++) {
		cnn_input_o(&tiny, hu, 0, 0, 1, 0, o, xo);
		for (k = 0; k < CNN_CH; k++)
			for (j = 0; j < s; j++)
				for (i = 0; i < s; i++) {
					int u = o & 1 ? j : i, v = o & 1 ? i : j;

					u = o & 2 ? s - 1 - u : u;
					v = o & 4 ? s - 1 - v : v;
					bad += xo[(k * s + j) * s + i] != x0[(k * s + v) * s + u];
				}
		moved += memcmp(xo, x0, (size_t)n * sizeof(float)) != 0;
	}
	CHECK(bad == 0);
	CHECK(moved == 7);
	free(hu);
}

/* Test-time views: cnn_embed_many_tta against an oracle that builds each of the 10
 * views of { 2 orientations, shift 1 mm } by hand from the cached patch (x mirrored,
 * then shifted by whole pixels at tiny's 1 mm/px, windowed as the input is), embeds them
 * with cnn_forward_aux and normalises their sum; no views = cnn_embed_many exactly. */
static void test_tta(void)
{
	const int ps = cnn_patch_side(&tiny_aux), s = tiny_aux.side, d = tiny_aux.dim;
	const int sx[5] = { 0, 1, -1, 0, 0 }, sy[5] = { 0, 0, 0, 1, -1 };
	const struct cnn_tta none = { 1, 0 }, t = { 2, 1.0 }, t4 = { 4, 0 };
	struct cnn_model *m = NULL;
	struct cnn_patch p;
	int16_t *hu = malloc((size_t)CNN_SLICES * ps * ps * sizeof(int16_t));
	float x[CNN_CH * 16 * 16], aux[5], yv[8], y0[8], y1[8], y2[8], ys[8];
	double sum[8] = { 0 }, norm = 0, diff = 0;
	char err[LSD_ERRLEN];
	int i, j, k, v, mir, bad = 0;

	CHECK(hu != NULL);
	if (!hu)
		return;
	CHECK(cnn_model_create(&tiny_aux, 9, &m, err) == 0);
	for (i = 0; i < CNN_SLICES * ps * ps; i++)
		hu[i] = (int16_t)(rng_uniform(&R) * 1600 - 800);
	fill(aux, 5, 1);
	p.hu = hu;
	p.aux = aux;
	CHECK(cnn_tta_views(NULL) == 1 && cnn_tta_views(&none) == 1 && cnn_tta_views(&t) == 10 &&
	      cnn_tta_views(&t4) == 4);
	for (mir = 0; mir < 2; mir++)
		for (v = 0; v < 5; v++) {
			for (j = 0; j < s; j++)
				for (i = 0; i < s; i++) {
					int col = CNN_MARGIN_PX + (mir ? s - 1 - i : i) + sx[v];
					int row = CNN_MARGIN_PX + j + sy[v];
					double key = hu[((size_t)1 * ps + row) * ps + col];

					for (k = 0; k < CNN_SLICES; k++) {
						double h = hu[((size_t)k * ps + row) * ps + col] / 1000.0;

						x[(k * s + j) * s + i] = (float)(h < -1 ? -1 : h > 1 ? 1 : h);
					}
					key = (key - 40) / 200;
					x[(3 * s + j) * s + i] = (float)(key < -1 ? -1 : key > 1 ? 1 : key);
				}
			CHECK(cnn_forward_aux(m, x, aux, yv) == 0);
			for (k = 0; k < d; k++)
				sum[k] += yv[k];
		}
	for (k = 0; k < d; k++)
		norm += sum[k] * sum[k];
	CHECK(cnn_embed_many_tta(m, &p, 1, &t, ys, 1) == 0);
	for (k = 0; k < d; k++)
		bad += fabs(ys[k] - sum[k] / sqrt(norm)) > 1e-5;
	CHECK(bad == 0);
	/* no views: bit-identical to the plain embedding; the views change it */
	CHECK(cnn_embed_many(m, &p, 1, y0, 1) == 0);
	CHECK(cnn_embed_many_tta(m, &p, 1, NULL, y1, 1) == 0);
	CHECK(cnn_embed_many_tta(m, &p, 1, &none, y2, 1) == 0);
	CHECK(memcmp(y0, y1, sizeof(y0)) == 0 && memcmp(y0, y2, sizeof(y0)) == 0);
	for (k = 0; k < d; k++)
		diff += fabs(ys[k] - y0[k]);
	CHECK(diff > 1e-3);
	free(hu);
	cnn_model_free(m);
}

/* The synthetic problem: every lesion sits at the centre of its own 96 x 96 slice
 * (1 mm/px, 3 slices 2 mm apart); class 1 is a uniform disc, class 2 the same disc
 * with a thin bright rim. Size and location are random for both, and the nuisance is
 * large: each slice has its own background level (-400..400 HU), a gradient and a
 * distractor disc of random HU elsewhere, so what an untrained network's features see
 * first is the background, not the class. The patches come from the slices through
 * desc_patch (the real input path); the built-in descriptor is computed on the same
 * slices as the hand-made baseline. */
#define NSYN 200
#define NTRAIN 120
#define SYN_PX 96
static struct train_sample syn_s[NSYN];
static struct cnn_patch syn_p[NSYN];
static struct lesion syn_l[NSYN];
static int16_t *syn_slice[NSYN][3];

/* desc_slice_fn over the synthetic slices: "sNNN/KKK.png", slices 1..3 */
static int syn_slice_fn(void *cls, const char *rel, struct slice16 *out, char *err)
{
	int i, k;

	(void)cls;
	if (sscanf(rel, "s%d/%d.png", &i, &k) != 2 || i < 0 || i >= NSYN || k < 1 || k > 3) {
		snprintf(err, 256, "no slice %s", rel);
		return LSD_ENOTFOUND;
	}
	out->w = out->h = SYN_PX;
	out->hu = malloc((size_t)SYN_PX * SYN_PX * sizeof(int16_t));
	if (!out->hu)
		return LSD_EFAIL;
	memcpy(out->hu, syn_slice[i][k - 1], (size_t)SYN_PX * SYN_PX * sizeof(int16_t));
	return LSD_OK;
}

static void make_synthetic(void)
{
	struct rng r;
	int i, k, x, y;

	rng_seed(&r, 77);
	for (i = 0; i < NSYN; i++) {
		struct lesion *l = &syn_l[i];
		double rad = 4 + 4 * rng_uniform(&r), cx = 48 + 3 * (rng_uniform(&r) - 0.5);
		double cy = 48 + 3 * (rng_uniform(&r) - 0.5), bg = -400 + 800 * rng_uniform(&r);
		double gx = 3 * rng_normal(&r), gy = 3 * rng_normal(&r), a = 6.283 * rng_uniform(&r);
		double ox = 48 + 30 * cos(a), oy = 48 + 30 * sin(a), orad = 5 + 6 * rng_uniform(&r);
		double ohu = -500 + 1000 * rng_uniform(&r);
		int type = 1 + (i % 2);

		memset(l, 0, sizeof(*l));
		l->id = i + 1;
		l->patient = i;
		l->key_slice = 2;
		l->slice_range[0] = 1;
		l->slice_range[1] = 3;
		l->spacing[0] = l->spacing[1] = 1;
		l->spacing[2] = 2;
		l->bbox[0] = cx - rad;
		l->bbox[1] = cy - rad;
		l->bbox[2] = cx + rad;
		l->bbox[3] = cy + rad;
		l->recist[0] = cx - rad + 1;	/* 1-based, as the CSV */
		l->recist[1] = cy + 1;
		l->recist[2] = cx + rad + 1;
		l->recist[3] = cy + 1;
		l->recist[4] = cx + 1;
		l->recist[5] = cy - rad + 1;
		l->recist[6] = cx + 1;
		l->recist[7] = cy + rad + 1;
		l->diam_px[0] = l->diam_px[1] = 2 * rad;
		l->image_size[0] = l->image_size[1] = SYN_PX;
		for (k = 0; k < 3; k++)
			l->loc[k] = rng_uniform(&r);
		l->split = i < NTRAIN ? 1 : 3;
		lesion_derive(l);
		snprintf(l->image_path, sizeof(l->image_path), "s%03d/002.png", i);
		syn_s[i].type = type;
		syn_s[i].id = l->id;
		syn_s[i].patient = i;
		syn_s[i].split = l->split;
		for (k = 0; k < 3; k++)
			syn_s[i].loc[k] = l->loc[k];
		syn_s[i].diam_mm[0] = syn_s[i].diam_mm[1] = 2 * rad;
		for (k = 0; k < 3; k++) {
			int16_t *px = malloc((size_t)SYN_PX * SYN_PX * sizeof(int16_t));
			double rk = rad * (k == 1 ? 1 : 0.85);	/* smaller 2 mm away */

			for (y = 0; y < SYN_PX; y++)
				for (x = 0; x < SYN_PX; x++) {
					double d = hypot(x - cx, y - cy), v;

					v = bg + gx * (x - 48) + gy * (y - 48) + 15 * rng_normal(&r);
					if (hypot(x - ox, y - oy) < orad)
						v = ohu + 15 * rng_normal(&r);
					if (d < rk)
						v = 40 + 15 * rng_normal(&r);
					if (type == 2 && d < rk && d > rk - 1.5)
						v += 120;
					px[y * SYN_PX + x] = (int16_t)lround(v);
				}
			syn_slice[i][k] = px;
		}
	}
}

/* 5-NN type vote of the test samples among the training samples. */
static double knn_acc(const float *y, int dim)
{
	int q, j, ok = 0, nq = 0;

	for (q = NTRAIN; q < NSYN; q++) {
		double bd[5];
		int bt[5], nb = 0, i, v = 0;

		for (j = 0; j < NTRAIN; j++) {
			double d = 0;

			for (i = 0; i < dim; i++)
				d += (y[q * dim + i] - y[j * dim + i]) * (y[q * dim + i] - y[j * dim + i]);
			if (nb == 5 && d >= bd[4])
				continue;
			if (nb < 5)
				nb++;
			for (i = nb - 1; i > 0 && bd[i - 1] > d; i--) {
				bd[i] = bd[i - 1];
				bt[i] = bt[i - 1];
			}
			bd[i] = d;
			bt[i] = syn_s[j].type;
		}
		for (i = 0; i < nb; i++)
			v += bt[i] == 1 ? 1 : -1;
		nq++;
		ok += (v > 0 ? 1 : 2) == syn_s[q].type;
	}
	return (double)ok / nq;
}

/* The built-in descriptor's 5-NN accuracy on the same slices, with block weights w. */
static double builtin_acc(const float w[3])
{
	static float raw[NSYN * DESC_RAW_DIM], fin[NSYN * DESC_DIM];
	static struct desc_stats st;
	char err[256];
	int i, bad = 0;

	for (i = 0; i < NSYN; i++)
		bad += desc_raw(&syn_l[i], syn_slice_fn, NULL, raw + (size_t)i * DESC_RAW_DIM, err) != 0;
	CHECK(bad == 0);
	desc_stats_compute(raw, NULL, NSYN, &st);
	for (i = 0; i < NSYN; i++)
		desc_finish(raw + (size_t)i * DESC_RAW_DIM, &st, w, fin + (size_t)i * DESC_DIM);
	return knn_acc(fin, DESC_DIM);
}

static void test_synthetic_and_determinism(void)
{
	const float w_all[3] = { 1, 1, 1 }, w_app[3] = { 1, 0, 0 };
	struct cnn_params p;
	struct cnn_model *m1 = NULL, *m2 = NULL, *m3 = NULL, *m4 = NULL;
	void *b1 = NULL, *b2 = NULL, *b3 = NULL;
	size_t l1 = 0, l2 = 0, l3 = 0;
	static float y[NSYN * 8], y0[NSYN * 8];
	char err[256];
	int i, k, ps, bad = 0;
	double acc, acc0, acc_b, acc_ba;

	cnn_params_default(&p);
	p.arch.side = 24;
	p.arch.mm_px = 1.0;
	p.arch.width = 8;
	p.arch.dim = 8;
	p.tp.dim_out = 8;
	p.tp.epochs = 12;
	p.tp.seed = 5;
	p.tp.threads = 1;
	p.tp.batch = 16;
	p.tp.lr = 3e-3;
	p.tp.pseudo_every = 0;
	p.tp.holdout_split = 3;
	p.val_every = 0;
	make_synthetic();
	ps = cnn_patch_side(&p.arch);
	for (i = 0; i < NSYN; i++) {
		float *buf = malloc((size_t)3 * ps * ps * sizeof(float));

		syn_p[i].hu = malloc((size_t)3 * ps * ps * sizeof(int16_t));
		bad += desc_patch(&syn_l[i], syn_slice_fn, NULL, ps, p.arch.mm_px, buf, err) != 0;
		for (k = 0; k < 3 * ps * ps; k++)
			syn_p[i].hu[k] = (int16_t)lrintf(buf[k]);
		free(buf);
	}
	CHECK(bad == 0);
	/* baselines: the untrained network, the built-in descriptor */
	CHECK(cnn_model_create(&p.arch, 5, &m4, err) == 0);
	cnn_embed_many(m4, syn_p, NSYN, y0, 1);
	acc0 = knn_acc(y0, 8);
	acc_b = builtin_acc(w_all);
	acc_ba = builtin_acc(w_app);
	CHECK(cnn_fit(syn_s, syn_p, NSYN, &p, &m1, NULL, NULL, NULL, NULL, NULL, err) == 0);
	CHECK(cnn_fit(syn_s, syn_p, NSYN, &p, &m2, NULL, NULL, NULL, NULL, NULL, err) == 0);
	p.tp.threads = 2;
	CHECK(cnn_fit(syn_s, syn_p, NSYN, &p, &m3, NULL, NULL, NULL, NULL, NULL, err) == 0);
	if (!m1 || !m2 || !m3) {
		fprintf(stderr, "  %s\n", err);
		goto out;
	}
	CHECK(cnn_model_serialize(m1, &b1, &l1, err) == 0);
	CHECK(cnn_model_serialize(m2, &b2, &l2, err) == 0);
	CHECK(cnn_model_serialize(m3, &b3, &l3, err) == 0);
	CHECK(l1 == l2 && l1 == l3 && !memcmp(b1, b2, l1) && !memcmp(b1, b3, l1));
	cnn_embed_many(m1, syn_p, NSYN, y, 2);
	acc = knn_acc(y, 8);
	printf("  synthetic 5-NN type accuracy (chance 0.5): trained CNN %.3f, untrained CNN %.3f, "
	       "builtin %.3f (appearance block only %.3f)\n", acc, acc0, acc_b, acc_ba);
	CHECK(acc >= 0.85);
	CHECK(acc0 <= 0.75);	/* the problem is not solved by random features */
	CHECK(acc >= acc0 + 0.1);
	/* blob round trip: same embeddings; a flipped byte is refused */
	cnn_model_free(m2);
	m2 = NULL;
	CHECK(cnn_model_deserialize(b1, l1, &m2, err) == 0);
	if (m2) {
		cnn_embed_many(m2, syn_p, NSYN, y0, 1);
		CHECK(!memcmp(y, y0, sizeof(y)));
	}
	((unsigned char *)b1)[50] ^= 1;
	cnn_model_free(m3);
	m3 = NULL;
	CHECK(cnn_model_deserialize(b1, l1, &m3, err) != 0);
out:
	for (i = 0; i < NSYN; i++) {
		free(syn_p[i].hu);
		for (k = 0; k < 3; k++)
			free(syn_slice[i][k]);
	}
	free(b1);
	free(b2);
	free(b3);
	cnn_model_free(m1);
	cnn_model_free(m2);
	cnn_model_free(m3);
	cnn_model_free(m4);
}

int main(void)
{
	rng_seed(&R, 1234);
	RUN(test_conv_grad);
	RUN(test_pool_gap_relu_grad);
	RUN(test_fc_l2n_grad);
	RUN(test_head_grad);
	RUN(test_mask_grad);
	RUN(test_network_grad);
	RUN(test_decay);
	RUN(test_dihedral);
	RUN(test_tta);
	RUN(test_synthetic_and_determinism);
	return unit_done();
}
