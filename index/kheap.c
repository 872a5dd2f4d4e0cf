/* kheap.c - the bounded max-heap of the k best candidates (see kheap.h). */
#include "kheap.h"

int kcand_cmp(const void *pa, const void *pb)
{
	const struct kcand *a = pa, *b = pb;

	return kcand_worse(a, b) ? 1 : kcand_worse(b, a) ? -1 : 0;
}

void kheap_push(struct kcand *h, size_t *n, size_t k, struct kcand c)
{
	size_t i, p;

	if (*n == k) {
		if (!kcand_worse(&h[0], &c))
			return;
		/* replace the root, sift down */
		i = 0;
		for (;;) {
			size_t l = 2 * i + 1, r = l + 1, m = i;
			const struct kcand *cm = &c;

			if (l < k && kcand_worse(&h[l], cm)) {
				m = l;
				cm = &h[l];
			}
			if (r < k && kcand_worse(&h[r], cm))
				m = r;
			if (m == i)
				break;
			h[i] = h[m];
			i = m;
		}
		h[i] = c;
		return;
	}
	i = (*n)++;
	while (i > 0) {
		p = (i - 1) / 2;
		if (!kcand_worse(&c, &h[p]))
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = c;
}
