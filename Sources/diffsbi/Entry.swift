// Process entry point: parses the command line, runs the command, and turns every error into one readable line
// on stderr with the exit codes of Documentation/CLI.md (0 success, 2 bad input, 1 any other failure).

import ArgumentParser
import ExitCodes
import Foundation
import DiffusionSBI

@main
enum Entry {
  static func main() {
    BLAS.ensureFastKernels()
    let arguments = Array(CommandLine.arguments.dropFirst())
    let command: ParsableCommand
    do {
      command = try DiffSBI.parseAsRoot(arguments)
    } catch {
      let code = DiffSBI.exitCode(for: error)
      if code == .success { DiffSBI.exit(withError: error) }  // --help, --version
      let message = DiffSBI.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
      log("diffsbi: \(message) (see 'diffsbi --help')")
      exit(2)
    }
    do {
      var cmd = command
      try cmd.run()
    } catch let e as ExitCode {
      exit(e.rawValue)
    } catch {
      if DiffSBI.exitCode(for: error) == .success { DiffSBI.exit(withError: error) }
      let (message, code) = describe(error)
      log("diffsbi: \(message)")
      exit(code)
    }
  }
}

/// A bad-input error raised by the CLI itself (exit code 2).
struct InputError: UserInputError, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// Arguments that fail a command's validation are bad input.
extension ValidationError: UserInputError {}
