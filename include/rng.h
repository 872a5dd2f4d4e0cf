/* rng.h - the project's one deterministic PRNG: xoshiro256** seeded through splitmix64.
 * Used where a run must be reproducible from a seed (demo generator, training). Not
 * thread-safe per generator: each thread keeps its own struct rng. */
#ifndef LSD_RNG_H
#define LSD_RNG_H

#include <stdint.h>

struct rng {
	uint64_t s[4];
};

/* One splitmix64 step: advances *x and returns a well-mixed 64-bit value. */
uint64_t rng_splitmix64(uint64_t *x);
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
double rng_uniform(struct rng *r);	/* [0, 1), 53 bits */
double rng_normal(struct rng *r);	/* standard normal (Box-Muller) */

#endif
