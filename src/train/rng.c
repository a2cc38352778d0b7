/*
 * rng.c: the engine's own PRNG, xoshiro256** 1.0 (Blackman & Vigna,
 * "Scrambled linear pseudorandom number generators", 2018), seeded through
 * splitmix64 as its authors recommend.
 *
 * Why our own: training must be reproducible bit for bit from a seed, on
 * any libc, and the whole generator state (32 bytes) must fit in a
 * checkpoint. This is not a cryptographic generator and must never be used
 * for keys or nonces (st_random in crypto.h is for that).
 */
#include <math.h>

#include "train/train_internal.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void st_rng_seed(st_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t st_rng_next(st_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t st_rng_below(st_rng *r, uint64_t bound)
{
    /* rejection of the short top interval keeps every value equally
       likely */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t v;
    do
        v = st_rng_next(r);
    while (v >= limit);
    return v % bound;
}

double st_rng_uniform(st_rng *r)
{
    return (double)(st_rng_next(r) >> 11) * 0x1.0p-53;
}

double st_rng_normal(st_rng *r)
{
    /* 1 - u is in (0, 1], so the log is finite */
    double u1 = 1.0 - st_rng_uniform(r);
    double u2 = st_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void st_rng_shuffle(st_rng *r, size_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)st_rng_below(r, i);
        size_t tmp = v[i - 1];
        v[i - 1] = v[j];
        v[j] = tmp;
    }
}
