// Kernels of PLAID's staged search that run once per query or per candidate document:
// probe selection (stage 1), the centroid interaction on 16-bit scores (stages 2 and 3), and
// MaxSim through per-query lookup tables of the residual bytes (stage 4).
#include "PlaidKernels.h"
#include "kernel_common.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

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
            f[t] = row[t] == -INFINITY ? INT16_MIN : (int16_t)(int32_t)(x + (x >= 0.0f ? 0.5f : -0.5f));
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

// The best entry per query token among the rows of `codes` (INT16_MIN where none), into maxes
// [nq]. Centroid c's row is rowOf[c], or c where rowOf is NULL.
static inline __attribute__((always_inline))
void maxima_of_rows(const int16_t *restrict table, const uint32_t *restrict rowOf, size_t nq, const void *codes, int codeWidth,
                    size_t docTokens, int16_t *restrict maxes) {
    for (size_t d = 0; d < docTokens; d++) {
        const uint32_t code = code_at(codes, codeWidth, d);
        const int16_t *row = table + (size_t)(rowOf ? rowOf[code] : code) * nq;
        for (size_t t = 0; t < nq; t++) maxes[t] = row[t] > maxes[t] ? row[t] : maxes[t];
    }
}

// maxima_of_rows where only the centroids with a bit in hasRow have a row, in centroid order
// after row 0: centroid c's row is 1 + rowsBefore[c / 64] + the bits set below c's in its word.
// Most codes have none (their centroids scored below the threshold for every token), so the codes
// with one are gathered first, a run at a time and without a branch, and only their rows are read,
// where every code read a row (row 0 for those without). The two tables are small enough to stay
// in L1 (16 KB and 8 KB at 131,072 centroids), where a row number per centroid (512 KB) was a
// miss to L3 for every code with a row (docs/benchmarks.md measures each half alone).
static inline __attribute__((always_inline))
void maxima_of_ranked_rows(const int16_t *restrict table, const uint64_t *restrict hasRow, const uint32_t *restrict rowsBefore,
                           size_t nq, const void *codes, int codeWidth, size_t docTokens, int16_t *restrict maxes) {
    enum { RUN = 256 };
    uint32_t hits[RUN];
    for (size_t start = 0; start < docTokens; start += RUN) {
        const size_t end = docTokens - start < RUN ? docTokens : start + RUN;
        size_t n = 0;
        for (size_t d = start; d < end; d++) {
            const uint32_t code = code_at(codes, codeWidth, d);
            hits[n] = code;
            n += (hasRow[code >> 6] >> (code & 63)) & 1;
        }
        for (size_t h = 0; h < n; h++) {
            const uint32_t code = hits[h];
            const uint64_t below = hasRow[code >> 6] & ((UINT64_C(1) << (code & 63)) - 1);
            const int16_t *row = table + (size_t)(rowsBefore[code >> 6] + 1 + (uint32_t)__builtin_popcountll(below)) * nq;
            for (size_t t = 0; t < nq; t++) maxes[t] = row[t] > maxes[t] ? row[t] : maxes[t];
        }
    }
}

// The sum over query tokens of the best entry among the document's rows (a token with none adds
// 0): rows by hasRow and rowsBefore where hasRow is given, else as maxima_of_rows.
static inline __attribute__((always_inline))
int32_t interaction16(const int16_t *restrict table, const uint32_t *restrict rowOf, const uint64_t *restrict hasRow,
                      const uint32_t *restrict rowsBefore, size_t queryTokens, const size_t fixedTokens, const void *codes,
                      int codeWidth, size_t docTokens) {
    const size_t nq = fixedTokens ? fixedTokens : queryTokens;
    int16_t local[64];
    int16_t *maxes = nq <= 64 ? local : malloc(nq * sizeof(int16_t));
    for (size_t t = 0; t < nq; t++) maxes[t] = INT16_MIN;
    if (hasRow) maxima_of_ranked_rows(table, hasRow, rowsBefore, nq, codes, codeWidth, docTokens, maxes);
    else maxima_of_rows(table, rowOf, nq, codes, codeWidth, docTokens, maxes);
    int32_t total = 0;
    for (size_t t = 0; t < nq; t++) total += maxes[t] == INT16_MIN ? 0 : maxes[t];
    if (maxes != local) free(maxes);
    return total;
}

LEVELS(float, plaid_centroid_interaction16, (const int16_t *table, const uint32_t *rowOf, size_t queryTokens,
                                             const void *codes, int codeWidth, size_t docTokens, float unit),
       (table, rowOf, queryTokens, codes, codeWidth, docTokens, unit)) {
    const int32_t total = queryTokens == 32 ? interaction16(table, rowOf, NULL, NULL, queryTokens, 32, codes, codeWidth, docTokens)
                                            : interaction16(table, rowOf, NULL, NULL, queryTokens, 0, codes, codeWidth, docTokens);
    return (float)total * unit;
}

LEVELS_VOID(plaid_centroid_interactions16, (const int16_t *table, const uint32_t *rowOf, const uint64_t *hasRow,
                                            const uint32_t *rowsBefore, size_t queryTokens,
                                            const plaid_lookup_document *documents, size_t count, size_t farAhead, float unit,
                                            float *scores),
            (table, rowOf, hasRow, rowsBefore, queryTokens, documents, count, farAhead, unit, scores)) {
    // Each document's codes are fetched AHEAD documents ahead: the documents of a query lie far
    // apart, and each one's codes are a miss to memory otherwise. On small pages its first line
    // is asked for farAhead documents ahead, so that the page walk (each document is on a page of
    // its own) is done by then rather than stalling the full fetch; on huge pages, where the
    // walks are few, those early requests only crowded the misses in flight.
    enum { AHEAD = 4 };
    for (size_t i = 0; i < count && i < farAhead; i++) __builtin_prefetch(documents[i].codes, 0, 1);
    for (size_t i = 0; i < count && i < AHEAD; i++) prefetch_bytes(documents[i].codes, documents[i].tokens * (size_t)documents[i].codeWidth);
    for (size_t i = 0; i < count; i++) {
        if (farAhead && i + farAhead < count) __builtin_prefetch(documents[i + farAhead].codes, 0, 1);
        if (i + AHEAD < count) prefetch_bytes(documents[i + AHEAD].codes, documents[i + AHEAD].tokens * (size_t)documents[i + AHEAD].codeWidth);
        const plaid_lookup_document *d = &documents[i];
        // The width known when compiled for the common cases, so that the loop over codes does
        // not branch on it for every code.
        int32_t total;
        if (queryTokens == 32 && d->codeWidth == 4) total = interaction16(table, rowOf, hasRow, rowsBefore, 32, 32, d->codes, 4, d->tokens);
        else if (queryTokens == 32 && d->codeWidth == 2) total = interaction16(table, rowOf, hasRow, rowsBefore, 32, 32, d->codes, 2, d->tokens);
        else total = interaction16(table, rowOf, hasRow, rowsBefore, queryTokens, 0, d->codes, d->codeWidth, d->tokens);
        scores[i] = (float)total * unit;
    }
}

// ---- Stage 4: MaxSim through lookup tables of residual bit groups ---------------------------
//
// A token's q·r is a sum over groups of its residual bits, each read from a table of that
// group's product with the query tokens for every value the group can hold. Wider groups mean
// fewer lookups and a larger table: a table over whole bytes (256 values) is 1.5 MB at dimension
// 384, 2 bits and 32 query tokens, and its rows come from L2 and L3, which made it slower than
// nibbles (16 values). Six-bit groups (64 values: 3 dimensions at 2 bits, 6 at 1) read 128 rows
// per token at dimension 384 instead of nibbles' 192, from a 512 KB table, and were the fastest
// of the three (docs/benchmarks.md, "Design measurements"). The layout:
//
//   3·hexBlocks bytes, read 3 at a time as four 6-bit groups: group g's 64 rows at g·64·nq;
//   then the remaining bytes as two nibbles each (16 rows), high nibble first.
//
// hexBlocks is 0 at 4 bits (a 6-bit group would split a dimension) and for residuals under 8
// bytes (the kernel reads 8 bytes at a time). Entries are summed in 16 bits without widening:
// each query token has its own unit, chosen so that the sum of the largest |entry| of every
// group, rounding included, stays within 32,767; no partial sum can overflow whatever the residual.

static inline size_t hex_blocks(size_t positions, int nbits) { return nbits <= 2 && positions >= 8 ? positions / 3 : 0; }

// Groups of the layout: 6-bit groups first, then nibbles.
static inline size_t group_count(size_t positions, size_t hexBlocks) { return 4 * hexBlocks + 2 * (positions - 3 * hexBlocks); }

size_t plaid_residual_lookup_count(size_t dim, int nbits, size_t queryTokens) {
    const size_t positions = dim * (size_t)nbits / 8, hexBlocks = hex_blocks(positions, nbits);
    return (4 * hexBlocks * 64 + 2 * (positions - 3 * hexBlocks) * 16) * queryTokens;
}

// Group g of the layout: its width in bits, its first dimension and where its rows start.
static inline void group_at(size_t g, size_t hexBlocks, size_t nq, int nbits, unsigned *bits, size_t *firstDim,
                            size_t *offset) {
    const size_t hexGroups = 4 * hexBlocks;
    if (g < hexGroups) {
        *bits = 6; *firstDim = g * 6 / (size_t)nbits; *offset = g * 64 * nq;
    } else {
        *bits = 4; *firstDim = (hexGroups * 6 + (g - hexGroups) * 4) / (size_t)nbits;
        *offset = (hexGroups * 64 + (g - hexGroups) * 16) * nq;
    }
}

// The products a group's entries are sums of: products[f][k][t] = weights[k] · queryT[firstDim + f][t]
// for each field f (a dimension) of the group and each bucket k.
static inline __attribute__((always_inline))
void field_products(const float *restrict queryT, size_t nq, size_t firstDim, unsigned fields, int nbits,
                    const float *restrict weights, float *restrict products) {
    const unsigned levels = 1u << nbits;
    for (unsigned f = 0; f < fields; f++)
        for (unsigned k = 0; k < levels; k++) {
            const float *q = queryT + (firstDim + f) * nq;
            float *out = products + (f * levels + k) * nq;
            for (size_t t = 0; t < nq; t++) out[t] = weights[k] * q[t];
        }
}

// The table for nq query tokens (fixedTokens: nq known when compiled, so that the loops over
// tokens are whole vectors). scratch: 16 · nq products, then five rows of nq.
static inline __attribute__((always_inline))
void lookup_build(const float *restrict queryT, size_t queryTokens, const size_t fixedTokens, size_t dim, int nbits,
                  const float *restrict weights, int16_t *restrict lookup, float *restrict units, float *restrict scratch) {
    const size_t nq = fixedTokens ? fixedTokens : queryTokens, positions = dim * (size_t)nbits / 8,
                 hexBlocks = hex_blocks(positions, nbits), groups = group_count(positions, hexBlocks);
    const unsigned levels = 1u << nbits, mask = levels - 1;
    // products: at most 16 · nq floats (6 fields × 2 buckets, 3 × 4, 2 × 4 or 1 × 16).
    float *restrict products = scratch, *restrict high = scratch + 16 * nq, *restrict low = high + nq,
                    *restrict most = low + nq, *restrict least = most + nq, *restrict row = least + nq;
    // First pass: each token's sum over groups of the largest |entry|. The fields of a group are
    // independent, so its largest entry is the sum of each field's largest product and its
    // smallest the sum of the smallest: max |entry| = max(Σ_f max_k, −Σ_f min_k).
    float *restrict largest = units;  // then the units, from the sums
    for (size_t t = 0; t < nq; t++) largest[t] = 0.0f;
    for (size_t g = 0; g < groups; g++) {
        unsigned bits; size_t firstDim, offset;
        group_at(g, hexBlocks, nq, nbits, &bits, &firstDim, &offset);
        const unsigned fields = bits / (unsigned)nbits;
        field_products(queryT, nq, firstDim, fields, nbits, weights, products);
        for (size_t t = 0; t < nq; t++) { high[t] = 0.0f; low[t] = 0.0f; }
        for (unsigned f = 0; f < fields; f++) {
            const float *p = products + f * levels * nq;
            for (size_t t = 0; t < nq; t++) { most[t] = p[t]; least[t] = p[t]; }
            for (unsigned k = 1; k < levels; k++)
                for (size_t t = 0; t < nq; t++) {
                    const float x = p[k * nq + t];
                    most[t] = x > most[t] ? x : most[t];
                    least[t] = x < least[t] ? x : least[t];
                }
            for (size_t t = 0; t < nq; t++) { high[t] += most[t]; low[t] += least[t]; }
        }
        for (size_t t = 0; t < nq; t++) largest[t] += high[t] > -low[t] ? high[t] : -low[t];
    }
    // Rounding moves each entry by at most ½ unit: the rounded sums stay within 32,767 when the
    // exact ones stay within 32,767 − groups/2 (the 1.0001 covers the float sums' own error).
    const float limit = 32767.0f - 0.5f * (float)groups;
    float *restrict scale = high;
    for (size_t t = 0; t < nq; t++) {
        const float bound = largest[t] * 1.0001f;
        scale[t] = bound > 0.0f ? limit / bound : 1.0f;
        largest[t] = 1.0f / scale[t];
    }
    // Second pass: entry [v][t] = Σ_f products[f][field f of v][t], fields most significant first,
    // as the codec packs them, in units of units[t], rounded half away from zero.
    for (size_t g = 0; g < groups; g++) {
        unsigned bits; size_t firstDim, offset;
        group_at(g, hexBlocks, nq, nbits, &bits, &firstDim, &offset);
        const unsigned fields = bits / (unsigned)nbits;
        field_products(queryT, nq, firstDim, fields, nbits, weights, products);
        int16_t *restrict out = lookup + offset;
        for (unsigned v = 0; v < 1u << bits; v++) {
            for (size_t t = 0; t < nq; t++) row[t] = 0.0f;
            for (unsigned f = 0; f < fields; f++) {
                const float *p = products + (f * levels + ((v >> ((fields - 1 - f) * (unsigned)nbits)) & mask)) * nq;
                for (size_t t = 0; t < nq; t++) row[t] += p[t];
            }
            for (size_t t = 0; t < nq; t++) {
                const float x = row[t] * scale[t];
                out[v * nq + t] = (int16_t)(int32_t)(x + (x >= 0.0f ? 0.5f : -0.5f));
            }
        }
    }
}

LEVELS_VOID(plaid_residual_lookup_build, (const float *queryT, size_t queryTokens, size_t dim, int nbits,
                                          const float *weights, int16_t *lookup, float *units, float *scratch),
            (queryT, queryTokens, dim, nbits, weights, lookup, units, scratch)) {
    if (queryTokens == 32) lookup_build(queryT, queryTokens, 32, dim, nbits, weights, lookup, units, scratch);
    else lookup_build(queryT, queryTokens, 0, dim, nbits, weights, lookup, units, scratch);
}

// Prefetches the next `share` of the upcoming rows (each `positions` bytes, perhaps across two
// lines), from *done on.
static inline void prefetch_share(const uint8_t *const *upcoming, size_t count, size_t positions, size_t share,
                                  size_t *done) {
    const size_t end = *done + share < count ? *done + share : count;
    for (; *done < end; ++*done) {
        __builtin_prefetch(upcoming[*done], 0, 3);
        __builtin_prefetch(upcoming[*done] + positions - 1, 0, 3);
    }
}

// q·r for 32 query tokens of up to CHUNK_TOKENS document tokens (rows[d]: a token's packed
// residual), in 16-bit units, into sums[d][t]. The table does not fit L1, and read token after
// token every group's row came from L2: so the bytes are taken a block at a time (6 bytes: a
// 32 KB slice of 6-bit groups; 4 bytes: an 8 KB slice of nibbles) over all tokens of the chunk
// (their sums 8 KB), and the slice's rows are reused from L1 by the chunk's tokens. A block is
// read as one word and every group's row offset is cut from it with a shift and a mask, scaled
// to bytes: two ALU operations and one vector add per group.
enum { CHUNK_TOKENS = 128, ROW32 = 32 * sizeof(int16_t), HEX_ROWS = 64 * ROW32, NIBBLE_ROWS = 16 * ROW32 };

static inline __attribute__((always_inline))
void residual_sums32(const char *restrict table, size_t positions, size_t hexBlocks, const uint8_t *const *restrict rows,
                     size_t tokens, int16_t (*restrict sums)[32], const uint8_t *const *restrict upcoming, size_t upcomingCount) {
    for (size_t d = 0; d < tokens; d++)
        for (size_t t = 0; t < 32; t++) sums[d][t] = 0;
    // Each pass over the chunk's tokens also prefetches a share of the next chunk's residuals.
    const size_t tail = positions - 3 * hexBlocks, passes = hexBlocks / 2 + hexBlocks % 2 + tail / 4 + tail % 4,
                 share = passes ? (upcomingCount + passes - 1) / passes : 0;
    size_t prefetched = 0;
    // Six bytes, eight 6-bit groups: read as the low 48 bits of a big-endian 64-bit word (from
    // two bytes before the block, except for the first block, which shifts them out instead).
    size_t b = 0;
    for (; b + 2 <= hexBlocks; b += 2) {
        const char *base = table + 4 * b * HEX_ROWS;
        const size_t start = b ? 3 * b - 2 : 0;
        const unsigned drop = b ? 0 : 16;
        prefetch_share(upcoming, upcomingCount, positions, share, &prefetched);
        for (size_t d = 0; d < tokens; d++) {
            uint64_t word;
            memcpy(&word, rows[d] + start, sizeof word);
            const uint64_t y = __builtin_bswap64(word) >> drop;
            // Group i is bits 42−6i ..< 48−6i of y, times ROW32 (2^6).
            const int16_t *g0 = (const int16_t *)(base + ((y >> 36) & (63u * ROW32)));
            const int16_t *g1 = (const int16_t *)(base + HEX_ROWS + ((y >> 30) & (63u * ROW32)));
            const int16_t *g2 = (const int16_t *)(base + 2 * HEX_ROWS + ((y >> 24) & (63u * ROW32)));
            const int16_t *g3 = (const int16_t *)(base + 3 * HEX_ROWS + ((y >> 18) & (63u * ROW32)));
            const int16_t *g4 = (const int16_t *)(base + 4 * HEX_ROWS + ((y >> 12) & (63u * ROW32)));
            const int16_t *g5 = (const int16_t *)(base + 5 * HEX_ROWS + ((y >> 6) & (63u * ROW32)));
            const int16_t *g6 = (const int16_t *)(base + 6 * HEX_ROWS + (y & (63u * ROW32)));
            const int16_t *g7 = (const int16_t *)(base + 7 * HEX_ROWS + ((y << 6) & (63u * ROW32)));
            for (size_t t = 0; t < 32; t++)
                sums[d][t] += (int16_t)((int16_t)(g0[t] + g1[t]) + (int16_t)(g2[t] + g3[t])) +
                              (int16_t)((int16_t)(g4[t] + g5[t]) + (int16_t)(g6[t] + g7[t]));
        }
    }
    // An odd last block of three bytes (b ≥ 2 here): the low 24 bits of the big-endian word that
    // starts one byte before it.
    if (b < hexBlocks) {
        const char *base = table + 4 * b * HEX_ROWS;
        prefetch_share(upcoming, upcomingCount, positions, share, &prefetched);
        for (size_t d = 0; d < tokens; d++) {
            uint32_t word;
            memcpy(&word, rows[d] + 3 * b - 1, sizeof word);
            const uint32_t y = __builtin_bswap32(word);
            const int16_t *g0 = (const int16_t *)(base + ((y >> 12) & (63u * ROW32)));
            const int16_t *g1 = (const int16_t *)(base + HEX_ROWS + ((y >> 6) & (63u * ROW32)));
            const int16_t *g2 = (const int16_t *)(base + 2 * HEX_ROWS + (y & (63u * ROW32)));
            const int16_t *g3 = (const int16_t *)(base + 3 * HEX_ROWS + ((y << 6) & (63u * ROW32)));
            for (size_t t = 0; t < 32; t++) sums[d][t] += (int16_t)(g0[t] + g1[t]) + (int16_t)(g2[t] + g3[t]);
        }
    }
    // The bytes after the 6-bit groups, as nibbles: four bytes at a time, then one by one.
    const char *nibbles = table + 4 * hexBlocks * HEX_ROWS;
    size_t p0 = 3 * hexBlocks;
    for (; p0 + 4 <= positions; p0 += 4) {
        const char *base = nibbles + 2 * (p0 - 3 * hexBlocks) * NIBBLE_ROWS;
        prefetch_share(upcoming, upcomingCount, positions, share, &prefetched);
        for (size_t d = 0; d < tokens; d++) {
            uint32_t word;
            memcpy(&word, rows[d] + p0, sizeof word);
            int16_t acc[32];
            for (size_t t = 0; t < 32; t++) acc[t] = sums[d][t];
            for (unsigned i = 0; i < 4; i++) {
                // Byte i of the word is bits 8i ..< 8i+8: its high nibble and its low one, times ROW32.
                const size_t hi = i == 0 ? (size_t)(word << 2) & (15u * ROW32) : (size_t)(word >> (8 * i - 2)) & (15u * ROW32);
                const size_t lo = i == 0 ? (size_t)(word << 6) & (15u * ROW32) : (size_t)(word >> (8 * i - 6)) & (15u * ROW32);
                const int16_t *a = (const int16_t *)(base + 2 * i * NIBBLE_ROWS + hi);
                const int16_t *c = (const int16_t *)(base + (2 * i + 1) * NIBBLE_ROWS + lo);
                for (size_t t = 0; t < 32; t++) acc[t] += a[t] + c[t];
            }
            for (size_t t = 0; t < 32; t++) sums[d][t] = acc[t];
        }
    }
    for (; p0 < positions; p0++) {
        const char *base = nibbles + 2 * (p0 - 3 * hexBlocks) * NIBBLE_ROWS;
        prefetch_share(upcoming, upcomingCount, positions, share, &prefetched);
        for (size_t d = 0; d < tokens; d++) {
            const uint8_t byte = rows[d][p0];
            const int16_t *a = (const int16_t *)(base + (byte >> 4) * ROW32);
            const int16_t *c = (const int16_t *)(base + NIBBLE_ROWS + (byte & 15) * ROW32);
            for (size_t t = 0; t < 32; t++) sums[d][t] += a[t] + c[t];
        }
    }
}

// q·r of one token for any number of query tokens, in units, into sums[t].
static inline __attribute__((always_inline))
void residual_sums(const int16_t *restrict lookup, size_t nq, size_t positions, size_t hexBlocks, const uint8_t *restrict bytes,
                   int16_t *restrict sums) {
    for (size_t t = 0; t < nq; t++) sums[t] = 0;
    for (size_t b = 0; b < hexBlocks; b++) {
        const uint32_t y = (uint32_t)bytes[3 * b] << 16 | (uint32_t)bytes[3 * b + 1] << 8 | bytes[3 * b + 2];
        for (unsigned i = 0; i < 4; i++) {
            const int16_t *row = lookup + ((4 * b + i) * 64 + ((y >> (18 - 6 * i)) & 63)) * nq;
            for (size_t t = 0; t < nq; t++) sums[t] += row[t];
        }
    }
    const int16_t *nibbles = lookup + 4 * hexBlocks * 64 * nq;
    for (size_t p = 3 * hexBlocks; p < positions; p++) {
        const size_t n = 2 * (p - 3 * hexBlocks);
        const int16_t *a = nibbles + (n * 16 + (bytes[p] >> 4)) * nq, *c = nibbles + ((n + 1) * 16 + (bytes[p] & 15)) * nq;
        for (size_t t = 0; t < nq; t++) sums[t] += a[t] + c[t];
    }
}

static void prefetch_document(const plaid_lookup_document *document, size_t positions) {
    prefetch_bytes(document->codes, document->tokens * (size_t)document->codeWidth);
    prefetch_bytes(document->residuals, document->tokens * positions);
}

static inline float sum_of(const float *maxes, size_t nq) {
    float total = 0.0f;
    for (size_t t = 0; t < nq; t++) total += maxes[t];
    return total;
}

// Up to CHUNK_TOKENS tokens of consecutive documents: each one's residual, its centroid's row
// of scores and its document.
typedef struct {
    const uint8_t *rows[CHUNK_TOKENS];
    const float *scoreRows[CHUNK_TOKENS];
    size_t owner[CHUNK_TOKENS];
    size_t n;
} token_chunk;

// Gathers the tokens from (*next, *nextToken) on. Gathering reads each document's codes, so they
// are prefetched two documents ahead; the rows of centroid scores the tokens point at (random
// 128-byte rows of a 1 MB matrix at 8,192 centroids) are prefetched into L2 for the maxima,
// which read them after the sums of the chunk before and of this one.
static inline void gather_chunk(token_chunk *chunk, const plaid_lookup_document *documents, size_t count,
                                const float *centroidScores, size_t positions, size_t *next, size_t *nextToken) {
    size_t n = 0;
    while (n < CHUNK_TOKENS && *next < count) {
        const plaid_lookup_document *doc = &documents[*next];
        if (*nextToken == doc->tokens) {
            ++*next; *nextToken = 0;
            if (*next + 2 < count) prefetch_bytes(documents[*next + 2].codes, documents[*next + 2].tokens * (size_t)documents[*next + 2].codeWidth);
            continue;
        }
        chunk->rows[n] = doc->residuals + *nextToken * positions;
        chunk->scoreRows[n] = centroidScores + (size_t)code_at(doc->codes, doc->codeWidth, *nextToken) * 32;
        __builtin_prefetch(chunk->scoreRows[n], 0, 2);
        __builtin_prefetch(chunk->scoreRows[n] + 16, 0, 2);
        chunk->owner[n++] = *next;
        ++*nextToken;
    }
    chunk->n = n;
}

LEVELS_VOID(plaid_maxsim_from_lookup, (const float *centroidScores, const int16_t *lookup, const float *units,
                                       size_t queryTokens, size_t dim, int nbits, const plaid_lookup_document *documents,
                                       size_t count, float *scores, float *scratch),
            (centroidScores, lookup, units, queryTokens, dim, nbits, documents, count, scores, scratch)) {
    const size_t nq = queryTokens, positions = dim * (size_t)nbits / 8, hexBlocks = hex_blocks(positions, nbits);
    for (size_t i = 0; i < count; i++) scores[i] = 0.0f;  // a document without tokens scores 0
    for (size_t i = 0; i < count && i < 3; i++) prefetch_document(&documents[i], positions);
    if (nq != 32) {
        int16_t *restrict sums = (int16_t *)scratch;
        float *restrict maxes = scratch + nq;
        for (size_t i = 0; i < count; i++) {
            if (i + 3 < count) prefetch_document(&documents[i + 3], positions);
            const plaid_lookup_document *doc = &documents[i];
            for (size_t t = 0; t < nq; t++) maxes[t] = -INFINITY;
            for (size_t d = 0; d < doc->tokens; d++) {
                residual_sums(lookup, nq, positions, hexBlocks, doc->residuals + d * positions, sums);
                const float *cs = centroidScores + (size_t)code_at(doc->codes, doc->codeWidth, d) * nq;
                for (size_t t = 0; t < nq; t++) {
                    const float score = cs[t] + (float)sums[t] * units[t];
                    maxes[t] = score > maxes[t] ? score : maxes[t];
                }
            }
            if (doc->tokens) scores[i] = sum_of(maxes, nq);
        }
        return;
    }
    // 32 query tokens: chunks of CHUNK_TOKENS tokens that run across documents, so that a slice
    // of the table serves a full chunk even when documents are shorter than a chunk or end just
    // past one (a 150-token document read the whole table twice, the second time for 22 tokens).
    // The next chunk is gathered before this one is summed, so that its residuals can be
    // prefetched while this one's are read.
    int16_t sums[CHUNK_TOKENS][32] __attribute__((aligned(64)));
    token_chunk chunks[2];
    size_t next = 0, nextToken = 0, open = count;  // the next token to gather; the document being maxed
    gather_chunk(&chunks[0], documents, count, centroidScores, positions, &next, &nextToken);
    float maxes[32];
    for (unsigned c = 0; chunks[c].n; c ^= 1) {
        const token_chunk *chunk = &chunks[c];
        gather_chunk(&chunks[c ^ 1], documents, count, centroidScores, positions, &next, &nextToken);
        residual_sums32((const char *)lookup, positions, hexBlocks, chunk->rows, chunk->n, sums, chunks[c ^ 1].rows, chunks[c ^ 1].n);
        for (size_t d = 0; d < chunk->n; d++) {
            if (chunk->owner[d] != open) {
                if (open < count) scores[open] = sum_of(maxes, 32);
                open = chunk->owner[d];
                for (size_t t = 0; t < 32; t++) maxes[t] = -INFINITY;
            }
            const float *cs = chunk->scoreRows[d];
            for (size_t t = 0; t < 32; t++) {
                const float score = cs[t] + (float)sums[d][t] * units[t];
                maxes[t] = score > maxes[t] ? score : maxes[t];
            }
        }
    }
    if (open < count) scores[open] = sum_of(maxes, 32);
}

LEVELS_VOID(plaid_matches_from_lookup, (const float *centroidScores, const int16_t *lookup, const float *units,
                                        size_t queryTokens, size_t dim, int nbits, const plaid_lookup_document *document,
                                        float *best, int32_t *at, float *scratch),
            (centroidScores, lookup, units, queryTokens, dim, nbits, document, best, at, scratch)) {
    const size_t nq = queryTokens, positions = dim * (size_t)nbits / 8, hexBlocks = hex_blocks(positions, nbits);
    int16_t *restrict sums = (int16_t *)scratch;
    for (size_t t = 0; t < nq; t++) { best[t] = -INFINITY; at[t] = -1; }
    if (nq == 32) {
        // The maxsim kernel's chunked sums (the same 16-bit sums: integer adds in any order), a
        // chunk of the document's tokens at a time.
        int16_t chunk[CHUNK_TOKENS][32] __attribute__((aligned(64)));
        const uint8_t *rows[CHUNK_TOKENS];
        for (size_t d0 = 0; d0 < document->tokens; d0 += CHUNK_TOKENS) {
            const size_t n = document->tokens - d0 < CHUNK_TOKENS ? document->tokens - d0 : CHUNK_TOKENS;
            for (size_t i = 0; i < n; i++) rows[i] = document->residuals + (d0 + i) * positions;
            residual_sums32((const char *)lookup, positions, hexBlocks, rows, n, chunk, rows, 0);
            for (size_t i = 0; i < n; i++) {
                const float *cs = centroidScores + (size_t)code_at(document->codes, document->codeWidth, d0 + i) * 32;
                for (size_t t = 0; t < 32; t++) {
                    const float score = cs[t] + (float)chunk[i][t] * units[t];
                    if (score > best[t]) { best[t] = score; at[t] = (int32_t)(d0 + i); }
                }
            }
        }
        return;
    }
    for (size_t d = 0; d < document->tokens; d++) {
        residual_sums(lookup, nq, positions, hexBlocks, document->residuals + d * positions, sums);
        const float *cs = centroidScores + (size_t)code_at(document->codes, document->codeWidth, d) * nq;
        for (size_t t = 0; t < nq; t++) {
            // plaid_maxsim_from_lookup's expression, so that the maxima are its own.
            const float score = cs[t] + (float)sums[t] * units[t];
            if (score > best[t]) { best[t] = score; at[t] = (int32_t)d; }
        }
    }
}

// ---- Grouped search: candidates scored from their postings ----------------------------------

// ---- Eight bytes of short gaps at once (x86-64-v3) ----
//
// A list's gaps are one or two bytes where it holds more than one document in 16,384, as the
// long lists a query probes do. Eight bytes in which no gap takes three bytes or more (no two
// adjacent high bits set) hold whole gaps up to their last byte, or up to the seventh where the
// eighth starts a gap; for each pattern of high bits, the byte shuffle that spreads those gaps
// into 16-bit lanes (each gap's low byte, then its high byte or zero).
typedef struct {
    uint8_t shuffle[16];
} short_gaps;

static void short_gaps_table(short_gaps table[256]) {
    for (unsigned pattern = 0; pattern < 256; pattern++) {
        uint8_t *shuffle = table[pattern].shuffle;
        memset(shuffle, 0x80, sizeof table[pattern].shuffle);  // 0x80: a zero byte
        unsigned at = 0, gaps = 0;
        while (at < 8) {
            const unsigned length = (pattern >> at) & 1 ? 2 : 1;
            if (at + length > 8) break;  // a gap the next eight bytes hold
            shuffle[2 * gaps] = (uint8_t)at;
            if (length == 2) shuffle[2 * gaps + 1] = (uint8_t)(at + 1);
            at += length;
            gaps++;
        }
    }
}

#if defined(__x86_64__)
// Decodes gaps from data[*p] while they are short and the list's ids stay below documentCount,
// appending base + id for each to decoded[n...] (eight slots written at a time, those past the
// gaps decoded overwritten later: the caller's room is a slot per byte of the lists, and eight
// bytes remain); returns the new count, with *p and *doc moved past them. Where eight bytes hold
// a longer gap or the last id, it stops, for decode_list to read them. The high bits of 32 bytes
// are taken at once, so that where the next eight bytes start (the only step that waits on the
// one before) is a few operations on that mask.
__attribute__((target("avx2"))) static size_t decode_short_gaps_avx2(const uint8_t *data, size_t *p, size_t end, size_t *doc,
                                                                     size_t documentCount, size_t base, const short_gaps *table,
                                                                     uint32_t *decoded, size_t n) {
    const __m128i low = _mm_set1_epi16(0x007F), high = _mm_set1_epi16(0x3F80);
    const __m256i third = _mm256_set1_epi32(3);
    while (*p + 32 <= end) {
        const uint32_t highBits = (uint32_t)_mm256_movemask_epi8(_mm256_loadu_si256((const __m256i *)(data + *p)));
        unsigned at = 0;
        while (at <= 24) {
            const unsigned pattern = (highBits >> at) & 0xFF;
            if (pattern & (pattern >> 1)) { *p += at; return n; }
            const __m128i bytes = _mm_loadl_epi64((const __m128i *)(data + *p + at));
            const __m128i lanes = _mm_shuffle_epi8(bytes, _mm_loadu_si128((const __m128i *)table[pattern].shuffle));
            const __m128i gaps = _mm_or_si128(_mm_and_si128(lanes, low), _mm_and_si128(_mm_srli_epi16(lanes, 1), high));
            // Running sums of the eight gaps (lanes past the gaps hold zeros): within each half,
            // then the low half's total added to the high half.
            __m256i sums = _mm256_cvtepu16_epi32(gaps);
            sums = _mm256_add_epi32(sums, _mm256_slli_si256(sums, 4));
            sums = _mm256_add_epi32(sums, _mm256_slli_si256(sums, 8));
            sums = _mm256_add_epi32(sums, _mm256_blend_epi32(_mm256_setzero_si256(), _mm256_permutevar8x32_epi32(sums, third), 0xF0));
            const size_t total = (uint32_t)_mm256_extract_epi32(sums, 7);
            if (*doc + total >= documentCount) { *p += at; return n; }
            // base + id < base + documentCount, at most the snapshot's ordinals (below 2^32).
            _mm256_storeu_si256((__m256i *)(decoded + n), _mm256_add_epi32(sums, _mm256_set1_epi32((int32_t)(uint32_t)(base + *doc))));
            // The gaps end at the bytes whose high bit is clear; the eighth byte, when it starts
            // a gap, is left for the next eight.
            n += (unsigned)__builtin_popcount(~pattern & 0xFF);
            *doc += total;
            at += 8 - (pattern >> 7);
        }
        *p += at;
    }
    return n;
}
#endif

// Appends the live ordinals of `list` to decoded[n...] and returns the new count. The list ends
// at its end, or where it breaks its contract (a varint running past the end or longer than 9
// bytes, an id past documentCount). Its fields are read into locals first: read through the
// list each time, the compiler reloaded its end from memory for every byte (decoded might alias it).
// With `shortGaps` (x86-64-v3, and a list without deletions), runs of short gaps are decoded
// eight bytes at a time by decode_short_gaps_avx2.
static size_t decode_list(const plaid_probed_list *list, const short_gaps *shortGaps, uint32_t *restrict decoded, size_t n) {
    const uint8_t *restrict data = list->data;
    const uint64_t *restrict deleted = list->deleted;
    const size_t end = list->end, documentCount = list->documentCount, base = list->base;
    size_t p = list->start, doc = 0;
    if (deleted) shortGaps = NULL;
    for (;;) {
        // Eight bytes at a time, and every gap of up to three bytes that ends in them decoded
        // from the one load: the ends of the gaps are the bytes whose high bit is clear, and
        // finding the next one (clear the lowest end, count trailing zeros) is all that waits on
        // the gap before, where a load per gap made each wait on the load of the last.
        while (p + 8 <= end) {
#if defined(__x86_64__)
            if (shortGaps) {
                n = decode_short_gaps_avx2(data, &p, end, &doc, documentCount, base, shortGaps, decoded, n);
                if (p + 8 > end) break;
            }
#endif
            uint64_t word;
            memcpy(&word, data + p, 8);
            uint64_t ends = ~word & UINT64_C(0x8080808080808080);
            unsigned at = 0;  // the bit where the next gap starts
            while (ends) {
                const unsigned stop = (unsigned)__builtin_ctzll(ends) + 1;  // just past the gap's last byte
                if (stop - at > 24) break;  // four bytes or more: byte by byte below
                const uint64_t bytes = (word >> at) & ((UINT64_C(1) << (stop - at)) - 1);
                doc += (bytes & 0x7F) | ((bytes >> 1) & 0x3F80) | ((bytes >> 2) & 0x1FC000);
                if (doc >= documentCount) return n;
                decoded[n] = (uint32_t)(base + doc);
                n += !(deleted && (deleted[doc >> 6] >> (doc & 63)) & 1);
                at = stop;
                ends &= ends - 1;
            }
            if (at == 0) break;
            p += at / 8;
        }
        // One gap byte by byte: a gap of four bytes or more, or one among a list's last seven
        // bytes; this is also where a damaged list ends.
        if (p >= end) return n;
        size_t gap = 0;
        for (unsigned shift = 0;; shift += 7) {
            if (p >= end || shift >= 63) return n;
            const uint8_t byte = data[p++];
            gap |= (size_t)(byte & 0x7F) << shift;
            if (byte < 0x80) break;
        }
        doc += gap;
        if (doc >= documentCount) return n;
        if (!(deleted && (deleted[doc >> 6] >> (doc & 63)) & 1)) decoded[n++] = (uint32_t)(base + doc);
    }
}

// Ordinals whose credits are kept at once: 128 KB of (stamp, credit), which stays in L2 while
// every list is walked through them, where one array over a million documents (8 MB) made each
// posting a miss to memory. Each block walks a run of every list, so smaller blocks pay that
// walk more often (docs/benchmarks.md has the sizes measured).
enum { CREDIT_BLOCK = 1 << 14 };

size_t plaid_credit_lists(const plaid_probed_list *lists, size_t listCount, size_t ordinals, size_t room, int64_t *candidates,
                          float *credits) {
    typedef struct { int32_t stamp; float credit; } slot;
    // First every list is decoded, one after the other, into the live ordinals it holds, so that
    // the lists' bytes are read as sequential streams and the blocks below walk plain ordinals.
    size_t bytes = 0;
    for (size_t l = 0; l < listCount; l++) bytes += lists[l].end - lists[l].start;  // at least one byte per posting
    slot *block = calloc(CREDIT_BLOCK, sizeof(slot));  // all zero between blocks (each block clears what it touched)
    uint32_t *decoded = malloc((bytes ? bytes : 1) * sizeof(uint32_t));
    size_t *cursor = malloc((listCount + 1) * sizeof(size_t)), *end = malloc((listCount + 1) * sizeof(size_t));
    if (!block || !decoded || !cursor || !end) { free(block); free(decoded); free(cursor); free(end); return SIZE_MAX; }
    short_gaps table[256];
    const short_gaps *shortGaps = NULL;
    if (plaid_kernel_level() >= 3) {
        short_gaps_table(table);
        shortGaps = table;
    }
    size_t n = 0;
    for (size_t l = 0; l < listCount; l++) {
        cursor[l] = n;
        n = decode_list(&lists[l], shortGaps, decoded, n);
        end[l] = n;
    }
    // Every write below lands before the number of postings decoded (the n-th posting writes at
    // most at n - 1), so a room of n suffices; a list holding more postings than its recorded
    // length (a damaged index opened without its postings checked) must not write past a room
    // sized by those lengths.
    if (n > room) { free(block); free(decoded); free(cursor); free(end); return SIZE_MAX - 1; }
    size_t count = 0;
    for (size_t lo = 0; lo < ordinals; lo += CREDIT_BLOCK) {
        const size_t hi = ordinals - lo < CREDIT_BLOCK ? ordinals : lo + CREDIT_BLOCK, first = count;
        for (size_t l = 0; l < listCount; l++) {
            const int32_t mark = lists[l].mark;
            const float score = lists[l].score;
            size_t at = cursor[l];
            // Without branches: whether a posting is a new candidate, or the token's first list
            // holding it, follows no pattern, and a mispredicted branch per posting cost more
            // than the stores it saves.
            for (const size_t last = end[l]; at < last && decoded[at] < hi; at++) {
                slot *s = &block[decoded[at] - lo];
                const int32_t stamp = s->stamp;
                candidates[count] = decoded[at];
                count += stamp == 0;
                s->credit += stamp != mark ? score : 0.0f;
                s->stamp = mark;
            }
            cursor[l] = at;
        }
        // Clearing only the touched slots, where a memset of every block cost more than the
        // postings on a sparse query over a million documents.
        for (size_t i = first; i < count; i++) {
            slot *s = &block[(size_t)candidates[i] - lo];
            credits[i] = s->credit;
            *s = (slot){0, 0.0f};
        }
    }
    free(block); free(decoded); free(cursor); free(end);
    return count;
}

// ---- Grouped search: stage 4's rows -------------------------------------------------------

size_t plaid_rows_of_codes(const plaid_lookup_document *documents, size_t count, size_t centroids, uint32_t *slot,
                           uint32_t rows, int32_t *added, uint32_t *rowCodes) {
    // The slots of a document's codes lie anywhere in a table of 4 bytes a centroid (512 KB at
    // 131,072), each a likely miss: each is asked for AHEAD codes before it is read.
    enum { AHEAD = 16 };
    size_t fresh = 0, at = 0;
    for (size_t i = 0; i < count; i++) {
        const plaid_lookup_document *d = &documents[i];
        for (size_t t = 0; t < d->tokens && t < AHEAD; t++) {
            const uint32_t code = code_at(d->codes, d->codeWidth, t);
            if (code < centroids) __builtin_prefetch(&slot[code]);
        }
        for (size_t t = 0; t < d->tokens; t++) {
            if (t + AHEAD < d->tokens) {
                const uint32_t later = code_at(d->codes, d->codeWidth, t + AHEAD);
                if (later < centroids) __builtin_prefetch(&slot[later]);
            }
            const uint32_t code = code_at(d->codes, d->codeWidth, t);
            if (code >= centroids) return SIZE_MAX;
            if (!slot[code]) {
                slot[code] = rows + (uint32_t)++fresh;
                added[fresh - 1] = (int32_t)code;
            }
            rowCodes[at++] = slot[code] - 1;
        }
    }
    return fresh;
}

// ---- Grouped search: the candidates kept ----------------------------------------------------

// Sorts n non-negative values in increasing order (as unsigned keys, whose order is theirs);
// scratch holds n values.
static void sort_ordinals(int64_t *values, size_t n, int64_t *scratch) {
    plaid_sort_keys((uint64_t *)values, n, (uint64_t *)scratch);
}

// The r-th largest (1 ≤ r ≤ n) of values, which it reorders (quickselect, median of three).
static float rth_largest(float *v, size_t n, size_t r) {
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1;
    const ptrdiff_t target = (ptrdiff_t)r - 1;
    while (lo < hi) {
        const ptrdiff_t mid = lo + (hi - lo) / 2;
        const float a = v[lo], b = v[mid], c = v[hi];
        const float pivot = fmaxf(fminf(a, b), fminf(fmaxf(a, b), c));
        ptrdiff_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] > pivot) i++;
            while (v[j] < pivot) j--;
            if (i <= j) { const float t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; }
        }
        if (target <= j) hi = j;
        else if (target >= i) lo = i;
        else return v[target];
    }
    return v[target];
}

// Bins of the score histogram that narrows the selection to the values of one bin.
enum { SELECT_BINS = 4096 };

static inline uint32_t score_bin(float score, float low, float scale) {
    const float at = (score - low) * scale;
    return at >= (float)(SELECT_BINS - 1) ? SELECT_BINS - 1 : (uint32_t)(int32_t)at;  // 0 ≤ at
}

size_t plaid_select_best(const int64_t *ordinals, const float *scores, size_t n, size_t count, int64_t *out) {
    if (count > n) count = n;
    if (count == 0) return 0;
    if (count == n) {
        int64_t *scratch = malloc(n * sizeof(int64_t));
        if (!scratch) return SIZE_MAX;
        memcpy(out, ordinals, n * sizeof(int64_t));
        sort_ordinals(out, n, scratch);
        free(scratch);
        return n;
    }
    // The bin of a score is monotone in the score, so every score of a higher bin is larger than
    // every score of a lower one: the count-th largest is in the bin where the counts from the
    // top reach count, and only that bin's scores need selecting among.
    float low = scores[0], high = scores[0];
    for (size_t i = 1; i < n; i++) {  // comparisons, not fminf/fmaxf, so that this vectorises
        low = scores[i] < low ? scores[i] : low;
        high = scores[i] > high ? scores[i] : high;
    }
    const float range = high - low;
    const float scale = range > 0 && isfinite(range) ? (float)(SELECT_BINS - 1) / range : 0.0f;
    uint16_t *binOf = malloc(n * sizeof(uint16_t));
    uint32_t *bins = calloc(4 * SELECT_BINS, sizeof(uint32_t));
    if (!binOf || !bins) { free(binOf); free(bins); return SIZE_MAX; }
    // Four histograms, summed after: many candidates share a score (one token's credit), and in
    // one histogram each of their counts waited on the store of the one before.
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (size_t h = 0; h < 4; h++) {
            const uint16_t b = (uint16_t)score_bin(scores[i + h], low, scale);
            binOf[i + h] = b;
            bins[h * SELECT_BINS + b]++;
        }
    for (; i < n; i++) bins[binOf[i] = (uint16_t)score_bin(scores[i], low, scale)]++;
    for (size_t b = 0; b < SELECT_BINS; b++) bins[b] += bins[SELECT_BINS + b] + bins[2 * SELECT_BINS + b] + bins[3 * SELECT_BINS + b];
    size_t bin = SELECT_BINS - 1, above = 0;
    while (above + bins[bin] < count) above += bins[bin--];
    const size_t inBin = bins[bin];
    float *values = malloc(inBin * sizeof(float));
    if (!values) { free(binOf); free(bins); return SIZE_MAX; }
    size_t m = 0;
    for (i = 0; i < n; i++) if (binOf[i] == bin) values[m++] = scores[i];
    const float threshold = rth_largest(values, m, count - above);
    free(values); free(binOf); free(bins);
    // One pass, without branches, into the kept (fewer than count scores lie above the
    // threshold, so out has room for each write) and the ties (all in the threshold's bin: room
    // for inBin, plus the one write past the last tie).
    int64_t *ties = malloc((inBin + 1) * sizeof(int64_t)), *scratch = malloc((inBin > count ? inBin : count) * sizeof(int64_t));
    if (!ties || !scratch) { free(ties); free(scratch); return SIZE_MAX; }
    size_t kept = 0, tied = 0;
    for (i = 0; i < n; i++) {
        out[kept] = ordinals[i];
        kept += scores[i] > threshold;
        ties[tied] = ordinals[i];
        tied += scores[i] == threshold;
    }
    sort_ordinals(ties, tied, scratch);
    for (size_t i = 0; kept < count; i++) out[kept++] = ties[i];
    sort_ordinals(out, kept, scratch);
    free(ties); free(scratch);
    return kept;
}
