/* test_fuzz_regress.c - every input the fuzzers (tests/fuzz) found crashing, fed to the
 * parser that crashed, with the behaviour now expected: a clean refusal by the range
 * check that now precedes the cast, named by its own message. gcc's UBSan does not trap
 * float-to-int overflow (clang's, in the fuzz build, does), so the outcome is asserted
 * rather than left to a sanitizer: the old code refused these rows later, with another
 * message, after the undefined cast. The raw crash files also stay in
 * tests/fuzz/regress/<target>/, replayed by every fuzz run. */
#include "apijson.h"
#include "dlcsv.h"
#include "json.h"
#include "unit.h"

#include <string.h>

/* fuzz_dlcsv: Slice_range "1034444...4, 115" passed the range check (only v[0] < 0 and
 * v[1] > 99999 were tested) and was cast to int: undefined behaviour, index/dlcsv.c. */
static void test_dlcsv_slice_range_overflow(void)
{
	static const char *const rows[] = {
		"000001_01_01_109.png,1,1,1,109,\"233.537, 95.0204, 234.057, 106.977, 231.169, "
		"101.605, 236.252, 101.143\",\"226.169, 90.0204, 241.252, 111.977\",\"11.9677, "
		"5.10387\",\"0.44666, 0.283794, 0.434454\",3,0,\"10344444444444444444444444, 115\","
		"\"0.488281, 0.488281, 5\",\"512, 512\",\"-175, 275\",F,62,3",
		"000001_01_01_109.png,1,1,1,109,\"233.537, 95.0204, 234.057, 106.977, 231.169, "
		"101.605, 236.252, 101.143\",\"226.169, 90.0204, 241.252, 111.977\",\"11.9677, "
		"5.10387\",\"0.44666, 0.283794, 0.434454\",3,0,\"103, -1e300\","
		"\"0.488281, 0.488281, 5\",\"512, 512\",\"-175, 275\",F,62,3",
	};
	struct lesion l;
	char err[LSD_ERRLEN];
	size_t i;

	for (i = 0; i < LSD_ARRAY_LEN(rows); i++) {
		err[0] = '\0';
		CHECK(dlcsv_parse_row(rows[i], strlen(rows[i]), &l, err) != 0);
		CHECK(strstr(err, "Slice_range: need 2 slice numbers") != NULL);
	}
	/* the same row with a sane range still parses */
	{
		const char *good = "000001_01_01_109.png,1,1,1,109,\"233.537, 95.0204, 234.057, "
			"106.977, 231.169, 101.605, 236.252, 101.143\",\"226.169, 90.0204, 241.252, "
			"111.977\",\"11.9677, 5.10387\",\"0.44666, 0.283794, 0.434454\",3,0,\"103, 115\","
			"\"0.488281, 0.488281, 5\",\"512, 512\",\"-175, 275\",F,62,3";

		CHECK_EQ_INT(dlcsv_parse_row(good, strlen(good), &l, err), 0);
		CHECK_EQ_INT(l.slice_range[0], 103);
		CHECK_EQ_INT(l.slice_range[1], 115);
	}
}

static int lesion_from(const char *json, struct lesion *l, char *err)
{
	struct jv *doc = NULL;
	int rc;

	if (json_parse(json, strlen(json), &doc, err))
		return -2;
	rc = apijson_lesion_parse(doc, l, err);
	json_free(doc);
	return rc;
}

#define BODY(extra) "{\"patient\":1,\"study\":1,\"series\":1,\"key_slice\":109," \
	"\"measurement_coordinates\":[233.5,95.0,234.0,106.9,231.1,101.6,236.2,101.1]," \
	"\"normalized_location\":[0.4,0.3,0.4],\"spacing_mm_px\":[0.49,0.49,5]" extra "}"

/* fuzz_json: POST /v1/lesions slice_range [103, 2.2e58] and image_size [1e300, 512]
 * were cast to int before any range check (server/apijson.c). */
static void test_lesion_json_overflow(void)
{
	struct lesion l;
	char err[LSD_ERRLEN];

	CHECK_EQ_INT(lesion_from(BODY(",\"slice_range\":[103,22222222222222222222222222222222222"
				      "222222222222222222222115]"), &l, err), -1);
	CHECK(strstr(err, "slice_range: must be two integers in 0..99999") != NULL);
	CHECK_EQ_INT(lesion_from(BODY(",\"slice_range\":[-1e300,115]"), &l, err), -1);
	CHECK(strstr(err, "slice_range: must be two integers in 0..99999") != NULL);
	CHECK_EQ_INT(lesion_from(BODY(",\"image_size\":[1e300,512]"), &l, err), -1);
	CHECK(strstr(err, "image_size: must be two integers in 1..4096") != NULL);
	CHECK_EQ_INT(lesion_from(BODY(",\"image_size\":[512,-3e9]"), &l, err), -1);
	CHECK(strstr(err, "image_size: must be two integers in 1..4096") != NULL);
	/* in range: accepted as given */
	CHECK_EQ_INT(lesion_from(BODY(",\"slice_range\":[103,115],\"image_size\":[512,256]"), &l,
				 err), 0);
	CHECK_EQ_INT(l.slice_range[1], 115);
	CHECK_EQ_INT(l.image_size[1], 256);
}

int main(void)
{
	RUN(test_dlcsv_slice_range_overflow);
	RUN(test_lesion_json_overflow);
	return unit_done();
}
