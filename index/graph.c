/* graph.c - the intra-patient lesion graph: pairwise evidence, per-study-pair optimal
 * assignment (Kuhn-Munkres), tracks by union-find with the one-lesion-per-study rule,
 * RECIST 1.1 along a track, and pairwise evaluation / grid-search calibration.
 *
 * Called by the store's graph maintenance (one patient at a time, on `lesiond graph` and
 * after a lesion is added or deleted), by the track handler (graph_recist) and by
 * `lesiond eval --graph` (graph_eval, graph_calibrate). Owns nothing between calls; a
 * struct graph is owned by the caller until graph_destroy. Load: a patient holds a few to
 * a few dozen lesions; a study pair of na x nb lesions costs O(max(na, nb)^3).
 * The matching and consistency rules are stated in include/graph.h.
 *
 * Calibration: graph_calibrate with graph_grid_default(), run by
 *     lesiond eval --graph --truth DIR/ground_truth.csv --calibrate
 * (or lesiond graph --truth ... --calibrate), prints the best parameters as config lines
 * (graph_w_loc = ...). Run it on your own labelled data (a CSV with lesion_id and
 * track_id columns, or lesion_a,lesion_b pairs) to recalibrate; docs/graph.md.
 * The defaults below (sequential, aligned, shift vote, axis weights 1 / 0.7 / 2,
 * w_size 0.1, threshold 0.1, no embedding) come from the real radiologist-linked pairs
 * (../shared/data/deeplesion/same_lesion_pairs.csv) by 2-fold cross-validation over
 * patients (lesiond eval --graph --pairs FILE --crossval): the values both halves'
 * calibrations choose (the vote: chosen by one, the other indifferent). The third
 * round's pre-registered calibration (refined plateau width) cross-validates at P 0.913,
 * R 0.824 on that split and P 0.892, R 0.958 over 50 random halvings: the goal 0.93 is
 * not met (docs/graph.md; the earlier 0.980 / 0.941 rested on a post-hoc tie rule).
 * The fourth round's pre-registered scale model (graph_fit.c, --fit scales: robust
 * per-axis scales, chi-square threshold) cross-validates at P 0.877, R 0.559 (0.917,
 * 0.645 over the halvings): worse, so the grid and these defaults stay. The fifth round's
 * (threshold only, these weights: --fit threshold) gives P 0.980, R 0.961 on that split
 * but P 0.918, R 0.961 over the halvings: not met either; defaults unchanged.
 * The earlier defaults (all study pairs,
 * isotropic location only, 0.08) were calibrated on the phantom demo, whose lesions then
 * moved about 5x less than real ones; they scored P 0.824, R 0.873 on the real pairs.
 */
#include "graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"

/* Calibrated defaults (see above); server/config.c and config/lesiond.conf carry the
 * same four. */
#define GRAPH_DEF_W_EMBED 0.0
#define GRAPH_DEF_W_LOC 1.0
#define GRAPH_DEF_W_SIZE 0.1
#define GRAPH_DEF_THRESHOLD 0.1
#define GRAPH_DEF_AXIS_X 1.0
#define GRAPH_DEF_AXIS_Y 0.7
#define GRAPH_DEF_AXIS_Z 2.0
#define GRAPH_DEF_MAX_DLOC 0.25
#define GRAPH_DEF_MAX_SIZE_RATIO 4.0
#define GRAPH_DEF_SHIFT_VOTE 1
/* the shift vote is skipped for a study whose (gate-passing pairs) x max(heads,
 * lesions)^3 exceeds this (about 0.2 s of assignments) */
#define GRAPH_VOTE_MAX_OPS 2e8
#define GRAPH_DEF_WIDE 1.0
#define GRAPH_DEF_EMBED_LINK 0
#define GRAPH_DEF_SERIES_DUP 1

#define GRAPH_EPS 1e-9

void graph_params_default(struct graph_params *p)
{
	memset(p, 0, sizeof(*p));
	p->w_embed = GRAPH_DEF_W_EMBED;
	p->w_loc = GRAPH_DEF_W_LOC;
	p->w_size = GRAPH_DEF_W_SIZE;
	p->threshold = GRAPH_DEF_THRESHOLD;
	p->max_dloc = GRAPH_DEF_MAX_DLOC;
	p->max_size_ratio = GRAPH_DEF_MAX_SIZE_RATIO;
	p->type_gate = 1;
	p->axis[0] = GRAPH_DEF_AXIS_X;
	p->axis[1] = GRAPH_DEF_AXIS_Y;
	p->axis[2] = GRAPH_DEF_AXIS_Z;
	p->sequential = 1;
	p->align = 1;
	p->align_wide = 1;
	p->shift_vote = GRAPH_DEF_SHIFT_VOTE;
	p->wide = GRAPH_DEF_WIDE;
	p->embed_link = GRAPH_DEF_EMBED_LINK;
	p->series_dup = GRAPH_DEF_SERIES_DUP;
}

/* ---- Kuhn-Munkres ----
 * The shortest-augmenting-path form with row/column potentials (1-based internally,
 * column 0 is the virtual start), O(n^3). */
int graph_assign(const double *a, size_t n, size_t *assign, double *total)
{
	double *u = NULL, *v = NULL, *minv = NULL;
	int rc = -1;
	size_t *p = NULL, *way = NULL;
	char *used = NULL;

	*total = 0;
	if (n == 0)
		return 0;
	u = calloc(n + 1, sizeof(*u));
	v = calloc(n + 1, sizeof(*v));
	minv = calloc(n + 1, sizeof(*minv));
	p = calloc(n + 1, sizeof(*p));
	way = calloc(n + 1, sizeof(*way));
	used = calloc(n + 1, 1);
	if (!u || !v || !minv || !p || !way || !used)
		goto out;
	for (size_t i = 1; i <= n; i++) {
		size_t j0 = 0;

		p[0] = i;
		for (size_t j = 0; j <= n; j++) {
			minv[j] = INFINITY;
			used[j] = 0;
		}
		do {
			size_t i0 = p[j0], j1 = 0;
			double delta = INFINITY;

			used[j0] = 1;
			for (size_t j = 1; j <= n; j++) {
				if (used[j])
					continue;
				double cur = a[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];

				if (cur < minv[j]) {
					minv[j] = cur;
					way[j] = j0;
				}
				if (minv[j] < delta) {
					delta = minv[j];
					j1 = j;
				}
			}
			if (j1 == 0)	/* only with non-finite costs */
				goto out;
			for (size_t j = 0; j <= n; j++) {
				if (used[j]) {
					u[p[j]] += delta;
					v[j] -= delta;
				} else {
					minv[j] -= delta;
				}
			}
			j0 = j1;
		} while (p[j0] != 0);
		do {
			size_t j1 = way[j0];

			p[j0] = p[j1];
			j0 = j1;
		} while (j0);
	}
	for (size_t j = 1; j <= n; j++)
		assign[p[j] - 1] = j - 1;
	for (size_t r = 0; r < n; r++)
		*total += a[r * n + assign[r]];
	rc = 0;
out:
	free(u);
	free(v);
	free(minv);
	free(p);
	free(way);
	free(used);
	return rc;
}

/* ---- evidence ---- */

struct pair_ev {
	int gated;
	double cost, d_loc, d_embed, size_ratio;
};

static double vec_norm(const float *x, size_t dim)
{
	double s = 0;

	for (size_t k = 0; k < dim; k++)
		s += (double)x[k] * x[k];
	return sqrt(s);
}

/* d_embed between unit(a) and unit(b): sqrt(2 - 2 cos), in [0, 2]. */
static double embed_dist(const float *a, double na, const float *b, double nb, size_t dim)
{
	double dot = 0, c;

	for (size_t k = 0; k < dim; k++)
		dot += (double)a[k] * b[k];
	c = dot / (na * nb);
	if (c > 1)
		c = 1;
	if (c < -1)
		c = -1;
	return sqrt(2 - 2 * c);
}

static const double no_offset[3] = { 0, 0, 0 };

/* off: the study pair's displacement taken out (no_offset for none). */
static void pair_evidence(const struct lesion *a, const struct lesion *b, const float *ea,
			  double na, const float *eb, double nb, size_t dim,
			  const struct graph_params *p, const double *off, struct pair_ev *e)
{
	double dx = b->loc[0] - a->loc[0] - off[0], dy = b->loc[1] - a->loc[1] - off[1];
	double dz = b->loc[2] - a->loc[2] - off[2], d_size = 0, raw;

	memset(e, 0, sizeof(*e));
	raw = sqrt(dx * dx + dy * dy + dz * dz);
	e->d_loc = sqrt(p->axis[0] * p->axis[0] * dx * dx + p->axis[1] * p->axis[1] * dy * dy +
			p->axis[2] * p->axis[2] * dz * dz);
	e->d_embed = NAN;
	e->size_ratio = NAN;
	if (a->diam_mm[0] > 0 && b->diam_mm[0] > 0) {
		double big = LSD_MAX(a->diam_mm[0], b->diam_mm[0]);
		double small = LSD_MIN(a->diam_mm[0], b->diam_mm[0]);

		e->size_ratio = b->diam_mm[0] / a->diam_mm[0];
		d_size = log(big / small);
		if (p->max_size_ratio > 0 && big / small > p->max_size_ratio)
			e->gated = 1;
	}
	if (ea && eb && na > 0 && nb > 0)
		e->d_embed = embed_dist(ea, na, eb, nb, dim);
	if (p->max_dloc > 0 && raw > p->max_dloc)
		e->gated = 1;
	if (p->type_gate && a->type >= 1 && a->type <= LESION_NTYPES && b->type >= 1 &&
	    b->type <= LESION_NTYPES && a->type != b->type)
		e->gated = 1;
	if (p->size_quad)
		e->cost = sqrt(p->w_loc * p->w_loc * e->d_loc * e->d_loc +
			       p->w_size * p->w_size * d_size * d_size);
	else
		e->cost = p->w_loc * e->d_loc + p->w_size * d_size;
	if (!isnan(e->d_embed))
		e->cost += p->w_embed * e->d_embed;
}

void graph_pair_evidence(const struct lesion *a, const struct lesion *b, const float *ea,
			 const float *eb, size_t dim, const struct graph_params *p,
			 struct graph_pair *out)
{
	struct pair_ev e;

	pair_evidence(a, b, ea, ea ? vec_norm(ea, dim) : 0, eb, eb ? vec_norm(eb, dim) : 0, dim,
		      p, no_offset, &e);
	out->gated = e.gated;
	out->cost = e.cost;
	out->d_loc = e.d_loc;
	out->d_embed = e.d_embed;
	out->size_ratio = e.size_ratio;
}

/* ---- build ---- */

struct cand {
	size_t a, b;		/* node indices, a in the earlier study */
	int sa, sb;		/* their studies */
	struct graph_edge e;
};

static int cand_cmp_score(const void *x, const void *y)
{
	const struct cand *p = x, *q = y;

	if (p->e.score != q->e.score)
		return p->e.score > q->e.score ? -1 : 1;
	if (p->e.from != q->e.from)
		return p->e.from < q->e.from ? -1 : 1;
	if (p->e.to != q->e.to)
		return p->e.to < q->e.to ? -1 : 1;
	return 0;
}

/* Kept edges in (from study, from id, to study, to id) order. */
static int cand_cmp_pos(const void *x, const void *y)
{
	const struct cand *p = x, *q = y;

	if (p->sa != q->sa)
		return p->sa < q->sa ? -1 : 1;
	if (p->e.from != q->e.from)
		return p->e.from < q->e.from ? -1 : 1;
	if (p->sb != q->sb)
		return p->sb < q->sb ? -1 : 1;
	return (p->e.to > q->e.to) - (p->e.to < q->e.to);
}

/* A node's (study, id) sort key, for track numbering. */
struct nkey {
	int study;
	int64_t id;
	size_t i;
};

static int nkey_cmp(const void *x, const void *y)
{
	const struct nkey *a = x, *b = y;

	if (a->study != b->study)
		return a->study < b->study ? -1 : 1;
	return (a->id > b->id) - (a->id < b->id);
}

static size_t uf_find(size_t *par, size_t x)
{
	while (par[x] != x) {
		par[x] = par[par[x]];
		x = par[x];
	}
	return x;
}

static int int_cmp(const void *x, const void *y)
{
	int a = *(const int *)x, b = *(const int *)y;

	return (a > b) - (a < b);
}

void graph_destroy(struct graph *g)
{
	if (!g)
		return;
	free(g->ids);
	free(g->study);
	free(g->track);
	free(g->edges);
	free(g);
}

static int cand_push(struct cand **cand, size_t *ncand, size_t *cap, const struct lesion *l,
		     size_t a, size_t b, const struct pair_ev *e, const struct graph_params *p)
{
	struct cand *cd;

	if (*ncand == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct cand *tmp = realloc(*cand, nc * sizeof(**cand));

		if (!tmp)
			return -1;
		*cand = tmp;
		*cap = nc;
	}
	cd = &(*cand)[(*ncand)++];
	cd->a = a;
	cd->b = b;
	cd->sa = l[a].study;
	cd->sb = l[b].study;
	cd->e.from = l[a].id;
	cd->e.to = l[b].id;
	cd->e.cost = e->cost;
	/* a wide or embedding link costs at least the threshold: score in (0, 0.5] */
	cd->e.score = e->cost < p->threshold ? 1 - e->cost / p->threshold :
		      0.5 * p->threshold / e->cost;
	cd->e.d_embed = e->d_embed;
	cd->e.d_loc = e->d_loc;
	cd->e.size_ratio = e->size_ratio;
	return 0;
}

/* Scratch of the sequential rule. */
struct seq {
	const struct lesion *l;
	const float *const *emb;
	const double *norm;
	size_t dim;
	const struct graph_params *p;
	double thr;		/* the assignment's threshold */
	size_t *heads, nh;	/* each track's latest lesion */
	size_t *cols, nb;	/* the lesions of the study being added */
	double *off;		/* nh x 3 */
	double *mat;
	struct pair_ev *ev;
	size_t *asg;
	long *match;		/* nh: column, or -1 */
};

/* Assign the study's lesions to the heads with offsets q->off; the number linked. */
static int seq_solve(struct seq *q, size_t *linked)
{
	size_t m = LSD_MAX(q->nh, q->nb);
	double tot;

	for (size_t k = 0; k < m * m; k++)
		q->mat[k] = q->thr;
	for (size_t r = 0; r < q->nh; r++)
		for (size_t c = 0; c < q->nb; c++) {
			size_t a = q->heads[r], b = q->cols[c];
			struct pair_ev *e = &q->ev[r * m + c];

			pair_evidence(&q->l[a], &q->l[b], q->emb ? q->emb[a] : NULL, q->norm[a],
				      q->emb ? q->emb[b] : NULL, q->norm[b], q->dim, q->p,
				      q->off + 3 * r, e);
			if (!e->gated && e->cost < q->thr)
				q->mat[r * m + c] = e->cost;
		}
	if (graph_assign(q->mat, m, q->asg, &tot) < 0)
		return -1;
	*linked = 0;
	for (size_t r = 0; r < q->nh; r++) {
		size_t c = q->asg[r];
		const struct pair_ev *e = &q->ev[r * m + c];

		q->match[r] = -1;
		if (c < q->nb && !e->gated && e->cost < q->thr) {
			q->match[r] = (long)c;
			(*linked)++;
		}
	}
	return 0;
}

/* The offsets of the aligned pass from the current links (see graph.h). */
static void seq_offsets(struct seq *q)
{
	double all[3] = { 0, 0, 0 };
	size_t nall = 0;

	for (size_t r = 0; r < q->nh; r++)
		if (q->match[r] >= 0) {
			for (int k = 0; k < 3; k++)
				all[k] += q->l[q->cols[q->match[r]]].loc[k] - q->l[q->heads[r]].loc[k];
			nall++;
		}
	for (size_t r = 0; r < q->nh; r++) {
		double sum[3] = { 0, 0, 0 };
		size_t cnt = 0;
		int s = q->l[q->heads[r]].study;

		for (size_t u = 0; u < q->nh; u++)
			if (q->match[u] >= 0 && q->l[q->heads[u]].study == s) {
				for (int k = 0; k < 3; k++)
					sum[k] += q->l[q->cols[q->match[u]]].loc[k] -
						  q->l[q->heads[u]].loc[k];
				cnt++;
			}
		for (int k = 0; k < 3; k++)
			q->off[3 * r + k] = cnt >= 2 ? sum[k] / (double)cnt : all[k] / (double)nall;
	}
}

/* Shift vote (see graph.h): the first assignment linked fewer than 2 lesions; try the
 * displacement of every gate-passing pair as the offset of every head and keep the one
 * linking the most (>= 2 and more than without an offset; ties: the smaller total cost).
 * Leaves q->off and q->match as the assignment with the chosen offset (zero if none). */
static int seq_vote(struct seq *q, size_t *linked)
{
	size_t m = LSD_MAX(q->nh, q->nb), best_n = *linked, ncand = 0;
	double best[3] = { 0, 0, 0 }, best_cost = INFINITY, *cand;
	int found = 0;

	/* the candidate offsets: the displacement of every gate-passing pair, heads-major */
	if (!(cand = malloc((q->nh * q->nb + 1) * sizeof(best))))
		return -1;
	for (size_t r = 0; r < q->nh; r++)
		for (size_t c = 0; c < q->nb; c++) {
			const struct lesion *a = &q->l[q->heads[r]], *b = &q->l[q->cols[c]];
			struct pair_ev e;

			pair_evidence(a, b, NULL, 0, NULL, 0, 0, q->p, no_offset, &e);
			if (e.gated)
				continue;
			for (int k = 0; k < 3; k++)
				cand[3 * ncand + k] = b->loc[k] - a->loc[k];
			ncand++;
		}
	/* cost bound: one assignment per candidate; skipped (nothing changed) when too dear */
	if ((double)ncand * (double)m * (double)m * (double)m > GRAPH_VOTE_MAX_OPS) {
		free(cand);
		return 0;
	}
	for (size_t i = 0; i < ncand; i++) {
		double tot = 0;
		size_t n;

		for (size_t u = 0; u < q->nh; u++)
			memcpy(q->off + 3 * u, cand + 3 * i, sizeof(best));
		if (seq_solve(q, &n)) {
			free(cand);
			return -1;
		}
		for (size_t u = 0; u < q->nh; u++)
			if (q->match[u] >= 0)
				tot += q->ev[u * m + (size_t)q->match[u]].cost;
		if (n >= 2 && (n > best_n || (found && n == best_n && tot < best_cost))) {
			best_n = n;
			best_cost = tot;
			memcpy(best, cand + 3 * i, sizeof(best));
			found = 1;
		}
	}
	free(cand);
	for (size_t u = 0; u < q->nh; u++)
		memcpy(q->off + 3 * u, found ? best : no_offset, sizeof(best));
	return seq_solve(q, linked);
}

/* 1 when pair (r, c) passes the gates and costs less than lim with the current offsets. */
static int seq_within(struct seq *q, size_t r, size_t c, double lim, struct pair_ev *e)
{
	size_t a = q->heads[r], b = q->cols[c];

	pair_evidence(&q->l[a], &q->l[b], q->emb ? q->emb[a] : NULL, q->norm[a],
		      q->emb ? q->emb[b] : NULL, q->norm[b], q->dim, q->p, q->off + 3 * r, e);
	return !e->gated && e->cost < lim;
}

/* Unambiguous wide links (see graph.h): an unmatched head and an unmatched lesion of the
 * study that are each other's only candidate below threshold x wide, among all heads
 * and all the study's lesions. */
static void seq_wide(struct seq *q)
{
	double lim = q->p->threshold * q->p->wide;
	struct pair_ev e;

	for (size_t r = 0; r < q->nh; r++) {
		size_t only = 0, cnt = 0;

		if (q->match[r] >= 0)
			continue;
		for (size_t c = 0; c < q->nb && cnt < 2; c++)
			if (seq_within(q, r, c, lim, &e)) {
				only = c;
				cnt++;
			}
		if (cnt != 1)
			continue;
		for (size_t u = 0; u < q->nh && cnt < 2; u++)
			if (u != r && seq_within(q, u, only, lim, &e))
				cnt++;
		for (size_t u = 0; u < q->nh && cnt == 1; u++)
			if (q->match[u] == (long)only)
				cnt++;
		if (cnt == 1)
			q->match[r] = (long)only;
	}
}

/* Embedding-led links (see graph.h): an unmatched head and an unmatched lesion of the
 * study, both with a vector, that are each other's nearest in embedding distance among
 * all heads and all the study's lesions with a vector, and pass the gates (d_loc within
 * max_dloc, size, type) with the current offsets. */
static void seq_embed_links(struct seq *q)
{
	struct pair_ev e;

	if (!q->emb)
		return;
	for (size_t r = 0; r < q->nh; r++) {
		size_t a = q->heads[r], best = 0;
		double bd = INFINITY, d;
		int mutual = 1;

		if (q->match[r] >= 0 || !q->emb[a] || !(q->norm[a] > 0))
			continue;
		for (size_t c = 0; c < q->nb; c++) {
			size_t b = q->cols[c];

			if (!q->emb[b] || !(q->norm[b] > 0))
				continue;
			d = embed_dist(q->emb[a], q->norm[a], q->emb[b], q->norm[b], q->dim);
			if (d < bd) {
				bd = d;
				best = c;
			}
		}
		if (isinf(bd))
			continue;
		for (size_t u = 0; u < q->nh && mutual; u++) {
			size_t h = q->heads[u], b = q->cols[best];

			if (u == r || !q->emb[h] || !(q->norm[h] > 0))
				continue;
			if (embed_dist(q->emb[h], q->norm[h], q->emb[b], q->norm[b], q->dim) <= bd)
				mutual = 0;
		}
		for (size_t u = 0; u < q->nh && mutual; u++)
			if (q->match[u] == (long)best)
				mutual = 0;
		if (mutual && seq_within(q, r, best, INFINITY, &e))
			q->match[r] = (long)best;
	}
}

/* Candidate edges of the sequential rule; studies[0..nstudies-1] ascending. */
static int seq_candidates(const struct lesion *l, size_t n, const float *const *emb,
			  const double *norm, size_t dim, const struct graph_params *p,
			  const int *sidx, size_t nstudies, double *mat, struct pair_ev *ev,
			  size_t *asg, struct cand **cand, size_t *ncand, size_t *capcand)
{
	struct seq q;
	int rc = -1;

	memset(&q, 0, sizeof(q));
	q.l = l;
	q.emb = emb;
	q.norm = norm;
	q.dim = dim;
	q.p = p;
	q.mat = mat;
	q.ev = ev;
	q.asg = asg;
	q.heads = malloc(n * sizeof(*q.heads));
	q.cols = malloc(n * sizeof(*q.cols));
	q.off = malloc(3 * n * sizeof(*q.off));
	q.match = malloc(n * sizeof(*q.match));
	if (!q.heads || !q.cols || !q.off || !q.match)
		goto out;
	for (size_t t = 0; t < nstudies; t++) {
		size_t linked = 0, nh0 = q.nh;

		q.nb = 0;
		for (size_t i = 0; i < n; i++)
			if (sidx[i] == (int)t)
				q.cols[q.nb++] = i;
		memset(q.off, 0, 3 * n * sizeof(*q.off));
		q.thr = p->threshold;
		if (q.nh && p->align) {
			/* with align_wide > 1 the offsets come from a wider first assignment,
			 * so that a study pair whose lesions all moved together by more than
			 * the threshold is still aligned */
			q.thr = p->threshold * (p->align_wide > 1 ? p->align_wide : 1);
			if (seq_solve(&q, &linked))
				goto out;
			q.thr = p->threshold;
		}
		for (int pass = 0; q.nh && p->align && pass < 2 && linked >= 2; pass++) {
			seq_offsets(&q);
			if (seq_solve(&q, &linked))
				goto out;
		}
		if (q.nh && (!p->align || linked < 2)) {	/* unaligned */
			memset(q.off, 0, 3 * n * sizeof(*q.off));
			if (seq_solve(&q, &linked))
				goto out;
			if (p->align && p->shift_vote && linked < 2) {
				if (seq_vote(&q, &linked))
					goto out;
				for (int pass = 0; pass < 2 && linked >= 2; pass++) {
					seq_offsets(&q);
					if (seq_solve(&q, &linked))
						goto out;
				}
				if (linked < 2) {
					memset(q.off, 0, 3 * n * sizeof(*q.off));
					if (seq_solve(&q, &linked))
						goto out;
				}
			}
		}
		if (q.nh && p->wide > 1)
			seq_wide(&q);
		if (q.nh && p->embed_link)
			seq_embed_links(&q);
		for (size_t c = 0; c < q.nb; c++) {
			size_t r;

			for (r = 0; r < nh0 && q.match[r] != (long)c; r++)
				;
			if (r < nh0) {
				struct pair_ev e;

				pair_evidence(&l[q.heads[r]], &l[q.cols[c]],
					      emb ? emb[q.heads[r]] : NULL, norm[q.heads[r]],
					      emb ? emb[q.cols[c]] : NULL, norm[q.cols[c]], dim, p,
					      q.off + 3 * r, &e);
				if (cand_push(cand, ncand, capcand, l, q.heads[r], q.cols[c], &e, p))
					goto out;
				q.heads[r] = q.cols[c];
			} else {
				q.heads[q.nh++] = q.cols[c];
			}
		}
	}
	rc = 0;
out:
	free(q.heads);
	free(q.cols);
	free(q.off);
	free(q.match);
	return rc;
}

/* The parameters and the patient's lesions graph_build accepts. */
static int build_check(const struct lesion *l, size_t n, const struct graph_params *p,
		       char *err)
{
	if (!p || !(p->threshold > 0) || p->w_loc < 0 || p->w_size < 0 || p->w_embed < 0)
		return errf(err, "graph: threshold must be > 0 and weights >= 0");
	for (size_t i = 0; i < n; i++) {
		if (l[i].patient != l[0].patient)
			return errf(err, "graph: lesions %lld and %lld belong to different patients",
				    (long long)l[0].id, (long long)l[i].id);
		for (size_t j = 0; j < i; j++)
			if (l[j].id == l[i].id)
				return errf(err, "graph: lesion id %lld given twice",
					    (long long)l[i].id);
	}
	return 0;
}

/* graph_build on checked input, without series duplicates */
static int build_core(const struct lesion *l, size_t n, const float *const *emb, size_t dim,
		      const struct graph_params *p, struct graph **out, char *err)
{
	struct graph *g = NULL;
	int *studies = NULL, *sidx = NULL;
	double *norm = NULL, *mat = NULL;
	size_t *rows = NULL, *cols = NULL, *asg = NULL, *par = NULL;
	struct nkey *order = NULL;
	struct cand *cand = NULL;
	struct pair_ev *ev = NULL;
	char *mark = NULL;
	size_t nstudies = 0, ncand = 0, capcand = 0;
	int rc = -1;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		goto oom;
	g->n = n;
	if (n == 0) {
		*out = g;
		g = NULL;
		rc = 0;
		goto out;
	}
	g->ids = malloc(n * sizeof(*g->ids));
	g->study = malloc(n * sizeof(*g->study));
	g->track = malloc(n * sizeof(*g->track));
	studies = malloc(n * sizeof(*studies));
	sidx = malloc(n * sizeof(*sidx));
	norm = calloc(n, sizeof(*norm));
	rows = malloc(n * sizeof(*rows));
	cols = malloc(n * sizeof(*cols));
	asg = malloc(n * sizeof(*asg));
	par = malloc(n * sizeof(*par));
	order = malloc(n * sizeof(*order));
	mark = malloc(n);
	mat = malloc(n * n * sizeof(*mat));
	ev = malloc(n * n * sizeof(*ev));
	if (!g->ids || !g->study || !g->track || !studies || !sidx || !norm || !rows ||
	    !cols || !asg || !par || !order || !mark || !mat || !ev)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		g->ids[i] = l[i].id;
		g->study[i] = l[i].study;
		studies[i] = l[i].study;
		if (emb && emb[i])
			norm[i] = vec_norm(emb[i], dim);
	}
	qsort(studies, n, sizeof(*studies), int_cmp);
	for (size_t i = 0; i < n; i++)
		if (nstudies == 0 || studies[nstudies - 1] != studies[i])
			studies[nstudies++] = studies[i];
	for (size_t i = 0; i < n; i++) {
		const int *f = bsearch(&l[i].study, studies, nstudies, sizeof(*studies), int_cmp);

		sidx[i] = (int)(f - studies);
	}

	if (p->sequential) {
		if (seq_candidates(l, n, emb, norm, dim, p, sidx, nstudies, mat, ev, asg, &cand,
				   &ncand, &capcand))
			goto oom;
	}
	/* all-pairs rule: optimal assignment for each study pair s < t */
	for (size_t s = 0; s < nstudies && !p->sequential; s++) {
		for (size_t t = s + 1; t < nstudies; t++) {
			size_t na = 0, nb = 0, m;

			for (size_t i = 0; i < n; i++) {
				if (sidx[i] == (int)s)
					rows[na++] = i;
				else if (sidx[i] == (int)t)
					cols[nb++] = i;
			}
			m = LSD_MAX(na, nb);
			for (size_t k = 0; k < m * m; k++)
				mat[k] = p->threshold;
			for (size_t r = 0; r < na; r++) {
				for (size_t c = 0; c < nb; c++) {
					size_t a = rows[r], b = cols[c];
					struct pair_ev *e = &ev[r * m + c];

					pair_evidence(&l[a], &l[b], emb ? emb[a] : NULL, norm[a],
						      emb ? emb[b] : NULL, norm[b], dim, p, no_offset, e);
					if (!e->gated && e->cost < p->threshold)
						mat[r * m + c] = e->cost;
				}
			}
			double tot;

			if (graph_assign(mat, m, asg, &tot) < 0)
				goto oom;
			for (size_t r = 0; r < na; r++) {
				size_t c = asg[r];
				const struct pair_ev *e;

				if (c >= nb)
					continue;
				e = &ev[r * m + c];
				if (e->gated || !(e->cost < p->threshold))
					continue;
				if (ncand == capcand) {
					size_t nc = capcand ? capcand * 2 : 16;
					struct cand *tmp = realloc(cand, nc * sizeof(*cand));

					if (!tmp)
						goto oom;
					cand = tmp;
					capcand = nc;
				}
				struct cand *cd = &cand[ncand++];

				cd->a = rows[r];
				cd->b = cols[c];
				cd->sa = l[rows[r]].study;
				cd->sb = l[cols[c]].study;
				cd->e.from = l[rows[r]].id;
				cd->e.to = l[cols[c]].id;
				cd->e.cost = e->cost;
				cd->e.score = 1 - e->cost / p->threshold;
				cd->e.d_embed = e->d_embed;
				cd->e.d_loc = e->d_loc;
				cd->e.size_ratio = e->size_ratio;
			}
		}
	}

	/* consistency: strongest first; never two lesions of one study in a track */
	if (ncand)
		qsort(cand, ncand, sizeof(*cand), cand_cmp_score);
	for (size_t i = 0; i < n; i++)
		par[i] = i;
	size_t kept = 0;

	for (size_t k = 0; k < ncand; k++) {
		size_t ra = uf_find(par, cand[k].a), rb = uf_find(par, cand[k].b);
		int clash = 0;

		if (ra != rb) {
			memset(mark, 0, nstudies);
			for (size_t i = 0; i < n; i++)
				if (uf_find(par, i) == ra)
					mark[sidx[i]] = 1;
			for (size_t i = 0; i < n && !clash; i++)
				if (uf_find(par, i) == rb && mark[sidx[i]])
					clash = 1;
		}
		if (clash) {
			g->ndropped++;
			continue;
		}
		par[ra] = rb;
		cand[kept++] = cand[k];
	}
	if (kept)
		qsort(cand, kept, sizeof(*cand), cand_cmp_pos);
	if (kept) {
		g->edges = malloc(kept * sizeof(*g->edges));
		if (!g->edges)
			goto oom;
	}
	for (size_t k = 0; k < kept; k++)
		g->edges[k] = cand[k].e;
	g->nedges = kept;

	/* tracks numbered by their first node in (study, id) order */
	for (size_t i = 0; i < n; i++) {
		order[i].study = l[i].study;
		order[i].id = l[i].id;
		order[i].i = i;
		g->track[i] = -1;
	}
	qsort(order, n, sizeof(*order), nkey_cmp);
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k].i, root = uf_find(par, i);

		if (g->track[root] < 0)
			g->track[root] = (int)g->ntracks++;
		g->track[i] = g->track[root];
	}
	*out = g;
	g = NULL;
	rc = 0;
	goto out;
oom:
	errf(err, "graph: out of memory (%zu lesions)", n);
out:
	graph_destroy(g);
	free(studies);
	free(sidx);
	free(norm);
	free(mat);
	free(rows);
	free(cols);
	free(asg);
	free(par);
	free(order);
	free(cand);
	free(ev);
	free(mark);
	return rc;
}

/* The graph of l[0..n-1] from the graph gr of its representatives (rl[ri[i]] is lesion
 * i's representative): tracks renumbered by first node, representative -> member
 * edges added. */
static int build_expand(const struct lesion *l, size_t n, const size_t *rep,
			const size_t *ri, const struct graph *gr, size_t ndup, struct graph **out)
{
	struct graph *g = calloc(1, sizeof(*g));
	struct nkey *order = malloc(n * sizeof(*order));
	int *renum = malloc((gr->ntracks ? gr->ntracks : 1) * sizeof(*renum));
	struct cand *ek = malloc((gr->nedges + ndup) * sizeof(*ek));	/* a, b unused */
	size_t ne = 0;

	if (!g || !order || !renum || !ek)
		goto oom;
	g->n = n;
	g->ids = malloc(n * sizeof(*g->ids));
	g->study = malloc(n * sizeof(*g->study));
	g->track = malloc(n * sizeof(*g->track));
	g->edges = malloc((gr->nedges + ndup) * sizeof(*g->edges));
	if (!g->ids || !g->study || !g->track || !g->edges)
		goto oom;
	for (size_t t = 0; t < gr->ntracks; t++)
		renum[t] = -1;
	for (size_t i = 0; i < n; i++) {
		g->ids[i] = l[i].id;
		g->study[i] = l[i].study;
		order[i].study = l[i].study;
		order[i].id = l[i].id;
		order[i].i = i;
	}
	qsort(order, n, sizeof(*order), nkey_cmp);
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k].i;
		int t = gr->track[ri[i]];

		if (renum[t] < 0)
			renum[t] = (int)g->ntracks++;
		g->track[i] = renum[t];
	}
	for (size_t k = 0; k < gr->nedges; k++) {
		ek[ne].e = gr->edges[k];
		ek[ne].sa = ek[ne].sb = 0;
		for (size_t i = 0; i < n; i++) {
			if (l[i].id == gr->edges[k].from)
				ek[ne].sa = l[i].study;
			if (l[i].id == gr->edges[k].to)
				ek[ne].sb = l[i].study;
		}
		ne++;
	}
	for (size_t i = 0; i < n; i++) {
		const struct lesion *a = &l[rep[i]], *b = &l[i];
		double s = 0;

		if (rep[i] == i)
			continue;
		for (int k = 0; k < 3; k++)
			s += (b->loc[k] - a->loc[k]) * (b->loc[k] - a->loc[k]);
		ek[ne].sa = ek[ne].sb = a->study;
		ek[ne].e.from = a->id;
		ek[ne].e.to = b->id;
		ek[ne].e.score = 1;
		ek[ne].e.cost = 0;
		ek[ne].e.d_embed = NAN;
		ek[ne].e.d_loc = sqrt(s);
		ek[ne].e.size_ratio = b->diam_mm[0] / a->diam_mm[0];
		ne++;
	}
	if (ne)
		qsort(ek, ne, sizeof(*ek), cand_cmp_pos);
	for (size_t k = 0; k < ne; k++)
		g->edges[k] = ek[k].e;
	g->nedges = ne;
	g->ndropped = gr->ndropped;
	*out = g;
	free(order);
	free(renum);
	free(ek);
	return 0;
oom:
	graph_destroy(g);
	free(order);
	free(renum);
	free(ek);
	return -1;
}

int graph_build(const struct lesion *l, size_t n, const float *const *emb, size_t dim,
		const struct graph_params *p, struct graph **out, char *err)
{
	size_t *rep = NULL, *ri = NULL, ndup = 0, nr = 0;
	struct lesion *rl = NULL;
	const float **re = NULL;
	struct graph *gr = NULL;
	int rc = -1;

	*out = NULL;
	if (build_check(l, n, p, err))
		return -1;
	if (!p->series_dup || n < 2)
		return build_core(l, n, emb, dim, p, out, err);
	rep = malloc(n * sizeof(*rep));
	if (!rep || graph_series_dups(l, n, p, rep, &ndup)) {
		free(rep);
		return errf(err, "graph: out of memory (%zu lesions)", n);
	}
	if (ndup == 0) {
		free(rep);
		return build_core(l, n, emb, dim, p, out, err);
	}
	ri = malloc(n * sizeof(*ri));
	rl = malloc(n * sizeof(*rl));
	re = emb ? calloc(n, sizeof(*re)) : NULL;
	if (!ri || !rl || (emb && !re)) {
		errf(err, "graph: out of memory (%zu lesions)", n);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (rep[i] == i) {
			ri[i] = nr;
			if (re)
				re[nr] = emb[i];
			rl[nr++] = l[i];
		}
	for (size_t i = 0; i < n; i++)
		ri[i] = ri[rep[i]];
	if (build_core(rl, nr, re, dim, p, &gr, err))
		goto out;
	if (build_expand(l, n, rep, ri, gr, ndup, out)) {
		errf(err, "graph: out of memory (%zu lesions)", n);
		goto out;
	}
	rc = 0;
out:
	graph_destroy(gr);
	free(rep);
	free(ri);
	free(rl);
	free(re);
	return rc;
}

static int i64_find(const struct nkey *k, size_t n, int64_t id, size_t *at)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && k[lo].id == id) {
		*at = k[lo].i;
		return 1;
	}
	return 0;
}

static int nkey_id_cmp(const void *x, const void *y)
{
	const struct nkey *a = x, *b = y;

	return (a->id > b->id) - (a->id < b->id);
}

int graph_components(const struct lesion *l, size_t n, const struct graph_edge *e,
		     size_t ne, int *track, char *err)
{
	struct nkey *byid = NULL, *order = NULL;
	size_t *par = NULL;
	int nt = 0, rc = -1;

	if (n == 0)
		return 0;
	byid = malloc(n * sizeof(*byid));
	order = malloc(n * sizeof(*order));
	par = malloc(n * sizeof(*par));
	if (!byid || !order || !par) {
		errf(err, "graph: out of memory (%zu lesions)", n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		byid[i].study = order[i].study = l[i].study;
		byid[i].id = order[i].id = l[i].id;
		byid[i].i = order[i].i = i;
		par[i] = i;
		track[i] = -1;
	}
	qsort(byid, n, sizeof(*byid), nkey_id_cmp);
	for (size_t k = 0; k < ne; k++) {
		size_t a, b;

		if (!i64_find(byid, n, e[k].from, &a) || !i64_find(byid, n, e[k].to, &b))
			continue;
		a = uf_find(par, a);
		b = uf_find(par, b);
		if (a != b)
			par[a] = b;
	}
	qsort(order, n, sizeof(*order), nkey_cmp);
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k].i, root = uf_find(par, i);

		if (track[root] < 0)
			track[root] = nt++;
		track[i] = track[root];
	}
	rc = nt;
out:
	free(byid);
	free(order);
	free(par);
	return rc;
}

/* ---- RECIST ---- */

const char *graph_recist_name(enum graph_recist c)
{
	switch (c) {
	case GRAPH_BL: return "BL";
	case GRAPH_CR: return "CR";
	case GRAPH_PR: return "PR";
	case GRAPH_SD: return "SD";
	case GRAPH_PD: return "PD";
	}
	return "?";
}

const char *graph_recist_rule(void)
{
	return "RECIST 1.1, the track followed as a single target lesion: its measurement "
	       "(the sum of diameters) is the long diameter in mm (a lesion bookmarked in two "
	       "series of one study counts once: the first series'); baseline = first point; "
	       "nadir = smallest earlier measurement. PD: sum >= 1.2 x nadir and sum - nadir "
	       ">= 5 mm; else PR: sum <= 0.7 x baseline; else SD. CR: the track has no lesion "
	       "in the patient's latest study, which is later than its last lesion (an extra "
	       "point with sum 0). Studies between two points without the lesion are not "
	       "assessed. The first point is the baseline (BL); the track's response is the "
	       "category of its last point.";
}

static int lesp_cmp(const void *x, const void *y)
{
	const struct lesion *a = *(const struct lesion *const *)x;
	const struct lesion *b = *(const struct lesion *const *)y;

	if (a->study != b->study)
		return a->study < b->study ? -1 : 1;
	if (a->series != b->series)
		return a->series < b->series ? -1 : 1;
	return (a->id > b->id) - (a->id < b->id);
}

static double pct(double d, double ref)
{
	return ref > 0 ? 100.0 * d / ref : NAN;
}

int graph_recist(const struct lesion *const *tl, size_t n, int latest_study,
		 struct graph_point *pts, char *err)
{
	const struct lesion **s = NULL;
	double base, nadir;
	size_t n_dup = 0;
	int rc = -1;

	if (n == 0)
		return errf(err, "recist: empty track");
	s = malloc(n * sizeof(*s));
	if (!s)
		return errf(err, "recist: out of memory");
	memcpy(s, tl, n * sizeof(*s));
	qsort(s, n, sizeof(*s), lesp_cmp);
	/* series duplicates (one lesion bookmarked in two series of a study): the first
	 * series' measurement counts; two lesions of one series are an error */
	for (size_t k = 0, m = 0; k < n; k++) {
		if (m && s[k]->study == s[m - 1]->study) {
			if (s[k]->series == s[m - 1]->series) {
				errf(err, "recist: lesions %lld and %lld are in the same study "
				     "and series", (long long)s[m - 1]->id, (long long)s[k]->id);
				goto out;
			}
			n_dup++;
			continue;
		}
		s[m++] = s[k];
	}
	n -= n_dup;
	for (size_t k = 0; k < n; k++) {
		if (!(s[k]->diam_mm[0] > 0)) {
			errf(err, "recist: lesion %lld has no long diameter", (long long)s[k]->id);
			goto out;
		}
	}
	base = s[0]->diam_mm[0];
	nadir = base;
	for (size_t k = 0; k < n; k++) {
		struct graph_point *q = &pts[k];
		double sum = s[k]->diam_mm[0];

		memset(q, 0, sizeof(*q));
		q->id = s[k]->id;
		q->study = s[k]->study;
		q->long_mm = s[k]->diam_mm[0];
		q->short_mm = s[k]->diam_mm[1];
		q->sum_mm = sum;
		q->d_base_mm = sum - base;
		q->d_base_pct = pct(q->d_base_mm, base);
		q->nadir_mm = nadir;
		q->d_nadir_mm = sum - nadir;
		q->d_nadir_pct = pct(q->d_nadir_mm, nadir);
		if (k == 0)
			q->cat = GRAPH_BL;
		else if (sum >= 1.2 * nadir - GRAPH_EPS && sum - nadir >= 5.0 - GRAPH_EPS)
			q->cat = GRAPH_PD;
		else if (sum <= 0.7 * base + GRAPH_EPS)
			q->cat = GRAPH_PR;
		else
			q->cat = GRAPH_SD;
		if (sum < nadir)
			nadir = sum;
	}
	rc = (int)n;
	if (latest_study > s[n - 1]->study) {
		struct graph_point *q = &pts[n];

		memset(q, 0, sizeof(*q));
		q->study = latest_study;
		q->d_base_mm = -base;
		q->d_base_pct = -100;
		q->nadir_mm = nadir;
		q->d_nadir_mm = -nadir;
		q->d_nadir_pct = -100;
		q->cat = GRAPH_CR;
		rc = (int)n + 1;
	}
out:
	free(s);
	return rc;
}

/* ---- evaluation ---- */

struct pi {
	int patient;
	size_t i;
};

static int pi_cmp(const void *x, const void *y)
{
	const struct pi *a = x, *b = y;

	if (a->patient != b->patient)
		return a->patient < b->patient ? -1 : 1;
	return (a->i > b->i) - (a->i < b->i);
}

int graph_eval(const int *patient, const int *study, const int64_t *truth,
	       const int64_t *pred, size_t n, struct graph_eval *o, char *err)
{
	struct pi *v = NULL;
	double pr, rc_;

	memset(o, 0, sizeof(*o));
	if (n) {
		v = malloc(n * sizeof(*v));
		if (!v)
			return errf(err, "eval: out of memory");
	}
	for (size_t k = 0; k < n; k++) {
		v[k].patient = patient[k];
		v[k].i = k;
	}
	if (n)
		qsort(v, n, sizeof(*v), pi_cmp);
	for (size_t a = 0; a < n;) {
		size_t b = a;

		while (b < n && v[b].patient == v[a].patient)
			b++;
		for (size_t x = a; x < b; x++) {
			size_t i = v[x].i;
			int first = 1;
			int64_t size = 0, whole = 1;

			if (truth[i] == GRAPH_UNLABELLED)
				continue;

			for (size_t y = a; y < b; y++) {
				size_t j = v[y].i;
				int same_t = truth[j] == truth[i], same_p = pred[j] == pred[i];

				if (truth[j] == GRAPH_UNLABELLED)
					continue;
				if (y > x && study[i] != study[j]) {
					o->tp += same_t && same_p;
					o->fp += !same_t && same_p;
					o->fn += same_t && !same_p;
				}
				if (y < x && same_t)
					first = 0;
				size += same_t;
				if (same_t != same_p)
					whole = 0;
			}
			if (!first)
				continue;
			o->tracks++;
			o->whole += whole;
			if (size >= 2) {
				o->multi_tracks++;
				o->multi_whole += whole;
			}
		}
		a = b;
	}
	free(v);
	pr = o->tp + o->fp ? (double)o->tp / (double)(o->tp + o->fp) : 1.0;
	rc_ = o->tp + o->fn ? (double)o->tp / (double)(o->tp + o->fn) : 1.0;
	o->precision = pr;
	o->recall = rc_;
	o->f1 = pr + rc_ > 0 ? 2 * pr * rc_ / (pr + rc_) : 0;
	o->whole_share = o->tracks ? (double)o->whole / (double)o->tracks : 1.0;
	o->multi_whole_share =
		o->multi_tracks ? (double)o->multi_whole / (double)o->multi_tracks : 1.0;
	return 0;
}

/* ---- calibration ---- */

static const double grid_loc[] = { 1.0 };
static const double grid_size[] = { 0, 0.02, 0.05, 0.1, 0.2 };
/* x, y, z weights: isotropic, and two that trust z more and y less (real follow-ups
 * move most in y and least in z; docs/real_vs_demo.md) */
static const double grid_axis[] = { 1, 1, 1, 1, 0.7, 2, 1, 1, 3 };
static const double grid_embed[] = { 0, 0.005, 0.01, 0.02, 0.05, 0.1 };
/* roughly geometric, ratio ~1.25, so a run of k thresholds spans a factor ~1.25^(k-1) */
static const double grid_thr[] = { 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05,
				   0.06, 0.08, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3 };

static const int grid_vote[] = { 0, 1 };
static const double grid_wide[] = { 1 };

/* Cost is homogeneous in (weights, threshold), so w_loc = 1 fixes the scale. */
void graph_grid_default(struct graph_grid *g)
{
	memset(g, 0, sizeof(*g));
	g->axis = grid_axis;
	g->n_axis = LSD_ARRAY_LEN(grid_axis) / 3;
	g->w_loc = grid_loc;
	g->n_loc = LSD_ARRAY_LEN(grid_loc);
	g->w_size = grid_size;
	g->n_size = LSD_ARRAY_LEN(grid_size);
	g->w_embed = grid_embed;
	g->n_embed = LSD_ARRAY_LEN(grid_embed);
	g->threshold = grid_thr;
	g->n_threshold = LSD_ARRAY_LEN(grid_thr);
	g->shift_vote = grid_vote;
	g->n_vote = LSD_ARRAY_LEN(grid_vote);
	g->wide = grid_wide;
	g->n_wide = LSD_ARRAY_LEN(grid_wide);
}

void graph_grid_threshold(const struct graph_params *base, struct graph_grid *g)
{
	graph_grid_default(g);
	g->w_loc = &base->w_loc;
	g->n_loc = 1;
	g->w_size = &base->w_size;
	g->n_size = 1;
	g->w_embed = &base->w_embed;
	g->n_embed = 1;
	g->n_axis = 0;
	g->n_vote = 0;
	g->n_wide = 0;
}

/* 1 when a scores better than b: higher F1, then higher whole share. */
static int eval_better(const struct graph_eval *a, const struct graph_eval *b)
{
	if (a->f1 > b->f1 + GRAPH_EPS)
		return 1;
	return fabs(a->f1 - b->f1) <= GRAPH_EPS && a->whole_share > b->whole_share + GRAPH_EPS;
}

/* The labelled lesions of graph_calibrate, grouped by patient, and its scratch. */
struct calib {
	const struct lesion *l;
	const float *const *emb;	/* NULL: none */
	size_t n, dim;
	const int *pat, *stu;
	const int64_t *tru;
	int64_t *pred;
};

/* Score setting *p on c: *ev, and *links = the pairs it links (labelled or not). */
static int calib_score(const struct calib *c, const struct graph_params *p,
		       struct graph_eval *ev, size_t *links, char *err)
{
	*links = 0;
	for (size_t s = 0; s < c->n;) {
		size_t e = s;
		struct graph *g = NULL;

		while (e < c->n && c->l[e].patient == c->l[s].patient)
			e++;
		if (graph_build(c->l + s, e - s, c->emb ? c->emb + s : NULL, c->dim, p, &g, err) < 0)
			return -1;
		for (size_t k = s; k < e; k++) {
			c->pred[k] = g->track[k - s];
			for (size_t j = s; j < k; j++)
				*links += c->pred[j] == c->pred[k];
		}
		graph_destroy(g);
		s = e;
	}
	return graph_eval(c->pat, c->stu, c->tru, c->pred, c->n, ev, err);
}

/* Bisection steps (in log threshold) for each edge of a plateau: the edge is found to a
 * factor (grid ratio)^(1/2^16), far finer than any cost difference that matters. */
#define CALIB_STEPS 16

/* The edge of a plateau between grid thresholds in (scoring as well as top) and out
 * (not): bisected in log threshold; returns the threshold nearest to out known to be
 * in, or a negative value with err. */
static double calib_edge(const struct calib *c, struct graph_params p, double in, double out,
			 const struct graph_eval *top, char *err)
{
	for (int k = 0; k < CALIB_STEPS; k++) {
		struct graph_eval ev;
		size_t links;

		p.threshold = sqrt(in * out);
		if (calib_score(c, &p, &ev, &links, err) < 0)
			return -1;
		if (eval_better(top, &ev))
			out = p.threshold;
		else
			in = p.threshold;
	}
	return in;
}

int graph_calibrate(const struct lesion *l, size_t n, const float *const *emb, size_t dim,
		    const int64_t *truth, const struct graph_grid *grid,
		    const struct graph_params *base, struct graph_params *best,
		    struct graph_eval *best_eval, double *run, char *err)
{
	struct calib cb;
	double best_width = -1;
	struct graph_grid dg;
	struct lesion *sl = NULL;
	const float **se = NULL;
	struct pi *idx = NULL;
	int *pat = NULL, *stu = NULL;
	int64_t *tru = NULL, *pred = NULL;
	static const double zero = 0;
	const double *wemb;
	struct graph_eval *evs = NULL;
	struct graph_params *rows = NULL;
	size_t *links = NULL;
	const struct graph_eval *top = NULL;
	size_t nemb, nthr, nw, nax, nvote, nwide, best_links = 0;
	int rc = -1;

	if (!grid) {
		graph_grid_default(&dg);
		grid = &dg;
	}
	wemb = emb ? grid->w_embed : &zero;
	nemb = emb ? grid->n_embed : 1;
	nthr = grid->n_threshold;
	nax = grid->n_axis ? grid->n_axis : 1;
	nvote = grid->n_vote ? grid->n_vote : 1;
	nwide = grid->n_wide ? grid->n_wide : 1;
	nw = nax * grid->n_loc * grid->n_size * nemb * nvote * nwide;
	if (n == 0)
		return errf(err, "calibrate: no lesions");
	if (nw == 0 || nthr == 0)
		return errf(err, "calibrate: empty grid");
	for (size_t d = 1; d < nthr; d++)
		if (!(grid->threshold[d] > grid->threshold[d - 1]))
			return errf(err, "calibrate: grid thresholds must ascend");
	sl = malloc(n * sizeof(*sl));
	se = calloc(n, sizeof(*se));
	idx = malloc(n * sizeof(*idx));
	pat = malloc(n * sizeof(*pat));
	stu = malloc(n * sizeof(*stu));
	tru = malloc(n * sizeof(*tru));
	pred = malloc(n * sizeof(*pred));
	evs = malloc(nw * nthr * sizeof(*evs));
	links = calloc(nw * nthr, sizeof(*links));
	rows = malloc(nw * sizeof(*rows));
	if (!sl || !se || !idx || !pat || !stu || !tru || !pred || !evs || !links || !rows) {
		errf(err, "calibrate: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		idx[i].patient = l[i].patient;
		idx[i].i = i;
	}
	qsort(idx, n, sizeof(*idx), pi_cmp);
	for (size_t k = 0; k < n; k++) {
		sl[k] = l[idx[k].i];
		se[k] = emb ? emb[idx[k].i] : NULL;
		pat[k] = sl[k].patient;
		stu[k] = sl[k].study;
		tru[k] = truth[idx[k].i];
	}
	/* the weight rows, in grid order (axis, w_loc, w_size, w_embed, vote, wide) */
	for (size_t w = 0; w < nw; w++) {
		size_t r = w, i_wide = r % nwide, i_vote, c, b, a, x;

		r /= nwide;
		i_vote = r % nvote;
		r /= nvote;
		c = r % nemb;
		r /= nemb;
		b = r % grid->n_size;
		r /= grid->n_size;
		a = r % grid->n_loc;
		x = r / grid->n_loc;
		rows[w] = *base;
		if (grid->n_axis)
			memcpy(rows[w].axis, grid->axis + 3 * x, sizeof(rows[w].axis));
		rows[w].w_loc = grid->w_loc[a];
		rows[w].w_size = grid->w_size[b];
		rows[w].w_embed = wemb[c];
		if (grid->n_vote)
			rows[w].shift_vote = grid->shift_vote[i_vote];
		if (grid->n_wide)
			rows[w].wide = grid->wide[i_wide];
	}
	cb = (struct calib){ .l = sl, .emb = emb ? se : NULL, .n = n, .dim = dim, .pat = pat,
			     .stu = stu, .tru = tru, .pred = pred };
	/* every grid point's score; thresholds innermost */
	for (size_t w = 0; w < nw; w++)
	for (size_t d = 0; d < nthr; d++) {
		struct graph_params p = rows[w];
		struct graph_eval *ev = &evs[w * nthr + d];

		p.threshold = grid->threshold[d];
		if (calib_score(&cb, &p, ev, &links[w * nthr + d], err) < 0)
			goto out;
		if (!top || eval_better(ev, top))
			top = ev;
	}
	/* Every run of consecutive grid thresholds scoring as well as the top: its edges
	 * refined between grid points (bisection in log threshold; a run at the end of the
	 * grid ends there), its width ln(hi / lo) and its geometric middle sqrt(lo * hi),
	 * the threshold farthest, as a factor, from both edges where the score drops. The
	 * widest wins; equal widths (within 1e-9): fewer links at the middle, then grid
	 * order. A middle that does not itself score as well (a hole in the plateau) falls
	 * back to the run's lower-middle grid threshold. */
	for (size_t w = 0; w < nw; w++) {
		const struct graph_eval *row = &evs[w * nthr];

		for (size_t d = 0; d < nthr;) {
			size_t e = d, m, mlinks;
			double lo, hi, width;
			struct graph_params p = rows[w];
			struct graph_eval mev;

			while (e < nthr && !eval_better(top, &row[e]))
				e++;
			if (e == d) {
				d++;
				continue;
			}
			lo = grid->threshold[d];
			hi = grid->threshold[e - 1];
			if (d > 0)
				lo = calib_edge(&cb, p, lo, grid->threshold[d - 1], top, err);
			if (e < nthr && lo >= 0)
				hi = calib_edge(&cb, p, hi, grid->threshold[e], top, err);
			if (lo < 0 || hi < 0)
				goto out;
			width = log(hi / lo);
			p.threshold = sqrt(lo * hi);
			if (calib_score(&cb, &p, &mev, &mlinks, err) < 0)
				goto out;
			if (eval_better(top, &mev)) {
				m = d + (e - d - 1) / 2;
				p.threshold = grid->threshold[m];
				mev = row[m];
				mlinks = links[w * nthr + m];
			}
			if (width > best_width + 1e-9 ||
			    (fabs(width - best_width) <= 1e-9 && mlinks < best_links)) {
				best_width = width;
				best_links = mlinks;
				*best = p;
				*best_eval = mev;
				if (run) {
					run[0] = lo;
					run[1] = hi;
				}
			}
			d = e;
		}
	}
	rc = 0;
out:
	free(sl);
	free(se);
	free(idx);
	free(pat);
	free(stu);
	free(tru);
	free(pred);
	free(evs);
	free(links);
	free(rows);
	return rc;
}

/* ---- bagged calibration ---- */

static int same_weights(const struct graph_params *a, const struct graph_params *b)
{
	return a->w_loc == b->w_loc && a->w_size == b->w_size && a->w_embed == b->w_embed &&
	       a->axis[0] == b->axis[0] && a->axis[1] == b->axis[1] && a->axis[2] == b->axis[2] &&
	       a->shift_vote == b->shift_vote && a->wide == b->wide &&
	       a->size_quad == b->size_quad;
}

static int dbl_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/* the chosen setting scored on all of l: graph_calibrate on a one-point grid */
static int calib_one(const struct lesion *l, size_t n, const float *const *emb, size_t dim,
		     const int64_t *truth, const struct graph_params *base,
		     const struct graph_params *p, struct graph_eval *ev, char *err)
{
	struct graph_grid g;
	struct graph_params out;

	memset(&g, 0, sizeof(g));
	g.w_loc = &p->w_loc;
	g.n_loc = 1;
	g.w_size = &p->w_size;
	g.n_size = 1;
	g.w_embed = &p->w_embed;
	g.n_embed = 1;
	g.threshold = &p->threshold;
	g.n_threshold = 1;
	g.axis = p->axis;
	g.n_axis = 1;
	g.shift_vote = &p->shift_vote;
	g.n_vote = 1;
	g.wide = &p->wide;
	g.n_wide = 1;
	return graph_calibrate(l, n, emb, dim, truth, &g, base, &out, ev, NULL, err);
}

int graph_calibrate_bagged(const struct lesion *l, size_t n, const float *const *emb,
			   size_t dim, const int64_t *truth, const struct graph_grid *grid,
			   const struct graph_params *base, size_t bags, uint64_t seed,
			   struct graph_params *best, struct graph_eval *best_eval, double *run,
			   char *err)
{
	struct pi *idx = NULL;
	size_t *start = NULL, npat = 0, m = 0, *count = NULL, mode = 0;
	struct lesion *bl = NULL;
	const float **be = NULL;
	int64_t *bt = NULL;
	struct graph_params *chosen = NULL;
	double *thr = NULL;
	struct rng g;
	int rc = -1;

	if (bags == 0 || n == 0)
		return graph_calibrate(l, n, emb, dim, truth, grid, base, best, best_eval, run, err);
	idx = malloc(n * sizeof(*idx));
	start = malloc((n + 1) * sizeof(*start));
	chosen = malloc(bags * sizeof(*chosen));
	count = calloc(bags, sizeof(*count));
	thr = malloc(bags * sizeof(*thr));
	if (!idx || !start || !chosen || !count || !thr)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		idx[i].patient = l[i].patient;
		idx[i].i = i;
	}
	qsort(idx, n, sizeof(*idx), pi_cmp);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || idx[i].patient != idx[i - 1].patient)
			start[npat++] = i;
	start[npat] = n;
	rng_seed(&g, seed);
	for (size_t b = 0; b < bags; b++) {
		size_t k = 0, cap = n;
		struct graph_eval ev;

		/* a bootstrap sample can hold more lesions than l: grow as needed */
		free(bl);
		free(be);
		free(bt);
		bl = malloc(cap * sizeof(*bl));
		be = emb ? calloc(cap, sizeof(*be)) : NULL;
		bt = malloc(cap * sizeof(*bt));
		if (!bl || (emb && !be) || !bt)
			goto oom;
		for (size_t d = 0; d < npat; d++) {
			size_t p = (size_t)(rng_next(&g) % npat);

			for (size_t j = start[p]; j < start[p + 1]; j++) {
				if (k == cap) {
					size_t nc = cap * 2;
					struct lesion *q = realloc(bl, nc * sizeof(*q));
					int64_t *qt;

					if (!q)
						goto oom;
					bl = q;
					qt = realloc(bt, nc * sizeof(*qt));
					if (!qt)
						goto oom;
					bt = qt;
					if (emb) {
						const float **qe = realloc(be, nc * sizeof(*qe));

						if (!qe)
							goto oom;
						be = qe;
					}
					cap = nc;
				}
				bl[k] = l[idx[j].i];
				bl[k].patient = (int)d;	/* each draw a patient of its own */
				if (emb)
					be[k] = emb[idx[j].i];
				bt[k] = truth[idx[j].i];
				k++;
			}
		}
		if (graph_calibrate(bl, k, emb ? be : NULL, dim, bt, grid, base, &chosen[b], &ev,
				    NULL, err))
			goto out;
		for (size_t c = 0; c <= b; c++)
			if (same_weights(&chosen[c], &chosen[b])) {
				count[c]++;
				if (count[c] > count[mode] || (count[c] == count[mode] && c < mode))
					mode = c;
				break;
			}
	}
	for (size_t b = 0; b < bags; b++)
		if (same_weights(&chosen[b], &chosen[mode]))
			thr[m++] = chosen[b].threshold;
	qsort(thr, m, sizeof(*thr), dbl_cmp);
	*best = chosen[mode];
	best->threshold = m % 2 ? thr[m / 2] : sqrt(thr[m / 2 - 1] * thr[m / 2]);
	if (run) {
		run[0] = thr[0];
		run[1] = thr[m - 1];
	}
	if (calib_one(l, n, emb, dim, truth, base, best, best_eval, err))
		goto out;
	rc = 0;
	goto out;
oom:
	errf(err, "calibrate: out of memory");
out:
	free(idx);
	free(start);
	free(bl);
	free(be);
	free(bt);
	free(chosen);
	free(count);
	free(thr);
	return rc;
}
