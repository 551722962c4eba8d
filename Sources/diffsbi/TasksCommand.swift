// `diffsbi tasks`: the built-in tasks.

import ArgumentParser
import CommandLineOptions
import DiffusionSBI

struct TasksCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tasks",
    abstract: "List the built-in tasks with their dimensions and reference posteriors.")

  @Flag(help: "Print one JSON object on stdout.")
  var json = false

  func run() throws {
    var rows: [[String: Any]] = []
    for name in TaskRegistry.names {
      let task: any SimulationTask
      do { task = try TaskRegistry.task(named: name) } catch {
        rows.append(["name": name, "available": false, "reason": "\(error)"])
        continue
      }
      let reference = task.hasExactPosterior ? "exact" : (task.sbibmDataName != nil ? "sbibm samples" : "none")
      rows.append([
        "name": name, "available": true, "parameters": task.parameterDimension, "data": task.dataDimension,
        "observations": task.observationCount, "reference": reference, "data_shape": task.dataShape,
      ])
    }
    // Two-level tasks of train/sample/simulate --hierarchical.
    let hierarchicalRows: [[String: Any]] = TaskRegistry.hierarchicalNames.compactMap { name in
      guard let t = try? TaskRegistry.hierarchicalTask(named: name) else { return nil }
      return ["name": name, "global_parameters": t.globalDimension, "local_parameters": t.localDimension,
              "group_data_shape": t.groupDataShape]
    }
    if json { return try printJSON(["tasks": rows, "hierarchical_tasks": hierarchicalRows]) }
    func pad(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(0, w - s.count)) }
    print(pad("task", 26) + pad("θ dim", 8) + pad("x shape", 10) + pad("obs", 6) + "reference posterior")
    for r in rows {
      guard r["available"] as? Bool == true else {
        print(pad(r["name"] as! String, 26) + "unavailable: \(r["reason"] as! String)")
        continue
      }
      let shape = (r["data_shape"] as! [Int]).map(String.init).joined(separator: "×")
      print(pad(r["name"] as! String, 26) + pad("\(r["parameters"]!)", 8) + pad(shape, 10)
            + pad("\(r["observations"]!)", 6) + "\(r["reference"]!)")
    }
    print("\nhierarchical tasks (train, sample and simulate --hierarchical):")
    print(pad("task", 30) + pad("global η", 10) + pad("local θ", 10) + "group data")
    for r in hierarchicalRows {
      let shape = (r["group_data_shape"] as! [Int]).map(String.init).joined(separator: "×")
      print(pad(r["name"] as! String, 30) + pad("\(r["global_parameters"]!)", 10) + pad("\(r["local_parameters"]!)", 10) + shape)
    }
  }
}
