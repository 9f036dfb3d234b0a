// The encoder's matrix products in 16-bit integers (contract in PlaidEncoderKernels.h).
//
// Why: float32 FMA gives 16 multiply-adds per cycle per core. On AVX2 machines without a fast
// low-precision float dot product (AMD Zen 3 here), vpmaddwd + vpaddd on int16 pairs issue 1.5
// pairs per cycle, about 24 multiply-adds, so the encoder's products outrun OpenBLAS sgemm
// (docs/benchmarks.md, "Design measurements"), with token vectors still within 2e-6 of PyLate's
// in cosine (see the parity tests).
//
// How: each weight column (a row of the torch [out, in] matrix) has its own scale, each
// activation row its own, so C = (A_q · W_qᵀ) · rowScale · columnScale. The integer sums are
// exact: they run in int32 over blocks of 64 inputs, then are converted to float. Each column's
// scale keeps Σ|w_q| over any block within 65,536 − 64, so with |a_q| <= 32,767 no block sum can
// reach 2^31, whatever the activations: nothing wraps or saturates.
#include "PlaidEncoderKernels.h"
#include "PlaidKernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma clang diagnostic ignored "-Wpsabi"
// No a·b + c fused into one FMA: the clones of quantize_rows for AVX2 and for generic x86-64 must
// round every activation to the same integer, whatever the CPU.
#pragma clang fp contract(off)

enum {
    TILE_ROWS = 6,        // activation rows per micro-tile (12 int32 accumulators with 2 vectors)
    TILE_COLUMNS = 16,    // weight columns per packed panel: two 8-lane vectors
    BLOCK_PAIRS = 32,     // input pairs summed exactly in int32 before conversion to float
    ROW_BLOCK = 96,       // activation rows kept in L2 while every panel streams past them
};
static const float activationLimit = 32767.0f;
static const float blockWeightBudget = 65536.0f - 2.0f * BLOCK_PAIRS;  // minus the rounding slack

static size_t pairs_of(size_t k) { return (k + 1) / 2; }
static size_t panels_of(size_t n) { return (n + TILE_COLUMNS - 1) / TILE_COLUMNS; }
static size_t padded_rows(size_t m) { return (m + TILE_ROWS - 1) / TILE_ROWS * TILE_ROWS; }

size_t plaid_enc_int16_weights_count(size_t n, size_t k) {
    return panels_of(n) * pairs_of(k) * TILE_COLUMNS * 2;
}

size_t plaid_enc_int16_scales_count(size_t n) { return panels_of(n) * TILE_COLUMNS; }

void plaid_enc_int16_pack_weights(const float *w, size_t n, size_t k, int16_t *packed, float *scales) {
    const size_t pairs = pairs_of(k);
    memset(packed, 0, plaid_enc_int16_weights_count(n, k) * sizeof(int16_t));
    memset(scales, 0, plaid_enc_int16_scales_count(n) * sizeof(float));
    for (size_t j = 0; j < n; j++) {
        const float *row = w + j * k;
        float largest = 0, largestBlock = 0;
        for (size_t start = 0; start < k; start += 2 * BLOCK_PAIRS) {
            const size_t end = start + 2 * BLOCK_PAIRS < k ? start + 2 * BLOCK_PAIRS : k;
            float block = 0;
            for (size_t i = start; i < end; i++) {
                const float a = fabsf(row[i]);
                block += a;
                largest = a > largest ? a : largest;
            }
            largestBlock = block > largestBlock ? block : largestBlock;
        }
        float scale = largest / activationLimit;
        if (largestBlock / blockWeightBudget > scale) scale = largestBlock / blockWeightBudget;
        scales[j] = scale;
        // Columns (and below, rows) of magnitude under 1e-30 are taken as zero: 1/scale would overflow.
        const float inverse = scale > 1e-30f ? 1 / scale : 0;
        // Panel layout: [panel][pair][column][2]: one 32-bit lane holds a column's two inputs.
        int16_t *panel = packed + (j / TILE_COLUMNS) * pairs * TILE_COLUMNS * 2;
        const size_t lane = j % TILE_COLUMNS;
        for (size_t i = 0; i < k; i++) {
            panel[(i / 2) * TILE_COLUMNS * 2 + lane * 2 + (i % 2)] = (int16_t)lrintf(row[i] * inverse);
        }
    }
}

size_t plaid_enc_int16_gemm_scratch_bytes(size_t m, size_t k) {
    const size_t rows = padded_rows(m);
    return rows * pairs_of(k) * 2 * sizeof(int16_t) + rows * sizeof(float) + 64;
}

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
typedef float v8 __attribute__((vector_size(32)));

// Rows [0, m) of x to int16, one scale per row; the rows up to the next whole tile and the odd
// trailing input of each row are zero. Rounds half to even by adding and removing 1.5·2^23
// (|value| <= 32,767 < 2^22), which vectorises where lrintf would not.
CLONES static void quantize_rows(const float *x, size_t m, size_t k, int16_t *q, float *rowScales) {
    const size_t stride = pairs_of(k) * 2;
    for (size_t r = 0; r < m; r++) {
        const float *row = x + r * k;
        // The largest |value|, eight lanes at a time (a scalar max loop does not vectorise).
        v8 lanes = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t i = 0;
        for (; i + 8 <= k; i += 8) {
            v8 v;
            memcpy(&v, row + i, sizeof v);
            lanes = __builtin_elementwise_max(lanes, __builtin_elementwise_abs(v));
        }
        float largest = 0;
        for (int l = 0; l < 8; l++) largest = lanes[l] > largest ? lanes[l] : largest;
        for (; i < k; i++) largest = fabsf(row[i]) > largest ? fabsf(row[i]) : largest;
        rowScales[r] = largest / activationLimit;
        const float inverse = largest > 1e-30f ? activationLimit / largest : 0;
        int16_t *out = q + r * stride;
        for (size_t i = 0; i < k; i++) out[i] = (int16_t)(int32_t)((row[i] * inverse + 12582912.0f) - 12582912.0f);
        if (stride > k) out[k] = 0;
    }
    const size_t rows = padded_rows(m);
    if (rows > m) memset(q + m * stride, 0, (rows - m) * stride * sizeof(int16_t));
    for (size_t r = m; r < rows; r++) rowScales[r] = 0;
}

// One tile: out[r][c] = (Σ_i a[r][i] · w[c][i]) · (rowScales[r] · columnScales[c]) for the first
// `height` rows and `width` columns (the rest of the tile is padding).
typedef void (*TileFunction)(const int16_t *a, size_t aStride, const int16_t *panel, size_t pairs,
                             const float *rowScales, const float *columnScales,
                             float *out, size_t outStride, size_t height, size_t width);

static void store_scaled(float sums[TILE_ROWS][TILE_COLUMNS], const float *rowScales, const float *columnScales,
                         float *out, size_t outStride, size_t height, size_t width) {
    for (size_t r = 0; r < height; r++)
        for (size_t c = 0; c < width; c++) out[r * outStride + c] = sums[r][c] * (rowScales[r] * columnScales[c]);
}

// The tile in plain C: the reference the vector tile must equal bit for bit (same int32 blocks,
// same float additions in the same order, same scaling).
static void tile_portable(const int16_t *a, size_t aStride, const int16_t *panel, size_t pairs,
                          const float *rowScales, const float *columnScales,
                          float *out, size_t outStride, size_t height, size_t width) {
    float sums[TILE_ROWS][TILE_COLUMNS];
    for (int r = 0; r < TILE_ROWS; r++) {
        const int16_t *row = a + r * aStride;
        for (int c = 0; c < TILE_COLUMNS; c++) {
            float total = 0;
            for (size_t start = 0; start < pairs; start += BLOCK_PAIRS) {
                const size_t end = start + BLOCK_PAIRS < pairs ? start + BLOCK_PAIRS : pairs;
                int32_t block = 0;
                for (size_t p = start; p < end; p++) {
                    const int16_t *w = panel + p * TILE_COLUMNS * 2 + c * 2;
                    block += (int32_t)row[2 * p] * w[0] + (int32_t)row[2 * p + 1] * w[1];
                }
                total += (float)block;
            }
            sums[r][c] = total;
        }
    }
    store_scaled(sums, rowScales, columnScales, out, outStride, height, width);
}

#if defined(__x86_64__)
// A tile's output lines are rarely cached (the product outgrows L2): the vector tiles ask for
// them first, for writing, so that they arrive during the sums (without this, the AVX2 tile's
// stores cost 20% at k = 384).
static inline __attribute__((always_inline)) void prefetch_output(float *out, size_t outStride, size_t height) {
    for (size_t r = 0; r < height; r++) {
        __builtin_prefetch(out + r * outStride, 1, 3);
        __builtin_prefetch(out + r * outStride + TILE_COLUMNS - 1, 1, 3);
    }
}

// The same tile with AVX2: per input pair, 2 weight vectors, 6 broadcast activation pairs,
// 12 vpmaddwd and 12 vpaddd into 12 accumulators (all 16 ymm registers in use).
__attribute__((target("avx2,fma")))
static void tile_avx2(const int16_t *a, size_t aStride, const int16_t *panel, size_t pairs,
                      const float *rowScales, const float *columnScales,
                      float *out, size_t outStride, size_t height, size_t width) {
    prefetch_output(out, outStride, height);
    __m256 f[TILE_ROWS][2];
    for (int r = 0; r < TILE_ROWS; r++) f[r][0] = f[r][1] = _mm256_setzero_ps();
    for (size_t start = 0; start < pairs; start += BLOCK_PAIRS) {
        const size_t end = start + BLOCK_PAIRS < pairs ? start + BLOCK_PAIRS : pairs;
        __m256i c[TILE_ROWS][2];
        for (int r = 0; r < TILE_ROWS; r++) c[r][0] = c[r][1] = _mm256_setzero_si256();
        for (size_t p = start; p < end; p++) {
            const __m256i b0 = _mm256_load_si256((const __m256i *)(panel + p * 32));
            const __m256i b1 = _mm256_load_si256((const __m256i *)(panel + p * 32 + 16));
            // Fully unrolled, so that the 12 accumulators stay in registers.
#pragma clang loop unroll(full)
            for (int r = 0; r < TILE_ROWS; r++) {
                int32_t pair;  // row r's inputs 2p and 2p + 1, as one 32-bit lane
                memcpy(&pair, a + r * aStride + 2 * p, sizeof pair);
                const __m256i x = _mm256_set1_epi32(pair);
                c[r][0] = _mm256_add_epi32(c[r][0], _mm256_madd_epi16(x, b0));
                c[r][1] = _mm256_add_epi32(c[r][1], _mm256_madd_epi16(x, b1));
            }
        }
        for (int r = 0; r < TILE_ROWS; r++) {
            f[r][0] = _mm256_add_ps(f[r][0], _mm256_cvtepi32_ps(c[r][0]));
            f[r][1] = _mm256_add_ps(f[r][1], _mm256_cvtepi32_ps(c[r][1]));
        }
    }
    if (width == TILE_COLUMNS) {
        const __m256 s0 = _mm256_loadu_ps(columnScales), s1 = _mm256_loadu_ps(columnScales + 8);
        for (size_t r = 0; r < height; r++) {
            const __m256 rowScale = _mm256_set1_ps(rowScales[r]);
            _mm256_storeu_ps(out + r * outStride, _mm256_mul_ps(f[r][0], _mm256_mul_ps(rowScale, s0)));
            _mm256_storeu_ps(out + r * outStride + 8, _mm256_mul_ps(f[r][1], _mm256_mul_ps(rowScale, s1)));
        }
    } else {
        float sums[TILE_ROWS][TILE_COLUMNS];
        for (int r = 0; r < TILE_ROWS; r++) {
            _mm256_storeu_ps(sums[r], f[r][0]);
            _mm256_storeu_ps(sums[r] + 8, f[r][1]);
        }
        store_scaled(sums, rowScales, columnScales, out, outStride, height, width);
    }
}

// vpdpwssd written out: clang splits the intrinsic back into vpmaddwd and vpaddd (twice the
// instructions) when it tunes for generic x86-64, which this target is built for.
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static inline __m512i dpwssd(__m512i sums, __m512i a, __m512i b) {
    __asm__("vpdpwssd %2, %1, %0" : "+v"(sums) : "v"(a), "v"(b));
    return sums;
}

// The same tile with AVX-512 VNNI: a panel's input pair for all 16 columns is one zmm, so per
// pair one weight load, 6 broadcast activation pairs and 6 vpdpwssd (multiply, pair-add and
// accumulate in one instruction) do what the AVX2 tile does in 24. The int32 sums are the same
// (vpdpwssd wraps as vpaddd does, and nothing reaches 2^31), and so is every float operation, so
// the result is the portable tile's bit for bit.
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void tile_vnni(const int16_t *a, size_t aStride, const int16_t *panel, size_t pairs,
                      const float *rowScales, const float *columnScales,
                      float *out, size_t outStride, size_t height, size_t width) {
    prefetch_output(out, outStride, height);
    __m512 f[TILE_ROWS];
    for (int r = 0; r < TILE_ROWS; r++) f[r] = _mm512_setzero_ps();
    for (size_t start = 0; start < pairs; start += BLOCK_PAIRS) {
        const size_t end = start + BLOCK_PAIRS < pairs ? start + BLOCK_PAIRS : pairs;
        __m512i c[TILE_ROWS];
        for (int r = 0; r < TILE_ROWS; r++) c[r] = _mm512_setzero_si512();
        for (size_t p = start; p < end; p++) {
            const __m512i b = _mm512_loadu_si512((const void *)(panel + p * 32));
#pragma clang loop unroll(full)
            for (int r = 0; r < TILE_ROWS; r++) {
                int32_t pair;
                memcpy(&pair, a + r * aStride + 2 * p, sizeof pair);
                c[r] = dpwssd(c[r], _mm512_set1_epi32(pair), b);
            }
        }
        for (int r = 0; r < TILE_ROWS; r++) f[r] = _mm512_add_ps(f[r], _mm512_cvtepi32_ps(c[r]));
    }
    if (width == TILE_COLUMNS) {
        const __m512 columns = _mm512_loadu_ps(columnScales);
        for (size_t r = 0; r < height; r++)
            _mm512_storeu_ps(out + r * outStride, _mm512_mul_ps(f[r], _mm512_mul_ps(_mm512_set1_ps(rowScales[r]), columns)));
    } else {
        float sums[TILE_ROWS][TILE_COLUMNS];
        for (int r = 0; r < TILE_ROWS; r++) _mm512_storeu_ps(sums[r], f[r]);
        store_scaled(sums, rowScales, columnScales, out, outStride, height, width);
    }
}

static int cpu_has_vnni512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
}
#endif


static void gemm(TileFunction tile, const float *x, size_t m, size_t k, const int16_t *packed,
                 const float *scales, size_t n, float *out, void *scratch, const float *bias, int activation) {
    const size_t pairs = pairs_of(k), stride = pairs * 2, rows = padded_rows(m);
    int16_t *q = (int16_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *rowScales = (float *)(q + rows * stride);
    quantize_rows(x, m, k, q, rowScales);
    for (size_t block = 0; block < rows; block += ROW_BLOCK) {
        const size_t blockEnd = block + ROW_BLOCK < rows ? block + ROW_BLOCK : rows;
        for (size_t panel = 0; panel < panels_of(n); panel++) {
            const int16_t *w = packed + panel * pairs * TILE_COLUMNS * 2;
            const size_t c0 = panel * TILE_COLUMNS;
            const size_t width = n - c0 < TILE_COLUMNS ? n - c0 : TILE_COLUMNS;
            for (size_t r0 = block; r0 < blockEnd; r0 += TILE_ROWS) {
                const size_t height = m - r0 < TILE_ROWS ? m - r0 : TILE_ROWS;
                tile(q + r0 * stride, stride, w, pairs, rowScales + r0, scales + c0, out + r0 * n + c0, n, height, width);
            }
        }
        // The epilogue runs on the rows just written, while they are still in L2: a separate pass
        // over the whole product (the FFN's is 6 KB a token) would stream it from memory again.
        const size_t blockRows = (blockEnd < m ? blockEnd : m) - block;
        if (activation != PLAID_ENC_EPILOGUE_NONE) {
            plaid_enc_bias_gelu(out + block * n, bias, blockRows, n, activation == PLAID_ENC_EPILOGUE_BIAS_GELU_TANH);
        } else if (bias) {
            plaid_enc_add_bias(out + block * n, bias, blockRows, n);
        }
    }
}

// The tile of the kernel level in force (plaid_kernel_level, so that tests can lower it): at
// level 4 the VNNI tile where the CPU has AVX-512 VNNI, from level 3 the AVX2 tile.
static TileFunction level_tile(const char **name) {
    const int level = plaid_kernel_level();
#if defined(__x86_64__)
    static int vnni = -1;
    int hasVNNI = __atomic_load_n(&vnni, __ATOMIC_RELAXED);
    if (hasVNNI < 0) {  // threads that race here all store the same value
        hasVNNI = cpu_has_vnni512();
        __atomic_store_n(&vnni, hasVNNI, __ATOMIC_RELAXED);
    }
    if (level >= 4 && hasVNNI) { *name = "avx512-vnni"; return tile_vnni; }
    if (level >= 3) { *name = "avx2"; return tile_avx2; }
#endif
    (void)level;
    *name = "portable";
    return tile_portable;
}

void plaid_enc_int16_gemm(const float *x, size_t m, size_t k, const int16_t *packed, const float *scales,
                          size_t n, float *out, void *scratch, const float *bias, int epilogue) {
    const char *name;
    gemm(level_tile(&name), x, m, k, packed, scales, n, out, scratch, bias, epilogue);
}

const char *plaid_enc_int16_gemm_tile(void) {
    const char *name;
    level_tile(&name);
    return name;
}

void plaid_enc_int16_gemm_portable(const float *x, size_t m, size_t k, const int16_t *packed,
                                   const float *scales, size_t n, float *out, void *scratch,
                                   const float *bias, int epilogue) {
    gemm(tile_portable, x, m, k, packed, scales, n, out, scratch, bias, epilogue);
}
