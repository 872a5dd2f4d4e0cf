/* space_idmap.c - the id -> row map of a space's memory copy: open addressing with
 * linear probing and backward-shift deletion, so lookups stay short at any history of
 * writes. Used by space.c under the space's write lock (reads under the read lock); not
 * thread-safe on its own. Load: one lookup per vector read, one insert per write.
 */
#include "space_int.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>


static size_t idmap_slot(int64_t id, size_t cap)
{
	return lsd_hash_slot(id, cap);
}

void idmap_free(struct idmap *m)
{
	free(m->key);
	free(m->row);
	memset(m, 0, sizeof(*m));
}

int idmap_find(const struct idmap *m, int64_t id, size_t *row)
{
	size_t i;

	if (!m->cap)
		return 0;
	for (i = idmap_slot(id, m->cap); m->key[i]; i = (i + 1) & (m->cap - 1)) {
		if (m->key[i] == id) {
			if (row)
				*row = m->row[i];
			return 1;
		}
	}
	return 0;
}

void idmap_prefetch(const struct idmap *m, int64_t id)
{
	size_t i;

	if (!m->cap)
		return;
	i = idmap_slot(id, m->cap);
	__builtin_prefetch(&m->key[i]);
	__builtin_prefetch(&m->row[i]);
}

int idmap_reserve(struct idmap *m, size_t more)
{
	size_t need = m->n + more, cap = m->cap ? m->cap : 64, i;
	struct idmap nm = {0};

	while (need * 10 > cap * 7) {
		if (cap > ((size_t)1 << 40))
			return -1;
		cap *= 2;
	}
	if (cap == m->cap)
		return 0;
	nm.key = calloc(cap, sizeof(*nm.key));
	nm.row = malloc(cap * sizeof(*nm.row));
	if (!nm.key || !nm.row) {
		idmap_free(&nm);
		return -1;
	}
	nm.cap = cap;
	for (i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->key[i])
			continue;
		for (j = idmap_slot(m->key[i], cap); nm.key[j]; j = (j + 1) & (cap - 1))
			;
		nm.key[j] = m->key[i];
		nm.row[j] = m->row[i];
	}
	nm.n = m->n;
	idmap_free(m);
	*m = nm;
	return 0;
}

void idmap_put(struct idmap *m, int64_t id, size_t row)
{
	size_t i;

	for (i = idmap_slot(id, m->cap); m->key[i]; i = (i + 1) & (m->cap - 1)) {
		if (m->key[i] == id) {
			m->row[i] = (uint32_t)row;
			return;
		}
	}
	m->key[i] = id;
	m->row[i] = (uint32_t)row;
	m->n++;
}

void idmap_del(struct idmap *m, int64_t id)
{
	size_t i, j, k, mask = m->cap - 1;

	if (!m->cap)
		return;
	for (i = idmap_slot(id, m->cap); m->key[i] != id; i = (i + 1) & mask)
		if (!m->key[i])
			return;
	/* backward shift: pull later entries of the cluster into the hole */
	for (j = (i + 1) & mask; m->key[j]; j = (j + 1) & mask) {
		k = idmap_slot(m->key[j], m->cap);
		/* the entry at j may move to i if its home k is not in (i, j] cyclically */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			m->key[i] = m->key[j];
			m->row[i] = m->row[j];
			i = j;
		}
	}
	m->key[i] = 0;
	m->n--;
}
