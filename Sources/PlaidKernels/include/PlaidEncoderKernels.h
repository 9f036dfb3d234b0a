// Element-wise and attention loops of the transformer encoder (BERT, ModernBERT), compiled
// for AVX-512, AVX2+FMA and generic x86-64 (`target_clones`). The matrix products stay in
// OpenBLAS sgemm; these are the steps between them. Matrices are row-major.
#ifndef PLAID_ENCODER_KERNELS_H
#define PLAID_ENCODER_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// out[r] = LayerNorm(in[r]) · gamma + beta for each of `rows` rows of `cols` values.
/// `beta` may be NULL (no bias). `in` and `out` may be the same buffer.
void plaid_enc_layer_norm(const float *in, float *out, size_t rows, size_t cols,
                          const float *gamma, const float *beta, float eps);

/// residual[r] = LayerNorm(x[r] + bias + residual[r]): BERT's post-norm sub-layer output.
/// `bias` may be NULL; `beta` may be NULL.
void plaid_enc_residual_layer_norm(const float *x, const float *bias, float *residual,
                                   size_t rows, size_t cols,
                                   const float *gamma, const float *beta, float eps);

/// residual[r] += x[r] + bias (ModernBERT's pre-norm residual). `bias` may be NULL.
void plaid_enc_add_residual(float *residual, const float *x, const float *bias, size_t rows, size_t cols);

/// x[r] += bias for each row.
void plaid_enc_add_bias(float *x, const float *bias, size_t rows, size_t cols);

/// x = GELU(x + bias) in place. `tanhApproximation` 0: exact 0.5·x·(1 + erf(x/√2));
/// 1: the tanh form (gelu_new, gelu_pytorch_tanh). `bias` may be NULL.
void plaid_enc_bias_gelu(float *x, const float *bias, size_t rows, size_t cols, int tanhApproximation);

/// GeGLU: out[r][c] = GELU(in[r][c] + bias[c]) · (in[r][cols + c] + bias[cols + c]).
/// `in` is [rows, 2·cols]; `out` is [rows, cols]; `bias` may be NULL.
void plaid_enc_geglu(const float *in, const float *bias, float *out, size_t rows, size_t cols,
                     int tanhApproximation);

/// Rotary position embedding (the rotate-half form) of `rows` consecutive positions, in place.
/// Row r starts at x + r·rowStride and holds `heads` heads of `headDim` values. `cosTable` and
/// `sinTable` are [rows, headDim/2]: the angles of those rows' positions.
void plaid_enc_rotary(float *x, size_t rows, size_t rowStride, size_t heads, size_t headDim,
                      const float *cosTable, const float *sinTable);

/// Scaled dot-product attention of one head over one sequence of `length` tokens:
/// out[i] = Σ_j softmax_j(scale · q[i]·k[j]) · v[j], over the keys j with keyMask[j] != 0
/// (keyMask NULL: all) and, when window >= 0, |i − j| <= window.
/// q, k, v rows are `inputStride` floats apart, out rows `outputStride` apart.
/// `scratch` holds at least plaid_enc_attention_scratch(length, headDim) floats. A query with no allowed key gets zeros.
void plaid_enc_attention(const float *q, const float *k, const float *v, size_t inputStride,
                         float *out, size_t outputStride, size_t length, size_t headDim,
                         const uint8_t *keyMask, long window, float scale, float *scratch);

/// Floats of scratch memory `plaid_enc_attention` needs.
size_t plaid_enc_attention_scratch(size_t length, size_t headDim);

/// x[r] /= max(‖x[r]‖₂, 1e-12), as torch.nn.functional.normalize.
void plaid_enc_l2_normalize(float *x, size_t rows, size_t cols);

/// Matrix products in 16-bit integers (int16_gemm.c): out[m, n] ≈ x[m, k] · Wᵀ for a weight W
/// [n, k] packed once by plaid_enc_int16_pack_weights. Weights are scaled per output column and
/// activations per row to 16-bit integers; sums are exact in int32, so the only error is the
/// rounding of the two operands (relative error about 3e-4 of a typical output).
/// `packed` holds plaid_enc_int16_weights_count(n, k) values (32-byte aligned), `scales`
/// plaid_enc_int16_scales_count(n).
size_t plaid_enc_int16_weights_count(size_t n, size_t k);
size_t plaid_enc_int16_scales_count(size_t n);
void plaid_enc_int16_pack_weights(const float *w, size_t n, size_t k, int16_t *packed, float *scales);

/// Bytes of scratch memory plaid_enc_int16_gemm needs for m rows of k inputs.
size_t plaid_enc_int16_gemm_scratch_bytes(size_t m, size_t k);

/// What plaid_enc_int16_gemm applies to its output rows, fused: + bias (when `bias` is not NULL),
/// or GELU(· + bias) in the erf or the tanh form (as plaid_enc_bias_gelu; `bias` may be NULL).
enum {
    PLAID_ENC_EPILOGUE_NONE = 0,
    PLAID_ENC_EPILOGUE_BIAS_GELU = 1,
    PLAID_ENC_EPILOGUE_BIAS_GELU_TANH = 2,
};

/// out = epilogue(x · Wᵀ) on the calling thread, with AVX2 where the CPU has it.
void plaid_enc_int16_gemm(const float *x, size_t m, size_t k, const int16_t *packed, const float *scales,
                          size_t n, float *out, void *scratch, const float *bias, int epilogue);

/// The tile plaid_enc_int16_gemm uses at the kernel level in force (plaid_kernel_level):
/// "avx512-vnni" (level 4 on a CPU with AVX-512 VNNI), "avx2" (level 3 or more) or "portable".
/// Every tile gives the same floats, bit for bit.
const char *plaid_enc_int16_gemm_tile(void);

/// The same with the plain C tile, which CPUs without AVX2 run: on one machine, bit for bit equal
/// to plaid_enc_int16_gemm (the GELU epilogue is compiled per CPU level, so across machines its
/// last bit may differ; the integer part does not).
void plaid_enc_int16_gemm_portable(const float *x, size_t m, size_t k, const int16_t *packed,
                                   const float *scales, size_t n, float *out, void *scratch,
                                   const float *bias, int epilogue);

/// Vectorisable approximations used above, exposed for tests: erf (|error| < 1e-6) and exp.
void plaid_enc_erf(const float *in, float *out, size_t n);
void plaid_enc_exp(const float *in, float *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif
