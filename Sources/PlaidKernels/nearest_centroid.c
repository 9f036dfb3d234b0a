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
        float q = nearbyintf(v[j] / scale);
        out[j] = (int8_t)(q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q));
    }
    *l1 = sum;
    return scale;
}

plaid_int8_centroids *plaid_int8_centroids_create(const float *centroids, size_t k, size_t dim) {
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
    int8_t *row = malloc(dim);
    if (!q->codes || !q->scales || !q->offsets || !row) {
        free(row);
        plaid_int8_centroids_destroy(q);
        return NULL;
    }
    memset(q->codes, 0, q->tiles * q->steps * COLUMNS_PER_TILE * 4);
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
    free(q);
}

int plaid_int8_nearest_has_vnni(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
}

// Integer products of 4 vectors (`u`, [4][steps·4] unsigned bytes) with one tile of 64 centroids.
typedef void (*tile_products)(const uint8_t *u, size_t steps, const int8_t *tile, int32_t out[ROWS_PER_TILE][COLUMNS_PER_TILE]);

static void tile_products_portable(const uint8_t *u, size_t steps, const int8_t *tile,
                                   int32_t out[ROWS_PER_TILE][COLUMNS_PER_TILE]) {
    for (int r = 0; r < ROWS_PER_TILE; r++) {
        for (int c = 0; c < COLUMNS_PER_TILE; c++) out[r][c] = 0;
        const uint8_t *row = u + (size_t)r * steps * 4;
        for (size_t s = 0; s < steps; s++) {
            const int8_t *lanes = tile + s * COLUMNS_PER_TILE * 4;
            for (int c = 0; c < COLUMNS_PER_TILE; c++)
                for (int t = 0; t < 4; t++) out[r][c] += (int32_t)row[s * 4 + t] * lanes[c * 4 + t];
        }
    }
}

__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void tile_products_vnni(const uint8_t *u, size_t steps, const int8_t *tile,
                               int32_t out[ROWS_PER_TILE][COLUMNS_PER_TILE]) {
    __m512i a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00;
    __m512i a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    __m512i a20 = a00, a21 = a00, a22 = a00, a23 = a00;
    __m512i a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    const size_t stride = steps * 4;
    for (size_t s = 0; s < steps; s++) {
        const int8_t *lanes = tile + s * COLUMNS_PER_TILE * 4;
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
#define STORE(R)                                                                \
    _mm512_storeu_si512((void *)(out[R] + 0), a##R##0);                         \
    _mm512_storeu_si512((void *)(out[R] + 16), a##R##1);                        \
    _mm512_storeu_si512((void *)(out[R] + 32), a##R##2);                        \
    _mm512_storeu_si512((void *)(out[R] + 48), a##R##3);
    STORE(0) STORE(1) STORE(2) STORE(3)
#undef STORE
}

// x·c in float, summed in one fixed order whatever the CPU (no contraction into FMA, no
// reassociation), so a machine gives the same answer on every code path.
#pragma clang fp contract(off)
static float exact_dot(const float *a, const float *b, size_t n) {
    float lanes[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) lanes[l] += a[i + l] * b[i + l];
    for (; i < n; i++) lanes[0] += a[i] * b[i];
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}
#pragma clang fp contract(on)

int plaid_int8_nearest(const plaid_int8_centroids *q, const float *centroids, const float *bias,
                       const float *points, size_t n, int32_t *out, uint64_t *rescored, int kernel) {
    const size_t k = q->count, dim = q->dim, steps = q->steps, columns = q->tiles * COLUMNS_PER_TILE;
    tile_products products = tile_products_portable;
    if (kernel == PLAID_INT8_KERNEL_VNNI || (kernel == PLAID_INT8_KERNEL_AUTOMATIC && plaid_int8_nearest_has_vnni())) {
        if (!plaid_int8_nearest_has_vnni()) return -1;
        products = tile_products_vnni;
    }
    uint8_t *u = aligned_alloc(64, ROWS_PER_BLOCK * steps * 4);
    float *scores = malloc(sizeof(float) * ROWS_PER_BLOCK * columns);
    int8_t *row = malloc(dim);
    if (!u || !scores || !row) {
        free(u); free(scores); free(row);
        return -2;
    }
    uint64_t rescoredCount = 0;
    float rowScale[ROWS_PER_BLOCK], rowL1[ROWS_PER_BLOCK];
    int32_t tileOut[ROWS_PER_TILE][COLUMNS_PER_TILE];
    for (size_t start = 0; start < n; start += ROWS_PER_BLOCK) {
        size_t rows = n - start < ROWS_PER_BLOCK ? n - start : ROWS_PER_BLOCK;
        size_t paddedRows = (rows + ROWS_PER_TILE - 1) / ROWS_PER_TILE * ROWS_PER_TILE;
        memset(u, 128, paddedRows * steps * 4);  // 128 is x̂ = 0: padding dimensions and rows
        for (size_t r = 0; r < rows; r++) {
            rowScale[r] = quantize_row(points + (start + r) * dim, dim, row, &rowL1[r]);
            for (size_t j = 0; j < dim; j++) u[r * steps * 4 + j] = (uint8_t)(row[j] + 128);
        }
        // Approximate scores x·c − bias[c] of the block, [rows, columns].
        for (size_t tile = 0; tile < q->tiles; tile++) {
            const int8_t *codes = q->codes + tile * steps * COLUMNS_PER_TILE * 4;
            for (size_t r0 = 0; r0 < paddedRows; r0 += ROWS_PER_TILE) {
                products(u + r0 * steps * 4, steps, codes, tileOut);
                for (size_t r = r0; r < r0 + ROWS_PER_TILE && r < rows; r++) {
                    float *dst = scores + r * columns + tile * COLUMNS_PER_TILE;
                    for (int l = 0; l < COLUMNS_PER_TILE; l++) {
                        size_t c = tile * COLUMNS_PER_TILE + l;
                        float product = (float)(tileOut[r - r0][l] - q->offsets[c]);
                        dst[l] = c < k ? rowScale[r] * q->scales[c] * product - (bias ? bias[c] : 0.0f) : -INFINITY;
                    }
                }
            }
        }
        // Exact finish: every centroid that the bound cannot rule out is scored in float.
        for (size_t r = 0; r < rows; r++) {
            const float *approx = scores + r * columns;
            const float *x = points + (start + r) * dim;
            float best = -INFINITY;
            for (size_t c = 0; c < k; c++) best = approx[c] > best ? approx[c] : best;
            float bound = 0.5f * q->maxScale * (rowL1[r] + (float)dim * 0.5f * rowScale[r]) + 0.5f * rowScale[r] * q->maxL1;
            // Slack for the float rounding of the approximate scores themselves.
            float cutoff = best - 2.0f * bound * 1.001f - 1e-5f * (1.0f + fabsf(best));
            float exactBest = -INFINITY;
            int32_t index = 0;
            for (size_t c = 0; c < k; c++) {
                if (approx[c] < cutoff) continue;
                float v = exact_dot(x, centroids + c * dim, dim) - (bias ? bias[c] : 0.0f);
                rescoredCount++;
                if (v > exactBest) { exactBest = v; index = (int32_t)c; }
            }
            out[start + r] = index;
        }
    }
    free(u); free(scores); free(row);
    if (rescored) *rescored += rescoredCount;
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
