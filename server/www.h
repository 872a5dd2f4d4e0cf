/* www.h - the web viewer's static files, compiled into the binary.
 * The table is generated at build time by tools/embed_www.sh from the files in server/www/
 * (build/VARIANT/gen/www.c); server/h_www.c serves it at / and /www/{file}. */
#ifndef LSD_WWW_H
#define LSD_WWW_H
#include <stddef.h>

struct www_file {
	const char *path;		/* file name, e.g. "app.js" */
	const char *content_type;
	const unsigned char *data;	/* len bytes (plus a NUL not counted) */
	size_t len;
	const char *etag;		/* quoted strong ETag, from the content's SHA-256 */
};

extern const struct www_file www_files[];
extern const size_t www_files_count;

/* The file named name, or NULL. */
const struct www_file *www_find(const char *name);

#endif
