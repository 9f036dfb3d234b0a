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

    func check() throws {
        guard let end, DispatchTime.now().uptimeNanoseconds > end else { return }
        let shown = seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
        throw APIError(status: .serviceUnavailable,
                       message: "the request ran past the server's limit of \(shown) s (--request-timeout); send fewer or smaller queries or texts per request")
    }
}
