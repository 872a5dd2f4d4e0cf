/* h_search_batch.c - POST /v1/search/batch: NDJSON queries in, NDJSON answers streamed out.
 *
 * Requests are answered in blocks of BATCH_BLOCK queries computed as the client reads
 * the chunked reply, so memory stays bounded by the body cap plus one block; each block's
 * good queries are searched together per space (index/search.c). A bad line gets an
 * error line in its place; the others are answered. Parsing is h_search.c's.
 *
 * On a read replica the whole answer is computed in the handler, under the replica's gate
 * (replica.h), and only sent afterwards: blocks computed while the client reads would run
 * outside the gate, between an applied diff's commit and its index update, or on both
 * sides of an apply (one reply mixing two states). A replica's answer is therefore
 * bounded by the output cap (BATCH_OUT_MAX): a larger one is refused with 413, before any
 * byte is sent. A primary has no gate and streams as described.
 */
#include "app.h"
#include "handlers.h"
#include "h_search.h"
#include "json.h"
#include "search.h"
#include "space.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_BLOCK 256
#define BATCH_OUT_MAX (256u << 20)

struct batch {
	struct app *app;
	char *body;		/* owned copy of the request body */
	size_t len, off;	/* parse position */
	long line;
	long queries;
	struct sb out;		/* the formatted block not yet sent */
	size_t sent;		/* bytes of out already sent */
	int done;
};

static void batch_free(void *cls)
{
	struct batch *bt = cls;

	if (!bt)
		return;
	free(bt->body);
	sb_free(&bt->out);
	free(bt);
}

static void error_line(struct sb *b, long line, int status, const char *detail)
{
	sb_addf(b, "{\"line\":%ld,\"error\":{\"status\":%d,\"title\":", line, status);
	jw_str(b, http_status_title(status));
	sb_adds(b, ",\"detail\":");
	jw_str(b, detail);
	sb_adds(b, "}}\n");
}

/* Parse up to BATCH_BLOCK lines, search them together, format them into bt->out. */
static int batch_block(struct batch *bt)
{
	struct pq *p = calloc(BATCH_BLOCK, sizeof(*p));
	long *lines = calloc(BATCH_BLOCK, sizeof(*lines));
	struct search_hit **hits = calloc(BATCH_BLOCK, sizeof(*hits));
	struct search_query *qs = calloc(BATCH_BLOCK, sizeof(*qs));
	int *nh = calloc(BATCH_BLOCK, sizeof(*nh)), *modes = calloc(BATCH_BLOCK, sizeof(*modes));
	int n = 0, i, rc = -1;
	char err[LSD_ERRLEN];

	if (!p || !lines || !hits || !qs || !nh || !modes)
		goto out;
	while (n < BATCH_BLOCK && bt->off < bt->len) {
		char *s = bt->body + bt->off, *nl = memchr(s, '\n', bt->len - bt->off);
		size_t ll = nl ? (size_t)(nl - s) : bt->len - bt->off;
		struct jv *doc = NULL;

		bt->off += ll + (nl ? 1 : 0);
		bt->line++;
		while (ll && (s[ll - 1] == '\r' || s[ll - 1] == ' '))
			ll--;
		if (ll == 0)
			continue;
		lines[n] = bt->line;
		if (bt->queries >= bt->app->cfg.batch_max) {
			p[n].status = LSD_ETOOLARGE;
			snprintf(p[n].err, sizeof(p[n].err), "more than %ld queries in one batch",
				 bt->app->cfg.batch_max);
		} else if (json_parse(s, ll, &doc, err)) {
			p[n].status = LSD_EMALFORMED;
			snprintf(p[n].err, sizeof(p[n].err), "%s", err);
		} else {
			h_search_parse_json(bt->app, doc, &p[n]);
			json_free(doc);
		}
		bt->queries++;
		n++;
	}
	/* group the good queries by space; search each group in one call */
	for (i = 0; i < n; i++) {
		int j, m = 0;
		struct space *sp = p[i].sp;
		int idx[BATCH_BLOCK];

		if (p[i].status || !sp || hits[i])
			continue;
		for (j = i; j < n; j++) {
			if (p[j].status || p[j].sp != sp || hits[j])
				continue;
			hits[j] = malloc((size_t)p[j].q.k * sizeof(**hits));
			if (!hits[j])
				goto out;
			p[j].q.vec = p[j].vec;
			qs[m] = p[j].q;
			idx[m++] = j;
		}
		{
			struct search_hit *hh[BATCH_BLOCK];
			int nn[BATCH_BLOCK], mm[BATCH_BLOCK];

			for (j = 0; j < m; j++)
				hh[j] = hits[idx[j]];
			if (search_run(sp, bt->app->cat, qs, (size_t)m, hh, nn, mm, err)) {
				for (j = 0; j < m; j++) {
					p[idx[j]].status = LSD_EFAIL;
					snprintf(p[idx[j]].err, sizeof(p[idx[j]].err), "%s", err);
				}
				continue;
			}
			for (j = 0; j < m; j++) {
				nh[idx[j]] = nn[j];
				modes[idx[j]] = mm[j];
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (p[i].status) {
			error_line(&bt->out, lines[i], http_status_of(p[i].status), p[i].err);
			continue;
		}
		sb_addf(&bt->out, "{\"line\":%ld,\"space\":", lines[i]);
		jw_str(&bt->out, space_name(p[i].sp));
		if (p[i].lesion_id)
			sb_addf(&bt->out, ",\"query\":{\"lesion_id\":%lld}", (long long)p[i].lesion_id);
		sb_addf(&bt->out, ",\"k\":%d,\"mode\":\"%s\",\"count\":%d,", p[i].q.k,
			search_mode_name(modes[i]), nh[i]);
		h_search_write_results(bt->app, &bt->out, hits[i], nh[i]);
		sb_adds(&bt->out, "}\n");
	}
	rc = bt->out.oom ? -1 : 0;
out:
	for (i = 0; p && i < BATCH_BLOCK; i++) {
		h_search_pq_free(&p[i]);
		if (hits)
			free(hits[i]);
	}
	free(p);
	free(lines);
	free(hits);
	free(qs);
	free(nh);
	free(modes);
	return rc;
}

static ssize_t batch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct batch *bt = cls;
	size_t n;

	(void)pos;
	while (bt->sent >= bt->out.len) {
		if (bt->off >= bt->len)
			return REPLY_STREAM_END;
		bt->out.len = 0;
		bt->sent = 0;
		if (batch_block(bt))
			return REPLY_STREAM_ERROR;
	}
	n = LSD_MIN(max, bt->out.len - bt->sent);
	memcpy(buf, bt->out.p + bt->sent, n);
	bt->sent += n;
	return (ssize_t)n;
}

void h_search_batch(const struct request *r, struct reply *rp)
{
	struct batch *bt;

	if (r->content_type && !strcmp(r->content_type, "application/x-npy")) {
		h_search_batch_npy(r, rp);	/* h_search_npz.c */
		return;
	}
	if (req_query(r, "format") && strcmp(req_query(r, "format"), "ndjson")) {
		reply_problem(rp, 406, "an NDJSON batch is answered as NDJSON; for .npz send the "
			      "queries as application/x-npy");
		return;
	}
	if (!r->content_type || (strcmp(r->content_type, "application/x-ndjson") &&
				 strcmp(r->content_type, "application/json"))) {
		reply_problem(rp, 415, "send application/x-ndjson (one query object per line) or "
			      "application/x-npy (n x d float32 vectors)");
		return;
	}
	if (!r->body) {
		reply_problem(rp, 400, "empty body: one query object per line expected");
		return;
	}
	bt = calloc(1, sizeof(*bt));
	if (!bt || !(bt->body = malloc(r->body_len))) {
		free(bt);
		reply_problem(rp, 500, "out of memory");
		return;
	}
	memcpy(bt->body, r->body, r->body_len);
	bt->len = r->body_len;
	bt->app = r->app;
	sb_init(&bt->out, BATCH_OUT_MAX);
	if (r->app->replica) {	/* one state for the whole answer: compute it now */
		while (bt->off < bt->len)
			if (batch_block(bt)) {
				int big = bt->out.oom;	/* the cap (or memory) ran out */

				batch_free(bt);
				if (big)
					reply_problem(rp, 413, "the answer passes %u MiB (or memory ran "
						      "out): a read replica computes a batch's whole answer "
						      "before sending it; split the batch",
						      BATCH_OUT_MAX >> 20);
				else
					reply_problem(rp, 500, "out of memory");
				return;
			}
	}
	rp->status = 200;
	rp->content_type = "application/x-ndjson";
	rp->stream = batch_read;
	rp->stream_cls = bt;
	rp->stream_free = batch_free;
}
