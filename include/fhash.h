/* fhash.h - a fast 64-bit non-cryptographic hash for integrity checks of large derived
 * files (snapshots of the memory copy and of FAISS indexes): four independent 64-bit
 * multiply-rotate lanes over 32-byte stripes, then an avalanche. It runs at memory
 * speed (~10 GB/s a core) where FNV-1a (util.h) goes byte by byte (~1 GB/s). It detects
 * damage (truncation, bit flips, a foreign file), not tampering. Little-endian byte
 * order is read explicitly, so the value is the same on every host.
 */
#ifndef LSD_FHASH_H
#define LSD_FHASH_H

#include <stddef.h>
#include <stdint.h>

/* Hash n bytes of p, starting from seed (chain blocks by passing the previous value). */
uint64_t fhash64(const void *p, size_t n, uint64_t seed);

/* Blocks of this many bytes: a large array is hashed as fhash64 chained block by block,
 * so a reader can hash what it reads while it is still in the cache. */
#define FHASH_BLOCK ((size_t)8 << 20)
/* The chained hash of an array (blocks of FHASH_BLOCK), from seed. */
uint64_t fhash64_blocks(const void *p, size_t n, uint64_t seed);

#endif
