/* test_motion.c - follow-up motion statistics and the demo's realism.
 *
 * 1. linkpairs: the shared radiologist-linked pairs (54 pairs, 84 lesions, PROVENANCE.md)
 *    and bad files (file:line errors).
 * 2. motion_measure on a hand-made set whose displacements are worked out here.
 * 3. The demo's follow-up motion stays in the measured real range: for demo seeds the
 *    per-axis |displacement| median and 90th percentile within [0.6, 1.6] x the real
 *    pairs', the Euclidean median and p90 within [0.7, 1.4] x, the largest displacement
 *    at most 1.5 x the real largest, and the sd of ln(long later / long earlier) within
 *    [0.7, 1.4] x the real one. The real figures are measured here from the shared rows,
 *    not copied. This fails if the demo goes back to the phantom's small shifts (median
 *    about 5x smaller than real) or moves lesions much more than real patients.
 */
#include "demo.h"
#include "dlcsv.h"
#include "linkpairs.h"
#include "motion.h"
#include "unit.h"
#include "util.h"

static char path_tmp[1024];

static const char *tmpfile_with(const char *name, const char *text)
{
	const char *t = getenv("LSD_TEST_TMP");
	char err[LSD_ERRLEN];

	snprintf(path_tmp, sizeof(path_tmp), "%s/%s", t ? t : "/tmp", name);
	if (file_write_atomic_nosync(path_tmp, text, strlen(text), err))
		fprintf(stderr, "%s\n", err);
	return path_tmp;
}

static void test_pairs_shared(void)
{
	char path[1024], err[LSD_ERRLEN];
	struct linkpairs p;
	int64_t t, t2;
	size_t ntracks = 0;

	snprintf(path, sizeof(path), "%s/same_lesion_pairs.csv", unit_shared_dir());
	CHECK(linkpairs_load(path, &p, err) == 0);
	CHECK_EQ_INT(p.n, 54);
	CHECK_EQ_INT(p.nid, 84);
	for (size_t k = 0; k < p.nid; k++)
		ntracks += p.track[k] == p.id[k];
	CHECK_EQ_INT(ntracks, 30);
	/* the first row links 15 and 18: one track, named by its smallest id */
	CHECK(linkpairs_track(&p, 15, &t) && linkpairs_track(&p, 18, &t2) && t == t2 && t == 15);
	CHECK(!linkpairs_track(&p, 1, &t));
	linkpairs_free(&p);
}

static void test_pairs_bad(void)
{
	char err[LSD_ERRLEN];
	struct linkpairs p;
	const char *f;

	f = tmpfile_with("p1.csv", "a,b\n1,2\n");
	CHECK(linkpairs_load(f, &p, err) < 0 && strstr(err, ":1: header"));
	f = tmpfile_with("p2.csv", "lesion_a,lesion_b\n1,2\n3,x\n");
	CHECK(linkpairs_load(f, &p, err) < 0 && strstr(err, "p2.csv:3:"));
	f = tmpfile_with("p3.csv", "x,lesion_b,lesion_a\n0,5,5\n");
	CHECK(linkpairs_load(f, &p, err) < 0 && strstr(err, "p3.csv:2:") && strstr(err, "itself"));
	f = tmpfile_with("p4.csv", "lesion_a,lesion_b\n");
	CHECK(linkpairs_load(f, &p, err) < 0 && strstr(err, "no pairs"));
	f = tmpfile_with("p5.csv", "lesion_a,lesion_b\n0,2\n");
	CHECK(linkpairs_load(f, &p, err) < 0 && strstr(err, "p5.csv:2:"));
	/* chains join: 7-3, 3-9 and 20-11 give tracks {3,7,9} and {11,20} */
	f = tmpfile_with("p6.csv", "lesion_a,lesion_b,source\r\n7,3,x\r\n3,9,y\r\n20,11,z\r\n");
	CHECK(linkpairs_load(f, &p, err) == 0);
	if (p.n == 3) {
		int64_t t;

		CHECK(linkpairs_track(&p, 9, &t) && t == 3);
		CHECK(linkpairs_track(&p, 7, &t) && t == 3);
		CHECK(linkpairs_track(&p, 20, &t) && t == 11);
	}
	linkpairs_free(&p);
}

static void mk(struct lesion *l, int64_t id, int pat, int study, double x, double y, double z,
	       double long_mm)
{
	memset(l, 0, sizeof(*l));
	l->id = id;
	l->patient = pat;
	l->study = study;
	l->loc[0] = x;
	l->loc[1] = y;
	l->loc[2] = z;
	l->diam_mm[0] = long_mm;
	l->spacing[0] = l->spacing[1] = 0.8;
	l->spacing[2] = 5;
	l->gender = 'F';
	l->age = 50;
	l->type = -1;
}

/* Patient 1: track 1 in studies 1, 2, 3 (x moves +0.01 then +0.03), track 2 in studies
 * 1 and 2 (y moves -0.02), an untracked lesion. Patient 2: one lesion. Pairs: (1,2),
 * (1,3), (2,3) of track 1 and (1,2) of track 2: 4 pairs. */
static void test_measure_hand(void)
{
	struct lesion l[7];
	int64_t tr[7] = { 1, 1, 1, 2, 2, 0, 3 };
	struct motion_stats s;
	char err[LSD_ERRLEN];

	mk(&l[0], 1, 1, 1, 0.50, 0.50, 0.50, 10);
	mk(&l[1], 2, 1, 2, 0.51, 0.50, 0.50, 20);
	mk(&l[2], 3, 1, 3, 0.54, 0.50, 0.50, 10);
	mk(&l[3], 4, 1, 1, 0.30, 0.40, 0.60, 10);
	mk(&l[4], 5, 1, 2, 0.30, 0.38, 0.60, 10);
	mk(&l[5], 6, 1, 2, 0.70, 0.70, 0.70, 10);
	mk(&l[6], 7, 2, 1, 0.50, 0.50, 0.50, 10);
	CHECK(motion_measure(l, tr, 7, &s, err) == 0);
	CHECK_EQ_INT(s.pairs, 4);
	CHECK_EQ_INT(s.patients, 2);
	CHECK_EQ_INT(s.studies, 4);
	/* x displacements 0.01, 0.04, 0.03, 0: |d| sorted 0, 0.01, 0.03, 0.04 */
	CHECK_NEAR(s.d[0].amax, 0.04, 1e-12);
	CHECK_NEAR(s.d[0].a50, 0.02, 1e-12);
	CHECK_NEAR(s.d[1].min, -0.02, 1e-12);
	CHECK_NEAR(s.dist.max, 0.04, 1e-12);
	/* ln ratios: ln 2, 0, -ln 2, 0 */
	CHECK_NEAR(s.logsize.max, log(2), 1e-12);
	CHECK_NEAR(s.logsize.mean, 0, 1e-12);
	/* study pair (1,2) of patient 1 has two pairs: x 0.01 and 0 -> residuals +-0.005 */
	CHECK_EQ_INT(s.within[0].n, 2);
	CHECK_NEAR(s.within[0].sd, 0.005, 1e-12);
}

static struct motion_stats real;
static int have_real;

static void test_real(void)
{
	char csv[1024], pp[1024], err[LSD_ERRLEN];
	struct dlcsv *c = NULL;
	struct linkpairs p;
	struct lesion l[300];
	int64_t tr[300];
	size_t n = 0;
	int r;

	snprintf(csv, sizeof(csv), "%s/DL_info_sample.csv", unit_shared_dir());
	snprintf(pp, sizeof(pp), "%s/same_lesion_pairs.csv", unit_shared_dir());
	CHECK(linkpairs_load(pp, &p, err) == 0);
	CHECK(dlcsv_open(csv, &c, err) == 0);
	if (!c)
		return;
	while (n < 300 && (r = dlcsv_next(c, &l[n], err)) == 1) {
		if (!linkpairs_track(&p, l[n].id, &tr[n]))
			tr[n] = 0;
		n++;
	}
	dlcsv_close(c);
	linkpairs_free(&p);
	CHECK_EQ_INT(n, 260);
	CHECK(motion_measure(l, tr, n, &real, err) == 0);
	/* the figures: 102 transitive cross-study pairs; median ~0.05, p90 ~0.1,
	 * max ~0.15 */
	CHECK_EQ_INT(real.pairs, 102);
	CHECK(real.dist.p50 > 0.04 && real.dist.p50 < 0.06);
	CHECK(real.dist.p90 > 0.08 && real.dist.p90 < 0.11);
	CHECK(real.dist.max > 0.13 && real.dist.max < 0.16);
	have_real = real.pairs == 102;
}

static int within(double v, double ref, double lo, double hi)
{
	int ok = v >= lo * ref && v <= hi * ref;

	if (!ok)
		fprintf(stderr, "  %.4f not in [%.2f, %.2f] x %.4f\n", v, lo, hi, ref);
	return ok;
}

/* The demo's follow-up motion against the real pairs'. Three seeds' pairs are pooled
 * (patients and tracks renumbered apart): one 60-patient seed has ~400 pairs, and its
 * median |dz| alone (the smallest figure, ~1.4x the real one) crosses the 1.6x bound on
 * a few seeds in ten (3 of seeds 1-30 before the type-region fix of index/demo.c, 2 of 30
 * after it; the mean over those seeds did not move: 0.0072 both). The bounds are what
 * the test checks; pooling only removes the sampling noise of one seed. */
static void demo_in_range(const uint64_t *seeds, int nseeds)
{
	struct demo *d[4] = { NULL };	/* at most this many seeds */
	struct lesion *l = NULL;
	int64_t *tr = NULL;
	struct motion_stats s;
	char err[LSD_ERRLEN];
	size_t n = 0, total = 0;
	int rc, fits = (size_t)nseeds <= LSD_ARRAY_LEN(d);

	CHECK(have_real && fits);
	if (!have_real || !fits)
		return;
	for (int k = 0; k < nseeds; k++) {
		CHECK(demo_create(60, seeds[k], &d[k], err) == 0);
		if (!d[k])
			goto out;
		total += (size_t)demo_nrows(d[k]);
	}
	l = calloc(total, sizeof(*l));
	tr = calloc(total, sizeof(*tr));
	CHECK(l && tr);
	if (!l || !tr)
		goto out;
	for (int k = 0; k < nseeds; k++)
		for (int i = 0; i < demo_nrows(d[k]); i++) {
			int type, track;

			CHECK(demo_row(d[k], i + 1, &l[n]) == 0);
			CHECK(demo_row_truth(d[k], i + 1, &type, &track) == 0);
			l[n].patient += 1000 * k;	/* patients and tracks renumbered apart */
			tr[n++] = track + 1000000 * (int64_t)k;
		}
	rc = motion_measure(l, tr, n, &s, err);
	CHECK(rc == 0);
	if (rc != 0)
		goto out;
	CHECK(s.pairs > 200 * (size_t)nseeds);
	printf("# demo seeds");
	for (int k = 0; k < nseeds; k++)
		printf(" %llu", (unsigned long long)seeds[k]);
	printf(": %zu pairs; |d| median x %.4f y %.4f z %.4f, Euclidean median %.4f p90 %.4f "
	       "max %.4f; size-change sd %.3f\n", s.pairs, s.d[0].a50, s.d[1].a50, s.d[2].a50,
	       s.dist.p50, s.dist.p90, s.dist.max, s.logsize.sd);
	for (int k = 0; k < 3; k++) {
		CHECK(within(s.d[k].a50, real.d[k].a50, 0.6, 1.6));
		CHECK(within(s.d[k].a90, real.d[k].a90, 0.6, 1.6));
	}
	CHECK(within(s.dist.p50, real.dist.p50, 0.7, 1.4));
	CHECK(within(s.dist.p90, real.dist.p90, 0.7, 1.4));
	CHECK(within(s.dist.max, real.dist.max, 0, 1.5));
	CHECK(within(s.logsize.sd, real.logsize.sd, 0.7, 1.4));
out:
	for (int k = 0; k < nseeds; k++)
		demo_destroy(d[k]);
	free(l);
	free(tr);
}

static void test_demo_seeds(void)
{
	static const uint64_t seeds[] = { 1, 29, 404 };

	demo_in_range(seeds, (int)LSD_ARRAY_LEN(seeds));
}

int main(void)
{
	RUN(test_pairs_shared);
	RUN(test_pairs_bad);
	RUN(test_measure_hand);
	RUN(test_real);
	RUN(test_demo_seeds);
	return unit_done();
}
