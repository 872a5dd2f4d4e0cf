/* train.c - learns a projection of a lesion space into a new unit-length space with
 * Deep Lesion Graphs' sequential sampling and sequence-triplet loss (Yan et al., CVPR
 * 2018, section 3.2), on the CPU, in plain C with hand-written gradients.
 *
 * Called by `lesiond train` (train_fit, train_model_serialize) and by the code that
 * projects lesions added to a trained space later (train_model_deserialize,
 * train_project). Owns the model (standardisation + weights) and, during train_fit, a
 * few arrays of n entries plus per-thread gradient buffers of the model's size. Expected
 * load: 10^3..10^5 samples of 32..1024 dimensions, tens of epochs, 2 cores; one epoch of
 * 10,000 samples 128 -> 64 takes a fraction of a second (bench/bench_train.c).
 *
 * Sampling (per anchor A of type t, given or pseudo):
 *   level 1  same type, near location, similar size
 *   level 2  same type, near location, size not similar (or unknown)
 *   level 3  same type, location not near
 *   level 4  different type
 * One candidate per level is drawn (up to sample_tries draws among the type's members,
 * or a scan of all of them from a random start when the type has no more members than
 * that); empty levels are skipped and an anchor needs two levels. "Near" means a
 * Euclidean distance of normalised x,y,z at or below thr_loc, the near_q quantile of
 * that distance over random pairs of seeds of the same type; "similar size" means a
 * size distance at or below thr_size, the similar_q quantile likewise, where the size
 * distance is the Euclidean norm of the differences of log long and log short diameter
 * in mm (log long alone when a short diameter is unknown). Same-type quantiles make
 * "near" relative to where lesions of that kind are, which is what the hierarchy ranks.
 *
 * Loss: d_i = |y_A - y_Si|^2 for the present levels in order, L = w * sum over
 * consecutive pairs of max(0, d_i - d_i+1 + margin); w = pseudo_weight for an anchor with
 * a pseudo-type, else 1. Gradients flow through the L2 normalisation:
 * dL/dz = (dL/dy - y (y . dL/dy)) / |z|.
 *
 * Pseudo labels: after pseudo_every epochs (and every pseudo_every epochs after that) all
 * samples are projected with the current model and each sample without a given type
 * takes the type held by a strict majority of its pseudo_k nearest seeds, or stays
 * unlabelled (and out of training) when there is no such majority.
 *
 * Determinism: every random choice comes from xoshiro256** streams derived from the
 * seed, the epoch and the anchor's position in the epoch; a mini-batch is cut into
 * TRAIN_CHUNKS fixed chunks whose gradients are summed in chunk order, whatever the
 * number of threads. The same samples and parameters give bit-identical weights.
 */
#include "train.h"
#include "rng.h"

#include "lesion.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TRAIN_CHUNKS 4		/* gradient chunks per mini-batch (fixed: determinism) */
#define TRAIN_SEQ 4		/* levels of a sequence */
#define TRAIN_QPAIRS 20000	/* random pairs for the distance quantiles */
#define TRAIN_DIM_MAX 65536
#define TRAIN_PARAMS_MAX ((size_t)1 << 27)	/* 1 GiB of doubles */
#define TRAIN_THREADS_MAX 64
#define TRAIN_MAGIC "LSDTRAIN"
#define TRAIN_VERSION 1u
#define TRAIN_HDR 24

struct train_model {
	int din, hid, dout;
	double *mean, *istd;	/* din each */
	double *p;		/* np parameters; the pointers below look into it */
	size_t np;
	double *w1, *b1;	/* hidden: W1[din][hid], b1[hid]; linear: W[din][dout], b[dout] */
	double *w2, *b2;	/* hidden: W2[hid][dout], b2[dout]; linear: NULL */
};

/* ---- random numbers: splitmix64 seeds xoshiro256** ---- */

/* A stream of the seed, keyed by (a, b): epochs and anchors get independent streams. */
static void rng_seed_stream(struct rng *r, uint64_t seed, uint64_t a, uint64_t b)
{
	uint64_t x = seed;
	int i;

	x = rng_splitmix64(&x) ^ (a * 0xd1342543de82ef95ull);
	x = rng_splitmix64(&x) ^ (b * 0x9e3779b97f4a7c15ull);
	for (i = 0; i < 4; i++)
		r->s[i] = rng_splitmix64(&x);
}

/* Uniform in [0, n), n > 0; the modulo bias is below n / 2^64. */
static size_t rng_below(struct rng *r, size_t n)
{
	return (size_t)(rng_next(r) % n);
}

/* ---- model ---- */

static size_t model_nparams(int din, int hid, int dout)
{
	if (hid > 0)
		return (size_t)din * hid + hid + (size_t)hid * dout + dout;
	return (size_t)din * dout + dout;
}

static void model_views(struct train_model *m)
{
	double *q = m->p;

	m->w1 = q;
	if (m->hid > 0) {
		q += (size_t)m->din * m->hid;
		m->b1 = q;
		q += m->hid;
		m->w2 = q;
		q += (size_t)m->hid * m->dout;
		m->b2 = q;
	} else {
		q += (size_t)m->din * m->dout;
		m->b1 = q;
		m->w2 = m->b2 = NULL;
	}
}

static int model_alloc(int din, int hid, int dout, struct train_model **out, char *err)
{
	struct train_model *m = NULL;
	size_t np;

	*out = NULL;
	if (din < 1 || din > TRAIN_DIM_MAX || hid < 0 || hid > TRAIN_DIM_MAX ||
	    dout < 1 || dout > TRAIN_DIM_MAX)
		return errf(err, "model dimensions %d/%d/%d out of range", din, hid, dout);
	np = model_nparams(din, hid, dout);
	if (np > TRAIN_PARAMS_MAX)
		return errf(err, "model too large: %zu parameters", np);
	m = calloc(1, sizeof(*m));
	if (!m)
		return errf(err, "out of memory");
	m->din = din;
	m->hid = hid;
	m->dout = dout;
	m->np = np;
	m->mean = calloc((size_t)din, sizeof(double));
	m->istd = calloc((size_t)din, sizeof(double));
	m->p = calloc(np, sizeof(double));
	if (!m->mean || !m->istd || !m->p) {
		train_model_free(m);
		return errf(err, "out of memory");
	}
	model_views(m);
	*out = m;
	return 0;
}

void train_model_free(struct train_model *m)
{
	if (!m)
		return;
	free(m->mean);
	free(m->istd);
	free(m->p);
	free(m);
}

int train_model_create(int din, int hid, int dout, uint64_t seed,
		       struct train_model **out, char *err)
{
	struct train_model *m = NULL;
	struct rng r;
	size_t i, nw;
	double sd;

	if (model_alloc(din, hid, dout, &m, err))
		return -1;
	for (i = 0; i < (size_t)din; i++)
		m->istd[i] = 1.0;
	rng_seed_stream(&r, seed, 0x696e6974u, 0);	/* "init" */
	/* He initialisation in front of a ReLU, LeCun for the linear output. */
	nw = (size_t)din * (hid > 0 ? hid : dout);
	sd = sqrt((hid > 0 ? 2.0 : 1.0) / din);
	for (i = 0; i < nw; i++)
		m->w1[i] = sd * rng_normal(&r);
	if (hid > 0) {
		nw = (size_t)hid * dout;
		sd = sqrt(1.0 / hid);
		for (i = 0; i < nw; i++)
			m->w2[i] = sd * rng_normal(&r);
	}
	*out = m;
	return 0;
}

int train_model_dim_in(const struct train_model *m)
{
	return m->din;
}

int train_model_dim_out(const struct train_model *m)
{
	return m->dout;
}

int train_model_hidden(const struct train_model *m)
{
	return m->hid;
}

double *train_model_params(struct train_model *m, size_t *n)
{
	*n = m->np;
	return m->p;
}

/* ---- forward and backward ---- */

/* Activations of one forward pass; the arrays live in one block. */
struct act {
	double *s;		/* din: standardised input */
	double *h;		/* hid: pre-activation (hidden only) */
	double *a;		/* hid: relu(h) */
	double *z;		/* dout */
	double *y;		/* dout: z / |z| */
	double *gy;		/* dout: dL/dy */
	double nz;		/* |z| */
};

static size_t act_doubles(const struct train_model *m)
{
	return (size_t)m->din + 2 * (size_t)m->hid + 3 * (size_t)m->dout;
}

static void act_bind(struct act *a, const struct train_model *m, double *mem)
{
	a->s = mem;
	mem += m->din;
	a->h = mem;
	mem += m->hid;
	a->a = mem;
	mem += m->hid;
	a->z = mem;
	mem += m->dout;
	a->y = mem;
	mem += m->dout;
	a->gy = mem;
}

/* z += x * row (row of length n): the inner loop of every matrix product here, written
 * as an axpy so that the compiler can vectorise it without reassociation. */
static void axpy(double *restrict z, double x, const double *restrict row, int n)
{
	int j;

	for (j = 0; j + 4 <= n; j += 4) {	/* unrolled: -O2 vectorises the block */
		z[j] += x * row[j];
		z[j + 1] += x * row[j + 1];
		z[j + 2] += x * row[j + 2];
		z[j + 3] += x * row[j + 3];
	}
	for (; j < n; j++)
		z[j] += x * row[j];
}

static int forward(const struct train_model *m, const float *x, struct act *a)
{
	const int din = m->din, hid = m->hid, dout = m->dout;
	double nz = 0;
	int i;

	for (i = 0; i < din; i++) {
		double v = (double)x[i];

		if (!isfinite(v))
			return -1;
		a->s[i] = (v - m->mean[i]) * m->istd[i];
	}
	if (hid > 0) {
		memcpy(a->h, m->b1, (size_t)hid * sizeof(double));
		for (i = 0; i < din; i++)
			if (a->s[i] != 0)
				axpy(a->h, a->s[i], m->w1 + (size_t)i * hid, hid);
		memcpy(a->z, m->b2, (size_t)dout * sizeof(double));
		for (i = 0; i < hid; i++) {
			a->a[i] = a->h[i] > 0 ? a->h[i] : 0;
			if (a->a[i] > 0)
				axpy(a->z, a->a[i], m->w2 + (size_t)i * dout, dout);
		}
	} else {
		memcpy(a->z, m->b1, (size_t)dout * sizeof(double));
		for (i = 0; i < din; i++)
			if (a->s[i] != 0)
				axpy(a->z, a->s[i], m->w1 + (size_t)i * dout, dout);
	}
	for (i = 0; i < dout; i++)
		nz += a->z[i] * a->z[i];
	a->nz = sqrt(nz);
	if (!(a->nz > 1e-150)) {
		for (i = 0; i < dout; i++)
			a->y[i] = 0;
		return -1;
	}
	for (i = 0; i < dout; i++)
		a->y[i] = a->z[i] / a->nz;
	return 0;
}

/* Add the gradient of the loss (a->gy = dL/dy) with respect to the parameters to g.
 * dz and dh are scratch of dout and hid doubles. */
static void backward(const struct train_model *m, const struct act *a, double *g,
		     double *dz, double *dh)
{
	const int din = m->din, hid = m->hid, dout = m->dout;
	double yg = 0;
	double *gw1 = g, *gb1, *gw2, *gb2;
	int i, j, any = 0;

	for (j = 0; j < dout; j++) {
		yg += a->y[j] * a->gy[j];
		any |= a->gy[j] != 0;
	}
	if (!any)
		return;	/* a member whose hinges are all inactive */
	for (j = 0; j < dout; j++)
		dz[j] = (a->gy[j] - a->y[j] * yg) / a->nz;
	if (hid > 0) {
		gb1 = gw1 + (size_t)din * hid;
		gw2 = gb1 + hid;
		gb2 = gw2 + (size_t)hid * dout;
		for (j = 0; j < dout; j++)
			gb2[j] += dz[j];
		for (i = 0; i < hid; i++) {
			const double *w = m->w2 + (size_t)i * dout;
			double s = 0;

			if (!(a->h[i] > 0)) {
				dh[i] = 0;
				continue;
			}
			axpy(gw2 + (size_t)i * dout, a->a[i], dz, dout);
			for (j = 0; j < dout; j++)
				s += w[j] * dz[j];
			dh[i] = s;
		}
		for (i = 0; i < hid; i++)
			gb1[i] += dh[i];
		for (i = 0; i < din; i++)
			if (a->s[i] != 0)
				axpy(gw1 + (size_t)i * hid, a->s[i], dh, hid);
	} else {
		gb1 = gw1 + (size_t)din * dout;
		for (j = 0; j < dout; j++)
			gb1[j] += dz[j];
		for (i = 0; i < din; i++)
			if (a->s[i] != 0)
				axpy(gw1 + (size_t)i * dout, a->s[i], dz, dout);
	}
}

static double sqdist(const double *a, const double *b, int n)
{
	double s = 0;
	int i;

	for (i = 0; i < n; i++)
		s += (a[i] - b[i]) * (a[i] - b[i]);
	return s;
}

/* Loss of anchor act[0] and sequence act[1..k], weight w; fills the gy of each act and
 * counts active hinges. Returns the weighted loss. */
static double seq_loss(const struct train_model *m, struct act *act, int k, double margin,
		       double w, int *nactive)
{
	const int dout = m->dout;
	double d[TRAIN_SEQ], gd[TRAIN_SEQ], loss = 0;
	int i, j;

	for (i = 0; i < k; i++) {
		d[i] = sqdist(act[0].y, act[i + 1].y, dout);
		gd[i] = 0;
	}
	for (i = 0; i + 1 < k; i++) {
		double hinge = d[i] - d[i + 1] + margin;

		if (hinge > 0) {
			loss += hinge;
			gd[i] += w;
			gd[i + 1] -= w;
			(*nactive)++;
		}
	}
	for (j = 0; j < dout; j++)
		act[0].gy[j] = 0;
	for (i = 0; i < k; i++) {
		for (j = 0; j < dout; j++) {
			double t = 2.0 * gd[i] * (act[0].y[j] - act[i + 1].y[j]);

			act[0].gy[j] += t;
			act[i + 1].gy[j] = -t;
		}
	}
	return w * loss;
}

/* Scratch for one worker: activations for anchor + sequence, dz/dh. */
struct scratch {
	double *mem;
	struct act act[TRAIN_SEQ + 1];
	double *dz, *dh;
};

static int scratch_init(struct scratch *sc, const struct train_model *m)
{
	size_t per = act_doubles(m), i;

	sc->mem = malloc(((TRAIN_SEQ + 1) * per + (size_t)m->dout + (size_t)m->hid + 1) *
			 sizeof(double));
	if (!sc->mem)
		return -1;
	for (i = 0; i <= TRAIN_SEQ; i++)
		act_bind(&sc->act[i], m, sc->mem + i * per);
	sc->dz = sc->mem + (TRAIN_SEQ + 1) * per;
	sc->dh = sc->dz + m->dout;
	return 0;
}

double train_seq_loss(const struct train_model *m, const float *anchor,
		      const float *const *seq, int nseq, double margin, double *grad)
{
	struct scratch sc;
	double loss;
	int i, nact = 0;

	if (nseq < 2 || nseq > TRAIN_SEQ || scratch_init(&sc, m))
		return NAN;
	if (forward(m, anchor, &sc.act[0])) {
		loss = NAN;
		goto out;
	}
	for (i = 0; i < nseq; i++)
		if (forward(m, seq[i], &sc.act[i + 1])) {
			loss = NAN;
			goto out;
		}
	loss = seq_loss(m, sc.act, nseq, margin, 1.0, &nact);
	if (grad)
		for (i = 0; i <= nseq; i++)
			backward(m, &sc.act[i], grad, sc.dz, sc.dh);
out:
	free(sc.mem);
	return loss;
}

int train_project(const struct train_model *m, const float *x, float *y)
{
	double stack[1024], *mem = stack;
	size_t need = act_doubles(m);
	struct act a;
	int i, rc;

	if (need > LSD_ARRAY_LEN(stack)) {
		mem = malloc(need * sizeof(double));
		if (!mem) {
			for (i = 0; i < m->dout; i++)
				y[i] = 0;
			return -1;
		}
	}
	act_bind(&a, m, mem);
	rc = forward(m, x, &a);
	for (i = 0; i < m->dout; i++)
		y[i] = rc ? 0.0f : (float)a.y[i];
	if (mem != stack)
		free(mem);
	return rc;
}

/* ---- threads: run fn(ctx, tid) on tids 0..n-1, tid 0 on the calling thread ---- */

struct par_arg {
	void (*fn)(void *ctx, int tid);
	void *ctx;
	int tid;
};

static void *par_main(void *p)
{
	struct par_arg *a = p;

	a->fn(a->ctx, a->tid);
	return NULL;
}

void train_par_run(int n, void (*fn)(void *ctx, int tid), void *ctx)
{
	pthread_t th[TRAIN_THREADS_MAX];
	struct par_arg arg[TRAIN_THREADS_MAX];
	int started[TRAIN_THREADS_MAX];
	int t;

	for (t = 1; t < n; t++) {
		arg[t].fn = fn;
		arg[t].ctx = ctx;
		arg[t].tid = t;
		started[t] = pthread_create(&th[t], NULL, par_main, &arg[t]) == 0;
		if (!started[t])
			fn(ctx, t);	/* no thread: do its share here; results are the same */
	}
	fn(ctx, 0);
	for (t = 1; t < n; t++)
		if (started[t])
			pthread_join(th[t], NULL);
}

struct proj_job {
	const struct train_model *m;
	const float *x;
	float *y;
	size_t n, failed[TRAIN_THREADS_MAX];
	int nthreads;
};

static void proj_worker(void *ctx, int tid)
{
	struct proj_job *j = ctx;
	size_t lo = j->n * (size_t)tid / j->nthreads, hi = j->n * (size_t)(tid + 1) / j->nthreads;
	size_t r;

	j->failed[tid] = 0;
	for (r = lo; r < hi; r++)
		if (train_project(j->m, j->x + r * j->m->din, j->y + r * j->m->dout))
			j->failed[tid]++;
}

size_t train_project_many(const struct train_model *m, const float *x, size_t n,
			  float *y, int threads)
{
	struct proj_job j;
	size_t failed = 0;
	int t;

	j.m = m;
	j.x = x;
	j.y = y;
	j.n = n;
	j.nthreads = threads < 1 ? 1 : threads > TRAIN_THREADS_MAX ? TRAIN_THREADS_MAX : threads;
	if ((size_t)j.nthreads > n)
		j.nthreads = n > 0 ? (int)n : 1;
	train_par_run(j.nthreads, proj_worker, &j);
	for (t = 0; t < j.nthreads; t++)
		failed += j.failed[t];
	return failed;
}

/* ---- parameters ---- */

void train_params_default(struct train_params *p)
{
	memset(p, 0, sizeof(*p));
	p->dim_out = 64;
	p->hidden = 0;
	p->epochs = 30;
	p->seed = 1;
	p->margin = 0.2;
	p->lr = 5e-3;
	p->batch = 64;
	p->anchors_per_epoch = 0;
	p->pseudo_every = 5;
	p->pseudo_k = 5;
	p->pseudo_weight = 0.5;
	p->near_q = 0.25;
	p->similar_q = 0.25;
	p->sample_tries = 64;
	p->holdout_split = 0;
	p->threads = 2;
}

int train_params_check(const struct train_params *p, char *err)
{
	if (p->dim_out < 1 || p->dim_out > 4096)
		return errf(err, "dim_out: %d not in 1..4096", p->dim_out);
	if (p->hidden < 0 || p->hidden > 16384)
		return errf(err, "hidden: %d not in 0..16384", p->hidden);
	if (p->epochs < 1 || p->epochs > 100000)
		return errf(err, "epochs: %d not in 1..100000", p->epochs);
	if (!(p->margin > 0 && p->margin < 4))
		return errf(err, "margin: %g not in (0, 4)", p->margin);
	if (!(p->lr > 0 && p->lr <= 1))
		return errf(err, "lr: %g not in (0, 1]", p->lr);
	if (p->batch < 1 || p->batch > 1000000)
		return errf(err, "batch: %d not in 1..1000000", p->batch);
	if (p->anchors_per_epoch < 0)
		return errf(err, "anchors_per_epoch: %d is negative", p->anchors_per_epoch);
	if (p->pseudo_every < 0)
		return errf(err, "pseudo_every: %d is negative", p->pseudo_every);
	if (p->pseudo_k < 1 || p->pseudo_k > 100)
		return errf(err, "pseudo_k: %d not in 1..100", p->pseudo_k);
	if (!(p->pseudo_weight >= 0 && p->pseudo_weight <= 1))
		return errf(err, "pseudo_weight: %g not in [0, 1]", p->pseudo_weight);
	if (!(p->near_q > 0 && p->near_q < 1))
		return errf(err, "near_q: %g not in (0, 1)", p->near_q);
	if (!(p->similar_q > 0 && p->similar_q < 1))
		return errf(err, "similar_q: %g not in (0, 1)", p->similar_q);
	if (p->sample_tries < 1 || p->sample_tries > 100000)
		return errf(err, "sample_tries: %d not in 1..100000", p->sample_tries);
	if (p->threads < 1 || p->threads > TRAIN_THREADS_MAX)
		return errf(err, "threads: %d not in 1..%d", p->threads, TRAIN_THREADS_MAX);
	return 0;
}

/* ---- training state ---- */

struct chunk {
	double *g;		/* gradient, np */
	double loss;
	long active, pairs, anchors;
	struct scratch sc;
};

struct trainer {
	const struct train_sample *s;
	size_t n;
	struct train_params p;
	struct train_model *m;
	int *type;		/* current type: given, pseudo, or -1; holdout: -1 */
	unsigned char *pseudo;	/* 1 when type[i] is a pseudo-type */
	unsigned char *skip;	/* holdout samples */
	size_t *act, nact;	/* samples with a type */
	size_t *bytype;		/* act grouped by type */
	size_t tstart[LESION_NTYPES + 2], tcount[LESION_NTYPES + 1];
	size_t nseeds, npseudo;
	double thr_loc, thr_size;
	/* epoch */
	size_t *perm;		/* anchors of this epoch */
	int epoch;
	size_t batch_lo, batch_hi;	/* current mini-batch: perm[batch_lo..batch_hi) */
	struct chunk ch[TRAIN_CHUNKS];
	/* Adam */
	double *am, *av;
	long step;
	/* pseudo labels */
	float *emb;		/* n * dout */
	int dout;
};

static double loc_dist(const struct train_sample *a, const struct train_sample *b)
{
	double s = 0;
	int i;

	for (i = 0; i < 3; i++)
		s += (a->loc[i] - b->loc[i]) * (a->loc[i] - b->loc[i]);
	return isfinite(s) ? sqrt(s) : INFINITY;
}

static int diam_ok(double d)
{
	return isfinite(d) && d > 0;
}

static double size_dist(const struct train_sample *a, const struct train_sample *b)
{
	double dl, ds;

	if (!diam_ok(a->diam_mm[0]) || !diam_ok(b->diam_mm[0]))
		return INFINITY;
	dl = log(a->diam_mm[0]) - log(b->diam_mm[0]);
	if (!diam_ok(a->diam_mm[1]) || !diam_ok(b->diam_mm[1]))
		return fabs(dl);
	ds = log(a->diam_mm[1]) - log(b->diam_mm[1]);
	return sqrt(dl * dl + ds * ds);
}

/* 0-based level of candidate j for anchor a of the same type: 0, 1 or 2. */
static int level_of(const struct trainer *t, size_t a, size_t j)
{
	if (!(loc_dist(&t->s[a], &t->s[j]) <= t->thr_loc))
		return 2;
	return size_dist(&t->s[a], &t->s[j]) <= t->thr_size ? 0 : 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Quantile of the finite values among v[0..n); sorts v. 0 when there is none. */
static double quantile(double *v, size_t n, double q)
{
	size_t k = 0, i;

	for (i = 0; i < n; i++)
		if (isfinite(v[i]))
			v[k++] = v[i];
	if (!k)
		return 0;
	qsort(v, k, sizeof(double), cmp_double);
	return v[(size_t)(q * (double)(k - 1) + 0.5)];
}

/* Thresholds from random same-type pairs of seeds. */
static int thresholds(struct trainer *t, char *err)
{
	double *dl = NULL, *ds = NULL;
	struct rng r;
	size_t i, np = 0;
	int rc = -1;

	dl = malloc(TRAIN_QPAIRS * sizeof(double));
	ds = malloc(TRAIN_QPAIRS * sizeof(double));
	if (!dl || !ds) {
		errf(err, "out of memory");
		goto out;
	}
	rng_seed_stream(&r, t->p.seed, 0x7468726573u, 0);	/* "thres" */
	for (i = 0; i < TRAIN_QPAIRS; i++) {
		size_t a = t->act[rng_below(&r, t->nact)];
		int ty = t->type[a];
		size_t b = t->bytype[t->tstart[ty] + rng_below(&r, t->tcount[ty])];

		if (a == b)
			continue;
		dl[np] = loc_dist(&t->s[a], &t->s[b]);
		ds[np] = size_dist(&t->s[a], &t->s[b]);
		np++;
	}
	t->thr_loc = quantile(dl, np, t->p.near_q);
	t->thr_size = quantile(ds, np, t->p.similar_q);
	rc = 0;
out:
	free(dl);
	free(ds);
	return rc;
}

/* Rebuild act/bytype from type[]. */
static void group_by_type(struct trainer *t)
{
	size_t i, fill[LESION_NTYPES + 1];
	int ty;

	memset(t->tcount, 0, sizeof(t->tcount));
	t->nact = 0;
	for (i = 0; i < t->n; i++)
		if (t->type[i] > 0) {
			t->act[t->nact++] = i;
			t->tcount[t->type[i]]++;
		}
	t->tstart[0] = 0;
	t->tstart[1] = 0;
	for (ty = 1; ty <= LESION_NTYPES; ty++)
		t->tstart[ty + 1] = t->tstart[ty] + t->tcount[ty];
	for (ty = 1; ty <= LESION_NTYPES; ty++)
		fill[ty] = t->tstart[ty];
	for (i = 0; i < t->nact; i++) {
		size_t a = t->act[i];

		t->bytype[fill[t->type[a]]++] = a;
	}
}

/* Pick the sequence for anchor a; returns its length (0..4), members in seq[]. */
static int pick_sequence(const struct trainer *t, size_t a, struct rng *r, size_t *seq)
{
	const int ty = t->type[a];
	const size_t *mem = t->bytype + t->tstart[ty], cnt = t->tcount[ty];
	const size_t tries = (size_t)t->p.sample_tries;
	size_t found[TRAIN_SEQ], i, nfound = 0;
	int k = 0, l;

	for (l = 0; l < TRAIN_SEQ; l++)
		found[l] = (size_t)-1;
	if (cnt > 1) {
		int scan = cnt <= tries;
		size_t start = rng_below(r, cnt);
		size_t ntry = scan ? cnt : tries;

		for (i = 0; i < ntry && nfound < 3; i++) {
			size_t j = mem[scan ? (start + i) % cnt : rng_below(r, cnt)];

			if (j == a)
				continue;
			l = level_of(t, a, j);
			if (found[l] == (size_t)-1) {
				found[l] = j;
				nfound++;
			}
		}
	}
	if (t->nact > cnt) {
		for (i = 0; i < tries; i++) {
			size_t j = t->act[rng_below(r, t->nact)];

			if (t->type[j] != ty) {
				found[3] = j;
				break;
			}
		}
		if (found[3] == (size_t)-1) {	/* a dominant type: take the first other one */
			size_t off = rng_below(r, t->nact - cnt);

			for (i = 0; i < t->nact; i++) {
				size_t j = t->act[i];

				if (t->type[j] != ty && off-- == 0) {
					found[3] = j;
					break;
				}
			}
		}
	}
	for (l = 0; l < TRAIN_SEQ; l++)
		if (found[l] != (size_t)-1)
			seq[k++] = found[l];
	return k;
}

static void chunk_worker(void *ctx, int tid)
{
	struct trainer *t = ctx;
	const struct train_model *m = t->m;
	int c;

	for (c = tid; c < TRAIN_CHUNKS; c += t->p.threads) {
		struct chunk *ch = &t->ch[c];
		size_t len = t->batch_hi - t->batch_lo;
		size_t lo = t->batch_lo + len * (size_t)c / TRAIN_CHUNKS;
		size_t hi = t->batch_lo + len * (size_t)(c + 1) / TRAIN_CHUNKS;
		size_t pos;

		memset(ch->g, 0, m->np * sizeof(double));
		ch->loss = 0;
		ch->active = ch->pairs = ch->anchors = 0;
		for (pos = lo; pos < hi; pos++) {
			size_t a = t->perm[pos], seq[TRAIN_SEQ];
			struct rng r;
			int k, i, nact = 0, bad = 0;
			double w;

			rng_seed_stream(&r, t->p.seed, (uint64_t)t->epoch + 1, pos);
			k = pick_sequence(t, a, &r, seq);
			if (k < 2)
				continue;
			bad |= forward(m, t->s[a].x, &ch->sc.act[0]);
			for (i = 0; i < k; i++)
				bad |= forward(m, t->s[seq[i]].x, &ch->sc.act[i + 1]);
			if (bad)
				continue;	/* a zero projection: no direction to move */
			w = t->pseudo[a] ? t->p.pseudo_weight : 1.0;
			ch->loss += seq_loss(m, ch->sc.act, k, t->p.margin, w, &nact);
			ch->active += nact;
			ch->pairs += k - 1;
			ch->anchors++;
			if (nact && w > 0)
				for (i = 0; i <= k; i++)
					backward(m, &ch->sc.act[i], ch->g, ch->sc.dz, ch->sc.dh);
		}
	}
}

static void adam_step(struct trainer *t, const double *g, double scale)
{
	const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
	double c1, c2, lr;
	size_t i;

	t->step++;
	c1 = 1.0 - pow(b1, (double)t->step);
	c2 = 1.0 - pow(b2, (double)t->step);
	lr = t->p.lr * sqrt(c2) / c1;
	for (i = 0; i < t->m->np; i++) {
		double gi = g[i] * scale;

		t->am[i] = b1 * t->am[i] + (1 - b1) * gi;
		t->av[i] = b2 * t->av[i] + (1 - b2) * gi * gi;
		t->m->p[i] -= lr * t->am[i] / (sqrt(t->av[i]) + eps);
	}
}

struct pl_job {
	struct trainer *t;
	int *newtype;
};

/* Dot product with four partial sums, so that the compiler can keep them in one
 * vector register; the order is fixed, so the result is deterministic. */
static double dot4(const float *a, const float *b, int n)
{
	float s[4] = {0, 0, 0, 0};
	int i;

	for (i = 0; i + 4 <= n; i += 4) {
		s[0] += a[i] * b[i];
		s[1] += a[i + 1] * b[i + 1];
		s[2] += a[i + 2] * b[i + 2];
		s[3] += a[i + 3] * b[i + 3];
	}
	for (; i < n; i++)
		s[0] += a[i] * b[i];
	return (double)s[0] + s[1] + s[2] + s[3];
}

/* Pseudo-types for the unlabelled samples of thread tid's share. */
static void pseudo_worker(void *ctx, int tid)
{
	struct pl_job *j = ctx;
	struct trainer *t = j->t;
	const int dout = t->dout, k = t->p.pseudo_k;
	size_t lo = t->n * (size_t)tid / t->p.threads, hi = t->n * (size_t)(tid + 1) / t->p.threads;
	size_t u, s, bi[100];
	double bd[100];

	for (u = lo; u < hi; u++) {
		const float *yu = t->emb + u * dout;
		int nb = 0, votes[LESION_NTYPES + 1] = {0}, best = -1, i;

		j->newtype[u] = -1;
		if (t->skip[u] || t->s[u].type > 0)
			continue;
		for (s = 0; s < t->n; s++) {
			const float *ys = t->emb + s * dout;
			double d;

			if (t->skip[s] || t->s[s].type <= 0)
				continue;
			d = 2.0 - 2.0 * dot4(yu, ys, dout);	/* unit vectors */
			if (nb == k && d >= bd[k - 1])
				continue;
			if (nb < k)
				nb++;
			for (i = nb - 1; i > 0 && bd[i - 1] > d; i--) {
				bd[i] = bd[i - 1];
				bi[i] = bi[i - 1];
			}
			bd[i] = d;
			bi[i] = s;
		}
		for (i = 0; i < nb; i++)
			votes[t->s[bi[i]].type]++;
		for (i = 1; i <= LESION_NTYPES; i++)
			if (best < 0 || votes[i] > votes[best])
				best = i;
		if (best > 0 && 2 * votes[best] > k)
			j->newtype[u] = best;
	}
}

/* New pseudo-types from the embeddings in t->emb (t->dout floats each). */
static int pseudo_vote(struct trainer *t, char *err)
{
	struct pl_job j;
	size_t i;

	j.t = t;
	j.newtype = malloc(t->n * sizeof(int));
	if (!j.newtype)
		return errf(err, "out of memory");
	train_par_run(t->p.threads, pseudo_worker, &j);
	t->npseudo = 0;
	for (i = 0; i < t->n; i++) {
		if (t->skip[i] || t->s[i].type > 0)
			continue;
		t->type[i] = j.newtype[i];
		t->pseudo[i] = j.newtype[i] > 0;
		t->npseudo += t->pseudo[i];
	}
	free(j.newtype);
	group_by_type(t);
	return 0;
}

static int pseudo_refresh(struct trainer *t, char *err)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (train_project(t->m, t->s[i].x, t->emb + i * t->m->dout))
			memset(t->emb + i * t->m->dout, 0, (size_t)t->m->dout * sizeof(float));
	return pseudo_vote(t, err);
}

/* This epoch's anchors in t->perm: a seeded shuffle of the samples with a type, cut to
 * anchors_per_epoch; returns their count. */
static size_t epoch_anchors(struct trainer *t, int epoch)
{
	struct rng r;
	size_t i, nanch;

	memcpy(t->perm, t->act, t->nact * sizeof(size_t));
	rng_seed_stream(&r, t->p.seed, 0x65706f6368u, (uint64_t)epoch);	/* "epoch" */
	for (i = t->nact; i > 1; i--) {
		size_t j = rng_below(&r, i), tmp = t->perm[i - 1];

		t->perm[i - 1] = t->perm[j];
		t->perm[j] = tmp;
	}
	nanch = t->nact;
	if (t->p.anchors_per_epoch > 0 && (size_t)t->p.anchors_per_epoch < nanch)
		nanch = (size_t)t->p.anchors_per_epoch;
	return nanch;
}

/* Per-dimension mean and 1/std over the samples used; a constant dimension gets 1.
 * With global_scale, one 1/rms over all dimensions instead of a 1/std each. */
static void standardise(struct trainer *t, int din, int global_scale)
{
	struct train_model *m = t->m;
	size_t i, cnt = 0;
	int d;

	for (d = 0; d < din; d++)
		m->mean[d] = m->istd[d] = 0;
	for (i = 0; i < t->n; i++) {
		if (t->skip[i])
			continue;
		cnt++;
		for (d = 0; d < din; d++)
			m->mean[d] += t->s[i].x[d];
	}
	for (d = 0; d < din; d++)
		m->mean[d] /= (double)cnt;
	for (i = 0; i < t->n; i++) {
		if (t->skip[i])
			continue;
		for (d = 0; d < din; d++) {
			double v = t->s[i].x[d] - m->mean[d];

			m->istd[d] += v * v;
		}
	}
	if (global_scale) {
		double var = 0;

		for (d = 0; d < din; d++)
			var += m->istd[d] / (double)cnt;
		var /= din;
		for (d = 0; d < din; d++)
			m->istd[d] = var > 1e-24 ? 1.0 / sqrt(var) : 1.0;
		return;
	}
	for (d = 0; d < din; d++) {
		double sd = sqrt(m->istd[d] / (double)cnt);

		m->istd[d] = sd > 1e-12 * (1 + fabs(m->mean[d])) ? 1.0 / sd : 1.0;
	}
}

static void trainer_free(struct trainer *t)
{
	int c;

	free(t->type);
	free(t->pseudo);
	free(t->skip);
	free(t->act);
	free(t->bytype);
	free(t->perm);
	free(t->am);
	free(t->av);
	free(t->emb);
	for (c = 0; c < TRAIN_CHUNKS; c++) {
		free(t->ch[c].g);
		free(t->ch[c].sc.mem);
	}
	train_model_free(t->m);
}

static int validate_samples(const struct train_sample *s, size_t n, int din, int hold,
			    char *err)
{
	size_t i;
	int d;

	for (i = 0; i < n; i++) {
		if (hold && s[i].split == hold)
			continue;
		if (!s[i].x)
			return errf(err, "sample %zu (id %lld): no vector", i, (long long)s[i].id);
		if (s[i].type != -1 && (s[i].type < 1 || s[i].type > LESION_NTYPES))
			return errf(err, "sample %zu (id %lld): type %d not -1 or 1..%d", i,
				    (long long)s[i].id, s[i].type, LESION_NTYPES);
		for (d = 0; d < din; d++)
			if (!isfinite(s[i].x[d]))
				return errf(err, "sample %zu (id %lld): dimension %d not finite",
					    i, (long long)s[i].id, d);
	}
	return 0;
}

int train_fit(const struct train_sample *s, size_t n, int dim_in,
	      const struct train_params *p, struct train_model **model,
	      struct train_out *out, train_progress_fn progress, void *ctx, char *err)
{
	struct trainer t;
	size_t i, nanch, used = 0;
	int rc = -1, c, ty, two = 0;

	*model = NULL;
	memset(&t, 0, sizeof(t));
	if (train_params_check(p, err))
		return -1;
	if (dim_in < 1 || dim_in > TRAIN_DIM_MAX)
		return errf(err, "dim_in: %d out of range", dim_in);
	if (validate_samples(s, n, dim_in, p->holdout_split, err))
		return -1;
	t.s = s;
	t.n = n;
	t.p = *p;
	t.dout = p->dim_out;
	if (train_model_create(dim_in, p->hidden, p->dim_out, p->seed, &t.m, err))
		return -1;
	t.type = malloc((n + 1) * sizeof(int));
	t.pseudo = calloc(n + 1, 1);
	t.skip = calloc(n + 1, 1);
	t.act = malloc((n + 1) * sizeof(size_t));
	t.bytype = malloc((n + 1) * sizeof(size_t));
	t.perm = malloc((n + 1) * sizeof(size_t));
	t.am = calloc(t.m->np, sizeof(double));
	t.av = calloc(t.m->np, sizeof(double));
	t.emb = p->pseudo_every > 0 ? malloc((n + 1) * (size_t)p->dim_out * sizeof(float)) : NULL;
	if (!t.type || !t.pseudo || !t.skip || !t.act || !t.bytype || !t.perm || !t.am ||
	    !t.av || (p->pseudo_every > 0 && !t.emb)) {
		errf(err, "out of memory");
		goto out;
	}
	for (c = 0; c < TRAIN_CHUNKS; c++) {
		t.ch[c].g = malloc(t.m->np * sizeof(double));
		if (!t.ch[c].g || scratch_init(&t.ch[c].sc, t.m)) {
			errf(err, "out of memory");
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		t.skip[i] = p->holdout_split && s[i].split == p->holdout_split;
		t.type[i] = t.skip[i] ? -1 : s[i].type;
		used += !t.skip[i];
	}
	if (!used) {
		errf(err, "no samples outside the held-out split");
		goto out;
	}
	standardise(&t, dim_in, p->global_scale);
	group_by_type(&t);
	t.nseeds = t.nact;
	for (ty = 1; ty <= LESION_NTYPES; ty++)
		two |= t.tcount[ty] >= 2;
	if (!two) {
		errf(err, "need two samples of one known type; have %zu labelled", t.nseeds);
		goto out;
	}
	if (thresholds(&t, err))
		goto out;
	if (out) {
		out->thr_loc = t.thr_loc;
		out->thr_size = t.thr_size;
	}
	for (t.epoch = 0; t.epoch < p->epochs; t.epoch++) {
		struct train_progress pr;
		double t0 = now_ms(), loss = 0;
		long active = 0, pairs = 0, anchors = 0;

		if (p->pseudo_every > 0 && t.epoch > 0 && t.epoch % p->pseudo_every == 0 &&
		    pseudo_refresh(&t, err))
			goto out;
		nanch = epoch_anchors(&t, t.epoch);
		for (t.batch_lo = 0; t.batch_lo < nanch; t.batch_lo = t.batch_hi) {
			t.batch_hi = LSD_MIN(nanch, t.batch_lo + (size_t)p->batch);
			train_par_run(LSD_MIN(p->threads, TRAIN_CHUNKS), chunk_worker, &t);
			for (c = 1; c < TRAIN_CHUNKS; c++)
				for (i = 0; i < t.m->np; i++)
					t.ch[0].g[i] += t.ch[c].g[i];
			for (c = 0; c < TRAIN_CHUNKS; c++) {
				loss += t.ch[c].loss;
				active += t.ch[c].active;
				pairs += t.ch[c].pairs;
				anchors += t.ch[c].anchors;
			}
			adam_step(&t, t.ch[0].g, 1.0 / (double)(t.batch_hi - t.batch_lo));
		}
		for (i = 0; i < t.m->np; i++)
			if (!isfinite(t.m->p[i])) {
				errf(err, "epoch %d: weights diverged (lower the learning rate)",
				     t.epoch + 1);
				goto out;
			}
		pr.epoch = t.epoch + 1;
		pr.epochs = p->epochs;
		pr.loss = anchors ? loss / (double)anchors : 0;
		pr.active = pairs ? (double)active / (double)pairs : 0;
		pr.anchors = (int)anchors;
		pr.n_seeds = (int)t.nseeds;
		pr.n_pseudo = (int)t.npseudo;
		pr.ms = now_ms() - t0;
		if (out && out->loss_curve)
			out->loss_curve[t.epoch] = pr.loss;
		if (progress && progress(ctx, &pr)) {
			errf(err, "cancelled at epoch %d", t.epoch + 1);
			goto out;
		}
	}
	if (out) {
		out->n_pseudo = (int)t.npseudo;
		if (out->types_used)
			for (i = 0; i < n; i++)
				out->types_used[i] = t.type[i];
	}
	*model = t.m;
	t.m = NULL;
	rc = 0;
out:
	trainer_free(&t);
	return rc;
}

/* ---- the sampler alone, for models trained elsewhere (index/cnn.c) ---- */

struct train_sampler {
	struct trainer t;
};

int train_sampler_new(const struct train_sample *s, size_t n, const struct train_params *p,
		      struct train_sampler **out, char *err)
{
	struct train_sampler *sm;
	struct trainer *t;
	size_t i, used = 0;
	int ty, two = 0;

	*out = NULL;
	if (train_params_check(p, err))
		return -1;
	sm = calloc(1, sizeof(*sm));
	if (!sm)
		return errf(err, "out of memory");
	t = &sm->t;
	t->s = s;
	t->n = n;
	t->p = *p;
	t->dout = p->dim_out;
	t->type = malloc((n + 1) * sizeof(int));
	t->pseudo = calloc(n + 1, 1);
	t->skip = calloc(n + 1, 1);
	t->act = malloc((n + 1) * sizeof(size_t));
	t->bytype = malloc((n + 1) * sizeof(size_t));
	t->perm = malloc((n + 1) * sizeof(size_t));
	if (!t->type || !t->pseudo || !t->skip || !t->act || !t->bytype || !t->perm) {
		errf(err, "out of memory");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		if (s[i].type != -1 && (s[i].type < 1 || s[i].type > LESION_NTYPES)) {
			errf(err, "sample %zu (id %lld): type %d not -1 or 1..%d", i,
			     (long long)s[i].id, s[i].type, LESION_NTYPES);
			goto fail;
		}
		t->skip[i] = p->holdout_split && s[i].split == p->holdout_split;
		t->type[i] = t->skip[i] ? -1 : s[i].type;
		used += !t->skip[i];
	}
	if (!used) {
		errf(err, "no samples outside the held-out split");
		goto fail;
	}
	group_by_type(t);
	t->nseeds = t->nact;
	for (ty = 1; ty <= LESION_NTYPES; ty++)
		two |= t->tcount[ty] >= 2;
	if (!two) {
		errf(err, "need two samples of one known type; have %zu labelled", t->nseeds);
		goto fail;
	}
	if (thresholds(t, err))
		goto fail;
	*out = sm;
	return 0;
fail:
	train_sampler_free(sm);
	return -1;
}

void train_sampler_free(struct train_sampler *sm)
{
	if (!sm)
		return;
	sm->t.emb = NULL;	/* the caller's */
	trainer_free(&sm->t);
	free(sm);
}

size_t train_sampler_epoch(struct train_sampler *sm, int epoch, const size_t **anchors)
{
	size_t n = epoch_anchors(&sm->t, epoch);

	*anchors = sm->t.perm;
	return n;
}

int train_sampler_pick(const struct train_sampler *sm, size_t a, int epoch, size_t pos,
		       size_t *seq)
{
	struct rng r;

	rng_seed_stream(&r, sm->t.p.seed, (uint64_t)epoch + 1, pos);
	return pick_sequence(&sm->t, a, &r, seq);
}

double train_sampler_weight(const struct train_sampler *sm, size_t a)
{
	return sm->t.pseudo[a] ? sm->t.p.pseudo_weight : 1.0;
}

int train_sampler_pseudo(struct train_sampler *sm, float *emb, int dim, char *err)
{
	int rc;

	sm->t.emb = emb;
	sm->t.dout = dim;
	rc = pseudo_vote(&sm->t, err);
	sm->t.emb = NULL;
	return rc;
}

void train_sampler_counts(const struct train_sampler *sm, size_t *nseeds, size_t *npseudo,
			  double *thr_loc, double *thr_size)
{
	*nseeds = sm->t.nseeds;
	*npseudo = sm->t.npseudo;
	*thr_loc = sm->t.thr_loc;
	*thr_size = sm->t.thr_size;
}

int train_sampler_type(const struct train_sampler *sm, size_t i)
{
	return sm->t.type[i];
}

/* ---- serialisation: little-endian, independent of the host ---- */

static void put_u32(unsigned char *b, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *b, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static uint64_t get_u64(const unsigned char *b)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static unsigned char *put_doubles(unsigned char *b, const double *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, b += 8) {
		uint64_t u;

		memcpy(&u, &v[i], 8);
		put_u64(b, u);
	}
	return b;
}

static const unsigned char *get_doubles(const unsigned char *b, double *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, b += 8) {
		uint64_t u = get_u64(b);

		memcpy(&v[i], &u, 8);
	}
	return b;
}

static size_t blob_len(int din, size_t np)
{
	return TRAIN_HDR + 8 * (2 * (size_t)din + np) + 8;
}

int train_model_serialize(const struct train_model *m, void **blob, size_t *len, char *err)
{
	size_t n = blob_len(m->din, m->np);
	unsigned char *b = malloc(n), *q;

	*blob = NULL;
	*len = 0;
	if (!b)
		return errf(err, "out of memory (%zu bytes)", n);
	memcpy(b, TRAIN_MAGIC, 8);
	put_u32(b + 8, TRAIN_VERSION);
	put_u32(b + 12, (uint32_t)m->din);
	put_u32(b + 16, (uint32_t)m->hid);
	put_u32(b + 20, (uint32_t)m->dout);
	q = put_doubles(b + TRAIN_HDR, m->mean, (size_t)m->din);
	q = put_doubles(q, m->istd, (size_t)m->din);
	q = put_doubles(q, m->p, m->np);
	put_u64(q, fnv1a64(b, n - 8, 0));
	*blob = b;
	*len = n;
	return 0;
}

int train_model_deserialize(const void *blob, size_t len, struct train_model **out, char *err)
{
	const unsigned char *b = blob, *q;
	struct train_model *m = NULL;
	uint32_t ver, din, hid, dout;
	size_t i;

	*out = NULL;
	if (!b || len < TRAIN_HDR + 8 || memcmp(b, TRAIN_MAGIC, 8))
		return errf(err, "model blob: not a lesiond trained model");
	ver = get_u32(b + 8);
	if (ver != TRAIN_VERSION)
		return errf(err, "model blob: version %u, this build reads %u", ver,
			    TRAIN_VERSION);
	din = get_u32(b + 12);
	hid = get_u32(b + 16);
	dout = get_u32(b + 20);
	if (din < 1 || din > TRAIN_DIM_MAX || hid > TRAIN_DIM_MAX || dout < 1 ||
	    dout > TRAIN_DIM_MAX)
		return errf(err, "model blob: dimensions %u/%u/%u out of range", din, hid, dout);
	if (model_nparams((int)din, (int)hid, (int)dout) > TRAIN_PARAMS_MAX ||
	    len != blob_len((int)din, model_nparams((int)din, (int)hid, (int)dout)))
		return errf(err, "model blob: %zu bytes do not match dimensions %u/%u/%u", len,
			    din, hid, dout);
	if (get_u64(b + len - 8) != fnv1a64(b, len - 8, 0))
		return errf(err, "model blob: checksum mismatch");
	if (model_alloc((int)din, (int)hid, (int)dout, &m, err))
		return -1;
	q = get_doubles(b + TRAIN_HDR, m->mean, din);
	q = get_doubles(q, m->istd, din);
	get_doubles(q, m->p, m->np);
	for (i = 0; i < din; i++)
		if (!isfinite(m->mean[i]) || !isfinite(m->istd[i]))
			goto out;
	for (i = 0; i < m->np; i++)
		if (!isfinite(m->p[i]))
			goto out;
	*out = m;
	m = NULL;
out:
	if (m) {
		train_model_free(m);
		return errf(err, "model blob: non-finite value");
	}
	return 0;
}
