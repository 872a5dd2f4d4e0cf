/* fhash.c - the fast integrity hash (see fhash.h). */
#include "fhash.h"

#include <string.h>

#define P1 0x9e3779b185ebca87ull
#define P2 0xc2b2ae3d27d4eb4full
#define P3 0x165667b19e3779f9ull
#define P4 0x85ebca77c2b2ae63ull
#define P5 0x27d4eb2f165667c5ull

static inline uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline uint64_t lane(uint64_t acc, uint64_t w)
{
	return rotl(acc + w * P2, 31) * P1;
}

uint64_t fhash64(const void *data, size_t n, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h, a = seed + P1 + P2, b = seed + P2, c = seed, d = seed - P1;
	size_t len = n;

	while (n >= 32) {
		a = lane(a, le64(p));
		b = lane(b, le64(p + 8));
		c = lane(c, le64(p + 16));
		d = lane(d, le64(p + 24));
		p += 32;
		n -= 32;
	}
	h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18) + (uint64_t)len;
	h = (h ^ lane(0, a)) * P1 + P4;
	h = (h ^ lane(0, b)) * P1 + P4;
	h = (h ^ lane(0, c)) * P1 + P4;
	h = (h ^ lane(0, d)) * P1 + P4;
	while (n >= 8) {
		h ^= lane(0, le64(p));
		h = rotl(h, 27) * P1 + P4;
		p += 8;
		n -= 8;
	}
	while (n--) {
		h ^= (uint64_t)*p++ * P5;
		h = rotl(h, 11) * P1;
	}
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

uint64_t fhash64_blocks(const void *data, size_t n, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = seed;
	size_t m;

	do {
		m = n < FHASH_BLOCK ? n : FHASH_BLOCK;
		h = fhash64(p, m, h);
		p += m;
		n -= m;
	} while (n);
	return h;
}
