// Loops of the transformer encoder between its matrix products (see PlaidEncoderKernels.h).
// Each is compiled three times (`target_clones`) so that a generic x86-64 build still runs
// them with AVX2/AVX-512 where the machine has it. exp and erf are branch-free polynomial
// approximations so that they vectorise; libm's scalar calls would dominate the GELUs.
#include "PlaidEncoderKernels.h"
#include <math.h>
#include <string.h>

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
// Helpers are forced inline so that each clone compiles them for its own instruction set
// (a helper left out of line would be built for generic x86-64 only).
#define INLINE static inline __attribute__((always_inline))
// The 8-float vector helpers below are always inlined, so their (non-AVX) out-of-line ABI never applies.
#pragma clang diagnostic ignored "-Wpsabi"

// exp(x) by range reduction x = n·ln2 + r, |r| <= ln2/2, and a degree-6 polynomial for e^r
// (Cephes expf coefficients); relative error about 2e-7. Inputs below -87 give ~1e-38, not 0.
INLINE float fast_exp(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    // Round to nearest by adding and removing 1.5·2^23 (no SSE4.1 rounding instruction needed).
    const float shifter = 12582912.0f;
    float n = (x * 1.44269504088896341f + shifter) - shifter;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// erf(x) as x·P(x²)/Q(x²) on x clamped to [-4, 4] (beyond which erf is ±1 in float32);
// the odd/even minimax rational form used by XLA and Eigen, error a few ulp.
INLINE float fast_erf(float x) {
    x = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
    const float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 + -2.10102402082508e-06f;
    p = p * x2 + -5.69250639462346e-05f;
    p = p * x2 + -7.34990630326855e-04f;
    p = p * x2 + -2.95459980854025e-03f;
    p = p * x2 + -1.60960333262415e-02f;
    p = p * x;
    float q = -1.45660718464996e-05f;
    q = q * x2 + -2.13374055278905e-04f;
    q = q * x2 + -1.68282697438203e-03f;
    q = q * x2 + -7.37332916720468e-03f;
    q = q * x2 + -1.42647390514189e-02f;
    return p / q;
}

INLINE float fast_tanh(float x) {
    // tanh(x) = 1 - 2 / (e^{2x} + 1); saturates correctly because fast_exp clamps.
    return 1.0f - 2.0f / (fast_exp(2.0f * x) + 1.0f);
}

INLINE float gelu(float x, int tanhApproximation) {
    if (tanhApproximation) {
        const float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1.0f + fast_tanh(inner));
    }
    return 0.5f * x * (1.0f + fast_erf(x * 0.7071067811865476f));
}

CLONES void plaid_enc_erf(const float *in, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = fast_erf(in[i]);
}

CLONES void plaid_enc_exp(const float *in, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = fast_exp(in[i]);
}

// Normalises one row; the two sums may be reassociated so that they vectorise.
INLINE void layer_norm_row(const float *in, float *out, size_t cols,
                                  const float *gamma, const float *beta, float eps) {
#pragma clang fp reassociate(on) contract(fast)
    float sum = 0.0f;
    for (size_t c = 0; c < cols; c++) sum += in[c];
    const float mean = sum / (float)cols;
    float squares = 0.0f;
    for (size_t c = 0; c < cols; c++) {
        const float d = in[c] - mean;
        squares += d * d;
    }
    const float inverseDeviation = 1.0f / sqrtf(squares / (float)cols + eps);
    if (beta) {
        for (size_t c = 0; c < cols; c++) out[c] = (in[c] - mean) * inverseDeviation * gamma[c] + beta[c];
    } else {
        for (size_t c = 0; c < cols; c++) out[c] = (in[c] - mean) * inverseDeviation * gamma[c];
    }
}

CLONES void plaid_enc_layer_norm(const float *in, float *out, size_t rows, size_t cols,
                                 const float *gamma, const float *beta, float eps) {
    for (size_t r = 0; r < rows; r++) layer_norm_row(in + r * cols, out + r * cols, cols, gamma, beta, eps);
}

CLONES void plaid_enc_residual_layer_norm(const float *x, const float *bias, float *residual,
                                          size_t rows, size_t cols,
                                          const float *gamma, const float *beta, float eps) {
    for (size_t r = 0; r < rows; r++) {
        float *row = residual + r * cols;
        const float *xr = x + r * cols;
        if (bias) {
            for (size_t c = 0; c < cols; c++) row[c] += xr[c] + bias[c];
        } else {
            for (size_t c = 0; c < cols; c++) row[c] += xr[c];
        }
        layer_norm_row(row, row, cols, gamma, beta, eps);
    }
}

CLONES void plaid_enc_add_residual(float *residual, const float *x, const float *bias, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++) {
        float *row = residual + r * cols;
        const float *xr = x + r * cols;
        if (bias) {
            for (size_t c = 0; c < cols; c++) row[c] += xr[c] + bias[c];
        } else {
            for (size_t c = 0; c < cols; c++) row[c] += xr[c];
        }
    }
}

CLONES void plaid_enc_add_bias(float *x, const float *bias, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        for (size_t c = 0; c < cols; c++) row[c] += bias[c];
    }
}

// The form is chosen outside the loops: a loop-invariant test inside them gets if-converted by
// the vectoriser, which then computes both forms for every element.
CLONES void plaid_enc_bias_gelu(float *x, const float *bias, size_t rows, size_t cols, int tanhApproximation) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        if (tanhApproximation) {
            if (bias) {
                for (size_t c = 0; c < cols; c++) row[c] = gelu(row[c] + bias[c], 1);
            } else {
                for (size_t c = 0; c < cols; c++) row[c] = gelu(row[c], 1);
            }
        } else {
            if (bias) {
                for (size_t c = 0; c < cols; c++) row[c] = gelu(row[c] + bias[c], 0);
            } else {
                for (size_t c = 0; c < cols; c++) row[c] = gelu(row[c], 0);
            }
        }
    }
}

// One GeGLU row in a given form (a constant after inlining, so each loop computes only that form).
INLINE void geglu_row(const float *input, const float *bias, float *o, size_t cols, int tanhApproximation) {
    const float *gate = input + cols;
    if (bias) {
        for (size_t c = 0; c < cols; c++)
            o[c] = gelu(input[c] + bias[c], tanhApproximation) * (gate[c] + bias[cols + c]);
    } else {
        for (size_t c = 0; c < cols; c++) o[c] = gelu(input[c], tanhApproximation) * gate[c];
    }
}

CLONES void plaid_enc_geglu(const float *in, const float *bias, float *out, size_t rows, size_t cols,
                            int tanhApproximation) {
    for (size_t r = 0; r < rows; r++) {
        if (tanhApproximation) {
            geglu_row(in + r * 2 * cols, bias, out + r * cols, cols, 1);
        } else {
            geglu_row(in + r * 2 * cols, bias, out + r * cols, cols, 0);
        }
    }
}

CLONES void plaid_enc_rotary(float *x, size_t rows, size_t rowStride, size_t heads, size_t headDim,
                             const float *cosTable, const float *sinTable) {
    const size_t half = headDim / 2;
    for (size_t r = 0; r < rows; r++) {
        const float *cosRow = cosTable + r * half;
        const float *sinRow = sinTable + r * half;
        for (size_t h = 0; h < heads; h++) {
            float *first = x + r * rowStride + h * headDim;
            float *second = first + half;
            for (size_t i = 0; i < half; i++) {
                const float a = first[i], b = second[i];
                first[i] = a * cosRow[i] - b * sinRow[i];
                second[i] = b * cosRow[i] + a * sinRow[i];
            }
        }
    }
}

// Attention works on tiles held in registers: 6 queries × 16 keys for the scores (12 vector
// accumulators) and 6 queries × 16 dimensions for the weighted sum of values: each key or value
// load feeds 12 FMAs (with 4 queries, 8). GCC/Clang vector types keep this portable: 8-float vectors become AVX registers in the v3/v4 clones and pairs
// of SSE registers in the generic one.
typedef float v8 __attribute__((vector_size(32)));

INLINE v8 load8(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
INLINE void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }
INLINE v8 splat8(float x) { return (v8){x, x, x, x, x, x, x, x}; }

enum { QUERY_BLOCK = 6, KEY_TILE = 16 };

INLINE float sum_floats(const float *x, size_t n) {
#pragma clang fp reassociate(on)
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) sum += x[i];
    return sum;
}

/// The register tile both attention products use: out[b][0..<16] = Σ_t s[b][t] · row_t[0..<16] for
/// the QUERY_BLOCK rows b, where s[b][t] = scalars[b·scalarStride + t] and row_t = rows + t·rowStride.
INLINE void block_tile(const float *scalars, size_t scalarStride, const float *rows, size_t rowStride,
                       size_t count, float *out, size_t outStride) {
    v8 a[QUERY_BLOCK][2];
    for (int b = 0; b < QUERY_BLOCK; b++) a[b][0] = a[b][1] = splat8(0);
    for (size_t t = 0; t < count; t++) {
        const float *row = rows + t * rowStride;
        const v8 r0 = load8(row), r1 = load8(row + 8);
        for (int b = 0; b < QUERY_BLOCK; b++) {
            const v8 s = splat8(scalars[b * scalarStride + t]);
            a[b][0] += s * r0;
            a[b][1] += s * r1;
        }
    }
    for (int b = 0; b < QUERY_BLOCK; b++) {
        store8(out + b * outStride, a[b][0]);
        store8(out + b * outStride + 8, a[b][1]);
    }
}

/// Scores of a block of QUERY_BLOCK queries against keys [lo, hi), rounded out to whole tiles
/// (keysTransposed rows have room and zeros past the last key).
INLINE void block_scores(const float *scaledQueries /* [QUERY_BLOCK][headDim] */, const float *keysTransposed,
                                size_t keyStride, size_t headDim, size_t lo, size_t hi, float *scores /* [QUERY_BLOCK][keyStride] */) {
    for (size_t j = lo; j < hi; j += KEY_TILE)
        block_tile(scaledQueries, headDim, keysTransposed + j, keyStride, headDim, scores + j, keyStride);
}

/// out[b] = Σ_{j in [lo, hi)} p[b][j] · v[j] for the rows of a block; dimensions in tiles of 16, then one by one.
INLINE void block_weighted_values(const float *probabilities /* [QUERY_BLOCK][keyStride] */, size_t keyStride,
                                         const float *v, size_t inputStride, size_t headDim, size_t lo, size_t hi,
                                         float *outputs /* [QUERY_BLOCK][headDim] */) {
    size_t c = 0;
    for (; c + 16 <= headDim; c += 16)
        block_tile(probabilities + lo, keyStride, v + lo * inputStride + c, inputStride, hi - lo, outputs + c, headDim);
    for (; c < headDim; c++) {
        for (size_t b = 0; b < QUERY_BLOCK; b++) {
            float sum = 0.0f;
            for (size_t j = lo; j < hi; j++) sum += probabilities[b * keyStride + j] * v[j * inputStride + c];
            outputs[b * headDim + c] = sum;
        }
    }
}

/// Largest of x[0..<n] (−∞ for none), eight lanes at a time.
INLINE float max_floats(const float *x, size_t n) {
    v8 lanes = splat8(-INFINITY);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) lanes = __builtin_elementwise_max(lanes, load8(x + j));
    float maximum = -INFINITY;
    for (int l = 0; l < 8; l++) maximum = lanes[l] > maximum ? lanes[l] : maximum;
    for (; j < n; j++) maximum = x[j] > maximum ? x[j] : maximum;
    return maximum;
}

size_t plaid_enc_attention_scratch(size_t length, size_t headDim) {
    const size_t keyStride = (length + KEY_TILE - 1) / KEY_TILE * KEY_TILE + KEY_TILE;
    return (headDim + QUERY_BLOCK) * keyStride + length * headDim + 2 * QUERY_BLOCK * headDim;
}

CLONES void plaid_enc_attention(const float *q, const float *k, const float *v, size_t inputStride,
                                float *out, size_t outputStride, size_t length, size_t headDim,
                                const uint8_t *keyMask, long window, float scale, float *scratch) {
    // Rows of the transposed keys and of the scores have room for one whole tile past the end.
    const size_t keyStride = (length + KEY_TILE - 1) / KEY_TILE * KEY_TILE + KEY_TILE;
    float *keysTransposed = scratch;                                   // [headDim, keyStride]
    float *scores = keysTransposed + headDim * keyStride;              // [QUERY_BLOCK, keyStride]
    float *values = scores + QUERY_BLOCK * keyStride;                  // [length, headDim]
    float *queries = values + length * headDim;                        // [QUERY_BLOCK, headDim]
    float *outputs = queries + QUERY_BLOCK * headDim;                  // [QUERY_BLOCK, headDim]
    // The keys and values of this head are copied out once: in the fused QKV rows they sit a whole
    // row (3·hidden floats) apart, a stride that maps them onto a few L1 sets, so every pass over
    // them would miss L1. Each key row is read once, in order, and scattered into the transpose.
    for (size_t d = 0; d < headDim; d++)
        for (size_t j = length; j < keyStride; j++) keysTransposed[d * keyStride + j] = 0.0f;
    for (size_t j = 0; j < length; j++) {
        const float *key = k + j * inputStride;
        for (size_t d = 0; d < headDim; d++) keysTransposed[d * keyStride + j] = key[d];
        memcpy(values + j * headDim, v + j * inputStride, headDim * sizeof(float));
    }

    for (size_t first = 0; first < length; first += QUERY_BLOCK) {
        const size_t count = length - first < QUERY_BLOCK ? length - first : QUERY_BLOCK;
        // Keys any query of the block may see.
        size_t lo = 0, hi = length;
        if (window >= 0) {
            lo = first > (size_t)window ? first - (size_t)window : 0;
            const size_t end = first + count + (size_t)window;
            hi = end < length ? end : length;
        }
        for (size_t b = 0; b < QUERY_BLOCK; b++)
            for (size_t d = 0; d < headDim; d++)
                queries[b * headDim + d] = b < count ? q[(first + b) * inputStride + d] * scale : 0.0f;
        block_scores(queries, keysTransposed, keyStride, headDim, lo, hi, scores);

        float normaliser[QUERY_BLOCK] = {0};
        for (size_t b = 0; b < count; b++) {
            const size_t i = first + b;
            float *s = scores + b * keyStride;
            size_t jlo = lo, jhi = hi;
            if (window >= 0) {
                jlo = i > (size_t)window ? i - (size_t)window : 0;
                jhi = i + (size_t)window + 1 < length ? i + (size_t)window + 1 : length;
            }
            float maximum = -INFINITY;
            if (keyMask) {
                for (size_t j = jlo; j < jhi; j++) if (keyMask[j] && s[j] > maximum) maximum = s[j];
            } else {
                maximum = max_floats(s + jlo, jhi - jlo);
            }
            // Keys outside this query's window or mask get probability 0.
            for (size_t j = lo; j < jlo; j++) s[j] = 0.0f;
            for (size_t j = jhi; j < hi; j++) s[j] = 0.0f;
            if (maximum == -INFINITY) maximum = 0.0f;  // no allowed key: all probabilities end up 0
            // Separate passes so that each vectorises: exp, mask, then the sum.
            for (size_t j = jlo; j < jhi; j++) s[j] = fast_exp(s[j] - maximum);
            if (keyMask) {
                for (size_t j = jlo; j < jhi; j++) s[j] = keyMask[j] ? s[j] : 0.0f;
            }
            const float sum = sum_floats(s + jlo, jhi - jlo);
            normaliser[b] = sum > 0.0f ? 1.0f / sum : 0.0f;
        }
        for (size_t b = count; b < QUERY_BLOCK; b++)
            for (size_t j = lo; j < hi; j++) scores[b * keyStride + j] = 0.0f;

        block_weighted_values(scores, keyStride, values, headDim, headDim, lo, hi, outputs);
        for (size_t b = 0; b < count; b++) {
            float *o = out + (first + b) * outputStride;
            for (size_t d = 0; d < headDim; d++) o[d] = outputs[b * headDim + d] * normaliser[b];
        }
    }
}

CLONES void plaid_enc_l2_normalize(float *x, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        float squares = 0.0f;
        {
#pragma clang fp reassociate(on) contract(fast)
            for (size_t c = 0; c < cols; c++) squares += row[c] * row[c];
        }
        float norm = sqrtf(squares);
        const float inverse = 1.0f / (norm > 1e-12f ? norm : 1e-12f);
        for (size_t c = 0; c < cols; c++) row[c] *= inverse;
    }
}
