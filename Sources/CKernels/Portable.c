// The portable variant of the kernels in Sources/CKernels/KernelBodies.h: compiled for the compiler's baseline
// target (SSE2 on x86-64, NEON on arm64), so it runs on every processor.

#define DSK_NAME(f) f##_portable
#include "KernelBodies.h"
