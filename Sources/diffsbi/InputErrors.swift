// Library error types whose cases describe bad user input: the CLI exits with code 2 for them.

import CommandLineOptions
import DiffusionSBI

extension FileFormatError: UserInputError {}
extension TaskError: UserInputError {}
extension EstimatorError: UserInputError {}
extension TrainingError: UserInputError {}
extension DiagnosticsError: UserInputError {}
extension ModelFileError: UserInputError {}
extension DiffusionError: UserInputError {}
extension CheckpointError: UserInputError {}
