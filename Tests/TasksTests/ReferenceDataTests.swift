import Foundation
import NumericCore
import Testing
import Tasks

/// Checks of our simulators and exact posteriors against sbibm's stored observations and reference samples.
@Suite struct ReferenceDataTests {
  @Test func dataDirectoryIsFound() throws {
    let dir = try SBIBMData.directory()
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("two_moons/observation_1").path))
  }

  @Test(arguments: TaskRegistry.sbibmNames)
  func observationsAndReferenceSamplesLoad(name: String) throws {
    let task = try TaskRegistry.task(named: name)
    #expect(task.observationCount == 5)
    for k in 1...5 {
      #expect(try task.observation(k).count == task.dataDimension)
      let theta = try task.trueParameters(k)
      #expect(task.prior.logDensity(Matrix([theta]))[0].isFinite)
      let ref = try task.referencePosteriorSamples(k)
      #expect(ref.rows == 10_000 && ref.cols == task.parameterDimension)
    }
    #expect(throws: TaskError.self) { try task.observation(6) }
  }

  @Test func twoMoonsFirstObservationValue() throws {
    let x = try TwoMoonsTask().observation(1)
    #expect(x == [-0.6396706, 0.16234657])
  }

  /// Exact posterior samplers agree with sbibm's reference samples in mean and standard deviation
  /// (a C2ST between the two is in DiagnosticsTests).
  @Test(arguments: ["gaussian_linear", "gaussian_linear_uniform", "gaussian_mixture", "two_moons"])
  func exactPosteriorMatchesReferenceMoments(name: String) throws {
    let task = try TaskRegistry.task(named: name)
    #expect(task.hasExactPosterior)
    for k in 1...5 {
      let ref = try task.referencePosteriorSamples(k)
      let ours = task.samplePosterior(observation: try task.observation(k), count: 10_000, seed: UInt64(k))!
      #expect(ours.allFinite)
      #expect(task.prior.logDensity(ours).allSatisfy { $0.isFinite })
      let (rm, rv) = ref.columnMeanVariance()
      let (om, ov) = ours.columnMeanVariance()
      for j in 0..<task.parameterDimension {
        let sd = rv[j].squareRoot()
        // Standard errors of the difference: mean √2·sd/100; sd about 1.5% for these shapes.
        #expect(abs(rm[j] - om[j]) < 5 * 1.5 * sd / 100, "\(name) obs \(k) θ\(j) mean \(om[j]) vs \(rm[j])")
        #expect(abs(ov[j].squareRoot() / sd - 1) < 0.06, "\(name) obs \(k) θ\(j) sd")
      }
    }
  }

  @Test func slcpDistractorsEmbedTheSLCPObservation() throws {
    // sbibm permutes [8 slcp values | 92 distractors]; undoing the permutation recovers the slcp observation.
    let perm = try SBIBMData.readNumericCSV(try SBIBMData.asset("slcp_distractors_permutation.csv")).flatMap { $0 }
    let plain = SLCPTask(), distracted = try SLCPTask.withDistractors()
    for k in 1...5 {
      let x = try distracted.observation(k)
      var unpermuted = [Float](repeating: 0, count: 100)
      for (i, p) in perm.enumerated() { unpermuted[Int(p)] = x[i] }
      let slcp = try plain.observation(k)
      for j in 0..<8 { #expect(abs(unpermuted[j] - slcp[j]) < 1e-4 * max(1, abs(slcp[j]))) }
    }
  }

  @Test func bernoulliGLMSummariesOfTheRawObservation() throws {
    // The stored summary observation equals our summaries (count and STA) of the stored raw spike train.
    let raw = try BernoulliGLMTask(raw: true), summary = try BernoulliGLMTask(raw: false)
    for k in 1...5 {
      let s = summary.summaries(spikes: try raw.observation(k).map(Double.init))
      let stored = try summary.observation(k)
      for j in 0..<10 { #expect(abs(s[j] - Double(stored[j])) < 1e-4 * max(1, abs(Double(stored[j])))) }
      #expect(try raw.trueParameters(k) == summary.trueParameters(k))
    }
  }

  @Test func sirObservationsAreBinomialAroundTheODESolution() throws {
    let task = SIRTask()
    for k in 1...5 {
      let theta = try task.trueParameters(k).map(Double.init)
      let i = task.infected(beta: theta[0], gamma: theta[1])!
      let x = try task.observation(k)
      for t in 0..<10 {
        let p = min(max(i[t] / task.population, 0), 1)
        let sd = (1000 * p * (1 - p)).squareRoot()
        #expect(abs(Double(x[t]) - 1000 * p) <= 5 * sd + 1, "SIR obs \(k) point \(t)")
      }
    }
  }

  @Test func lotkaVolterraObservationsAreLogNormalAroundTheODESolution() throws {
    let task = LotkaVolterraTask()
    for k in 1...5 {
      let u = task.trajectory(try task.trueParameters(k).map(Double.init))!
      let x = try task.observation(k)
      var sumSq = 0.0
      for s in 0..<2 {
        for t in 0..<10 {
          let z = (Foundation.log(Double(x[s * 10 + t])) - Foundation.log(min(max(u[t][s], 1e-10), 1e4))) / 0.1
          #expect(abs(z) < 5, "LV obs \(k) species \(s) point \(t): z = \(z)")
          sumSq += z * z
        }
      }
      // Σ z² ~ χ²(20): a wrong time grid or solver would inflate it far beyond 60.
      #expect(sumSq < 60)
    }
  }
}
