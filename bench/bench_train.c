/* bench_train.c - training time per epoch of the learned projection (index/train.c) for
 * 10,000 synthetic lesions of dimension 128 projected to 64: linear and with one hidden
 * layer, on 1 and 2 threads, every sample labelled so that every epoch has 10,000
 * anchors; then 30% labelled with pseudo-labels, where the slowest epoch is the one
 * that refreshes them. Prints the median epoch time (the figure that scales with
 * `lesiond train --epochs N`), the slowest epoch and the total. */
#include "train.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 10000
#define DIN 128
#define DOUT 64
#define EPOCHS 10

static uint64_t bstate = 1;

static double bunit(void)
{
	uint64_t z = (bstate += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return ((double)(z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double bnormal(void)
{
	return sqrt(-2.0 * log(bunit())) * cos(6.283185307179586 * bunit());
}

struct rec {
	double ms[EPOCHS];
	int n;
};

static int on_epoch(void *ctx, const struct train_progress *p)
{
	struct rec *r = ctx;

	if (r->n < EPOCHS)
		r->ms[r->n++] = p->ms;
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int run(const struct train_sample *s, int hidden, int threads, int pseudo)
{
	struct train_params p;
	struct train_model *m = NULL;
	struct rec r;
	char err[LSD_ERRLEN];
	double t0 = now_ms(), total, slow;

	memset(&r, 0, sizeof(r));
	train_params_default(&p);
	p.dim_out = DOUT;
	p.hidden = hidden;
	p.epochs = EPOCHS;
	p.threads = threads;
	p.pseudo_every = pseudo;
	if (train_fit(s, N, DIN, &p, &m, NULL, on_epoch, &r, err)) {
		fprintf(stderr, "bench_train: %s\n", err);
		return -1;
	}
	total = now_ms() - t0;
	qsort(r.ms, (size_t)r.n, sizeof(double), cmp);
	slow = r.ms[r.n - 1];
	printf("train %d x %d -> %d %s, %d thread%s, %s: %.1f ms/epoch median, "
	       "%.1f ms slowest, %.2f s for %d epochs\n", N, DIN, DOUT,
	       hidden ? "hidden 256" : "linear", threads, threads > 1 ? "s" : "",
	       pseudo ? "30% labelled + pseudo-labels every 5 epochs" : "all labelled",
	       (r.ms[(r.n - 1) / 2] + r.ms[r.n / 2]) / 2, slow, total / 1000, EPOCHS);
	train_model_free(m);
	return 0;
}

int main(void)
{
	struct train_sample *s = calloc(N, sizeof(*s));
	float *x = malloc((size_t)N * DIN * sizeof(float));
	static int truth[N], lab[N];
	size_t i;
	int d, rc = 1;

	if (!s || !x)
		goto out;
	for (i = 0; i < N; i++) {
		int t = 1 + (int)(bunit() * 8);

		for (d = 0; d < DIN; d++)
			x[i * DIN + d] = (float)(bnormal() + (d < 16 ? t * ((d % 3) - 1) : 0));
		s[i].x = x + i * DIN;
		truth[i] = t;
		s[i].type = bunit() < 0.3 ? t : -1;
		for (d = 0; d < 3; d++)
			s[i].loc[d] = 0.1 * t + 0.1 * bnormal();
		s[i].diam_mm[0] = exp(log(20) + 0.5 * bnormal());
		s[i].diam_mm[1] = 0.6 * s[i].diam_mm[0];
		s[i].split = 1;
		s[i].id = (int64_t)i + 1;
	}
	/* every sample an anchor in every epoch: the per-epoch cost for 10,000 lesions */
	for (i = 0; i < N; i++)
		lab[i] = s[i].type;
	for (i = 0; i < N; i++)
		s[i].type = truth[i];
	if (run(s, 0, 1, 0) || run(s, 0, 2, 0) || run(s, 256, 2, 0))
		goto out;
	/* 30% seeds: epochs 1-5 on 3,000 anchors, then pseudo-labels; the slowest epoch
	 * is the one with the refresh */
	for (i = 0; i < N; i++)
		s[i].type = lab[i];
	if (run(s, 0, 2, 5))
		goto out;
	rc = 0;
out:
	free(s);
	free(x);
	return rc;
}
