/* test_csv.c - the DL_info.csv parser on the real sample rows and on broken rows.
 * Expected values are read off the file by eye / by an independent split here, not
 * produced by the parser under test. */
#include "dlcsv.h"
#include "unit.h"
#include "util.h"

#include <math.h>
#include <stdio.h>

static char sample[512];

static void test_first_row(void)
{
	struct dlcsv *c = NULL;
	struct lesion l;
	char err[LSD_ERRLEN];

	CHECK_EQ_INT(dlcsv_open(sample, &c, err), 0);
	if (!c)
		return;
	CHECK_EQ_INT(dlcsv_next(c, &l, err), 1);
	CHECK_EQ_INT(l.id, 1);
	CHECK_STR(l.file_name, "000001_01_01_109.png");
	CHECK_EQ_INT(l.patient, 1);
	CHECK_EQ_INT(l.study, 1);
	CHECK_EQ_INT(l.series, 1);
	CHECK_EQ_INT(l.key_slice, 109);
	CHECK(l.recist[0] == 233.537 && l.recist[1] == 95.0204 && l.recist[7] == 101.143);
	CHECK(l.bbox[0] == 226.169 && l.bbox[3] == 111.977);
	CHECK(l.diam_px[0] == 11.9677 && l.diam_px[1] == 5.10387);
	CHECK(l.loc[0] == 0.44666 && l.loc[1] == 0.283794 && l.loc[2] == 0.434454);
	CHECK_EQ_INT(l.type, 3);
	CHECK_EQ_INT(l.noisy, 0);
	CHECK_EQ_INT(l.slice_range[0], 103);
	CHECK_EQ_INT(l.slice_range[1], 115);
	CHECK(l.spacing[0] == 0.488281 && l.spacing[1] == 0.488281 && l.spacing[2] == 5);
	CHECK_EQ_INT(l.image_size[0], 512);
	CHECK(l.window[0] == -175 && l.window[1] == 275);
	CHECK(l.gender == 'F');
	CHECK(l.age == 62);
	CHECK_EQ_INT(l.split, 3);
	CHECK_NEAR(l.diam_mm[0], 11.9677 * 0.488281, 1e-4);
	CHECK_STR(l.image_path, "000001_01_01/109.png");
	dlcsv_close(c);
}

/* Every row parses; the quirks the provenance file lists are all met. */
static void test_all_rows_and_quirks(void)
{
	struct dlcsv *c = NULL;
	struct lesion l, prev;
	char err[LSD_ERRLEN];
	int n = 0, nan_age = 0, frac_window = 0, big = 0, repeated = 0, unlabelled = 0, r;
	double zmin = 1e9, zmax = 0;

	memset(&prev, 0, sizeof(prev));
	CHECK_EQ_INT(dlcsv_open(sample, &c, err), 0);
	if (!c)
		return;
	while ((r = dlcsv_next(c, &l, err)) == 1) {
		n++;
		CHECK_EQ_INT(l.id, n);
		nan_age += isnan(l.age);
		frac_window += l.window[0] != floor(l.window[0]);
		big += l.image_size[0] == 768;
		repeated += !strcmp(l.file_name, prev.file_name);
		unlabelled += l.type == -1;
		zmin = fmin(zmin, l.spacing[2]);
		zmax = fmax(zmax, l.spacing[2]);
		prev = l;
	}
	if (r < 0)
		fprintf(stderr, "  %s\n", err);
	CHECK_EQ_INT(r, 0);
	CHECK_EQ_INT(n, 260);
	CHECK(nan_age > 0);
	CHECK(frac_window > 0);
	CHECK(big > 0);
	CHECK(repeated > 0);
	CHECK(unlabelled > 0);
	CHECK(zmin == 0.25);
	CHECK(zmax == 5);
	dlcsv_close(c);
}

static const char good[] = "000001_01_01_109.png,1,1,1,109,\"233.537, 95.0204, 234.057, "
	"106.977, 231.169, 101.605, 236.252, 101.143\",\"226.169, 90.0204, 241.252, 111.977\","
	"\"11.9677, 5.10387\",\"0.44666, 0.283794, 0.434454\",-1,0,\"103, 115\","
	"\"0.488281, 0.488281, 5\",\"512, 512\",\"-182.5, 322.5\",M,NaN,1";

static int parse_with(const char *from, const char *to, char *err)
{
	char row[1024], *p;
	struct lesion l;

	snprintf(row, sizeof(row), "%s", good);
	if (from) {
		p = strstr(row, from);
		if (!p)
			return 99;
		memmove(p + strlen(to), p + strlen(from), strlen(p + strlen(from)) + 1);
		memcpy(p, to, strlen(to));
	}
	return dlcsv_parse_row(row, strlen(row), &l, err);
}

static void test_bad_rows(void)
{
	char err[LSD_ERRLEN];
	struct lesion l;

	CHECK_EQ_INT(parse_with(NULL, NULL, err), 0);
	CHECK_EQ_INT(dlcsv_parse_row(good, strlen(good), &l, err), 0);
	CHECK(isnan(l.age) && l.type == -1 && l.window[0] == -182.5 && l.gender == 'M');
	CHECK_EQ_INT(parse_with(",1,1,1,109,", ",x,1,1,109,", err), -1);
	CHECK(strstr(err, "Patient_index") != NULL);
	CHECK_EQ_INT(parse_with("\"11.9677, 5.10387\"", "\"11.9677\"", err), -1);
	CHECK(strstr(err, "Lesion_diameters_Pixel_") != NULL);
	CHECK_EQ_INT(parse_with("\"512, 512\"", "\"512, abc\"", err), -1);
	CHECK(strstr(err, "Image_size") != NULL);
	CHECK_EQ_INT(parse_with(",M,NaN,1", ",M,old,1", err), -1);
	CHECK(strstr(err, "Patient_age") != NULL);
	CHECK_EQ_INT(parse_with(",M,NaN,1", ",M,NaN,4", err), -1);
	CHECK(strstr(err, "Train_Val_Test") != NULL);
	CHECK_EQ_INT(parse_with(",-1,0,", ",9,0,", err), -1);
	CHECK(strstr(err, "Coarse_lesion_type") != NULL);
	CHECK_EQ_INT(parse_with(",M,NaN,1", ",M,NaN", err), -1);
	CHECK(strstr(err, "columns") != NULL);
	CHECK_EQ_INT(parse_with("\"103, 115\"", "\"103, 115", err), -1);
	CHECK_EQ_INT(parse_with("\"103, 115\"", "\"120, 130\"", err), -1);
	CHECK(strstr(err, "Slice_range") != NULL);
	CHECK_EQ_INT(parse_with("000001_01_01_109.png", "000002_01_01_109.png", err), -1);
	CHECK(strstr(err, "File_name") != NULL);
	CHECK_EQ_INT(parse_with("\"-182.5, 322.5\"", "\"322.5, -182.5\"", err), -1);
	CHECK(strstr(err, "DICOM_windows") != NULL);
	CHECK_EQ_INT(parse_with("\"0.488281, 0.488281, 5\"", "\"0.488281, 0.488281, -5\"", err), -1);
	CHECK(strstr(err, "Spacing") != NULL);
	CHECK_EQ_INT(dlcsv_parse_row("", 0, &l, err), -1);
	CHECK_EQ_INT(dlcsv_parse_row("\"", 1, &l, err), -1);
}

static void test_file_errors(void)
{
	char path[512], err[LSD_ERRLEN];
	struct dlcsv *c = NULL;
	struct lesion l;
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/bad.csv", getenv("LSD_TEST_TMP") ?
		 getenv("LSD_TEST_TMP") : "/tmp");
	f = fopen(path, "w");
	fprintf(f, "%s\n%s\n%s\n", DLCSV_HEADER, good, good);
	fprintf(f, "000001_01_01_109.png,1,1,1,109,oops\n");
	fclose(f);
	CHECK_EQ_INT(dlcsv_open(path, &c, err), 0);
	if (!c)
		return;
	CHECK_EQ_INT(dlcsv_next(c, &l, err), 1);
	CHECK_EQ_INT(dlcsv_next(c, &l, err), 1);
	r = dlcsv_next(c, &l, err);
	CHECK_EQ_INT(r, -1);
	CHECK(strstr(err, ":4: ") != NULL);
	dlcsv_close(c);
	f = fopen(path, "w");
	fprintf(f, "a,b,c\n");
	fclose(f);
	CHECK_EQ_INT(dlcsv_open(path, &c, err), -1);
	CHECK(strstr(err, ":1: header") != NULL);
}

int main(void)
{
	snprintf(sample, sizeof(sample), "%s/DL_info_sample.csv", unit_shared_dir());
	RUN(test_first_row);
	RUN(test_all_rows_and_quirks);
	RUN(test_bad_rows);
	RUN(test_file_errors);
	return unit_done();
}
