// The system BLAS on Linux: OpenBLAS (Debian: libopenblas-dev, the pthreads build).
// Only NumericCore/BLAS.swift calls into this module.
#include <cblas.h>
