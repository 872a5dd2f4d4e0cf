/* lru.h - the intrusive recency list shared by the caches (slicecache.c, bytecache.c):
 * a node embedded in each entry, most recent at the head, least recent at the tail.
 * No locking and no allocation: the cache that owns the list holds its own lock. */
#ifndef LSD_LRU_H
#define LSD_LRU_H

#include <stddef.h>

struct lru_node {
	struct lru_node *prev, *next;
};

struct lru_list {
	struct lru_node *head, *tail;
};

/* The entry of type T whose member m is the node n (NULL for NULL). */
#define LRU_ENTRY(n, T, m) ((n) ? (T *)(void *)((char *)(n) - offsetof(T, m)) : (T *)NULL)

static inline void lru_unlink(struct lru_list *l, struct lru_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NULL;
}

static inline void lru_push_front(struct lru_list *l, struct lru_node *n)
{
	n->prev = NULL;
	n->next = l->head;
	if (l->head)
		l->head->prev = n;
	l->head = n;
	if (!l->tail)
		l->tail = n;
}

/* Make n, already in l, the most recent. */
static inline void lru_touch(struct lru_list *l, struct lru_node *n)
{
	if (l->head != n) {
		lru_unlink(l, n);
		lru_push_front(l, n);
	}
}

#endif
