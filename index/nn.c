/* nn.c - convolutional network layers, forward and backward (see nn.h).
 *
 * Load: a 3x3 convolution of c -> co channels on h x w costs 2*co*9c*hw flops, all in
 * one sgemm; im2col adds 9*c*h*w float writes. Pooling, ReLU and the head are linear
 * passes. Called from the worker threads of index/cnn.c, each on its own sample.
 */
#include "nn.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

static void im2col(const float *in, int c, int h, int w, float *col)
{
	int ci, ky, kx, y, x;

	for (ci = 0; ci < c; ci++)
		for (ky = 0; ky < 3; ky++)
			for (kx = 0; kx < 3; kx++) {
				float *row = col + (size_t)((ci * 3 + ky) * 3 + kx) * h * w;
				const float *pl = in + (size_t)ci * h * w;

				for (y = 0; y < h; y++) {
					int sy = y + ky - 1;
					float *r = row + (size_t)y * w;

					if (sy < 0 || sy >= h) {
						memset(r, 0, (size_t)w * sizeof(float));
						continue;
					}
					for (x = 0; x < w; x++) {
						int sx = x + kx - 1;

						r[x] = sx < 0 || sx >= w ? 0.0f : pl[(size_t)sy * w + sx];
					}
				}
			}
}

static void col2im(const float *col, int c, int h, int w, float *in)
{
	int ci, ky, kx, y, x;

	memset(in, 0, (size_t)c * h * w * sizeof(float));
	for (ci = 0; ci < c; ci++)
		for (ky = 0; ky < 3; ky++)
			for (kx = 0; kx < 3; kx++) {
				const float *row = col + (size_t)((ci * 3 + ky) * 3 + kx) * h * w;
				float *pl = in + (size_t)ci * h * w;

				for (y = 0; y < h; y++) {
					int sy = y + ky - 1;
					const float *r = row + (size_t)y * w;

					if (sy < 0 || sy >= h)
						continue;
					for (x = 0; x < w; x++) {
						int sx = x + kx - 1;

						if (sx >= 0 && sx < w)
							pl[(size_t)sy * w + sx] += r[x];
					}
				}
			}
}

void nn_conv3_fwd(const float *in, int c, int h, int w, const float *wt, const float *b, int co,
		  float *col, float *out)
{
	int hw = h * w, o, i;

	im2col(in, c, h, w, col);
	for (o = 0; o < co; o++)
		for (i = 0; i < hw; i++)
			out[(size_t)o * hw + i] = b[o];
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, co, hw, 9 * c, 1.0f, wt, 9 * c,
		    col, hw, 1.0f, out, hw);
}

void nn_conv3_bwd(const float *in, int c, int h, int w, const float *wt, int co,
		  const float *dout, float *col, float *dcol, float *dw, float *db, float *din)
{
	int hw = h * w, o, i;

	im2col(in, c, h, w, col);
	for (o = 0; o < co; o++) {
		float s = 0;

		for (i = 0; i < hw; i++)
			s += dout[(size_t)o * hw + i];
		db[o] += s;
	}
	/* dw[co][9c] += dout[co][hw] x col[9c][hw]^T */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, co, 9 * c, hw, 1.0f, dout, hw, col,
		    hw, 1.0f, dw, 9 * c);
	if (!din)
		return;
	/* dcol[9c][hw] = wt[co][9c]^T x dout[co][hw] */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, 9 * c, hw, co, 1.0f, wt, 9 * c, dout,
		    hw, 0.0f, dcol, hw);
	col2im(dcol, c, h, w, din);
}

void nn_relu_fwd(float *x, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = x[i] > 0 ? x[i] : 0.0f;
}

void nn_relu_bwd(const float *y, float *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!(y[i] > 0))
			d[i] = 0.0f;
}

void nn_pool2_fwd(const float *in, int c, int h, int w, float *out, int *arg)
{
	int ci, y, x, oh = h / 2, ow = w / 2;

	for (ci = 0; ci < c; ci++) {
		const float *pl = in + (size_t)ci * h * w;

		for (y = 0; y < oh; y++)
			for (x = 0; x < ow; x++) {
				int k0 = 2 * y * w + 2 * x, cand[4] = { k0, k0 + 1, k0 + w, k0 + w + 1 };
				int best = cand[0], k;
				size_t oi = (size_t)ci * oh * ow + (size_t)y * ow + x;

				for (k = 1; k < 4; k++)
					if (pl[cand[k]] > pl[best])
						best = cand[k];
				out[oi] = pl[best];
				arg[oi] = best;
			}
	}
}

void nn_pool2_bwd(const float *dout, const int *arg, int c, int h, int w, float *din)
{
	size_t ci, i, ohw = (size_t)(h / 2) * (w / 2);

	memset(din, 0, (size_t)c * h * w * sizeof(float));
	for (ci = 0; ci < (size_t)c; ci++)
		for (i = 0; i < ohw; i++)
			din[ci * h * w + (size_t)arg[ci * ohw + i]] += dout[ci * ohw + i];
}

void nn_gap_fwd(const float *in, int c, int hw, float *out)
{
	int ci, i;

	for (ci = 0; ci < c; ci++) {
		double s = 0;

		for (i = 0; i < hw; i++)
			s += in[(size_t)ci * hw + i];
		out[ci] = (float)(s / hw);
	}
}

void nn_gap_bwd(const float *dout, int c, int hw, float *din)
{
	int ci, i;

	for (ci = 0; ci < c; ci++) {
		float g = dout[ci] / (float)hw;

		for (i = 0; i < hw; i++)
			din[(size_t)ci * hw + i] += g;
	}
}

void nn_cap_fwd(const float *in, int c, int h, int w, int r0, int r1, float *out)
{
	int ci, y, x;

	for (ci = 0; ci < c; ci++) {
		double s = 0;

		for (y = r0; y < r1; y++)
			for (x = r0; x < r1; x++)
				s += in[((size_t)ci * h + y) * w + x];
		out[ci] = (float)(s / ((double)(r1 - r0) * (r1 - r0)));
	}
}

void nn_cap_bwd(const float *dout, int c, int h, int w, int r0, int r1, float *din)
{
	int ci, y, x;

	for (ci = 0; ci < c; ci++) {
		float g = (float)(dout[ci] / ((double)(r1 - r0) * (r1 - r0)));

		for (y = r0; y < r1; y++)
			for (x = r0; x < r1; x++)
				din[((size_t)ci * h + y) * w + x] += g;
	}
}

void nn_fc_fwd(const float *in, int ni, const float *wt, const float *b, int no, float *out)
{
	int o, i;

	for (o = 0; o < no; o++) {
		float s = b[o];

		for (i = 0; i < ni; i++)
			s += wt[(size_t)o * ni + i] * in[i];
		out[o] = s;
	}
}

void nn_fc_bwd(const float *in, int ni, const float *wt, int no, const float *dout, float *dw,
	       float *db, float *din)
{
	int o, i;

	if (din)
		memset(din, 0, (size_t)ni * sizeof(float));
	for (o = 0; o < no; o++) {
		float g = dout[o];

		db[o] += g;
		for (i = 0; i < ni; i++) {
			dw[(size_t)o * ni + i] += g * in[i];
			if (din)
				din[i] += g * wt[(size_t)o * ni + i];
		}
	}
}

float nn_l2n_fwd(const float *x, int n, float *y)
{
	double s = 0;
	float norm;
	int i;

	for (i = 0; i < n; i++)
		s += (double)x[i] * x[i];
	norm = (float)sqrt(s);
	for (i = 0; i < n; i++)
		y[i] = norm > 0 ? x[i] / norm : 0.0f;
	return norm;
}

void nn_l2n_bwd(const float *y, float norm, const float *dy, int n, float *dx)
{
	double dot = 0;
	int i;

	for (i = 0; i < n; i++)
		dot += (double)y[i] * dy[i];
	for (i = 0; i < n; i++)
		dx[i] = norm > 0 ? (float)((dy[i] - y[i] * dot) / norm) : 0.0f;
}

void nn_blas_single_thread(void)
{
	openblas_set_num_threads(1);
}

void nn_mask_fwd(float *x, const float *mask, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		x[i] *= mask[i];
}

void nn_mask_bwd(float *d, const float *mask, size_t n)
{
	nn_mask_fwd(d, mask, n);	/* linear: the same product */
}

void nn_adam(float *p, const float *g, float *m, float *v, size_t n, double lr, long step,
	     double gscale)
{
	const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
	double c1 = 1.0 - pow(b1, (double)step), c2 = 1.0 - pow(b2, (double)step);
	double a = lr * sqrt(c2) / c1;
	size_t i;

	for (i = 0; i < n; i++) {
		double gi = g[i] * gscale;

		m[i] = (float)(b1 * m[i] + (1 - b1) * gi);
		v[i] = (float)(b2 * v[i] + (1 - b2) * gi * gi);
		p[i] -= (float)(a * m[i] / (sqrt(v[i]) + eps));
	}
}
