#include "PlaidKernels.h"
#include "kernel_common.h"
#include <string.h>
#include <math.h>

// Float reductions only vectorise when reassociation is allowed; each kernel allows it
// locally rather than compiling the whole target with -ffast-math.

// ---- CPU levels of the search kernels (kernel_common.h) ---------------------------------------

static int cpu_level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return 4;
    if (__builtin_cpu_supports("x86-64-v3")) return 3;
#endif
    return 1;
}

static int detectedLevel = 0, requestedLevel = 0;

int plaid_cpu_kernel_level(void) {
    int level = __atomic_load_n(&detectedLevel, __ATOMIC_RELAXED);
    if (!level) {  // threads that race here all store the same value
        level = cpu_level();
        __atomic_store_n(&detectedLevel, level, __ATOMIC_RELAXED);
    }
    return level;
}

int plaid_kernel_level(void) {
    const int requested = __atomic_load_n(&requestedLevel, __ATOMIC_RELAXED);
    return requested ? requested : plaid_cpu_kernel_level();
}

int plaid_set_kernel_level(int level) {
    if (level != 0 && level != 1 && level != 3 && level != 4) return -1;
    if (level > plaid_cpu_kernel_level()) return -1;
    __atomic_store_n(&requestedLevel, level, __ATOMIC_RELAXED);
    return plaid_kernel_level();
}

LEVELS(float, plaid_squared_norm, (const float *a, size_t n), (a, n)) {
#pragma clang fp reassociate(on) contract(fast)
    float s = 0.0f;
    for (size_t i = 0; i < n; i++) s += a[i] * a[i];
    return s;
}

LEVELS_VOID(plaid_rowmax_accumulate, (const float *row, float *maxes, size_t n), (row, maxes, n)) {
    for (size_t i = 0; i < n; i++) maxes[i] = row[i] > maxes[i] ? row[i] : maxes[i];
}

LEVELS(float, plaid_maxsim_from_scores, (const float *scores, size_t docTokens, size_t queryTokens), (scores, docTokens, queryTokens)) {
    float maxes[queryTokens];
    for (size_t q = 0; q < queryTokens; q++) maxes[q] = -INFINITY;
    for (size_t d = 0; d < docTokens; d++) {
        const float *row = scores + d * queryTokens;
        for (size_t q = 0; q < queryTokens; q++) maxes[q] = row[q] > maxes[q] ? row[q] : maxes[q];
    }
    float total = 0.0f;
    for (size_t q = 0; q < queryTokens; q++) total += maxes[q];
    return docTokens == 0 ? 0.0f : total;
}

// Two passes per row: a vectorised max over 16 lanes, then the first column reaching it.
LEVELS_VOID(plaid_argmax_rows, (const float *scores, size_t rows, size_t cols, const float *bias, int32_t *out),
            (scores, rows, cols, bias, out)) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = scores + r * cols;
        float lanes[16];
        for (int l = 0; l < 16; l++) lanes[l] = -INFINITY;
        size_t c = 0;
        if (bias) {
            for (; c + 16 <= cols; c += 16)
                for (int l = 0; l < 16; l++) { float v = row[c + l] - bias[c + l]; lanes[l] = v > lanes[l] ? v : lanes[l]; }
        } else {
            for (; c + 16 <= cols; c += 16)
                for (int l = 0; l < 16; l++) { float v = row[c + l]; lanes[l] = v > lanes[l] ? v : lanes[l]; }
        }
        float best = -INFINITY;
        for (int l = 0; l < 16; l++) best = lanes[l] > best ? lanes[l] : best;
        for (; c < cols; c++) { float v = row[c] - (bias ? bias[c] : 0.0f); best = v > best ? v : best; }
        int32_t index = 0;
        for (size_t j = 0; j < cols; j++) {
            float v = row[j] - (bias ? bias[j] : 0.0f);
            if (v == best) { index = (int32_t)j; break; }
        }
        out[r] = index;
    }
}

LEVELS_VOID(plaid_decompress, (const uint8_t *packed, const void *codes, int codeWidth, size_t count,
                               const float *centroids, size_t dim, int nbits, const float *byteLookup, float *out),
            (packed, codes, codeWidth, count, centroids, dim, nbits, byteLookup, out)) {
    const size_t perByte = 8 / (size_t)nbits;
    const size_t bytesPerVector = dim * (size_t)nbits / 8;
    for (size_t t = 0; t < count; t++) {
        const float *centroid = centroids + (size_t)code_at(codes, codeWidth, t) * dim;
        const uint8_t *bytes = packed + t * bytesPerVector;
        float *o = out + t * dim;
        for (size_t b = 0; b < bytesPerVector; b++) {
            const float *weights = byteLookup + (size_t)bytes[b] * perByte;
            float *ob = o + b * perByte;
            const float *cb = centroid + b * perByte;
            for (size_t k = 0; k < perByte; k++) ob[k] = cb[k] + weights[k];
        }
    }
}

// The inverse of plaid_decompress's residual half: each dimension's residual x − c gets the
// number of cutoffs strictly below it, packed most significant first. Dimensions go in blocks
// of 256 so that the bucket counts vectorise (cutoff outside, dimensions inside).
LEVELS_VOID(plaid_encode_residuals, (const float *vectors, const int32_t *codes, const float *centroids, size_t count,
                                     size_t dim, const float *cutoffs, int nbits, uint8_t *out),
            (vectors, codes, centroids, count, dim, cutoffs, nbits, out)) {
    enum { BLOCK = 256 };
    const size_t perByte = 8 / (size_t)nbits, cuts = ((size_t)1 << nbits) - 1;
    const size_t bytesPerVector = dim * (size_t)nbits / 8;
    float residual[BLOCK];
    uint8_t buckets[BLOCK];
    for (size_t t = 0; t < count; t++) {
        const float *x = vectors + t * dim, *c = centroids + (size_t)codes[t] * dim;
        uint8_t *o = out + t * bytesPerVector;
        for (size_t j0 = 0; j0 < dim; j0 += BLOCK) {
            const size_t width = dim - j0 < BLOCK ? dim - j0 : BLOCK;
            for (size_t j = 0; j < width; j++) {
                residual[j] = x[j0 + j] - c[j0 + j];
                buckets[j] = 0;
            }
            for (size_t i = 0; i < cuts; i++) {
                const float cut = cutoffs[i];
                for (size_t j = 0; j < width; j++) buckets[j] += (uint8_t)(cut < residual[j]);
            }
            uint8_t *ob = o + j0 * (size_t)nbits / 8;
            for (size_t b = 0; b < width / perByte; b++) {
                unsigned byte = 0;
                for (size_t k = 0; k < perByte; k++) byte = (byte << nbits) | buckets[b * perByte + k];
                ob[b] = (uint8_t)byte;
            }
        }
    }
}

// A 4-lane multiply-rotate hash over 32-byte blocks, finished with a 64-bit avalanche.
// Fast enough (several GB/s) that verifying a whole index on open costs little.
static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static const uint64_t P1 = 0x9E3779B185EBCA87ULL, P2 = 0xC2B2AE3D27D4EB4FULL, P3 = 0x165667B19E3779F9ULL;
static inline uint64_t mix_lane(uint64_t acc, uint64_t v) { acc += v * P2; acc = rotl64(acc, 31); return acc * P1; }
static inline uint64_t read64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

void plaid_checksum_init(plaid_checksum_state *st, uint64_t seed) {
    st->lanes[0] = seed + P1 + P2; st->lanes[1] = seed + P2; st->lanes[2] = seed; st->lanes[3] = seed - P1;
    st->seed = seed; st->length = 0; st->pendingCount = 0;
}

static inline void mix_block(uint64_t *lanes, const uint8_t *p) {
    lanes[0] = mix_lane(lanes[0], read64(p)); lanes[1] = mix_lane(lanes[1], read64(p + 8));
    lanes[2] = mix_lane(lanes[2], read64(p + 16)); lanes[3] = mix_lane(lanes[3], read64(p + 24));
}

void plaid_checksum_update(plaid_checksum_state *st, const void *data, size_t length) {
    const uint8_t *p = (const uint8_t *)data;
    st->length += length;
    if (st->pendingCount + length < 32) {
        memcpy(st->pending + st->pendingCount, p, length);
        st->pendingCount += length;
        return;
    }
    if (st->pendingCount > 0) {
        size_t fill = 32 - st->pendingCount;
        memcpy(st->pending + st->pendingCount, p, fill);
        mix_block(st->lanes, st->pending);
        p += fill; length -= fill; st->pendingCount = 0;
    }
    while (length >= 32) { mix_block(st->lanes, p); p += 32; length -= 32; }
    memcpy(st->pending, p, length);
    st->pendingCount = length;
}

uint64_t plaid_checksum_final(const plaid_checksum_state *st) {
    uint64_t h;
    if (st->length >= 32) {
        const uint64_t a = st->lanes[0], b = st->lanes[1], c = st->lanes[2], d = st->lanes[3];
        h = rotl64(a, 1) + rotl64(b, 7) + rotl64(c, 12) + rotl64(d, 18);
        h = (h ^ mix_lane(0, a)) * P1 + P3;
        h = (h ^ mix_lane(0, b)) * P1 + P3;
        h = (h ^ mix_lane(0, c)) * P1 + P3;
        h = (h ^ mix_lane(0, d)) * P1 + P3;
    } else {
        h = st->seed + P3;
    }
    h += st->length;
    const uint8_t *p = st->pending, *end = st->pending + st->pendingCount;
    while (p + 8 <= end) { h ^= mix_lane(0, read64(p)); h = rotl64(h, 27) * P1 + P3; p += 8; }
    while (p < end) { h ^= (uint64_t)(*p) * P3; h = rotl64(h, 11) * P1; p++; }
    h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32;
    return h;
}

uint64_t plaid_checksum64(const void *data, size_t length, uint64_t seed) {
    plaid_checksum_state st;
    plaid_checksum_init(&st, seed);
    plaid_checksum_update(&st, data, length);
    return plaid_checksum_final(&st);
}

void plaid_prefetch(const void *start, size_t bytes) { prefetch_bytes(start, bytes); }

// ---- Float16 to float32 ------------------------------------------------------------------------
//
// Every float16 is exactly a float32, so both paths give the same bits for every input but
// signalling NaNs, which both return quiet (the F16C instruction quiets them). Without F16C
// (below level 3) a conversion in Swift or C is a library call per value.

static inline float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F;
    uint32_t mantissa = h & 0x3FF, bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000 | (mantissa << 13) | (mantissa ? 0x400000 : 0);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {  // subnormal: mantissa · 2^-24, normalised
        uint32_t shifts = 0;
        while (!(mantissa & 0x400)) { mantissa <<= 1; shifts++; }
        bits = sign | ((113 - shifts) << 23) | ((mantissa & 0x3FF) << 13);
    }
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

#if defined(__x86_64__)
#include <immintrin.h>
// Converts the values of whole groups of eight; returns how many.
__attribute__((target("avx,f16c"))) static size_t float16_to_float32_f16c(const uint8_t *source, float *destination, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8)
        _mm256_storeu_ps(destination + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(source + 2 * i))));
    return i;
}
#endif

void plaid_float16_to_float32(const void *source, float *destination, size_t count) {
    const uint8_t *bytes = source;
    size_t i = 0;
#if defined(__x86_64__)
    if (plaid_kernel_level() >= 3) i = float16_to_float32_f16c(bytes, destination, count);  // x86-64-v3 has F16C
#endif
    for (; i < count; i++) {
        uint16_t h;
        memcpy(&h, bytes + 2 * i, sizeof h);
        destination[i] = half_to_float(h);
    }
}

// ---- Sorting 64-bit keys ----------------------------------------------------------------------

// Least significant digit first, 11 bits a pass, each pass stable. Only the digits in which some
// keys differ are counted and passed over, their counts from one sweep over the keys (up to six
// tables of 2,048 counts, 96 KB per thread): keys made of a score above a document number share
// most of the number's high bits, and small ordinals have high digits of zero.
void plaid_sort_keys(uint64_t *keys, size_t count, uint64_t *scratch) {
    enum { BITS = 11, BUCKETS = 1 << BITS, DIGITS = (64 + BITS - 1) / BITS };
    if (count < 2) return;
    uint64_t varying = 0;
    for (size_t i = 1; i < count; i++) varying |= keys[i] ^ keys[0];
    int shifts[DIGITS], digits = 0;
    for (int d = 0; d < DIGITS; d++)
        if ((varying >> (d * BITS)) & (BUCKETS - 1)) shifts[digits++] = d * BITS;
    static _Thread_local size_t counts[DIGITS][BUCKETS];
    memset(counts, 0, (size_t)digits * sizeof counts[0]);
    for (size_t i = 0; i < count; i++)
        for (int d = 0; d < digits; d++) counts[d][(keys[i] >> shifts[d]) & (BUCKETS - 1)]++;
    uint64_t *from = keys, *to = scratch;
    for (int d = 0; d < digits; d++) {
        size_t start = 0;
        for (size_t b = 0; b < BUCKETS; b++) { const size_t n = counts[d][b]; counts[d][b] = start; start += n; }
        for (size_t i = 0; i < count; i++) to[counts[d][(from[i] >> shifts[d]) & (BUCKETS - 1)]++] = from[i];
        uint64_t *swap = from; from = to; to = swap;
    }
    if (from != keys) memcpy(keys, from, count * sizeof *keys);
}

// Narrowing a range that holds the m-th smallest key: a histogram of 2,048 bins over the range
// finds the bin where the counts from below reach m; one pass sends the keys below that bin to
// `out` and keeps the bin's own (in scratch), whose range, 2^11 times narrower, is narrowed next
// (at most six rounds for 64-bit keys; after the first only the bin's keys are read). When the
// range is one value, that value fills the rest of out, and out is sorted.
void plaid_smallest_keys(const uint64_t *keys, size_t n, size_t m, uint64_t *out, uint64_t *scratch) {
    enum { BITS = 11, BINS = 1 << BITS };
    if (m > n) m = n;
    if (m == 0) return;
    if (m == n) {  // all of them: one sort
        memcpy(out, keys, n * sizeof *keys);
        plaid_sort_keys(out, n, scratch);
        return;
    }
    // Four chains of comparisons (64-bit minima have no vector instruction before AVX-512).
    uint64_t low[4] = {keys[0], keys[0], keys[0], keys[0]}, high[4] = {keys[0], keys[0], keys[0], keys[0]};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int c = 0; c < 4; c++) {
            low[c] = keys[i + c] < low[c] ? keys[i + c] : low[c];
            high[c] = keys[i + c] > high[c] ? keys[i + c] : high[c];
        }
    for (; i < n; i++) {
        low[0] = keys[i] < low[0] ? keys[i] : low[0];
        high[0] = keys[i] > high[0] ? keys[i] : high[0];
    }
    uint64_t lo = low[0], hi = high[0];
    for (int c = 1; c < 4; c++) {
        lo = low[c] < lo ? low[c] : lo;
        hi = high[c] > hi ? high[c] : hi;
    }
    const uint64_t *from = keys;
    size_t count = n, taken = 0;  // keys of `from`, all within [lo, hi]; keys sent to out, all below lo
    size_t bins[BINS];
    while (lo < hi) {
        const int width = 64 - __builtin_clzll(hi - lo), shift = width > BITS ? width - BITS : 0;
        memset(bins, 0, sizeof bins);
        for (i = 0; i < count; i++) bins[(from[i] - lo) >> shift]++;
        size_t bin = 0, below = taken;
        while (below + bins[bin] < m) below += bins[bin++];
        // The bin's keys: binLo ... binHi, clipped to hi (binLo + 2^shift − 1 may pass 2^64 − 1).
        const uint64_t binLo = lo + ((uint64_t)bin << shift), step = ((uint64_t)1 << shift) - 1;
        const uint64_t binHi = hi - binLo < step ? hi : binLo + step;
        // Without branches: each key is written to both places and the one it belongs to
        // advances. out's place stays below m (fewer than m keys lie below the bin), scratch's
        // at or before the key read (the bin's keys are compacted in place after the first round).
        size_t kept = 0;
        for (i = 0; i < count; i++) {
            const uint64_t key = from[i];
            out[taken] = key;
            scratch[kept] = key;
            taken += key < binLo;
            kept += key >= binLo && key <= binHi;
        }
        from = scratch; count = kept;
        lo = binLo; hi = binHi;
    }
    for (i = taken; i < m; i++) out[i] = lo;  // lo is the m-th smallest; the keys left all equal it
    plaid_sort_keys(out, m, scratch);
}
