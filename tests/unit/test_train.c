/* test_train.c - the learned projection (index/train.c) on problems whose answer is
 * known: a synthetic space where the type lives in 3 noisy dimensions among 61 louder
 * distractors, so raw nearest neighbours are close to chance while a projection that
 * keeps the 3 dimensions classifies almost perfectly; plus the loss and its gradient
 * against an independent computation, determinism, and the model blob. */
#include "train.h"
#include "unit.h"
#include "util.h"

#include <stdint.h>

#define DIM 64
#define NTRAIN 1200
#define NTEST 800
#define NTYPES 8

/* Where the signal is: 3 type bits and 3 location coordinates, among distractors. */
static const int type_dim[3] = {5, 23, 41};
static const int loc_dim[3] = {12, 33, 57};

static uint64_t tst_state;

static double tst_unit(void)
{
	uint64_t z = (tst_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return ((double)(z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double tst_normal(void)
{
	double u = tst_unit(), v = tst_unit();

	return sqrt(-2.0 * log(u)) * cos(2.0 * 3.14159265358979323846 * v);
}

/* Type t: bit b of t-1 at type_dim[b] as +-1 with noise 0.25, so a per-bit error needs
 * a 4-sigma excursion (3e-5). Distractors: N(0, 3^2). Location: a per-type centre plus
 * N(0, 0.08^2) per axis, also written (x4, noise 0.05) into loc_dim. */
static void synth(struct train_sample *s, float *x, size_t n, int split, double labelled)
{
	size_t i;
	int d, b;

	for (i = 0; i < n; i++) {
		int t = 1 + (int)(tst_unit() * NTYPES);
		float *v = x + i * DIM;

		for (d = 0; d < DIM; d++)
			v[d] = (float)(3.0 * tst_normal());
		for (b = 0; b < 3; b++)
			v[type_dim[b]] = (float)((((t - 1) >> b) & 1 ? 1.0 : -1.0) +
						 0.25 * tst_normal());
		memset(&s[i], 0, sizeof(s[i]));
		for (d = 0; d < 3; d++) {
			s[i].loc[d] = 0.2 + 0.6 * (((t * (d + 3)) % NTYPES) / 7.0) +
				      0.08 * tst_normal();
			v[loc_dim[d]] = (float)(4.0 * s[i].loc[d] + 0.05 * tst_normal());
		}
		s[i].diam_mm[0] = exp(log(20.0) + 0.5 * tst_normal());
		s[i].diam_mm[1] = s[i].diam_mm[0] * (0.4 + 0.5 * tst_unit());
		s[i].x = v;
		s[i].type = tst_unit() < labelled ? t : -1;
		s[i].split = split;
		s[i].id = (int64_t)i + 1;
		s[i].patient = t;	/* the true type, kept for scoring */
	}
}

/* Leave-one-out k=5 nearest-neighbour type accuracy over n vectors of dim d (Euclidean),
 * majority vote, ties to the type of the nearer neighbour. truth[i] = true type. */
static double knn_accuracy(const float *v, size_t n, int d, const int *truth)
{
	size_t i, j, good = 0;

	for (i = 0; i < n; i++) {
		double bd[5];
		size_t bi[5];
		int nb = 0, votes[NTYPES + 1] = {0}, best = 0, q, k;

		for (j = 0; j < n; j++) {
			double s = 0;

			if (j == i)
				continue;
			for (q = 0; q < d; q++)
				s += ((double)v[i * d + q] - v[j * d + q]) *
				     ((double)v[i * d + q] - v[j * d + q]);
			if (nb == 5 && s >= bd[4])
				continue;
			if (nb < 5)
				nb++;
			for (k = nb - 1; k > 0 && bd[k - 1] > s; k--) {
				bd[k] = bd[k - 1];
				bi[k] = bi[k - 1];
			}
			bd[k] = s;
			bi[k] = j;
		}
		for (k = 0; k < nb; k++)
			votes[truth[bi[k]]]++;
		for (k = 0; k < nb; k++)
			if (!best || votes[truth[bi[k]]] > votes[best])
				best = truth[bi[k]];
		good += best == truth[i];
	}
	return (double)good / (double)n;
}

static struct train_sample tr_s[NTRAIN], te_s[NTEST];
static float tr_x[NTRAIN * DIM], te_x[NTEST * DIM];
static int te_truth[NTEST], tr_truth[NTRAIN];

static void make_data(void)
{
	size_t i;

	tst_state = 42;
	synth(tr_s, tr_x, NTRAIN, 1, 0.4);
	synth(te_s, te_x, NTEST, 3, 0.0);
	for (i = 0; i < NTEST; i++)
		te_truth[i] = te_s[i].patient;
	for (i = 0; i < NTRAIN; i++)
		tr_truth[i] = tr_s[i].patient;
}

static int quiet(void *ctx, const struct train_progress *p)
{
	int *calls = ctx;

	(*calls)++;
	return !(isfinite(p->loss) && p->loss >= 0 && p->epoch >= 1 && p->epoch <= p->epochs);
}

static void base_params(struct train_params *p)
{
	train_params_default(p);
	p->dim_out = 16;
	p->epochs = 20;
	p->pseudo_every = 4;
	p->seed = 7;
}

static void test_learns_hidden_type(void)
{
	struct train_params p;
	struct train_model *m = NULL;
	struct train_out out;
	char err[LSD_ERRLEN] = "";
	double curve[20], raw, learned, near_d = 0, far_d = 0;
	float *y = malloc(NTEST * 16 * sizeof(float));
	int used[NTRAIN], calls = 0, n_near = 0, n_far = 0;
	size_t i, j, pseudo = 0, pseudo_right = 0, unl = 0;

	base_params(&p);
	memset(&out, 0, sizeof(out));
	out.loss_curve = curve;
	out.types_used = used;
	CHECK(y != NULL);
	CHECK_EQ_INT(train_fit(tr_s, NTRAIN, DIM, &p, &m, &out, quiet, &calls, err), 0);
	if (!m || !y) {
		fprintf(stderr, "  %s\n", err);
		free(y);
		return;
	}
	CHECK_EQ_INT(calls, 20);
	CHECK_EQ_INT(train_project_many(m, te_x, NTEST, y, 2), 0);
	for (i = 0; i < NTEST; i++) {
		double nn = 0;

		for (j = 0; j < 16; j++)
			nn += (double)y[i * 16 + j] * y[i * 16 + j];
		if (fabs(nn - 1) > 1e-5)
			break;
	}
	CHECK_EQ_INT(i, NTEST);	/* unit length */
	raw = knn_accuracy(te_x, NTEST, DIM, te_truth);
	learned = knn_accuracy(y, NTEST, 16, te_truth);
	printf("# kNN(5) type accuracy on %d held-out samples: raw %.3f, learned %.3f\n",
	       NTEST, raw, learned);
	/* Chance is 1/8; the type moves a raw squared distance by at most 12 against a
	 * distractor spread of ~200, so raw stays near chance. The 3 type dimensions alone
	 * classify at ~0.9999, so a working projection gets far above 0.85. */
	CHECK(raw < 0.4);
	CHECK(learned > 0.85);
	/* The loss went down. */
	CHECK(curve[19] < 0.5 * curve[0]);
	printf("# loss epoch 1 %.4f, epoch 20 %.4f; thresholds loc %.3f size %.3f\n",
	       curve[0], curve[19], out.thr_loc, out.thr_size);
	/* Pseudo-types: the unlabelled 60% got (mostly correct) types. */
	for (i = 0; i < NTRAIN; i++) {
		if (tr_s[i].type > 0) {
			CHECK_EQ_INT(used[i], tr_s[i].type);
			continue;
		}
		unl++;
		if (used[i] > 0) {
			pseudo++;
			pseudo_right += used[i] == tr_truth[i];
		}
	}
	CHECK_EQ_INT(out.n_pseudo, pseudo);
	printf("# pseudo-types: %zu of %zu unlabelled, %zu right\n", pseudo, unl, pseudo_right);
	CHECK(pseudo > unl / 2);
	CHECK(pseudo_right > 0.9 * (double)pseudo);
	/* The within-type hierarchy: same-type pairs near in location (below the training
	 * threshold) embed closer than same-type pairs far apart. */
	for (i = 0; i < NTEST; i++)
		for (j = i + 1; j < NTEST; j++) {
			double dl = 0, de = 0;
			int q;

			if (te_truth[i] != te_truth[j])
				continue;
			for (q = 0; q < 3; q++)
				dl += (te_s[i].loc[q] - te_s[j].loc[q]) *
				      (te_s[i].loc[q] - te_s[j].loc[q]);
			for (q = 0; q < 16; q++)
				de += ((double)y[i * 16 + q] - y[j * 16 + q]) *
				      ((double)y[i * 16 + q] - y[j * 16 + q]);
			if (sqrt(dl) <= out.thr_loc) {
				near_d += de;
				n_near++;
			} else {
				far_d += de;
				n_far++;
			}
		}
	CHECK(n_near > 100 && n_far > 100);
	if (n_near && n_far) {
		printf("# same type: mean squared distance near %.4f, far %.4f\n",
		       near_d / n_near, far_d / n_far);
		CHECK(near_d / n_near < far_d / n_far);
	}
	free(y);
	train_model_free(m);
}

static void test_deterministic(void)
{
	struct train_params p;
	struct train_model *a = NULL, *b = NULL, *c = NULL;
	void *ba = NULL, *bb = NULL, *bc = NULL;
	size_t la = 0, lb = 0, lc = 0;
	char err[LSD_ERRLEN] = "";

	base_params(&p);
	p.epochs = 5;
	p.pseudo_every = 2;
	p.hidden = 24;
	p.threads = 2;
	CHECK_EQ_INT(train_fit(tr_s, NTRAIN, DIM, &p, &a, NULL, NULL, NULL, err), 0);
	p.threads = 1;	/* the thread count does not change the result */
	CHECK_EQ_INT(train_fit(tr_s, NTRAIN, DIM, &p, &b, NULL, NULL, NULL, err), 0);
	p.seed = 8;
	CHECK_EQ_INT(train_fit(tr_s, NTRAIN, DIM, &p, &c, NULL, NULL, NULL, err), 0);
	if (!a || !b || !c)
		goto out;
	CHECK_EQ_INT(train_model_serialize(a, &ba, &la, err), 0);
	CHECK_EQ_INT(train_model_serialize(b, &bb, &lb, err), 0);
	CHECK_EQ_INT(train_model_serialize(c, &bc, &lc, err), 0);
	CHECK_EQ_INT(la, lb);
	CHECK(la == lb && ba && bb && memcmp(ba, bb, la) == 0);
	CHECK(la == lc && ba && bc && memcmp(ba, bc, la) != 0);
out:
	free(ba);
	free(bb);
	free(bc);
	train_model_free(a);
	train_model_free(b);
	train_model_free(c);
}

static void test_blob_round_trip(void)
{
	struct train_model *m = NULL, *r = NULL;
	void *blob = NULL, *blob2 = NULL;
	size_t len = 0, len2 = 0, np;
	unsigned char *b;
	char err[LSD_ERRLEN] = "";
	float y1[8], y2[8];
	double *w;
	int i, same = 1;

	CHECK_EQ_INT(train_model_create(DIM, 10, 8, 3, &m, err), 0);
	if (!m)
		return;
	w = train_model_params(m, &np);
	CHECK_EQ_INT(np, DIM * 10 + 10 + 10 * 8 + 8);
	w[np - 1] = 0.125;	/* a bias, to see it survive */
	CHECK_EQ_INT(train_model_serialize(m, &blob, &len, err), 0);
	/* header 24 + mean and 1/std + weights, 8 bytes each + checksum 8 */
	CHECK_EQ_INT(len, 24 + 8 * (2 * DIM + np) + 8);
	CHECK_EQ_INT(train_model_deserialize(blob, len, &r, err), 0);
	if (!r)
		goto out;
	CHECK_EQ_INT(train_model_dim_in(r), DIM);
	CHECK_EQ_INT(train_model_hidden(r), 10);
	CHECK_EQ_INT(train_model_dim_out(r), 8);
	CHECK_EQ_INT(train_project(m, tr_x, y1), 0);
	CHECK_EQ_INT(train_project(r, tr_x, y2), 0);
	for (i = 0; i < 8; i++)
		same &= y1[i] == y2[i];
	CHECK(same);
	CHECK_EQ_INT(train_model_serialize(r, &blob2, &len2, err), 0);
	CHECK(len2 == len && memcmp(blob, blob2, len) == 0);
	train_model_free(r);
	r = NULL;
	b = blob;
	CHECK(memcmp(b, "LSDTRAIN", 8) == 0);
	/* damage: one weight bit, the length, the magic, the version */
	b[100] ^= 1;
	CHECK_EQ_INT(train_model_deserialize(blob, len, &r, err), -1);
	CHECK(r == NULL && strstr(err, "checksum") != NULL);
	b[100] ^= 1;
	CHECK_EQ_INT(train_model_deserialize(blob, len - 8, &r, err), -1);
	CHECK_EQ_INT(train_model_deserialize(blob, 10, &r, err), -1);
	b[0] = 'X';
	CHECK_EQ_INT(train_model_deserialize(blob, len, &r, err), -1);
	b[0] = 'L';
	b[8] = 9;
	CHECK_EQ_INT(train_model_deserialize(blob, len, &r, err), -1);
	CHECK(strstr(err, "version") != NULL);
	b[8] = 1;
	CHECK_EQ_INT(train_model_deserialize(blob, len, &r, err), 0);
out:
	free(blob);
	free(blob2);
	train_model_free(m);
	train_model_free(r);
}

/* The documented model, computed here from the parameter layout, in double. */
static void ref_forward(const double *w, int din, int hid, int dout, const float *x,
			double *y)
{
	double h[16], z[16], nz = 0;
	int i, j;

	if (hid > 0) {
		const double *w1 = w, *b1 = w1 + din * hid, *w2 = b1 + hid, *b2 = w2 + hid * dout;

		for (j = 0; j < hid; j++) {
			h[j] = b1[j];
			for (i = 0; i < din; i++)
				h[j] += x[i] * w1[i * hid + j];
			h[j] = h[j] > 0 ? h[j] : 0;
		}
		for (j = 0; j < dout; j++) {
			z[j] = b2[j];
			for (i = 0; i < hid; i++)
				z[j] += h[i] * w2[i * dout + j];
		}
	} else {
		for (j = 0; j < dout; j++) {
			z[j] = w[din * dout + j];
			for (i = 0; i < din; i++)
				z[j] += x[i] * w[i * dout + j];
		}
	}
	for (j = 0; j < dout; j++)
		nz += z[j] * z[j];
	for (j = 0; j < dout; j++)
		y[j] = z[j] / sqrt(nz);
}

static double ref_loss(const double *w, int din, int hid, int dout, const float *const *v,
		       int nseq, double margin)
{
	double y[5][16], d[4], loss = 0;
	int i, j;

	for (i = 0; i <= nseq; i++)
		ref_forward(w, din, hid, dout, v[i], y[i]);
	for (i = 0; i < nseq; i++) {
		d[i] = 0;
		for (j = 0; j < dout; j++)
			d[i] += (y[0][j] - y[i + 1][j]) * (y[0][j] - y[i + 1][j]);
	}
	for (i = 0; i + 1 < nseq; i++)
		loss += fmax(0, d[i] - d[i + 1] + margin);
	return loss;
}

static void gradcheck(int hid)
{
	enum { DIN = 5, DOUT = 3, NSEQ = 4 };
	struct train_model *m = NULL;
	float x[NSEQ + 1][DIN];
	const float *v[NSEQ + 1];
	double *w, *g = NULL, loss, ref, worst = 0;
	size_t np, i;
	char err[LSD_ERRLEN] = "";
	int r, c, nonzero = 0;

	CHECK_EQ_INT(train_model_create(DIN, hid, DOUT, 11 + (uint64_t)hid, &m, err), 0);
	if (!m)
		return;
	w = train_model_params(m, &np);
	for (i = 0; i < np; i++)	/* biases too, away from zero */
		w[i] += 0.1 * tst_normal();
	tst_state = 99;
	for (r = 0; r <= NSEQ; r++) {
		for (c = 0; c < DIN; c++)
			x[r][c] = (float)tst_normal();
		v[r] = x[r];
	}
	g = calloc(np, sizeof(double));
	CHECK(g != NULL);
	if (!g)
		goto out;
	/* margin 2: every hinge is active, so the loss is smooth around w */
	loss = train_seq_loss(m, x[0], v + 1, NSEQ, 2.0, g);
	ref = ref_loss(w, DIN, hid, DOUT, v, NSEQ, 2.0);
	CHECK_NEAR(loss, ref, 1e-12);
	CHECK(loss > 2.0);
	for (i = 0; i < np; i++) {
		double keep = w[i], lp, lm, num;

		w[i] = keep + 1e-6;
		lp = ref_loss(w, DIN, hid, DOUT, v, NSEQ, 2.0);
		w[i] = keep - 1e-6;
		lm = ref_loss(w, DIN, hid, DOUT, v, NSEQ, 2.0);
		w[i] = keep;
		num = (lp - lm) / 2e-6;
		worst = fmax(worst, fabs(num - g[i]) / (1e-6 + fabs(num)));
		nonzero += fabs(g[i]) > 1e-6;
	}
	printf("# gradcheck hidden=%d: %zu parameters, %d nonzero, worst relative error %.2e\n",
	       hid, np, nonzero, worst);
	CHECK(worst < 1e-5);
	CHECK(nonzero > (int)np / 2);
out:
	free(g);
	train_model_free(m);
}

static void test_gradcheck_linear(void)
{
	gradcheck(0);
}

static void test_gradcheck_hidden(void)
{
	gradcheck(6);
}

static void test_rejects(void)
{
	struct train_params p;
	struct train_model *m = NULL;
	struct train_sample s[NTRAIN];
	char err[LSD_ERRLEN] = "";
	size_t i;

	base_params(&p);
	p.epochs = 1;
	p.margin = 0;
	CHECK_EQ_INT(train_fit(tr_s, NTRAIN, DIM, &p, &m, NULL, NULL, NULL, err), -1);
	CHECK(m == NULL && strstr(err, "margin") != NULL);
	base_params(&p);
	p.epochs = 1;
	memcpy(s, tr_s, sizeof(s));
	for (i = 0; i < NTRAIN; i++)
		s[i].type = -1;
	s[3].type = 2;	/* one seed is not enough */
	CHECK_EQ_INT(train_fit(s, NTRAIN, DIM, &p, &m, NULL, NULL, NULL, err), -1);
	CHECK(m == NULL && strstr(err, "type") != NULL);
	memcpy(s, tr_s, sizeof(s));
	s[5].type = 9;
	CHECK_EQ_INT(train_fit(s, NTRAIN, DIM, &p, &m, NULL, NULL, NULL, err), -1);
	CHECK(m == NULL);
	/* the held-out split is ignored entirely: all train samples held out -> nothing */
	p.holdout_split = 1;
	CHECK_EQ_INT(train_fit(tr_s, NTRAIN, DIM, &p, &m, NULL, NULL, NULL, err), -1);
	CHECK(m == NULL);
}

static int stop_at_2(void *ctx, const struct train_progress *p)
{
	(void)ctx;
	return p->epoch >= 2;
}

static void test_holdout_and_cancel(void)
{
	struct train_params p;
	struct train_model *m = NULL;
	struct train_out out;
	struct train_sample s[NTRAIN];
	int used[NTRAIN];
	char err[LSD_ERRLEN] = "";
	size_t i;
	int ok = 1;

	base_params(&p);
	p.epochs = 3;
	p.pseudo_every = 1;
	memcpy(s, tr_s, sizeof(s));
	for (i = 0; i < NTRAIN; i += 3)
		s[i].split = 3;
	p.holdout_split = 3;
	memset(&out, 0, sizeof(out));
	out.types_used = used;
	CHECK_EQ_INT(train_fit(s, NTRAIN, DIM, &p, &m, &out, NULL, NULL, err), 0);
	for (i = 0; i < NTRAIN; i++)
		if (s[i].split == 3 && used[i] != -1)
			ok = 0;
	CHECK(ok);	/* held-out samples got neither their type nor a pseudo-type */
	train_model_free(m);
	m = NULL;
	CHECK_EQ_INT(train_fit(s, NTRAIN, DIM, &p, &m, NULL, stop_at_2, NULL, err), -1);
	CHECK(m == NULL && strstr(err, "cancel") != NULL);
}

int main(void)
{
	make_data();
	RUN(test_gradcheck_linear);
	RUN(test_gradcheck_hidden);
	RUN(test_blob_round_trip);
	RUN(test_rejects);
	RUN(test_holdout_and_cancel);
	RUN(test_deterministic);
	RUN(test_learns_hidden_type);
	return unit_done();
}
