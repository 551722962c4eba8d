// Matrix products with few rows, for AVX-512 processors: C = alpha·op(A)·op(B) + beta·C without packing.
//
// A general GEMM (OpenBLAS) copies ("packs") the weight matrix into its own layout on every call. When the
// product has few rows, as a training shard of 16 rows multiplying 256×256 weights, the copy costs about as much
// as the arithmetic. These kernels read the operands where they are:
//
// - `bcast` (A·B): tiles of 4 rows × 64 columns of C in sixteen 16-lane accumulators; for each p, four vectors of
//   row p of B and a broadcast of A(i, p) per tile row.
// - `dot` (op(B) = Bᵀ, B stored n×k): tiles of 4×4 dot products of rows of A and rows of B, 16 lanes at a time,
//   each accumulator summed across its lanes at the end.
//
// Row tails repeat the last valid row (its results are not stored); column and depth tails use AVX-512 masks.
// The summation order of an entry depends only on k, never on the thread count or on the other entries.
// Compiled with target("avx512f,avx512dq,avx512vl,avx512bw,fma") on x86-64 and called only where Dispatch.c found
// those features (`dsk_small_sgemm` in Sources/CKernels/include/CKernels.h).

#include "CKernels.h"

#if defined(__x86_64__)

#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,fma")
#endif

static inline __mmask16 tail_mask(ptrdiff_t remaining) {
  if (remaining >= 16) return (__mmask16)0xFFFF;
  if (remaining <= 0) return 0;
  return (__mmask16)((1u << remaining) - 1u);
}

/// Row `r` of a matrix with `rows` rows and row stride `ld`, or its last row where `r` is past the end (row tails
/// of a 4-row tile compute on a repeated row and do not store it).
static inline const float *clamped_row(const float *base, ptrdiff_t r, ptrdiff_t rows, ptrdiff_t ld) {
  return base + (r < rows ? r : rows - 1) * ld;
}

/// `alpha·acc + beta·C` under a mask (C is not read when beta is 0).
static inline __m512 finish(__m512 acc, float alpha, float beta, __mmask16 mask, const float *c) {
  if (alpha != 1.0f) acc = _mm512_mul_ps(_mm512_set1_ps(alpha), acc);
  if (beta != 0.0f) acc = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(mask, c), acc);
  return acc;
}

static void small_bcast(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a, ptrdiff_t lda,
                        const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc) {
  for (ptrdiff_t j = 0; j < n; j += 64) {
    const __mmask16 m0 = tail_mask(n - j), m1 = tail_mask(n - j - 16), m2 = tail_mask(n - j - 32),
                    m3 = tail_mask(n - j - 48);
    for (ptrdiff_t i = 0; i < m; i += 4) {
      const float *a0 = a + i * lda, *a1 = clamped_row(a, i + 1, m, lda);
      const float *a2 = clamped_row(a, i + 2, m, lda), *a3 = clamped_row(a, i + 3, m, lda);
      __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
      __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
      __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
      __m512 c30 = c00, c31 = c00, c32 = c00, c33 = c00;
      const float *bp = b + j;
      for (ptrdiff_t p = 0; p < k; p++, bp += ldb) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, bp), b1 = _mm512_maskz_loadu_ps(m1, bp + 16);
        const __m512 b2 = _mm512_maskz_loadu_ps(m2, bp + 32), b3 = _mm512_maskz_loadu_ps(m3, bp + 48);
        __m512 x = _mm512_set1_ps(a0[p]);
        c00 = _mm512_fmadd_ps(x, b0, c00), c01 = _mm512_fmadd_ps(x, b1, c01);
        c02 = _mm512_fmadd_ps(x, b2, c02), c03 = _mm512_fmadd_ps(x, b3, c03);
        x = _mm512_set1_ps(a1[p]);
        c10 = _mm512_fmadd_ps(x, b0, c10), c11 = _mm512_fmadd_ps(x, b1, c11);
        c12 = _mm512_fmadd_ps(x, b2, c12), c13 = _mm512_fmadd_ps(x, b3, c13);
        x = _mm512_set1_ps(a2[p]);
        c20 = _mm512_fmadd_ps(x, b0, c20), c21 = _mm512_fmadd_ps(x, b1, c21);
        c22 = _mm512_fmadd_ps(x, b2, c22), c23 = _mm512_fmadd_ps(x, b3, c23);
        x = _mm512_set1_ps(a3[p]);
        c30 = _mm512_fmadd_ps(x, b0, c30), c31 = _mm512_fmadd_ps(x, b1, c31);
        c32 = _mm512_fmadd_ps(x, b2, c32), c33 = _mm512_fmadd_ps(x, b3, c33);
      }
#define DSK_STORE_ROW(r, v0, v1, v2, v3)                                                                          \
  if (i + r < m) {                                                                                                \
    float *cr = c + (i + r) * ldc + j;                                                                            \
    _mm512_mask_storeu_ps(cr, m0, finish(v0, alpha, beta, m0, cr));                                               \
    _mm512_mask_storeu_ps(cr + 16, m1, finish(v1, alpha, beta, m1, cr + 16));                                     \
    _mm512_mask_storeu_ps(cr + 32, m2, finish(v2, alpha, beta, m2, cr + 32));                                     \
    _mm512_mask_storeu_ps(cr + 48, m3, finish(v3, alpha, beta, m3, cr + 48));                                     \
  }
      DSK_STORE_ROW(0, c00, c01, c02, c03)
      DSK_STORE_ROW(1, c10, c11, c12, c13)
      DSK_STORE_ROW(2, c20, c21, c22, c23)
      DSK_STORE_ROW(3, c30, c31, c32, c33)
#undef DSK_STORE_ROW
    }
  }
}

/// The lane sums of four vectors, as the four lanes of one 128-bit vector.
static inline __m128 lane_sums(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
  const __m256 t0 = _mm256_add_ps(_mm512_castps512_ps256(v0), _mm512_extractf32x8_ps(v0, 1));
  const __m256 t1 = _mm256_add_ps(_mm512_castps512_ps256(v1), _mm512_extractf32x8_ps(v1, 1));
  const __m256 t2 = _mm256_add_ps(_mm512_castps512_ps256(v2), _mm512_extractf32x8_ps(v2, 1));
  const __m256 t3 = _mm256_add_ps(_mm512_castps512_ps256(v3), _mm512_extractf32x8_ps(v3, 1));
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(t0, t1), _mm256_hadd_ps(t2, t3));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

static void small_dot(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a, ptrdiff_t lda,
                      const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc) {
  const ptrdiff_t full = k & ~(ptrdiff_t)15;
  for (ptrdiff_t j = 0; j < n; j += 4) {
    const float *b0 = b + j * ldb, *b1 = clamped_row(b, j + 1, n, ldb);
    const float *b2 = clamped_row(b, j + 2, n, ldb), *b3 = clamped_row(b, j + 3, n, ldb);
    const int cols = n - j < 4 ? (int)(n - j) : 4;
    const __mmask8 cm = (__mmask8)((1u << cols) - 1u);
    for (ptrdiff_t i = 0; i < m; i += 4) {
      const float *a0 = a + i * lda, *a1 = clamped_row(a, i + 1, m, lda);
      const float *a2 = clamped_row(a, i + 2, m, lda), *a3 = clamped_row(a, i + 3, m, lda);
      __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
      __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
      __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
      __m512 c30 = c00, c31 = c00, c32 = c00, c33 = c00;
      for (ptrdiff_t p = 0; p < k; p += 16) {
        const __mmask16 mk = p < full ? (__mmask16)0xFFFF : tail_mask(k - p);
        const __m512 y0 = _mm512_maskz_loadu_ps(mk, b0 + p), y1 = _mm512_maskz_loadu_ps(mk, b1 + p);
        const __m512 y2 = _mm512_maskz_loadu_ps(mk, b2 + p), y3 = _mm512_maskz_loadu_ps(mk, b3 + p);
        __m512 x = _mm512_maskz_loadu_ps(mk, a0 + p);
        c00 = _mm512_fmadd_ps(x, y0, c00), c01 = _mm512_fmadd_ps(x, y1, c01);
        c02 = _mm512_fmadd_ps(x, y2, c02), c03 = _mm512_fmadd_ps(x, y3, c03);
        x = _mm512_maskz_loadu_ps(mk, a1 + p);
        c10 = _mm512_fmadd_ps(x, y0, c10), c11 = _mm512_fmadd_ps(x, y1, c11);
        c12 = _mm512_fmadd_ps(x, y2, c12), c13 = _mm512_fmadd_ps(x, y3, c13);
        x = _mm512_maskz_loadu_ps(mk, a2 + p);
        c20 = _mm512_fmadd_ps(x, y0, c20), c21 = _mm512_fmadd_ps(x, y1, c21);
        c22 = _mm512_fmadd_ps(x, y2, c22), c23 = _mm512_fmadd_ps(x, y3, c23);
        x = _mm512_maskz_loadu_ps(mk, a3 + p);
        c30 = _mm512_fmadd_ps(x, y0, c30), c31 = _mm512_fmadd_ps(x, y1, c31);
        c32 = _mm512_fmadd_ps(x, y2, c32), c33 = _mm512_fmadd_ps(x, y3, c33);
      }
      const __m128 sums[4] = {lane_sums(c00, c01, c02, c03), lane_sums(c10, c11, c12, c13),
                              lane_sums(c20, c21, c22, c23), lane_sums(c30, c31, c32, c33)};
      for (int r = 0; r < 4 && i + r < m; r++) {
        float *cr = c + (i + r) * ldc + j;
        __m128 v = sums[r];
        if (alpha != 1.0f) v = _mm_mul_ps(_mm_set1_ps(alpha), v);
        if (beta != 0.0f) v = _mm_fmadd_ps(_mm_set1_ps(beta), _mm_maskz_loadu_ps(cm, cr), v);
        _mm_mask_storeu_ps(cr, cm, v);
      }
    }
  }
}

void dsk_small_sgemm_avx512(int transB, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a,
                            ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc) {
  if (transB) {
    small_dot(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    small_bcast(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

#endif
