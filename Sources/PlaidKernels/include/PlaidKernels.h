// Hot loops of the PLAID index and search, written in C so that each is compiled for
// AVX-512, AVX2+FMA and generic x86-64 (`target_clones`) and picked at load time.
// A default `swift build -c release` targets generic x86-64 only; these kernels do not.
#ifndef PLAID_KERNELS_H
#define PLAID_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Squared L2 norm of a float vector.
float plaid_squared_norm(const float *a, size_t n);

/// `count` little-endian IEEE half floats at `source` (any alignment) as floats: F16C at kernel
/// level 3 and up, bit manipulation below; the same bits either way, signalling NaNs made quiet.
void plaid_float16_to_float32(const void *source, float *destination, size_t count);

/// maxes[i] = max(maxes[i], row[i]) for i < n.
void plaid_rowmax_accumulate(const float *row, float *maxes, size_t n);

/// For each of `rows` rows of `scores` ([rows, cols]), the first column maximising
/// scores[r][c] − bias[c] (bias may be null). Used to assign vectors to their nearest centroid.
void plaid_argmax_rows(const float *scores, size_t rows, size_t cols, const float *bias, int32_t *out);

/// 64-bit checksum of a byte range (4-lane multiply-rotate hash; not cryptographic).
uint64_t plaid_checksum64(const void *data, size_t length, uint64_t seed);

/// Streaming form of `plaid_checksum64`: feeding the same bytes in any number of pieces gives
/// the same value as one call over all of them.
typedef struct {
    uint64_t lanes[4];
    uint64_t seed;
    uint64_t length;
    uint8_t pending[32];
    size_t pendingCount;
} plaid_checksum_state;

void plaid_checksum_init(plaid_checksum_state *state, uint64_t seed);
void plaid_checksum_update(plaid_checksum_state *state, const void *data, size_t length);
uint64_t plaid_checksum_final(const plaid_checksum_state *state);

/// The CPU level the search kernels (kernels.c, staged_search.c) run at: 4 for x86-64-v4
/// (AVX-512), 3 for x86-64-v3 (AVX2, FMA), 1 for the x86-64 baseline. plaid_cpu_kernel_level is
/// the best this CPU runs; plaid_set_kernel_level(level) makes every later call run at a lower
/// one (0: the CPU's again), for tests, and returns the level in force, or -1 when this CPU
/// cannot run it. The level is process-wide.
int plaid_cpu_kernel_level(void);
int plaid_kernel_level(void);
int plaid_set_kernel_level(int level);

/// Sum over query tokens of the max over document tokens of the scores in `scores`,
/// a row-major [docTokens, queryTokens] matrix. This is MaxSim once the dot products are known.
float plaid_maxsim_from_scores(const float *scores, size_t docTokens, size_t queryTokens);

/// Asks the CPU to bring `bytes` bytes from `start` into cache, without waiting. The staged
/// search calls it on the next candidate's codes and residuals while it scores the current one:
/// candidates are scattered over an index far larger than the caches, and a document's data
/// otherwise arrived from memory as the kernel first read it.
void plaid_prefetch(const void *start, size_t bytes);

/// plaid_prefetch of the one cache line holding `address`, inline, for loops that ask once per
/// item (a call per item would cost as much as the lookup it speeds up).
static inline void plaid_prefetch_line(const void *address) { __builtin_prefetch(address); }

/// Stage 1's probes: for each of `tokenCount` query tokens (`tokens`, columns of `scores`
/// [k, queryTokens]), the `n` centroids of highest score, ties to the lower centroid, written
/// unordered to out[i·n ..< (i+1)·n]. `heapScores` holds tokenCount·n floats of scratch. n ≤ k.
void plaid_top_centroids(const float *scores, size_t k, size_t queryTokens, const int32_t *tokens,
                         size_t tokenCount, size_t n, int32_t *out, float *heapScores);

/// The centroid scores [k, queryTokens] as 16-bit integers for stages 2 and 3, in units of the
/// returned value (`bound`, a bound on |score|, maps to 32767; larger scores are clamped):
/// `full` [k, queryTokens] every centroid; `kept` [1 + *keptCount, queryTokens] only the
/// centroids whose best score over `activeTokens` reaches `threshold` (stage 2's pruning), in
/// centroid order after a row 0 of INT16_MIN (ignored), and rowOf[c] [k] centroid c's row there
/// (0 when pruned). Only the few kept rows are read in stage 2, so they stay in L1. `kept` holds
/// (k + 1) · queryTokens values. A score of −∞ (not computed) becomes INT16_MIN, which adds
/// nothing to a document's score.
float plaid_interaction_tables(const float *scores, size_t k, size_t queryTokens, const int32_t *activeTokens,
                               size_t activeCount, float bound, float threshold, int16_t *full, uint32_t *rowOf,
                               int16_t *kept, size_t *keptCount);

/// Centroid-interaction score of one document (PLAID stages 2 and 3): the sum over query tokens
/// of the best table entry among the document's centroids (`codes`, `codeWidth` bytes each;
/// centroid c's row is rowOf[c], or c when rowOf is NULL), entries of INT16_MIN ignored (a query
/// token with none scores 0), times `unit`.
float plaid_centroid_interaction16(const int16_t *table, const uint32_t *rowOf, size_t queryTokens,
                                   const void *codes, int codeWidth, size_t docTokens, float unit);

/// Entries of stage 4's lookup table for `queryTokens` query tokens: per group of residual bits
/// (6-bit groups at 1 and 2 bits, then nibbles; staged_search.c gives the layout), one row of
/// queryTokens entries for each value the group can hold.
size_t plaid_residual_lookup_count(size_t dim, int nbits, size_t queryTokens);

/// Builds the lookup table: the row of value v of a group holds, for each query token t,
/// Σ_f weights[field f of v] · queryT[first dimension of the group + f][t] in units of units[t],
/// rounded. A token's unit keeps the sum of its largest |entry| per group within 32,767, so sums
/// of entries never overflow 16 bits; a token's q·r is then within dim·nbits/8 units of the
/// float value (half a unit per group, at most two groups per byte). `queryT` is the query
/// transposed, [dim, queryTokens]; `weights` the 2^nbits bucket weights; `units` receives
/// queryTokens floats; `scratch` holds 21 · queryTokens floats.
void plaid_residual_lookup_build(const float *queryT, size_t queryTokens, size_t dim, int nbits,
                                 const float *weights, int16_t *lookup, float *units, float *scratch);

/// A document as stage 4 reads it: `tokens` centroid codes of `codeWidth` bytes (1, 2 or 4)
/// and `tokens` packed residuals of dim·nbits/8 bytes each.
typedef struct {
    const void *codes;
    const uint8_t *residuals;
    size_t tokens;
    int codeWidth;
} plaid_lookup_document;

/// plaid_centroid_interaction16 of each of `count` documents (their codes; the residuals are not
/// read) into scores[i]. With `hasRow` NULL, centroid c's row is rowOf[c] (c where rowOf is NULL
/// too). Otherwise the rows are those of the centroids whose bit is set in `hasRow` (bit c of
/// word c / 64), in centroid order after row 0, and `rowsBefore[w]` is the number of bits set in
/// words 0..<w (rowOf is not read): the codes without a row, most of them, are told from tables
/// that stay in the nearest cache.
/// `farAhead`: how many documents ahead the first line of a document's codes is asked for (0:
/// none), for codes on small pages, whose page walks then start early.
void plaid_centroid_interactions16(const int16_t *table, const uint32_t *rowOf, const uint64_t *hasRow,
                                   const uint32_t *rowsBefore, size_t queryTokens, const plaid_lookup_document *documents,
                                   size_t count, size_t farAhead, float unit, float *scores);

/// MaxSim of each of `count` documents from its codes and packed residuals, into scores[i]: a
/// token's score against query token t is centroidScores[code][t] (q·c, [k, queryTokens]) plus
/// units[t] times the sum of the lookup entries of its residual's groups (q·r). Equal to MaxSim
/// over the decompressed vectors up to the table's rounding; a document without tokens scores 0.
/// `scratch` holds 2 · queryTokens floats.
void plaid_maxsim_from_lookup(const float *centroidScores, const int16_t *lookup, const float *units,
                              size_t queryTokens, size_t dim, int nbits, const plaid_lookup_document *documents,
                              size_t count, float *scores, float *scratch);

/// For one document, each query token's best token as `plaid_maxsim_from_lookup` scores them:
/// best[t] the score (their sum over t, in order, is that function's score of the document) and
/// at[t] the token's position (the first of equal scores); -INFINITY and -1 for a document without
/// tokens. `scratch` holds queryTokens floats.
void plaid_matches_from_lookup(const float *centroidScores, const int16_t *lookup, const float *units,
                               size_t queryTokens, size_t dim, int nbits, const plaid_lookup_document *document,
                               float *best, int32_t *at, float *scratch);

/// Codes the residuals of `count` vectors [count, dim] against their centroids
/// (centroids[codes[t]]): each dimension's bucket is the number of the 2^nbits − 1 ascending
/// `cutoffs` strictly below x − c, packed most significant first into `dim * nbits / 8` bytes per
/// vector. dim is a multiple of 8. The same bytes as `ResidualCodec.encode` on every level.
void plaid_encode_residuals(const float *vectors, const int32_t *codes, const float *centroids, size_t count,
                            size_t dim, const float *cutoffs, int nbits, uint8_t *out);

/// Decompresses residual-coded vectors: out[t] = centroids[code[t]] + decoded residual.
/// `packed` holds `dim * nbits / 8` bytes per vector; bits are read most significant first.
/// `byteLookup` is [256, 8 / nbits]: the bucket weights of the dimensions packed in one byte.
void plaid_decompress(const uint8_t *packed, const void *codes, int codeWidth, size_t count,
                      const float *centroids, size_t dim, int nbits,
                      const float *byteLookup, float *out);

/// Centroids quantized to 8 bits, for finding the nearest centroid of many vectors
/// (nearest_centroid.c). Opaque; created from [k, dim] float rows and a bias per centroid
/// (NULL: none), freed by _destroy. NULL when out of memory.
typedef struct plaid_int8_centroids plaid_int8_centroids;
plaid_int8_centroids *plaid_int8_centroids_create(const float *centroids, const float *bias, size_t k, size_t dim);
void plaid_int8_centroids_destroy(plaid_int8_centroids *quantized);

/// Whether this CPU runs the AVX-512 VNNI products (Zen 4, Ice Lake and later).
int plaid_int8_nearest_has_vnni(void);
/// Whether this CPU runs the AVX2 products (Haswell, Zen and later).
int plaid_int8_nearest_has_avx2(void);

enum {
    PLAID_INT8_KERNEL_AUTOMATIC = 0,  // VNNI where the CPU has it, else AVX2, else the plain C products
    PLAID_INT8_KERNEL_PORTABLE = 1,
    PLAID_INT8_KERNEL_VNNI = 2,       // fails (returns -1) where the CPU lacks VNNI
    PLAID_INT8_KERNEL_AVX2 = 3,       // fails (returns -1) where the CPU lacks AVX2
};

/// out[r] = argmax over c of (points[r]·centroids[c] − bias[c]) for r < n, the first c on
/// ties, with the bias `quantized` was made with. The 8-bit products only prune: each centroid within their proven
/// error bound of the best is scored in float, so the answer equals plaid_nearest_exact_float
/// on every kernel. `centroids` are the float rows `quantized` was made from, [k, dim].
/// Adds the number of centroids scored in float to *rescored (may be NULL).
/// Returns 0, -1 (kernel not available) or -2 (out of memory).
int plaid_int8_nearest(const plaid_int8_centroids *quantized, const float *centroids,
                       const float *points, size_t n, int32_t *out, uint64_t *rescored, int kernel);

/// Vectors quantized to 8 bits once, for many calls against different centroid sets: row r is
/// codes[r·width ..< (r+1)·width] (width: dim rounded up to 4; x̂ + 128, 128 in the padding),
/// its scale and its L1 norm. The caller owns the arrays.
typedef struct {
    uint8_t *codes;
    float *scales;
    float *l1;
} plaid_int8_rows;

/// Quantizes `n` vectors [n, dim] into `out` (arrays of n·width, n and n).
void plaid_int8_quantize_rows(const float *points, size_t n, size_t dim, plaid_int8_rows *out);

/// plaid_int8_nearest over the rows `rowIndices[0..<n]` of `points` (NULL: rows 0..<n), taking
/// their 8-bit form from `quantized` when given (quantizing them otherwise), and also writing
/// each row's exact score x·c − bias[c] of its answer into outScores[r] (may be NULL).
int plaid_int8_nearest_rows(const plaid_int8_centroids *quantized, const float *centroids, const float *points,
                            const plaid_int8_rows *quantizedRows, const int32_t *rowIndices, size_t n, int32_t *out,
                            float *outScores, uint64_t *rescored, int kernel);

/// For each of `n` quantized vectors, the `p` centroids (p ≤ 64 and ≤ k) of highest approximate
/// 8-bit score x·c − bias[c], best first, the lower index first on equal scores: out is [n, p].
/// An estimate, not an exact ranking; `CentroidGroups` uses it to choose which groups to probe.
/// Returns 0, -1 (kernel not available), -2 (out of memory) or -3 (p too large).
int plaid_int8_top_columns(const plaid_int8_centroids *quantized, const plaid_int8_rows *rows, size_t n, size_t p,
                           int32_t *out, int kernel);

/// The same argmax by brute force in float, with the same float sums: the reference for tests.
void plaid_nearest_exact_float(const float *centroids, size_t k, size_t dim, const float *bias,
                               const float *points, size_t n, int32_t *out);

/// One probed inverted list of grouped search's candidate lists: LEB128 gaps of increasing local
/// document ids in data[start..<end], ids below documentCount (traversal stops at the first
/// posting that breaks that), numbered from ordinal `base`, those marked in `deleted` (a bitmap,
/// or NULL) skipped; `mark` (nonzero) is 1 + the query token that probed it, `score` the token's
/// score of the list's centroid.
typedef struct {
    const uint8_t *data;
    size_t start, end, documentCount, base;
    const uint64_t *deleted;
    int32_t mark;
    float score;
} plaid_probed_list;

/// Grouped search's candidate lists: every document of the lists, each credited, once per query
/// token, the score of the first of that token's lists that holds it (a token's lists must come
/// best first, and the tokens in order). Writes each candidate's ordinal and credit and returns
/// their count; SIZE_MAX when out of memory, SIZE_MAX - 1 when the lists hold more postings than
/// `room`, the entries `candidates` and `credits` have (nothing is written then). A posting takes
/// at least a byte, so the lists' bytes (end - start, summed) are always room enough. `ordinals`:
/// the snapshot's ordinal count (every base + id is below it, and below 2^32). The candidates
/// come in blocks of increasing ordinals, each block's in the order first credited.
size_t plaid_credit_lists(const plaid_probed_list *lists, size_t listCount, size_t ordinals, size_t room, int64_t *candidates,
                          float *credits);

/// Grouped search's stage 4: the codes of `count` documents rewritten as rows of a table of
/// centroid scores. slot[c] (for each of `centroids` centroids) is 1 + centroid c's row, or 0
/// where it has none; a centroid without one gets the next row (`rows`, then on), in the order
/// first met, and is appended to `added`. rowCodes receives every token's row, document after
/// document (room: the documents' tokens; `added` needs as much). Returns how many centroids were
/// added, or SIZE_MAX for a code of `centroids` or more (what was added by then stays).
size_t plaid_rows_of_codes(const plaid_lookup_document *documents, size_t count, size_t centroids, uint32_t *slot,
                           uint32_t rows, int32_t *added, uint32_t *rowCodes);

/// Sorts `count` keys into increasing order; `scratch` has room for `count` keys.
void plaid_sort_keys(uint64_t *keys, size_t count, uint64_t *scratch);

/// The min(m, n) smallest of `n` keys, in increasing order, written to `out`: the head of a
/// ranking without sorting the rest. `keys` is not changed; `scratch` has room for `n` keys.
void plaid_smallest_keys(const uint64_t *keys, size_t n, size_t m, uint64_t *out, uint64_t *scratch);

/// The `count` of `n` candidates (non-negative ordinals, distinct, with finite scores) whose
/// scores are largest, ties to the lower ordinal, written to `out` (room for min(count, n)) in
/// increasing ordinal order. Returns how many, or SIZE_MAX when out of memory.
size_t plaid_select_best(const int64_t *ordinals, const float *scores, size_t n, size_t count, int64_t *out);

/// Centroids quantized to 16 bits for stage 1's scores (centroid_scores.c). Opaque; made from
/// [k, dim] float rows, freed by _destroy. NULL when out of memory.
typedef struct plaid_int16_centroids plaid_int16_centroids;
plaid_int16_centroids *plaid_int16_centroids_create(const float *centroids, size_t k, size_t dim);
void plaid_int16_centroids_destroy(plaid_int16_centroids *quantized);

/// Whether this CPU runs the AVX2 products.
int plaid_int16_scores_has_avx2(void);

enum {
    PLAID_INT16_KERNEL_AUTOMATIC = 0,  // VNNI, else AVX2, else plain C
    PLAID_INT16_KERNEL_PORTABLE = 1,
    PLAID_INT16_KERNEL_AVX2 = 2,       // fails (returns -1) where the CPU lacks AVX2
    PLAID_INT16_KERNEL_VNNI = 3,       // fails (returns -1) where the CPU lacks AVX-512 VNNI
};

/// out[b][c · queryTokens + t] ≈ centroid c · token t of query b, for `queries` queries
/// [queries, queryTokens, dim] and out [queries, k, queryTokens]; with VNNI the centroids are read
/// once for the whole batch. Each centroid row is rounded to its unit s_c (the larger of max|c|/32,767
/// and Σ|c|/(2^19 − dim/2)) and each token to its unit s_t = max|q|/4,095, the products summed
/// exactly in int32, so
/// |out − c·q| ≤ (s_c·‖q‖₁ + s_t·‖c‖₁)/2 + s_c·s_t·dim/4. Every kernel gives the same floats.
/// Returns 0, -1 (kernel not available) or -2 (out of memory).
int plaid_int16_centroid_scores(const plaid_int16_centroids *quantized, const float *query, size_t queries,
                                size_t queryTokens, float *out, int kernel);

/// The same product for one query [queryTokens, dim] and only the centroids `ids` (each below
/// k): out[r · queryTokens + t] is what plaid_int16_centroid_scores writes for centroid ids[r]
/// and token t, float for float. Returns 0, -1, -2, or -3 (an id out of range).
int plaid_int16_centroid_scores_of(const plaid_int16_centroids *quantized, const int32_t *ids, size_t count,
                                   const float *query, size_t queryTokens, float *out, int kernel);

/// One query token [dim] against the centroids of `ranges` runs, run g being centroids
/// starts[g] ..< starts[g] + counts[g]: out holds, run after run, the floats
/// plaid_int16_centroid_scores gives those centroids and that token. Returns 0, -1, -2 or -3
/// (a run past the centroids).
int plaid_int16_token_scores(const plaid_int16_centroids *quantized, const float *token, const int32_t *starts,
                             const int32_t *counts, size_t ranges, float *out, int kernel);

/// The 16-bit centroids also held in 8 bits, which bound the 16-bit products from half the bytes
/// (centroid_scores.c). Opaque; made from a plaid_int16_centroids (which it does not keep), freed
/// by _destroy. NULL when out of memory.
typedef struct plaid_int8_screen plaid_int8_screen;
plaid_int8_screen *plaid_int8_screen_create(const plaid_int16_centroids *quantized);
void plaid_int8_screen_destroy(plaid_int8_screen *screen);

/// One query token [dim] against centroids start ..< start + count, screened: the centroids
/// whose score could reach `threshold`, or be among the range's best `keep` while above `worst`
/// (−∞: any score), in increasing order, which[i] being the i-th one's offset in the range and
/// out[i] what plaid_int16_token_scores gives it. Every other centroid of the range scores below
/// `threshold`, and either below `worst` or below `keep` others of the range. which and out have
/// room for count; `scratch` holds 2 · count + keep floats. Returns how many were scored, or -1,
/// -2, -3 as plaid_int16_token_scores (-3 also for a screen of another table).
int plaid_int16_token_screened_scores(const plaid_int16_centroids *quantized, const plaid_int8_screen *screen,
                                      const float *token, int32_t start, int32_t count, float threshold, float worst,
                                      size_t keep, int32_t *which, float *out, float *scratch, int kernel);

#ifdef __cplusplus
}
#endif
#include "PlaidEncoderKernels.h"
#endif
