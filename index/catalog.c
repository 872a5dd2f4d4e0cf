/* catalog.c - in-memory lesion metadata for search filters and result summaries.
 * See catalog.h. An array indexed by lesion id, grown by doubling; ~48 bytes a lesion
 * (1.6 MB for DeepLesion's 32,735), plus posting lists of six fields (~24 bytes a
 * lesion). Guarded by a pthread rwlock. */
#include "catalog.h"
#include "postings.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_MAX_ID 100000000LL
/* a field's lists are intersected with the candidates when they hold at most this many
 * times as many ids; larger ones are cheaper to check entry by entry */
#define CATALOG_INTERSECT_RATIO 16

/* the fields with posting lists */
enum { CF_PATIENT, CF_STUDY, CF_TYPE, CF_SPLIT, CF_GENDER, CF_NOISY, CF_N };

struct catalog {
	pthread_rwlock_t lock;
	struct catalog_entry *e;
	int64_t cap;		/* entries allocated: ids 0..cap-1 */
	int64_t max_id;
	size_t count;
	struct postings *post;	/* of the present entries */
	int post_ok;		/* 0 after a failed list update: selects walk the entries */
	uint64_t walks;		/* selects that walked (relaxed atomic) */
};

/* The posting-list key of field f: what the filter compares (store_filter_test). */
static int64_t field_key(const struct catalog_entry *e, int f)
{
	switch (f) {
	case CF_PATIENT:
		return e->patient;
	case CF_STUDY:
		return e->study;
	case CF_TYPE:
		return e->type > 0 ? e->type : 0;
	case CF_SPLIT:
		return e->split;
	case CF_GENDER:
		return (unsigned char)e->gender;
	default:
		return e->noisy != 0;
	}
}

/* Move id's list memberships from old to neu (either may be absent: present 0); write
 * lock held. Only the fields whose key changed are touched. */
static void post_update(struct catalog *c, int64_t id, const struct catalog_entry *old,
			const struct catalog_entry *neu)
{
	int f;

	for (f = 0; f < CF_N && c->post_ok; f++) {
		int64_t ko = field_key(old, f), kn = field_key(neu, f);

		if (old->present && neu->present && ko == kn)
			continue;
		if (old->present)
			postings_erase(c->post, f, ko, (uint32_t)id);
		if (neu->present && postings_insert(c->post, f, kn, (uint32_t)id))
			c->post_ok = 0;
	}
}

int catalog_create(struct catalog **out, char *err)
{
	struct catalog *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return errf(err, "out of memory");
	if (postings_create(CF_N, &c->post, err)) {
		free(c);
		return -1;
	}
	c->post_ok = 1;
	pthread_rwlock_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void catalog_destroy(struct catalog *c)
{
	if (!c)
		return;
	pthread_rwlock_destroy(&c->lock);
	postings_destroy(c->post);
	free(c->e);
	free(c);
}

void catalog_entry_from_lesion(const struct lesion *l, struct catalog_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->patient = l->patient;
	e->study = l->study;
	e->series = l->series;
	e->key_slice = l->key_slice;
	e->diam_mm[0] = (float)l->diam_mm[0];
	e->diam_mm[1] = (float)l->diam_mm[1];
	e->loc[0] = (float)l->loc[0];
	e->loc[1] = (float)l->loc[1];
	e->loc[2] = (float)l->loc[2];
	e->age = isnan(l->age) ? NAN : (float)l->age;
	e->type = (int8_t)l->type;
	e->split = (int8_t)l->split;
	e->noisy = (int8_t)l->noisy;
	e->gender = l->gender;
	e->present = 1;
}

/* Grow to hold id; caller holds the write lock. */
static int grow(struct catalog *c, int64_t id, char *err)
{
	int64_t cap = c->cap ? c->cap : 1024;
	struct catalog_entry *p;

	if (id <= 0 || id > CATALOG_MAX_ID)
		return errf(err, "lesion id %lld out of the catalog's range", (long long)id);
	if (id < c->cap)
		return 0;
	while (cap <= id)
		cap *= 2;
	p = realloc(c->e, (size_t)cap * sizeof(*p));
	if (!p)
		return errf(err, "out of memory");
	memset(p + c->cap, 0, (size_t)(cap - c->cap) * sizeof(*p));
	c->e = p;
	c->cap = cap;
	return 0;
}

int catalog_put(struct catalog *c, const struct lesion *l, char *err)
{
	int rc;

	pthread_rwlock_wrlock(&c->lock);
	rc = grow(c, l->id, err);
	if (!rc) {
		struct catalog_entry old = c->e[l->id];

		if (!old.present)
			c->count++;
		catalog_entry_from_lesion(l, &c->e[l->id]);
		post_update(c, l->id, &old, &c->e[l->id]);
		if (l->id > c->max_id)
			c->max_id = l->id;
	}
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

void catalog_remove(struct catalog *c, int64_t id)
{
	pthread_rwlock_wrlock(&c->lock);
	if (id > 0 && id < c->cap && c->e[id].present) {
		struct catalog_entry old = c->e[id];

		c->e[id].present = 0;
		c->count--;
		post_update(c, id, &old, &c->e[id]);
	}
	pthread_rwlock_unlock(&c->lock);
}

int catalog_get(struct catalog *c, int64_t id, struct catalog_entry *out)
{
	int rc = -1;

	pthread_rwlock_rdlock(&c->lock);
	if (id > 0 && id < c->cap && c->e[id].present) {
		*out = c->e[id];
		rc = 0;
	}
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

static int load_one(const struct lesion *l, void *arg)
{
	char err[LSD_ERRLEN];

	return catalog_put(arg, l, err) ? -1 : 0;
}

int catalog_load(struct catalog *c, struct store *st, char *err)
{
	if (store_lesion_foreach(st, load_one, c, err))
		return errf(err, "catalog: cannot load lesions");
	return 0;
}

int catalog_match(const struct store_filter *f, const struct catalog_entry *e)
{
	struct store_filter_fields x = {
		.patient = e->patient, .study = e->study, .type = e->type, .split = e->split,
		.noisy = e->noisy, .diam_mm = e->diam_mm[0], .age = e->age, .diam_float = 1,
		.gender = e->gender,
	};

	return e->present && store_filter_test(f, &x);
}

const struct catalog_entry *catalog_lock(struct catalog *c, int64_t *max_id)
{
	pthread_rwlock_rdlock(&c->lock);
	*max_id = c->max_id;
	return c->e;
}

void catalog_unlock(struct catalog *c)
{
	pthread_rwlock_unlock(&c->lock);
}

size_t catalog_count(struct catalog *c)
{
	size_t n;

	pthread_rwlock_rdlock(&c->lock);
	n = c->count;
	pthread_rwlock_unlock(&c->lock);
	return n;
}

int catalog_adopt(struct catalog *c, struct catalog_entry *e, int64_t n, char *err)
{
	int64_t i, max_id = 0;
	size_t count = 0;
	int rc = -1;

	pthread_rwlock_wrlock(&c->lock);
	if (c->count || n < 1 || n > CATALOG_MAX_ID + 1) {
		errf(err, "catalog: not empty, or %lld entries", (long long)n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (e[i].present > 1 || (i == 0 && e[i].present)) {
			errf(err, "catalog: entry %lld is malformed", (long long)i);
			goto out;
		}
		if (e[i].present) {
			count++;
			max_id = i;
		}
	}
	free(c->e);
	c->e = e;
	e = NULL;
	c->cap = n;
	c->max_id = max_id;
	c->count = count;
	postings_clear(c->post);
	c->post_ok = 1;
	for (i = 1; i <= max_id && c->post_ok; i++) {
		static const struct catalog_entry none;

		if (c->e[i].present)
			post_update(c, i, &none, &c->e[i]);
	}
	rc = 0;
out:
	pthread_rwlock_unlock(&c->lock);
	free(e);
	return rc;
}

#define SWAP(T, x, y) do { T t_ = (x); (x) = (y); (y) = t_; } while (0)

int catalog_move(struct catalog *dst, struct catalog *src, char *err)
{
	int rc = 0;

	pthread_rwlock_wrlock(&dst->lock);
	pthread_rwlock_wrlock(&src->lock);
	if (dst->count) {
		rc = errf(err, "catalog: not empty");
	} else {	/* swap all but the lock and the counter */
		SWAP(struct catalog_entry *, dst->e, src->e);
		SWAP(int64_t, dst->cap, src->cap);
		SWAP(int64_t, dst->max_id, src->max_id);
		SWAP(size_t, dst->count, src->count);
		SWAP(struct postings *, dst->post, src->post);
		SWAP(int, dst->post_ok, src->post_ok);
	}
	pthread_rwlock_unlock(&src->lock);
	pthread_rwlock_unlock(&dst->lock);
	return rc;
}

int catalog_sel_match(const struct catalog_sel *s, int64_t id, const struct catalog_entry *e)
{
	if (!e->present || id == s->skip_id)
		return 0;
	if (s->patient_only && e->patient != s->patient)
		return 0;
	if (s->patient_skip && e->patient == s->patient)
		return 0;
	return !s->filter || catalog_match(s->filter, e);
}

/* One conjunct a select resolves from the lists: the field's value is one of keys. */
struct conj {
	int nk;
	const uint32_t *l[32];
	size_t len[32];
	size_t size;		/* ids over the lists */
};

static void conj_add(struct catalog *c, struct conj *cj, int f, int64_t key)
{
	cj->l[cj->nk] = postings_get(c->post, f, key, &cj->len[cj->nk]);
	cj->size += cj->len[cj->nk];
	if (cj->len[cj->nk])
		cj->nk++;
}

/* The conjuncts for sel into cj[] (returns how many; -1: nothing can pass); *range set
 * when the filter also bounds diameter or age (checked entry by entry). */
static int conjuncts(struct catalog *c, const struct catalog_sel *sel, struct conj *cj,
		     int *range)
{
	const struct store_filter *f = sel->filter;
	int64_t patient = 0;
	int n = 0, has_patient = 0, b;

	memset(cj, 0, CF_N * sizeof(*cj));
	*range = 0;
	if (f && f->patient) {
		patient = f->patient;
		has_patient = 1;
	}
	if (sel->patient_only) {
		if (has_patient && patient != sel->patient)
			return -1;
		patient = sel->patient;
		has_patient = 1;
	}
	if (has_patient)
		conj_add(c, &cj[n++], CF_PATIENT, patient);
	if (!f)
		return n;
	if (f->study)
		conj_add(c, &cj[n++], CF_STUDY, f->study);
	if (f->type_mask) {
		for (b = 0; b < 32; b++)
			if (f->type_mask & (1u << b))
				conj_add(c, &cj[n], CF_TYPE, b);
		n++;
	}
	if (f->split_mask) {
		for (b = 0; b < 32; b++)
			if (f->split_mask & (1u << b))
				conj_add(c, &cj[n], CF_SPLIT, b);
		n++;
	}
	if (f->gender)
		conj_add(c, &cj[n++], CF_GENDER, (unsigned char)f->gender);
	if (f->exclude_noisy)
		conj_add(c, &cj[n++], CF_NOISY, 0);
	*range = f->min_diam_mm > 0 || f->max_diam_mm > 0 || !isnan(f->min_age) ||
		 !isnan(f->max_age);
	return n;
}

/* Keep the cand[i] whose mark is want; returns the new count. */
static size_t keep_marked(uint32_t *cand, const uint8_t *mark, size_t n, int want)
{
	size_t i, m = 0;

	for (i = 0; i < n; i++)
		if (mark[i] == want)
			cand[m++] = cand[i];
	return m;
}

/* The ids passing sel by walking every entry; read lock held. */
static int select_walk(struct catalog *c, const struct catalog_sel *sel, int64_t **ids,
		       size_t *n, char *err)
{
	size_t cnt = 0, cap = 1024;
	int64_t id, *v = malloc(cap * sizeof(*v));

	if (!v)
		return errf(err, "out of memory");
	for (id = 1; id <= c->max_id; id++) {
		if (!catalog_sel_match(sel, id, &c->e[id]))
			continue;
		if (cnt == cap) {
			int64_t *p = realloc(v, cap * 2 * sizeof(*v));

			if (!p) {
				free(v);
				return errf(err, "out of memory");
			}
			v = p;
			cap *= 2;
		}
		v[cnt++] = id;
	}
	*ids = v;
	*n = cnt;
	return 0;
}

/* The ids passing sel from the posting lists of the nc conjuncts cj[] (nc >= 1); read
 * lock held. */
static int select_lists(struct catalog *c, const struct catalog_sel *sel, struct conj *cj,
			int nc, int check, int64_t **ids, size_t *n, char *err)
{
	uint32_t *cand = NULL;
	uint8_t *mark = NULL;
	size_t nd, i, m = 0;
	int j, k, rc = -1;

	for (j = 1; j < nc; j++) {	/* smallest first */
		struct conj t = cj[j];

		for (k = j; k > 0 && cj[k - 1].size > t.size; k--)
			cj[k] = cj[k - 1];
		cj[k] = t;
	}
	cand = malloc((cj[0].size ? cj[0].size : 1) * sizeof(*cand));
	mark = malloc(cj[0].size ? cj[0].size : 1);
	*ids = malloc((cj[0].size ? cj[0].size : 1) * sizeof(**ids));
	if (!cand || !mark || !*ids) {
		errf(err, "out of memory");
		goto out;
	}
	nd = cj[0].nk ? postings_union(cj[0].l, cj[0].len, cj[0].nk, cand) : 0;
	for (j = 1; j < nc && nd; j++) {
		if (cj[j].size > nd * CATALOG_INTERSECT_RATIO) {
			check = 1;	/* this one and the larger rest: entry by entry */
			break;
		}
		memset(mark, 0, nd);
		for (k = 0; k < cj[j].nk; k++)
			postings_mark(cand, nd, cj[j].l[k], cj[j].len[k], mark);
		nd = keep_marked(cand, mark, nd, 1);
	}
	if (!check && sel->patient_skip && nd) {
		size_t np;
		const uint32_t *pl = postings_get(c->post, CF_PATIENT, sel->patient, &np);

		memset(mark, 0, nd);
		postings_mark(cand, nd, pl, np, mark);
		nd = keep_marked(cand, mark, nd, 0);
	}
	for (i = 0; i < nd; i++) {
		int64_t id = cand[i];

		if (check ? catalog_sel_match(sel, id, &c->e[id]) : id != sel->skip_id)
			(*ids)[m++] = id;
	}
	*n = m;
	rc = 0;
out:
	if (rc) {
		free(*ids);
		*ids = NULL;
	}
	free(cand);
	free(mark);
	return rc;
}

int catalog_select(struct catalog *c, const struct catalog_sel *sel, int64_t **ids,
		   size_t *n, size_t *total, char *err)
{
	struct conj cj[CF_N];
	int nc, range, rc;

	*ids = NULL;
	*n = 0;
	pthread_rwlock_rdlock(&c->lock);
	*total = c->count;
	nc = c->post_ok ? conjuncts(c, sel, cj, &range) : 0;
	if (nc < 0) {
		*ids = malloc(sizeof(**ids));
		rc = *ids ? 0 : errf(err, "out of memory");
	} else if (nc == 0) {
		__atomic_fetch_add(&c->walks, 1, __ATOMIC_RELAXED);
		rc = select_walk(c, sel, ids, n, err);
	} else {
		rc = select_lists(c, sel, cj, nc, range, ids, n, err);
	}
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

uint64_t catalog_select_walks(struct catalog *c)
{
	return __atomic_load_n(&c->walks, __ATOMIC_RELAXED);
}
