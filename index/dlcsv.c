/* dlcsv.c - the DL_info.csv reader. See dlcsv.h for the format and error contract.
 * Called by ingest (32,735 rows must parse in well under a second) and the fuzzer, so
 * it never trusts a field: every number is checked whole, lists must have exactly
 * their count of elements, and each row is validated (lesion_validate) before use. */
#include "dlcsv.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DLCSV_NCOLS 18
#define DLCSV_LINE_MAX 65536

static const char *const colname[DLCSV_NCOLS] = {
	"File_name", "Patient_index", "Study_index", "Series_ID", "Key_slice_index",
	"Measurement_coordinates", "Bounding_boxes", "Lesion_diameters_Pixel_",
	"Normalized_lesion_location", "Coarse_lesion_type", "Possibly_noisy", "Slice_range",
	"Spacing_mm_px_", "Image_size", "DICOM_windows", "Patient_gender", "Patient_age",
	"Train_Val_Test"
};

struct dlcsv {
	FILE *f;
	char *path;
	char *line;
	int lineno;
	long row;
};

/* Split one CSV record into fields, in place. Quoted fields may hold commas; "" is a
 * quote. Returns the field count, or -1 on a malformed quote. */
static int split_fields(char *s, size_t len, char **field, int max)
{
	size_t i = 0;
	int n = 0;

	for (;;) {
		char *w;

		if (n == max)
			return max + 1;
		w = s + i;
		field[n++] = w;
		if (i < len && s[i] == '"') {
			i++;
			for (;;) {
				if (i >= len)
					return -1;	/* unterminated quote */
				if (s[i] == '"') {
					if (i + 1 < len && s[i + 1] == '"') {
						*w++ = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				*w++ = s[i++];
			}
			if (i < len && s[i] != ',')
				return -1;	/* text after the closing quote */
		} else {
			while (i < len && s[i] != ',') {
				if (s[i] == '"')
					return -1;
				*w++ = s[i++];
			}
		}
		if (i >= len) {
			*w = '\0';
			return n;
		}
		*w = '\0';
		i++;	/* the comma */
	}
}

static int num(const char *s, double *out)
{
	char *end;

	while (*s == ' ')
		s++;
	errno = 0;
	*out = strtod(s, &end);
	if (end == s || errno == ERANGE)
		return -1;
	while (*end == ' ')
		end++;
	return *end ? -1 : 0;
}

static int inum(const char *s, int lo, int hi, int *out)
{
	int64_t v;

	while (*s == ' ')
		s++;
	if (parse_i64(s, lo, hi, &v))
		return -1;
	*out = (int)v;
	return 0;
}

/* "a, b, c": exactly n finite numbers. */
static int list(const char *s, double *out, int n)
{
	char buf[512], *p, *save = NULL;
	int i = 0;

	if (strlen(s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, strlen(s) + 1);
	for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (i == n || num(p, &out[i]) || !isfinite(out[i]))
			return -1;
		i++;
	}
	return i == n ? 0 : -1;
}

int dlcsv_parse_row(const char *line, size_t len, struct lesion *l, char *err)
{
	char buf[DLCSV_LINE_MAX], *f[DLCSV_NCOLS + 1];
	double v[8];
	int n, fp, fs, fr, fk, nc;

	memset(l, 0, sizeof(*l));
	if (len >= sizeof(buf))
		return errf(err, "row longer than %d bytes", DLCSV_LINE_MAX);
	if (memchr(line, '\0', len))
		return errf(err, "NUL byte in row");
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (len && buf[len - 1] == '\r')
		buf[--len] = '\0';
	n = split_fields(buf, len, f, DLCSV_NCOLS);
	if (n < 0)
		return errf(err, "malformed quoting");
	if (n != DLCSV_NCOLS)
		return errf(err, "%d columns, expected %d", n > DLCSV_NCOLS ? n - 1 : n,
			    DLCSV_NCOLS);
#define BAD(c, what) return errf(err, "%s: %s ('%.60s')", colname[c], what, f[c])
	if (strlen(f[0]) >= LESION_FILE_MAX)
		BAD(0, "too long");
	memcpy(l->file_name, f[0], strlen(f[0]) + 1);
	if (inum(f[1], 1, 999999, &l->patient))
		BAD(1, "not an integer in 1..999999");
	if (inum(f[2], 1, 99, &l->study))
		BAD(2, "not an integer in 1..99");
	if (inum(f[3], 0, 99, &l->series))
		BAD(3, "not an integer in 0..99");
	if (inum(f[4], 0, 9999, &l->key_slice))
		BAD(4, "not an integer in 0..9999");
	if (sscanf(f[0], "%6d_%2d_%2d_%4d.png%n", &fp, &fs, &fr, &fk, &nc) != 4 ||
	    (size_t)nc != strlen(f[0]))
		BAD(0, "not <patient:06d>_<study:02d>_<series:02d>_<slice:03d>.png");
	if (fp != l->patient || fs != l->study || fr != l->series || fk != l->key_slice)
		BAD(0, "disagrees with Patient_index/Study_index/Series_ID/Key_slice_index");
	if (list(f[5], l->recist, 8))
		BAD(5, "need 8 numbers");
	if (list(f[6], l->bbox, 4))
		BAD(6, "need 4 numbers");
	if (list(f[7], l->diam_px, 2))
		BAD(7, "need 2 numbers");
	if (list(f[8], l->loc, 3))
		BAD(8, "need 3 numbers");
	if (inum(f[9], -1, LESION_NTYPES, &l->type) || l->type == 0)
		BAD(9, "not -1 or 1..8");
	if (inum(f[10], 0, 1, &l->noisy))
		BAD(10, "not 0 or 1");
	if (list(f[11], v, 2) || v[0] != floor(v[0]) || v[1] != floor(v[1]) || v[0] < 0 ||
	    v[1] < 0 || v[0] > 99999 || v[1] > 99999)
		BAD(11, "need 2 slice numbers");
	l->slice_range[0] = (int)v[0];
	l->slice_range[1] = (int)v[1];
	if (list(f[12], l->spacing, 3))
		BAD(12, "need 3 numbers");
	if (list(f[13], v, 2) || v[0] != floor(v[0]) || v[1] != floor(v[1]) || v[0] < 1 ||
	    v[1] < 1 || v[0] > 4096 || v[1] > 4096)
		BAD(13, "need 2 integers in 1..4096");
	l->image_size[0] = (int)v[0];
	l->image_size[1] = (int)v[1];
	if (list(f[14], l->window, 2))
		BAD(14, "need 2 numbers");
	if (!strcmp(f[15], "M") || !strcmp(f[15], "F"))
		l->gender = f[15][0];
	else if (!strcmp(f[15], "") || !strcmp(f[15], "U") || !strcmp(f[15], "NaN"))
		l->gender = 'U';
	else
		BAD(15, "not M or F");
	if (!strcmp(f[16], "NaN") || !strcmp(f[16], "nan") || !strcmp(f[16], ""))
		l->age = NAN;
	else if (num(f[16], &l->age) || !isfinite(l->age))
		BAD(16, "not a number or NaN");
	if (inum(f[17], 1, 3, &l->split))
		BAD(17, "not 1, 2 or 3");
#undef BAD
	if (lesion_validate(l, err))
		return -1;
	lesion_derive(l);
	return 0;
}

int dlcsv_open(const char *path, struct dlcsv **out, char *err)
{
	struct dlcsv *c = NULL;
	size_t n;
	int rc = -1;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return errf(err, "out of memory");
	c->line = malloc(DLCSV_LINE_MAX + 2);
	c->path = strdup(path);
	if (!c->line || !c->path) {
		errf(err, "out of memory");
		goto out;
	}
	c->f = fopen(path, "r");
	if (!c->f) {
		errf(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	c->lineno = 1;
	if (!fgets(c->line, DLCSV_LINE_MAX + 2, c->f)) {
		errf(err, "%s:1: empty file, expected the DL_info.csv header", path);
		goto out;
	}
	n = strlen(c->line);
	while (n && (c->line[n - 1] == '\n' || c->line[n - 1] == '\r'))
		c->line[--n] = '\0';
	/* a UTF-8 byte order mark is tolerated */
	if (strcmp(c->line, DLCSV_HEADER) &&
	    strncmp(c->line, "\xef\xbb\xbf", 3) == 0 && !strcmp(c->line + 3, DLCSV_HEADER))
		memmove(c->line, c->line + 3, n - 2);
	if (strcmp(c->line, DLCSV_HEADER)) {
		errf(err, "%s:1: header is not DeepLesion's DL_info.csv header (expected \"%.60s...\")",
		     path, DLCSV_HEADER);
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	dlcsv_close(c);
	return rc;
}

int dlcsv_next(struct dlcsv *c, struct lesion *out, char *err)
{
	char e[LSD_ERRLEN];
	size_t n;

	for (;;) {
		if (!fgets(c->line, DLCSV_LINE_MAX + 2, c->f)) {
			if (ferror(c->f))
				return errf(err, "%s:%d: read error", c->path, c->lineno + 1);
			return 0;
		}
		c->lineno++;
		n = strlen(c->line);
		if (n && c->line[n - 1] != '\n' && !feof(c->f))
			return errf(err, "%s:%d: line longer than %d bytes", c->path, c->lineno,
				    DLCSV_LINE_MAX);
		while (n && (c->line[n - 1] == '\n' || c->line[n - 1] == '\r'))
			c->line[--n] = '\0';
		if (n == 0)
			continue;	/* blank lines (e.g. at the end) are skipped */
		if (dlcsv_parse_row(c->line, n, out, e))
			return errf(err, "%s:%d: %s", c->path, c->lineno, e);
		out->id = ++c->row;
		return 1;
	}
}

void dlcsv_close(struct dlcsv *c)
{
	if (!c)
		return;
	if (c->f)
		fclose(c->f);
	free(c->line);
	free(c->path);
	free(c);
}
