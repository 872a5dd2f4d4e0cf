/* h_search.h - what the search handlers (h_search.c: /similar, /v1/search;
 * h_search_batch.c: /v1/search/batch) share: one parsed query and its reply's results. */
#ifndef LSD_H_SEARCH_H
#define LSD_H_SEARCH_H

#include "http.h"
#include "search.h"
#include "store.h"

#define DEFAULT_SPACE "builtin"

struct app;
struct jv;
struct space;

/* A parsed query with the storage behind its pointers. */
struct pq {
	struct search_query q;
	struct store_filter filter;
	struct space *sp;
	float *vec;
	int64_t lesion_id;	/* 0 when the query is a raw vector */
	int image;		/* the query was an image region */
	int status;		/* LSD_OK, else the lsd_status of err (util.h) */
	char err[LSD_ERRLEN];
};

void h_search_pq_free(struct pq *p);
/* A query from a JSON object (POST /v1/search and each batch line): 0, or -1 with
 * p->status (an lsd_status) and p->err. p is cleared first. */
int h_search_parse_json(struct app *app, const struct jv *o, struct pq *p);
/* "results":[...] for n hits, each with its lesion summary and patch URL. */
void h_search_write_results(struct app *app, struct sb *b, const struct search_hit *h, int n);

#endif
