// FFTW 3, single precision (Debian: libfftw3-dev, pkg-config fftw3f), on Linux. Apple platforms use vDSP instead.
// Only Tasks/FFT.swift calls into this module.
#include <fftw3.h>
