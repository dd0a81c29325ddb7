/* A small seeded PRNG (PCG32: 64-bit LCG state, xorshift-rotate output).
 *
 * Randomness in core is state like any other: each module that needs it owns
 * a p2p_rng seeded by its creator. Independent streams come from distinct
 * stream selectors, so adding draws to one stream never shifts another. */
#ifndef P2P_CORE_RNG_H
#define P2P_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

struct p2p_rng {
    uint64_t state;
    uint64_t inc; /* odd; selects the stream */
};

/* Seeds rng from (seed, stream); equal pairs give equal sequences. */
void p2p_rng_init(struct p2p_rng *rng, uint64_t seed, uint64_t stream);

/* Next 32 uniformly distributed bits. */
uint32_t p2p_rng_u32(struct p2p_rng *rng);

/* Next 64 bits. */
uint64_t p2p_rng_u64(struct p2p_rng *rng);

/* Fills out[0..n) with the next ceil(n / 8) 64-bit draws, each written
 * little-endian (the last one cut short). */
void p2p_rng_fill(struct p2p_rng *rng, uint8_t *out, size_t n);

/* Uniform integer in [0, bound), bound > 0, without modulo bias. */
uint64_t p2p_rng_below(struct p2p_rng *rng, uint64_t bound);

/* True with probability ppm / 1,000,000. */
int p2p_rng_chance_ppm(struct p2p_rng *rng, uint32_t ppm);

/* Applies +-jitter_pct percent uniform jitter to value (integer only). */
uint64_t p2p_rng_jitter(struct p2p_rng *rng, uint64_t value,
                        uint32_t jitter_pct);

#endif
