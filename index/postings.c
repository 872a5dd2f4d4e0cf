/* postings.c - per-field posting lists (see postings.h). Each field is an open-addressing
 * hash table (linear probing, grown at 70% load) from an int64 value to a growable
 * ascending uint32 array. Load: one table probe and an append per insert when ids come
 * in ascending order (a load, a snapshot rebuild), a binary search and a memmove
 * otherwise; lookups are a few per filtered query.
 */
#include "postings.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct plist {
	int64_t key;
	uint32_t *v;
	uint32_t n, cap;
	int used;
};

struct pfield {
	struct plist *t;
	size_t cap, used;	/* slots; slots holding a key */
	size_t total;		/* ids over all lists */
	size_t last;		/* slot of the last key added to (runs of ids share a patient) */
};

struct postings {
	int nfields;
	struct pfield f[POSTINGS_MAX_FIELDS];
};

int postings_create(int nfields, struct postings **out, char *err)
{
	struct postings *p;

	*out = NULL;
	if (nfields < 1 || nfields > POSTINGS_MAX_FIELDS)
		return errf(err, "postings: %d fields", nfields);
	p = calloc(1, sizeof(*p));
	if (!p)
		return errf(err, "out of memory");
	p->nfields = nfields;
	*out = p;
	return 0;
}

static void field_free(struct pfield *f)
{
	size_t i;

	for (i = 0; i < f->cap; i++)
		free(f->t[i].v);
	free(f->t);
	memset(f, 0, sizeof(*f));
}

void postings_destroy(struct postings *p)
{
	int i;

	if (!p)
		return;
	for (i = 0; i < p->nfields; i++)
		field_free(&p->f[i]);
	free(p);
}

void postings_clear(struct postings *p)
{
	int i;

	for (i = 0; i < p->nfields; i++)
		field_free(&p->f[i]);
}

static size_t slot_of(int64_t key, size_t cap)
{
	return lsd_hash_slot(key, cap);
}

/* The list for key, or NULL. */
static struct plist *find(const struct pfield *f, int64_t key)
{
	size_t i;

	if (!f->cap)
		return NULL;
	for (i = slot_of(key, f->cap); f->t[i].used; i = (i + 1) & (f->cap - 1))
		if (f->t[i].key == key)
			return &f->t[i];
	return NULL;
}

static int grow_table(struct pfield *f)
{
	size_t cap = f->cap ? f->cap * 2 : 16, i, j;
	struct plist *t = calloc(cap, sizeof(*t));

	if (!t)
		return -1;
	for (i = 0; i < f->cap; i++) {
		if (!f->t[i].used)
			continue;
		for (j = slot_of(f->t[i].key, cap); t[j].used; j = (j + 1) & (cap - 1))
			;
		t[j] = f->t[i];
	}
	free(f->t);
	f->t = t;
	f->cap = cap;
	return 0;
}

/* The list for key, created empty when missing; NULL when out of memory. */
static struct plist *find_add(struct pfield *f, int64_t key)
{
	struct plist *l;
	size_t i;

	if (f->cap && f->t[f->last].used && f->t[f->last].key == key)
		return &f->t[f->last];
	l = find(f, key);
	if (l) {
		f->last = (size_t)(l - f->t);
		return l;
	}
	if ((f->used + 1) * 10 > f->cap * 7 && grow_table(f))
		return NULL;
	for (i = slot_of(key, f->cap); f->t[i].used; i = (i + 1) & (f->cap - 1))
		;
	f->t[i].used = 1;
	f->t[i].key = key;
	f->used++;
	f->last = i;
	return &f->t[i];
}

/* First position in v[0..n) whose value is >= id: halving a window without a branch on
 * the comparison (it is unpredictable in a gallop). */
static size_t lower_bound(const uint32_t *v, size_t n, uint32_t id)
{
	const uint32_t *base = v;

	if (!n)
		return 0;
	while (n > 1) {
		size_t half = n / 2;

		base = base[half - 1] < id ? base + half : base;
		n -= half;
	}
	return (size_t)(base - v) + (*base < id);
}

int postings_insert(struct postings *p, int field, int64_t key, uint32_t id)
{
	struct pfield *f = &p->f[field];
	struct plist *l = find_add(f, key);
	size_t at;

	if (!l)
		return -1;
	at = l->n && l->v[l->n - 1] < id ? l->n : lower_bound(l->v, l->n, id);
	if (at < l->n && l->v[at] == id)
		return 0;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 4;
		uint32_t *v = cap > l->cap ? realloc(l->v, (size_t)cap * sizeof(*v)) : NULL;

		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	memmove(l->v + at + 1, l->v + at, (l->n - at) * sizeof(*l->v));
	l->v[at] = id;
	l->n++;
	f->total++;
	return 0;
}

void postings_erase(struct postings *p, int field, int64_t key, uint32_t id)
{
	struct pfield *f = &p->f[field];
	struct plist *l = find(f, key);
	size_t at;

	if (!l)
		return;
	at = lower_bound(l->v, l->n, id);
	if (at == l->n || l->v[at] != id)
		return;
	memmove(l->v + at, l->v + at + 1, (l->n - at - 1) * sizeof(*l->v));
	l->n--;
	f->total--;
}

const uint32_t *postings_get(const struct postings *p, int field, int64_t key, size_t *n)
{
	const struct plist *l = find(&p->f[field], key);

	*n = l ? l->n : 0;
	return l && l->n ? l->v : NULL;
}

size_t postings_total(const struct postings *p, int field)
{
	return p->f[field].total;
}

void postings_mark(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint8_t *mark)
{
	size_t i, j = 0;

	for (i = 0; i < na && j < nb; i++) {
		size_t step = 1, lo, hi;

		if (b[j] >= a[i]) {
			if (b[j] == a[i])
				mark[i] = 1;
			continue;
		}
		/* gallop: b[lo] < a[i]; find hi with b[hi] >= a[i] (or the end) */
		lo = j;
		while (lo + step < nb && b[lo + step] < a[i]) {
			lo += step;
			step *= 2;
		}
		hi = LSD_MIN(lo + step, nb);
		j = lo + 1 + lower_bound(b + lo + 1, hi - lo - 1, a[i]);
		if (j < nb && b[j] == a[i])
			mark[i] = 1;
	}
}

size_t postings_union(const uint32_t *const *lists, const size_t *lens, int k, uint32_t *out)
{
	size_t pos[POSTINGS_UNION_MAX] = {0}, n = 0;
	int i;

	if (k < 1 || k > POSTINGS_UNION_MAX)
		return 0;
	if (k == 1) {
		memcpy(out, lists[0], lens[0] * sizeof(*out));
		return lens[0];
	}
	for (;;) {
		int best = -1;

		for (i = 0; i < k; i++)
			if (pos[i] < lens[i] && (best < 0 || lists[i][pos[i]] < lists[best][pos[best]]))
				best = i;
		if (best < 0)
			break;
		if (!n || out[n - 1] != lists[best][pos[best]])
			out[n++] = lists[best][pos[best]];
		pos[best]++;
	}
	return n;
}
