/* nn.h - the layers of a small convolutional network, forward and backward, in float32
 * (index/nn.c; the project's only user of cblas.h).
 *
 * Tensors are one sample's, channel-major (C x H x W, row-major planes). Every backward
 * ADDS to the weight gradients (dw, db) and OVERWRITES the input gradient (din, may be
 * NULL when not needed). Convolutions are 3x3, stride 1, zero padding 1, computed as
 * im2col + sgemm (OpenBLAS; the daemon runs it single-threaded and parallelises over
 * samples). Callers: index/cnn.c (the lesion network) and tests/unit/test_nn.c
 * (finite-difference gradient checks of every layer). Reentrant: no global state.
 */
#ifndef LSD_NN_H
#define LSD_NN_H

#include <stddef.h>

/* col: scratch of c*9*h*w floats. w: co x (c*9), index [o][(ci*3+ky)*3+kx]. */
void nn_conv3_fwd(const float *in, int c, int h, int w, const float *wt, const float *b, int co,
		  float *col, float *out /* OUT co*h*w */);
/* Recomputes im2col of in into col; dcol: scratch of c*9*h*w floats. */
void nn_conv3_bwd(const float *in, int c, int h, int w, const float *wt, int co,
		  const float *dout, float *col, float *dcol, float *dw, float *db, float *din);

void nn_relu_fwd(float *x, size_t n);			/* in place */
void nn_relu_bwd(const float *y, float *d, size_t n);	/* d *= (y > 0), y = relu output */

/* 2x2 max pool, stride 2 (h, w even). arg (OUT): index of each maximum in the plane. */
void nn_pool2_fwd(const float *in, int c, int h, int w, float *out, int *arg);
void nn_pool2_bwd(const float *dout, const int *arg, int c, int h, int w, float *din);

/* Global average pool: out[c] = mean of plane c. */
void nn_gap_fwd(const float *in, int c, int hw, float *out);
void nn_gap_bwd(const float *dout, int c, int hw, float *din);	/* din += dout/hw */

/* Centre average pool: out[c] = mean of plane c over rows and columns r0..r1-1. */
void nn_cap_fwd(const float *in, int c, int h, int w, int r0, int r1, float *out);
void nn_cap_bwd(const float *dout, int c, int h, int w, int r0, int r1, float *din);	/* += */

/* Fully connected: out[o] = b[o] + sum_i w[o*ni+i] in[i]. */
void nn_fc_fwd(const float *in, int ni, const float *wt, const float *b, int no, float *out);
void nn_fc_bwd(const float *in, int ni, const float *wt, int no, const float *dout, float *dw,
	       float *db, float *din);

/* Dropout with a fixed mask (0 or 1/(1-p)): x[i] *= mask[i]; the backward is the same
 * product on the gradient. */
void nn_mask_fwd(float *x, const float *mask, size_t n);
void nn_mask_bwd(float *d, const float *mask, size_t n);

/* y = x / |x|; returns |x| (0: y all zero). bwd: dx = (dy - y (y.dy)) / |x|. */
float nn_l2n_fwd(const float *x, int n, float *y);
void nn_l2n_bwd(const float *y, float norm, const float *dy, int n, float *dx);

/* OpenBLAS on the calling threads only (the network parallelises over samples; the
 * daemon sets OPENBLAS_NUM_THREADS=1 anyway, tools and tests may not). */
void nn_blas_single_thread(void);

/* One Adam step over n parameters: g scaled by gscale; step is 1-based. */
void nn_adam(float *p, const float *g, float *m, float *v, size_t n, double lr, long step,
	     double gscale);

#endif
