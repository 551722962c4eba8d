// The review's case study 2: the Beer et al. (2014) bacterial-induction ODE model of the PEtab benchmark collection
// (Beer_MolBioSystems2014) as an amortized-inference task. Specification: Documentation/Beer2014.md; the
// measured data and the collection's nominal simulation are in data/beer2014/.

import Foundation
import NumericCore

/// The Beer et al. (2014) model: 4 states, 19 experimental conditions, 72 parameters on the log10 scale.
///
/// With lag(t) = 0 for t < τ and 1 for t ≥ τ, per condition:
///
///     Bac'  = β·lag(t)·Bac·(Bacmax − Bac)/Bacmax
///     Glu'  = −ksyn·Bac·Glu
///     cGlu' =  ksyn·Bac·Glu − kdim·cGlu²
///     Ind'  =  kdim·cGlu² − kdegi·Ind
///
/// from (Bac, Glu, cGlu, Ind)(0) = (init_Bac, 10, 0, 0), observed at t = 0, 5, …, 3565 min: Bacnorm = Bac and
/// IndconcNormRange = Ind. The right-hand side jumps at τ, so [0, τ] and [τ, 3565] are integrated as two pieces
/// with the solver restarted at τ (`StiffODESolver`, CVODE BDF: the kdim·cGlu² and kdegi terms are stiff for the
/// T5 enzyme and for many prior draws). Conditions are `typeID<X>_ExpID<e>` for X ∈ {T1, T3, T5}, e ∈ 1…6, and
/// wt with e = 4, in string-sorted order; Bacmax, β and τ belong to a condition, kdegi, kdim and ksyn to its type,
/// init_Bac and the two noise standard deviations to all.
///
/// θ (72 values, log10 of the linear parameters, in the PEtab parameter table's order): Bacmax ×19, β ×19,
/// init_Bac, kdegi ×4, kdim ×4, ksyn ×4 (types T1, T3, T5, wt), sd_Bacnorm, sd_IndconcNormRange, τ ×19; each
/// group of 19 in the condition order above.
public enum Beer2014Model {
  /// The 19 condition ids in string-sorted order (the column order of the data).
  public static let conditions: [String] =
    ["T1", "T3", "T5"].flatMap { t in (1...6).map { "typeID\(t)_ExpID\($0)" } } + ["typeIDwt_ExpID4"]
  /// The enzyme types, in the order of the kdegi, kdim and ksyn parameters.
  public static let types = ["T1", "T3", "T5", "wt"]
  /// The 72 parameter ids in the parameter table's order.
  public static let parameterNames: [String] =
    conditions.map { "Bacmax_\($0)" } + conditions.map { "beta_\($0)" } + ["init_Bac"]
    + types.map { "kdegi_typeID\($0)" } + types.map { "kdim_typeID\($0)" } + types.map { "ksyn_typeID\($0)" }
    + ["sd_Bacnorm", "sd_IndconcNormRange"] + conditions.map { "tau_\($0)" }
  /// The collection's nominal values (linear scale), in `parameterNames` order.
  public static let nominal: [Double] = [
    // Bacmax
    0.690284078913072, 0.686559360559314, 0.681379272137127, 0.689753205882903, 0.715029075759644,
    0.722510272365865, 0.858021733557635, 0.992966373281161, 0.948424949688061, 0.850142395850864,
    0.938152168805454, 0.821652094951978, 0.815597211556127, 0.835041084602459, 0.816959394986618,
    0.821771993968611, 0.812982240337939, 0.840059251638254, 0.627258497884162,
    // beta
    0.003681582229086, 0.003719534202825, 0.003729595354247, 0.003721065534692, 0.003672433123878,
    0.003559835717311, 0.002183139734286, 0.002164162384219, 0.002150623215474, 0.002221651599144,
    0.002094505924306, 0.002118019861794, 0.005596426430683, 0.004185783637797, 0.004177196195634,
    0.004097660547909, 0.0047433486867, 0.003891156360938, 0.006240568160694,
    // init_Bac
    0.013816608995338,
    // kdegi, kdim, ksyn (T1, T3, T5, wt)
    0.003122537258986, 0.003944678241777, 3.84500512404274, 0.010700824999592,
    5.83250831890056e-05, 0.001677567484834, 18.1949646811653, 7.67023154667708e-05,
    0.008319481267433, 0.000883074159227, 0.095782898201617, 0.005025909238224,
    // sd_Bacnorm, sd_IndconcNormRange
    0.037770270062286, 0.020585215692131,
    // tau
    0.163686586774761, 0.055487869019712, 0.003181239500361, 2.56941090436867, 0.064923120511828,
    0.29931942792129, 0.020024772094431, 20.2285763267388, 0.012232114649765, 36.5402552274508,
    0.000907004547265, 0.027663606412915, 223.655024181572, 0.107117442362155, 0.001493430452605,
    0.009498406487016, 152.048602311963, 0.193284981152434, 1044.52421452662,
  ]
  /// θ at the nominal values: log10 of `nominal`.
  public static var nominalLog10: [Double] { nominal.map { Foundation.log10($0) } }
  /// Index of init_Bac, of the first kdegi, kdim, ksyn, of sd_Bacnorm and of the first τ in θ.
  static let initIndex = 38, kdegiIndex = 39, kdimIndex = 43, ksynIndex = 47, sdIndex = 51, tauIndex = 53
  /// The full time grid, 0, 5, …, 3565 min (714 points).
  public static let times: [Double] = (0..<714).map { 5 * Double($0) }
  /// Glu(0).
  public static let initialGlutamine = 10.0

  /// The positions in θ of the parameters condition `c` (index into `conditions`) depends on: Bacmax, β, τ,
  /// init_Bac, kdegi, kdim, ksyn of its type (the noise sd's are shared by all and not included).
  public static func parameterIndices(condition c: Int) -> [Int] {
    let type = min(c / 6, 3)
    return [c, 19 + c, initIndex, kdegiIndex + type, kdimIndex + type, ksynIndex + type, tauIndex + c]
  }

  /// The rate constants of one condition, linear scale.
  public struct Rates: Sendable {
    public var bacmax, beta, kdegi, kdim, ksyn, tau, initialBac: Double

    /// The rates of condition `c` from θ (log10 scale, 72 values).
    public init(condition c: Int, log10Parameters theta: [Double]) {
      let i = Beer2014Model.parameterIndices(condition: c).map { Foundation.pow(10, theta[$0]) }
      (bacmax, beta, initialBac, kdegi, kdim, ksyn, tau) = (i[0], i[1], i[2], i[3], i[4], i[5], i[6])
    }

    /// f(t, y) with lag = `lag` (0 before τ, 1 from τ on).
    @inline(__always)
    func rhs(lag: Double, _ y: UnsafeBufferPointer<Double>, _ dy: UnsafeMutableBufferPointer<Double>) {
      let bac = y[0], glu = y[1], cglu = y[2], ind = y[3]
      let uptake = ksyn * bac * glu, dimer = kdim * cglu * cglu
      dy[0] = beta * lag * bac * (bacmax - bac) / bacmax
      dy[1] = -uptake
      dy[2] = uptake - dimer
      dy[3] = dimer - kdegi * ind
    }

    /// ∂f/∂y, row-major 4 × 4.
    @inline(__always)
    func jacobian(lag: Double, _ y: UnsafeBufferPointer<Double>, _ j: UnsafeMutableBufferPointer<Double>) {
      let bac = y[0], glu = y[1], cglu = y[2]
      for k in 0..<16 { j[k] = 0 }
      j[0] = beta * lag * (1 - 2 * bac / bacmax)
      j[4] = -ksyn * glu
      j[5] = -ksyn * bac
      j[8] = ksyn * glu
      j[9] = ksyn * bac
      j[10] = -2 * kdim * cglu
      j[14] = 2 * kdim * cglu
      j[15] = -kdegi
    }
  }

  /// The noise-free states (Bac, Glu, cGlu, Ind) of condition `c` at `times` (ascending, ≥ 0), row-major
  /// [times.count, 4]: [0, τ] with lag 0, then a restart at τ with lag 1.
  public static func states(
    condition c: Int, log10Parameters theta: [Double], times: [Double], solver: StiffODESolver
  ) throws(ODEError) -> [Double] {
    let rates = Rates(condition: c, log10Parameters: theta)
    var out = [Double](repeating: 0, count: times.count * 4)
    var y = [rates.initialBac, initialGlutamine, 0, 0]
    let end = times.last ?? 0
    // Outputs before τ belong to the first piece; τ itself and later ones to the second (the state is continuous).
    let split = times.firstIndex { $0 >= rates.tau } ?? times.count
    func record(_ k: Int, _ s: UnsafeBufferPointer<Double>) { for i in 0..<4 { out[k * 4 + i] = s[i] } }
    try y.withUnsafeMutableBufferPointer { (state) throws(ODEError) in
      try solver.integrate(
        state: state, from: 0, to: min(rates.tau, end), times: times[0..<split],
        rhs: { _, y, dy in rates.rhs(lag: 0, y, dy) }, jacobian: { _, y, j in rates.jacobian(lag: 0, y, j) },
        record: record)
      if split < times.count {
        try solver.integrate(
          state: state, from: rates.tau, to: end, times: times[split...],
          rhs: { _, y, dy in rates.rhs(lag: 1, y, dy) }, jacobian: { _, y, j in rates.jacobian(lag: 1, y, j) },
          record: record)
      }
    }
    return out
  }

  /// The per-entry Gaussian negative log-likelihood Σ [½ log(2πσ²) + ½((y − h)/σ)²] and χ² = Σ ((y − h)/σ)² of
  /// data `y` given noise-free observables `h` (both row-major [T, 2C], even columns Bacnorm with σ = `sdBac`, odd
  /// columns IndconcNormRange with σ = `sdInd`, linear scale).
  public static func negativeLogLikelihood(data y: [Double], observables h: [Double], sdBac: Double, sdInd: Double)
    -> (nll: Double, chiSquare: Double)
  {
    precondition(y.count == h.count && y.count % 2 == 0)
    let sd = [sdBac, sdInd]
    let logNorm = sd.map { 0.5 * Foundation.log(2 * Double.pi * $0 * $0) }
    var nll = 0.0, chi = 0.0
    for k in 0..<y.count {
      let r = (y[k] - h[k]) / sd[k % 2]
      chi += r * r
      nll += logNorm[k % 2] + 0.5 * r * r
    }
    return (nll, chi)
  }
}

/// The beer2014 task: θ ∈ ℝ^72 (log10 scale, `Beer2014Model.parameterNames` order) from the review's prior, x the
/// [714, 38] series of the 19 conditions' two observables with additive noise, clipped at 0.
///
/// Prior (per coordinate, independent): N(log10 nominal, 0.5²) truncated to [−5, 5], [−20, 5] for init_Bac and
/// [−5, 1] for the two noise sd's (`TruncatedNormalPrior`). Data: y = max(0, h + σ·ε), ε ~ N(0, 1), σ = 10^θ_sd of
/// the observable; column 2c is Bacnorm and 2c + 1 IndconcNormRange of condition c. A failed integration makes
/// the whole data set NaN (training drops it and reports the count). The review feeds log1p(y) to its network;
/// here that is the estimator's data transform (`diffsbi train --data-transform log1p`), not part of x.
///
/// A reduced version keeps a subset of the conditions and every `timeStride`-th time point; its θ holds only the
/// parameters those conditions depend on plus the two sd's (in table order), the others fixed at their nominal values.
public struct Beer2014Task: SimulationTask {
  public let name: String
  /// The indices (into `Beer2014Model.conditions`) of the simulated conditions, ascending.
  public let conditionIndices: [Int]
  /// The observation times.
  public let times: [Double]
  /// The positions of this task's θ in the full 72-vector, ascending.
  public let parameterIndices: [Int]
  /// The prior of this task's θ.
  public let truncatedPrior: TruncatedNormalPrior
  /// CVODE's relative and absolute tolerances. At these the nominal simulation is within 1e-7 of the
  /// collection's (rtol 1e-8 with atol 1e-10 is not: the small Ind values need the tight absolute tolerance).
  public var relativeTolerance = 1e-8
  public var absoluteTolerance = 1e-12
  /// CVODE's step limit between two output times (a simulation that needs more fails).
  public var maxStepsPerOutput = 50_000
  /// Simulations per random-stream block (the output depends on the seed and this, never on the thread count).
  public static let blockSize = 4

  /// The full task (19 conditions, 714 time points, 72 parameters).
  public init() { self.init(conditions: Array(0..<19), timeStride: 1, name: "beer2014") }

  /// A reduced task: `conditions` (indices into `Beer2014Model.conditions`) observed at every `timeStride`-th
  /// point of the 5-minute grid.
  public init(conditions: [Int], timeStride: Int, name: String = "beer2014_reduced") {
    precondition(!conditions.isEmpty && conditions.allSatisfy { (0..<19).contains($0) } && timeStride >= 1)
    self.name = name
    conditionIndices = Array(Set(conditions)).sorted()
    times = stride(from: 0, to: Beer2014Model.times.count, by: timeStride).map { Beer2014Model.times[$0] }
    parameterIndices = Array(
      Set(conditionIndices.flatMap { Beer2014Model.parameterIndices(condition: $0) } + [
        Beer2014Model.sdIndex, Beer2014Model.sdIndex + 1,
      ])
    ).sorted()
    truncatedPrior = Beer2014Task.prior(parameterIndices)
  }

  /// The review's prior for the parameters at `indices` of the 72-vector.
  public static func prior(_ indices: [Int]) -> TruncatedNormalPrior {
    let mean = indices.map { Foundation.log10(Beer2014Model.nominal[$0]) }
    let lower = indices.map { $0 == Beer2014Model.initIndex ? -20.0 : -5.0 }
    let upper = indices.map { $0 == Beer2014Model.sdIndex || $0 == Beer2014Model.sdIndex + 1 ? 1.0 : 5.0 }
    return TruncatedNormalPrior(
      mean: mean, standardDeviation: [Double](repeating: 0.5, count: indices.count), lower: lower, upper: upper)
  }

  public var parameterDimension: Int { parameterIndices.count }
  public var channels: Int { 2 * conditionIndices.count }
  public var dataDimension: Int { times.count * channels }
  public var dataShape: [Int] { [times.count, channels] }
  public var prior: any Prior { truncatedPrior }
  /// The review feeds log1p(x) to its networks.
  public var suggestedDataTransform: String? { "log1p" }
  /// The parameter ids of this task's θ.
  public var parameterNames: [String] { parameterIndices.map { Beer2014Model.parameterNames[$0] } }

  /// The full 72-vector (log10) for this task's θ: nominal values where this task has no parameter.
  public func fullParameters(_ theta: [Double]) -> [Double] {
    precondition(theta.count == parameterDimension)
    var full = Beer2014Model.nominalLog10
    for (k, i) in parameterIndices.enumerated() { full[i] = theta[k] }
    return full
  }

  /// The noise-free observables h, row-major [times, 2·conditions], or nil when an integration fails.
  public func observables(_ theta: [Double], solver: StiffODESolver) -> [Double]? {
    let full = fullParameters(theta)
    let width = channels
    var h = [Double](repeating: 0, count: times.count * width)
    for (k, c) in conditionIndices.enumerated() {
      guard let s = try? Beer2014Model.states(condition: c, log10Parameters: full, times: times, solver: solver)
      else { return nil }
      for t in 0..<times.count {
        h[t * width + 2 * k] = s[t * 4]
        h[t * width + 2 * k + 1] = s[t * 4 + 3]
      }
    }
    return h
  }

  /// A CVODE solver for this task's tolerances.
  public func makeSolver() -> StiffODESolver? {
    try? StiffODESolver(
      dimension: 4, relativeTolerance: relativeTolerance, absoluteTolerance: absoluteTolerance,
      maxStepsPerOutput: maxStepsPerOutput)
  }

  public func simulate(_ parameters: Matrix, seed: UInt64) -> Matrix {
    precondition(parameters.cols == parameterDimension)
    let d = parameterDimension
    let sdBac = parameterIndices.firstIndex(of: Beer2014Model.sdIndex)!
    return blockedRowMap(
      rows: parameters.rows, outputColumns: dataDimension, seed: seed, blockSize: Beer2014Task.blockSize
    ) { rng, r, out in
      let theta = (0..<d).map { Double(parameters[r, $0]) }
      guard theta.allSatisfy(\.isFinite), let solver = makeSolver(), let h = observables(theta, solver: solver) else {
        for k in 0..<out.count { out[k] = .nan }
        return
      }
      let sd = [Foundation.pow(10, theta[sdBac]), Foundation.pow(10, theta[sdBac + 1])]
      for k in 0..<out.count { out[k] = Float(max(0, h[k] + sd[k % 2] * rng.nextNormal())) }
    }
  }

  /// The Gaussian negative log-likelihood of one data set (row-major [times, channels], before any transform)
  /// at θ, without the clipping (the review's likelihood augmentation for the C2ST); nil when the integration fails.
  public func negativeLogLikelihood(theta: [Double], data: [Double]) -> Double? {
    guard let solver = makeSolver(), let h = observables(theta, solver: solver) else { return nil }
    let full = fullParameters(theta)
    let sd = (0..<2).map { Foundation.pow(10, full[Beer2014Model.sdIndex + $0]) }
    return Beer2014Model.negativeLogLikelihood(data: data, observables: h, sdBac: sd[0], sdInd: sd[1]).nll
  }
}
