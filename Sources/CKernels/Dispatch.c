// Run-time choice between the AVX2+FMA and the portable kernels (Sources/CKernels/include/CKernels.h).
//
// The first call of any kernel reads the processor's features (`__builtin_cpu_supports`, which also checks that
// the operating system saves the AVX registers) and the environment variable DIFFSBI_PORTABLE_KERNELS, and caches
// a pointer to the chosen table of functions; `dsk_set_portable` replaces it. Every later call costs one load and
// one indirect call.

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "CKernels.h"

#define DSK_DECLARE(suffix)                                                                                         \
  void dsk_activation_values_##suffix(dsk_activation, ptrdiff_t, const float *, float *);                          \
  void dsk_activation_pairs_##suffix(dsk_activation, ptrdiff_t, const float *, float *, float *);                  \
  float dsk_layernorm_forward_row_##suffix(ptrdiff_t, const float *, const float *, const float *, float, float *,  \
                                           float *);                                                                \
  void dsk_layernorm_backward_row_##suffix(ptrdiff_t, const float *, const float *, float, const float *, float *,  \
                                           float *, float *);                                                       \
  float dsk_block_row_forward_##suffix(dsk_activation, ptrdiff_t, float *, const float *, const float *,            \
                                       const float *, float *, const float *, float *, float *, int, float *,       \
                                       const float *, const float *, float);                                        \
  void dsk_block_row_backward_##suffix(ptrdiff_t, const float *, const float *, float, const float *, float *,      \
                                       float *, float *, float *, const float *, const float *, const float *,      \
                                       float *, float *, int);                                                      \
  void dsk_adam_update_##suffix(ptrdiff_t, float *, const float *, float *, float *, float *,                       \
                                dsk_adam_coefficients);                                                             \
  float dsk_sum_of_squares_##suffix(ptrdiff_t, const float *);                                                      \
  void dsk_head_product_##suffix(ptrdiff_t, ptrdiff_t, ptrdiff_t, float, const float *, ptrdiff_t, ptrdiff_t,      \
                                 const float *, ptrdiff_t, float *, ptrdiff_t);                                     \
  void dsk_gru_forward_row_##suffix(ptrdiff_t, const float *, const float *, const float *, const float *, float *, \
                                    float *, float *, float *);                                                     \
  void dsk_gru_backward_row_##suffix(ptrdiff_t, const float *, const float *, const float *, const float *,         \
                                     const float *, float *, float *, float *, float *);

#define DSK_TABLE(suffix)                                                                                           \
  {dsk_activation_values_##suffix,      dsk_activation_pairs_##suffix,  dsk_layernorm_forward_row_##suffix,         \
   dsk_layernorm_backward_row_##suffix, dsk_block_row_forward_##suffix, dsk_block_row_backward_##suffix,            \
   dsk_adam_update_##suffix,            dsk_sum_of_squares_##suffix,    dsk_head_product_##suffix,                  \
   dsk_gru_forward_row_##suffix,        dsk_gru_backward_row_##suffix}

typedef struct {
  void (*activation_values)(dsk_activation, ptrdiff_t, const float *, float *);
  void (*activation_pairs)(dsk_activation, ptrdiff_t, const float *, float *, float *);
  float (*layernorm_forward_row)(ptrdiff_t, const float *, const float *, const float *, float, float *, float *);
  void (*layernorm_backward_row)(ptrdiff_t, const float *, const float *, float, const float *, float *, float *,
                                 float *);
  float (*block_row_forward)(dsk_activation, ptrdiff_t, float *, const float *, const float *, const float *, float *,
                             const float *, float *, float *, int, float *, const float *, const float *, float);
  void (*block_row_backward)(ptrdiff_t, const float *, const float *, float, const float *, float *, float *, float *,
                             float *, const float *, const float *, const float *, float *, float *, int);
  void (*adam_update)(ptrdiff_t, float *, const float *, float *, float *, float *, dsk_adam_coefficients);
  float (*sum_of_squares)(ptrdiff_t, const float *);
  void (*head_product)(ptrdiff_t, ptrdiff_t, ptrdiff_t, float, const float *, ptrdiff_t, ptrdiff_t, const float *,
                       ptrdiff_t, float *, ptrdiff_t);
  void (*gru_forward_row)(ptrdiff_t, const float *, const float *, const float *, const float *, float *, float *,
                          float *, float *);
  void (*gru_backward_row)(ptrdiff_t, const float *, const float *, const float *, const float *, const float *,
                           float *, float *, float *, float *);
} dsk_table;

DSK_DECLARE(portable)
static const dsk_table portable_table = DSK_TABLE(portable);

#if defined(__x86_64__) || defined(__i386__)
#define DSK_HAS_AVX2_VARIANT 1
DSK_DECLARE(avx2)
static const dsk_table avx2_table = DSK_TABLE(avx2);
#endif

#if defined(__x86_64__)
#define DSK_HAS_SMALL_GEMM 1
void dsk_small_sgemm_avx512(int, ptrdiff_t, ptrdiff_t, ptrdiff_t, float, const float *, ptrdiff_t, const float *,
                            ptrdiff_t, float, float *, ptrdiff_t);
#endif

static _Atomic(const dsk_table *) current_table = NULL;
static atomic_int forced_portable = 0;

int dsk_avx2_available(void) {
#ifdef DSK_HAS_AVX2_VARIANT
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return 0;
#endif
}

int dsk_avx512_available(void) {
#ifdef DSK_HAS_SMALL_GEMM
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("fma");
#else
  return 0;
#endif
}

/// The table the automatic choice gives: AVX2 where available, unless DIFFSBI_PORTABLE_KERNELS asks otherwise.
static const dsk_table *choose(void) {
#ifdef DSK_HAS_AVX2_VARIANT
  if (atomic_load_explicit(&forced_portable, memory_order_relaxed)) return &portable_table;
  const char *env = getenv("DIFFSBI_PORTABLE_KERNELS");
  if (env && *env && strcmp(env, "0") != 0) return &portable_table;
  if (dsk_avx2_available()) return &avx2_table;
#endif
  return &portable_table;
}

static inline const dsk_table *table(void) {
  const dsk_table *t = atomic_load_explicit(&current_table, memory_order_acquire);
  if (__builtin_expect(t == NULL, 0)) {
    t = choose();
    atomic_store_explicit(&current_table, t, memory_order_release);
  }
  return t;
}

void dsk_set_portable(int on) {
  atomic_store_explicit(&forced_portable, on != 0, memory_order_relaxed);
  atomic_store_explicit(&current_table, choose(), memory_order_release);
}

int dsk_uses_avx2(void) {
#ifdef DSK_HAS_AVX2_VARIANT
  return table() == &avx2_table;
#else
  return 0;
#endif
}

static atomic_int avx512_state = -1;  // -1: not yet read, else dsk_avx512_available()

int dsk_small_sgemm(int transB, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a,
                    ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc) {
#ifdef DSK_HAS_SMALL_GEMM
  int state = atomic_load_explicit(&avx512_state, memory_order_relaxed);
  if (state < 0) {
    state = dsk_avx512_available();
    atomic_store_explicit(&avx512_state, state, memory_order_relaxed);
  }
  if (!state) return 0;
  dsk_small_sgemm_avx512(transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  return 1;
#else
  (void)transB, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb;
  (void)beta, (void)c, (void)ldc;
  return 0;
#endif
}

void dsk_activation_values(dsk_activation kind, ptrdiff_t n, const float *x, float *y) {
  table()->activation_values(kind, n, x, y);
}

void dsk_activation_pairs(dsk_activation kind, ptrdiff_t n, const float *x, float *y, float *derivative) {
  table()->activation_pairs(kind, n, x, y, derivative);
}

float dsk_layernorm_forward_row(ptrdiff_t n, const float *x, const float *gamma, const float *beta, float epsilon,
                                float *y, float *xhat) {
  return table()->layernorm_forward_row(n, x, gamma, beta, epsilon, y, xhat);
}

void dsk_layernorm_backward_row(ptrdiff_t n, const float *dy, const float *xhat, float rstd, const float *gamma,
                                float *dgamma, float *dbeta, float *dx) {
  table()->layernorm_backward_row(n, dy, xhat, rstd, gamma, dgamma, dbeta, dx);
}

float dsk_block_row_forward(dsk_activation kind, ptrdiff_t w, float *z, const float *bias, const float *film,
                            const float *residual, float *out, const float *mask, float *gate, float *act, int scaled,
                            float *xhat, const float *gamma, const float *beta, float epsilon) {
  return table()->block_row_forward(kind, w, z, bias, film, residual, out, mask, gate, act, scaled, xhat, gamma, beta,
                                    epsilon);
}

void dsk_block_row_backward(ptrdiff_t w, const float *dh, const float *xhat, float rstd, const float *gamma,
                            float *dgamma, float *dbeta, float *dr, float *dfilm, const float *act, const float *film,
                            const float *gate, float *dz, float *dbias, int scaled) {
  table()->block_row_backward(w, dh, xhat, rstd, gamma, dgamma, dbeta, dr, dfilm, act, film, gate, dz, dbias, scaled);
}

void dsk_adam_update(ptrdiff_t n, float *theta, const float *g, float *m, float *v, float *shadow,
                     dsk_adam_coefficients k) {
  table()->adam_update(n, theta, g, m, v, shadow, k);
}

float dsk_sum_of_squares(ptrdiff_t n, const float *x) { return table()->sum_of_squares(n, x); }

void dsk_head_product(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a, ptrdiff_t ars,
                      ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc) {
  table()->head_product(m, n, k, alpha, a, ars, acs, b, ldb, c, ldc);
}

void dsk_gru_forward_row(ptrdiff_t h, const float *gx, const float *gh, const float *bias, const float *hPrev,
                         float *zr, float *n, float *hn, float *hNext) {
  table()->gru_forward_row(h, gx, gh, bias, hPrev, zr, n, hn, hNext);
}

void dsk_gru_backward_row(ptrdiff_t h, const float *z, const float *r, const float *n, const float *hn,
                          const float *hPrev, float *dh, float *dgx, float *dgh, float *sums) {
  table()->gru_backward_row(h, z, r, n, hn, hPrev, dh, dgx, dgh, sums);
}
