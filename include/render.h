/* render.h - windowed views of CT slices: lesion patches and whole slices.
 *
 * Called by the image handlers (server/h_images.c), the contact sheet and the benches.
 * Pure computation on a decoded struct slice16 (image.h): parse the rendering
 * parameters, place a field of view in millimetres, resample bilinearly, window to 8-bit,
 * draw overlays, encode PNG, and compute a strong ETag. No I/O, no shared state:
 * thread-safe. Expected load: one call per uncached patch request, ~0.2 ms of CPU for a
 * 128x128 patch.
 *
 * Coordinates. DeepLesion's CSV coordinates (bbox, RECIST endpoints) are 1-based pixel
 * positions: the centre of the top-left pixel is (1,1) (the dataset's own loader
 * subtracts 1). Internally we use 0-based continuous coordinates in which pixel (i,j) of
 * the slice has its centre at (i,j) and covers [i-0.5, i+0.5]; so p0 = p_csv - 1.
 * Millimetres follow from the in-plane spacing: spacing[0] mm/px along x, spacing[1]
 * along y. DeepLesion has a single in-plane value (x == y); a lesion with different x
 * and y spacing is handled exactly (each axis scaled by its own spacing) rather than
 * rejected, so a patch always shows a square of fov_mm x fov_mm of anatomy.
 *
 * Output pixel (u,v) of a size x size patch samples the slice at
 *   x = cx + (u + 0.5 - size/2) * (fov_mm / size) / spacing_x     (and likewise y, v)
 * where (cx,cy) is the 0-based centre of the lesion's box. Samples are bilinear in HU;
 * the slice is treated as surrounded by air (-1000 HU), so out-of-image parts of a
 * patch are air, never garbage. Windowing maps HU h to
 *   gray = clamp(floor((h - lo) * 255 / (hi - lo) + 0.5), 0, 255)   (in float).
 */
#ifndef LSD_RENDER_H
#define LSD_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "lesion.h"

/* Status codes: util.h's enum lsd_status (LSD_EMALFORMED parameter text, LSD_EINVAL
 * unknown preset or lo >= hi, LSD_ENOTFOUND no such slice or offset outside the range,
 * LSD_EIMAGE an unreadable source image, LSD_ENOMEM). */

#define RENDER_SIZE_DEFAULT 128
#define RENDER_SIZE_MAX 1024
#define RENDER_FOV_MIN_MM 40.0	/* default field of view is at least this ... */
#define RENDER_FOV_MAX_MM 500.0	/* ... and at most this; fov_mm= is bounded by 1..1000 */
#define RENDER_AIR_HU (-1000)
#define RENDER_ETAG_LEN 24	/* "\"r1-0123456789abcdef\"" + NUL fits */

enum render_overlay { RENDER_OVERLAY_NONE = 0, RENDER_OVERLAY_BBOX, RENDER_OVERLAY_RECIST };
enum render_format { RENDER_FMT_GRAY8 = 0, RENDER_FMT_PNG16 };

/* Overlay colours (RGB). */
#define RENDER_RGB_BBOX 0x00ff00	/* green */
#define RENDER_RGB_LONG 0xff0000	/* red: RECIST long axis */
#define RENDER_RGB_SHORT 0x00a0ff	/* blue: RECIST short axis */

/* One window preset: name, width, level (HU). */
struct render_preset {
	const char *name;
	double width, level;
};
extern const struct render_preset render_presets[];
extern const size_t render_npresets;

/* Everything a rendered image depends on besides the source slice and the lesion. */
struct render_params {
	double lo, hi;			/* window in HU, lo < hi */
	double fov_mm;			/* 0: the lesion's default field of view */
	int size;			/* output side in pixels, 1..RENDER_SIZE_MAX */
	enum render_overlay overlay;
	enum render_format format;
	int slice_offset;		/* 0: the key slice */
	int png_level;			/* zlib level 0..9 */
};

/* Window text: a preset name, "dicom" (l's DICOM window; l may be NULL -> EINVAL) or
 * "lo,hi" in HU. NULL or "" means "dicom". Returns LSD_OK, LSD_EMALFORMED
 * ("1,abc", "1,2,3") or LSD_EINVAL (unknown preset, lo >= hi, no DICOM window), with
 * err (LSD_ERRLEN) set on failure. */
int render_window_parse(const char *s, const struct lesion *l, double *lo /* OUT */,
			double *hi /* OUT */, char *err);

/* Parse the other query parameters; any of the strings may be NULL (default). On
 * failure returns EMALFORMED/EINVAL with err naming the parameter. Window is separate. */
int render_params_parse(const char *size, const char *fov_mm, const char *overlay,
			const char *slice_offset, const char *format,
			struct render_params *p /* IN/OUT: defaults already set */, char *err);
/* Defaults: size 128, fov 0, no overlay, gray8, offset 0, window 0..0 (unset). */
void render_params_init(struct render_params *p, int png_level);

/* The lesion's long diameter in mm, from the diameters or else the RECIST long axis. */
double render_long_diam_mm(const struct lesion *l);
/* Default field of view: max(2 x long diameter, 1.5 x box long side, 40 mm), at most
 * 500 mm. */
double render_default_fov_mm(const struct lesion *l);

/* Relative path (under the image root) of the slice at key_slice + offset:
 * "<series_dir>/%03d.png". LSD_ENOTFOUND when outside [slice_range[0], slice_range[1]]. */
int render_slice_path(const struct lesion *l, int offset, char *out, size_t n, char *err);

/* A square view: centre (cx, cy) in 0-based pixel coordinates, fov_mm wide, spacing
 * sx, sy mm/px, size x size output. hu_out gets size*size HU samples (float), bilinear,
 * air outside the slice. */
struct render_view {
	double cx, cy, fov_mm, sx, sy;
	int size;
};
void render_resample(const struct slice16 *s, const struct render_view *v, float *hu_out);
/* The view a lesion patch uses (box centre, fov from p or the default). */
void render_lesion_view(const struct lesion *l, const struct render_params *p,
			struct render_view *v /* OUT */);
/* Slice coordinates (0-based) to output pixel coordinates of a view (continuous). */
void render_to_view(const struct render_view *v, double x0, double y0, double *u, double *w);

/* Windowing of n HU samples to 8-bit gray, formula in the file comment. */
void render_window8(const float *hu, size_t n, double lo, double hi, uint8_t *out);

/* Render a lesion patch (p->size square) from slice s into a malloc'd PNG. s is the
 * slice at p->slice_offset (the caller resolved it). */
int render_patch_png(const struct slice16 *s, const struct lesion *l,
		     const struct render_params *p, unsigned char **png /* OUT */,
		     size_t *len /* OUT */, char *err);

/* Render pixels only (for tests and the contact sheet): gray8 (size*size), rgb8
 * (size*size*3, when overlay != none) or png16 values (uint16 HU + 32768). *chan gets
 * 1, 3 or 2 (16-bit). The buffer is malloc'd. */
int render_patch_pixels(const struct slice16 *s, const struct lesion *l,
			const struct render_params *p, void **px /* OUT */, int *chan /* OUT */,
			char *err);

/* A whole slice windowed to 8-bit (or raw 16-bit for format png16). size 0 keeps the
 * slice's own pixels (w x h); otherwise the longer side is scaled to size, the shorter
 * one padded with air to a square. fov and overlay are ignored. */
int render_slice_png(const struct slice16 *s, const struct render_params *p, int size,
		     unsigned char **png /* OUT */, size_t *len /* OUT */, char *err);

/* Identity of the source file (from stat). */
struct render_source {
	const char *path;		/* relative path under the image root */
	int64_t size;
	int64_t mtime_ns;
	uint64_t ino;
};
/* Strong ETag (quoted) from the source identity, the lesion fields the image depends on
 * (NULL for a bare slice), every parameter and the renderer's version. */
void render_etag(const struct render_source *src, const struct lesion *l,
		 const struct render_params *p, int slice_size, char out[RENDER_ETAG_LEN]);

#endif
