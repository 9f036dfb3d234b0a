import XCTest
import Foundation

/// A test case that runs the real `plaid` in a temporary directory of its own.
class PlaidCLITestCase: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("plaid-\(type(of: self))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) } }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// Runs plaid to completion and checks its exit status (unless `status` is nil).
    @discardableResult
    func plaid(_ arguments: [String], expect status: Int32? = 0, in workingDirectory: String? = nil,
               environment: [String: String?] = [:], executable: URL = PlaidProcess.executable, input: String? = nil,
               file: StaticString = #filePath, line: UInt = #line) throws -> PlaidProcess.Output {
        let result = try PlaidProcess(directory: directory, workingDirectory: workingDirectory, environment: environment,
                                      executable: executable, input: input).run(arguments)
        if let status { XCTAssertEqual(result.status, status, "plaid \(arguments.joined(separator: " ")): \(result.stderr)", file: file, line: line) }
        return result
    }

    func launch(_ arguments: [String], in workingDirectory: String? = nil) throws -> (process: Process, stdout: String, stderr: String) {
        try PlaidProcess(directory: directory, workingDirectory: workingDirectory).launch(arguments)
    }

    /// Every file under an index directory, by relative path (the writer lock aside).
    func indexFiles(_ index: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for file in FileManager.default.enumerator(atPath: index)?.allObjects as? [String] ?? [] where file != "writer.lock" {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: index + "/" + file, isDirectory: &isDirectory)
            if !isDirectory.boolValue { out[file] = try Data(contentsOf: URL(fileURLWithPath: index + "/" + file)) }
        }
        return out
    }
}
