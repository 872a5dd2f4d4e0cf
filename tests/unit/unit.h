/* unit.h - the in-process test harness: CHECK counts, RUN names a case, and
 * unit_done() prints "RESULT <passed> <failed>" for tests/run.sh to add up.
 * A case passes when none of its CHECKs failed. */
#ifndef LSD_UNIT_H
#define LSD_UNIT_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_case_failed, unit_passed, unit_failed;

#define CHECK(cond) do { if (!(cond)) { unit_case_failed = 1; \
	fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
	if (a_ != b_) { unit_case_failed = 1; fprintf(stderr, "  FAIL %s:%d: %s == %s (%lld vs %lld)\n", \
	__FILE__, __LINE__, #a, #b, a_, b_); } } while (0)
#define CHECK_NEAR(a, b, tol) do { double a_ = (double)(a), b_ = (double)(b); \
	if (!(fabs(a_ - b_) <= (tol))) { unit_case_failed = 1; fprintf(stderr, \
	"  FAIL %s:%d: %s ~ %s (%.9g vs %.9g)\n", __FILE__, __LINE__, #a, #b, a_, b_); } } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
	if (!a_ || !b_ || strcmp(a_, b_)) { unit_case_failed = 1; fprintf(stderr, \
	"  FAIL %s:%d: %s == \"%s\" (got \"%s\")\n", __FILE__, __LINE__, #a, b_ ? b_ : "(null)", \
	a_ ? a_ : "(null)"); } } while (0)

#define RUN(fn) do { unit_case_failed = 0; fn(); \
	if (unit_case_failed) { unit_failed++; fprintf(stderr, "not ok - %s\n", #fn); } \
	else { unit_passed++; printf("ok - %s\n", #fn); } } while (0)

static inline int unit_done(void)
{
	printf("RESULT %d %d\n", unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

/* Directory of the shared DeepLesion sample data (../shared/data/deeplesion). */
static inline const char *unit_shared_dir(void)
{
	const char *d = getenv("LSD_SHARED_DATA");
	return d ? d : "../shared/data/deeplesion";
}
#endif
