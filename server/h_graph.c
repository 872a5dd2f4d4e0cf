/* h_graph.c - the lesion-graph routes: GET /v1/patients/{pid}/graph (nodes and edges)
 * and GET /v1/lesions/{id}/track (the lesion's track in time order with RECIST 1.1),
 * plus the hooks that keep a patient's stored graph current when lesions are added or
 * deleted through the API (rebuilt with the vectors of the graph_space space as
 * embedding evidence; the spaces' hook runs first, so a new lesion's built-in
 * descriptor is already there).
 *
 * Reads come from the store (edges persisted by store_graph.c); the track is the
 * connected group of the lesion in the stored edges, and its RECIST figures are computed
 * per request by graph_recist (a track has a handful of points). Load: one patient's
 * rows per request, well under a millisecond for DeepLesion-sized patients.
 */
#include "apijson.h"
#include "app.h"
#include "graph.h"
#include "graphrun.h"
#include "handlers.h"
#include "log.h"
#include "space.h"
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GRAPH_REPLY_MAX (16u << 20)

/* "k":v for n numbers, each after a comma (the first too unless first_bare). */
struct num_field {
	const char *k;
	double v;
};

static void num_fields(struct sb *b, const struct num_field *f, int n, int first_bare)
{
	for (int i = 0; i < n; i++) {
		if (i || !first_bare)
			sb_addc(b, ',');
		jw_key(b, f[i].k);
		jw_num(b, f[i].v);
	}
}

void h_graph_params(const struct config *c, struct graph_params *p)
{
	graph_params_default(p);
	p->w_embed = c->graph_w_embed;
	p->w_loc = c->graph_w_loc;
	p->w_size = c->graph_w_size;
	p->threshold = c->graph_threshold;
	p->axis[0] = c->graph_axis_x;
	p->axis[1] = c->graph_axis_y;
	p->axis[2] = c->graph_axis_z;
	p->sequential = c->graph_sequential;
	p->align = c->graph_align;
	p->align_wide = c->graph_align_wide;
	p->shift_vote = c->graph_shift_vote;
	p->wide = c->graph_wide;
	p->embed_link = c->graph_embed_link;
	p->series_dup = c->graph_series_dup;
	p->size_quad = c->graph_size_quad;
}

struct space *h_graph_space(struct spaces *sp, const struct config *c)
{
	return sp && c->graph_space[0] ? spaces_get(sp, c->graph_space) : NULL;
}

static void rebuild(struct app *app, int64_t patient)
{
	struct graph_params p;
	struct graphrun_stats s;
	char err[LSD_ERRLEN];

	h_graph_params(&app->cfg, &p);
	if (graphrun_rebuild(app->st, patient, &p, h_graph_space(app->sp, &app->cfg), &s,
				err))
		log_msg(LOG_ERROR, "graph: patient %lld: rebuild failed: %s", (long long)patient,
			err);
}

void h_graph_lesions_added(struct app *app, const struct lesion *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < i && l[j].patient != l[i].patient; j++)
			;
		if (j == i)	/* first lesion of this patient in the batch */
			rebuild(app, l[i].patient);
	}
}

void h_graph_lesion_deleted(struct app *app, const struct lesion *l)
{
	rebuild(app, l->patient);
}

static void node_json(struct sb *b, const struct lesion *l, int track)
{
	const char *tn = lesion_type_name(l->type);

	sb_adds(b, "{\"lesion_id\":");
	jw_int(b, l->id);
	sb_adds(b, ",\"study\":");
	jw_int(b, l->study);
	sb_adds(b, ",\"series\":");
	jw_int(b, l->series);
	sb_adds(b, ",\"slice\":");
	jw_int(b, l->key_slice);
	sb_adds(b, ",\"type\":");
	jw_str(b, tn);
	sb_adds(b, ",\"diameters_mm\":[");
	jw_num(b, l->diam_mm[0]);
	sb_addc(b, ',');
	jw_num(b, l->diam_mm[1]);
	sb_adds(b, "],\"location\":[");
	jw_num(b, l->loc[0]);
	sb_addc(b, ',');
	jw_num(b, l->loc[1]);
	sb_addc(b, ',');
	jw_num(b, l->loc[2]);
	sb_adds(b, "],\"track\":");
	jw_int(b, track);
	sb_addc(b, '}');
}

int h_graph_load(const struct request *r, int64_t pid, struct lesion **l, size_t *n,
			struct graph_edge **e, size_t *ne, int **track, int *ntracks,
			struct reply *rp)
{
	char err[LSD_ERRLEN];

	*l = NULL;
	*e = NULL;
	*track = NULL;
	if (store_patient_lesions(r->app->st, pid, l, n, err) ||
	    store_graph_edges(r->app->st, pid, e, ne, err))
		goto fail;
	if (*n == 0) {
		reply_problem(rp, 404, "no patient %lld", (long long)pid);
		return -1;
	}
	*track = malloc(*n * sizeof(**track));
	if (!*track) {
		errf(err, "out of memory");
		goto fail;
	}
	*ntracks = graph_components(*l, *n, *e, *ne, *track, err);
	if (*ntracks < 0)
		goto fail;
	return 0;
fail:
	reply_problem(rp, 500, "%s", err);
	return -1;
}

void h_patient_graph(const struct request *r, struct reply *rp)
{
	struct lesion *l = NULL;
	struct graph_edge *e = NULL;
	int *track = NULL, ntracks = 0;
	size_t n = 0, ne = 0;
	int64_t pid;
	struct sb b;

	if (r->nargs < 1 || parse_i64(r->args[0], 1, INT64_MAX, &pid)) {
		reply_problem(rp, 404, "patient id must be a positive integer, got '%.40s'",
			      r->nargs ? r->args[0] : "");
		return;
	}
	if (h_graph_load(r, pid, &l, &n, &e, &ne, &track, &ntracks, rp))
		goto out;
	sb_init(&b, GRAPH_REPLY_MAX);
	sb_adds(&b, "{\"patient\":");
	jw_int(&b, pid);
	sb_adds(&b, ",\"nodes\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_addc(&b, ',');
		node_json(&b, &l[i], track[i]);
	}
	sb_adds(&b, "],\"edges\":[");
	for (size_t k = 0; k < ne; k++) {
		if (k)
			sb_addc(&b, ',');
		sb_adds(&b, "{\"from\":");
		jw_int(&b, e[k].from);
		sb_adds(&b, ",\"to\":");
		jw_int(&b, e[k].to);
		sb_adds(&b, ",\"score\":");
		jw_num(&b, e[k].score);
		sb_adds(&b, ",\"components\":{");
		num_fields(&b, (const struct num_field[]){ { "d_embed", e[k].d_embed },
			{ "d_loc", e[k].d_loc }, { "size_ratio", e[k].size_ratio },
			{ "cost", e[k].cost } }, 4, 1);
		sb_adds(&b, "}}");
	}
	sb_adds(&b, "],\"tracks\":");
	jw_int(&b, ntracks);
	sb_addc(&b, '}');
	reply_json(rp, 200, &b);
out:
	free(l);
	free(e);
	free(track);
}

void h_lesion_track(const struct request *r, struct reply *rp)
{
	struct lesion *l = NULL, self;
	struct graph_edge *e = NULL;
	const struct lesion **tl = NULL;
	struct graph_point *pts = NULL;
	int *track = NULL, ntracks = 0, latest = 0, np, mine = -1;
	size_t n = 0, ne = 0, nt = 0;
	char err[LSD_ERRLEN];
	int64_t id;
	struct sb b;

	if (apijson_path_lesion(r, &self, rp))
		return;
	id = self.id;
	if (h_graph_load(r, self.patient, &l, &n, &e, &ne, &track, &ntracks, rp))
		goto out;
	tl = malloc(n * sizeof(*tl));
	pts = malloc((n + 1) * sizeof(*pts));
	if (!tl || !pts) {
		reply_problem(rp, 500, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		latest = LSD_MAX(latest, l[i].study);
		if (l[i].id == id)
			mine = track[i];
	}
	if (mine < 0) {	/* deleted between the two reads */
		reply_problem(rp, 404, "no lesion %lld", (long long)id);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (track[i] == mine)
			tl[nt++] = &l[i];
	np = graph_recist(tl, nt, latest, pts, err);
	if (np < 0) {
		reply_problem(rp, 500, "%s", err);
		goto out;
	}
	sb_init(&b, GRAPH_REPLY_MAX);
	sb_adds(&b, "{\"lesion_id\":");
	jw_int(&b, id);
	sb_adds(&b, ",\"patient\":");
	jw_int(&b, self.patient);
	sb_adds(&b, ",\"latest_study\":");
	jw_int(&b, latest);
	sb_adds(&b, ",\"track\":[");
	for (int k = 0; k < np; k++) {
		const struct graph_point *q = &pts[k];

		if (k)
			sb_addc(&b, ',');
		sb_adds(&b, "{\"lesion_id\":");
		if (q->id)
			jw_int(&b, q->id);
		else
			sb_adds(&b, "null");
		sb_adds(&b, ",\"study\":");
		jw_int(&b, q->study);
		sb_adds(&b, ",\"present\":");
		sb_adds(&b, q->id ? "true" : "false");
		num_fields(&b, (const struct num_field[]){ { "long_mm", q->long_mm },
			{ "short_mm", q->short_mm }, { "sum_mm", q->sum_mm },
			{ "change_from_baseline_mm", q->d_base_mm },
			{ "change_from_baseline_pct", q->d_base_pct }, { "nadir_mm", q->nadir_mm },
			{ "change_from_nadir_mm", q->d_nadir_mm },
			{ "change_from_nadir_pct", q->d_nadir_pct } }, 8, 0);
		sb_adds(&b, ",\"recist\":");
		jw_str(&b, graph_recist_name(q->cat));
		sb_addc(&b, '}');
	}
	sb_adds(&b, "],\"response\":");
	jw_str(&b, graph_recist_name(pts[np - 1].cat));
	sb_adds(&b, ",\"rule\":");
	jw_str(&b, graph_recist_rule());
	sb_addc(&b, '}');
	reply_json(rp, 200, &b);
out:
	free(l);
	free(e);
	free(track);
	free(tl);
	free(pts);
}
