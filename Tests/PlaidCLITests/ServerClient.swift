import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// A `plaid serve` started on a free loopback port (`--port 0`; the bound port is read from its
/// first line) and a small blocking JSON client for it. `stop()` sends SIGTERM and waits;
/// a server still running when the test ends is killed.
final class ServerProcess {
    let process: Process
    let port: Int
    let stdoutPath: String
    let stderrPath: String

    init(_ test: PlaidCLITestCase, arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        (process, stdoutPath, stderrPath) = try test.launch(["serve", "--port", "0"] + arguments)
        let deadline = Date().addingTimeInterval(120)
        var found: Int?
        while found == nil, Date() < deadline, process.isRunning {
            let text = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                found = Int(text[range].split(separator: ":").last!)
            } else {
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        guard let found else {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            let message = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            throw NSError(domain: "plaid serve", code: Int(process.terminationStatus),
                          userInfo: [NSLocalizedDescriptionKey: "the server did not start: \(message)"])
        }
        port = found
        test.addTeardownBlock { [process] in
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        }
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// SIGTERM (or `signal`), then the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return process.terminationStatus
    }

    struct Answer {
        var status: Int
        var data: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:] }
        var error: String? { json["error"] as? String }
    }

    /// One request; `body` is JSON-serialised unless it is already `Data`.
    func request(_ method: String, _ path: String, _ body: Any? = nil, timeout: TimeInterval = 120) throws -> Answer {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!, timeoutInterval: timeout)
        request.httpMethod = method
        if let body {
            request.httpBody = try (body as? Data) ?? JSONSerialization.data(withJSONObject: body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let done = DispatchSemaphore(value: 0)
        var answer: Result<Answer, Error> = .failure(URLError(.unknown))
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error { answer = .failure(error) } else {
                answer = .success(Answer(status: (response as? HTTPURLResponse)?.statusCode ?? 0, data: data ?? Data()))
            }
            done.signal()
        }.resume()
        done.wait()
        return try answer.get()
    }
}
