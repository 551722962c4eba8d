// Exit codes of the command-line tool (Documentation/CLI.md §1.2: 0 success, 2 bad input, 1 any other failure). Every
// public error type of the library is classified here, deliberately, as bad input (`UserInputError`) or as a failure of
// the computation on valid input (`ComputationError`); a test lists the library's error types so that a new one without
// a decision fails.

import DiffusionSBI
import Foundation

/// Errors whose cases describe bad user input (files, shapes, names, options, specifications): exit code 2.
public protocol UserInputError: Error {}

/// Errors that describe a failure of a computation on valid input (a numerical breakdown): exit code 1.
public protocol ComputationError: Error {}

extension FileFormatError: UserInputError {}
extension TaskError: UserInputError {}
extension EstimatorError: UserInputError {}
extension TrainingError: UserInputError {}
extension DiagnosticsError: UserInputError {}
extension ModelFileError: UserInputError {}
extension DiffusionError: UserInputError {}
extension CheckpointError: UserInputError {}
extension CompositionError: UserInputError {}
extension FlowMatchingError: UserInputError {}
extension ConsistencyError: UserInputError {}
extension SpecificationError: UserInputError {}

extension ODEError: ComputationError {}
extension LinearAlgebraError: ComputationError {}
// A simulator that crashed, hung or wrote garbage is a failure of the run (1); output whose shape contradicts the
// model, the task or saved simulations is bad input (2).
extension SimulatorError: ComputationError {}
// A truncated proposal that accepts almost nothing, or a round without a finite simulation.
extension SequentialError: ComputationError {}

/// The exit code of an error: 2 for bad input (a `UserInputError`, or JSON that does not decode), 1 otherwise.
public func exitCode(for error: any Error) -> Int32 {
  if let s = error as? SimulatorError { return s.isShapeContradiction ? 2 : 1 }
  return error is UserInputError || error is DecodingError ? 2 : 1
}

/// An error's one-line message (the first line of its description) and its exit code.
public func describe(_ error: any Error) -> (message: String, code: Int32) {
  let text = String(describing: error)
  return (text.split(separator: "\n").first.map(String.init) ?? text, exitCode(for: error))
}
