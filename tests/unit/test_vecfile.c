/* test_vecfile.c - .npy / .fvecs / ids.txt readers: good files (v1 and v2 .npy headers,
 * padding as NumPy writes it) and malformed ones: truncated, padded, wrong dtype,
 * big-endian, Fortran order, 1-D and 3-D shapes, huge shapes, bad magic, mixed .fvecs
 * dimensions, bad and duplicate ids. Files are built here byte by byte. */
#include "unit.h"
#include "util.h"
#include "vecfile.h"

#include <stdint.h>
#include <stdio.h>

/* an .npy image: magic, version, header dict padded with spaces to a 64-byte boundary
 * and ended by '\n' (as numpy.lib.format writes it), then rows*dim floats (i*0.5 + j) */
static unsigned char *npy(int major, const char *dict, size_t rows, size_t dim, size_t extra,
			  long cut, size_t *len)
{
	size_t pre = major == 1 ? 10 : 12, dl = strlen(dict), hl = dl + 1, i, j, off;
	unsigned char *b;

	while ((pre + hl) % 64)
		hl++;
	*len = pre + hl + rows * dim * 4 + extra;
	b = calloc(1, *len + 1);
	memcpy(b, "\x93NUMPY", 6);
	b[6] = (unsigned char)major;
	b[7] = 0;
	b[8] = (unsigned char)(hl & 255);
	b[9] = (unsigned char)(hl >> 8);
	if (major != 1) {
		b[10] = (unsigned char)(hl >> 16);
		b[11] = 0;
	}
	memset(b + pre, ' ', hl);
	memcpy(b + pre, dict, dl);
	b[pre + hl - 1] = '\n';
	off = pre + hl;
	for (i = 0; i < rows; i++)
		for (j = 0; j < dim; j++) {
			float f = (float)i * 0.5f + (float)j;

			memcpy(b + off + (i * dim + j) * 4, &f, 4);
		}
	if (cut > 0)
		*len -= (size_t)cut;
	return b;
}

static void test_npy_good(void)
{
	char err[LSD_ERRLEN];
	size_t len, rows;
	int dim;
	float *v = NULL;
	unsigned char *b = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 3, 4,
			       0, 0, &len);

	CHECK_EQ_INT(vecfile_parse_npy(b, len, &v, &rows, &dim, err), 0);
	CHECK_EQ_INT(rows, 3);
	CHECK_EQ_INT(dim, 4);
	if (v) {
		CHECK(v[0] == 0.0f && v[3] == 3.0f && v[4] == 0.5f && v[11] == 4.0f);
	}
	free(v);
	free(b);
	/* version 2 header, keys in another order, Python 2 long */
	b = npy(2, "{\"shape\": (2L, 1), \"fortran_order\": False, \"descr\": \"<f4\"}", 2, 1, 0, 0,
		&len);
	CHECK_EQ_INT(vecfile_parse_npy(b, len, &v, &rows, &dim, err), 0);
	CHECK_EQ_INT(rows, 2);
	CHECK_EQ_INT(dim, 1);
	free(v);
	free(b);
}

static void bad_npy(const char *dict, size_t rows, size_t dim, size_t extra, long cut,
		    const char *want)
{
	char err[LSD_ERRLEN] = "";
	size_t len, r;
	int d;
	float *v = NULL;
	unsigned char *b = npy(1, dict, rows, dim, extra, cut, &len);

	CHECK_EQ_INT(vecfile_parse_npy(b, len, &v, &r, &d, err), -1);
	CHECK(v == NULL);
	if (!strstr(err, want)) {
		fprintf(stderr, "  got error: %s (wanted '%s')\n", err, want);
		CHECK(strstr(err, want) != NULL);
	}
	free(b);
}

static void test_npy_bad(void)
{
	char err[LSD_ERRLEN];
	size_t r;
	int d;
	float *v = NULL;

	bad_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 3, 4, 0, 5,
		"truncated");
	bad_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 3, 4, 8, 0,
		"padded");
	bad_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }", 3, 8, 0, 0,
		"float32");
	bad_npy("{'descr': '>f4', 'fortran_order': False, 'shape': (3, 4), }", 3, 4, 0, 0,
		"little-endian");
	bad_npy("{'descr': '<i4', 'fortran_order': False, 'shape': (3, 4), }", 3, 4, 0, 0,
		"not supported");
	bad_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }", 3, 4, 0, 0,
		"Fortran");
	bad_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (12,), }", 12, 1, 0, 0,
		"2 (rows x dim)");
	bad_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 2), }", 2, 6, 0, 0,
		"2 (rows x dim)");
	bad_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", 0, 4, 0, 0,
		"row count");
	/* huge shapes: refused before any allocation, no overflow */
	bad_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 1,
		4, 0, 0, "row count");
	bad_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 99999999), }", 3, 4, 0, 0,
		"dimension");
	bad_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2000000000, 65536), }", 1, 4, 0,
		0, "payload");
	bad_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 4), }",
		1, 4, 0, 0, "shape");
	bad_npy("{'descr': '<f4', 'shape': (3, 4), }", 3, 4, 0, 0, "lacks");
	bad_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'x': 1}", 3, 4, 0, 0,
		"unexpected key");
	bad_npy("[1, 2]", 1, 1, 0, 0, "not a dict");
	CHECK_EQ_INT(vecfile_parse_npy("\x93NUMPZ\x01\x00\x00\x00", 10, &v, &r, &d, err), -1);
	CHECK(strstr(err, "magic") != NULL);
	CHECK_EQ_INT(vecfile_parse_npy("\x93NUMPY\x01\x00\xff\x7f", 10, &v, &r, &d, err), -1);
	CHECK(strstr(err, "truncated") != NULL);
	CHECK_EQ_INT(vecfile_parse_npy("", 0, &v, &r, &d, err), -1);
}

static unsigned char *fvecs(int rows, int dim, int bad_row, size_t *len)
{
	size_t rec = 4 + 4 * (size_t)dim;
	unsigned char *b = calloc((size_t)rows, rec);
	int i, j;

	for (i = 0; i < rows; i++) {
		int32_t d = i == bad_row ? dim + 1 : dim;

		memcpy(b + (size_t)i * rec, &d, 4);
		for (j = 0; j < dim; j++) {
			float f = (float)(i * 100 + j);

			memcpy(b + (size_t)i * rec + 4 + (size_t)j * 4, &f, 4);
		}
	}
	*len = (size_t)rows * rec;
	return b;
}

static void test_fvecs(void)
{
	char err[LSD_ERRLEN], path[600];
	size_t len, r;
	int d;
	float *v = NULL;
	unsigned char *b = fvecs(5, 3, -1, &len);

	CHECK_EQ_INT(vecfile_parse_fvecs(b, len, &v, &r, &d, err), 0);
	CHECK_EQ_INT(r, 5);
	CHECK_EQ_INT(d, 3);
	if (v)
		CHECK(v[0] == 0.0f && v[2] == 2.0f && v[3] == 100.0f && v[14] == 402.0f);
	free(v);
	v = NULL;
	/* through a file: in-place compaction gives the same floats */
	snprintf(path, sizeof(path), "%s/t.fvecs", getenv("LSD_TEST_TMP") ? getenv("LSD_TEST_TMP") : "/tmp");
	CHECK_EQ_INT(file_write_atomic_nosync(path, b, len, err), 0);
	CHECK_EQ_INT(vecfile_read(path, &v, &r, &d, err), 0);
	if (v)
		CHECK(r == 5 && d == 3 && v[3] == 100.0f && v[14] == 402.0f);
	free(v);
	v = NULL;
	CHECK_EQ_INT(vecfile_parse_fvecs(b, len - 2, &v, &r, &d, err), -1);	/* truncated */
	CHECK(strstr(err, "truncated") != NULL);
	free(b);
	b = fvecs(5, 3, 2, &len);	/* row 2 claims dimension 4 */
	CHECK_EQ_INT(vecfile_parse_fvecs(b, len, &v, &r, &d, err), -1);
	CHECK(strstr(err, "row 2") != NULL);
	free(b);
	{
		int32_t neg[2] = {-1, 0}, huge[2] = {1 << 30, 0};

		CHECK_EQ_INT(vecfile_parse_fvecs(neg, 8, &v, &r, &d, err), -1);
		CHECK_EQ_INT(vecfile_parse_fvecs(huge, 8, &v, &r, &d, err), -1);
		CHECK(strstr(err, "out of range") != NULL);
	}
	CHECK_EQ_INT(vecfile_read("/nonexistent/x.bin", &v, &r, &d, err), -1);
	CHECK(strstr(err, "unknown vector file type") != NULL);
}

static void test_npy_file(void)
{
	char err[LSD_ERRLEN], path[600];
	size_t len, r;
	int d;
	float *v = NULL;
	unsigned char *b = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (7, 5), }", 7, 5,
			       0, 0, &len);

	snprintf(path, sizeof(path), "%s/t.npy", getenv("LSD_TEST_TMP") ? getenv("LSD_TEST_TMP") : "/tmp");
	CHECK_EQ_INT(file_write_atomic_nosync(path, b, len, err), 0);
	CHECK_EQ_INT(vecfile_read(path, &v, &r, &d, err), 0);
	if (v)
		CHECK(r == 7 && d == 5 && v[5] == 0.5f && v[34] == 7.0f);
	free(v);
	/* truncated on disk: the path is named */
	CHECK_EQ_INT(file_write_atomic_nosync(path, b, len - 1, err), 0);
	CHECK_EQ_INT(vecfile_read(path, &v, &r, &d, err), -1);
	CHECK(strstr(err, path) != NULL && strstr(err, "truncated") != NULL);
	free(b);
}

static void test_ids(void)
{
	char err[LSD_ERRLEN];
	int64_t *ids = NULL;
	size_t n;
	const char ok[] = "5\r\n  17 \n\n9000000000\n3";

	CHECK_EQ_INT(vecfile_parse_ids(ok, strlen(ok), &ids, &n, err), 0);
	CHECK_EQ_INT(n, 4);
	if (ids)
		CHECK(ids[0] == 5 && ids[1] == 17 && ids[2] == 9000000000ll && ids[3] == 3);
	free(ids);
	CHECK_EQ_INT(vecfile_parse_ids("1\n2\nx\n", 6, &ids, &n, err), -1);
	CHECK(strstr(err, "line 3") != NULL);
	CHECK_EQ_INT(vecfile_parse_ids("1\n0\n", 4, &ids, &n, err), -1);
	CHECK_EQ_INT(vecfile_parse_ids("1\n-4\n", 5, &ids, &n, err), -1);
	CHECK_EQ_INT(vecfile_parse_ids("1\n2 3\n", 6, &ids, &n, err), -1);
	CHECK_EQ_INT(vecfile_parse_ids("7\n8\n7\n", 6, &ids, &n, err), -1);
	CHECK(strstr(err, "twice") != NULL);
	CHECK_EQ_INT(vecfile_parse_ids("\n\n", 2, &ids, &n, err), -1);
	CHECK_EQ_INT(vecfile_parse_ids("99999999999999999999\n", 21, &ids, &n, err), -1);
}

int main(void)
{
	RUN(test_npy_good);
	RUN(test_npy_bad);
	RUN(test_fvecs);
	RUN(test_npy_file);
	RUN(test_ids);
	return unit_done();
}
