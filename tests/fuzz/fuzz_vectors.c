/* fuzz_vectors.c - libFuzzer target: the vector handlers (server/h_vectors.c) over a small
 * fixed app: a SQLite store in a temporary directory holding three lesions, a 4-dimensional
 * space "emb" with their vectors. The first input byte picks the route and body kind, the
 * rest is the body:
 *   0  PUT /v1/lesions/{1|99}/embedding?space=emb     application/json
 *   1  PUT /v1/lesions/2/embedding?space=new<n>        application/json (a new space)
 *   2  PUT /v1/lesions/1/embedding?space=emb           application/octet-stream
 *   3  POST /v1/spaces/emb/vectors                     application/x-ndjson (bulk, all or nothing)
 *   4  POST /v1/spaces/new/vectors?metric=ip           application/x-ndjson
 * Built with cJSON compiled from source (the fuzz variant), so ASan sees use of a freed
 * document inside the parser's accessors too. A bad body must be a 4xx (or 200), never a
 * 500, a crash or a leak. New spaces cycle through four names so the store stays small;
 * the temporary directory is removed at exit. */
#include "app.h"
#include "catalog.h"
#include "handlers.h"
#include "http.h"
#include "lesion.h"
#include "space.h"
#include "spacedb.h"
#include "store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct app app;
static char dir[64], dbpath[128];

static void cleanup(void)
{
	char cmd[160];

	store_close(app.st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (dir[0] && system(cmd) != 0)
		fprintf(stderr, "fuzz_vectors: could not remove %s\n", dir);
}

static void setup(void)
{
	static const int64_t ids[3] = { 1, 2, 3 };
	static const float vecs[12] = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 1, 0 };
	struct lesion l[3];
	struct space_def def;
	char err[LSD_ERRLEN];
	size_t added = 0, same = 0;

	snprintf(dir, sizeof(dir), "/tmp/fuzz_vectors.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(dbpath, sizeof(dbpath), "%s/f.db", dir);
	atexit(cleanup);
	config_defaults(&app.cfg);
	memset(l, 0, sizeof(l));
	for (int i = 0; i < 3; i++) {
		l[i].id = ids[i];
		l[i].patient = 1 + i / 2;
		l[i].study = 1;
		l[i].series = 1;
		l[i].key_slice = 10 + i;
		for (int k = 0; k < 8; k++)
			l[i].recist[k] = 100 + 10 * (k & 1) + i + (k >= 4 ? 3 : 0);
		l[i].bbox[0] = l[i].bbox[1] = 90;
		l[i].bbox[2] = l[i].bbox[3] = 130;
		l[i].diam_px[0] = 12;
		l[i].diam_px[1] = 8;
		l[i].loc[0] = l[i].loc[1] = l[i].loc[2] = 0.5;
		l[i].type = 1 + i;
		l[i].slice_range[0] = 5;
		l[i].slice_range[1] = 20;
		l[i].spacing[0] = l[i].spacing[1] = 0.7;
		l[i].spacing[2] = 5;
		l[i].image_size[0] = l[i].image_size[1] = 512;
		l[i].window[0] = -160;
		l[i].window[1] = 240;
		l[i].gender = 'F';
		l[i].age = 50;
		l[i].split = 1;
		lesion_derive(&l[i]);
	}
	if (store_open(dbpath, &app.st, err) ||
	    store_lesion_insert(app.st, l, 3, &added, &same, err) ||
	    catalog_create(&app.cat, err) || spaces_create(&app.sp, err)) {
		fprintf(stderr, "fuzz_vectors: %s\n", err);
		abort();
	}
	for (int i = 0; i < 3; i++)
		if (catalog_put(app.cat, &l[i], err))
			abort();
	memset(&def, 0, sizeof(def));
	snprintf(def.name, sizeof(def.name), "emb");
	snprintf(def.index_type, sizeof(def.index_type), "Flat");
	def.dim = 4;
	def.metric = SPACE_L2;
	if (spacedb_put(app.st, app.sp, &def, ids, vecs, 3, err)) {
		fprintf(stderr, "fuzz_vectors: %s\n", err);
		abort();
	}
	app.ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned nspace;
	struct request r;
	struct reply rp;
	char *body, space[32];
	unsigned kind;

	if (!app.sp)
		setup();
	if (size < 1)
		return 0;
	kind = data[0] % 5;
	data++;
	size--;
	body = malloc(size + 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	memset(&r, 0, sizeof(r));
	memset(&rp, 0, sizeof(rp));
	r.app = &app;
	r.body = size ? body : NULL;
	r.body_len = size;
	r.nargs = 1;
	/* a handful of new spaces at most, so the store stays small over a long run */
	snprintf(space, sizeof(space), "new%u", nspace++ % 4);
	switch (kind) {
	case 0:
	case 1:
	case 2:
		r.method = HTTP_PUT;
		r.path = "/v1/lesions/{}/embedding";
		r.args[0] = kind == 1 ? "2" : (size & 1) ? "99" : "1";
		r.qkey[0] = "space";
		r.qval[0] = kind == 1 ? space : "emb";
		r.nquery = 1;
		r.content_type = kind == 2 ? "application/octet-stream" : "application/json";
		h_embedding_put(&r, &rp);
		break;
	default:
		r.method = HTTP_POST;
		r.path = "/v1/spaces/{}/vectors";
		r.args[0] = kind == 3 ? "emb" : space;
		if (kind == 4) {
			r.qkey[0] = "metric";
			r.qval[0] = "ip";
			r.nquery = 1;
		}
		r.content_type = "application/x-ndjson";
		h_space_vectors_post(&r, &rp);
		break;
	}
	if (rp.status != 200 && (rp.status < 400 || rp.status > 499)) {
		fprintf(stderr, "fuzz_vectors: status %d: %.*s\n", rp.status, (int)rp.body_len,
			rp.body ? rp.body : "");
		abort();	/* a bad body is a 4xx, never a 500 */
	}
	free(rp.body);
	free(body);
	return 0;
}
