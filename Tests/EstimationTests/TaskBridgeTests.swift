import Composition
import Estimation
import NeuralNet
import Tasks
import Testing

/// Task priors and estimator transforms map to the composition layer's types.
@Suite struct BridgeTests {
  @Test func taskPriorsAndEstimatorSpace() throws {
    let space = try ParameterSpace(constraints: ConstraintTransform([.unbounded, .positive]),
                                   standardizer: Standardizer(counts: [4, 4], mean: [1, 0], m2: [16, 4]))
    #expect(space.transforms == [CoordinateTransform.identity, .log] && space.scale == [2, 1])
    let affine = ParameterSpace.identity(2)
    let g = try compositionPrior(GaussianPrior(mean: [1, 2], standardDeviation: [1, 3]), space: affine)
    #expect(g is GaussianCompositionPrior)
    let b = try compositionPrior(BoxUniformPrior(dimension: 2, bound: 1), space: affine)
    #expect(b is BoxUniformCompositionPrior)
    let l = try compositionPrior(LogNormalPrior(mu: [0, 0], sigma: [1, 1]), space: space)
    #expect(l is TransformedCompositionPrior)
  }
}

/// The benchmark runner trains each task with the task's suggested data transform unless one is given, as
/// `diffsbi train --task` does (lotka_volterra and beer2014: log1p).
@Suite struct BenchmarkTrainingTests {
  @Test func tasksSuggestedDataTransformIsUsedUnlessOneIsGiven() throws {
    let lv = LotkaVolterraTask(), moons = try TaskRegistry.task(named: "two_moons")
    #expect(lv.suggestedDataTransform == "log1p")
    let spec = BenchmarkSpecification()
    #expect(spec.training(for: lv).conditionTransform == .log1p)
    #expect(spec.training(for: moons).conditionTransform == nil)
    var explicit = TrainingConfiguration()
    explicit.conditionTransform = .identity
    #expect(BenchmarkSpecification(training: explicit).training(for: lv).conditionTransform == .identity)
  }
}
