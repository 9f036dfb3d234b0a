// Kernels of PLAID's staged search that run once per query or per candidate document:
// probe selection (stage 1), the centroid interaction on 16-bit scores (stages 2 and 3), and
// MaxSim through per-query lookup tables of the residual bytes (stage 4).
#include "PlaidKernels.h"
#include "kernel_common.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// No a·b + c fused into one FMA, so that every CPU level computes the same floats (the tests
// compare the levels exactly).
#pragma clang fp contract(off)

// ---- Stage 1: probes -------------------------------------------------------------------------

// Min-heap of (score, centroid) on "worse": the root is the worst kept. A later centroid never
// beats an equal score (ties go to the lower centroid, which came first).
static inline int worse(float sa, int32_t ca, float sb, int32_t cb) { return sa < sb || (sa == sb && ca > cb); }

static void heap_sift_down(float *s, int32_t *c, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && worse(s[l], c[l], s[w], c[w])) w = l;
        if (r < n && worse(s[r], c[r], s[w], c[w])) w = r;
        if (w == i) return;
        float ts = s[i]; s[i] = s[w]; s[w] = ts;
        int32_t tc = c[i]; c[i] = c[w]; c[w] = tc;
        i = w;
    }
}

static void heap_sift_up(float *s, int32_t *c, size_t i) {
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(s[i], c[i], s[p], c[p])) return;
        float ts = s[i]; s[i] = s[p]; s[p] = ts;
        int32_t tc = c[i]; c[i] = c[p]; c[p] = tc;
        i = p;
    }
}

LEVELS_VOID(plaid_top_centroids, (const float *scores, size_t k, size_t queryTokens, const int32_t *tokens,
                                  size_t tokenCount, size_t n, int32_t *out, float *heapScores),
            (scores, k, queryTokens, tokens, tokenCount, n, out, heapScores)) {
    if (n > k) n = k;
    // worst[t]: the score a centroid must beat to enter token t's heap (+∞ for tokens not
    // asked for), over all query tokens, so that one vector compare per row rejects most rows.
    float worst[queryTokens ? queryTokens : 1];
    size_t slot[queryTokens ? queryTokens : 1], filled[tokenCount ? tokenCount : 1];
    for (size_t t = 0; t < queryTokens; t++) { worst[t] = INFINITY; slot[t] = 0; }
    for (size_t i = 0; i < tokenCount; i++) { worst[tokens[i]] = -INFINITY; slot[tokens[i]] = i; filled[i] = 0; }
    for (size_t c = 0; c < k; c++) {
        const float *row = scores + c * queryTokens;
        int any = 0;
        for (size_t t = 0; t < queryTokens; t++) any |= row[t] > worst[t];
        if (!any) continue;
        for (size_t t = 0; t < queryTokens; t++) {
            const float v = row[t];
            if (!(v > worst[t])) continue;
            const size_t i = slot[t];
            float *hs = heapScores + i * n;
            int32_t *hc = out + i * n;
            if (filled[i] < n) {
                hs[filled[i]] = v; hc[filled[i]] = (int32_t)c;
                heap_sift_up(hs, hc, filled[i]);
                filled[i]++;
            } else {
                hs[0] = v; hc[0] = (int32_t)c;
                heap_sift_down(hs, hc, n, 0);
            }
            // Until the heap is full every centroid enters; then only a strictly higher score
            // (an equal one belongs to a lower centroid, which came first).
            if (filled[i] == n) worst[t] = hs[0];
        }
    }
}

// ---- Stages 2 and 3: centroid interaction on 16-bit scores -----------------------------------

LEVELS(float, plaid_interaction_tables, (const float *scores, size_t k, size_t queryTokens, const int32_t *activeTokens,
                                         size_t activeCount, float bound, float threshold, int16_t *full, uint32_t *rowOf,
                                         int16_t *kept, size_t *keptCount),
       (scores, k, queryTokens, activeTokens, activeCount, bound, threshold, full, rowOf, kept, keptCount)) {
    const float scale = bound > 0.0f ? 32767.0f / bound : 1.0f;
    // 0 for the active tokens, −∞ for the others, so that the pruning maximum is one vector pass.
    float penalty[queryTokens ? queryTokens : 1];
    for (size_t t = 0; t < queryTokens; t++) penalty[t] = -INFINITY;
    for (size_t i = 0; i < activeCount; i++) penalty[activeTokens[i]] = 0.0f;
    for (size_t t = 0; t < queryTokens; t++) kept[t] = INT16_MIN;
    size_t rows = 1;
    for (size_t c = 0; c < k; c++) {
        const float *row = scores + c * queryTokens;
        int passes = 0;
        for (size_t t = 0; t < queryTokens; t++) passes |= row[t] + penalty[t] >= threshold;
        int16_t *f = full + c * queryTokens;
        for (size_t t = 0; t < queryTokens; t++) {
            // Rounded half away from zero, and clamped in case a score passes the bound.
            float x = row[t] * scale;
            x = x > 32767.0f ? 32767.0f : (x < -32767.0f ? -32767.0f : x);
            f[t] = (int16_t)(int32_t)(x + (x >= 0.0f ? 0.5f : -0.5f));
        }
        if (passes) {
            memcpy(kept + rows * queryTokens, f, queryTokens * sizeof(int16_t));
            rowOf[c] = (uint32_t)rows++;
        } else {
            rowOf[c] = 0;
        }
    }
    *keptCount = rows - 1;
    return 1.0f / scale;
}

static inline __attribute__((always_inline))
int32_t interaction16(const int16_t *restrict table, const uint32_t *restrict rowOf, const int mapped, size_t queryTokens,
                      const size_t fixedTokens, const void *codes, int codeWidth, size_t docTokens) {
    const size_t nq = fixedTokens ? fixedTokens : queryTokens;
    int16_t local[64];
    int16_t *maxes = nq <= 64 ? local : malloc(nq * sizeof(int16_t));
    for (size_t t = 0; t < nq; t++) maxes[t] = INT16_MIN;
    for (size_t d = 0; d < docTokens; d++) {
        const uint32_t code = code_at(codes, codeWidth, d);
        const int16_t *row = table + (size_t)(mapped ? rowOf[code] : code) * nq;
        for (size_t t = 0; t < nq; t++) maxes[t] = row[t] > maxes[t] ? row[t] : maxes[t];
    }
    int32_t total = 0;
    for (size_t t = 0; t < nq; t++) total += maxes[t] == INT16_MIN ? 0 : maxes[t];
    if (maxes != local) free(maxes);
    return total;
}

LEVELS(float, plaid_centroid_interaction16, (const int16_t *table, const uint32_t *rowOf, size_t queryTokens,
                                             const void *codes, int codeWidth, size_t docTokens, float unit),
       (table, rowOf, queryTokens, codes, codeWidth, docTokens, unit)) {
    int32_t total;
    if (rowOf)
        total = queryTokens == 32 ? interaction16(table, rowOf, 1, queryTokens, 32, codes, codeWidth, docTokens)
                                  : interaction16(table, rowOf, 1, queryTokens, 0, codes, codeWidth, docTokens);
    else
        total = queryTokens == 32 ? interaction16(table, NULL, 0, queryTokens, 32, codes, codeWidth, docTokens)
                                  : interaction16(table, NULL, 0, queryTokens, 0, codes, codeWidth, docTokens);
    return (float)total * unit;
}

// ---- Stage 4: MaxSim through lookup tables of the residual nibbles ----------------------------
//
// Why nibbles: a table over whole bytes (256 values per byte position) is 1.5 MB for dimension
// 384, 2 bits and 32 query tokens; every residual byte read a random 64-byte row of it, so at
// k = 100 on the 384-dimensional SciFact set stage 4 waited on L2 and L3 misses (13 ms per
// query against 1.9 ms at dimension 128, whose table is 512 KB). Over nibbles (16 values) the
// table is 192 KB at dimension 384 (64 KB at 128), inside L2 even on Zen 3's 512 KB, for twice
// the lookups. The entries are summed in 16 bits without widening: each query token has its own
// unit, chosen so that the sum of the largest |entry| of every nibble position, rounding
// included, stays within 32,767; no partial sum can overflow whatever the residual.

size_t plaid_residual_lookup_count(size_t dim, int nbits, size_t queryTokens) {
    return dim * (size_t)nbits / 4 * 16 * queryTokens;
}

// Entries of nibble position n for all 16 values: table[v][t] = Σ_f weights[field f of v] ·
// queryT[n·perNibble + f][t], fields most significant first, as the codec packs them.
static inline void nibble_entries(const float *queryT, size_t nq, size_t n, size_t perNibble, int nbits,
                                  const float *weights, float *table) {
    const unsigned mask = (1u << nbits) - 1;
    for (unsigned v = 0; v < 16; v++) {
        float *sum = table + v * nq;
        for (size_t t = 0; t < nq; t++) sum[t] = 0.0f;
        for (size_t f = 0; f < perNibble; f++) {
            const float w = weights[(v >> ((perNibble - 1 - f) * (size_t)nbits)) & mask];
            const float *q = queryT + (n * perNibble + f) * nq;
            for (size_t t = 0; t < nq; t++) sum[t] += w * q[t];
        }
    }
}

LEVELS_VOID(plaid_residual_lookup_build, (const float *queryT, size_t queryTokens, size_t dim, int nbits,
                                          const float *weights, int16_t *lookup, float *units, float *scratch),
            (queryT, queryTokens, dim, nbits, weights, lookup, units, scratch)) {
    const size_t nq = queryTokens, perNibble = 4 / (size_t)nbits, nibbles = dim * (size_t)nbits / 4;
    // First pass: each token's sum over nibble positions of the largest |entry|.
    float *largest = units;
    for (size_t t = 0; t < nq; t++) largest[t] = 0.0f;
    for (size_t n = 0; n < nibbles; n++) {
        nibble_entries(queryT, nq, n, perNibble, nbits, weights, scratch);
        for (size_t t = 0; t < nq; t++) {
            float m = 0.0f;
            for (unsigned v = 0; v < 16; v++) m = fabsf(scratch[v * nq + t]) > m ? fabsf(scratch[v * nq + t]) : m;
            largest[t] += m;
        }
    }
    // Rounding moves each entry by at most ½ unit: the rounded sums stay within 32,767 when the
    // exact ones stay within 32,767 − nibbles/2 (the 1.0001 covers the float sums' own error).
    const float limit = 32767.0f - 0.5f * (float)nibbles;
    float scale[nq ? nq : 1];
    for (size_t t = 0; t < nq; t++) {
        const float bound = largest[t] * 1.0001f;
        scale[t] = bound > 0.0f ? limit / bound : 1.0f;
        units[t] = 1.0f / scale[t];
    }
    for (size_t n = 0; n < nibbles; n++) {
        nibble_entries(queryT, nq, n, perNibble, nbits, weights, scratch);
        int16_t *out = lookup + n * 16 * nq;
        for (unsigned v = 0; v < 16; v++)
            for (size_t t = 0; t < nq; t++) {
                const float x = scratch[v * nq + t] * scale[t];
                out[v * nq + t] = (int16_t)(int32_t)(x + (x >= 0.0f ? 0.5f : -0.5f));
            }
    }
}

// q·r for 32 query tokens of up to CHUNK_TOKENS document tokens, in 16-bit units, into
// sums[d][t]. The table (192 KB at dimension 384) does not fit L1, and read token after token
// every nibble's row came from L2, whose bandwidth was the limit (1.7 cycles per nibble): so the
// bytes are taken BLOCK_BYTES positions at a time (a slice of 8 KB of the table) over all tokens
// of the chunk (their sums 8 KB), and the slice's rows stay in L1 while the tokens reuse them.
// Each block's four bytes of a token are read as one word and every nibble's row offset is cut
// from it with a shift and a mask, scaled to bytes: two ALU operations and one vector add per nibble.
enum { CHUNK_TOKENS = 128, BLOCK_BYTES = 4 };

static inline __attribute__((always_inline))
void residual_sums32(const int16_t *restrict lookup, size_t positions, const uint8_t *restrict packed, size_t tokens,
                     int16_t (*restrict sums)[32]) {
    enum { ROW = 32 * sizeof(int16_t), NIBBLE = 16 * ROW };  // bytes of a table row and of a nibble's rows
    const char *table = (const char *)lookup;
    for (size_t d = 0; d < tokens; d++)
        for (size_t t = 0; t < 32; t++) sums[d][t] = 0;
    size_t p0 = 0;
    for (; p0 + BLOCK_BYTES <= positions; p0 += BLOCK_BYTES) {
        const char *base = table + 2 * p0 * NIBBLE;
        for (size_t d = 0; d < tokens; d++) {
            uint32_t word;
            memcpy(&word, packed + d * positions + p0, sizeof word);
            int16_t acc[32];
            for (size_t t = 0; t < 32; t++) acc[t] = sums[d][t];
            for (unsigned i = 0; i < BLOCK_BYTES; i++) {
                // Byte i of the word is bits 8i ..< 8i+8: its high nibble and its low one, times ROW (2^6).
                const size_t hi = i == 0 ? (size_t)(word << 2) & (15u * ROW) : (size_t)(word >> (8 * i - 2)) & (15u * ROW);
                const size_t lo = i == 0 ? (size_t)(word << 6) & (15u * ROW) : (size_t)(word >> (8 * i - 6)) & (15u * ROW);
                const int16_t *a = (const int16_t *)(base + 2 * i * NIBBLE + hi);
                const int16_t *b = (const int16_t *)(base + (2 * i + 1) * NIBBLE + lo);
                for (size_t t = 0; t < 32; t++) acc[t] += a[t] + b[t];
            }
            for (size_t t = 0; t < 32; t++) sums[d][t] = acc[t];
        }
    }
    for (; p0 < positions; p0++) {
        for (size_t d = 0; d < tokens; d++) {
            const uint8_t byte = packed[d * positions + p0];
            const int16_t *a = lookup + (2 * p0 * 16 + (byte >> 4)) * 32, *b = lookup + ((2 * p0 + 1) * 16 + (byte & 15)) * 32;
            for (size_t t = 0; t < 32; t++) sums[d][t] += a[t] + b[t];
        }
    }
}

static inline __attribute__((always_inline))
float maxsim_from_lookup(const float *restrict centroidScores, const int16_t *restrict lookup, const float *restrict units,
                         size_t queryTokens, const size_t fixedTokens, size_t positions, const void *codes, int codeWidth,
                         const uint8_t *restrict packed, size_t docTokens, float *scratch) {
    const size_t nq = fixedTokens ? fixedTokens : queryTokens;
    float localMaxes[32];
    float *restrict maxes = fixedTokens == 32 ? localMaxes : scratch + nq;
    for (size_t t = 0; t < nq; t++) maxes[t] = -INFINITY;
    if (fixedTokens == 32) {
        int16_t sums[CHUNK_TOKENS][32] __attribute__((aligned(64)));
        for (size_t d0 = 0; d0 < docTokens; d0 += CHUNK_TOKENS) {
            const size_t n = docTokens - d0 < CHUNK_TOKENS ? docTokens - d0 : CHUNK_TOKENS;
            residual_sums32(lookup, positions, packed + d0 * positions, n, sums);
            for (size_t d = 0; d < n; d++) {
                const float *cs = centroidScores + (size_t)code_at(codes, codeWidth, d0 + d) * 32;
                for (size_t t = 0; t < 32; t++) {
                    const float score = cs[t] + (float)sums[d][t] * units[t];
                    maxes[t] = score > maxes[t] ? score : maxes[t];
                }
            }
        }
    } else {
        int16_t *restrict sums = (int16_t *)scratch;
        for (size_t d = 0; d < docTokens; d++) {
            const float *cs = centroidScores + (size_t)code_at(codes, codeWidth, d) * nq;
            const uint8_t *bytes = packed + d * positions;
            for (size_t t = 0; t < nq; t++) sums[t] = 0;
            for (size_t p = 0; p < positions; p++) {
                const int16_t *a = lookup + (2 * p * 16 + (bytes[p] >> 4)) * nq;
                const int16_t *b = lookup + ((2 * p + 1) * 16 + (bytes[p] & 15)) * nq;
                for (size_t t = 0; t < nq; t++) sums[t] += a[t] + b[t];
            }
            for (size_t t = 0; t < nq; t++) {
                const float score = cs[t] + (float)sums[t] * units[t];
                maxes[t] = score > maxes[t] ? score : maxes[t];
            }
        }
    }
    float total = 0.0f;
    for (size_t t = 0; t < nq; t++) total += maxes[t];
    return docTokens == 0 ? 0.0f : total;
}

LEVELS(float, plaid_maxsim_from_lookup, (const float *centroidScores, const int16_t *lookup, const float *units,
                                         size_t queryTokens, size_t dim, int nbits, const void *codes, int codeWidth,
                                         const uint8_t *packed, size_t docTokens, float *scratch),
       (centroidScores, lookup, units, queryTokens, dim, nbits, codes, codeWidth, packed, docTokens, scratch)) {
    const size_t positions = dim * (size_t)nbits / 8;
    if (queryTokens == 32)
        return maxsim_from_lookup(centroidScores, lookup, units, queryTokens, 32, positions, codes, codeWidth, packed,
                                  docTokens, scratch);
    return maxsim_from_lookup(centroidScores, lookup, units, queryTokens, 0, positions, codes, codeWidth, packed, docTokens,
                              scratch);
}
