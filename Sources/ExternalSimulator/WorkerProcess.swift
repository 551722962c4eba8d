// One simulator worker: a long-lived child process (`/bin/sh -c COMMAND`) that answers every batch of parameters
// written to its standard input as one `.npy` array with one `.npy` array of simulated data on its standard
// output. The protocol is specified in Documentation/Simulators.md.
//
// The exchange of one batch is a single poll(2) loop over the worker's three pipes: the request is written while
// the answer and the worker's standard error are read, so neither side can block the other on a full pipe, and a
// deadline bounds the wait. The answer is read with `NPY.readStream` (FileFormats/NPY.swift), which checks the
// header (row count, shape, element bound) before it reads a single data byte.

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
import FileFormats
import Foundation
import NumericCore

/// What went wrong with an external simulator. Every case names the command and the batch, and carries the last
/// lines the worker wrote to its standard error.
public enum SimulatorError: Error, CustomStringConvertible, Equatable {
  /// The command could not be started.
  case launchFailed(command: String, reason: String)
  /// The worker exited (or closed its output) before answering batch `batch`, and could not be restarted.
  case exited(command: String, batch: Int, status: String, restarts: Int, stderr: [String])
  /// The worker's answer is not a readable `.npy` array.
  case malformedOutput(command: String, batch: Int, reason: String, stderr: [String])
  /// The answer has a wrong number of rows.
  case wrongRows(command: String, batch: Int, expected: Int, got: Int)
  /// The answer's data sets have another shape than the model, the task or the earlier batches.
  case wrongShape(command: String, batch: Int, expected: [Int], got: [Int])
  /// No answer within the time limit.
  case timedOut(command: String, batch: Int, seconds: Double, stderr: [String])
  /// More rows with NaN or infinity than the retry allowance.
  case tooManyInvalidRows(command: String, valid: Int, invalid: Int)
  /// Simulations saved earlier do not match this run's settings.
  case savedSimulationsMismatch(directory: String, reason: String)

  public var description: String {
    func tail(_ lines: [String]) -> String {
      lines.isEmpty ? "" : "; its last stderr: " + lines.suffix(3).joined(separator: " | ")
    }
    switch self {
    case .launchFailed(let c, let r): return "simulator '\(c)' could not be started: \(r)"
    case .exited(let c, let b, let s, let r, let e):
      return "simulator '\(c)' \(s) during batch \(b)" + (r > 0 ? " (after \(r) restarts)" : "") + tail(e)
    case .malformedOutput(let c, let b, let r, let e):
      return "simulator '\(c)' wrote malformed output for batch \(b): \(r)" + tail(e)
    case .wrongRows(let c, let b, let e, let g):
      return "simulator '\(c)' returned \(g) rows for batch \(b) of \(e) parameter rows"
    case .wrongShape(let c, let b, let e, let g):
      return "simulator '\(c)' returned data sets of shape \(g) for batch \(b), expected \(e)"
    case .timedOut(let c, let b, let s, let e):
      return "simulator '\(c)' gave no answer for batch \(b) within \(s) s (--simulator-timeout)" + tail(e)
    case .tooManyInvalidRows(let c, let v, let i):
      return "simulator '\(c)' returned \(i) rows with NaN or infinity against \(v) valid rows; giving up"
    case .savedSimulationsMismatch(let d, let r): return "\(d): \(r)"
    }
  }

  /// Whether the error is the output contradicting the model, the task or the prior (bad input rather than a
  /// failure of the run).
  public var isShapeContradiction: Bool {
    if case .wrongShape = self { return true }
    if case .savedSimulationsMismatch = self { return true }
    return false
  }
}

/// Serializes process creation, so that pipe descriptors are marked close-on-exec before any other worker can be
/// spawned (a worker must not inherit another worker's pipes, or end-of-file would never reach that worker).
private let spawnLock = NSLock()

/// Writing to a pipe whose reader has exited must report EPIPE, not kill the process.
private let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

/// A running worker process and its three pipes (parent ends, non-blocking, close-on-exec).
final class WorkerProcess {
  let command: String
  let index: Int
  let seed: UInt64
  private let log: @Sendable (String) -> Void
  private var pid: pid_t = 0
  private var input: Int32 = -1
  private var output: Int32 = -1
  private var errors: Int32 = -1
  private var buffered: [UInt8] = []
  private var head = 0
  private var partialLine: [UInt8] = []
  /// The last lines the worker wrote to standard error (at most 20).
  private(set) var stderrTail: [String] = []

  init(command: String, index: Int, seed: UInt64, log: @escaping @Sendable (String) -> Void) throws {
    self.command = command
    self.index = index
    self.seed = seed
    self.log = log
    _ = ignoreSIGPIPE
    try launch()
  }

  deinit { terminate(grace: 0) }

  /// The process ID while the worker runs, else 0.
  var processID: Int32 { pid }

  /// Starts the process with the environment of this one plus `DIFFSBI_SEED`, `DIFFSBI_WORKER` and
  /// `DIFFSBI_PROTOCOL`, in its own process group (so that a kill reaches what the shell started).
  func launch() throws {
    spawnLock.lock()
    defer { spawnLock.unlock() }
    var fds: [[Int32]] = []
    for _ in 0..<3 {
      var p: [Int32] = [0, 0]
      guard pipe(&p) == 0 else {
        for q in fds { close(q[0]); close(q[1]) }
        throw SimulatorError.launchFailed(command: command, reason: "pipe: \(String(cString: strerror(errno)))")
      }
      for fd in p { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
      fds.append(p)
    }
    // Child: stdin ← fds[0][0], stdout → fds[1][1], stderr → fds[2][1].
    #if canImport(Darwin)
      var actions: posix_spawn_file_actions_t? = nil
      var attributes: posix_spawnattr_t? = nil
    #else
      var actions = posix_spawn_file_actions_t()
      var attributes = posix_spawnattr_t()
    #endif
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_adddup2(&actions, fds[0][0], 0)
    posix_spawn_file_actions_adddup2(&actions, fds[1][1], 1)
    posix_spawn_file_actions_adddup2(&actions, fds[2][1], 2)
    posix_spawnattr_init(&attributes)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGPIPE)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setpgroup(&attributes, 0)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF))
    defer {
      posix_spawn_file_actions_destroy(&actions)
      posix_spawnattr_destroy(&attributes)
    }
    var environment = ProcessInfo.processInfo.environment
    environment["DIFFSBI_SEED"] = String(seed)
    environment["DIFFSBI_WORKER"] = String(index)
    environment["DIFFSBI_PROTOCOL"] = "1"
    let arguments: [String] = ["/bin/sh", "-c", command]
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for p in argv + envp { free(p) } }
    var child: pid_t = 0
    let rc = posix_spawn(&child, "/bin/sh", &actions, &attributes, argv, envp)
    close(fds[0][0])
    close(fds[1][1])
    close(fds[2][1])
    guard rc == 0 else {
      close(fds[0][1])
      close(fds[1][0])
      close(fds[2][0])
      throw SimulatorError.launchFailed(command: command, reason: String(cString: strerror(rc)))
    }
    pid = child
    input = fds[0][1]
    output = fds[1][0]
    errors = fds[2][0]
    for fd in [input, output, errors] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    buffered = []
    head = 0
    partialLine = []
  }

  /// Why the exchange stopped early.
  enum Failure: Error {
    /// The worker closed its output or exited: restartable.
    case ended(status: String)
    /// No answer before the deadline.
    case timedOut
  }

  /// Sends one request and reads one `.npy` answer; `accept` checks its header before the data are read.
  func exchange(_ request: [UInt8], deadline: Date?, accept: (NPYHeader) throws -> Void) throws -> NDArray {
    guard pid > 0, output >= 0 else { throw Failure.ended(status: "is not running") }
    var written = 0
    var inputOpen = input >= 0
    func pump() throws {
      var polled: [pollfd] = []
      if inputOpen && written < request.count { polled.append(pollfd(fd: input, events: Int16(POLLOUT), revents: 0)) }
      polled.append(pollfd(fd: output, events: Int16(POLLIN), revents: 0))
      if errors >= 0 { polled.append(pollfd(fd: errors, events: Int16(POLLIN), revents: 0)) }
      var wait: Int32 = -1
      if let deadline {
        let left = deadline.timeIntervalSinceNow
        if left <= 0 { throw Failure.timedOut }
        wait = Int32(min(left * 1000 + 1, 60_000))
      }
      let n = poll(&polled, nfds_t(polled.count), wait)
      if n < 0 {
        if errno == EINTR { return }
        throw Failure.ended(status: "could not be polled (\(String(cString: strerror(errno))))")
      }
      for p in polled where p.revents != 0 {
        if p.fd == input {
          let k = request.withUnsafeBytes { raw in
            write(input, raw.baseAddress! + written, min(request.count - written, 1 << 16))
          }
          if k > 0 { written += k } else if k < 0 && errno != EAGAIN && errno != EINTR {
            inputOpen = false  // EPIPE: the worker stopped reading; its exit status tells why
          }
        } else if p.fd == output {
          var chunk = [UInt8](repeating: 0, count: 1 << 16)
          let k = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress!, $0.count) }
          if k > 0 {
            buffered.append(contentsOf: chunk[0..<k])
          } else if k == 0 {
            throw Failure.ended(status: reap(wait: 2))
          } else if errno != EAGAIN && errno != EINTR {
            throw Failure.ended(status: reap(wait: 2))
          }
        } else if p.fd == errors {
          if !drainErrors() {
            close(errors)
            errors = -1
          }
        }
      }
    }
    let array = try NPY.readStream(source: "the output of '\(command)'") { count in
      while buffered.count - head < count { try pump() }
      let bytes = Array(buffered[head..<(head + count)])
      head += count
      if head > 1 << 20 || head == buffered.count {
        buffered.removeFirst(head)
        head = 0
      }
      return bytes
    } accept: { try accept($0) }
    // The answer may arrive before the whole request was taken (a worker answering early): finish writing, so
    // that the next request starts at a message boundary.
    while inputOpen && written < request.count { try pump() }
    if head < buffered.count {
      throw FileFormatError.malformed(path: "the output of '\(command)'", format: .npy,
                                      reason: "\(buffered.count - head) bytes after the array")
    }
    _ = drainErrors()
    return array
  }

  /// Reads what standard error holds now, logging complete lines; false at end of file.
  @discardableResult
  func drainErrors() -> Bool {
    guard errors >= 0 else { return false }
    var chunk = [UInt8](repeating: 0, count: 1 << 14)
    while true {
      let k = chunk.withUnsafeMutableBytes { read(errors, $0.baseAddress!, $0.count) }
      if k == 0 { flushLine(); return false }
      if k < 0 { return errno == EAGAIN || errno == EINTR }
      for b in chunk[0..<k] {
        if b == UInt8(ascii: "\n") { flushLine() } else if partialLine.count < 4096 { partialLine.append(b) }
      }
    }
  }

  private func flushLine() {
    guard !partialLine.isEmpty else { return }
    let line = String(decoding: partialLine, as: UTF8.self)
    partialLine = []
    stderrTail.append(line)
    if stderrTail.count > 20 { stderrTail.removeFirst() }
    log("simulator[\(index)]: \(line)")
  }

  /// Waits up to `wait` seconds for the process to exit, then kills its process group; returns how it ended.
  @discardableResult
  func reap(wait: Double) -> String {
    guard pid > 0 else { return "was not running" }
    var status: Int32 = 0
    let until = Date().addingTimeInterval(wait)
    var done = waitpid(pid, &status, WNOHANG) == pid
    while !done && Date() < until {
      usleep(10_000)
      done = waitpid(pid, &status, WNOHANG) == pid
    }
    if !done {
      sendSignal(-pid, SIGKILL)
      sendSignal(pid, SIGKILL)
      while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
    pid = 0
    _ = drainErrors()
    for fd in [input, output, errors] where fd >= 0 { close(fd) }
    input = -1
    output = -1
    errors = -1
    let signal = status & 0x7f
    if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
    return done ? "was killed by signal \(signal)" : "did not exit and was killed"
  }

  /// Ends the worker: closes its input (a well-behaved worker exits at end of file) and waits up to `grace`
  /// seconds before killing its process group. Never leaves a zombie.
  func terminate(grace: Double = 2) {
    guard pid > 0 else { return }
    closeInput()
    reap(wait: grace)
  }

  /// Closes the worker's input: a well-behaved worker finishes its last answer and exits.
  func closeInput() {
    if input >= 0 { close(input); input = -1 }
  }

  /// Kills the worker's process group at once (after a timeout or a protocol error).
  func abort() {
    guard pid > 0 else { return }
    sendSignal(-pid, SIGKILL)
    reap(wait: 1)
  }
}

#if canImport(Glibc)
  private func sendSignal(_ pid: pid_t, _ sig: Int32) { _ = Glibc.kill(pid, sig) }
#else
  private func sendSignal(_ pid: pid_t, _ sig: Int32) { _ = Darwin.kill(pid, sig) }
#endif
