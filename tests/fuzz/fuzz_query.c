/* fuzz_query.c - libFuzzer target: the query-string filter parser apijson_filter_query
 * (server/apijson.c). The input is split like a decoded query string: '&' between
 * pairs, the first '=' between key and value (a pair without '=' has an empty value),
 * at most REQ_MAX_QUERY pairs, as server/http.c fills struct request. */
#include "apijson.h"
#include "http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request r;
	struct store_filter f;
	char err[LSD_ERRLEN];
	char *s = malloc(size + 1), *p, *end;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&r, 0, sizeof(r));
	r.method = HTTP_GET;
	r.path = "/v1/lesions";
	end = s + size;
	for (p = s; p <= end && r.nquery < REQ_MAX_QUERY;) {
		char *amp = memchr(p, '&', (size_t)(end - p)), *eq;

		if (amp)
			*amp = '\0';
		eq = strchr(p, '=');
		if (eq)
			*eq = '\0';
		r.qkey[r.nquery] = p;
		r.qval[r.nquery] = eq ? eq + 1 : "";
		r.nquery++;
		if (!amp)
			break;
		p = amp + 1;
	}
	apijson_filter_query(&r, &f, err);
	free(s);
	return 0;
}
