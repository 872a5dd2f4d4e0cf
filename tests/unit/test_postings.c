/* test_postings.c - the posting lists (postings.c) and the catalog's selection from them
 * (catalog_select), against brute-force oracles written here: per-key id sets kept as
 * plain arrays, sorted-list intersections and unions by nested loops, and the filter
 * evaluated on the tests' own lesion records (search_ref.h) after random inserts,
 * updates of every listed field, deletes and a snapshot adoption. */
#include "catalog.h"
#include "postings.h"
#include "search_ref.h"
#include "unit.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void)
{
	return ref_urand(&rng);
}

static int irand(int n)
{
	return (int)(urand() * n);
}

#define MAXID 3000
#define NKEYS 7

/* is id in field f's list for key k (the oracle) */
static uint8_t member[2][NKEYS][MAXID + 1];

static void check_lists(const struct postings *p)
{
	int f, k, id;

	for (f = 0; f < 2; f++) {
		size_t tot = 0;

		for (k = 0; k < NKEYS; k++) {
			size_t n, i = 0, want = 0;
			const uint32_t *v = postings_get(p, f, k * 1000003LL - 3, &n);
			int bad = 0;

			for (id = 1; id <= MAXID; id++) {
				if (!member[f][k][id])
					continue;
				want++;
				if (i >= n || v[i] != (uint32_t)id)
					bad = 1;
				i++;
			}
			CHECK_EQ_INT(n, want);
			CHECK(!bad);
			tot += n;
		}
		CHECK_EQ_INT(postings_total(p, f), tot);
	}
}

/* Random inserts (any order, repeats) and erases (present or not) on two fields. */
static void test_insert_erase(void)
{
	struct postings *p = NULL;
	char err[LSD_ERRLEN];
	int round, op;

	CHECK_EQ_INT(postings_create(2, &p, err), 0);
	memset(member, 0, sizeof(member));
	for (round = 0; round < 20; round++) {
		for (op = 0; op < 400; op++) {
			int f = irand(2), k = irand(NKEYS), id = 1 + irand(MAXID);
			int64_t key = k * 1000003LL - 3;	/* negative, large and sparse keys */

			if (urand() < 0.6) {
				CHECK_EQ_INT(postings_insert(p, f, key, (uint32_t)id), 0);
				member[f][k][id] = 1;
			} else {
				postings_erase(p, f, key, (uint32_t)id);
				member[f][k][id] = 0;
			}
		}
		check_lists(p);
	}
	{	/* ascending appends after all that */
		int id;

		for (id = 1; id <= MAXID; id += 3) {
			CHECK_EQ_INT(postings_insert(p, 1, 5 * 1000003LL - 3, (uint32_t)id), 0);
			member[1][5][id] = 1;
		}
		check_lists(p);
	}
	{
		size_t n = 9;

		CHECK(postings_get(p, 0, 424242, &n) == NULL);
		CHECK_EQ_INT(n, 0);
	}
	postings_clear(p);
	memset(member, 0, sizeof(member));
	check_lists(p);
	postings_destroy(p);
	postings_destroy(NULL);
	CHECK(postings_create(0, &p, err) == -1 && p == NULL);
}

/* n ascending distinct ids drawn from 1..range */
static size_t rand_sorted(uint32_t *v, size_t n, uint32_t range)
{
	size_t m = 0;
	uint32_t id;

	for (id = 1; id <= range && m < n; id++)
		if (urand() * (double)(range - id + 1) < (double)(n - m))
			v[m++] = id;
	return m;
}

static void test_mark_union(void)
{
	static uint32_t a[5000], b[5000], c[5000], out[15000];
	static uint8_t mark[5000];
	int t;

	for (t = 0; t < 200; t++) {
		size_t na = rand_sorted(a, (size_t)irand(300), 6000);
		size_t nb = rand_sorted(b, (size_t)irand(t % 2 ? 5000 : 50), 6000);
		size_t nc = rand_sorted(c, (size_t)irand(2000), 6000);
		size_t i, j, nu, want;
		const uint32_t *ls[3] = { a, b, c };
		size_t lens[3] = { na, nb, nc };
		int bad = 0;

		memset(mark, 0, sizeof(mark));
		postings_mark(a, na, b, nb, mark);
		for (i = 0; i < na; i++) {
			int in = 0;

			for (j = 0; j < nb; j++)
				in |= b[j] == a[i];
			bad |= mark[i] != in;
		}
		CHECK(!bad);
		nu = postings_union(ls, lens, 3, out);
		for (want = 0, i = 1; i <= 6000; i++) {
			int in = 0;

			for (j = 0; j < 3; j++) {
				size_t x;

				for (x = 0; x < lens[j]; x++)
					in |= ls[j][x] == i;
			}
			if (in) {
				bad |= want >= nu || out[want] != i;
				want++;
			}
		}
		CHECK_EQ_INT(nu, want);
		CHECK(!bad);
	}
}

/* ---- the catalog's selection ---- */

#define NL 4000
static struct lesion les[NL + 1];
static int live[NL + 1];

static void random_lesion(struct lesion *l, int64_t id)
{
	memset(l, 0, sizeof(*l));
	l->id = id;
	l->patient = 1 + irand(300);
	l->study = 1 + irand(4);
	l->type = urand() < 0.15 ? -1 : 1 + irand(8);
	l->split = 1 + irand(3);
	l->diam_mm[0] = 4 + 0.25 * irand(200);	/* exact in float */
	l->gender = urand() < 0.1 ? 'U' : urand() < 0.5 ? 'M' : 'F';
	l->age = urand() < 0.1 ? NAN : 20 + irand(60);
	l->noisy = urand() < 0.05;
}

static void random_sel(struct store_filter *f, struct catalog_sel *s)
{
	memset(s, 0, sizeof(*s));
	store_filter_init(f);
	if (urand() < 0.5)
		f->type_mask = urand() < 0.5 ? 1u << irand(9) : (unsigned)irand(512);
	if (urand() < 0.3)
		f->split_mask = urand() < 0.7 ? 1u << (1 + irand(3)) : 6u;
	if (urand() < 0.2)
		f->gender = urand() < 0.5 ? 'M' : 'F';
	if (urand() < 0.2)
		f->study = 1 + irand(5);
	if (urand() < 0.15)
		f->exclude_noisy = 1;
	if (urand() < 0.1)
		f->patient = 1 + irand(310);
	if (urand() < 0.15)
		f->min_diam_mm = 0.25 * irand(160);
	if (urand() < 0.1)
		f->max_age = 30 + irand(40);
	s->filter = urand() < 0.9 ? f : NULL;
	if (urand() < 0.5)
		s->skip_id = 1 + irand(NL);
	if (urand() < 0.3) {
		s->patient = urand() < 0.1 ? 0 : 1 + irand(300);
		if (urand() < 0.5)
			s->patient_only = 1;
		else
			s->patient_skip = 1;
	}
}

static int oracle_pass(const struct catalog_sel *s, int64_t id)
{
	const struct lesion *l = &les[id];

	if (!live[id] || id == s->skip_id)
		return 0;
	if (s->patient_only && l->patient != s->patient)
		return 0;
	if (s->patient_skip && l->patient == s->patient)
		return 0;
	return ref_filter_match(s->filter, l);
}

/* selections that name no listed field: the ones catalog_select walks for */
static uint64_t want_walks;

static int names_list_field(const struct catalog_sel *s)
{
	const struct store_filter *f = s->filter;

	return s->patient_only || (f && (f->patient || f->study || f->type_mask ||
					 f->split_mask || f->gender || f->exclude_noisy));
}

/* Every random selection equals the oracle's; returns how many did not. */
static int compare_selects(struct catalog *cat, int trials)
{
	char err[LSD_ERRLEN];
	int t, bad = 0;

	for (t = 0; t < trials; t++) {
		struct store_filter f;
		struct catalog_sel s;
		int64_t *ids = NULL, id;
		size_t n = 0, total = 0, i = 0, live_n = 0;
		int wrong = 0;

		random_sel(&f, &s);
		want_walks += !names_list_field(&s);
		if (catalog_select(cat, &s, &ids, &n, &total, err)) {
			bad++;
			continue;
		}
		for (id = 1; id <= NL; id++) {
			live_n += live[id];
			if (!oracle_pass(&s, id))
				continue;
			if (i >= n || ids[i] != id)
				wrong = 1;
			i++;
		}
		if (wrong || i != n || total != live_n)
			bad++;
		free(ids);
	}
	return bad;
}

static void put(struct catalog *cat, int64_t id)
{
	char err[LSD_ERRLEN];

	CHECK_EQ_INT(catalog_put(cat, &les[id], err), 0);
	live[id] = 1;
}

/* Inserts in random order, updates changing one listed field at a time, deletes,
 * re-inserts; each round compared on random selections. */
static void test_select_random(void)
{
	struct catalog *cat = NULL;
	char err[LSD_ERRLEN];
	int64_t id;
	int round, op;

	CHECK_EQ_INT(catalog_create(&cat, err), 0);
	memset(live, 0, sizeof(live));
	want_walks = 0;
	for (id = 1; id <= NL; id++)
		random_lesion(&les[id], id);
	for (op = 0; op < NL / 2; op++)
		put(cat, 1 + irand(NL));
	CHECK_EQ_INT(compare_selects(cat, 300), 0);
	for (round = 0; round < 8; round++) {
		for (op = 0; op < 600; op++) {
			struct lesion *l;
			double u = urand();

			id = 1 + irand(NL);
			l = &les[id];
			if (u < 0.25) {
				catalog_remove(cat, id);
				live[id] = 0;
				continue;
			}
			if (u < 0.4) {
				random_lesion(l, id);
			} else {
				switch (irand(6)) {
				case 0: l->patient = 1 + irand(300); break;
				case 1: l->study = 1 + irand(4); break;
				case 2: l->type = l->type == 3 ? -1 : 3; break;
				case 3: l->split = 1 + l->split % 3; break;
				case 4: l->gender = l->gender == 'M' ? 'F' : 'M'; break;
				default: l->noisy = !l->noisy; break;
				}
			}
			put(cat, id);
		}
		CHECK_EQ_INT(compare_selects(cat, 200), 0);
	}
	CHECK_EQ_INT(catalog_select_walks(cat), want_walks);	/* the others used the lists */
	CHECK(want_walks > 0 && want_walks < 1000);
	catalog_destroy(cat);
}

/* The smallest case of an update: a lesion moved from bone to lung, from patient 7 to 8,
 * no longer noisy, is found under its new values only. */
static void test_update_moves(void)
{
	struct catalog *cat = NULL;
	struct store_filter f;
	struct catalog_sel s = { .filter = &f };
	char err[LSD_ERRLEN];
	int64_t *ids = NULL;
	size_t n, total;
	int64_t id;

	CHECK_EQ_INT(catalog_create(&cat, err), 0);
	memset(live, 0, sizeof(live));
	for (id = 1; id <= 20; id++) {
		random_lesion(&les[id], id);
		les[id].type = id == 5 ? 1 : 2;
		les[id].patient = id == 5 ? 7 : 1;
		les[id].noisy = id == 5;
		put(cat, id);
	}
	les[5].type = 5;
	les[5].patient = 8;
	les[5].noisy = 0;
	put(cat, 5);
	store_filter_init(&f);
	f.type_mask = 1u << 1;
	CHECK_EQ_INT(catalog_select(cat, &s, &ids, &n, &total, err), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(total, 20);
	free(ids);
	f.type_mask = 1u << 5;
	CHECK_EQ_INT(catalog_select(cat, &s, &ids, &n, &total, err), 0);
	CHECK(n == 1 && ids[0] == 5);
	free(ids);
	store_filter_init(&f);
	f.patient = 7;
	CHECK_EQ_INT(catalog_select(cat, &s, &ids, &n, &total, err), 0);
	CHECK_EQ_INT(n, 0);
	free(ids);
	f.patient = 8;
	f.exclude_noisy = 1;
	CHECK_EQ_INT(catalog_select(cat, &s, &ids, &n, &total, err), 0);
	CHECK(n == 1 && ids[0] == 5);
	free(ids);
	catalog_remove(cat, 5);
	CHECK_EQ_INT(catalog_select(cat, &s, &ids, &n, &total, err), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(total, 19);
	free(ids);
	catalog_destroy(cat);
}

/* A catalog installed whole (the start-up from <db>.state: adopted aside, then moved in)
 * selects from rebuilt lists, and keeps them current afterwards. */
static void test_adopt_rebuilds(void)
{
	struct catalog *cat = NULL, *aside = NULL;
	struct catalog_entry *e = calloc(NL + 1, sizeof(*e));
	char err[LSD_ERRLEN];
	int64_t id;
	int op;

	CHECK_EQ_INT(catalog_create(&cat, err), 0);
	memset(live, 0, sizeof(live));
	want_walks = 0;
	for (id = 1; id <= NL; id++) {
		random_lesion(&les[id], id);
		if (urand() < 0.8) {
			catalog_entry_from_lesion(&les[id], &e[id]);
			live[id] = 1;
		}
	}
	CHECK_EQ_INT(catalog_create(&aside, err), 0);
	CHECK_EQ_INT(catalog_adopt(aside, e, NL + 1, err), 0);
	CHECK_EQ_INT(catalog_move(cat, aside, err), 0);
	CHECK_EQ_INT(catalog_count(aside), 0);
	CHECK(catalog_count(cat) > NL / 2);
	CHECK_EQ_INT(catalog_move(cat, aside, err), -1);	/* into a full one: refused */
	catalog_destroy(aside);
	CHECK_EQ_INT(compare_selects(cat, 300), 0);
	for (op = 0; op < 500; op++) {
		id = 1 + irand(NL);
		les[id].type = 1 + irand(8);
		les[id].patient = 1 + irand(300);
		put(cat, id);
	}
	CHECK_EQ_INT(compare_selects(cat, 300), 0);
	CHECK_EQ_INT(catalog_select_walks(cat), want_walks);
	catalog_destroy(cat);
}

/* Without an equality field (a diameter bound alone, same_patient=exclude alone) the
 * select walks the entries, and still agrees. */
static void test_walk(void)
{
	struct catalog *cat = NULL;
	struct store_filter f;
	struct catalog_sel s = { .filter = &f, .skip_id = 3 };
	char err[LSD_ERRLEN];
	int64_t *ids = NULL, id;
	size_t n, total, want = 0;

	CHECK_EQ_INT(catalog_create(&cat, err), 0);
	memset(live, 0, sizeof(live));
	for (id = 1; id <= 500; id++) {
		random_lesion(&les[id], id);
		put(cat, id);
	}
	store_filter_init(&f);
	f.min_diam_mm = 30;
	CHECK_EQ_INT(catalog_select(cat, &s, &ids, &n, &total, err), 0);
	for (id = 1; id <= 500; id++)
		want += oracle_pass(&s, id);
	CHECK_EQ_INT(n, want);
	CHECK(n > 0 && n < 500);
	CHECK_EQ_INT(catalog_select_walks(cat), 1);
	free(ids);
	catalog_destroy(cat);
}

int main(void)
{
	RUN(test_insert_erase);
	RUN(test_mark_union);
	RUN(test_select_random);
	RUN(test_update_moves);
	RUN(test_adopt_rebuilds);
	RUN(test_walk);
	return unit_done();
}
