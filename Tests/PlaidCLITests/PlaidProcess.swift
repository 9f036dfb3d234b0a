import Foundation

/// Runs the real `plaid` executable built beside the test bundle. stdout and stderr go to files
/// in `directory`, so a chatty child can never block on a full pipe.
struct PlaidProcess {
    struct Output { var status: Int32; var stdout: String; var stderr: String }

    let directory: String
    /// The child's working directory (default: the test process's).
    var workingDirectory: String? = nil
    /// Variables set (or, with nil, removed) in the child's environment.
    var environment: [String: String?] = [:]
    /// The executable to run (default: the `plaid` built beside the tests).
    var executable: URL = PlaidProcess.executable
    /// What the child reads on standard input (nothing: the test process's).
    var input: String? = nil

    /// On Linux the test bundle URL is the products directory; on macOS it is the .xctest bundle in it.
    static var executable: URL {
        final class Marker {}
        var products = Bundle(for: Marker.self).bundleURL
        if products.pathExtension == "xctest" { products.deleteLastPathComponent() }
        return products.appendingPathComponent("plaid")
    }

    /// Starts plaid; returns the process and the paths its stdout and stderr are written to.
    func launch(_ arguments: [String]) throws -> (process: Process, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        if !environment.isEmpty {
            var variables = ProcessInfo.processInfo.environment
            for (name, value) in environment { variables[name] = value }
            process.environment = variables
        }
        let id = UUID().uuidString
        let out = (directory as NSString).appendingPathComponent("stdout-\(id)")
        let err = (directory as NSString).appendingPathComponent("stderr-\(id)")
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        if let input {
            let inputPath = (directory as NSString).appendingPathComponent("stdin-\(id)")
            FileManager.default.createFile(atPath: inputPath, contents: Data(input.utf8))
            process.standardInput = FileHandle(forReadingAtPath: inputPath)
        }
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        try process.run()
        return (process, out, err)
    }

    /// Runs plaid to completion.
    func run(_ arguments: [String]) throws -> Output {
        let (process, out, err) = try launch(arguments)
        process.waitUntilExit()
        return Output(status: process.terminationStatus,
                      stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }
}
