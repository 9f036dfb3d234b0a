import Foundation

/// A fixed set of threads that run blocking work (search, encoding, commits) off Swift's
/// cooperative pool and off the event loops, so that a long product never stalls the server's
/// I/O. Jobs start in submission order; a pool of one thread runs them one after another.
final class WorkerPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var head = 0
    private var stopping = false
    private let running = DispatchGroup()

    /// - Parameters:
    ///   - threads: how many jobs run at once.
    ///   - name: the threads' name, as tools such as `top -H` show it.
    init(threads: Int, name: String) {
        for i in 0..<max(1, threads) {
            running.enter()
            // The thread keeps its pool alive until `shutdown()` ends it: a pool dropped without
            // one (its owner's initializer threw) must not be freed under a waiting thread.
            let thread = Thread { [self] in
                self.work()
                self.running.leave()
            }
            thread.name = "\(name)-\(i)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Runs `body` on one of the pool's threads and returns what it returns or throws.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            jobs.append { continuation.resume(with: Result { try body() }) }
            condition.signal()
            condition.unlock()
        }
    }

    /// Lets the queued jobs finish, ends the threads and returns once they have ended.
    func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        running.wait()
    }

    private func work() {
        while true {
            condition.lock()
            while head == jobs.count && !stopping { condition.wait() }
            if head == jobs.count { condition.unlock(); return }
            let job = jobs[head]
            head += 1
            if head == jobs.count { jobs.removeAll(keepingCapacity: true); head = 0 }
            condition.unlock()
            job()
        }
    }
}
