// The kernels of CKernels, written once and compiled once per instruction set: Portable.c includes this file
// with DSK_NAME(f) = f_portable, AVX2.c with DSK_NAME(f) = f_avx2 and every function compiled for
// target("avx2,fma"). Declarations and semantics: Sources/CKernels/include/CKernels.h.
//
// The code uses 8-lane vectors (GCC/Clang vector extensions): one AVX register in the AVX2 variant, two SSE or NEON
// registers in the portable one. Each kernel does the same operations in the same order as the Swift code it
// replaced (Sources/NumericCore/VectorMath.swift for exp and tanh), and floating-point contraction is off, so
// the two variants agree bit for bit and the FMA instructions are never formed implicitly.

#ifndef DSK_NAME
#error "include from Portable.c or AVX2.c"
#endif

#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
// Vectors cross function boundaries only between always-inlined helpers, so the calling convention of 32-byte
// vectors without AVX does not matter.
#pragma clang diagnostic ignored "-Wpsabi"
#endif

#include <math.h>
#include <string.h>

#include "CKernels.h"

typedef float dsk_v __attribute__((vector_size(32)));
typedef int dsk_i __attribute__((vector_size(32)));

#define DSK_INLINE static inline __attribute__((always_inline))

DSK_INLINE dsk_v dsk_splat(float s) { return (dsk_v){s, s, s, s, s, s, s, s}; }
DSK_INLINE dsk_i dsk_isplat(int s) { return (dsk_i){s, s, s, s, s, s, s, s}; }

DSK_INLINE dsk_v dsk_load(const float *p) {
  dsk_v v;
  memcpy(&v, p, sizeof v);
  return v;
}

DSK_INLINE void dsk_store(dsk_v v, float *p) { memcpy(p, &v, sizeof v); }

/// Loads `n` ≤ 8 elements, zero-padded.
DSK_INLINE dsk_v dsk_load_n(const float *p, ptrdiff_t n) {
  if (n == 8) return dsk_load(p);
  float b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (ptrdiff_t l = 0; l < n; l++) b[l] = p[l];
  return dsk_load(b);
}

/// Stores the first `n` ≤ 8 lanes.
DSK_INLINE void dsk_store_n(dsk_v v, float *p, ptrdiff_t n) {
  if (n == 8) {
    dsk_store(v, p);
    return;
  }
  float b[8];
  dsk_store(v, b);
  for (ptrdiff_t l = 0; l < n; l++) p[l] = b[l];
}

/// Runs `body` for consecutive chunks of `w` elements: `k` the offset and `c` the chunk's length, the constant 8
/// in the main loop (so the partial loads and stores vanish from it) and `w − k` < 8 in a last partial chunk.
#define DSK_FOR_CHUNKS(k, c, w, ...)                                                                                \
  do {                                                                                                              \
    ptrdiff_t k = 0;                                                                                                \
    for (; k + 8 <= (w); k += 8) {                                                                                  \
      const ptrdiff_t c = 8;                                                                                        \
      __VA_ARGS__                                                                                                   \
    }                                                                                                               \
    if (k < (w)) {                                                                                                  \
      const ptrdiff_t c = (w) - k;                                                                                  \
      __VA_ARGS__                                                                                                   \
    }                                                                                                               \
  } while (0)

/// Lane-wise square root (one vector instruction, no `errno`).
DSK_INLINE dsk_v dsk_sqrt(dsk_v v) {
#if defined(__has_builtin)
#if __has_builtin(__builtin_elementwise_sqrt)
#define DSK_HAS_ELEMENTWISE_SQRT 1
#endif
#endif
#ifdef DSK_HAS_ELEMENTWISE_SQRT
  return __builtin_elementwise_sqrt(v);
#else
  for (int l = 0; l < 8; l++) v[l] = __builtin_sqrtf(v[l]);
  return v;
#endif
}

DSK_INLINE dsk_i dsk_bits(dsk_v v) { return (dsk_i)v; }
DSK_INLINE dsk_v dsk_float(dsk_i v) { return (dsk_v)v; }

/// Lanes of `a` where `mask` is set, of `b` elsewhere (Swift's `b.replacing(with: a, where: mask)`).
DSK_INLINE dsk_v dsk_select(dsk_i mask, dsk_v a, dsk_v b) {
  return dsk_float((mask & dsk_bits(a)) | (~mask & dsk_bits(b)));
}

/// Lane sum in lane order (as Swift's `SIMD8.sum()`).
DSK_INLINE float dsk_sum8(dsk_v v) {
  float r = v[0];
  for (int l = 1; l < 8; l++) r += v[l];
  return r;
}

// MARK: - exp and tanh (VectorMath.expCore, VectorMath.exp, VectorMath.tanh)

/// e^x for x in [−104, 88.7228]: 2^n·p(r) with the Cephes polynomial.
DSK_INLINE dsk_v dsk_exp_core(dsk_v v) {
  const dsk_v magic = dsk_splat(12582912.0f);
  dsk_v t = v * dsk_splat(1.44269504088896341f) + magic;
  dsk_v nf = t - magic;
  dsk_i n = dsk_bits(t) - dsk_bits(magic);
  dsk_v r = v - nf * dsk_splat(0.693359375f);
  r = r - nf * dsk_splat(-2.12194440e-4f);
  dsk_v z = r * r;
  dsk_v p = dsk_splat(1.9875691500e-4f);
  p = p * r + dsk_splat(1.3981999507e-3f);
  p = p * r + dsk_splat(8.3334519073e-3f);
  p = p * r + dsk_splat(4.1665795894e-2f);
  p = p * r + dsk_splat(1.6666665459e-1f);
  p = p * r + dsk_splat(5.0000001201e-1f);
  p = p * z + r + dsk_splat(1.0f);
  dsk_i n1 = n >> 1;
  dsk_i n2 = n - n1;
  dsk_i bias = dsk_isplat(127);
  dsk_v s1 = dsk_float((n1 + bias) << 23);
  dsk_v s2 = dsk_float((n2 + bias) << 23);
  return p * s1 * s2;
}

/// e^x with overflow to +inf, underflow to 0 and NaN passed through.
DSK_INLINE dsk_v dsk_exp(dsk_v x) {
  const dsk_v hi = dsk_splat(88.722839f), lo = dsk_splat(-104.0f);
  dsk_v v = x;
  v = dsk_select(x > hi, hi, v);
  v = dsk_select(x < lo, lo, v);
  dsk_v y = dsk_exp_core(v);
  y = dsk_select(x > hi, dsk_splat(INFINITY), y);
  y = dsk_select(x < lo, dsk_splat(0.0f), y);
  y = dsk_select(x != x, x, y);
  return y;
}

DSK_INLINE dsk_v dsk_tanh(dsk_v x) {
  const dsk_i sign = dsk_isplat((int)0x80000000u);
  dsk_v ax = dsk_float(dsk_bits(x) & ~sign);
  dsk_v z = x * x;
  dsk_v p = dsk_splat(-5.70498872745e-3f);
  p = p * z + dsk_splat(2.06390887954e-2f);
  p = p * z + dsk_splat(-5.37397155531e-2f);
  p = p * z + dsk_splat(1.33314422036e-1f);
  p = p * z + dsk_splat(-3.33332819422e-1f);
  dsk_v small = p * z * x + x;
  dsk_v e = dsk_exp(ax + ax);
  dsk_v big = dsk_splat(1.0f) - dsk_splat(2.0f) / (e + dsk_splat(1.0f));
  dsk_v r = dsk_float(dsk_bits(big) | (dsk_bits(x) & sign));
  r = dsk_select(ax < dsk_splat(0.625f), small, r);
  r = dsk_select(x != x, x, r);
  return r;
}

DSK_INLINE dsk_v dsk_sigmoid(dsk_v x) {
  const dsk_i sign = dsk_isplat((int)0x80000000u);
  dsk_v e = dsk_exp(dsk_float(dsk_bits(x) | sign));
  const dsk_v one = dsk_splat(1.0f);
  dsk_v r = one / (one + e);
  r = dsk_select(x < dsk_splat(0.0f), e / (one + e), r);
  r = dsk_select(x != x, x, r);
  return r;
}

// MARK: - Activations (Sources/NeuralNet/Activation.swift has the formulas)

/// Mish value: one exp of x clamped to [−104, 20]; −inf gives 0, NaN stays NaN.
DSK_INLINE dsk_v dsk_mish(dsk_v x) {
  dsk_v c = x;
  c = dsk_select(x > dsk_splat(20.0f), dsk_splat(20.0f), c);
  c = dsk_select(x < dsk_splat(-104.0f), dsk_splat(-104.0f), c);
  dsk_v e = dsk_exp_core(c);
  dsk_v n = e * (e + dsk_splat(2.0f));
  dsk_v t = n / (n + dsk_splat(2.0f));
  dsk_v r = x * t;
  r = dsk_select(x == dsk_splat(-INFINITY), dsk_splat(0.0f), r);
  r = dsk_select(x != x, x, r);
  return r;
}

/// Mish value and derivative from one exp of x clamped to [−88, 20].
DSK_INLINE void dsk_mish_pair(dsk_v x, dsk_v *value, dsk_v *derivative) {
  const dsk_v one = dsk_splat(1.0f), two = dsk_splat(2.0f);
  dsk_v c = x;
  c = dsk_select(x > dsk_splat(20.0f), dsk_splat(20.0f), c);
  c = dsk_select(x < dsk_splat(-88.0f), dsk_splat(-88.0f), c);
  dsk_v e = dsk_exp(c);
  dsk_v n = e * (e + two);
  dsk_v t = n / (n + two);
  dsk_v s = e / (one + e);
  dsk_v v = c * t;
  v = dsk_select(x > dsk_splat(20.0f), x, v);
  *value = v;
  *derivative = t + c * s * (one - t * t);
}

DSK_INLINE void dsk_silu_pair(dsk_v x, dsk_v *value, dsk_v *derivative) {
  dsk_v s = dsk_sigmoid(x);
  const dsk_v one = dsk_splat(1.0f);
  *value = x * s;
  *derivative = s * (one + x * (one - s));
}

DSK_INLINE void dsk_gelu_pair(dsk_v x, dsk_v *value, dsk_v *derivative) {
  const dsk_v c = dsk_splat(0.7978845608028654f), k = dsk_splat(0.044715f);
  const dsk_v one = dsk_splat(1.0f), half = dsk_splat(0.5f);
  dsk_v xc = x;
  xc = dsk_select(x > dsk_splat(10.0f), dsk_splat(10.0f), xc);
  xc = dsk_select(x < dsk_splat(-10.0f), dsk_splat(-10.0f), xc);
  dsk_v x2 = xc * xc;
  dsk_v u = c * (xc + k * x2 * xc);
  dsk_v t = dsk_tanh(u);
  *value = half * x * (one + t);
  dsk_v du = c * (one + dsk_splat(3.0f) * k * x2);
  *derivative = half * (one + t) + half * xc * (one - t * t) * du;
}

DSK_INLINE void dsk_relu_pair(dsk_v x, dsk_v *value, dsk_v *derivative) {
  dsk_i neg = x <= dsk_splat(0.0f);
  *value = dsk_select(neg, dsk_splat(0.0f), x);
  *derivative = dsk_select(neg, dsk_splat(0.0f), dsk_splat(1.0f));
}

DSK_INLINE dsk_v dsk_value(dsk_activation kind, dsk_v x) {
  dsk_v v, d;
  switch (kind) {
  case DSK_MISH: return dsk_mish(x);
  case DSK_SILU: return x * dsk_sigmoid(x);
  case DSK_GELU: dsk_gelu_pair(x, &v, &d); return v;
  case DSK_RELU: return dsk_select(x < dsk_splat(0.0f), dsk_splat(0.0f), x);
  default: return x;
  }
}

DSK_INLINE void dsk_pair(dsk_activation kind, dsk_v x, dsk_v *v, dsk_v *d) {
  switch (kind) {
  case DSK_MISH: dsk_mish_pair(x, v, d); return;
  case DSK_SILU: dsk_silu_pair(x, v, d); return;
  case DSK_GELU: dsk_gelu_pair(x, v, d); return;
  case DSK_RELU: dsk_relu_pair(x, v, d); return;
  default: *v = x; *d = dsk_splat(1.0f); return;
  }
}

/// The values loop for one activation; `kind` is a constant where it is inlined, so each case gets its own loop.
DSK_INLINE void dsk_values_loop(dsk_activation kind, ptrdiff_t n, const float *x, float *y) {
  ptrdiff_t i = 0;
  for (; i + 8 <= n; i += 8) dsk_store(dsk_value(kind, dsk_load(x + i)), y + i);
  if (i < n) dsk_store_n(dsk_value(kind, dsk_load_n(x + i, n - i)), y + i, n - i);
}

DSK_INLINE void dsk_pairs_loop(dsk_activation kind, ptrdiff_t n, const float *x, float *y, float *derivative) {
  ptrdiff_t i = 0;
  dsk_v v, d;
  for (; i + 8 <= n; i += 8) {
    dsk_pair(kind, dsk_load(x + i), &v, &d);
    dsk_store(v, y + i);
    dsk_store(d, derivative + i);
  }
  if (i < n) {
    dsk_pair(kind, dsk_load_n(x + i, n - i), &v, &d);
    dsk_store_n(v, y + i, n - i);
    dsk_store_n(d, derivative + i, n - i);
  }
}

void DSK_NAME(dsk_activation_values)(dsk_activation kind, ptrdiff_t n, const float *x, float *y) {
  switch (kind) {
  case DSK_MISH: dsk_values_loop(DSK_MISH, n, x, y); break;
  case DSK_SILU: dsk_values_loop(DSK_SILU, n, x, y); break;
  case DSK_GELU: dsk_values_loop(DSK_GELU, n, x, y); break;
  case DSK_RELU: dsk_values_loop(DSK_RELU, n, x, y); break;
  default:
    if (y != x) memmove(y, x, (size_t)n * sizeof(float));
    break;
  }
}

void DSK_NAME(dsk_activation_pairs)(dsk_activation kind, ptrdiff_t n, const float *x, float *y, float *derivative) {
  switch (kind) {
  case DSK_MISH: dsk_pairs_loop(DSK_MISH, n, x, y, derivative); break;
  case DSK_SILU: dsk_pairs_loop(DSK_SILU, n, x, y, derivative); break;
  case DSK_GELU: dsk_pairs_loop(DSK_GELU, n, x, y, derivative); break;
  case DSK_RELU: dsk_pairs_loop(DSK_RELU, n, x, y, derivative); break;
  default: dsk_pairs_loop(DSK_IDENTITY, n, x, y, derivative); break;
  }
}

// MARK: - LayerNorm (Sources/NeuralNet/LayerNorm.swift has the formulas)

DSK_INLINE float dsk_layernorm_forward(ptrdiff_t n, const float *x, const float *gamma, const float *beta,
                                       float epsilon, float *y, float *xhat) {
  dsk_v acc = dsk_splat(0.0f);
  ptrdiff_t j = 0;
  for (; j + 8 <= n; j += 8) acc += dsk_load(x + j);
  if (j < n) acc += dsk_load_n(x + j, n - j);
  const float mean = dsk_sum8(acc) / (float)n;
  const dsk_v mv = dsk_splat(mean);
  acc = dsk_splat(0.0f);
  for (j = 0; j + 8 <= n; j += 8) {
    dsk_v d = dsk_load(x + j) - mv;
    acc += d * d;
  }
  if (j < n) {
    dsk_v d = dsk_load_n(x + j, n - j) - mv;
    for (ptrdiff_t l = n - j; l < 8; l++) d[l] = 0;
    acc += d * d;
  }
  const float rstd = 1.0f / sqrtf(dsk_sum8(acc) / (float)n + epsilon);
  const dsk_v rv = dsk_splat(rstd);
  DSK_FOR_CHUNKS(j, c, n, {
    dsk_v h = (dsk_load_n(x + j, c) - mv) * rv;
    if (xhat) dsk_store_n(h, xhat + j, c);
    dsk_store_n(h * dsk_load_n(gamma + j, c) + dsk_load_n(beta + j, c), y + j, c);
  });
  return rstd;
}

DSK_INLINE void dsk_layernorm_backward(ptrdiff_t n, const float *dy, const float *xhat, float rstd,
                                       const float *gamma, float *dgamma, float *dbeta, float *dx) {
  dsk_v sg = dsk_splat(0.0f), sgx = dsk_splat(0.0f);
  DSK_FOR_CHUNKS(j, c, n, {
    dsk_v d = dsk_load_n(dy + j, c);
    dsk_v h = dsk_load_n(xhat + j, c);
    dsk_v g = d * dsk_load_n(gamma + j, c);
    sg += g;
    sgx += g * h;
    dsk_store_n(dsk_load_n(dgamma + j, c) + d * h, dgamma + j, c);
    dsk_store_n(dsk_load_n(dbeta + j, c) + d, dbeta + j, c);
  });
  const dsk_v mg = dsk_splat(dsk_sum8(sg) / (float)n);
  const dsk_v mgx = dsk_splat(dsk_sum8(sgx) / (float)n);
  const dsk_v rv = dsk_splat(rstd);
  DSK_FOR_CHUNKS(j, c, n, {
    dsk_v g = dsk_load_n(dy + j, c) * dsk_load_n(gamma + j, c);
    dsk_store_n(rv * (g - mg - dsk_load_n(xhat + j, c) * mgx), dx + j, c);
  });
}

float DSK_NAME(dsk_layernorm_forward_row)(ptrdiff_t n, const float *x, const float *gamma, const float *beta,
                                          float epsilon, float *y, float *xhat) {
  return dsk_layernorm_forward(n, x, gamma, beta, epsilon, y, xhat);
}

void DSK_NAME(dsk_layernorm_backward_row)(ptrdiff_t n, const float *dy, const float *xhat, float rstd,
                                          const float *gamma, float *dgamma, float *dbeta, float *dx) {
  dsk_layernorm_backward(n, dy, xhat, rstd, gamma, dgamma, dbeta, dx);
}

// MARK: - TimeMLP residual block rows (Sources/NeuralNet/TimeMLP+Passes.swift)

DSK_INLINE float dsk_block_row(dsk_activation kind, ptrdiff_t w, float *z, const float *bias, const float *film,
                               const float *residual, float *out, const float *mask, float *gate, float *act,
                               int scaled, float *xhat, const float *gamma, const float *beta, float epsilon) {
  const dsk_v one = dsk_splat(1.0f);
  DSK_FOR_CHUNKS(k, c, w, {
    dsk_store_n(dsk_load_n(z + k, c) + dsk_load_n(bias + k, c), z + k, c);
  });
  if (gate) {
    dsk_pairs_loop(kind, w, z, z, gate);
  } else {
    dsk_values_loop(kind, w, z, z);
  }
  if (mask) {
    DSK_FOR_CHUNKS(k, c, w, {
      dsk_v m = dsk_load_n(mask + k, c);
      dsk_store_n(dsk_load_n(z + k, c) * m, z + k, c);
      if (gate) dsk_store_n(dsk_load_n(gate + k, c) * m, gate + k, c);
    });
  }
  if (scaled) {
    if (act) memcpy(act, z, (size_t)w * sizeof(float));
    DSK_FOR_CHUNKS(k, c, w, {
      dsk_v a = dsk_load_n(z + k, c) * (one + dsk_load_n(film + k, c)) + dsk_load_n(film + w + k, c);
      dsk_store_n(a + dsk_load_n(residual + k, c), out + k, c);
    });
  } else {
    DSK_FOR_CHUNKS(k, c, w, {
      dsk_store_n(dsk_load_n(z + k, c) + dsk_load_n(film + k, c) + dsk_load_n(residual + k, c), out + k, c);
    });
  }
  return dsk_layernorm_forward(w, out, gamma, beta, epsilon, out, xhat);
}

float DSK_NAME(dsk_block_row_forward)(dsk_activation kind, ptrdiff_t w, float *z, const float *bias,
                                      const float *film, const float *residual, float *out, const float *mask,
                                      float *gate, float *act, int scaled, float *xhat, const float *gamma,
                                      const float *beta, float epsilon) {
  switch (kind) {
  case DSK_MISH:
    return dsk_block_row(DSK_MISH, w, z, bias, film, residual, out, mask, gate, act, scaled, xhat, gamma, beta,
                         epsilon);
  case DSK_SILU:
    return dsk_block_row(DSK_SILU, w, z, bias, film, residual, out, mask, gate, act, scaled, xhat, gamma, beta,
                         epsilon);
  case DSK_GELU:
    return dsk_block_row(DSK_GELU, w, z, bias, film, residual, out, mask, gate, act, scaled, xhat, gamma, beta,
                         epsilon);
  case DSK_RELU:
    return dsk_block_row(DSK_RELU, w, z, bias, film, residual, out, mask, gate, act, scaled, xhat, gamma, beta,
                         epsilon);
  default:
    return dsk_block_row(DSK_IDENTITY, w, z, bias, film, residual, out, mask, gate, act, scaled, xhat, gamma, beta,
                         epsilon);
  }
}

void DSK_NAME(dsk_block_row_backward)(ptrdiff_t w, const float *dh, const float *xhat, float rstd,
                                      const float *gamma, float *dgamma, float *dbeta, float *dr, float *dfilm,
                                      const float *act, const float *film, const float *gate, float *dz,
                                      float *dbias, int scaled) {
  dsk_layernorm_backward(w, dh, xhat, rstd, gamma, dgamma, dbeta, dr);
  const dsk_v one = dsk_splat(1.0f);
  DSK_FOR_CHUNKS(k, c, w, {
    dsk_v drv = dsk_load_n(dr + k, c);
    dsk_v da = drv;
    if (scaled) {
      dsk_store_n(drv * dsk_load_n(act + k, c), dfilm + k, c);
      dsk_store_n(drv, dfilm + w + k, c);
      da = drv * (one + dsk_load_n(film + k, c));
    } else {
      dsk_store_n(drv, dfilm + k, c);
    }
    dsk_v dzv = da * dsk_load_n(gate + k, c);
    dsk_store_n(dzv, dz + k, c);
    dsk_store_n(dsk_load_n(dbias + k, c) + dzv, dbias + k, c);
  });
}

// MARK: - Optimizer (Sources/NeuralNet/Optimizer.swift has the update)

DSK_INLINE void dsk_adam_chunk(float *theta, const float *g, float *m, float *v, float *shadow, ptrdiff_t c,
                               dsk_v b1, dsk_v c1, dsk_v b2, dsk_v c2, dsk_v eps, dsk_v a, dsk_v d, dsk_v s, dsk_v eb,
                               dsk_v ec) {
  dsk_v gv = dsk_load_n(g, c) * s;
  dsk_v mv = b1 * dsk_load_n(m, c) + c1 * gv;
  dsk_v vv = b2 * dsk_load_n(v, c) + c2 * gv * gv;
  dsk_v t = dsk_load_n(theta, c) * d - a * mv / (dsk_sqrt(vv) + eps);
  dsk_store_n(mv, m, c);
  dsk_store_n(vv, v, c);
  dsk_store_n(t, theta, c);
  if (shadow) dsk_store_n(eb * dsk_load_n(shadow, c) + ec * t, shadow, c);
}

void DSK_NAME(dsk_adam_update)(ptrdiff_t n, float *theta, const float *g, float *m, float *v, float *shadow,
                               dsk_adam_coefficients k) {
  const dsk_v b1 = dsk_splat(k.beta1), c1 = dsk_splat(1 - k.beta1);
  const dsk_v b2 = dsk_splat(k.beta2), c2 = dsk_splat(1 - k.beta2);
  const dsk_v eps = dsk_splat(k.epsilon), a = dsk_splat(k.alpha), d = dsk_splat(k.decay);
  const dsk_v s = dsk_splat(k.gradientScale);
  const dsk_v eb = dsk_splat(k.emaBeta), ec = dsk_splat(1 - k.emaBeta);
  ptrdiff_t i = 0;
  if (shadow) {
    for (; i + 8 <= n; i += 8)
      dsk_adam_chunk(theta + i, g + i, m + i, v + i, shadow + i, 8, b1, c1, b2, c2, eps, a, d, s, eb, ec);
  } else {
    for (; i + 8 <= n; i += 8)
      dsk_adam_chunk(theta + i, g + i, m + i, v + i, NULL, 8, b1, c1, b2, c2, eps, a, d, s, eb, ec);
  }
  if (i < n)
    dsk_adam_chunk(theta + i, g + i, m + i, v + i, shadow ? shadow + i : NULL, n - i, b1, c1, b2, c2, eps, a, d, s,
                   eb, ec);
}

// MARK: - Attention heads (Sources/NeuralNet/MultiHeadAttention.swift)

/// One column block of `w` = 32, 16 or 8 columns for one row of A: `acc[q] += a[p] · B[p, j + 8q ..]`.
#define DSK_PRODUCT_ROW1(W)                                                                                         \
  for (; j + (W) <= n; j += (W)) {                                                                                  \
    dsk_v s[(W) / 8];                                                                                               \
    for (int q = 0; q < (W) / 8; q++) s[q] = dsk_splat(0.0f);                                                       \
    for (ptrdiff_t p = 0; p < k; p++) {                                                                             \
      const dsk_v x = dsk_splat(ai[p * acs]);                                                                       \
      const float *bp = b + p * ldb + j;                                                                            \
      for (int q = 0; q < (W) / 8; q++) s[q] += x * dsk_load(bp + 8 * q);                                           \
    }                                                                                                               \
    for (int q = 0; q < (W) / 8; q++) dsk_store(al * s[q], ci + j + 8 * q);                                         \
  }

/// The same for two rows of A sharing the loads of B.
#define DSK_PRODUCT_ROW2(W)                                                                                         \
  for (; j + (W) <= n; j += (W)) {                                                                                  \
    dsk_v s[(W) / 8], t[(W) / 8];                                                                                   \
    for (int q = 0; q < (W) / 8; q++) s[q] = t[q] = dsk_splat(0.0f);                                                \
    for (ptrdiff_t p = 0; p < k; p++) {                                                                             \
      const dsk_v x = dsk_splat(a0[p * acs]), y = dsk_splat(a1[p * acs]);                                           \
      const float *bp = b + p * ldb + j;                                                                            \
      for (int q = 0; q < (W) / 8; q++) {                                                                           \
        const dsk_v bq = dsk_load(bp + 8 * q);                                                                      \
        s[q] += x * bq;                                                                                             \
        t[q] += y * bq;                                                                                             \
      }                                                                                                             \
    }                                                                                                               \
    for (int q = 0; q < (W) / 8; q++) {                                                                             \
      dsk_store(al * s[q], c0 + j + 8 * q);                                                                         \
      dsk_store(al * t[q], c1 + j + 8 * q);                                                                         \
    }                                                                                                               \
  }

void DSK_NAME(dsk_head_product)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *a, ptrdiff_t ars,
                                ptrdiff_t acs, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc) {
  const dsk_v al = dsk_splat(alpha);
  ptrdiff_t i0 = 0;
  // Pairs of rows first: twice the independent accumulators for the same loads of B.
  for (; i0 + 2 <= m; i0 += 2) {
    const float *a0 = a + i0 * ars, *a1 = a0 + ars;
    float *c0 = c + i0 * ldc, *c1 = c0 + ldc;
    ptrdiff_t j = 0;
    DSK_PRODUCT_ROW2(32)
    DSK_PRODUCT_ROW2(16)
    DSK_PRODUCT_ROW2(8)
    for (; j < n; j++) {
      float s = 0, t = 0;
      for (ptrdiff_t p = 0; p < k; p++) {
        s += a0[p * acs] * b[p * ldb + j];
        t += a1[p * acs] * b[p * ldb + j];
      }
      c0[j] = alpha * s;
      c1[j] = alpha * t;
    }
  }
  for (ptrdiff_t i = i0; i < m; i++) {
    const float *ai = a + i * ars;
    float *ci = c + i * ldc;
    ptrdiff_t j = 0;
    DSK_PRODUCT_ROW1(32)
    DSK_PRODUCT_ROW1(16)
    DSK_PRODUCT_ROW1(8)
    for (; j < n; j++) {
      float s = 0;
      for (ptrdiff_t p = 0; p < k; p++) s += ai[p * acs] * b[p * ldb + j];
      ci[j] = alpha * s;
    }
  }
}

// MARK: - GRU gates (Sources/NeuralNet/TimeSeriesNetwork.swift has the formulas)

/// σ(x) with the exponent clamped to [−88, 88].
DSK_INLINE dsk_v dsk_gru_sigmoid(dsk_v x) {
  dsk_v a = -x;
  a = dsk_select(a > dsk_splat(88.0f), dsk_splat(88.0f), a);
  a = dsk_select(a < dsk_splat(-88.0f), dsk_splat(-88.0f), a);
  return dsk_splat(1.0f) / (dsk_splat(1.0f) + dsk_exp_core(a));
}

/// tanh x in the Cephes form with 2|x| clamped at 88.
DSK_INLINE dsk_v dsk_gru_tanh(dsk_v x) {
  const dsk_v zero = dsk_splat(0.0f);
  dsk_v ax = dsk_select(x < zero, -x, x);
  dsk_v a2 = ax + ax;
  a2 = dsk_select(a2 > dsk_splat(88.0f), dsk_splat(88.0f), a2);
  dsk_v y = dsk_splat(1.0f) - dsk_splat(2.0f) / (dsk_exp_core(a2) + dsk_splat(1.0f));
  y = dsk_select(x < zero, -y, y);
  dsk_v s = x * x;
  dsk_v p = dsk_splat(-5.70498872745e-3f);
  p = p * s + dsk_splat(2.06390887954e-2f);
  p = p * s + dsk_splat(-5.37397155531e-2f);
  p = p * s + dsk_splat(1.33314422036e-1f);
  p = p * s + dsk_splat(-3.33332819422e-1f);
  return dsk_select(ax < dsk_splat(0.625f), p * s * x + x, y);
}

void DSK_NAME(dsk_gru_forward_row)(ptrdiff_t h, const float *gx, const float *gh, const float *bias,
                                   const float *hPrev, float *zr, float *n, float *hn, float *hNext) {
  DSK_FOR_CHUNKS(k, c, 2 * h, {
    dsk_v a = dsk_load_n(gx + k, c) + dsk_load_n(gh + k, c) + dsk_load_n(bias + k, c);
    dsk_store_n(dsk_gru_sigmoid(a), zr + k, c);
  });
  DSK_FOR_CHUNKS(j, c, h, {
    dsk_v zv = dsk_load_n(zr + j, c), rv = dsk_load_n(zr + h + j, c);
    dsk_v hnv = dsk_load_n(gh + 2 * h + j, c) + dsk_load_n(bias + 3 * h + j, c);
    dsk_v nv = dsk_gru_tanh(dsk_load_n(gx + 2 * h + j, c) + dsk_load_n(bias + 2 * h + j, c) + rv * hnv);
    dsk_store_n(nv, n + j, c);
    dsk_store_n(hnv, hn + j, c);
    dsk_store_n(nv + zv * (dsk_load_n(hPrev + j, c) - nv), hNext + j, c);
  });
}

void DSK_NAME(dsk_gru_backward_row)(ptrdiff_t h, const float *z, const float *r, const float *n, const float *hn,
                                    const float *hPrev, float *dh, float *dgx, float *dgh, float *sums) {
  const dsk_v one = dsk_splat(1.0f);
  DSK_FOR_CHUNKS(j, c, h, {
    dsk_v dv = dsk_load_n(dh + j, c), zv = dsk_load_n(z + j, c), rv = dsk_load_n(r + j, c);
    dsk_v nv = dsk_load_n(n + j, c);
    dsk_v dan = dv * (one - zv) * (one - nv * nv);
    dsk_v daz = dv * (dsk_load_n(hPrev + j, c) - nv) * zv * (one - zv);
    dsk_v dar = dan * dsk_load_n(hn + j, c) * rv * (one - rv);
    dsk_v danr = dan * rv;
    dsk_store_n(daz, dgx + j, c);
    dsk_store_n(dar, dgx + h + j, c);
    dsk_store_n(dan, dgx + 2 * h + j, c);
    dsk_store_n(daz, dgh + j, c);
    dsk_store_n(dar, dgh + h + j, c);
    dsk_store_n(danr, dgh + 2 * h + j, c);
    dsk_store_n(dv * zv, dh + j, c);
    dsk_store_n(dsk_load_n(sums + j, c) + daz, sums + j, c);
    dsk_store_n(dsk_load_n(sums + h + j, c) + dar, sums + h + j, c);
    dsk_store_n(dsk_load_n(sums + 2 * h + j, c) + dan, sums + 2 * h + j, c);
    dsk_store_n(dsk_load_n(sums + 3 * h + j, c) + danr, sums + 3 * h + j, c);
  });
}

// MARK: - Reductions

float DSK_NAME(dsk_sum_of_squares)(ptrdiff_t n, const float *x) {
  dsk_v acc = dsk_splat(0.0f);
  double total = 0;
  ptrdiff_t i = 0;
  int block = 0;
  for (; i + 8 <= n; i += 8) {
    dsk_v v = dsk_load(x + i);
    acc += v * v;
    if (++block == 512) {  // flush periodically to bound the Float rounding error
      for (int l = 0; l < 8; l++) total += (double)acc[l];
      acc = dsk_splat(0.0f);
      block = 0;
    }
  }
  for (int l = 0; l < 8; l++) total += (double)acc[l];
  for (; i < n; i++) total += (double)x[i] * (double)x[i];
  return (float)total;
}
