// Stiff ODE integration through SUNDIALS CVODE (the CSundials system-library module): variable-order, variable-step
// BDF with Newton iterations and a dense direct linear solver on the Jacobian the caller supplies.
//
// Hindmarsh et al., "SUNDIALS: Suite of nonlinear and differential/algebraic equation solvers", ACM TOMS 31 (2005);
// the CVODE user guide of SUNDIALS 6.4. Outputs between internal steps come from CVODE's interpolating
// polynomial (CV_NORMAL mode); the integration never passes the stop time, so a right-hand side may change at it.

import CSundials
import NumericCore

/// The right-hand side f(t, y) → dy and its Jacobian J[i·n + j] = ∂f_i/∂y_j (row-major, n × n).
public typealias StiffRightHandSide = (Double, UnsafeBufferPointer<Double>, UnsafeMutableBufferPointer<Double>) -> Void

/// The callbacks of one integration, reached from CVODE's C callbacks through its user-data pointer.
private final class StiffCallbacks {
  var rhs: StiffRightHandSide?
  var jacobian: StiffRightHandSide?
  var jacobianScratch: [Double]
  let n: Int
  init(n: Int) {
    self.n = n
    jacobianScratch = [Double](repeating: 0, count: n * n)
  }
}

/// One CVODE BDF solver for systems of a fixed dimension, reused across integrations (`CVodeReInit`).
///
/// Not thread-safe: create one per thread (per block of simulations). Failures (step-size underflow, too many
/// steps, repeated convergence or error-test failures) are reported as `ODEError` and never printed.
public final class StiffODESolver {
  public let dimension: Int
  public let relativeTolerance: Double
  public let absoluteTolerance: Double
  /// The step limit between two consecutive output times.
  public let maxStepsPerOutput: Int
  private var context: SUNContext?
  private var memory: UnsafeMutableRawPointer?
  private let state: N_Vector
  private let matrix: SUNMatrix
  private let linearSolver: SUNLinearSolver
  private let callbacks: StiffCallbacks
  private var initialized = false
  /// Internal steps taken over all integrations so far.
  public private(set) var steps = 0

  /// A solver for systems of `dimension` states.
  public init(
    dimension: Int, relativeTolerance: Double = 1e-8, absoluteTolerance: Double = 1e-10,
    maxStepsPerOutput: Int = 50_000
  ) throws(ODEError) {
    precondition(dimension > 0)
    self.dimension = dimension
    self.relativeTolerance = relativeTolerance
    self.absoluteTolerance = absoluteTolerance
    self.maxStepsPerOutput = maxStepsPerOutput
    callbacks = StiffCallbacks(n: dimension)
    var ctx: SUNContext?
    guard SUNContext_Create(nil, &ctx) == 0, let ctx else { throw .solverFailed(code: Int(CV_MEM_FAIL), t: 0) }
    context = ctx
    guard let y = N_VNew_Serial(sunindextype(dimension), ctx),
      let a = SUNDenseMatrix(sunindextype(dimension), sunindextype(dimension), ctx),
      let ls = SUNLinSol_Dense(y, a, ctx), let mem = CVodeCreate(CV_BDF, ctx)
    else { throw .solverFailed(code: Int(CV_MEM_FAIL), t: 0) }
    state = y
    matrix = a
    linearSolver = ls
    memory = mem
  }

  deinit {
    if memory != nil { CVodeFree(&memory) }
    SUNLinSolFree(linearSolver)
    SUNMatDestroy(matrix)
    N_VDestroy(state)
    if context != nil { SUNContext_Free(&context) }
  }

  /// Integrates y' = f(t, y) from `(t0, y)` up to `stop` (never beyond it), calling `record(k, y(times[k]))` for
  /// every output time in (t0, stop] in order (an output equal to t0 gets the initial state), and leaves y(stop) in
  /// `y`. `times` must be ascending and within [t0, stop].
  public func integrate(
    state y: UnsafeMutableBufferPointer<Double>, from t0: Double, to stop: Double, times: ArraySlice<Double>,
    rhs: StiffRightHandSide, jacobian: StiffRightHandSide,
    record: (Int, UnsafeBufferPointer<Double>) -> Void
  ) throws(ODEError) {
    precondition(y.count == dimension)
    guard stop > t0 else {
      for k in times.indices { record(k, UnsafeBufferPointer(y)) }
      return
    }
    let n = dimension
    let data = N_VGetArrayPointer(state)!
    for i in 0..<n { data[i] = y[i] }
    let failure: ODEError? = withoutActuallyEscaping(rhs) { f in
      withoutActuallyEscaping(jacobian) { jac in
        callbacks.rhs = f
        callbacks.jacobian = jac
        defer {
          callbacks.rhs = nil
          callbacks.jacobian = nil
        }
        if let e = start(t0: t0, stop: stop) { return e }
        let current = UnsafeBufferPointer(start: UnsafePointer(data), count: n)
        var tReached = t0
        // Outputs closer to t0 than CVODE can step (CV_TOO_CLOSE) take the initial state.
        let tooClose = 1e-12 * max(1, abs(t0))
        for k in times.indices {
          let tout = times[k]
          if tout - t0 <= tooClose {
            record(k, UnsafeBufferPointer(y))
            continue
          }
          let flag = CVode(memory, tout, state, &tReached, CV_NORMAL)
          if flag < 0 { return .solverFailed(code: Int(flag), t: tReached) }
          for i in 0..<n where !data[i].isFinite { return .nonFinite(t: tReached) }
          record(k, current)
        }
        if times.last.map({ $0 < stop }) ?? true {
          let flag = CVode(memory, stop, state, &tReached, CV_NORMAL)
          if flag < 0 { return .solverFailed(code: Int(flag), t: tReached) }
        }
        var taken = 0
        CVodeGetNumSteps(memory, &taken)
        steps += taken
        for i in 0..<n {
          guard data[i].isFinite else { return .nonFinite(t: tReached) }
          y[i] = data[i]
        }
        return nil
      }
    }
    if let failure { throw failure }
  }

  /// (Re)initializes CVODE at `(t0, state)` with the stop time; nil on success.
  private func start(t0: Double, stop: Double) -> ODEError? {
    if initialized {
      guard CVodeReInit(memory, t0, state) == CV_SUCCESS else { return .solverFailed(code: Int(CV_ILL_INPUT), t: t0) }
    } else {
      let rhsThunk: CVRhsFn = { t, y, dy, user in
        let cb = Unmanaged<StiffCallbacks>.fromOpaque(user!).takeUnretainedValue()
        cb.rhs!(
          t, UnsafeBufferPointer(start: N_VGetArrayPointer(y), count: cb.n),
          UnsafeMutableBufferPointer(start: N_VGetArrayPointer(dy), count: cb.n))
        return 0
      }
      let jacobianThunk: CVLsJacFn = { t, y, _, jac, user, _, _, _ in
        let cb = Unmanaged<StiffCallbacks>.fromOpaque(user!).takeUnretainedValue()
        let n = cb.n
        cb.jacobianScratch.withUnsafeMutableBufferPointer { scratch in
          cb.jacobian!(t, UnsafeBufferPointer(start: N_VGetArrayPointer(y), count: n), scratch)
          // SUNDIALS dense matrices are column-major.
          let out = SUNDenseMatrix_Data(jac)!
          for i in 0..<n { for j in 0..<n { out[j * n + i] = scratch[i * n + j] } }
        }
        return 0
      }
      var flag = CVodeInit(memory, rhsThunk, t0, state)
      if flag == CV_SUCCESS { flag = CVodeSetUserData(memory, Unmanaged.passUnretained(callbacks).toOpaque()) }
      if flag == CV_SUCCESS { flag = CVodeSStolerances(memory, relativeTolerance, absoluteTolerance) }
      if flag == CV_SUCCESS { flag = CVodeSetLinearSolver(memory, linearSolver, matrix) }
      if flag == CV_SUCCESS { flag = CVodeSetJacFn(memory, jacobianThunk) }
      if flag == CV_SUCCESS { flag = CVodeSetMaxNumSteps(memory, maxStepsPerOutput) }
      if flag == CV_SUCCESS { flag = CVodeSetMaxHnilWarns(memory, -1) }
      if flag == CV_SUCCESS { flag = CVodeSetErrHandlerFn(memory, { _, _, _, _, _ in }, nil) }
      guard flag == CV_SUCCESS else { return .solverFailed(code: Int(flag), t: t0) }
      initialized = true
    }
    guard CVodeSetStopTime(memory, stop) == CV_SUCCESS else { return .solverFailed(code: Int(CV_ILL_INPUT), t: t0) }
    return nil
  }
}
