/*
 * A tiny seeded generator for the tests (splitmix64): the same seed gives
 * the same inputs on every platform, so a failure names its seed and can
 * be replayed.
 */
#ifndef CLXENT_TEST_RNG_H
#define CLXENT_TEST_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t state;
} rng;

static inline rng rng_seeded(uint64_t seed)
{
    rng generator;

    generator.state = seed;
    return generator;
}

static inline uint64_t rng_next(rng *generator)
{
    uint64_t z = (generator->state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1), 53 random bits. */
static inline double rng_uniform(rng *generator)
{
    return (double)(rng_next(generator) >> 11) * (1.0 / 9007199254740992.0);
}

static inline double rng_range(rng *generator, double low, double high)
{
    return low + (high - low) * rng_uniform(generator);
}

/* Uniform in [0, bound); the modulo bias is irrelevant for test sizes. */
static inline uint64_t rng_below(rng *generator, uint64_t bound)
{
    return rng_next(generator) % bound;
}

#endif /* CLXENT_TEST_RNG_H */
