// CKernels: the hot elementwise passes of the networks and the optimizer, in C, with the AVX2+FMA variant chosen
// at run time.
//
// Each kernel is compiled twice from one source (Sources/CKernels/KernelBodies.h): once for the compiler's
// baseline target (SSE2 on x86-64, NEON on arm64) and, on x86-64, once with the function attribute
// target("avx2,fma"). The first call picks the AVX2 variant when the processor and the operating system support
// AVX2 and FMA, unless the environment variable DIFFSBI_PORTABLE_KERNELS is set to a value other than "0" or
// `dsk_set_portable(1)` was called. Both variants do the same operations in the same order with floating-point
// contraction off, so they give the same results (Documentation/Numerics.md §6).
//
// All pointers are to `float` arrays of the stated length; the row pointers of one call must not overlap unless
// stated.

#ifndef DIFFUSIONSBI_CKERNELS_H
#define DIFFUSIONSBI_CKERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Activation functions, in the order of NeuralNet's `Activation` cases.
typedef enum {
  DSK_MISH = 0,
  DSK_SILU = 1,
  DSK_GELU = 2,
  DSK_RELU = 3,
  DSK_IDENTITY = 4,
} dsk_activation;

/// The constants of one AdamW update (NeuralNet's `AdamOptimizer.UpdateCoefficients`).
typedef struct {
  float beta1, beta2, epsilon, alpha, decay, gradientScale, emaBeta;
} dsk_adam_coefficients;

/// `y = f(x)` over `n` elements (`y` may equal `x`).
void dsk_activation_values(dsk_activation kind, ptrdiff_t n, const float *x, float *y);

/// `y = f(x)` and `derivative = f'(x)` over `n` elements (`y` may equal `x`).
void dsk_activation_pairs(dsk_activation kind, ptrdiff_t n, const float *x, float *y, float *derivative);

/// LayerNorm of one row of `n` features: `y = γ ⊙ (x − μ)·r + β` with `r = 1/√(σ² + ε)`; writes `x̂` when
/// `xhat` is not NULL and returns `r`. `y` may equal `x`.
float dsk_layernorm_forward_row(ptrdiff_t n, const float *x, const float *gamma, const float *beta, float epsilon,
                                float *y, float *xhat);

/// LayerNorm backward for one row: `g = dy ⊙ γ`, `dx = r·(g − mean(g) − x̂·mean(g ⊙ x̂))`, `dγ += dy ⊙ x̂`,
/// `dβ += dy`. `dx` may equal `dy`.
void dsk_layernorm_backward_row(ptrdiff_t n, const float *dy, const float *xhat, float rstd, const float *gamma,
                                float *dgamma, float *dbeta, float *dx);

/// One row of a TimeMLP residual block (NeuralNet's `BlockRowPass`):
/// `z ← act(z + bias)` (with `gate ← act'(z + bias)` when `gate` is not NULL), then with `mask` not NULL
/// `z ← z ⊙ mask`, `gate ← gate ⊙ mask`; with `scaled` `act ← z` (when `act` is not NULL) and
/// `out = z ⊙ (1 + film[0..<w]) + film[w..<2w] + residual`, else `out = z + film + residual`; then LayerNorm of
/// `out` in place (x̂ into `xhat` when not NULL). Returns the row's `1/σ`.
float dsk_block_row_forward(dsk_activation kind, ptrdiff_t w, float *z, const float *bias, const float *film,
                            const float *residual, float *out, const float *mask, float *gate, float *act, int scaled,
                            float *xhat, const float *gamma, const float *beta, float epsilon);

/// The backward of one row of a TimeMLP residual block: LayerNorm backward of `dh` into `dr` (accumulating `dγ`,
/// `dβ`), then the FiLM gradient into `dfilm` (`[dr ⊙ act, dr]` with `scaled`, else `dr`), `dz = da ⊙ gate` with
/// `da = dr ⊙ (1 + film)` (scaled) or `dr`, and `dbias += dz`. `act` and `film` are read only with `scaled`.
void dsk_block_row_backward(ptrdiff_t w, const float *dh, const float *xhat, float rstd, const float *gamma,
                            float *dgamma, float *dbeta, float *dr, float *dfilm, const float *act, const float *film,
                            const float *gate, float *dz, float *dbias, int scaled);

/// The fused AdamW update of `n` parameters (NeuralNet's `AdamOptimizer.kernel`): clip-scaled gradient, moments,
/// decoupled decay and step, and, when `shadow` is not NULL, the EMA fold.
void dsk_adam_update(ptrdiff_t n, float *theta, const float *g, float *m, float *v, float *shadow,
                     dsk_adam_coefficients k);

/// `C[m, n] = alpha · A[m, k] · B[k, n]` for one attention head (NeuralNet's `HeadKernels.product`): element
/// (i, p) of A at `a[i·ars + p·acs]`, rows of B `ldb` apart, rows of C `ldc` apart.
void dsk_head_product(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a, ptrdiff_t ars,
                      ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc);

/// The GRU's gates for one row of `h` units (Keras `reset_after`; NeuralNet's `TimeSeriesNetwork`):
/// z, r = σ(gx + gh + bias) into `zr` [2h], hn = gh_n + b'_n, n = tanh(gx_n + b_n + r ⊙ hn),
/// h' = n + z ⊙ (hPrev − n). `gx`, `gh` are [z, r, n] blocks [3h]; `bias` is [b_z + b'_z, b_r + b'_r, b_n, b'_n].
void dsk_gru_forward_row(ptrdiff_t h, const float *gx, const float *gh, const float *bias, const float *hPrev,
                         float *zr, float *n, float *hn, float *hNext);

/// The GRU's gate gradients for one row: with δ = dh, da_n = δ(1 − z)(1 − n²), da_z = δ(hPrev − n)z(1 − z),
/// da_r = da_n·hn·r(1 − r); dgx = [da_z, da_r, da_n], dgh = [da_z, da_r, da_n·r], dh ← δ·z, and
/// [da_z, da_r, da_n, da_n·r] added to `sums` [4h].
void dsk_gru_backward_row(ptrdiff_t h, const float *z, const float *r, const float *n, const float *hn,
                          const float *hPrev, float *dh, float *dgx, float *dgh, float *sums);

/// Sum of squares of `n` elements: eight Float accumulators, added into a Double every 4096 elements.
float dsk_sum_of_squares(ptrdiff_t n, const float *x);

/// Forces the portable kernels (`on` ≠ 0) or returns to the automatic choice (`on` = 0).
void dsk_set_portable(int on);

/// 1 when the AVX2+FMA kernels run, 0 when the portable ones do.
int dsk_uses_avx2(void);

/// 1 when this processor (and operating system) could run the AVX2+FMA kernels.
int dsk_avx2_available(void);

/// Whether the processor and operating system support AVX-512 F, DQ, VL and BW with FMA (x86-64; 0 elsewhere).
int dsk_avx512_available(void);

/// Row-major `C = alpha·A·op(B) + beta·C` (A m×k, `op(B)` k×n; `lda`, `ldb`, `ldc` row strides as stored) by the
/// unpacked AVX-512 kernels of Sources/CKernels/SmallGEMM.c, for products with few rows. Returns 1 when it
/// computed the product, 0 (and touches nothing) when those kernels are unavailable (no AVX-512, another
/// architecture). Forcing the portable elementwise kernels does not affect them (they are not a variant of a BLAS
/// product and do not round like one). C is not read when beta is 0.
int dsk_small_sgemm(int transB, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a,
                    ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc);

#ifdef __cplusplus
}
#endif

#endif
