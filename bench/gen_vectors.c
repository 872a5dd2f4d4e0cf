/* gen_vectors.c - N synthetic embedding-like vectors as .fvecs on stdout: 1,024 Gaussian
 * cluster centres in D dimensions, each vector a centre plus 0.35 x Gaussian noise (the
 * clustered set bench_space.c uses). Built and run by bench_scale.sh:
 *   gen_vectors N D SEED > v.fvecs
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t s;

static double urand(void)
{
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return (double)(s >> 11) / 9007199254740992.0;
}

static double nrand(void)
{
	double u = urand() + 1e-12, v = urand();

	return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

int main(int argc, char **argv)
{
	long n, d, i, j;
	float *c, *v;

	if (argc != 4 || (n = strtol(argv[1], NULL, 10)) < 1 || (d = strtol(argv[2], NULL, 10)) < 1 || d > 65536) {
		fprintf(stderr, "usage: gen_vectors N D SEED > out.fvecs\n");
		return 2;
	}
	s = 88172645463325252ull ^ (uint64_t)strtol(argv[3], NULL, 10) * 0x9e3779b97f4a7c15ull;
	c = malloc(1024 * (size_t)d * sizeof(*c));
	v = malloc((size_t)d * sizeof(*v));
	if (!c || !v)
		return 1;
	for (i = 0; i < 1024 * d; i++)
		c[i] = (float)nrand();
	for (i = 0; i < n; i++) {
		const float *cc = c + (size_t)(urand() * 1024) % 1024 * (size_t)d;
		int32_t dd = (int32_t)d;

		for (j = 0; j < d; j++)
			v[j] = cc[j] + 0.35f * (float)nrand();
		if (fwrite(&dd, 4, 1, stdout) != 1 || fwrite(v, sizeof(*v), (size_t)d, stdout) != (size_t)d)
			return 1;
	}
	free(c);
	free(v);
	return 0;
}
