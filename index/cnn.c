/* cnn.c - the lesion network: model, input, training (see cnn.h).
 *
 * Load: one forward pass at the defaults (48 px, width 16) is ~45 Mflop, a training
 * sample (forward + backward) ~3x that; memory per worker ~3 MB of activations for an
 * anchor and its sequence. Threads: train_par_run over fixed gradient chunks.
 */
#include "cnn.h"
#include "lesion.h"
#include "nn.h"
#include "rng.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CNN_BLOCKS 3
#define CNN_CONVS (2 * CNN_BLOCKS)
#define CNN_CHUNKS 4
#define CNN_SEQ 5		/* anchor + 4 levels */
#define CNN_MAGIC1 "LSDCNN01"	/* global pooling only, 40-byte header */
#define CNN_MAGIC "LSDCNN02"	/* + flags word (bit 0: centre pooling), extra FC inputs
				 * (aux; 0 in older blobs), 48-byte header */
#define CNN_HDR1 40
#define CNN_HDR 48
#define CNN_AUX_MAX 4096
#define CNN_THREADS_MAX 64

struct cnn_model {
	struct cnn_arch a;
	int cin[CNN_CONVS], cout[CNN_CONVS], hs[CNN_CONVS];
	size_t woff[CNN_CONVS], boff[CNN_CONVS], fw, fb, np;
	int nfeat, ngap;		/* features; the global-average-pooled ones (first) */
	float *p;
};

/* Activations of one sample. */
struct act {
	float *x;			/* input */
	float *a[CNN_CONVS];		/* conv outputs after ReLU */
	float *pl[CNN_BLOCKS - 1];	/* pooled */
	int *arg[CNN_BLOCKS - 1];
	float *f, *z, *y, norm;
	const float *mask;		/* dropout on f (training), NULL: none */
	const float *aux;		/* arch.aux extra FC inputs, NULL: zeros */
};

struct ws {
	struct act act[CNN_SEQ];
	float *col, *dcol, *d1, *d2, *dpl, *df, *dz, *dy[CNN_SEQ], *mk[CNN_SEQ];
	float *mem;
	int *imem;
};

void cnn_params_default(struct cnn_params *p)
{
	memset(p, 0, sizeof(*p));
	p->arch.side = 48;
	p->arch.mm_px = 1.5;
	p->arch.width = 16;
	p->arch.dim = 64;
	p->arch.centre = 1;
	train_params_default(&p->tp);
	p->tp.dim_out = 64;
	p->tp.epochs = 12;
	p->tp.lr = 1e-3;
	p->tp.batch = 8;
	p->tp.pseudo_every = 3;
	p->shift_mm = 3;
	p->scale_jit = 0.1;
	p->hu_jit = 20;
	p->val_every = 1;
	p->cls_w = 1;
	p->lr_end = 0.05;
	p->wd = 0;
	p->dihedral = 0;
	p->drop = 0;
}

int cnn_arch_check(const struct cnn_arch *a, char *err)
{
	if (a->side < 16 || a->side > 128 || a->side % 4)
		return errf(err, "side: %d not a multiple of 4 in 16..128", a->side);
	if (!(a->mm_px >= 0.1 && a->mm_px <= 10))
		return errf(err, "mm_px: %g not in 0.1..10", a->mm_px);
	if (a->width < 4 || a->width > 64)
		return errf(err, "width: %d not in 4..64", a->width);
	if (a->dim < 2 || a->dim > 1024)
		return errf(err, "dim: %d not in 2..1024", a->dim);
	if (a->centre != 0 && a->centre != 1)
		return errf(err, "centre: %d not 0 or 1", a->centre);
	if (a->aux < 0 || a->aux > CNN_AUX_MAX)
		return errf(err, "aux: %d not in 0..%d", a->aux, CNN_AUX_MAX);
	return 0;
}

static void layout(struct cnn_model *m)
{
	size_t o = 0;
	int b, c = CNN_CH;

	m->nfeat = 0;
	for (b = 0; b < CNN_BLOCKS; b++) {
		int w = m->a.width << b, k;

		for (k = 0; k < 2; k++) {
			int i = 2 * b + k;

			m->cin[i] = k ? w : c;
			m->cout[i] = w;
			m->hs[i] = m->a.side >> b;
			m->woff[i] = o;
			o += (size_t)m->cout[i] * 9 * m->cin[i];
			m->boff[i] = o;
			o += (size_t)m->cout[i];
		}
		c = w;
		m->nfeat += w;
	}
	m->ngap = m->nfeat;
	if (m->a.centre)
		m->nfeat *= 2;
	m->nfeat += m->a.aux;	/* the extra inputs come last */
	m->fw = o;
	o += (size_t)m->a.dim * m->nfeat;
	m->fb = o;
	o += (size_t)m->a.dim;
	m->np = o;
}

static int model_alloc(const struct cnn_arch *a, struct cnn_model **out, char *err)
{
	struct cnn_model *m;

	*out = NULL;
	if (cnn_arch_check(a, err))
		return -1;
	m = calloc(1, sizeof(*m));
	if (!m)
		return errf(err, "out of memory");
	m->a = *a;
	layout(m);
	m->p = calloc(m->np, sizeof(float));
	if (!m->p) {
		free(m);
		return errf(err, "out of memory");
	}
	*out = m;
	return 0;
}

int cnn_model_create(const struct cnn_arch *a, uint64_t seed, struct cnn_model **out, char *err)
{
	struct cnn_model *m;
	struct rng r;
	size_t j;
	int i;

	if (model_alloc(a, &m, err))
		return -1;
	rng_seed(&r, seed ^ 0x636e6e696e6974u);	/* "cnninit" */
	for (i = 0; i < CNN_CONVS; i++) {
		double sd = sqrt(2.0 / (9.0 * m->cin[i]));	/* He */

		for (j = 0; j < (size_t)m->cout[i] * 9 * m->cin[i]; j++)
			m->p[m->woff[i] + j] = (float)(sd * rng_normal(&r));
	}
	for (j = 0; j < (size_t)a->dim * m->nfeat; j++)
		m->p[m->fw + j] = (float)(rng_normal(&r) / sqrt((double)m->nfeat));
	*out = m;
	return 0;
}

void cnn_model_free(struct cnn_model *m)
{
	if (!m)
		return;
	free(m->p);
	free(m);
}

int cnn_model_nfeat(const struct cnn_model *m)
{
	return m->nfeat;
}

void cnn_model_decay(struct cnn_model *m, double f)
{
	size_t j;
	int i;

	for (i = 0; i < CNN_CONVS; i++)
		for (j = 0; j < (size_t)m->cout[i] * 9 * m->cin[i]; j++)
			m->p[m->woff[i] + j] = (float)(m->p[m->woff[i] + j] * f);
	for (j = 0; j < (size_t)m->a.dim * m->nfeat; j++)
		m->p[m->fw + j] = (float)(m->p[m->fw + j] * f);
}

const struct cnn_arch *cnn_model_arch(const struct cnn_model *m)
{
	return &m->a;
}

float *cnn_model_params(struct cnn_model *m, size_t *n)
{
	*n = m->np;
	return m->p;
}

/* ---- workspace ---- */

static size_t plane(const struct cnn_model *m, int i)
{
	return (size_t)m->hs[i] * m->hs[i];
}

static void ws_free(struct ws *w)
{
	free(w->mem);
	free(w->imem);
	memset(w, 0, sizeof(*w));
}

static int ws_init(struct ws *w, const struct cnn_model *m, int nact)
{
	size_t per = 0, fl = 0, il = 0, maxcol = 0, maxa = 0;
	float *q;
	int *iq;
	int i, s, b;

	memset(w, 0, sizeof(*w));
	per += (size_t)CNN_CH * m->a.side * m->a.side;
	for (i = 0; i < CNN_CONVS; i++) {
		per += m->cout[i] * plane(m, i);
		maxcol = LSD_MAX(maxcol, (size_t)9 * m->cin[i] * plane(m, i));
		maxa = LSD_MAX(maxa, (size_t)m->cout[i] * plane(m, i));
		maxa = LSD_MAX(maxa, (size_t)m->cin[i] * plane(m, i));
	}
	for (b = 0; b + 1 < CNN_BLOCKS; b++) {
		per += m->cout[2 * b + 1] * plane(m, 2 * b + 1) / 4;
		il += m->cout[2 * b + 1] * plane(m, 2 * b + 1) / 4;
	}
	per += (size_t)m->nfeat + 2 * (size_t)m->a.dim;
	fl = per * nact + 2 * maxcol + 3 * maxa + m->nfeat + m->a.dim * (1 + CNN_SEQ) +
	     (size_t)m->nfeat * CNN_SEQ;
	w->mem = malloc(fl * sizeof(float));
	w->imem = malloc((il * nact + 1) * sizeof(int));
	if (!w->mem || !w->imem) {
		ws_free(w);
		return -1;
	}
	q = w->mem;
	iq = w->imem;
	for (s = 0; s < nact; s++) {
		struct act *a = &w->act[s];

		a->x = q;
		q += (size_t)CNN_CH * m->a.side * m->a.side;
		for (i = 0; i < CNN_CONVS; i++) {
			a->a[i] = q;
			q += m->cout[i] * plane(m, i);
		}
		for (b = 0; b + 1 < CNN_BLOCKS; b++) {
			size_t n = m->cout[2 * b + 1] * plane(m, 2 * b + 1) / 4;

			a->pl[b] = q;
			q += n;
			a->arg[b] = iq;
			iq += n;
		}
		a->f = q;
		q += m->nfeat;
		a->z = q;
		q += m->a.dim;
		a->y = q;
		q += m->a.dim;
	}
	w->col = q;
	q += maxcol;
	w->dcol = q;
	q += maxcol;
	w->d1 = q;
	q += maxa;
	w->d2 = q;
	q += maxa;
	w->dpl = q;
	q += maxa;
	w->df = q;
	q += m->nfeat;
	w->dz = q;
	q += m->a.dim;
	for (s = 0; s < CNN_SEQ; s++) {
		w->dy[s] = q;
		q += m->a.dim;
		w->mk[s] = q;
		q += m->nfeat;
	}
	return 0;
}

/* ---- forward / backward ---- */

static void forward(const struct cnn_model *m, struct act *a, float *col)
{
	const float *in = a->x;
	int b, off = 0;

	for (b = 0; b < CNN_BLOCKS; b++) {
		int i = 2 * b, h = m->hs[i];

		nn_conv3_fwd(in, m->cin[i], h, h, m->p + m->woff[i], m->p + m->boff[i], m->cout[i],
			     col, a->a[i]);
		nn_relu_fwd(a->a[i], m->cout[i] * plane(m, i));
		nn_conv3_fwd(a->a[i], m->cin[i + 1], h, h, m->p + m->woff[i + 1],
			     m->p + m->boff[i + 1], m->cout[i + 1], col, a->a[i + 1]);
		nn_relu_fwd(a->a[i + 1], m->cout[i + 1] * plane(m, i + 1));
		nn_gap_fwd(a->a[i + 1], m->cout[i + 1], h * h, a->f + off);
		if (m->a.centre)
			nn_cap_fwd(a->a[i + 1], m->cout[i + 1], h, h, h / 4, h - h / 4,
				   a->f + m->ngap + off);
		off += m->cout[i + 1];
		if (b + 1 < CNN_BLOCKS) {
			nn_pool2_fwd(a->a[i + 1], m->cout[i + 1], h, h, a->pl[b], a->arg[b]);
			in = a->pl[b];
		}
	}
	if (m->a.aux) {
		float *fa = a->f + (m->nfeat - m->a.aux);

		if (a->aux)
			memcpy(fa, a->aux, (size_t)m->a.aux * sizeof(float));
		else
			memset(fa, 0, (size_t)m->a.aux * sizeof(float));
	}
	if (a->mask)
		nn_mask_fwd(a->f, a->mask, (size_t)m->nfeat);
	nn_fc_fwd(a->f, m->nfeat, m->p + m->fw, m->p + m->fb, m->a.dim, a->z);
	a->norm = nn_l2n_fwd(a->z, m->a.dim, a->y);
}

/* Gradient of dy (w.r.t. the unit embedding a->y) added to g. */
static void backward(const struct cnn_model *m, const struct act *a, const float *dy,
		     struct ws *w, float *g)
{
	int b, off = m->ngap;

	nn_l2n_bwd(a->y, a->norm, dy, m->a.dim, w->dz);
	nn_fc_bwd(a->f, m->nfeat, m->p + m->fw, m->a.dim, w->dz, g + m->fw, g + m->fb, w->df);
	if (a->mask)
		nn_mask_bwd(w->df, a->mask, (size_t)m->nfeat);
	for (b = CNN_BLOCKS - 1; b >= 0; b--) {
		int i = 2 * b, h = m->hs[i];
		size_t n1 = m->cout[i + 1] * plane(m, i + 1);
		const float *in = b ? a->pl[b - 1] : a->x;

		off -= m->cout[i + 1];
		if (b + 1 < CNN_BLOCKS)
			nn_pool2_bwd(w->dpl, a->arg[b], m->cout[i + 1], h, h, w->d1);
		else
			memset(w->d1, 0, n1 * sizeof(float));
		nn_gap_bwd(w->df + off, m->cout[i + 1], h * h, w->d1);
		if (m->a.centre)
			nn_cap_bwd(w->df + m->ngap + off, m->cout[i + 1], h, h, h / 4, h - h / 4,
				   w->d1);
		nn_relu_bwd(a->a[i + 1], w->d1, n1);
		nn_conv3_bwd(a->a[i], m->cin[i + 1], h, h, m->p + m->woff[i + 1], m->cout[i + 1],
			     w->d1, w->col, w->dcol, g + m->woff[i + 1], g + m->boff[i + 1], w->d2);
		nn_relu_bwd(a->a[i], w->d2, m->cout[i] * plane(m, i));
		nn_conv3_bwd(in, m->cin[i], h, h, m->p + m->woff[i], m->cout[i], w->d2, w->col,
			     w->dcol, g + m->woff[i], g + m->boff[i], b ? w->dpl : NULL);
	}
}

/* The sequence loss on act[0] (anchor) .. act[k]; dy[0..k] get its gradient * w. */
static double seq_loss(const struct cnn_model *m, const struct ws *w, int k, double margin,
		       double wt, float *const *dy, int *nactive)
{
	const int dim = m->a.dim;
	double d[CNN_SEQ], gd[CNN_SEQ], loss = 0;
	int i, j;

	for (i = 0; i < k; i++) {
		double s = 0;

		for (j = 0; j < dim; j++) {
			double t = (double)w->act[0].y[j] - w->act[i + 1].y[j];

			s += t * t;
		}
		d[i] = s;
		gd[i] = 0;
	}
	for (i = 0; i + 1 < k; i++) {
		double hinge = d[i] - d[i + 1] + margin;

		if (hinge > 0) {
			loss += hinge;
			gd[i] += wt;
			gd[i + 1] -= wt;
			(*nactive)++;
		}
	}
	for (j = 0; j < dim; j++)
		dy[0][j] = 0;
	for (i = 0; i < k; i++)
		for (j = 0; j < dim; j++) {
			double t = 2.0 * gd[i] * ((double)w->act[0].y[j] - w->act[i + 1].y[j]);

			dy[0][j] += (float)t;
			dy[i + 1][j] = (float)-t;
		}
	return wt * loss;
}

int cnn_forward(const struct cnn_model *m, const float *x, float *y)
{
	return cnn_forward_aux(m, x, NULL, y);
}

int cnn_forward_aux(const struct cnn_model *m, const float *x, const float *aux, float *y)
{
	struct ws w;
	int rc;

	if (ws_init(&w, m, 1))
		return -1;
	memcpy(w.act[0].x, x, (size_t)CNN_CH * m->a.side * m->a.side * sizeof(float));
	w.act[0].aux = aux;
	forward(m, &w.act[0], w.col);
	memcpy(y, w.act[0].y, (size_t)m->a.dim * sizeof(float));
	rc = w.act[0].norm > 0 ? 0 : -1;
	ws_free(&w);
	return rc;
}

double cnn_seq_loss(const struct cnn_model *m, const float *const *x, int k, double margin,
		    float *grad)
{
	return cnn_seq_loss_ex(m, x, NULL, k, margin, NULL, grad);
}

double cnn_seq_loss_ex(const struct cnn_model *m, const float *const *x,
		       const float *const *aux, int k, double margin, const float *const *mask,
		       float *grad)
{
	struct ws w;
	double loss;
	int i, na = 0;

	if (k < 1 || k >= CNN_SEQ || ws_init(&w, m, k + 1))
		return NAN;
	for (i = 0; i <= k; i++) {
		memcpy(w.act[i].x, x[i], (size_t)CNN_CH * m->a.side * m->a.side * sizeof(float));
		w.act[i].mask = mask ? mask[i] : NULL;
		w.act[i].aux = aux ? aux[i] : NULL;
		forward(m, &w.act[i], w.col);
	}
	loss = seq_loss(m, &w, k, margin, 1.0, w.dy, &na);
	if (grad)
		for (i = 0; i <= k; i++)
			backward(m, &w.act[i], w.dy[i], &w, grad);
	ws_free(&w);
	return loss;
}

/* ---- input ---- */

int cnn_patch_side(const struct cnn_arch *a)
{
	return a->side + 2 * CNN_MARGIN_PX;
}

static double samp(const int16_t *pl, int n, double x, double y)
{
	int x0 = (int)floor(x), y0 = (int)floor(y);
	double fx = x - x0, fy = y - y0, v[4];
	int k;

	for (k = 0; k < 4; k++) {
		int xx = x0 + (k & 1), yy = y0 + (k >> 1);

		xx = xx < 0 ? 0 : xx >= n ? n - 1 : xx;
		yy = yy < 0 ? 0 : yy >= n ? n - 1 : yy;
		v[k] = pl[(size_t)yy * n + xx];
	}
	return (1 - fy) * ((1 - fx) * v[0] + fx * v[1]) + fy * ((1 - fx) * v[2] + fx * v[3]);
}

static float clip1(double v)
{
	return (float)(v < -1 ? -1 : v > 1 ? 1 : v);
}

void cnn_input(const struct cnn_arch *a, const int16_t *hu, double dx_mm, double dy_mm,
	       double scale, double hu_off, float *x)
{
	cnn_input_o(a, hu, dx_mm, dy_mm, scale, hu_off, 0, x);
}

void cnn_input_o(const struct cnn_arch *a, const int16_t *hu, double dx_mm, double dy_mm,
		 double scale, double hu_off, int orient, float *x)
{
	const int n = cnn_patch_side(a), s = a->side;
	const double c = (n - 1) / 2.0, h = (s - 1) / 2.0;
	int k, i, j;

	for (k = 0; k < CNN_SLICES; k++)
		for (j = 0; j < s; j++)
			for (i = 0; i < s; i++) {
				double u = (orient & 1 ? j : i) - h, t = (orient & 1 ? i : j) - h;
				double px = c + (orient & 2 ? -u : u) * scale + dx_mm / a->mm_px;
				double py = c + (orient & 4 ? -t : t) * scale + dy_mm / a->mm_px;
				double v = samp(hu + (size_t)k * n * n, n, px, py) + hu_off;
				size_t o = (size_t)j * s + i;

				x[(size_t)k * s * s + o] = clip1(v / 1000.0);
				if (k == 1)	/* key slice, soft-tissue window W400/L40 */
					x[(size_t)3 * s * s + o] = clip1((v - 40.0) / 200.0);
			}
}

/* ---- inference over many ---- */

struct emb_job {
	const struct cnn_model *m;
	const struct cnn_patch *p;
	const struct cnn_tta *t;
	float *y;
	size_t n, failed[CNN_THREADS_MAX];
	int threads;
};

int cnn_tta_views(const struct cnn_tta *t)
{
	return (t && t->orient > 1 ? t->orient : 1) * (t && t->shift_mm > 0 ? 5 : 1);
}

void cnn_tta_view(const struct cnn_tta *t, int v, double *dx_mm, double *dy_mm, int *orient)
{
	static const int orients[4] = { 0, 2, 4, 6 };
	static const int sx[5] = { 0, 1, -1, 0, 0 }, sy[5] = { 0, 0, 0, 1, -1 };
	int ns = t && t->shift_mm > 0 ? 5 : 1, s = v % ns;

	*orient = orients[(v / ns) & 3];
	*dx_mm = ns > 1 ? sx[s] * t->shift_mm : 0;
	*dy_mm = ns > 1 ? sy[s] * t->shift_mm : 0;
}

/* The unit mean of the unit embeddings of patch p's test-time views (cnn_tta); -1 when
 * it is the zero vector (y zeros). */
static int embed_views(const struct cnn_model *m, const struct cnn_tta *t,
		       const struct cnn_patch *p, struct ws *w, float *y)
{
	int nv = cnn_tta_views(t), v, d, orient;
	double dx, dy, norm = 0;

	memset(y, 0, (size_t)m->a.dim * sizeof(float));
	for (v = 0; v < nv; v++) {
		cnn_tta_view(t, v, &dx, &dy, &orient);
		cnn_input_o(&m->a, p->hu, dx, dy, 1, 0, orient, w->act[0].x);
		w->act[0].aux = p->aux;
		forward(m, &w->act[0], w->col);
		for (d = 0; d < m->a.dim; d++)
			y[d] += w->act[0].y[d];
	}
	if (nv == 1)
		return w->act[0].norm > 0 ? 0 : -1;
	for (d = 0; d < m->a.dim; d++)
		norm += (double)y[d] * y[d];
	if (!(norm > 0)) {
		memset(y, 0, (size_t)m->a.dim * sizeof(float));
		return -1;
	}
	norm = 1 / sqrt(norm);
	for (d = 0; d < m->a.dim; d++)
		y[d] = (float)(y[d] * norm);
	return 0;
}

static void emb_worker(void *ctx, int tid)
{
	struct emb_job *j = ctx;
	const struct cnn_model *m = j->m;
	size_t lo = j->n * (size_t)tid / j->threads, hi = j->n * (size_t)(tid + 1) / j->threads, i;
	struct ws w;

	j->failed[tid] = 0;
	if (ws_init(&w, m, 1)) {
		for (i = lo; i < hi; i++)
			memset(j->y + i * m->a.dim, 0, (size_t)m->a.dim * sizeof(float));
		j->failed[tid] = hi - lo;
		return;
	}
	for (i = lo; i < hi; i++) {
		float *y = j->y + i * m->a.dim;

		if (!j->p[i].hu) {
			memset(y, 0, (size_t)m->a.dim * sizeof(float));
			j->failed[tid]++;
			continue;
		}
		if (embed_views(m, j->t, &j->p[i], &w, y))
			j->failed[tid]++;
	}
	ws_free(&w);
}

size_t cnn_embed_many(const struct cnn_model *m, const struct cnn_patch *p, size_t n, float *y,
		      int threads)
{
	return cnn_embed_many_tta(m, p, n, NULL, y, threads);
}

size_t cnn_embed_many_tta(const struct cnn_model *m, const struct cnn_patch *p, size_t n,
			  const struct cnn_tta *tta, float *y, int threads)
{
	struct emb_job j;
	size_t f = 0;
	int t;

	nn_blas_single_thread();
	j.m = m;
	j.p = p;
	j.t = tta;
	j.y = y;
	j.n = n;
	j.threads = threads < 1 ? 1 : threads > CNN_THREADS_MAX ? CNN_THREADS_MAX : threads;
	if ((size_t)j.threads > n)
		j.threads = n ? (int)n : 1;
	train_par_run(j.threads, emb_worker, &j);
	for (t = 0; t < j.threads; t++)
		f += j.failed[t];
	return f;
}

/* ---- training ---- */

struct fit {
	const struct train_sample *s;
	const struct cnn_patch *patch;
	const struct cnn_params *p;
	struct cnn_model *m;
	struct train_sampler *sm;
	const size_t *anch;
	size_t lo, hi;
	int epoch;
	struct ws w[CNN_CHUNKS];
	float *g[CNN_CHUNKS];
	float *head;			/* auxiliary type classifier on y: W[8][dim], b[8] */
	float *gh[CNN_CHUNKS];
	double loss[CNN_CHUNKS];
	long active[CNN_CHUNKS], pairs[CNN_CHUNKS], anchors[CNN_CHUNKS];
};

static void augmented(const struct fit *f, size_t i, uint64_t a, uint64_t b, float *x)
{
	struct rng r;
	double dx, dy, sc, off;
	int orient = 0;

	rng_seed(&r, f->p->tp.seed ^ (a * 0x9e3779b97f4a7c15u) ^ (b * 0xbf58476d1ce4e5b9u) ^
		 0x61756775u);
	dx = (2 * rng_uniform(&r) - 1) * f->p->shift_mm;
	dy = (2 * rng_uniform(&r) - 1) * f->p->shift_mm;
	sc = 1 + (2 * rng_uniform(&r) - 1) * f->p->scale_jit;
	off = rng_normal(&r) * f->p->hu_jit;
	if (f->p->dihedral)
		orient = (int)(rng_uniform(&r) * 8) & 7;
	cnn_input_o(&f->m->a, f->patch[i].hu, dx, dy, sc, off, orient, x);
}

/* Dropout mask of sample i of a sequence (0 or 1/(1-p)), from the same stream keys. */
static void drop_mask(const struct fit *f, uint64_t a, uint64_t b, float *mk)
{
	const double p = f->p->drop;
	struct rng r;
	int j;

	rng_seed(&r, f->p->tp.seed ^ (a * 0x94d049bb133111ebu) ^ (b * 0x2545f4914f6cdd1du) ^
		 0x64726f70u);
	for (j = 0; j < f->m->nfeat; j++)
		mk[j] = rng_uniform(&r) < p ? 0.0f : (float)(1.0 / (1.0 - p));
}

/* Auxiliary type head: softmax(W y + b) against type t (1..8), weight wt; its gradient
 * is added to dy (w.r.t. y) and to gh (W, b). Returns the weighted cross-entropy. */
double cnn_head_loss(const float *head, int dim, const float *y, int t, double wt, float *dy,
		     float *gh)
{
	double z[LESION_NTYPES], mx = -1e30, sum = 0;
	int c, j;

	for (c = 0; c < LESION_NTYPES; c++) {
		double v = head[LESION_NTYPES * dim + c];

		for (j = 0; j < dim; j++)
			v += (double)head[c * dim + j] * y[j];
		z[c] = v;
		mx = v > mx ? v : mx;
	}
	for (c = 0; c < LESION_NTYPES; c++)
		sum += exp(z[c] - mx);
	for (c = 0; c < LESION_NTYPES; c++) {
		double pc = exp(z[c] - mx) / sum, g = wt * (pc - (c == t - 1));

		gh[LESION_NTYPES * dim + c] += (float)g;
		for (j = 0; j < dim; j++) {
			gh[c * dim + j] += (float)(g * y[j]);
			dy[j] += (float)(g * head[c * dim + j]);
		}
	}
	return wt * (mx + log(sum) - z[t - 1]);
}

static void fit_worker(void *ctx, int tid)
{
	struct fit *f = ctx;
	const struct cnn_model *m = f->m;
	int c;

	for (c = tid; c < CNN_CHUNKS; c += f->p->tp.threads) {
		struct ws *w = &f->w[c];
		size_t len = f->hi - f->lo, pos;
		size_t lo = f->lo + len * (size_t)c / CNN_CHUNKS;
		size_t hi = f->lo + len * (size_t)(c + 1) / CNN_CHUNKS;

		memset(f->g[c], 0, m->np * sizeof(float));
		memset(f->gh[c], 0, ((size_t)LESION_NTYPES * (m->a.dim + 1)) * sizeof(float));
		f->loss[c] = 0;
		f->active[c] = f->pairs[c] = f->anchors[c] = 0;
		for (pos = lo; pos < hi; pos++) {
			size_t a = f->anch[pos], seq[CNN_SEQ], mem[CNN_SEQ];
			int k = train_sampler_pick(f->sm, a, f->epoch, pos, seq), i, na = 0;
			double wt = train_sampler_weight(f->sm, a);

			if (k < 2)
				continue;
			mem[0] = a;
			for (i = 0; i < k; i++)
				mem[i + 1] = seq[i];
			for (i = 0; i <= k; i++) {
				augmented(f, mem[i], ((uint64_t)f->epoch << 32) ^ pos, (uint64_t)i,
					  w->act[i].x);
				w->act[i].mask = NULL;
				w->act[i].aux = f->patch[mem[i]].aux;
				if (f->p->drop > 0) {
					drop_mask(f, ((uint64_t)f->epoch << 32) ^ pos, (uint64_t)i,
						  w->mk[i]);
					w->act[i].mask = w->mk[i];
				}
				forward(m, &w->act[i], w->col);
			}
			f->loss[c] += seq_loss(m, w, k, f->p->tp.margin, wt, w->dy, &na);
			f->active[c] += na;
			f->pairs[c] += k - 1;
			f->anchors[c]++;
			if (f->p->cls_w > 0)
				for (i = 0; i <= k; i++) {
					int t = train_sampler_type(f->sm, mem[i]);
					double wi = f->p->cls_w * train_sampler_weight(f->sm, mem[i]);

					if (t < 1 || t > LESION_NTYPES || !(wi > 0))
						continue;
					f->loss[c] += cnn_head_loss(f->head, m->a.dim, w->act[i].y, t,
								wi / (k + 1), w->dy[i], f->gh[c]);
					na++;
				}
			if (na && wt > 0)
				for (i = 0; i <= k; i++)
					backward(m, &w->act[i], w->dy[i], w, f->g[c]);
		}
	}
}

/* 5-NN type vote of labelled val lesions among other patients' labelled lesions. */
static double val_knn(const struct train_sample *s, const struct train_sampler *sm,
		      const float *y, size_t n, int dim)
{
	size_t q, j, nq = 0, ok = 0;

	for (q = 0; q < n; q++) {
		int bt[5], votes[LESION_NTYPES + 1] = { 0 }, nb = 0, i, best = 0;
		double bd[5];

		if (s[q].split != 2 || s[q].type < 1 || train_sampler_type(sm, q) < 1)
			continue;
		for (j = 0; j < n; j++) {
			double d = 0;
			int t = s[j].type;

			if (j == q || t < 1 || s[j].patient == s[q].patient ||
			    train_sampler_type(sm, j) < 1)
				continue;
			for (i = 0; i < dim; i++)
				d += ((double)y[q * dim + i] - y[j * dim + i]) *
				     ((double)y[q * dim + i] - y[j * dim + i]);
			if (nb == 5 && d >= bd[4])
				continue;
			if (nb < 5)
				nb++;
			for (i = nb - 1; i > 0 && bd[i - 1] > d; i--) {
				bd[i] = bd[i - 1];
				bt[i] = bt[i - 1];
			}
			bd[i] = d;
			bt[i] = t;
		}
		if (!nb)
			continue;
		for (i = 0; i < nb; i++)
			votes[bt[i]]++;
		for (i = 1; i <= LESION_NTYPES; i++)
			if (votes[i] > votes[best])
				best = i;
		nq++;
		ok += best == s[q].type;
	}
	return nq ? (double)ok / (double)nq : -1;
}

int cnn_fit(const struct train_sample *s, const struct cnn_patch *patch, size_t n,
	    const struct cnn_params *p, struct cnn_model **model, double *loss_curve,
	    double *val_curve, int *n_pseudo, cnn_progress_fn progress, void *ctx, char *err)
{
	struct train_sample *ss = NULL;
	struct train_params tp = p->tp;
	struct fit f;
	float *am = NULL, *av = NULL, *emb = NULL, *hm = NULL, *hv = NULL;
	size_t nh = 0;
	long step = 0;
	size_t i, nanch;
	int rc = -1, c;

	*model = NULL;
	memset(&f, 0, sizeof(f));
	nn_blas_single_thread();
	tp.dim_out = p->arch.dim;
	if (cnn_arch_check(&p->arch, err) || train_params_check(&tp, err))
		return -1;
	if (!(p->shift_mm >= 0 && p->shift_mm <= 50 && p->scale_jit >= 0 && p->scale_jit < 0.5 &&
	      p->hu_jit >= 0 && p->hu_jit <= 500))
		return errf(err, "augmentation out of range (shift 0..50 mm, scale 0..0.5, HU 0..500)");
	if (!(p->cls_w >= 0 && p->cls_w <= 100))
		return errf(err, "type-head weight %g not in 0..100", p->cls_w);
	if (!(p->lr_end > 0 && p->lr_end <= 1))
		return errf(err, "final learning-rate factor %g not in (0, 1]", p->lr_end);
	if (!(p->wd >= 0 && p->wd * p->tp.lr < 0.5))
		return errf(err, "weight decay %g not in 0..0.5/lr", p->wd);
	if (!(p->drop >= 0 && p->drop <= 0.9) || (p->dihedral != 0 && p->dihedral != 1))
		return errf(err, "dropout %g not in 0..0.9 or dihedral %d not 0/1", p->drop,
			    p->dihedral);
	/* every sample needs its patch: the caller leaves lesions without images out */
	ss = malloc((n + 1) * sizeof(*ss));
	if (!ss)
		return errf(err, "out of memory");
	for (i = 0; i < n; i++) {
		ss[i] = s[i];
		if (!patch[i].hu) {
			errf(err, "sample %zu (id %lld) has no patch", i, (long long)s[i].id);
			goto out;
		}
	}
	f.s = ss;
	f.patch = patch;
	f.p = p;
	if (train_sampler_new(ss, n, &tp, &f.sm, err))
		goto out;
	if (cnn_model_create(&p->arch, tp.seed, &f.m, err))
		goto out;
	am = calloc(f.m->np, sizeof(float));
	av = calloc(f.m->np, sizeof(float));
	emb = calloc(n + 1, (size_t)p->arch.dim * sizeof(float));
	nh = (size_t)LESION_NTYPES * (p->arch.dim + 1);
	f.head = calloc(nh, sizeof(float));
	hm = calloc(nh, sizeof(float));
	hv = calloc(nh, sizeof(float));
	if (!am || !av || !emb || !f.head || !hm || !hv) {
		errf(err, "out of memory");
		goto out;
	}
	for (c = 0; c < CNN_CHUNKS; c++) {
		f.g[c] = malloc(f.m->np * sizeof(float));
		f.gh[c] = malloc(nh * sizeof(float));
		if (!f.g[c] || !f.gh[c] || ws_init(&f.w[c], f.m, CNN_SEQ)) {
			errf(err, "out of memory");
			goto out;
		}
	}
	for (f.epoch = 0; f.epoch < tp.epochs; f.epoch++) {
		struct cnn_progress pr;
		double t0 = now_ms(), loss = 0;
		long active = 0, pairs = 0, anchors = 0;
		size_t nseeds, npseudo;
		double tl, ts, lr = tp.lr;

		if (tp.epochs > 1)	/* cosine from lr to lr x lr_end over the epochs */
			lr *= p->lr_end + (1 - p->lr_end) * 0.5 *
			      (1 + cos(M_PI * f.epoch / (double)(tp.epochs - 1)));

		if (tp.pseudo_every > 0 && f.epoch > 0 && f.epoch % tp.pseudo_every == 0) {
			cnn_embed_many(f.m, patch, n, emb, tp.threads);
			if (train_sampler_pseudo(f.sm, emb, p->arch.dim, err))
				goto out;
		}
		nanch = train_sampler_epoch(f.sm, f.epoch, &f.anch);
		for (f.lo = 0; f.lo < nanch; f.lo = f.hi) {
			f.hi = LSD_MIN(nanch, f.lo + (size_t)tp.batch);
			train_par_run(LSD_MIN(tp.threads, CNN_CHUNKS), fit_worker, &f);
			for (c = 1; c < CNN_CHUNKS; c++) {
				for (i = 0; i < f.m->np; i++)
					f.g[0][i] += f.g[c][i];
				for (i = 0; i < nh; i++)
					f.gh[0][i] += f.gh[c][i];
			}
			for (c = 0; c < CNN_CHUNKS; c++) {
				loss += f.loss[c];
				active += f.active[c];
				pairs += f.pairs[c];
				anchors += f.anchors[c];
			}
			if (p->wd > 0)	/* decoupled (AdamW): before the step, as p -= lr wd p */
				cnn_model_decay(f.m, 1 - lr * p->wd);
			nn_adam(f.m->p, f.g[0], am, av, f.m->np, lr, ++step,
				1.0 / (double)(f.hi - f.lo));
			if (p->cls_w > 0)
				nn_adam(f.head, f.gh[0], hm, hv, nh, lr, step,
					1.0 / (double)(f.hi - f.lo));
		}
		for (i = 0; i < f.m->np; i++)
			if (!isfinite(f.m->p[i])) {
				errf(err, "epoch %d: weights diverged (lower the learning rate)",
				     f.epoch + 1);
				goto out;
			}
		train_sampler_counts(f.sm, &nseeds, &npseudo, &tl, &ts);
		memset(&pr, 0, sizeof(pr));
		pr.epoch = f.epoch + 1;
		pr.epochs = tp.epochs;
		pr.loss = anchors ? loss / (double)anchors : 0;
		pr.active = pairs ? (double)active / (double)pairs : 0;
		pr.anchors = (int)anchors;
		pr.n_seeds = (int)nseeds;
		pr.n_pseudo = (int)npseudo;
		pr.val_acc = -1;
		if (p->val_every > 0 && (pr.epoch % p->val_every == 0 || pr.epoch == tp.epochs)) {
			cnn_embed_many(f.m, patch, n, emb, tp.threads);
			pr.val_acc = val_knn(ss, f.sm, emb, n, p->arch.dim);
		}
		pr.ms = now_ms() - t0;
		if (loss_curve)
			loss_curve[f.epoch] = pr.loss;
		if (val_curve)
			val_curve[f.epoch] = pr.val_acc;
		if (n_pseudo)
			*n_pseudo = pr.n_pseudo;
		if (progress && progress(ctx, &pr)) {
			errf(err, "cancelled at epoch %d", f.epoch + 1);
			goto out;
		}
	}
	*model = f.m;
	f.m = NULL;
	rc = 0;
out:
	for (c = 0; c < CNN_CHUNKS; c++) {
		free(f.g[c]);
		free(f.gh[c]);
		ws_free(&f.w[c]);
	}
	free(f.head);
	free(hm);
	free(hv);
	train_sampler_free(f.sm);
	cnn_model_free(f.m);
	free(am);
	free(av);
	free(emb);
	free(ss);
	return rc;
}

/* ---- serialisation ---- */

static uint64_t fnv(const unsigned char *b, size_t n)
{
	uint64_t h = 1469598103934665603u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211u;
	}
	return h;
}

static void put32(unsigned char *b, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put64(unsigned char *b, uint64_t v)
{
	put32(b, (uint32_t)v);
	put32(b + 4, (uint32_t)(v >> 32));
}

static uint64_t get64(const unsigned char *b)
{
	return (uint64_t)get32(b) | (uint64_t)get32(b + 4) << 32;
}

int cnn_model_serialize(const struct cnn_model *m, void **blob, size_t *len, char *err)
{
	size_t n = CNN_HDR + 4 * m->np + 8, i;
	unsigned char *b = malloc(n);
	uint64_t mm;

	if (!b)
		return errf(err, "out of memory");
	memcpy(b, CNN_MAGIC, 8);
	put32(b + 8, (uint32_t)m->a.side);
	put32(b + 12, (uint32_t)m->a.width);
	put32(b + 16, (uint32_t)m->a.dim);
	put32(b + 20, (uint32_t)CNN_CH);
	memcpy(&mm, &m->a.mm_px, 8);
	put64(b + 24, mm);
	put64(b + 32, (uint64_t)m->np);
	put32(b + 40, (uint32_t)m->a.centre);
	put32(b + 44, (uint32_t)m->a.aux);
	for (i = 0; i < m->np; i++) {
		uint32_t v;

		memcpy(&v, &m->p[i], 4);
		put32(b + CNN_HDR + 4 * i, v);
	}
	put64(b + n - 8, fnv(b, n - 8));
	*blob = b;
	*len = n;
	return 0;
}

int cnn_model_deserialize(const void *blob, size_t len, struct cnn_model **out, char *err)
{
	const unsigned char *b = blob;
	struct cnn_arch a;
	struct cnn_model *m;
	uint64_t mm;
	size_t i, hdr;

	*out = NULL;
	if (!b || len < CNN_HDR1 + 8)
		return errf(err, "not a lesiond CNN model (magic)");
	if (!memcmp(b, CNN_MAGIC, 8))
		hdr = CNN_HDR;
	else if (!memcmp(b, CNN_MAGIC1, 8))
		hdr = CNN_HDR1;
	else
		return errf(err, "not a lesiond CNN model (magic)");
	if (len < hdr + 8 || get64(b + len - 8) != fnv(b, len - 8))
		return errf(err, "CNN model checksum mismatch");
	if (get32(b + 20) != CNN_CH)
		return errf(err, "CNN model has %u input channels, not %d", get32(b + 20), CNN_CH);
	memset(&a, 0, sizeof(a));
	a.side = (int)get32(b + 8);
	a.width = (int)get32(b + 12);
	a.dim = (int)get32(b + 16);
	mm = get64(b + 24);
	memcpy(&a.mm_px, &mm, 8);
	if (hdr == CNN_HDR) {
		if (get32(b + 40) > 1 || get32(b + 44) > CNN_AUX_MAX)
			return errf(err, "CNN model has unknown flags %u or %u extra inputs",
				    get32(b + 40), get32(b + 44));
		a.centre = (int)get32(b + 40);
		a.aux = (int)get32(b + 44);
	}
	if (model_alloc(&a, &m, err))
		return -1;
	if (get64(b + 32) != m->np || len != hdr + 4 * m->np + 8) {
		cnn_model_free(m);
		return errf(err, "CNN model size does not match its architecture");
	}
	for (i = 0; i < m->np; i++) {
		uint32_t v = get32(b + hdr + 4 * i);

		memcpy(&m->p[i], &v, 4);
		if (!isfinite(m->p[i])) {
			cnn_model_free(m);
			return errf(err, "CNN model weight %zu not finite", i);
		}
	}
	*out = m;
	return 0;
}
