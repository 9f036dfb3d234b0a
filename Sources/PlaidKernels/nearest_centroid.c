// Nearest centroid of many vectors through 8-bit products with an exact finish.
//
// Assigning every token to its nearest of thousands of centroids is most of an index build.
// Here the products run on 8-bit integers (AVX-512 VNNI: 64 multiply-adds per instruction,
// four times a float FMA), and the 8-bit scores carry a proven error bound: every centroid
// whose approximate score comes within twice that bound of the best is scored again in float,
// and the best of those is the answer. So the result is the float argmax, not an estimate;
// only the order of the float sums differs from one sgemm.
//
// Quantization: a row v (a vector or a centroid) becomes v̂ = round(v / s), s = max|v| / 127.
// With x = sx·x̂ + ex and c = sc·ĉ + ec (|ex_j| ≤ sx/2, |ec_j| ≤ sc/2):
//   x·c − sx·sc·(x̂·ĉ) = sx·x̂·ec + ex·c,   |…| ≤ sc/2·(‖x‖₁ + dim·sx/2) + sx/2·‖c‖₁.
// VNNI multiplies unsigned by signed bytes, so the vector is stored as x̂ + 128 and 128·Σĉ is
// taken off the integer sum.
#include "PlaidKernels.h"
#include "kernel_common.h"
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { COLUMNS_PER_TILE = 64, ROWS_PER_TILE = 4, ROWS_PER_BLOCK = 64 };

struct plaid_int8_centroids {
    size_t count;       // k
    size_t dim;
    size_t steps;       // ceil(dim / 4): groups of 4 dimensions, one VNNI lane each
    size_t tiles;       // ceil(k / 64)
    int8_t *codes;      // [tiles][steps][64 centroids][4 dimensions]; padding is 0
    float *scales;      // [tiles·64]
    int32_t *offsets;   // [tiles·64]: 128·Σ_j ĉ_j, the unsigned-offset correction
    float maxScale;     // max over centroids of sc
    float maxL1;        // max over centroids of ‖c‖₁
    float *bias;        // [tiles·64]: the caller's bias (0 without), +∞ for padding columns
};

static float quantize_row(const float *v, size_t dim, int8_t *out, float *l1) {
    float maxAbs = 0.0f, sum = 0.0f;
    for (size_t j = 0; j < dim; j++) {
        float a = fabsf(v[j]);
        maxAbs = a > maxAbs ? a : maxAbs;
        sum += a;
    }
    float scale = maxAbs > 0.0f ? maxAbs / 127.0f : 1.0f;
    for (size_t j = 0; j < dim; j++) {
        // Round half to even by the float addition of 1.5·2^23 (exact for |x| ≤ 2^22, and |x| ≤ 127
        // here): nearbyintf's answer without its library call, which was a tenth of an assignment.
        float q = (v[j] / scale + 12582912.0f) - 12582912.0f;
        out[j] = (int8_t)(q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q));
    }
    *l1 = sum;
    return scale;
}

plaid_int8_centroids *plaid_int8_centroids_create(const float *centroids, const float *bias, size_t k, size_t dim) {
    plaid_int8_centroids *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->count = k;
    q->dim = dim;
    q->steps = (dim + 3) / 4;
    q->tiles = (k + COLUMNS_PER_TILE - 1) / COLUMNS_PER_TILE;
    size_t columns = q->tiles * COLUMNS_PER_TILE;
    q->codes = aligned_alloc(64, q->tiles * q->steps * COLUMNS_PER_TILE * 4);
    q->scales = calloc(columns, sizeof(float));
    q->offsets = calloc(columns, sizeof(int32_t));
    q->bias = malloc(columns * sizeof(float));
    int8_t *row = malloc(dim);
    if (!q->codes || !q->scales || !q->offsets || !q->bias || !row) {
        free(row);
        plaid_int8_centroids_destroy(q);
        return NULL;
    }
    memset(q->codes, 0, q->tiles * q->steps * COLUMNS_PER_TILE * 4);
    for (size_t c = k; c < columns; c++) q->bias[c] = INFINITY;
    for (size_t c = 0; c < k; c++) {
        float l1;
        float scale = quantize_row(centroids + c * dim, dim, row, &l1);
        int32_t sum = 0;
        size_t tile = c / COLUMNS_PER_TILE, lane = c % COLUMNS_PER_TILE;
        for (size_t j = 0; j < dim; j++) {
            sum += row[j];
            q->codes[((tile * q->steps + j / 4) * COLUMNS_PER_TILE + lane) * 4 + j % 4] = row[j];
        }
        q->scales[c] = scale;
        q->offsets[c] = 128 * sum;
        q->bias[c] = bias ? bias[c] : 0.0f;
        q->maxScale = scale > q->maxScale ? scale : q->maxScale;
        q->maxL1 = l1 > q->maxL1 ? l1 : q->maxL1;
    }
    free(row);
    return q;
}

void plaid_int8_centroids_destroy(plaid_int8_centroids *q) {
    if (!q) return;
    free(q->codes);
    free(q->scales);
    free(q->offsets);
    free(q->bias);
    free(q);
}

int plaid_int8_nearest_has_vnni(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
}

int plaid_int8_nearest_has_avx2(void) {
    return __builtin_cpu_supports("avx2");
}

// What the products of one tile leave behind for each of its rows: the best approximate score
// so far, and every centroid not yet ruled out by it (index and approximate score, in index
// order). A centroid below best − 2·bound can never win, and best only grows, so one pass over
// the tiles keeps a superset of the final candidates without storing a score matrix.
//
// In top-p mode (topP > 0) the row keeps instead its p best approximate scores so far, best
// first (indices and scores hold them; count ≤ p); a later equal score ranks after.
typedef struct {
    float best;
    float margin;       // twice the row's error bound, plus rounding slack
    size_t count;
    int32_t *indices;   // capacity: the padded centroid count
    float *scores;
    size_t topP;
} candidates;

// The score a centroid must beat to enter a top-p row.
static inline float top_threshold(const candidates *row) {
    return row->count < row->topP ? -INFINITY : row->scores[row->topP - 1];
}

static inline void offer_top(candidates *row, int32_t c, float v) {
    const size_t p = row->topP;
    if (!(v > top_threshold(row))) return;
    size_t at = row->count < p ? row->count++ : p - 1;
    while (at > 0 && v > row->scores[at - 1]) {
        row->scores[at] = row->scores[at - 1];
        row->indices[at] = row->indices[at - 1];
        at--;
    }
    row->scores[at] = v;
    row->indices[at] = c;
}

static inline void keep_candidate(candidates *row, int32_t c, float score) {
    row->indices[row->count] = c;
    row->scores[row->count] = score;
    row->count++;
}

// Integer products of 4 vectors (`u`, [4][steps·4] unsigned bytes) with one tile of 64
// centroids, turned into approximate scores sx·sc·(x̂·ĉ) − bias and absorbed into `rows`.
typedef void (*tile_kernel)(const plaid_int8_centroids *q, size_t tile, const uint8_t *u, const float *rowScale,
                            candidates *rows, size_t liveRows);

// The approximate score of one product; both kernels compute it with these same float steps.
#pragma clang fp contract(off)
static inline float approximate_score(int32_t product, float rowScale, float columnScale, float bias) {
    return (float)product * (rowScale * columnScale) - bias;
}
#pragma clang fp contract(on)

static void tile_kernel_portable(const plaid_int8_centroids *q, size_t tile, const uint8_t *u, const float *rowScale,
                                 candidates *rows, size_t liveRows) {
    const size_t steps = q->steps;
    const int8_t *codes = q->codes + tile * steps * COLUMNS_PER_TILE * 4;
    for (size_t r = 0; r < liveRows; r++) {
        const uint8_t *x = u + r * steps * 4;
        float scores[COLUMNS_PER_TILE];
        float best = rows[r].best;
        for (int l = 0; l < COLUMNS_PER_TILE; l++) {
            int32_t sum = 0;
            for (size_t s = 0; s < steps; s++)
                for (int t = 0; t < 4; t++) sum += (int32_t)x[s * 4 + t] * codes[(s * COLUMNS_PER_TILE + l) * 4 + t];
            size_t c = tile * COLUMNS_PER_TILE + l;
            scores[l] = approximate_score(sum - q->offsets[c], rowScale[r], q->scales[c], q->bias[c]);
            best = scores[l] > best ? scores[l] : best;
        }
        rows[r].best = best;
        for (int l = 0; l < COLUMNS_PER_TILE; l++) {
            if (rows[r].topP) offer_top(&rows[r], (int32_t)(tile * COLUMNS_PER_TILE + l), scores[l]);
            else if (scores[l] >= best - rows[r].margin) keep_candidate(&rows[r], (int32_t)(tile * COLUMNS_PER_TILE + l), scores[l]);
        }
    }
}

__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void tile_kernel_vnni(const plaid_int8_centroids *q, size_t tile, const uint8_t *u, const float *rowScale,
                             candidates *rows, size_t liveRows) {
    const size_t steps = q->steps, stride = steps * 4;
    const int8_t *codes = q->codes + tile * steps * COLUMNS_PER_TILE * 4;
    __m512i a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00;
    __m512i a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    __m512i a20 = a00, a21 = a00, a22 = a00, a23 = a00;
    __m512i a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    for (size_t s = 0; s < steps; s++) {
        const int8_t *lanes = codes + s * COLUMNS_PER_TILE * 4;
        __m512i b0 = _mm512_load_si512((const void *)lanes);
        __m512i b1 = _mm512_load_si512((const void *)(lanes + 64));
        __m512i b2 = _mm512_load_si512((const void *)(lanes + 128));
        __m512i b3 = _mm512_load_si512((const void *)(lanes + 192));
        int32_t w;
#define ROW(R)                                                                  \
        memcpy(&w, u + R * stride + s * 4, 4);                                  \
        {                                                                       \
            __m512i x = _mm512_set1_epi32(w);                                   \
            a##R##0 = _mm512_dpbusd_epi32(a##R##0, x, b0);                      \
            a##R##1 = _mm512_dpbusd_epi32(a##R##1, x, b1);                      \
            a##R##2 = _mm512_dpbusd_epi32(a##R##2, x, b2);                      \
            a##R##3 = _mm512_dpbusd_epi32(a##R##3, x, b3);                      \
        }
        ROW(0) ROW(1) ROW(2) ROW(3)
#undef ROW
    }
    const size_t c0 = tile * COLUMNS_PER_TILE;
    __m512i sums[ROWS_PER_TILE][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}, {a20, a21, a22, a23}, {a30, a31, a32, a33}};
    for (size_t r = 0; r < liveRows; r++) {
        __m512 scale = _mm512_set1_ps(rowScale[r]);
        __m512 scores[4];
        __m512 best = _mm512_set1_ps(rows[r].best);
        for (int g = 0; g < 4; g++) {
            __m512i product = _mm512_sub_epi32(sums[r][g], _mm512_loadu_si512((const void *)(q->offsets + c0 + 16 * g)));
            __m512 factor = _mm512_mul_ps(scale, _mm512_loadu_ps(q->scales + c0 + 16 * g));
            scores[g] = _mm512_sub_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(product), factor), _mm512_loadu_ps(q->bias + c0 + 16 * g));
            best = _mm512_max_ps(best, scores[g]);
        }
        float rowBest = _mm512_reduce_max_ps(best);
        rows[r].best = rowBest;
        if (rows[r].topP) {
            // Most tiles hold no score above the p-th best so far: one comparison each rules them out.
            for (int g = 0; g < 4; g++) {
                __mmask16 above = _mm512_cmp_ps_mask(scores[g], _mm512_set1_ps(top_threshold(&rows[r])), _CMP_GT_OQ);
                if (!above) continue;
                float values[16];
                _mm512_storeu_ps(values, scores[g]);
                for (int l = 0; l < 16; l++)
                    if (above & (1u << l)) offer_top(&rows[r], (int32_t)(c0 + 16 * g + l), values[l]);
            }
            continue;
        }
        __m512 cutoff = _mm512_set1_ps(rowBest - rows[r].margin);
        for (int g = 0; g < 4; g++) {
            __mmask16 kept = _mm512_cmp_ps_mask(scores[g], cutoff, _CMP_GE_OQ);
            if (!kept) continue;
            float values[16];
            _mm512_storeu_ps(values, scores[g]);
            for (int l = 0; l < 16; l++)
                if (kept & (1u << l)) keep_candidate(&rows[r], (int32_t)(c0 + 16 * g + l), values[l]);
        }
    }
}

// The same integer products on AVX2, which has no unsigned-by-signed 4-byte dot product that
// cannot overflow: maddubs sums two u8·s8 products into 16 bits with saturation, and (x̂+128)·ĉ
// pairs reach 64,770. So the row is taken back to signed x̂ (the stored byte XOR 0x80), and
// |x̂|·(sgn(x̂)·ĉ) pairs stay within 2·127·127 = 32,258. The sums are Σ x̂·ĉ, which is what the
// other kernels' sums are once the offset 128·Σĉ is taken off: the same integers, so the same
// scores and the same candidates. One row at a time: 8 accumulators of 8 centroids each.
__attribute__((target("avx2")))
static void tile_kernel_avx2(const plaid_int8_centroids *q, size_t tile, const uint8_t *u, const float *rowScale,
                             candidates *rows, size_t liveRows) {
    const size_t steps = q->steps, stride = steps * 4;
    const int8_t *codes = q->codes + tile * steps * COLUMNS_PER_TILE * 4;
    const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    const size_t c0 = tile * COLUMNS_PER_TILE;
    for (size_t r = 0; r < liveRows; r++) {
        __m256i sums[8];
        for (int g = 0; g < 8; g++) sums[g] = _mm256_setzero_si256();
        for (size_t s = 0; s < steps; s++) {
            int32_t w;
            memcpy(&w, u + r * stride + s * 4, 4);
            const __m256i x = _mm256_xor_si256(_mm256_set1_epi32(w), flip);
            const __m256i magnitude = _mm256_abs_epi8(x);
            const int8_t *lanes = codes + s * COLUMNS_PER_TILE * 4;
            for (int g = 0; g < 8; g++) {
                __m256i c = _mm256_load_si256((const __m256i *)(lanes + 32 * g));
                __m256i pairs = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(c, x));
                sums[g] = _mm256_add_epi32(sums[g], _mm256_madd_epi16(pairs, ones));
            }
        }
        const __m256 scale = _mm256_set1_ps(rowScale[r]);
        __m256 scores[8];
        __m256 best = _mm256_set1_ps(rows[r].best);
        for (int g = 0; g < 8; g++) {
            __m256 factor = _mm256_mul_ps(scale, _mm256_loadu_ps(q->scales + c0 + 8 * g));
            scores[g] = _mm256_sub_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(sums[g]), factor), _mm256_loadu_ps(q->bias + c0 + 8 * g));
            best = _mm256_max_ps(best, scores[g]);
        }
        __m128 half = _mm_max_ps(_mm256_castps256_ps128(best), _mm256_extractf128_ps(best, 1));
        half = _mm_max_ps(half, _mm_movehl_ps(half, half));
        half = _mm_max_ss(half, _mm_shuffle_ps(half, half, 1));
        const float rowBest = _mm_cvtss_f32(half);
        rows[r].best = rowBest;
        for (int g = 0; g < 8; g++) {
            const int mask = rows[r].topP
                ? _mm256_movemask_ps(_mm256_cmp_ps(scores[g], _mm256_set1_ps(top_threshold(&rows[r])), _CMP_GT_OQ))
                : _mm256_movemask_ps(_mm256_cmp_ps(scores[g], _mm256_set1_ps(rowBest - rows[r].margin), _CMP_GE_OQ));
            if (!mask) continue;
            float values[8];
            _mm256_storeu_ps(values, scores[g]);
            for (int l = 0; l < 8; l++) {
                if (!(mask & (1 << l))) continue;
                if (rows[r].topP) offer_top(&rows[r], (int32_t)(c0 + 8 * g + l), values[l]);
                else keep_candidate(&rows[r], (int32_t)(c0 + 8 * g + l), values[l]);
            }
        }
    }
}

// x·c in float, summed in one fixed order whatever the CPU: 16 independent lanes (one AVX-512
// register, two AVX2, four SSE), no contraction into FMA, no reassociation. So each clone gives
// the same bits, and a machine gives the same answer on every code path.
#pragma clang fp contract(off)
CLONES static float exact_dot(const float *a, const float *b, size_t n) {
    float lanes[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) lanes[l] += a[i + l] * b[i + l];
    for (int l = 0; i < n; i++, l++) lanes[l] += a[i] * b[i];
    for (int width = 8; width > 0; width /= 2)
        for (int l = 0; l < width; l++) lanes[l] += lanes[l + width];
    return lanes[0];
}
#pragma clang fp contract(on)

// The tile kernel this call runs, or NULL when it asked for one the CPU cannot run.
static tile_kernel chosen_kernel(int kernel) {
    switch (kernel) {
    case PLAID_INT8_KERNEL_VNNI: return plaid_int8_nearest_has_vnni() ? tile_kernel_vnni : NULL;
    case PLAID_INT8_KERNEL_AVX2: return plaid_int8_nearest_has_avx2() ? tile_kernel_avx2 : NULL;
    case PLAID_INT8_KERNEL_PORTABLE: return tile_kernel_portable;
    default:
        return plaid_int8_nearest_has_vnni() ? tile_kernel_vnni : plaid_int8_nearest_has_avx2() ? tile_kernel_avx2 : tile_kernel_portable;
    }
}

// The buffers of one call: a block of quantized rows and, per row, its surviving candidates.
typedef struct {
    uint8_t *u;
    int32_t *indices;
    float *scores;
    int8_t *row;
    float rowScale[ROWS_PER_BLOCK];
    candidates rows[ROWS_PER_BLOCK];
} block_buffers;

static int block_buffers_make(block_buffers *b, const plaid_int8_centroids *q) {
    const size_t columns = q->tiles * COLUMNS_PER_TILE;
    b->u = aligned_alloc(64, ROWS_PER_BLOCK * q->steps * 4);
    b->indices = malloc(sizeof(int32_t) * ROWS_PER_BLOCK * columns);
    b->scores = malloc(sizeof(float) * ROWS_PER_BLOCK * columns);
    b->row = malloc(q->dim);
    if (b->u && b->indices && b->scores && b->row) return 0;
    free(b->u); free(b->indices); free(b->scores); free(b->row);
    return -2;
}

static void block_buffers_free(block_buffers *b) {
    free(b->u); free(b->indices); free(b->scores); free(b->row);
}

// Quantizes (or copies from `quantized`) `count` rows and runs every tile over them: afterwards
// each row's candidates hold every centroid within `margin` of its best approximate score, or,
// with topP > 0, its topP best.
static void absorb_block(const plaid_int8_centroids *q, tile_kernel absorb, block_buffers *b, const float *points,
                         const plaid_int8_rows *quantized, const int32_t *rowIndices, size_t start, size_t count, size_t topP) {
    const size_t dim = q->dim, steps = q->steps, columns = q->tiles * COLUMNS_PER_TILE;
    size_t paddedRows = (count + ROWS_PER_TILE - 1) / ROWS_PER_TILE * ROWS_PER_TILE;
    memset(b->u + count * steps * 4, 128, (paddedRows - count) * steps * 4);  // 128 is x̂ = 0
    for (size_t r = 0; r < count; r++) {
        float l1;
        const size_t at = rowIndices ? (size_t)rowIndices[start + r] : start + r;
        if (quantized) {
            memcpy(b->u + r * steps * 4, quantized->codes + at * steps * 4, steps * 4);
            b->rowScale[r] = quantized->scales[at];
            l1 = quantized->l1[at];
        } else {
            b->rowScale[r] = quantize_row(points + at * dim, dim, b->row, &l1);
            memset(b->u + r * steps * 4, 128, steps * 4);
            for (size_t j = 0; j < dim; j++) b->u[r * steps * 4 + j] = (uint8_t)(b->row[j] + 128);
        }
        float bound = 0.5f * q->maxScale * (l1 + (float)dim * 0.5f * b->rowScale[r]) + 0.5f * b->rowScale[r] * q->maxL1;
        b->rows[r] = (candidates){
            .best = -INFINITY,
            // Twice the bound, and slack for the float rounding of the approximate scores.
            .margin = 2.0f * bound * 1.001f + 1e-5f,
            .count = 0,
            .indices = b->indices + r * columns,
            .scores = b->scores + r * columns,
            .topP = topP,
        };
    }
    for (size_t tile = 0; tile < q->tiles; tile++)
        for (size_t r0 = 0; r0 < paddedRows; r0 += ROWS_PER_TILE) {
            size_t live = count - r0 < ROWS_PER_TILE ? count - r0 : ROWS_PER_TILE;
            absorb(q, tile, b->u + r0 * steps * 4, b->rowScale + r0, b->rows + r0, live);
        }
}

void plaid_int8_quantize_rows(const float *points, size_t n, size_t dim, plaid_int8_rows *out) {
    const size_t width = (dim + 3) / 4 * 4;
    int8_t row[width];
    for (size_t r = 0; r < n; r++) {
        out->scales[r] = quantize_row(points + r * dim, dim, row, &out->l1[r]);
        uint8_t *u = out->codes + r * width;
        for (size_t j = 0; j < dim; j++) u[j] = (uint8_t)(row[j] + 128);
        for (size_t j = dim; j < width; j++) u[j] = 128;
    }
}

int plaid_int8_nearest_rows(const plaid_int8_centroids *q, const float *centroids, const float *points,
                            const plaid_int8_rows *quantized, const int32_t *rowIndices, size_t n, int32_t *out,
                            float *outScores, uint64_t *rescored, int kernel) {
    const size_t dim = q->dim;
    tile_kernel absorb = chosen_kernel(kernel);
    if (!absorb) return -1;
    block_buffers b;
    if (block_buffers_make(&b, q) != 0) return -2;
    uint64_t rescoredCount = 0;
    for (size_t start = 0; start < n; start += ROWS_PER_BLOCK) {
        size_t count = n - start < ROWS_PER_BLOCK ? n - start : ROWS_PER_BLOCK;
        absorb_block(q, absorb, &b, points, quantized, rowIndices, start, count, 0);
        // Exact finish. The best approximate candidate is scored in float first; then any other
        // whose approximate score plus the bound stays below the best exact score cannot win
        // (nor tie), and the rest are scored in index order, the first of equals winning.
        for (size_t r = 0; r < count; r++) {
            const candidates *row = &b.rows[r];
            const float *x = points + (rowIndices ? (size_t)rowIndices[start + r] : start + r) * dim;
            const float halfMargin = 0.5f * row->margin + 1e-5f * fabsf(row->best);
            size_t top = 0;
            for (size_t i = 1; i < row->count; i++) top = row->scores[i] > row->scores[top] ? i : top;
            int32_t index = row->indices[top];
            float exactBest = exact_dot(x, centroids + (size_t)index * dim, dim) - q->bias[index];
            rescoredCount++;
            for (size_t i = 0; i < row->count; i++) {
                if (i == top || row->scores[i] + halfMargin < exactBest) continue;
                int32_t c = row->indices[i];
                float v = exact_dot(x, centroids + (size_t)c * dim, dim) - q->bias[c];
                rescoredCount++;
                if (v > exactBest || (v == exactBest && c < index)) { exactBest = v; index = c; }
            }
            out[start + r] = index;
            if (outScores) outScores[start + r] = exactBest;
        }
    }
    block_buffers_free(&b);
    if (rescored) *rescored += rescoredCount;
    return 0;
}

int plaid_int8_nearest(const plaid_int8_centroids *q, const float *centroids, const float *points, size_t n,
                       int32_t *out, uint64_t *rescored, int kernel) {
    return plaid_int8_nearest_rows(q, centroids, points, NULL, NULL, n, out, NULL, rescored, kernel);
}

int plaid_int8_top_columns(const plaid_int8_centroids *q, const plaid_int8_rows *quantized, size_t n, size_t p,
                           int32_t *out, int kernel) {
    tile_kernel absorb = chosen_kernel(kernel);
    if (!absorb) return -1;
    if (p > q->count || p > 64) return -3;
    block_buffers b;
    if (block_buffers_make(&b, q) != 0) return -2;
    for (size_t start = 0; start < n; start += ROWS_PER_BLOCK) {
        size_t count = n - start < ROWS_PER_BLOCK ? n - start : ROWS_PER_BLOCK;
        absorb_block(q, absorb, &b, NULL, quantized, NULL, start, count, p);
        for (size_t r = 0; r < count; r++) memcpy(out + (start + r) * p, b.rows[r].indices, p * sizeof(int32_t));
    }
    block_buffers_free(&b);
    return 0;
}

void plaid_nearest_exact_float(const float *centroids, size_t k, size_t dim, const float *bias,
                               const float *points, size_t n, int32_t *out) {
    for (size_t r = 0; r < n; r++) {
        float best = -INFINITY;
        int32_t index = 0;
        for (size_t c = 0; c < k; c++) {
            float v = exact_dot(points + r * dim, centroids + c * dim, dim) - (bias ? bias[c] : 0.0f);
            if (v > best) { best = v; index = (int32_t)c; }
        }
        out[r] = index;
    }
}
