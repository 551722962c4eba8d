#!/bin/sh
# Installs what DiffusionSBI needs beyond the Swift toolchain: the system BLAS, zlib, SUNDIALS CVODE and FFTW.
# Linux: OpenBLAS (pthreads build), zlib, SUNDIALS, FFTW 3 (its single-precision library, for the Gaussian random
# field tasks) and pkg-config from the distribution; each is checked on its own and only the missing ones are
# installed. macOS: SUNDIALS from Homebrew when missing (Accelerate, with BLAS and vDSP, and zlib are part of the SDK).
set -e
case "$(uname -s)" in
  Linux)
    # Debian/Ubuntu package, dnf package and pkg-config name of each dependency.
    missing_apt=""
    missing_dnf=""
    command -v pkg-config >/dev/null 2>&1 || { missing_apt="pkg-config"; missing_dnf="pkgconf-pkg-config"; }
    for dep in "libopenblas-dev openblas-devel openblas" "zlib1g-dev zlib-devel zlib" "libfftw3-dev fftw-devel fftw3f"; do
      set -- $dep
      if ! pkg-config --exists "$3" 2>/dev/null; then
        missing_apt="$missing_apt $1"
        missing_dnf="$missing_dnf $2"
      fi
    done
    # SUNDIALS ships no pkg-config file on Debian: look for the CVODE header and library instead.
    cvode_lib=""
    for f in /usr/lib/libsundials_cvode.so /usr/lib64/libsundials_cvode.so /usr/lib/*/libsundials_cvode.so; do
      if [ -f "$f" ]; then cvode_lib="$f"; fi
    done
    if [ ! -f /usr/include/cvode/cvode.h ] || [ -z "$cvode_lib" ]; then
      missing_apt="$missing_apt libsundials-dev"
      missing_dnf="$missing_dnf sundials-devel"
    fi
    if [ -z "$missing_apt" ]; then exit 0; fi
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    if command -v apt-get >/dev/null 2>&1; then
      # pkg-config may be present but unable to see the packages: installing it again is harmless.
      echo "Installing$missing_apt (apt-get)..." >&2
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing_apt pkg-config >/dev/null
    elif command -v dnf >/dev/null 2>&1; then
      $SUDO dnf install -y $missing_dnf pkgconf-pkg-config
    else
      echo "Please install the development files of OpenBLAS, zlib, FFTW (pkg-config names: openblas, zlib, fftw3f) and SUNDIALS." >&2
      exit 1
    fi
    ;;
  Darwin)
    if [ ! -f "$(brew --prefix 2>/dev/null)/include/cvode/cvode.h" ]; then
      command -v brew >/dev/null 2>&1 && brew install sundials || echo "Please install SUNDIALS (CVODE)." >&2
    fi
    ;;
esac
