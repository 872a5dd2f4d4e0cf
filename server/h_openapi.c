/* h_openapi.c - GET /v1/openapi.json: the OpenAPI 3.1 description of the API.
 *
 * The document is docs/openapi.json, compiled into the binary by tools/embed_text.sh
 * (build/<variant>/gen/openapi.c). tests/unit/test_openapi.c walks the route table and
 * fails on any route or method the document lacks, so edit both together. A copy of
 * ~40 KiB per request; clients fetch it rarely. */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

extern const char lsd_openapi_json[];
extern const size_t lsd_openapi_json_len;

void h_openapi(const struct request *r, struct reply *rp)
{
	char *p = malloc(lsd_openapi_json_len);

	(void)r;
	if (!p) {
		reply_problem(rp, 500, "out of memory");
		return;
	}
	memcpy(p, lsd_openapi_json, lsd_openapi_json_len);
	reply_bytes(rp, 200, "application/json", p, lsd_openapi_json_len);
}
