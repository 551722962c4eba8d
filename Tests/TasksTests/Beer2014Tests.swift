import Foundation
import NumericCore
import Tasks
import Testing

/// A float64 .npy file of shape (rows, cols) in C order (the fixtures in data/beer2014/), read without FileFormats.
private func readFloat64NPY(_ name: String) throws -> (rows: Int, cols: Int, values: [Double]) {
  let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("data/beer2014/\(name)")
  let bytes = [UInt8](try Data(contentsOf: url))
  let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
  let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
  #expect(header.contains("'descr': '<f8'") && header.contains("'fortran_order': False"))
  // "(714, 38)" or, for a vector, "(72,)" (read as one row).
  let dims = header.split(separator: "(")[1].split(separator: ")")[0].split(separator: ",")
    .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
  let shape = dims.count == 1 ? [1, dims[0]] : dims
  let start = 10 + headerLength
  let values = (0..<(shape[0] * shape[1])).map { k -> Double in
    var bits: UInt64 = 0
    for b in 0..<8 { bits |= UInt64(bytes[start + 8 * k + b]) << (8 * b) }
    return Double(bitPattern: bits)
  }
  return (shape[0], shape[1], values)
}

/// The noise-free observables of `task` at θ, through a fresh solver.
private func observe(_ task: Beer2014Task, _ theta: [Double]) throws -> [Double] {
  guard let solver = task.makeSolver(), let h = task.observables(theta, solver: solver) else { throw ODEError.solverFailed(code: 0, t: 0) }
  return h
}

@Suite struct Beer2014Tests {
  let task = Beer2014Task()

  @Test func layoutAndParameterTable() {
    #expect(task.parameterDimension == 72 && task.dataShape == [714, 38] && task.dataDimension == 27_132)
    #expect(Beer2014Model.parameterNames.count == 72 && Beer2014Model.nominal.count == 72)
    #expect(Beer2014Model.parameterNames[38] == "init_Bac" && Beer2014Model.parameterNames[45] == "kdim_typeIDT5")
    #expect(Beer2014Model.parameterNames[51] == "sd_Bacnorm" && Beer2014Model.parameterNames[71] == "tau_typeIDwt_ExpID4")
    #expect(Beer2014Model.conditions == Beer2014Model.conditions.sorted())
    // Condition T5_ExpID1 (index 12): Bacmax 12, β 31, init 38, kdegi/kdim/ksyn of T5, τ 65.
    #expect(Beer2014Model.parameterIndices(condition: 12) == [12, 31, 38, 41, 45, 49, 65])
    #expect(Beer2014Model.parameterIndices(condition: 18) == [18, 37, 38, 42, 46, 50, 71])
  }

  /// SPEC oracle 1: the collection's noise-free simulation at the nominal parameters (printed to 10 digits).
  @Test func nominalSimulationMatchesTheCollection() throws {
    // The nominal values in data/beer2014 (read by the Python example's test) are the source's.
    #expect(try readFloat64NPY("nominal_parameters.npy").values == Beer2014Model.nominal)
    let reference = try readFloat64NPY("nominal_simulation.npy")
    #expect(reference.rows == 714 && reference.cols == 38)
    let h = try observe(task, Beer2014Model.nominalLog10)
    var maxAbs = 0.0, maxRel = 0.0
    for (a, b) in zip(h, reference.values) {
      maxAbs = max(maxAbs, abs(a - b))
      // Relative to the value, or to the printed precision for entries near 0.
      maxRel = max(maxRel, abs(a - b) / max(abs(b), 1e-3))
    }
    #expect(maxAbs < 1e-7, "max |error| \(maxAbs)")
    #expect(maxRel < 1e-6, "max relative error \(maxRel)")
  }

  /// SPEC oracle 2: NLL and χ² of the measured data at the nominal parameters.
  @Test func likelihoodOfTheMeasuredDataAtTheNominalParameters() throws {
    let measured = try readFloat64NPY("measurements.npy")
    let h = try observe(task, Beer2014Model.nominalLog10)
    let sd = Beer2014Model.nominal
    let (nll, chi) = Beer2014Model.negativeLogLikelihood(data: measured.values, observables: h, sdBac: sd[51], sdInd: sd[52])
    // Both within 2e-7 relative (the solver's tolerances move them by about 1e-7).
    #expect(abs(nll / -58622.914037 - 1) < 2e-7, "NLL \(nll)")
    #expect(abs(chi / 27138.142879 - 1) < 2e-7, "χ² \(chi)")
    let viaTask = try #require(task.negativeLogLikelihood(theta: Beer2014Model.nominalLog10, data: measured.values))
    #expect(abs(viaTask - nll) < 1e-9 * abs(nll))
  }

  /// Bac is flat at init_Bac before τ and logistic from τ on: Bac(t) = K / (1 + (K/B₀ − 1)·e^{−β(t − τ)}).
  @Test(arguments: [1044.52421452662, 512.5, 2.5])
  func growthSwitchesOnAtTau(tau: Double) throws {
    var theta = Beer2014Model.nominalLog10
    theta[71] = Foundation.log10(tau)  // τ of typeIDwt_ExpID4 (condition 18)
    let solver = try #require(task.makeSolver())
    let s = try Beer2014Model.states(condition: 18, log10Parameters: theta, times: Beer2014Model.times, solver: solver)
    let k = Beer2014Model.nominal[18], b0 = Beer2014Model.nominal[38], beta = Beer2014Model.nominal[37]
    var worst = 0.0
    for (i, t) in Beer2014Model.times.enumerated() {
      let exact = t < tau ? b0 : k / (1 + (k / b0 - 1) * Foundation.exp(-beta * (t - tau)))
      worst = max(worst, abs(s[4 * i] - exact) / exact)
      if t < tau { #expect(s[4 * i] == b0) }
    }
    #expect(worst < 1e-6, "max relative error of Bac \(worst)")
    // Glutamine is consumed from t = 0 on (Bac(0) > 0), before growth starts.
    #expect(s[4 * 1 + 1] < Beer2014Model.initialGlutamine)
  }

  @Test func noiseIsAdditiveNormalAndClippedAtZero() throws {
    var theta = Beer2014Model.nominalLog10
    theta[51] = -1  // sd_Bacnorm = 0.1
    theta[52] = 0  // sd_IndconcNormRange = 1
    let x = task.simulate(Matrix([theta.map(Float.init)]), seed: 3)
    let h = try observe(task, theta)
    let nonNegative = x.storage.allSatisfy { $0 >= 0 }
    #expect(nonNegative)
    // Ind at t = 0 is 0: half the noisy values are clipped to exactly 0.
    let zeros = (0..<19).filter { x[0, 2 * $0 + 1] == 0 }.count
    #expect(zeros >= 3 && zeros <= 16)
    // Bacnorm entries far from 0: residuals are N(0, 0.1²).
    var residuals: [Double] = []
    for k in stride(from: 0, to: h.count, by: 2) where h[k] > 0.5 { residuals.append(Double(x[0, k]) - h[k]) }
    #expect(residuals.count > 5_000)
    let mean = residuals.reduce(0, +) / Double(residuals.count)
    let sd = (residuals.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(residuals.count)).squareRoot()
    #expect(abs(mean) < 4 * 0.1 / Double(residuals.count).squareRoot() && abs(sd - 0.1) < 0.005)
  }

  @Test func failedIntegrationsMakeTheWholeDataSetNaN() throws {
    // A step limit CVODE cannot meet between two outputs fails the integration with CV_TOO_MUCH_WORK.
    let tight = try StiffODESolver(dimension: 4, maxStepsPerOutput: 2)
    #expect(throws: ODEError.self) {
      _ = try Beer2014Model.states(
        condition: 12, log10Parameters: Beer2014Model.nominalLog10, times: Beer2014Model.times, solver: tight)
    }
    var starved = task
    starved.maxStepsPerOutput = 2
    let good = Beer2014Model.nominalLog10.map(Float.init)
    let x = starved.simulate(Matrix([good]), seed: 1)
    let allNaN = x.storage.allSatisfy { $0.isNaN }
    #expect(allNaN)
    // Non-finite parameters fail their own row only.
    var bad = good
    bad[45] = .nan
    let mixed = task.simulate(Matrix([good, bad, good]), seed: 1)
    let onlyRowOneFailed = (0..<mixed.cols).allSatisfy { mixed[0, $0].isFinite && mixed[2, $0].isFinite && mixed[1, $0].isNaN }
    #expect(onlyRowOneFailed)
  }

  @Test func priorIsTheTruncatedNormalOnTheAdjustedBounds() throws {
    let prior = task.truncatedPrior
    #expect(prior.lower[38] == -20 && prior.upper[51] == 1 && prior.upper[52] == 1 && prior.lower[0] == -5)
    let halves = prior.sigma.allSatisfy { $0 == 0.5 }
    #expect(abs(prior.mu[45] - 1.259951) < 1e-6 && halves)
    let draws = prior.sample(count: 20_000, seed: 4)
    for j in 0..<72 {
      let inside = (0..<draws.rows).allSatisfy { Double(draws[$0, j]) >= prior.lower[j] && Double(draws[$0, j]) <= prior.upper[j] }
      #expect(inside, "coordinate \(j)")
    }
    let finite = prior.logDensity(draws).allSatisfy { $0.isFinite }
    #expect(finite)
    // kdim_typeIDT1 (index 43) is truncated 1.53 sd below its mean: sample moments match the closed form.
    let (m, v) = draws.columnMeanVariance()
    for j in [43, 46, 0] {
      #expect(abs(m[j] - prior.mean[j]) < 4 * prior.standardDeviation[j] / 141, "mean \(j)")
      #expect(abs(v[j].squareRoot() / prior.standardDeviation[j] - 1) < 0.03, "sd \(j)")
    }
    #expect(prior.mean[43] > prior.mu[43] + 0.05 && prior.standardDeviation[43] < 0.45)
    // The density integrates to 1 over the truncation interval (midpoint rule, coordinate 43 alone).
    let one = TruncatedNormalPrior(mean: [prior.mu[43]], standardDeviation: [0.5], lower: [-5], upper: [5])
    let n = 20_000
    let grid = Matrix(rows: n, cols: 1, storage: (0..<n).map { Float(-5 + 10 * (Double($0) + 0.5) / Double(n)) })
    let integral = one.logDensity(grid).reduce(0) { $0 + Foundation.exp($1) } * 10 / Double(n)
    #expect(abs(integral - 1) < 1e-4)
    #expect(one.logDensity(Matrix([[5.01]]))[0] == -.infinity)
  }

  @Test func reducedTaskObservesASubsetOfTheFullTask() throws {
    let reduced = Beer2014Task(conditions: [18, 12], timeStride: 20)
    #expect(reduced.conditionIndices == [12, 18] && reduced.times.count == 36 && reduced.dataShape == [36, 4])
    #expect(reduced.parameterIndices == [12, 18, 31, 37, 38, 41, 42, 45, 46, 49, 50, 51, 52, 65, 71])
    let theta = reduced.parameterIndices.map { Beer2014Model.nominalLog10[$0] + 0.1 }
    let h = try observe(reduced, theta)
    let full = try observe(task, reduced.fullParameters(theta))
    for (i, t) in reduced.times.enumerated() {
      let row = Int(t / 5)
      for (k, c) in [12, 18].enumerated() {
        #expect(abs(h[i * 4 + 2 * k] - full[row * 38 + 2 * c]) < 1e-7)
        #expect(abs(h[i * 4 + 2 * k + 1] - full[row * 38 + 2 * c + 1]) < 1e-7)
      }
    }
  }
}
