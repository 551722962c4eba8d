#!/bin/sh
# Installs what DiffusionSBI needs beyond the Swift toolchain: the system BLAS.
# Linux: OpenBLAS (pthreads build) and pkg-config from the distribution. macOS: nothing (Accelerate is built in).
set -e
case "$(uname -s)" in
  Linux)
    if pkg-config --exists openblas 2>/dev/null; then exit 0; fi
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    if command -v apt-get >/dev/null 2>&1; then
      echo "Installing libopenblas-dev and pkg-config (apt-get)..." >&2
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenblas-dev pkg-config >/dev/null
    elif command -v dnf >/dev/null 2>&1; then
      $SUDO dnf install -y openblas-devel pkgconf-pkg-config
    else
      echo "Please install OpenBLAS development files (pkg-config name: openblas)." >&2
      exit 1
    fi
    ;;
  Darwin) ;;
esac
