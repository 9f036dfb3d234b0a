import Foundation

/// When a request must be answered by (`--request-timeout`). Work checks it when its job
/// starts and between queries, encoder chunks and stages: a request past it stops at the next
/// check (`ServiceError.timeout`) instead of holding a pool thread, and a write past it is never
/// committed.
struct Deadline: Sendable {
    private let end: UInt64?
    /// The seconds allowed from the start; not positive: no deadline.
    let seconds: Double

    /// From now; nil or not positive: no deadline.
    init(seconds: Double?) {
        self.seconds = seconds ?? 0
        end = seconds.flatMap { $0 > 0 ? DispatchTime.now().uptimeNanoseconds + UInt64($0 * 1e9) : nil }
    }

    /// Nanoseconds left (0 once past); nil without a deadline.
    var remaining: UInt64? {
        end.map { end in end > DispatchTime.now().uptimeNanoseconds ? end - DispatchTime.now().uptimeNanoseconds : 0 }
    }

    /// Throws `ServiceError.timeout` once the deadline has passed.
    func check() throws {
        guard let end, DispatchTime.now().uptimeNanoseconds > end else { return }
        throw ServiceError.timeout(seconds: seconds)
    }
}
