// Hierarchical models from the command line: `train --hierarchical`, `sample --hierarchical` and
// `simulate --hierarchical` (Documentation/CLI.md §2.10, Documentation/Composition.md "Hierarchical models from the
// command line"). The library's `HierarchicalEstimator` (Sources/Estimation/HierarchicalEstimator.swift) does the
// work: a global network q(η | y_j) trained on single-group rows from the full hierarchical prior and composed
// over the groups with the hyperprior, and a local network q(θ_j | y_j, η) sampled ancestrally.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI
import Foundation

/// Looks a two-level task up, as bad input naming the known ones when the name is unknown.
func lookupHierarchicalTask(_ name: String) throws -> any HierarchicalTask {
  do { return try TaskRegistry.hierarchicalTask(named: name) } catch {
    throw InputError("unknown hierarchical task '\(name)'; known: \(TaskRegistry.hierarchicalNames.joined(separator: ", "))")
  }
}

/// Single-group training rows of a hierarchical data file: `theta_global` [n, G], `theta_local` [n, L] and `x`
/// [n, D], [n, N, D] (optional 0/1 `x_mask` [n, N]) or [n, H, W, C]; checked for missing arrays, ranks and row
/// counts, each problem one line naming the file.
struct HierarchicalDataFile {
  static let layout = "theta_global [n, G], theta_local [n, L] and x [n, D] or [n, N, D]"
  var path: String

  /// The row count, G, L and the shape of one group's data ([D] or [N, D]).
  func shapes() throws -> (rows: Int, global: Int, local: Int, groupShape: [Int]) {
    guard fileExtension(path) == "npz" else {
      throw InputError("\(path): hierarchical training data are one .npz file with \(Self.layout)")
    }
    let f = try NPZFile(path: path)
    for name in ["theta_global", "theta_local", "x"] where !f.names.contains(name) {
      throw InputError("\(path): missing array '\(name)' (a hierarchical data file holds \(Self.layout); found "
                       + "\(f.names.joined(separator: ", ")))")
    }
    func parameters(_ name: String) throws -> (Int, Int) {
      let s = try f.header(name).shape
      switch s.count {
      case 1: return (s[0], 1)
      case 2: return (s[0], s[1])
      default: throw InputError("\(path)[\(name)]: expected a 2-D array [rows, columns], found shape \(s)")
      }
    }
    let (n, g) = try parameters("theta_global"), (m, l) = try parameters("theta_local")
    let xs = try f.header("x").shape
    guard (2...4).contains(xs.count) else {
      throw InputError("\(path)[x]: expected x of shape [n, D] or [n, N, D] (one group's data per row), found shape \(xs)")
    }
    guard n == m, n == xs[0] else {
      throw InputError("\(path): theta_global has \(n) rows, theta_local \(m) and x \(xs[0]); they must be equal")
    }
    guard n > 0, g > 0, l > 0, xs.dropFirst().allSatisfy({ $0 > 0 }) else {
      throw InputError("\(path): empty arrays (theta_global \([n, g]), theta_local \([m, l]), x \(xs))")
    }
    let groupShape = Array(xs.dropFirst())
    if f.names.contains("x_mask") {
      try SimulationFile.checkMaskShape(f.header("x_mask").shape, rows: n, xShape: groupShape, path: path)
    }
    return (n, g, l, groupShape)
  }

  /// η, θ and the group data rows (items one after another; items that `x_mask` marks 0 become all-NaN padding).
  func load(padding: Bool) throws -> (global: Matrix, local: Matrix, data: Matrix) {
    let f = try NPZFile(path: path)
    let eta = try f.matrix("theta_global"), theta = try f.matrix("theta_local"), xArray = try f.array("x")
    var x = try SimulationFile.flatRows(xArray, source: "\(path)[x]")
    if f.names.contains("x_mask") {
      let mask = try f.array("x_mask")
      if !padding && mask.data.contains(0) {
        throw InputError("\(path): x_mask marks padded items, which need a summary network (--summary)")
      }
      try applyMask(mask, to: &x, width: xArray.rank == 3 ? xArray.shape[2] : 1, source: "\(path)[x_mask]")
    }
    return (eta, theta, x)
  }
}

extension TrainCommand {
  /// The refusals of `--hierarchical` (called from `validate()`).
  func validateHierarchical() throws {
    if task == nil && data.isEmpty {
      throw ValidationError("--hierarchical needs --task NAME --simulations N or --data FILE.npz")
    }
    if external.simulator != nil || online || sequential.isSequential || checkpoint != nil || resume
      || keepSimulations
    {
      throw ValidationError(
        "--hierarchical trains offline on a task's simulations or one data file: --simulator, --online, --rounds, "
          + "--observation, --checkpoint and --resume do not apply")
    }
    if ensemble != 1 { throw ValidationError("--ensemble does not apply to --hierarchical") }
    if model.network == .transformer {
      throw ValidationError("--hierarchical composes TimeMLP networks; --network transformer does not apply")
    }
    if data.count > 1 { throw ValidationError("--hierarchical takes one .npz data file") }
    if task != nil && !data.isEmpty { throw ValidationError("--hierarchical: give --task NAME or --data FILE, not both") }
    if task != nil && data.isEmpty && simulations == nil { throw ValidationError("--task needs --simulations N") }
    if !data.isEmpty && simulations != nil { throw ValidationError("--simulations applies to --task without --data") }
    if let s = simulations, s < 1 { throw ValidationError("--simulations must be at least 1") }
    if strict && data.isEmpty { throw ValidationError("--strict applies to --data files") }
    if prior != nil && data.isEmpty {
      throw ValidationError("--prior applies to --data files (a hierarchical task's hyperprior is built in)")
    }
    if let t = training.dataTransform, t != .identity {
      throw ValidationError("--data-transform does not apply to --hierarchical (the local network's condition holds η)")
    }
  }

  /// `train --hierarchical`: the global and local networks of a `HierarchicalEstimator`, saved as one model.
  func trainHierarchical() throws -> [String: Any] {
    let t = try task.map(lookupHierarchicalTask)
    // Shapes, hyperprior (its JSON, stored with the model) and the source's name for messages.
    let rows: Int, g: Int, l: Int, groupShape: [Int], source: String
    var hyperprior: (prior: any Prior, json: String)?
    let file = data.first.map { HierarchicalDataFile(path: $0) }
    if let file {
      (rows, g, l, groupShape) = try file.shapes()
      source = file.path
      hyperprior = try statedPrior(dimension: g)
    } else {
      let t = t!
      (rows, g, l, groupShape, source) = (simulations!, t.globalDimension, t.localDimension, t.groupDataShape, t.name)
      hyperprior = (t.hyperprior, PriorSpecification.json(t.hyperprior))
    }
    let d = groupShape.reduce(1, *)
    let summary = try model.summaryArchitecture(dataShape: groupShape, source: source)
    let globalConstraints = hyperprior.map { coordinateConstraints(of: $0.prior) }
    let h = try HierarchicalEstimator(
      globalDimension: g, localDimension: l, groupDimension: d, settings: model.settings(),
      globalNetwork: model.network(parameters: g, data: d), localNetwork: model.network(parameters: l, data: d + g),
      globalSummary: summary, localSummary: summary, globalConstraints: globalConstraints, seed: common.seed)
    let items = h.global.conditionChannels.map { (count: $0.items, width: $0.width) }

    var eta: Matrix, theta: Matrix, x: Matrix
    if let file {
      (eta, theta, x) = try file.load(padding: items != nil)
    } else {
      common.info("train: simulating \(rows) single-group rows from \(source)")
      (eta, theta, x) = t!.sampleSingleGroups(count: rows, seed: common.seed)
    }
    let (kept, dropped) = try NonFiniteRows.drop([eta, theta, x], items: [nil, nil, items])
    if strict && dropped > 0 { throw InputError("\(source): \(dropped) rows contain NaN or infinity (--strict)") }
    (eta, theta, x) = (kept[0], kept[1], kept[2])
    guard eta.rows > 0 else { throw InputError("\(source): no finite rows to train on") }
    if file != nil { try Self.checkSupport(eta, globalConstraints, name: "\(source)[theta_global]") }
    if dropped > 0 { common.info("train: dropped \(dropped) rows with NaN or infinity") }

    if let hyperprior { try h.global.setTrainingPrior(specification: hyperprior.json) }
    h.task = t?.name
    let config = try training.configuration(seed: common.seed, online: false)
    // One progress line per network: the global one first, then the local one (its reporter made when it starts,
    // so that its rate and ETA count its own time).
    var reporters = [ProgressReporter(label: "train global", mode: common.progressMode)]
    var report = trainingProgress(reporters[0], batchSize: config.batchSize)
    var started = false
    let start = Date()
    let histories = try h.train(global: eta, local: theta, groupData: x, configuration: config) { p in
      if p.epoch == 0 && p.step == 0 && started && reporters.count == 1 {
        reporters.append(ProgressReporter(label: "train local", mode: common.progressMode))
        report = trainingProgress(reporters[1], batchSize: config.batchSize)
      }
      started = true
      report(p)
    }
    let seconds = Date().timeIntervalSince(start)
    for (r, e) in zip(reporters, [h.global, h.local]) {
      r.finish("\(e.settings.lossHistory.count) epochs, final loss \(fmt(e.settings.lossHistory.last ?? .nan, 4))")
    }
    let existed = FileManager.default.fileExists(atPath: out)
    do { try h.save(to: out) } catch {
      if !existed { try? FileManager.default.removeItem(atPath: out) }
      throw error
    }
    common.info("train: hierarchical model (\(g) global, \(l) local parameters, group data \(groupShape)) trained on "
                + "\(eta.rows) rows in \(fmt(seconds, 1)) s → \(out)")
    var summaryJSON: [String: Any] = [
      "hierarchical": true, "parameters": h.global.parameterCount + h.local.parameterCount,
      "train_seconds": seconds, "final_loss": h.global.settings.lossHistory.last ?? .nan,
      "final_local_loss": h.local.settings.lossHistory.last ?? .nan, "simulations": eta.rows, "dropped_rows": dropped,
      "epochs": histories.global.loss.count, "local_epochs": histories.local.loss.count, "out": out,
      "method": model.method.rawValue, "global_parameters": g, "local_parameters": l,
      "stopped_early": histories.global.stoppedEarly || histories.local.stoppedEarly,
    ]
    if let t { summaryJSON["task"] = t.name }
    return summaryJSON
  }
}

/// Loads a hierarchical model directory; a missing directory or a single estimator's directory is bad input.
func loadHierarchicalModel(_ path: String) throws -> HierarchicalEstimator {
  var isDir: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
    throw InputError("\(path): no such model directory")
  }
  do { return try HierarchicalEstimator.load(from: path) } catch let e as EstimatorError {
    if case .wrongModelKind = e {
      throw InputError("\(path): a single posterior estimator, not a hierarchical model (train one with 'train --hierarchical')")
    }
    throw InputError("\(path): \(e)")
  }
}

extension SampleCommand {
  /// `sample --hierarchical`: global draws composed over the J groups of the observation file, then every group's
  /// local parameters for every global draw; writes `theta_global` [K, G] and `theta_local` [K, J, L].
  func sampleHierarchical() throws {
    try checkOutputPath(out, allowed: ["npz"], option: "--out (with --hierarchical)")
    let h = try loadHierarchicalModel(model)
    let groups = try readObservations(observation, for: h.global)
    let hyperprior: any Prior
    if let p = inferenceArguments.prior {
      hyperprior = try inferenceArguments.readPrior(p, dimension: h.globalDimension)
    } else if h.global.settings.trainingPrior != nil {
      hyperprior = try h.global.trainingPrior(nil)
    } else {
      throw InputError("\(model): the model does not store its hyperprior; give it with --prior FILE")
    }
    var inference = InferenceOptions(priorDiffusion: inferenceArguments.priorDiffusion,
                                     refinementSteps: inferenceArguments.refine)
    inference.composition = try inferenceArguments.compositionArguments.compositionOptions(observations: groups.rows)
    let sampler = samplerArguments.sampler, options = samplerArguments.options
    let r = try h.sample(groupData: groups, count: count, hyperprior: hyperprior, inference: inference,
                         sampler: sampler, options: options, localSampler: sampler, localOptions: options,
                         seed: common.seed)
    let local = try NDArray(shape: [count, groups.rows, h.localDimension], data: r.local.storage)
    try NPZ.write([("theta_global", NDArray(r.global)), ("theta_local", local)], to: out)
    let globalName = (sampler ?? h.global.defaultSampler(for: inference)).rawValue
    let localName = (sampler ?? h.local.defaultSampler).rawValue
    let name = globalName == localName ? globalName : "\(globalName) (global), \(localName) (local)"
    common.info("sample: \(count) global draws composed over \(groups.rows) groups (\(r.globalSteps) steps) and "
                + "\(count * groups.rows) local draws with \(name) in \(fmt(r.seconds, 2)) s → \(out)")
    if r.nonFiniteRows > 0 { common.info("sample: \(r.nonFiniteRows) draws came out non-finite (kept as NaN)") }
    try common.emit([
      "hierarchical": true, "sample_seconds": r.seconds, "steps": r.globalSteps, "groups": groups.rows,
      "count": count, "sampler": name, "non_finite_rows": r.nonFiniteRows, "out": out,
      "global_parameters": h.globalDimension, "local_parameters": h.localDimension,
    ])
  }
}

extension SimulateCommand {
  /// `simulate --hierarchical`: single-group training rows (`--count N`, each with its own η) or one data set of
  /// `--groups J` groups sharing one η (theta_global [1, G]), as `theta_global`, `theta_local` and `x`.
  func simulateHierarchical() throws {
    try checkOutputPath(out, allowed: ["npz"], option: "--out")
    let t = try lookupHierarchicalTask(task!)
    let start = Date()
    let r = groups.map { t.sampleDataSet(groups: $0, seed: common.seed) }
      ?? t.sampleSingleGroups(count: count!, seed: common.seed)
    let shape = t.groupDataShape
    let x = try NDArray(shape: [r.data.rows] + (shape.count == 2 ? shape : [r.data.cols]), data: r.data.storage)
    try NPZ.write([("theta_global", NDArray(r.global)), ("theta_local", NDArray(r.local)), ("x", x)], to: out,
                  compression: compress ? .deflate : .stored)
    let seconds = Date().timeIntervalSince(start)
    let what = groups.map { "one data set of \($0) groups" } ?? "\(r.data.rows) single-group rows"
    common.info("simulate: \(what) of \(t.name) → \(out) (\(fmt(seconds, 1)) s)")
    try common.emit([
      "task": t.name, "hierarchical": true, "rows": r.data.rows, "groups": groups ?? NSNull(), "seconds": seconds,
      "non_finite_rows": NonFiniteRows.count(in: r.data), "out": out,
    ])
  }
}
