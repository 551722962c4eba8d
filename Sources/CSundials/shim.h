// SUNDIALS CVODE (Debian: libsundials-dev, no pkg-config file; the solver library libsundials_cvode also holds the
// serial vector, the dense matrix and the dense linear solver). Only Tasks/StiffODE.swift calls into this module.
#include <cvode/cvode.h>
#include <nvector/nvector_serial.h>
#include <sunmatrix/sunmatrix_dense.h>
#include <sunlinsol/sunlinsol_dense.h>
