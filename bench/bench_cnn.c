/* bench_cnn.c - the lesion network (index/cnn.c) at its default size: inference from
 * cached patches (lesions/s, 1 and 2 threads; the network alone, PNG decoding excluded:
 * see bench_descriptor for that), and the time of one training epoch over N synthetic
 * lesions, every one labelled so that each is an anchor once (N = CNN_BENCH_N, default
 * 10,000), 2 threads. Prints figures only. */
#include "cnn.h"
#include "rng.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU seconds of the process (the machine may be shared: wall figures then mislead) */
static double cpu_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int on_epoch(void *ctx, const struct cnn_progress *p)
{
	(void)ctx;
	printf("cnn train: epoch over %d anchors in %.1f s (%.1f anchors/s, %.0f network passes/s "
	       "forward+backward)\n", p->anchors, p->ms / 1000, p->anchors / (p->ms / 1000),
	       p->anchors * 4.5 / (p->ms / 1000));
	return 0;
}

int main(void)
{
	struct cnn_params p;
	struct cnn_model *m;
	struct cnn_patch *pa;
	struct train_sample *s;
	struct rng r;
	char err[256];
	const char *env = getenv("CNN_BENCH_N");
	size_t n = env ? (size_t)strtol(env, NULL, 10) : 10000, ni = 2000, i, k, np;
	float *y;
	double cpu0;
	int t;

	cnn_params_default(&p);
	np = (size_t)CNN_SLICES * cnn_patch_side(&p.arch) * cnn_patch_side(&p.arch);
	if (n < 100)
		n = 100;
	if (ni > n)
		ni = n;
	pa = calloc(n, sizeof(*pa));
	s = calloc(n, sizeof(*s));
	y = malloc(n * (size_t)p.arch.dim * sizeof(float));
	rng_seed(&r, 1);
	for (i = 0; i < n; i++) {
		pa[i].hu = malloc(np * sizeof(int16_t));
		for (k = 0; k < np; k++)
			pa[i].hu[k] = (int16_t)(40 + 200 * rng_normal(&r));
		s[i].type = 1 + (int)(i % 8);
		s[i].split = 1;
		s[i].id = (int64_t)i + 1;
		s[i].patient = (int)(i / 4);
		for (k = 0; k < 3; k++)
			s[i].loc[k] = rng_uniform(&r);
		s[i].diam_mm[0] = 5 + 40 * rng_uniform(&r);
		s[i].diam_mm[1] = s[i].diam_mm[0] * 0.7;
	}
	if (cnn_model_create(&p.arch, 1, &m, err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (t = 1; t <= 2; t++) {
		double t0 = now_ms(), c0 = cpu_s(), sec, cpu;

		cnn_embed_many(m, pa, ni, y, t);
		sec = (now_ms() - t0) / 1000;
		cpu = cpu_s() - c0;
		printf("cnn inference (%d px, width %d, dim %d), %d thread%s: %.0f lesions/s wall, "
		       "%.0f lesions per CPU-second\n", p.arch.side, p.arch.width, p.arch.dim, t,
		       t > 1 ? "s" : "", ni / sec, ni / cpu);
	}
	cnn_model_free(m);
	p.tp.epochs = 1;
	p.tp.threads = 2;
	p.tp.pseudo_every = 0;
	p.val_every = 0;
	cpu0 = cpu_s();
	if (cnn_fit(s, pa, n, &p, &m, NULL, NULL, NULL, on_epoch, NULL, err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("cnn train: one epoch over %zu lesions: %.1f CPU-seconds\n", n, cpu_s() - cpu0);
	cnn_model_free(m);
	for (i = 0; i < n; i++)
		free(pa[i].hu);
	free(pa);
	free(s);
	free(y);
	return 0;
}
