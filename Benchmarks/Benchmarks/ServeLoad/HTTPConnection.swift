import Foundation

/// A blocking HTTP/1.1 client on one keep-alive loopback connection: just enough to drive
/// `plaid serve` without the cost of a general client on a 2-core machine.
final class HTTPConnection {
    private let socketDescriptor: Int32
    private var buffer = [UInt8]()

    init(port: Int) throws {
        socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw LoadError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw LoadError("connect to port \(port): \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(socketDescriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(socketDescriptor) }

    /// Sends one request and reads the whole answer; returns its status and body.
    func send(_ method: String, _ path: String, body: [UInt8]) throws -> (status: Int, body: [UInt8]) {
        let head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
        try writeAll(Array(head.utf8))
        try writeAll(body)
        var headerEnd: Int?
        while headerEnd == nil {
            try fill()
            headerEnd = find([13, 10, 13, 10])
        }
        let header = String(decoding: buffer[..<headerEnd!], as: UTF8.self)
        let lines = header.split(separator: "\r\n")
        guard let status = lines.first.flatMap({ Int($0.split(separator: " ")[1]) }) else { throw LoadError("bad status line: \(lines.first ?? "")") }
        guard let lengthLine = lines.first(where: { $0.lowercased().hasPrefix("content-length:") }),
              let length = Int(lengthLine.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) else {
            throw LoadError("an answer without Content-Length")
        }
        let start = headerEnd! + 4
        while buffer.count < start + length { try fill() }
        let answer = Array(buffer[start..<(start + length)])
        buffer.removeFirst(start + length)
        return (status, answer)
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Foundation.send(socketDescriptor, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw LoadError("send: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let n = chunk.withUnsafeMutableBytes { recv(socketDescriptor, $0.baseAddress!, $0.count, 0) }
        guard n > 0 else { throw LoadError("the server closed the connection") }
        buffer += chunk[..<n]
    }

    private func find(_ pattern: [UInt8]) -> Int? {
        guard buffer.count >= pattern.count else { return nil }
        for i in 0...(buffer.count - pattern.count) where buffer[i] == pattern[0] && Array(buffer[i..<(i + pattern.count)]) == pattern { return i }
        return nil
    }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
