// Kernels of PLAID's staged search that run once per query or per candidate document:
// probe selection (stage 1), the centroid interaction on 16-bit scores (stages 2 and 3), and
// MaxSim through per-query lookup tables of the residual bytes (stage 4).
#include "PlaidKernels.h"
#include "kernel_common.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

CLONES void plaid_top_centroids(const float *scores, size_t k, size_t queryTokens, const int32_t *tokens,
                                size_t tokenCount, size_t n, int32_t *out, float *heapScores) {
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

CLONES float plaid_interaction_tables(const float *scores, size_t k, size_t queryTokens, const int32_t *activeTokens,
                                      size_t activeCount, float bound, float threshold, int16_t *full, int16_t *pruned) {
    const float scale = bound > 0.0f ? 32767.0f / bound : 1.0f;
    // 0 for the active tokens, −∞ for the others, so that the pruning maximum is one vector pass.
    float penalty[queryTokens ? queryTokens : 1];
    for (size_t t = 0; t < queryTokens; t++) penalty[t] = -INFINITY;
    for (size_t i = 0; i < activeCount; i++) penalty[activeTokens[i]] = 0.0f;
    for (size_t c = 0; c < k; c++) {
        const float *row = scores + c * queryTokens;
        int kept = 0;
        for (size_t t = 0; t < queryTokens; t++) kept |= row[t] + penalty[t] >= threshold;
        int16_t *f = full + c * queryTokens, *p = pruned + c * queryTokens;
        for (size_t t = 0; t < queryTokens; t++) {
            // Rounded half away from zero, and clamped in case a score passes the bound.
            float x = row[t] * scale;
            x = x > 32767.0f ? 32767.0f : (x < -32767.0f ? -32767.0f : x);
            const int16_t q = (int16_t)(int32_t)(x + (x >= 0.0f ? 0.5f : -0.5f));
            f[t] = q;
            p[t] = kept ? q : INT16_MIN;
        }
    }
    return 1.0f / scale;
}

static inline __attribute__((always_inline))
int32_t interaction16(const int16_t *restrict table, size_t queryTokens, const size_t fixedTokens,
                      const void *codes, int codeWidth, size_t docTokens) {
    const size_t nq = fixedTokens ? fixedTokens : queryTokens;
    int16_t local[64];
    int16_t *maxes = nq <= 64 ? local : malloc(nq * sizeof(int16_t));
    for (size_t t = 0; t < nq; t++) maxes[t] = INT16_MIN;
    for (size_t d = 0; d < docTokens; d++) {
        const int16_t *row = table + (size_t)code_at(codes, codeWidth, d) * nq;
        for (size_t t = 0; t < nq; t++) maxes[t] = row[t] > maxes[t] ? row[t] : maxes[t];
    }
    int32_t total = 0;
    for (size_t t = 0; t < nq; t++) total += maxes[t] == INT16_MIN ? 0 : maxes[t];
    if (maxes != local) free(maxes);
    return total;
}

CLONES float plaid_centroid_interaction16(const int16_t *table, size_t queryTokens, const void *codes, int codeWidth,
                                          size_t docTokens, float unit) {
    int32_t total = queryTokens == 32 ? interaction16(table, queryTokens, 32, codes, codeWidth, docTokens)
                                      : interaction16(table, queryTokens, 0, codes, codeWidth, docTokens);
    return (float)total * unit;
}

// ---- Stage 4: MaxSim through lookup tables of the residual bytes ------------------------------

size_t plaid_residual_lookup_count(size_t dim, int nbits, size_t queryTokens) {
    return dim * (size_t)nbits / 8 * 256 * queryTokens;
}

CLONES float plaid_residual_lookup_build(const float *queryT, size_t queryTokens, size_t dim, int nbits,
                                         const float *weights, int16_t *lookup, float *scratch) {
    const size_t perByte = 8 / (size_t)nbits, positions = dim * (size_t)nbits / 8, nq = queryTokens;
    const unsigned mask = (1u << nbits) - 1, buckets = 1u << nbits;
    // No entry exceeds max|w| · Σ_f |q[f]| over one byte's dimensions: that bound maps to 32767.
    float maxWeight = 0.0f, bound = 0.0f;
    for (unsigned b = 0; b < buckets; b++) maxWeight = fabsf(weights[b]) > maxWeight ? fabsf(weights[b]) : maxWeight;
    for (size_t p = 0; p < positions; p++)
        for (size_t t = 0; t < nq; t++) {
            float sum = 0.0f;
            for (size_t f = 0; f < perByte; f++) sum += fabsf(queryT[(p * perByte + f) * nq + t]);
            bound = sum > bound ? sum : bound;
        }
    bound *= maxWeight * 1.0001f;
    const float scale = bound > 0.0f ? 32767.0f / bound : 1.0f;
    // A byte's entry is the sum of its high nibble's fields and its low nibble's: two tables of
    // 16 rows per position, then one add per entry.
    const size_t perNibble = perByte / 2;
    float *high = scratch, *low = scratch + 16 * nq;
    for (size_t p = 0; p < positions; p++) {
        for (unsigned half = 0; half < 2; half++) {
            float *table = half == 0 ? high : low;
            for (unsigned v = 0; v < 16; v++) {
                float *sum = table + v * nq;
                for (size_t t = 0; t < nq; t++) sum[t] = 0.0f;
                // Fields most significant first, as the codec packs them.
                for (size_t f = 0; f < perNibble; f++) {
                    const float w = weights[(v >> ((perNibble - 1 - f) * (size_t)nbits)) & mask];
                    const float *q = queryT + (p * perByte + half * perNibble + f) * nq;
                    for (size_t t = 0; t < nq; t++) sum[t] += w * q[t];
                }
            }
        }
        for (unsigned v = 0; v < 256; v++) {
            const float *h = high + (v >> 4) * nq, *l = low + (v & 15) * nq;
            int16_t *out = lookup + (p * 256 + v) * nq;
            for (size_t t = 0; t < nq; t++) {
                const float x = (h[t] + l[t]) * scale;
                out[t] = (int16_t)(int32_t)(x + (x >= 0.0f ? 0.5f : -0.5f));
            }
        }
    }
    return 1.0f / scale;
}

static inline __attribute__((always_inline))
float maxsim_from_lookup(const float *restrict centroidScores, const int16_t *restrict lookup, float unit, size_t queryTokens,
                         const size_t fixedTokens, size_t positions, const void *codes, int codeWidth,
                         const uint8_t *restrict packed, size_t docTokens, float *scratch) {
    const size_t nq = fixedTokens ? fixedTokens : queryTokens;
    int32_t localSums[2 * 32];
    float localMaxes[32];
    int32_t *restrict acc = fixedTokens == 32 ? localSums : (int32_t *)scratch;
    float *restrict maxes = fixedTokens == 32 ? localMaxes : scratch + 2 * nq;
    for (size_t t = 0; t < nq; t++) maxes[t] = -INFINITY;
    for (size_t d = 0; d < docTokens; d++) {
        const float *cs = centroidScores + (size_t)code_at(codes, codeWidth, d) * nq;
        const uint8_t *bytes = packed + d * positions;
        for (size_t t = 0; t < 2 * nq; t++) acc[t] = 0;
        size_t p = 0;
        // Two accumulators over alternate bytes, so the adds of consecutive bytes overlap.
        for (; p + 2 <= positions; p += 2) {
            const int16_t *a = lookup + (p * 256 + bytes[p]) * nq;
            const int16_t *b = lookup + ((p + 1) * 256 + bytes[p + 1]) * nq;
            for (size_t t = 0; t < nq; t++) { acc[t] += a[t]; acc[nq + t] += b[t]; }
        }
        for (; p < positions; p++) {
            const int16_t *a = lookup + (p * 256 + bytes[p]) * nq;
            for (size_t t = 0; t < nq; t++) acc[t] += a[t];
        }
        for (size_t t = 0; t < nq; t++) {
            const float score = cs[t] + (float)(acc[t] + acc[nq + t]) * unit;
            maxes[t] = score > maxes[t] ? score : maxes[t];
        }
    }
    float total = 0.0f;
    for (size_t t = 0; t < nq; t++) total += maxes[t];
    return docTokens == 0 ? 0.0f : total;
}

CLONES float plaid_maxsim_from_lookup(const float *centroidScores, const int16_t *lookup, float unit, size_t queryTokens,
                                      size_t dim, int nbits, const void *codes, int codeWidth,
                                      const uint8_t *packed, size_t docTokens, float *scratch) {
    const size_t positions = dim * (size_t)nbits / 8;
    if (queryTokens == 32)
        return maxsim_from_lookup(centroidScores, lookup, unit, queryTokens, 32, positions, codes, codeWidth, packed, docTokens, scratch);
    return maxsim_from_lookup(centroidScores, lookup, unit, queryTokens, 0, positions, codes, codeWidth, packed, docTokens, scratch);
}
