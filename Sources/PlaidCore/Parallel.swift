import Foundation

/// Work split over the machine's cores.
public enum Parallel {
    /// The number of worker threads used by default: `PLAID_THREADS` when it is a positive
    /// integer (a job engine running several plaid processes on one machine gives each its
    /// share), else the active processor count.
    public static let defaultThreadCount: Int = threadCount(environment: ProcessInfo.processInfo.environment)

    static func threadCount(environment: [String: String]) -> Int {
        if let given = environment[threadsVariable].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }), given >= 1 {
            return min(given, 4_096)
        }
        return ProcessInfo.processInfo.activeProcessorCount
    }

    public static let threadsVariable = "PLAID_THREADS"

    /// Runs `body(i)` for every i in 0..<count on up to `threads` threads. Items are handed out
    /// in contiguous chunks, so the result of each item must not depend on which thread ran it.
    public static func forEach(_ count: Int, threads: Int = defaultThreadCount, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        let workers = max(1, min(threads, count))
        if workers == 1 {
            for i in 0..<count { body(i) }
            return
        }
        // A shared counter hands out items one at a time: simple and balanced for uneven work.
        let next = ManagedAtomicCounter()
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let i = next.increment()
                if i >= count { break }
                body(i)
            }
        }
    }
}

/// A lock-protected counter (Foundation has no atomics; the lock is uncontended in practice).
final class ManagedAtomicCounter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func increment() -> Int {
        lock.lock(); defer { lock.unlock() }
        let v = value
        value += 1
        return v
    }
}
