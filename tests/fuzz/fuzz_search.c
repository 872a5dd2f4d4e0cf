/* fuzz_search.c - libFuzzer target: the POST /v1/search handler (server/h_search.c)
 * with the input as its JSON body, over a small fixed app: three lesions in the
 * catalog, a 4-dimensional exact space "builtin" holding their vectors, no images.
 * It covers the JSON parser, the query decoder (lesion_id / vector / image / k / space
 * / filter) and the search and reply writer behind it. */
#include "app.h"
#include "catalog.h"
#include "handlers.h"
#include "http.h"
#include "lesion.h"
#include "space.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct app app;

static void setup(void)
{
	static const int64_t ids[3] = { 1, 2, 3 };
	static const float vecs[12] = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 1, 0 };
	struct space_def def;
	struct space *sp;
	char err[LSD_ERRLEN];
	int i;

	config_defaults(&app.cfg);
	if (catalog_create(&app.cat, err) || spaces_create(&app.sp, err))
		abort();
	for (i = 0; i < 3; i++) {
		struct lesion l;

		memset(&l, 0, sizeof(l));
		l.id = ids[i];
		l.patient = 1 + i / 2;
		l.study = 1;
		l.series = 1;
		l.key_slice = 10 + i;
		l.type = 1 + i;
		l.split = 1;
		l.gender = 'F';
		l.age = 50;
		if (catalog_put(app.cat, &l, err))
			abort();
	}
	memset(&def, 0, sizeof(def));
	snprintf(def.name, sizeof(def.name), "builtin");
	def.dim = 4;
	def.metric = SPACE_L2;
	if (space_create(&def, &sp, err) || space_add(sp, ids, vecs, 3, err) ||
	    spaces_add(app.sp, sp, err))
		abort();
	app.ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request r;
	struct reply rp;
	char *body;

	if (!app.sp)
		setup();
	body = malloc(size + 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	memset(&r, 0, sizeof(r));
	memset(&rp, 0, sizeof(rp));
	r.method = HTTP_POST;
	r.path = "/v1/search";
	r.content_type = "application/json";
	r.body = body;
	r.body_len = size;
	r.app = &app;
	h_search(&r, &rp);
	if (rp.status != 200 && (rp.status < 400 || rp.status > 499))
		abort();	/* a bad body is a 4xx, never a 500 */
	free(rp.body);
	free(body);
	return 0;
}
