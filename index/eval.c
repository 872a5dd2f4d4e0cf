/* eval.c - Deep Lesion Graphs' retrieval evaluation (see eval.h). Queries run through
 * search_run in blocks, so the numbers measure exactly what the API serves. */
#include "eval.h"
#include "search.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_BLOCK 512
#define EVAL_KMAX 10

static int type_of(const struct eval_opts *o, const struct catalog_entry *e, int64_t id)
{
	if (o->truth)
		return id < o->truth_n ? o->truth[id] : -1;
	return e->type;
}

struct acc {
	double prec_sum[EVAL_NK], acc_sum[EVAL_NK], loc_sum[EVAL_NK], sl_sum[EVAL_NK],
	       ss_sum[EVAL_NK];
	long prec_n[EVAL_NK], hit_n[EVAL_NK];
};

static void score(struct catalog *cat, const struct eval_opts *o, const int *ks,
		  const struct catalog_entry *qe, int qtype, const struct search_hit *h, int n,
		  struct acc *a)
{
	struct catalog_entry he[EVAL_KMAX];
	int ht[EVAL_KMAX], i, ki;

	for (i = 0; i < n; i++) {
		if (catalog_get(cat, h[i].id, &he[i]))
			memset(&he[i], 0, sizeof(he[i]));
		ht[i] = type_of(o, &he[i], h[i].id);
	}
	for (ki = 0; ki < EVAL_NK; ki++) {
		int K = LSD_MIN(ks[ki], n), same = 0, known = 0, votes[LESION_NTYPES + 1] = { 0 };
		int best = -1, bestv = 0;

		for (i = 0; i < K; i++) {
			double dx = he[i].loc[0] - qe->loc[0], dy = he[i].loc[1] - qe->loc[1];
			double dz = he[i].loc[2] - qe->loc[2];

			a->loc_sum[ki] += sqrt(dx * dx + dy * dy + dz * dz);
			a->sl_sum[ki] += fabs((double)he[i].diam_mm[0] - qe->diam_mm[0]);
			a->ss_sum[ki] += fabs((double)he[i].diam_mm[1] - qe->diam_mm[1]);
			a->hit_n[ki]++;
			if (ht[i] < 1)
				continue;
			known++;
			same += ht[i] == qtype;
			votes[ht[i]]++;
		}
		if (known) {
			a->prec_sum[ki] += (double)same / known;
			a->prec_n[ki]++;
		}
		/* majority vote; ties go to the type of the nearest lesion among the tied */
		for (i = 0; i < K; i++) {
			if (ht[i] < 1)
				continue;
			if (votes[ht[i]] > bestv) {
				bestv = votes[ht[i]];
				best = ht[i];
			}
		}
		a->acc_sum[ki] += best == qtype;
	}
}

int eval_retrieval(struct space *sp, struct catalog *cat, const struct eval_opts *o,
		   struct eval_result *out, char *err)
{
	static const int ks[EVAL_NK] = { 1, 5, 10 };
	unsigned splits = o->query_splits ? o->query_splits : 1u << 3;
	int dim = space_dim(sp), rc = -1, ki;
	struct search_query *q = calloc(EVAL_BLOCK, sizeof(*q));
	struct search_hit *hb = calloc((size_t)EVAL_BLOCK * EVAL_KMAX, sizeof(*hb));
	struct search_hit *hp[EVAL_BLOCK];
	struct catalog_entry *qe = calloc(EVAL_BLOCK, sizeof(*qe));
	int *qt = calloc(EVAL_BLOCK, sizeof(*qt)), nh[EVAL_BLOCK];
	float *vecs = malloc((size_t)EVAL_BLOCK * (size_t)dim * sizeof(float));
	int64_t *ids = NULL;
	size_t nids = 0, i;
	struct acc a;
	double t0 = now_ms();
	int m = 0;

	memset(out, 0, sizeof(*out));
	memset(&a, 0, sizeof(a));
	if (!q || !hb || !qe || !qt || !vecs) {
		errf(err, "out of memory");
		goto out;
	}
	if (space_ids(sp, &ids, &nids, err))
		goto out;
	/* ascending ids: deterministic order and output */
	for (i = 1; i < nids; i++) {
		int64_t v = ids[i];
		size_t j = i;

		if (ids[i - 1] <= v)
			continue;
		while (j > 0 && ids[j - 1] > v) {
			ids[j] = ids[j - 1];
			j--;
		}
		ids[j] = v;
	}
	for (i = 0; i <= nids; i++) {
		if (i < nids) {
			struct catalog_entry e;
			int t;

			if (catalog_get(cat, ids[i], &e) || !(splits & (1u << e.split)))
				continue;
			t = type_of(o, &e, ids[i]);
			if (t < 1)
				continue;
			if (space_get_vector(sp, ids[i], vecs + (size_t)m * (size_t)dim)) {
				out->skipped++;
				continue;
			}
			memset(&q[m], 0, sizeof(q[m]));
			q[m].vec = vecs + (size_t)m * (size_t)dim;
			q[m].self_id = ids[i];
			q[m].patient = e.patient;
			q[m].same_patient = SEARCH_SP_EXCLUDE;
			q[m].k = EVAL_KMAX;
			qe[m] = e;
			qt[m] = t;
			hp[m] = hb + (size_t)m * EVAL_KMAX;
			m++;
		}
		if (m == EVAL_BLOCK || (i == nids && m > 0)) {
			int j;

			if (search_run(sp, cat, q, (size_t)m, hp, nh, NULL, err))
				goto out;
			for (j = 0; j < m; j++)
				score(cat, o, ks, &qe[j], qt[j], hp[j], nh[j], &a);
			out->queries += m;
			m = 0;
		}
	}
	for (ki = 0; ki < EVAL_NK; ki++) {
		out->ks[ki] = ks[ki];
		out->type_precision[ki] = a.prec_n[ki] ? a.prec_sum[ki] / a.prec_n[ki] : NAN;
		out->type_accuracy[ki] = out->queries ? a.acc_sum[ki] / out->queries : NAN;
		out->loc_error[ki] = a.hit_n[ki] ? a.loc_sum[ki] / a.hit_n[ki] : NAN;
		out->size_error_long[ki] = a.hit_n[ki] ? a.sl_sum[ki] / a.hit_n[ki] : NAN;
		out->size_error_short[ki] = a.hit_n[ki] ? a.ss_sum[ki] / a.hit_n[ki] : NAN;
	}
	out->seconds = (now_ms() - t0) / 1000.0;
	rc = 0;
out:
	free(q);
	free(hb);
	free(qe);
	free(qt);
	free(vecs);
	free(ids);
	return rc;
}

int eval_read_truth(const char *path, int8_t **types, int64_t **tracks, int64_t *n, char *err)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int8_t *t = NULL;
	int64_t *tr = NULL, cap = 0;
	int lineno = 0, rc = -1;

	*types = NULL;
	*tracks = NULL;
	*n = 0;
	if (!f)
		return errf(err, "%s: %s", path, strerror(errno));
	if (!fgets(line, sizeof(line), f) ||
	    strncmp(line, "lesion_id,patient,study,true_type,track_id", 42)) {
		errf(err, "%s:1: expected header lesion_id,patient,study,true_type,track_id", path);
		goto out;
	}
	lineno = 1;
	while (fgets(line, sizeof(line), f)) {
		long long id, track;
		int pat, st, ty, used = 0;

		lineno++;
		if (line[0] == '\n' || line[0] == '\r')
			continue;
		if (sscanf(line, "%lld,%d,%d,%d,%lld%n", &id, &pat, &st, &ty, &track, &used) != 5 ||
		    id < 1 || id > 100000000LL || ty < -1 || ty > LESION_NTYPES || ty == 0) {
			errf(err, "%s:%d: expected lesion_id,patient,study,true_type(1..8),track_id",
			     path, lineno);
			goto out;
		}
		if (id >= cap) {
			int64_t ncap = cap ? cap : 1024, k;
			int8_t *nt;
			int64_t *ntr;

			while (ncap <= id)
				ncap *= 2;
			nt = realloc(t, (size_t)ncap);
			if (!nt) {
				errf(err, "out of memory");
				goto out;
			}
			t = nt;
			ntr = realloc(tr, (size_t)ncap * sizeof(*tr));
			if (!ntr) {
				errf(err, "out of memory");
				goto out;
			}
			tr = ntr;
			for (k = cap; k < ncap; k++) {
				t[k] = -1;
				tr[k] = 0;
			}
			cap = ncap;
		}
		t[id] = (int8_t)ty;
		tr[id] = track;
	}
	*types = t;
	*tracks = tr;
	*n = cap;
	t = NULL;
	tr = NULL;
	rc = 0;
out:
	fclose(f);
	free(t);
	free(tr);
	return rc;
}
