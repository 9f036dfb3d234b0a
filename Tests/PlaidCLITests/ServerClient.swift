import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A `plaid serve` started on a free loopback port (`--port 0`; the bound port is read from its
/// first line) and a small blocking JSON client for it. `stop()` sends SIGTERM and waits;
/// a server still running when the test ends is killed.
final class ServerProcess {
    let process: Process
    let port: Int
    let stdoutPath: String
    let stderrPath: String

    init(_ test: PlaidCLITestCase, arguments: [String], workingDirectory: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        (process, stdoutPath, stderrPath) = try test.launch(["serve", "--port", "0"] + arguments, in: workingDirectory)
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

/// Raw HTTP/1.1 over a loopback socket, for what URLSession will not send: a foreign `Host`,
/// a body that stops short, a malformed chunk.
extension ServerProcess {
    struct RawAnswer {
        var status: Int
        var head: String
        var body: String
        /// Whether the server closed the connection before the timeout.
        var closed: Bool
        func header(_ name: String) -> String? {
            head.split(separator: "\r\n").dropFirst().first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
                .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) }
        }
    }

    /// A connected socket to the server.
    func connect() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw NSError(domain: "connect", code: Int(errno)) }
        return fd
    }

    static func send(_ fd: Int32, _ data: Data) {
        data.withUnsafeBytes { buffer in
            var sent = 0
            while sent < buffer.count {
                let n = Glibc.send(fd, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                sent += n
            }
        }
    }

    /// Reads until the server closes the connection or `timeout` passes.
    static func receive(_ fd: Int32, timeout: TimeInterval) -> (data: Data, closed: Bool) {
        var data = Data()
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return (data, false) }
            let whole = Int(left)
            let micros = Int32((left - Double(whole)) * 1e6) + 1
            var wait = timeval(tv_sec: whole, tv_usec: Int(micros))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { data.append(contentsOf: buffer[..<n]); continue }
            if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { return (data, true) }
        }
    }

    /// Sends `head` (lines joined by CRLF, a blank line added) and `body` as they are, on a
    /// connection the request asks to close, and reads the answer.
    func raw(_ head: [String], body: Data = Data(), timeout: TimeInterval = 30) throws -> RawAnswer {
        let fd = try connect()
        defer { close(fd) }
        ServerProcess.send(fd, Data((head + ["Connection: close", "", ""]).joined(separator: "\r\n").utf8) + body)
        let (data, closed) = ServerProcess.receive(fd, timeout: timeout)
        let text = String(decoding: data, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        let status = parts.first.flatMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } } ?? 0
        return RawAnswer(status: status, head: parts.first ?? "", body: parts.dropFirst().joined(separator: "\r\n\r\n"), closed: closed)
    }

    /// `/proc` figures of the server, in bytes: its resident memory now and its peak.
    var memory: (resident: Int, peak: Int) {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
        return (field("VmRSS"), field("VmHWM"))
    }
}
