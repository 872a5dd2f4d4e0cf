/* image.c - PNG decode/encode with libpng's classic API; the only file that includes png.h.
 *
 * Called by the renderer (slices into patches), the descriptor (slices into features),
 * the demo generator (writes slices) and the fuzz target. Errors from libpng arrive via
 * longjmp; each public function sets its own jump buffer, so nothing crosses threads.
 * Every input is checked against 16-bit grayscale and IMAGE_MAX_SIDE before any
 * allocation sized by it.
 */
#include "image.h"
#include "util.h"

#include <png.h>
#include <zlib.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>

struct pngerr {
	char *err;
	jmp_buf jb;
};

static void on_error(png_structp png, png_const_charp msg)
{
	struct pngerr *pe = png_get_error_ptr(png);

	errf(pe->err, "png: %s", msg);
	longjmp(pe->jb, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

struct memsrc {
	const unsigned char *p;
	size_t len, off;
};

static void mem_read(png_structp png, png_bytep out, png_size_t n)
{
	struct memsrc *m = png_get_io_ptr(png);

	if (n > m->len - m->off)
		png_error(png, "truncated data");
	memcpy(out, m->p + m->off, n);
	m->off += n;
}

void slice16_free(struct slice16 *s)
{
	if (!s)
		return;
	free(s->hu);
	s->hu = NULL;
	s->w = s->h = 0;
}

/* Shared body of the file and memory decoders. Exactly one of f / m is set. */
static int decode16(FILE *f, struct memsrc *m, int max_rows, struct slice16 *out, char *err)
{
	png_structp png = NULL;
	png_infop info = NULL;
	struct pngerr pe;
	uint16_t *volatile row = NULL;
	int16_t *volatile hu = NULL;
	volatile int rc = -1;
	png_uint_32 w, h, y, x, rows;
	int depth, ctype, interlace;
	unsigned char sig[8];

	memset(out, 0, sizeof(*out));
	pe.err = err;
	if (f) {
		if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8))
			return errf(err, "not a PNG file");
	} else {
		if (m->len < 8 || png_sig_cmp(m->p, 0, 8))
			return errf(err, "not a PNG file");
		m->off = 8;
	}
	png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &pe, on_error, on_warning);
	if (!png)
		return errf(err, "png: out of memory");
	info = png_create_info_struct(png);
	if (!info) {
		errf(err, "png: out of memory");
		goto out;
	}
	if (setjmp(pe.jb))
		goto out;
	if (f)
		png_init_io(png, f);
	else
		png_set_read_fn(png, m, mem_read);
	png_set_sig_bytes(png, 8);
	png_set_user_limits(png, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE);
	png_read_info(png, info);
	png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
	if (ctype != PNG_COLOR_TYPE_GRAY || depth != 16) {
		errf(err, "expected a 16-bit grayscale PNG, got %d-bit %s", depth,
		     ctype == PNG_COLOR_TYPE_GRAY ? "grayscale" : "colour/palette/alpha");
		goto out;
	}
	if (interlace != PNG_INTERLACE_NONE) {
		errf(err, "interlaced 16-bit PNG not supported");
		goto out;
	}
	if (w == 0 || h == 0 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE) {
		errf(err, "bad image size %ux%u", (unsigned)w, (unsigned)h);
		goto out;
	}
	png_set_swap(png);	/* PNG is big-endian; get host order */
	png_read_update_info(png, info);
	if (png_get_rowbytes(png, info) != (size_t)w * 2) {
		errf(err, "unexpected row size");
		goto out;
	}
	row = malloc((size_t)w * 2);
	hu = malloc((size_t)w * h * sizeof(int16_t));
	if (!row || !hu) {
		errf(err, "out of memory");
		goto out;
	}
	rows = (max_rows > 0 && (png_uint_32)max_rows < h) ? (png_uint_32)max_rows : h;
	for (y = 0; y < rows; y++) {
		int16_t *dst = hu + (size_t)y * w;

		png_read_row(png, (png_bytep)row, NULL);
		for (x = 0; x < w; x++) {
			int v = (int)row[x] - IMAGE_HU_OFFSET;

			dst[x] = (int16_t)v;
		}
	}
	if (rows == h)
		png_read_end(png, NULL);	/* checks the zlib stream's end and IEND */
	for (; y < h; y++)
		for (x = 0; x < w; x++)
			hu[(size_t)y * w + x] = -1000;
	out->w = (int)w;
	out->h = (int)h;
	out->hu = hu;
	hu = NULL;
	rc = 0;
out:
	png_destroy_read_struct(&png, info ? &info : NULL, NULL);
	free(row);
	free(hu);
	return rc;
}

int image_read_png16(const char *path, int max_rows, struct slice16 *out, char *err)
{
	FILE *f = fopen(path, "rb");
	int rc;

	if (!f) {
		memset(out, 0, sizeof(*out));
		return errf(err, "cannot open slice");
	}
	rc = decode16(f, NULL, max_rows, out, err);
	fclose(f);
	return rc;
}

int image_read_png16_fp(void *f, int max_rows, struct slice16 *out, char *err)
{
	return decode16(f, NULL, max_rows, out, err);
}

int image_decode_png16(const void *buf, size_t len, struct slice16 *out, char *err)
{
	struct memsrc m = { buf, len, 0 };

	return decode16(NULL, &m, 0, out, err);
}

int image_decode_png8(const void *buf, size_t len, int *wout, int *hout, int *chan,
		      unsigned char **pxout, char *err)
{
	struct memsrc m = { buf, len, 8 };
	png_structp png = NULL;
	png_infop info = NULL;
	struct pngerr pe;
	unsigned char *volatile px = NULL;
	volatile int rc = -1;
	png_uint_32 w, h, y;
	int depth, ctype, interlace, ch;

	*pxout = NULL;
	*wout = *hout = *chan = 0;
	if (len < 8 || png_sig_cmp(buf, 0, 8))
		return errf(err, "not a PNG file");
	pe.err = err;
	png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &pe, on_error, on_warning);
	if (!png)
		return errf(err, "png: out of memory");
	info = png_create_info_struct(png);
	if (!info) {
		errf(err, "png: out of memory");
		goto out;
	}
	if (setjmp(pe.jb))
		goto out;
	png_set_read_fn(png, &m, mem_read);
	png_set_sig_bytes(png, 8);
	png_set_user_limits(png, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE);
	png_read_info(png, info);
	png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
	if (depth != 8 || interlace != PNG_INTERLACE_NONE ||
	    (ctype != PNG_COLOR_TYPE_GRAY && ctype != PNG_COLOR_TYPE_RGB)) {
		errf(err, "expected an 8-bit gray or RGB PNG");
		goto out;
	}
	ch = ctype == PNG_COLOR_TYPE_RGB ? 3 : 1;
	png_read_update_info(png, info);
	if (png_get_rowbytes(png, info) != (size_t)w * ch) {
		errf(err, "unexpected row size");
		goto out;
	}
	px = malloc((size_t)w * h * ch);
	if (!px) {
		errf(err, "out of memory");
		goto out;
	}
	for (y = 0; y < h; y++)
		png_read_row(png, px + (size_t)y * w * ch, NULL);
	png_read_end(png, NULL);
	*wout = (int)w;
	*hout = (int)h;
	*chan = ch;
	*pxout = px;
	px = NULL;
	rc = 0;
out:
	png_destroy_read_struct(&png, info ? &info : NULL, NULL);
	free(px);
	return rc;
}

struct memdst {
	struct sb b;
};

static void mem_write(png_structp png, png_bytep p, png_size_t n)
{
	struct memdst *d = png_get_io_ptr(png);

	if (sb_add(&d->b, p, n))
		png_error(png, "output too large");
}

static void mem_flush(png_structp png)
{
	(void)png;
}

int image_encode_png(const void *px, int w, int h, enum image_fmt fmt, int level,
		     unsigned char **pngout, size_t *png_len, char *err)
{
	/* measured by bench_png: see image.h */
	if (fmt == IMAGE_GRAY16)
		return image_encode_png_opts(px, w, h, fmt, level, IMAGE_FILTER_SUB, IMAGE_Z_HUFFMAN,
					     pngout, png_len, err);
	return image_encode_png_opts(px, w, h, fmt, level, IMAGE_FILTER_UP, IMAGE_Z_RLE, pngout,
				     png_len, err);
}

int image_encode_png_opts(const void *px, int w, int h, enum image_fmt fmt, int level,
			  enum image_filter filter, enum image_zstrategy strategy,
			  unsigned char **pngout, size_t *png_len, char *err)
{
	static const int filters[] = { PNG_FILTER_NONE, PNG_FILTER_SUB, PNG_FILTER_UP,
				       PNG_FILTER_AVG, PNG_FILTER_PAETH, PNG_ALL_FILTERS };
	static const int strategies[] = { Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE };
	png_structp png = NULL;
	png_infop info = NULL;
	struct pngerr pe;
	struct memdst d;
	uint16_t *volatile row16 = NULL;
	volatile int rc = -1;
	int y, x, ctype, depth, ch;

	*pngout = NULL;
	*png_len = 0;
	if (w <= 0 || h <= 0 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
		return errf(err, "bad image size %dx%d", w, h);
	sb_init(&d.b, (size_t)w * h * 8 + 65536);
	pe.err = err;
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &pe, on_error, on_warning);
	if (!png)
		return errf(err, "png: out of memory");
	info = png_create_info_struct(png);
	if (!info) {
		errf(err, "png: out of memory");
		goto out;
	}
	if (setjmp(pe.jb))
		goto out;
	png_set_write_fn(png, &d, mem_write, mem_flush);
	png_set_compression_level(png, level < 0 ? 1 : level > 9 ? 9 : level);
	png_set_filter(png, PNG_FILTER_TYPE_BASE,
		       filters[(unsigned)filter < LSD_ARRAY_LEN(filters) ? filter : 1]);
	png_set_compression_strategy(png, strategies[(unsigned)strategy <
						     LSD_ARRAY_LEN(strategies) ? strategy : 0]);
	ctype = fmt == IMAGE_RGB8 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY;
	depth = fmt == IMAGE_GRAY16 ? 16 : 8;
	ch = fmt == IMAGE_RGB8 ? 3 : 1;
	png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	if (fmt == IMAGE_GRAY16) {
		const uint16_t *v = px;

		row16 = malloc((size_t)w * 2);
		if (!row16) {
			errf(err, "out of memory");
			goto out;
		}
		for (y = 0; y < h; y++) {
			unsigned char *r = (unsigned char *)row16;

			for (x = 0; x < w; x++) {
				uint16_t s = v[(size_t)y * w + x];

				r[2 * x] = (unsigned char)(s >> 8);	/* big-endian */
				r[2 * x + 1] = (unsigned char)(s & 0xff);
			}
			png_write_row(png, (png_const_bytep)row16);
		}
	} else {
		const unsigned char *p = px;

		for (y = 0; y < h; y++)
			png_write_row(png, p + (size_t)y * w * ch);
	}
	png_write_end(png, NULL);
	if (d.b.oom) {
		errf(err, "png: output too large");
		goto out;
	}
	*pngout = (unsigned char *)sb_steal(&d.b, png_len);
	rc = 0;
out:
	png_destroy_write_struct(&png, info ? &info : NULL);
	free(row16);
	sb_free(&d.b);
	return rc;
}

int image_write_png16_file(const char *path, const uint16_t *v, int w, int h, int level,
			   char *err)
{
	unsigned char *png = NULL;
	size_t n = 0;
	int rc;

	if (image_encode_png(v, w, h, IMAGE_GRAY16, level, &png, &n, err))
		return -1;
	rc = file_write_atomic_nosync(path, png, n, err);
	free(png);
	return rc;
}
