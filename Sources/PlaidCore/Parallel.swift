import Foundation

/// Work split over the machine's cores.
public enum Parallel {
    /// The number of worker threads used by default: the active processor count.
    public static var defaultThreadCount: Int { ProcessInfo.processInfo.activeProcessorCount }

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
