// Loops of the transformer encoder between its matrix products (see PlaidEncoderKernels.h).
// Each is compiled three times (`target_clones`) so that a generic x86-64 build still runs
// them with AVX2/AVX-512 where the machine has it. exp and erf are branch-free polynomial
// approximations so that they vectorise; libm's scalar calls would dominate the GELUs.
#include "PlaidEncoderKernels.h"
#include <math.h>
#include <string.h>

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

// exp(x) by range reduction x = n·ln2 + r, |r| <= ln2/2, and a degree-6 polynomial for e^r
// (Cephes expf coefficients); relative error about 2e-7. Inputs below -87 give ~1e-38, not 0.
static inline float fast_exp(float x) {
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
static inline float fast_erf(float x) {
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

static inline float fast_tanh(float x) {
    // tanh(x) = 1 - 2 / (e^{2x} + 1); saturates correctly because fast_exp clamps.
    return 1.0f - 2.0f / (fast_exp(2.0f * x) + 1.0f);
}

static inline float gelu(float x, int tanhApproximation) {
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
static inline void layer_norm_row(const float *in, float *out, size_t cols,
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

CLONES void plaid_enc_bias_gelu(float *x, const float *bias, size_t rows, size_t cols, int tanhApproximation) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        if (bias) {
            for (size_t c = 0; c < cols; c++) row[c] = gelu(row[c] + bias[c], tanhApproximation);
        } else {
            for (size_t c = 0; c < cols; c++) row[c] = gelu(row[c], tanhApproximation);
        }
    }
}

CLONES void plaid_enc_geglu(const float *in, const float *bias, float *out, size_t rows, size_t cols,
                            int tanhApproximation) {
    for (size_t r = 0; r < rows; r++) {
        const float *input = in + r * 2 * cols;
        const float *gate = input + cols;
        float *o = out + r * cols;
        if (bias) {
            for (size_t c = 0; c < cols; c++)
                o[c] = gelu(input[c] + bias[c], tanhApproximation) * (gate[c] + bias[cols + c]);
        } else {
            for (size_t c = 0; c < cols; c++) o[c] = gelu(input[c], tanhApproximation) * gate[c];
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

// Queries are handled four at a time so that each key and value row read from cache
// serves four rows of scores and outputs.
enum { QUERY_BLOCK = 4 };

CLONES void plaid_enc_attention(const float *q, const float *k, const float *v, size_t inputStride,
                                float *out, size_t outputStride, size_t length, size_t headDim,
                                const uint8_t *keyMask, long window, float scale, float *scratch) {
    float *keysTransposed = scratch;                      // [headDim, length]
    float *scores = scratch + headDim * length;           // [QUERY_BLOCK, length]
    for (size_t j = 0; j < length; j++)
        for (size_t d = 0; d < headDim; d++) keysTransposed[d * length + j] = k[j * inputStride + d];

    for (size_t first = 0; first < length; first += QUERY_BLOCK) {
        const size_t count = length - first < QUERY_BLOCK ? length - first : QUERY_BLOCK;
        size_t lo = 0, hi = length;
        if (window >= 0) {
            lo = first > (size_t)window ? first - (size_t)window : 0;
            const size_t end = first + count - 1 + (size_t)window + 1;
            hi = end < length ? end : length;
        }
        for (size_t b = 0; b < count; b++)
            for (size_t j = lo; j < hi; j++) scores[b * length + j] = 0.0f;
        for (size_t d = 0; d < headDim; d++) {
            const float *keyRow = keysTransposed + d * length;
            for (size_t b = 0; b < count; b++) {
                const float qd = q[(first + b) * inputStride + d] * scale;
                float *s = scores + b * length;
                for (size_t j = lo; j < hi; j++) s[j] += qd * keyRow[j];
            }
        }
        float normaliser[QUERY_BLOCK];
        for (size_t b = 0; b < count; b++) {
            const size_t i = first + b;
            float *s = scores + b * length;
            size_t jlo = lo, jhi = hi;
            if (window >= 0) {
                jlo = i > (size_t)window ? i - (size_t)window : 0;
                jhi = i + (size_t)window + 1 < length ? i + (size_t)window + 1 : length;
            }
            // Keys outside this query's window get probability 0 (they may be inside the block's range).
            for (size_t j = lo; j < jlo; j++) s[j] = 0.0f;
            for (size_t j = jhi; j < hi; j++) s[j] = 0.0f;
            float maximum = -INFINITY;
            for (size_t j = jlo; j < jhi; j++) {
                const int allowed = keyMask ? keyMask[j] != 0 : 1;
                if (allowed && s[j] > maximum) maximum = s[j];
            }
            float sum = 0.0f;
            if (maximum == -INFINITY) {
                for (size_t j = jlo; j < jhi; j++) s[j] = 0.0f;
            } else if (keyMask) {
                for (size_t j = jlo; j < jhi; j++) {
                    const float e = fast_exp(s[j] - maximum);
                    s[j] = keyMask[j] ? e : 0.0f;
                    sum += s[j];
                }
            } else {
                for (size_t j = jlo; j < jhi; j++) {
                    s[j] = fast_exp(s[j] - maximum);
                    sum += s[j];
                }
            }
            normaliser[b] = sum > 0.0f ? 1.0f / sum : 0.0f;
            memset(out + i * outputStride, 0, headDim * sizeof(float));
        }
        for (size_t j = lo; j < hi; j++) {
            const float *valueRow = v + j * inputStride;
            for (size_t b = 0; b < count; b++) {
                const float p = scores[b * length + j];
                float *o = out + (first + b) * outputStride;
                for (size_t d = 0; d < headDim; d++) o[d] += p * valueRow[d];
            }
        }
        for (size_t b = 0; b < count; b++) {
            float *o = out + (first + b) * outputStride;
            for (size_t d = 0; d < headDim; d++) o[d] *= normaliser[b];
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
