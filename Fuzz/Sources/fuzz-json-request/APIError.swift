// The one server type JSONReader.swift and Requests.swift use, without its HTTP status: the
// server's APIError.swift imports Hummingbird, and building SwiftNIO and Hummingbird with the
// sanitizers took 15 minutes of this harness build's 16 here. Keep `badRequest` in step with
// Sources/PlaidServer/HTTP/APIError.swift.
struct APIError: Error, Sendable {
    var message: String

    static func badRequest(_ message: String) -> APIError { APIError(message: message) }
    static func tooLarge(_ message: String) -> APIError { APIError(message: message) }
}
