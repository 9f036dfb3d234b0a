// Stage 1's product, every centroid against every query token, in 16-bit integers (contract in
// PlaidKernels.h).
//
// Why: as an sgemm, stage 1 streams the float centroids (12 MB for 8,192 of dimension 384) and
// OpenBLAS repacks them for every query, most of a query's time at k = 10. The centroids are quantized once, to int16 rows half the bytes, and multiplied without
// any repacking: with AVX-512 VNNI one vpdpwssd makes 32 multiply-adds (float FMA: 16), with AVX2
// vpmaddwd + vpaddd make 16 in two instructions.
//
// Exactness: every centroid row has its own unit, chosen so that Σ|w| ≤ 2^19 − dim/2 before
// rounding (so ≤ 2^19 after) and |w| ≤ 32,767, every query token its own, so that |a| ≤ 4,095.
// Every partial sum is then below 4,095 · 2^19 < 2^31: the int32 sums are exact, whatever the
// vectors, and the only error is the rounding of the two inputs (bounded in the header). The
// split between the two budgets balances their errors for unit vectors: a query token's L1 norm
// is about 80 times its largest value at dimension 384, so the centroids get the finer units
// (a budget of 65,535 for the centroids and 32,767 for the query gives a bound three times
// larger for such vectors).
#include "PlaidKernels.h"
#include "kernel_common.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma clang diagnostic ignored "-Wpsabi"

// x rounded half to even, as lrintf rounds in the default mode, for |x| < 2^22 (every input here
// is at most 32,767): adding and removing 1.5·2^23 leaves the integer in the float's last bits.
// lrintf is a library call per value on generic x86-64, and grouped stage 1 quantizes a query
// token for every group a token probes.
static inline int16_t round_to_int16(float x) {
    const float magic = 12582912.0f;
    return (int16_t)(int32_t)((x + magic) - magic);
}

// Row r of a product is centroid ids[r], or centroid r where ids is NULL (every centroid).
#define CENTROID(ids, r) ((ids) ? (size_t)(ids)[r] : (size_t)(r))

static const float CENTROID_L1_BUDGET = 524288.0f;  // 2^19
static const float QUERY_LIMIT = 4095.0f;            // 4,095 · 2^19 < 2^31

struct plaid_int16_centroids {
    size_t k, dim, pairs;  // pairs: dim / 2 rounded up; a row holds 2 · pairs values, the last maybe 0
    int16_t *rows;         // [k][2 · pairs], 64-byte aligned
    float *scales;         // [k]: centroid c ≈ rows[c] · scales[c]
};

// A zeroed table of `bytes`, 64-byte aligned. From 2 MiB on it is asked for in huge pages:
// stages 1 and 4 of the grouped search read rows scattered over it, each on a page of its own
// with 4 KiB pages. NULL when out of memory.
static void *table_alloc(size_t bytes) {
    const size_t huge = (size_t)1 << 21;
    bytes = (bytes + 63) / 64 * 64;
    if (bytes >= huge) bytes = (bytes + huge - 1) / huge * huge;
    void *table = aligned_alloc(bytes >= huge ? huge : 64, bytes ? bytes : 64);
    if (!table) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= huge) madvise(table, bytes, MADV_HUGEPAGE);
#endif
    memset(table, 0, bytes);
    return table;
}

plaid_int16_centroids *plaid_int16_centroids_create(const float *centroids, size_t k, size_t dim) {
    plaid_int16_centroids *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->k = k; q->dim = dim; q->pairs = (dim + 1) / 2;
    const size_t stride = 2 * q->pairs;
    q->rows = table_alloc(k * stride * sizeof(int16_t));
    q->scales = malloc((k ? k : 1) * sizeof(float));
    if (!q->rows || !q->scales) { plaid_int16_centroids_destroy(q); return NULL; }
    const float budget = CENTROID_L1_BUDGET - 0.5f * (float)dim > 1.0f ? CENTROID_L1_BUDGET - 0.5f * (float)dim : 1.0f;
    for (size_t c = 0; c < k; c++) {
        const float *row = centroids + c * dim;
        float largest = 0.0f, sum = 0.0f;
        for (size_t i = 0; i < dim; i++) {
            const float a = fabsf(row[i]);
            largest = a > largest ? a : largest;
            sum += a;
        }
        float scale = largest / 32767.0f;
        if (sum * 1.0001f / budget > scale) scale = sum * 1.0001f / budget;
        q->scales[c] = scale;
        // Rows of magnitude under 1e-30 are taken as zero: 1/scale would overflow.
        const float inverse = scale > 1e-30f ? 1.0f / scale : 0.0f;
        for (size_t i = 0; i < dim; i++) q->rows[c * stride + i] = round_to_int16(row[i] * inverse);
    }
    return q;
}

void plaid_int16_centroids_destroy(plaid_int16_centroids *q) {
    if (!q) return;
    free(q->rows);
    free(q->scales);
    free(q);
}

// The query tokens as int16 pairs, [pair][token][2] with tokens padded to `lanes` (a multiple of
// 32) by zeros, one scale per token, so that one 32-bit lane holds a token's two inputs.
static void quantize_query(const float *query, size_t queryTokens, size_t dim, size_t pairs, size_t lanes,
                           int16_t *packed, float *tokenScales) {
    memset(packed, 0, pairs * lanes * 2 * sizeof(int16_t));
    for (size_t t = 0; t < lanes; t++) tokenScales[t] = 0.0f;
    for (size_t t = 0; t < queryTokens; t++) {
        const float *row = query + t * dim;
        float largest = 0.0f;
        for (size_t i = 0; i < dim; i++) largest = fabsf(row[i]) > largest ? fabsf(row[i]) : largest;
        tokenScales[t] = largest / QUERY_LIMIT;
        const float inverse = largest > 1e-30f ? QUERY_LIMIT / largest : 0.0f;
        for (size_t i = 0; i < dim; i++) packed[((i / 2) * lanes + t) * 2 + (i % 2)] = round_to_int16(row[i] * inverse);
    }
}

// The plain C products: the reference every vector kernel equals exactly (the int32 sums are
// exact and the scaling is the same two float multiplies).
static void scores_portable(const plaid_int16_centroids *q, const int32_t *ids, size_t count, const int16_t *packed,
                            const float *tokenScales, size_t lanes, size_t queryTokens, float *out) {
    const size_t stride = 2 * q->pairs;
    for (size_t c = 0; c < count; c++) {
        const size_t id = CENTROID(ids, c);
        const int16_t *w = q->rows + id * stride;
        for (size_t t = 0; t < queryTokens; t++) {
            int32_t sum = 0;
            for (size_t p = 0; p < q->pairs; p++)
                sum += (int32_t)packed[(p * lanes + t) * 2] * w[2 * p] + (int32_t)packed[(p * lanes + t) * 2 + 1] * w[2 * p + 1];
            out[c * queryTokens + t] = (float)sum * (q->scales[id] * tokenScales[t]);
        }
    }
}

#if defined(__x86_64__)
// Asks for the rows of centroids [from, from + count) (clipped to `rows`) to be brought into cache.
// Given ids, the rows lie anywhere in the table (stage 4 scores the centroids of the documents'
// codes, one table of 33 MB at 131,072 centroids of dimension 128), and a tile waiting for its
// rows from memory does no work meanwhile; the next tile's rows are asked for while this one computes.
static inline void prefetch_rows(const plaid_int16_centroids *q, const int32_t *ids, size_t from, size_t count, size_t rows) {
    if (!ids) return;  // consecutive rows: the hardware prefetcher follows them
    const size_t bytes = 2 * q->pairs * sizeof(int16_t);
    for (size_t c = from; c < from + count && c < rows; c++) {
        const char *row = (const char *)(q->rows + (size_t)ids[c] * 2 * q->pairs);
        for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(row + b);
    }
}

// AVX-512 VNNI: a tile of CENTROIDS centroids × 32 tokens (two vectors of 16 lanes). Each pair
// step loads the two token vectors once and multiplies them by each centroid's pair, broadcast.
enum { VNNI_CENTROIDS = 12 };

__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) static inline void
vnni_tile(const plaid_int16_centroids *q, const int32_t *ids, size_t c0, size_t count, const int16_t *packed,
          const float *tokenScales, size_t lanes, size_t t0, size_t queryTokens, float *out) {
    const size_t stride = 2 * q->pairs;
    __m512i acc[VNNI_CENTROIDS][2];
    for (size_t c = 0; c < VNNI_CENTROIDS; c++) { acc[c][0] = _mm512_setzero_si512(); acc[c][1] = _mm512_setzero_si512(); }
    const int32_t *rows[VNNI_CENTROIDS];
    for (size_t c = 0; c < VNNI_CENTROIDS; c++) rows[c] = (const int32_t *)(q->rows + CENTROID(ids, c0 + (c < count ? c : 0)) * stride);
    for (size_t p = 0; p < q->pairs; p++) {
        const __m512i a0 = _mm512_loadu_si512(packed + (p * lanes + t0) * 2);
        const __m512i a1 = _mm512_loadu_si512(packed + (p * lanes + t0 + 16) * 2);
        for (size_t c = 0; c < VNNI_CENTROIDS; c++) {
            const __m512i w = _mm512_set1_epi32(rows[c][p]);
            acc[c][0] = _mm512_dpwssd_epi32(acc[c][0], a0, w);
            acc[c][1] = _mm512_dpwssd_epi32(acc[c][1], a1, w);
        }
    }
    const size_t left = queryTokens - t0;
    const __mmask16 m0 = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1);
    const __mmask16 m1 = left >= 32 ? 0xFFFF : (left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1));
    const __m512 s0 = _mm512_loadu_ps(tokenScales + t0), s1 = _mm512_loadu_ps(tokenScales + t0 + 16);
    for (size_t c = 0; c < count; c++) {
        const __m512 sc = _mm512_set1_ps(q->scales[CENTROID(ids, c0 + c)]);
        float *o = out + (c0 + c) * queryTokens + t0;
        _mm512_mask_storeu_ps(o, m0, _mm512_mul_ps(_mm512_cvtepi32_ps(acc[c][0]), _mm512_mul_ps(sc, s0)));
        _mm512_mask_storeu_ps(o + 16, m1, _mm512_mul_ps(_mm512_cvtepi32_ps(acc[c][1]), _mm512_mul_ps(sc, s1)));
    }
}

// Centroid tiles outermost: a tile's rows (9 KB at dimension 384) stay in L1 while every token
// group of every query in the batch passes them, so the centroids stream from memory once per
// batch rather than once per query.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
scores_vnni(const plaid_int16_centroids *q, const int32_t *ids, size_t rows, const int16_t *packed, const float *tokenScales,
            size_t lanes, size_t queryTokens, size_t queries, float *out) {
    for (size_t c0 = 0; c0 < rows; c0 += VNNI_CENTROIDS) {
        const size_t count = rows - c0 < VNNI_CENTROIDS ? rows - c0 : VNNI_CENTROIDS;
        prefetch_rows(q, ids, c0 + VNNI_CENTROIDS, VNNI_CENTROIDS, rows);
        for (size_t b = 0; b < queries; b++)
            for (size_t t0 = 0; t0 < queryTokens; t0 += 32)
                vnni_tile(q, ids, c0, count, packed + b * q->pairs * lanes * 2, tokenScales + b * lanes, lanes, t0, queryTokens,
                          out + b * rows * queryTokens);
    }
}

// AVX2: a tile of 2 centroids × 32 tokens (four vectors of 8 lanes): vpmaddwd makes each lane's
// pair product, vpaddd adds it.
__attribute__((target("avx2"))) static void
scores_avx2(const plaid_int16_centroids *q, const int32_t *ids, size_t rows, const int16_t *packed, const float *tokenScales,
            size_t lanes, size_t queryTokens, float *out) {
    const size_t stride = 2 * q->pairs;
    for (size_t c0 = 0; c0 < rows; c0 += 2) {
        prefetch_rows(q, ids, c0 + 2, 2, rows);
        for (size_t t0 = 0; t0 < queryTokens; t0 += 32) {
            const size_t left = queryTokens - t0, vectors = left >= 32 ? 4 : (left + 7) / 8;
            const size_t count = rows - c0 < 2 ? 1 : 2;
            const int32_t *r0 = (const int32_t *)(q->rows + CENTROID(ids, c0) * stride);
            const int32_t *r1 = (const int32_t *)(q->rows + CENTROID(ids, c0 + count - 1) * stride);
            __m256i acc0[4], acc1[4];
            for (int v = 0; v < 4; v++) { acc0[v] = _mm256_setzero_si256(); acc1[v] = _mm256_setzero_si256(); }
            for (size_t p = 0; p < q->pairs; p++) {
                const __m256i w0 = _mm256_set1_epi32(r0[p]), w1 = _mm256_set1_epi32(r1[p]);
                for (size_t v = 0; v < 4; v++) {
                    if (v >= vectors) break;
                    const __m256i a = _mm256_loadu_si256((const __m256i *)(packed + (p * lanes + t0 + 8 * v) * 2));
                    acc0[v] = _mm256_add_epi32(acc0[v], _mm256_madd_epi16(a, w0));
                    acc1[v] = _mm256_add_epi32(acc1[v], _mm256_madd_epi16(a, w1));
                }
            }
            for (size_t c = 0; c < count; c++) {
                const __m256 sc = _mm256_set1_ps(q->scales[CENTROID(ids, c0 + c)]);
                float *o = out + (c0 + c) * queryTokens + t0;
                for (size_t v = 0; v < vectors; v++) {
                    float lane[8];
                    _mm256_storeu_ps(lane, _mm256_mul_ps(_mm256_cvtepi32_ps(c == 0 ? acc0[v] : acc1[v]),
                                                         _mm256_mul_ps(sc, _mm256_loadu_ps(tokenScales + t0 + 8 * v))));
                    const size_t n = left - 8 * v < 8 ? left - 8 * v : 8;
                    memcpy(o + 8 * v, lane, n * sizeof(float));
                }
            }
        }
    }
}
#endif

int plaid_int16_scores_has_avx2(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

// The kernel asked for, AUTOMATIC resolved to the best this CPU runs; -1 where it lacks one asked for.
static int available_kernel(int kernel) {
    if (kernel == PLAID_INT16_KERNEL_AUTOMATIC)
        return plaid_int8_nearest_has_vnni() ? PLAID_INT16_KERNEL_VNNI
               : plaid_int16_scores_has_avx2() ? PLAID_INT16_KERNEL_AVX2 : PLAID_INT16_KERNEL_PORTABLE;
    if (kernel == PLAID_INT16_KERNEL_VNNI && !plaid_int8_nearest_has_vnni()) return -1;
    if (kernel == PLAID_INT16_KERNEL_AVX2 && !plaid_int16_scores_has_avx2()) return -1;
    return kernel;
}

// The product of `queries` queries with `rows` centroids (ids, or all of them where ids is NULL).
static int centroid_scores(const plaid_int16_centroids *q, const int32_t *ids, size_t rows, const float *query, size_t queries,
                           size_t queryTokens, float *out, int kernel) {
    kernel = available_kernel(kernel);
    if (kernel < 0) return -1;
    for (size_t r = 0; ids && r < rows; r++)
        if (ids[r] < 0 || (size_t)ids[r] >= q->k) return -3;
    // Lanes padded to a whole 32-token group, so the vector kernels read whole vectors.
    const size_t lanes = (queryTokens + 31) / 32 * 32, perQuery = q->pairs * lanes * 2;
    int16_t *packed = aligned_alloc(64, (queries * perQuery * sizeof(int16_t) + 63) / 64 * 64 + 64);
    float *tokenScales = malloc((queries * lanes ? queries * lanes : 1) * sizeof(float));
    if (!packed || !tokenScales) { free(packed); free(tokenScales); return -2; }
    for (size_t b = 0; b < queries; b++)
        quantize_query(query + b * queryTokens * q->dim, queryTokens, q->dim, q->pairs, lanes, packed + b * perQuery,
                       tokenScales + b * lanes);
    switch (kernel) {
#if defined(__x86_64__)
    case PLAID_INT16_KERNEL_VNNI: scores_vnni(q, ids, rows, packed, tokenScales, lanes, queryTokens, queries, out); break;
    case PLAID_INT16_KERNEL_AVX2:
        // The AVX2 and the plain kernels take the queries one at a time.
        for (size_t b = 0; b < queries; b++)
            scores_avx2(q, ids, rows, packed + b * perQuery, tokenScales + b * lanes, lanes, queryTokens, out + b * rows * queryTokens);
        break;
#endif
    default:
        for (size_t b = 0; b < queries; b++)
            scores_portable(q, ids, rows, packed + b * perQuery, tokenScales + b * lanes, lanes, queryTokens,
                            out + b * rows * queryTokens);
        break;
    }
    free(packed);
    free(tokenScales);
    return 0;
}

int plaid_int16_centroid_scores(const plaid_int16_centroids *q, const float *query, size_t queries, size_t queryTokens,
                                float *out, int kernel) {
    return centroid_scores(q, NULL, q->k, query, queries, queryTokens, out, kernel);
}

int plaid_int16_centroid_scores_of(const plaid_int16_centroids *q, const int32_t *ids, size_t count, const float *query,
                                   size_t queryTokens, float *out, int kernel) {
    return centroid_scores(q, ids, count, query, 1, queryTokens, out, kernel);
}

// ---- One token against chosen centroids (grouped search's stage 1) ---------------------------
//
// The same exact int32 sums as the tile kernels, so the same floats, one dot product per centroid:
// a query token's own groups differ from the other tokens', so there is no tile to share.

static int32_t token_dot_portable(const int16_t *a, const int16_t *w, size_t pairs) {
    int32_t sum = 0;
    for (size_t i = 0; i < 2 * pairs; i++) sum += (int32_t)a[i] * w[i];
    return sum;
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static int32_t token_dot_vnni(const int16_t *a, const int16_t *w, size_t pairs) {
    __m512i acc = _mm512_setzero_si512();
    size_t p = 0;
    for (; p + 16 <= pairs; p += 16)
        acc = _mm512_dpwssd_epi32(acc, _mm512_loadu_si512(a + 2 * p), _mm512_loadu_si512(w + 2 * p));
    if (p < pairs) {
        const __mmask16 m = (__mmask16)((1u << (pairs - p)) - 1);
        acc = _mm512_dpwssd_epi32(acc, _mm512_maskz_loadu_epi32(m, a + 2 * p), _mm512_maskz_loadu_epi32(m, w + 2 * p));
    }
    return _mm512_reduce_add_epi32(acc);
}

// Four consecutive centroid rows against one token: the token's vectors are loaded once for the
// four, the four dependency chains overlap, and the rows eight ahead are prefetched (a group's rows
// are contiguous, but a token's groups lie anywhere in the centroids).
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void token_dot4_vnni(const int16_t *a, const int16_t *w, size_t stride,
                                                                                   size_t pairs, int32_t *sums) {
    __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (size_t line = 0; line < stride * sizeof(int16_t) * 4; line += 64) __builtin_prefetch((const char *)(w + 8 * stride) + line, 0, 1);
    size_t p = 0;
    for (; p + 16 <= pairs; p += 16) {
        const __m512i x = _mm512_loadu_si512(a + 2 * p);
        acc0 = _mm512_dpwssd_epi32(acc0, x, _mm512_loadu_si512(w + 2 * p));
        acc1 = _mm512_dpwssd_epi32(acc1, x, _mm512_loadu_si512(w + stride + 2 * p));
        acc2 = _mm512_dpwssd_epi32(acc2, x, _mm512_loadu_si512(w + 2 * stride + 2 * p));
        acc3 = _mm512_dpwssd_epi32(acc3, x, _mm512_loadu_si512(w + 3 * stride + 2 * p));
    }
    if (p < pairs) {
        const __mmask16 m = (__mmask16)((1u << (pairs - p)) - 1);
        const __m512i x = _mm512_maskz_loadu_epi32(m, a + 2 * p);
        acc0 = _mm512_dpwssd_epi32(acc0, x, _mm512_maskz_loadu_epi32(m, w + 2 * p));
        acc1 = _mm512_dpwssd_epi32(acc1, x, _mm512_maskz_loadu_epi32(m, w + stride + 2 * p));
        acc2 = _mm512_dpwssd_epi32(acc2, x, _mm512_maskz_loadu_epi32(m, w + 2 * stride + 2 * p));
        acc3 = _mm512_dpwssd_epi32(acc3, x, _mm512_maskz_loadu_epi32(m, w + 3 * stride + 2 * p));
    }
    sums[0] = _mm512_reduce_add_epi32(acc0);
    sums[1] = _mm512_reduce_add_epi32(acc1);
    sums[2] = _mm512_reduce_add_epi32(acc2);
    sums[3] = _mm512_reduce_add_epi32(acc3);
}

__attribute__((target("avx2"))) static int32_t token_dot_avx2(const int16_t *a, const int16_t *w, size_t pairs) {
    __m256i acc = _mm256_setzero_si256();
    size_t p = 0;
    for (; p + 8 <= pairs; p += 8)
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(a + 2 * p)),
                                                      _mm256_loadu_si256((const __m256i *)(w + 2 * p))));
    int32_t lane[8];
    _mm256_storeu_si256((__m256i *)lane, acc);
    int32_t sum = 0;
    for (int i = 0; i < 8; i++) sum += lane[i];
    for (; p < pairs; p++) sum += (int32_t)a[2 * p] * w[2 * p] + (int32_t)a[2 * p + 1] * w[2 * p + 1];
    return sum;
}

// Four consecutive rows against one token, as token_dot4_vnni: the token's vectors loaded once,
// four chains overlapped, one horizontal sum for the four (two rounds of pair adds), the rows
// eight ahead prefetched. The int32 sums are those of token_dot_avx2.
__attribute__((target("avx2"))) static void token_dot4_avx2(const int16_t *a, const int16_t *w, size_t stride, size_t pairs,
                                                            int32_t *sums) {
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (size_t line = 0; line < stride * sizeof(int16_t) * 4; line += 64) __builtin_prefetch((const char *)(w + 8 * stride) + line, 0, 1);
    size_t p = 0;
    for (; p + 8 <= pairs; p += 8) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(a + 2 * p));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(x, _mm256_loadu_si256((const __m256i *)(w + 2 * p))));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(x, _mm256_loadu_si256((const __m256i *)(w + stride + 2 * p))));
        acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(x, _mm256_loadu_si256((const __m256i *)(w + 2 * stride + 2 * p))));
        acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(x, _mm256_loadu_si256((const __m256i *)(w + 3 * stride + 2 * p))));
    }
    // [a0+a1 pairs, b0+b1 pairs | ...] then the two 128-bit halves added: lane i is row i's sum.
    const __m256i ab = _mm256_hadd_epi32(acc0, acc1), cd = _mm256_hadd_epi32(acc2, acc3);
    const __m256i abcd = _mm256_hadd_epi32(ab, cd);
    const __m128i total = _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
    _mm_storeu_si128((__m128i *)sums, total);
    for (; p < pairs; p++)
        for (size_t r = 0; r < 4; r++)
            sums[r] += (int32_t)a[2 * p] * w[r * stride + 2 * p] + (int32_t)a[2 * p + 1] * w[r * stride + 2 * p + 1];
}
#endif

// One token [dim] quantized as quantize_query does it, in natural order (pairs of dimensions),
// into a (whose first dim values it writes); returns the token's unit.
static float quantize_token(const float *token, size_t dim, int16_t *a) {
    float largest = 0.0f;
    for (size_t i = 0; i < dim; i++) largest = fabsf(token[i]) > largest ? fabsf(token[i]) : largest;
    const float inverse = largest > 1e-30f ? QUERY_LIMIT / largest : 0.0f;
    for (size_t i = 0; i < dim; i++) a[i] = round_to_int16(token[i] * inverse);
    return largest / QUERY_LIMIT;
}

// The exact 16-bit product of token a with centroid c, one row at a time.
static int32_t exact_dot(const plaid_int16_centroids *q, const int16_t *a, size_t c, int kernel) {
    const int16_t *w = q->rows + c * 2 * q->pairs;
    switch (kernel) {
#if defined(__x86_64__)
    case PLAID_INT16_KERNEL_VNNI: return token_dot_vnni(a, w, q->pairs);
    case PLAID_INT16_KERNEL_AVX2: return token_dot_avx2(a, w, q->pairs);
#endif
    default: return token_dot_portable(a, w, q->pairs);
    }
}

int plaid_int16_token_scores(const plaid_int16_centroids *q, const float *token, const int32_t *starts, const int32_t *counts,
                             size_t ranges, float *out, int kernel) {
    kernel = available_kernel(kernel);
    if (kernel < 0) return -1;
    for (size_t g = 0; g < ranges; g++)
        if (starts[g] < 0 || counts[g] < 0 || (size_t)starts[g] + (size_t)counts[g] > q->k) return -3;
    // The quantized token on the stack up to dimension 1,024.
    enum { STACK_PAIRS = 512 };
    int16_t local[2 * STACK_PAIRS + 32] __attribute__((aligned(64)));
    int16_t *a = q->pairs <= STACK_PAIRS ? local : aligned_alloc(64, (2 * q->pairs * sizeof(int16_t) + 63) / 64 * 64 + 64);
    if (!a) return -2;
    memset(a, 0, 2 * q->pairs * sizeof(int16_t));
    const float tokenScale = quantize_token(token, q->dim, a);
    const size_t stride = 2 * q->pairs;
    for (size_t g = 0; g < ranges; g++) {
        size_t c = (size_t)starts[g];
        const size_t end = (size_t)starts[g] + (size_t)counts[g];
#if defined(__x86_64__)
        if (kernel == PLAID_INT16_KERNEL_VNNI || kernel == PLAID_INT16_KERNEL_AVX2)
            for (; c + 4 <= end; c += 4) {
                int32_t sums[4];
                if (kernel == PLAID_INT16_KERNEL_VNNI) token_dot4_vnni(a, q->rows + c * stride, stride, q->pairs, sums);
                else token_dot4_avx2(a, q->rows + c * stride, stride, q->pairs, sums);
                for (size_t i = 0; i < 4; i++) *out++ = (float)sums[i] * (q->scales[c + i] * tokenScale);
            }
#endif
        for (; c < end; c++) *out++ = (float)exact_dot(q, a, c, kernel) * (q->scales[c] * tokenScale);
    }
    if (a != local) free(a);
    return 0;
}

// ---- Stage 1 screened: 8-bit rows bound the 16-bit products ---------------------------------
//
// A token's group scores read every row of its groups from memory (256 bytes a row at dimension
// 128), and most of those scores decide nothing: they are neither at the threshold nor among the
// token's best few. Each 16-bit row w is also kept as 8 bits, w = m·h + l with the integer
// multiplier m = ⌈max|w|/127⌉, h = round(w/m) and |l| ≤ L = max|l| ≤ m/2, so that for the
// token's 16-bit a, Σ a·w = m·Σ a·h + Σ a·l lies within m·Σ a·h ± L·‖a‖₁: exact integer bounds,
// from half the bytes. Rounding to float and scaling by the same positive factor keeps their
// order, so the bounds of the float the 16-bit product gives are those of the two integers, and a
// row whose upper bound decides nothing need never be read in 16 bits.

struct plaid_int8_screen {
    size_t k, stride;  // stride: a row's bytes, 2 · pairs rounded up to 32 (zeros past dim)
    int8_t *rows;      // [k][stride], 64-byte aligned
    int32_t *multiplier, *slack;  // [k]: m and L
};

plaid_int8_screen *plaid_int8_screen_create(const plaid_int16_centroids *q) {
    plaid_int8_screen *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->k = q->k;
    s->stride = (2 * q->pairs + 31) / 32 * 32;
    s->rows = table_alloc(q->k * s->stride);
    s->multiplier = malloc((q->k ? q->k : 1) * sizeof(int32_t));
    s->slack = malloc((q->k ? q->k : 1) * sizeof(int32_t));
    if (!s->rows || !s->multiplier || !s->slack) { plaid_int8_screen_destroy(s); return NULL; }
    const size_t stride16 = 2 * q->pairs;
    for (size_t c = 0; c < q->k; c++) {
        const int16_t *w = q->rows + c * stride16;
        int32_t largest = 0;
        for (size_t i = 0; i < stride16; i++) largest = abs(w[i]) > largest ? abs(w[i]) : largest;
        const int32_t m = largest > 0 ? (largest + 126) / 127 : 1;
        int32_t slack = 0;
        for (size_t i = 0; i < stride16; i++) {
            // Rounded to nearest, half away from zero, in integers: |h| ≤ 127 since |w| ≤ 127·m.
            const int32_t h = w[i] >= 0 ? (w[i] + m / 2) / m : -((-w[i] + m / 2) / m);
            const int32_t l = w[i] - m * h;
            slack = abs(l) > slack ? abs(l) : slack;
            s->rows[c * s->stride + i] = (int8_t)h;
        }
        s->multiplier[c] = m;
        s->slack[c] = slack;
    }
    return s;
}

void plaid_int8_screen_destroy(plaid_int8_screen *s) {
    if (!s) return;
    free(s->rows);
    free(s->multiplier);
    free(s->slack);
    free(s);
}

static int32_t screen_dot_portable(const int16_t *a, const int8_t *h, size_t n) {
    int32_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += (int32_t)a[i] * h[i];
    return sum;
}

#if defined(__x86_64__)
// Four consecutive 8-bit rows against one token (n a multiple of 32): each 16 bytes widened to
// 16 bits and multiplied in pairs as token_dot4_avx2 does, the rows eight ahead prefetched.
__attribute__((target("avx2"))) static void screen_dot4_avx2(const int16_t *a, const int8_t *h, size_t stride, size_t n,
                                                             int32_t *sums) {
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (size_t line = 0; line < stride * 4; line += 64) __builtin_prefetch(h + 8 * stride + line, 0, 1);
    for (size_t i = 0; i < n; i += 16) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(a + i));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(x, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(h + i)))));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(x, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(h + stride + i)))));
        acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(x, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(h + 2 * stride + i)))));
        acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(x, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(h + 3 * stride + i)))));
    }
    const __m256i ab = _mm256_hadd_epi32(acc0, acc1), cd = _mm256_hadd_epi32(acc2, acc3);
    const __m256i abcd = _mm256_hadd_epi32(ab, cd);
    _mm_storeu_si128((__m128i *)sums, _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1)));
}
#endif

// The keep-th largest of n values (keep ≤ n), by insertion into a small sorted buffer.
static float keepth_largest(const float *v, size_t n, size_t keep, float *best) {
    size_t filled = 0;
    for (size_t j = 0; j < n; j++) {
        const float x = v[j];
        if (filled == keep && !(x > best[keep - 1])) continue;
        size_t at = filled < keep ? filled++ : keep - 1;
        while (at > 0 && best[at - 1] < x) { best[at] = best[at - 1]; at--; }
        best[at] = x;
    }
    return best[keep - 1];
}

// The bounds of four consecutive rows' products, from their 8-bit sums: in doubles, where every
// product and sum here is an exact integer (below 2^35), so that each float is the one rounding
// of the integer bound, as (float) of an int64 gives.
#if defined(__x86_64__)
__attribute__((target("avx2"))) static void bounds4_avx2(const plaid_int16_centroids *q, const plaid_int8_screen *screen, size_t c,
                                                         const int32_t *sums, double norm1, float tokenScale, float *lower, float *upper) {
    const __m256d sum = _mm256_cvtepi32_pd(_mm_loadu_si128((const __m128i *)sums));
    const __m256d centre = _mm256_mul_pd(_mm256_cvtepi32_pd(_mm_loadu_si128((const __m128i *)(screen->multiplier + c))), sum);
    const __m256d spread = _mm256_mul_pd(_mm256_cvtepi32_pd(_mm_loadu_si128((const __m128i *)(screen->slack + c))), _mm256_set1_pd(norm1));
    const __m128 unit = _mm_mul_ps(_mm_loadu_ps(q->scales + c), _mm_set1_ps(tokenScale));
    _mm_storeu_ps(lower, _mm_mul_ps(_mm256_cvtpd_ps(_mm256_sub_pd(centre, spread)), unit));
    _mm_storeu_ps(upper, _mm_mul_ps(_mm256_cvtpd_ps(_mm256_add_pd(centre, spread)), unit));
}
#endif

int plaid_int16_token_screened_scores(const plaid_int16_centroids *q, const plaid_int8_screen *screen, const float *token,
                                      int32_t start, int32_t count, float threshold, float worst, size_t keep, int32_t *which,
                                      float *out, float *scratch, int kernel) {
    kernel = available_kernel(kernel);
    if (kernel < 0) return -1;
    if (start < 0 || count < 0 || (size_t)start + (size_t)count > q->k || screen->k != q->k) return -3;
    enum { STACK_VALUES = 1024 + 32 };
    int16_t local[STACK_VALUES] __attribute__((aligned(64)));
    int16_t *a = screen->stride <= STACK_VALUES ? local : aligned_alloc(64, (screen->stride * sizeof(int16_t) + 63) / 64 * 64);
    if (!a) return -2;
    memset(a, 0, screen->stride * sizeof(int16_t));
    const float tokenScale = quantize_token(token, q->dim, a);
    int64_t norm1 = 0;
    for (size_t i = 0; i < q->dim; i++) norm1 += a[i] < 0 ? -a[i] : a[i];
    // The bounds of every product: lower ones in scratch, upper ones in scratch + n.
    const size_t n = (size_t)count;
    float *lower = scratch, *upper = scratch + n;
    size_t j = 0;
#if defined(__x86_64__)
    if (kernel != PLAID_INT16_KERNEL_PORTABLE)
        for (; j + 4 <= n; j += 4) {
            int32_t sums[4];
            const size_t c = (size_t)start + j;
            screen_dot4_avx2(a, screen->rows + c * screen->stride, screen->stride, screen->stride, sums);
            bounds4_avx2(q, screen, c, sums, (double)norm1, tokenScale, lower + j, upper + j);
        }
#endif
    for (; j < n; j++) {
        const size_t c = (size_t)start + j;
        const int32_t sum = screen_dot_portable(a, screen->rows + c * screen->stride, screen->stride);
        const int64_t centre = (int64_t)screen->multiplier[c] * sum, spread = (int64_t)screen->slack[c] * norm1;
        const float unit = q->scales[c] * tokenScale;
        lower[j] = (float)(centre - spread) * unit;
        upper[j] = (float)(centre + spread) * unit;
    }
    // What a score must reach to matter: the threshold, or a place among the best `keep`, which
    // needs more than `worst` and more than the keep-th largest lower bound of the range (that
    // many centroids score at least their lower bounds).
    float bar = worst;
    if (keep > 0 && keep <= n) {
        const float floor = keepth_largest(lower, n, keep, upper + n);
        bar = floor > bar ? floor : bar;
    }
    if (threshold < bar) bar = threshold;
    int exact = 0;
    for (j = 0; j < n; j++) {
        if (upper[j] < bar) continue;
        const size_t c = (size_t)start + j;
        which[exact] = (int32_t)j;
        out[exact++] = (float)exact_dot(q, a, c, kernel) * (q->scales[c] * tokenScale);
    }
    if (a != local) free(a);
    return exact;
}
