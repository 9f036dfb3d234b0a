import Foundation

/// When a request must be answered by (`--request-timeout`). Work checks it when its job
/// starts and between queries, encoder batches and stages: a request past it stops at the next
/// check with a 503 instead of holding a pool thread, and a write past it is never committed.
struct Deadline: Sendable {
    private let end: UInt64?
    private let seconds: Double

    /// From now; nil or not positive: no deadline.
    init(seconds: Double?) {
        self.seconds = seconds ?? 0
        end = seconds.flatMap { $0 > 0 ? DispatchTime.now().uptimeNanoseconds + UInt64($0 * 1e9) : nil }
    }

    /// Nanoseconds left (0 once past); nil without a deadline.
    var remaining: UInt64? {
        end.map { end in end > DispatchTime.now().uptimeNanoseconds ? end - DispatchTime.now().uptimeNanoseconds : 0 }
    }

    /// What a body still arriving at the deadline is answered: the connection closes after it.
    var bodyTooSlow: APIError {
        APIError(status: .requestTimeout, message: "the request body did not arrive within the server's limit of \(shown) s (--request-timeout); send it at once",
                 headers: [.connection: "close"])
    }

    private var shown: String { seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds) }

    func check() throws {
        guard let end, DispatchTime.now().uptimeNanoseconds > end else { return }
        throw APIError(status: .serviceUnavailable,
                       message: "the request ran past the server's limit of \(shown) s (--request-timeout); send fewer or smaller queries or texts per request")
    }
}
