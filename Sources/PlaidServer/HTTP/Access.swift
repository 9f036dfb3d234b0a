import Foundation
import Hummingbird

/// Who may call the API, checked before any route reads a body (`GET /health` aside: liveness
/// probes call by address, and it tells nothing):
///
/// - `Host` must name this server: a loopback name (`localhost`, `127.0.0.1`, `[::1]`) or the
///   bound `--host`, without a port or with the bound one, or an `--allowed-host`. A page whose
///   DNS name an attacker rebinds to this address sends its own name, and is answered 421.
/// - `Origin`, which browsers send with cross-site requests, must be the server's own
///   (`http://` and the request's `Host`); any other is answered 403, so no web page elsewhere
///   can make a browser call the API.
/// - With an API key, every route needs `Authorization: Bearer KEY` (the scheme in any case; 401
///   with `WWW-Authenticate: Bearer` otherwise), compared in constant time.
struct AccessPolicy: Sendable {
    var host: String
    var allowedHosts: [String]
    var apiKey: String?
    /// The bound port (known once the server listens).
    let port: BoundPort

    private static let loopbackNames: Set<String> = ["localhost", "127.0.0.1", "[::1]"]

    func check(_ request: Request) throws {
        if request.uri.path == "/health" { return }
        let authority = request.head.authority ?? ""
        guard isServerName(authority) else {
            let named = authority.isEmpty ? "no Host header" : "Host \(authority)"
            throw APIError(status: .misdirectedRequest, message: "the request gives \(named), a name this server does not answer to; call it by 127.0.0.1 or localhost, or start it with --allowed-host NAME")
        }
        if let origin = request.headers[.origin] {
            // The server speaks plain HTTP: an https:// origin is another site's page.
            guard origin.lowercased() == "http://" + authority.lowercased() else {
                throw APIError(status: .forbidden, message: "the request's Origin \(origin) is another site, and the API answers no cross-origin browser requests; call it from a program or from its own origin")
            }
        }
        if let apiKey {
            guard let token = request.headers[.authorization].flatMap(AccessPolicy.bearerToken),
                  AccessPolicy.sameInConstantTime(Array(token.utf8), Array(apiKey.utf8)) else {
                throw APIError(status: .unauthorized, message: "the request has no valid API key; send the header Authorization: Bearer KEY with the key in the server's --api-key-file",
                               headers: [.wwwAuthenticate: "Bearer"])
            }
        }
    }

    /// The token of `Bearer TOKEN`: the scheme's case is free and spaces may follow it (RFC 9110 §11.4).
    static func bearerToken(_ authorization: String) -> String? {
        guard let space = authorization.firstIndex(of: " "),
              authorization[..<space].lowercased() == "bearer" else { return nil }
        return String(authorization[space...].drop { $0 == " " })
    }

    /// Whether `authority` (`name`, `name:port`, `[v6]:port`) is one of the server's names.
    private func isServerName(_ authority: String) -> Bool {
        let (name, port) = AccessPolicy.split(authority)
        guard !name.isEmpty else { return false }
        let bound = AccessPolicy.split(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host).name
        if AccessPolicy.loopbackNames.contains(name) || (name == bound && !["0.0.0.0", "[::]"].contains(bound)) {
            return port == nil || port == self.port.value
        }
        return allowedHosts.contains { allowed in
            let (allowedName, allowedPort) = AccessPolicy.split(allowed)
            return allowedName == name && (allowedPort == nil || allowedPort == port)
        }
    }

    /// `name` (lowercased; an IPv6 literal keeps its brackets) and the port, if any.
    static func split(_ authority: String) -> (name: String, port: Int?) {
        let lower = authority.lowercased()
        if lower.hasPrefix("["), let close = lower.firstIndex(of: "]") {
            let name = String(lower[...close])
            let rest = lower[lower.index(after: close)...]
            return (name, rest.hasPrefix(":") ? Int(rest.dropFirst()) ?? -1 : rest.isEmpty ? nil : -1)
        }
        guard let colon = lower.lastIndex(of: ":") else { return (lower, nil) }
        return (String(lower[..<colon]), Int(lower[lower.index(after: colon)...]) ?? -1)
    }

    /// Equal bytes, in a time that depends on the key's length only, not on where they differ.
    static func sameInConstantTime(_ given: [UInt8], _ key: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: given.count ^ key.count)
        for i in 0..<key.count { difference |= key[i] ^ (i < given.count ? given[i] : 0) }
        return difference == 0 && given.count == key.count
    }
}

/// The port the server bound, set once it listens (`--port 0` picks it then).
final class BoundPort: @unchecked Sendable {
    private let lock = NSLock()
    private var port: Int
    init(_ port: Int) { self.port = port }
    var value: Int {
        get { lock.lock(); defer { lock.unlock() }; return port }
        set { lock.lock(); port = newValue; lock.unlock() }
    }
}

struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: AccessPolicy
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try policy.check(request)
        let large = request.headers[.contentLength].flatMap(Int.init).map { $0 >= MemoryRelease.threshold }
            ?? (request.headers[.transferEncoding] != nil)
        defer { if large { MemoryRelease.soon() } }
        return try await next(request, context)
    }
}
