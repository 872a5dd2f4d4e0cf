/* image.h - PNG I/O for CT slices and rendered patches. The only user of libpng.
 *
 * DeepLesion stores each CT slice as a 16-bit grayscale PNG holding HU + 32768.
 * image_read_png16 decodes exactly that (no gamma, no scaling) and rejects anything
 * else (8-bit, colour, palette, interlaced garbage, truncated data) with a message.
 * The encoders write 8-bit gray, 8-bit RGB or 16-bit gray PNGs to memory, tuned for
 * speed (zlib level from the caller, one fixed filter).
 * Thread-safe: no shared state; each call uses its own libpng structs.
 */
#ifndef LSD_IMAGE_H
#define LSD_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define IMAGE_MAX_SIDE 4096
#define IMAGE_HU_OFFSET 32768

/* A decoded slice: w*h HU values, row-major. */
struct slice16 {
	int w, h;
	int16_t *hu;	/* HU = stored value - 32768, clamped to int16 */
};

/* Decode a 16-bit grayscale PNG file. max_rows > 0 stops after that many rows (the rest
 * of the image is left as -1000 HU air), 0 decodes all. Returns 0 or -1 with err set. */
int image_read_png16(const char *path, int max_rows, struct slice16 *out /* OUT */, char *err);
/* Same from an open stream positioned at the file's start (the slice cache opens the
 * file itself, after checking where it is). The caller closes f. */
int image_read_png16_fp(void *f /* FILE * */, int max_rows, struct slice16 *out /* OUT */,
			char *err);
/* Same from memory (for fuzzing and tests). */
int image_decode_png16(const void *buf, size_t len, struct slice16 *out /* OUT */, char *err);
void slice16_free(struct slice16 *s);

/* Decode an 8-bit gray or RGB PNG (what the renderer writes) to malloc'd pixels, for tests
 * and tools that check rendered images. *chan gets 1 or 3. */
int image_decode_png8(const void *buf, size_t len, int *w /* OUT */, int *h /* OUT */,
		      int *chan /* OUT */, unsigned char **px /* OUT */, char *err);

/* Write w*h raw 16-bit values (HU + 32768 already applied) as a 16-bit gray PNG file,
 * atomically (temp + rename). level: zlib level 0-9. */
int image_write_png16_file(const char *path, const uint16_t *v, int w, int h, int level,
			   char *err);

enum image_fmt { IMAGE_GRAY8 = 1, IMAGE_RGB8 = 3, IMAGE_GRAY16 = 2 };
/* Encode pixels to a malloc'd PNG in memory. px: w*h*channels bytes for GRAY8/RGB8,
 * w*h uint16 (host order) for GRAY16. One fixed filter (libpng's adaptive search costs
 * more than it saves), chosen with bench_png on real DeepLesion slices: 8-bit patches
 * filter UP with zlib's RLE strategy (128x128 at level 1: 0.095 ms and 9.3 KB, against
 * 0.20 ms and 10.4 KB for SUB with the default strategy, the previous choice); 16-bit
 * slices SUB with Huffman coding only (the noisy low byte leaves LZ77 little to find).
 * IMAGE_ENCODE_VERSION changes whenever these choices change the bytes: ETags hash it. */
#define IMAGE_ENCODE_VERSION 2
int image_encode_png(const void *px, int w, int h, enum image_fmt fmt, int level,
		     unsigned char **png /* OUT */, size_t *png_len /* OUT */, char *err);
/* The same with the filter and zlib strategy chosen (benchmarks). */
enum image_filter { IMAGE_FILTER_NONE, IMAGE_FILTER_SUB, IMAGE_FILTER_UP, IMAGE_FILTER_AVG,
		    IMAGE_FILTER_PAETH, IMAGE_FILTER_ADAPTIVE };
enum image_zstrategy { IMAGE_Z_DEFAULT, IMAGE_Z_FILTERED, IMAGE_Z_HUFFMAN, IMAGE_Z_RLE };
int image_encode_png_opts(const void *px, int w, int h, enum image_fmt fmt, int level,
			  enum image_filter filter, enum image_zstrategy strategy,
			  unsigned char **png /* OUT */, size_t *png_len /* OUT */, char *err);

#endif
