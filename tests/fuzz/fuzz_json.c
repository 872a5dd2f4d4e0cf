/* fuzz_json.c - libFuzzer target: json_parse (server/json.c) on the input, then the
 * API decoders that take a parsed document (server/apijson.c): a lesion body
 * (apijson_lesion_parse) and a search filter (apijson_filter_json, on the document and
 * on its "filter" member). Built and run by tests/fuzz/run.sh. */
#include "apijson.h"
#include "json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jv *doc = NULL;
	struct lesion l;
	struct store_filter f;
	struct sb b;
	char err[LSD_ERRLEN];
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (json_parse(s, size, &doc, err) == 0) {
		if (apijson_lesion_parse(doc, &l, err) == 0) {
			sb_init(&b, 1 << 20);	/* and back out: the writer must cope too */
			apijson_lesion(&b, &l);
			sb_free(&b);
		}
		apijson_filter_json(doc, &f, err);
		if (json_is_obj(doc))
			apijson_filter_json(json_get(doc, "filter"), &f, err);
		json_free(doc);
	}
	json_utf8_ok(s, size);
	free(s);
	return 0;
}
