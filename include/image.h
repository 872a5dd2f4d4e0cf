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
 * w*h uint16 (host order) for GRAY16. */
int image_encode_png(const void *px, int w, int h, enum image_fmt fmt, int level,
		     unsigned char **png /* OUT */, size_t *png_len /* OUT */, char *err);

#endif
