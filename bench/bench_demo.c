/* bench_demo.c - speed of the synthetic dataset generator: plan time, and slices/s
 * written with 1 and 2 threads (render + 16-bit PNG + file), for a small demo.
 * Usage: bench_demo [patients] [outdir]; prints one line per figure. */
#include "demo.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_s(void)
{
	return (double)clock() / CLOCKS_PER_SEC;
}

int main(int argc, char **argv)
{
	int64_t np = 10;
	const char *base = argc > 2 ? argv[2] : "build/bench_demo";
	char err[LSD_ERRLEN], dir[1024];
	struct demo *d = NULL;
	struct demo_stats st;
	int t, rc = 1;

	if (argc > 1 && parse_i64(argv[1], 1, 1000, &np)) {
		fprintf(stderr, "usage: bench_demo [patients 1..1000] [outdir]\n");
		return 2;
	}
	if (demo_create((int)np, 1, &d, err)) {
		fprintf(stderr, "bench_demo: %s\n", err);
		return 1;
	}
	demo_stats_get(d, &st);
	printf("demo plan: %d patients, %d lesions, %d slices: %.0f ms\n", st.patients,
	       st.lesions, st.slices, st.plan_ms);
	for (t = 1; t <= 2; t++) {
		double c0 = cpu_s();

		snprintf(dir, sizeof(dir), "%s/t%d", base, t);
		if (mkdir_p(dir, err) || demo_write(d, dir, t, 1, &st, err)) {
			fprintf(stderr, "bench_demo: %s\n", err);
			goto out;
		}
		printf("demo write, %d thread%s: %.1f slices/s wall, %.2f ms CPU per slice\n", t,
		       t > 1 ? "s" : "", st.slices / (st.write_ms / 1000),
		       (cpu_s() - c0) * 1000 / st.slices);
	}
	rc = 0;
out:
	demo_destroy(d);
	return rc;
}
