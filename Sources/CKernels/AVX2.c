// The AVX2+FMA variant of the kernels in Sources/CKernels/KernelBodies.h (x86-64 only): every function of this
// file, the inlined helpers included, is compiled for target("avx2,fma") whatever the build's flags, and runs
// only where Dispatch.c found AVX2 and FMA.

#if defined(__x86_64__) || defined(__i386__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif

#define DSK_NAME(f) f##_avx2
#include "KernelBodies.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif

#endif
