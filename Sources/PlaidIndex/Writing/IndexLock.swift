import Foundation
import PlaidCore

/// Who a process is, in a form that survives pid reuse: host name, pid, and the process's start
/// time in clock ticks since boot (`/proc/PID/stat`, field 22).
struct ProcessIdentity: Codable, Equatable, CustomStringConvertible {
    var host: String
    var pid: Int32
    var started: UInt64

    static let current = ProcessIdentity(host: ProcessInfo.processInfo.hostName, pid: getpid(),
                                         started: ProcessIdentity.startTime(of: getpid()) ?? 0)

    /// The start time of a running process, or nil if no process has that pid.
    static func startTime(of pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces) start at field 3.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    /// Whether this identity names a process that is certainly gone: one of this host whose pid
    /// is free or now belongs to a process started at another time. A process of another host
    /// is never judged gone.
    var isCertainlyGone: Bool {
        guard host == ProcessIdentity.current.host else { return false }
        guard let now = ProcessIdentity.startTime(of: pid) else { return kill(pid, 0) != 0 && errno == ESRCH }
        return started != 0 && now != started
    }

    /// A file-name-safe tag: `host-pid-started`.
    var tag: String {
        let safeHost = String(host.map { $0.isLetter || $0.isNumber || $0 == "." ? $0 : "_" })
        return "\(safeHost)-\(pid)-\(started)"
    }

    init(host: String, pid: Int32, started: UInt64) { self.host = host; self.pid = pid; self.started = started }

    /// Parses a `tag`; nil if it is not one.
    init?(tag: Substring) {
        let parts = tag.split(separator: "-")
        guard parts.count >= 3, let started = UInt64(parts[parts.count - 1]), let pid = Int32(parts[parts.count - 2]) else { return nil }
        self.init(host: parts[0..<(parts.count - 2)].joined(separator: "-"), pid: pid, started: started)
    }

    var description: String { "process \(pid) on \(host)" }
}

/// The writer lock of an index: `writer.lock` in the index directory, held with `flock(2)` for
/// as long as a writer is open. The kernel releases the lock when its holder exits or is killed,
/// so a lock left by a dead writer is never in the way (stale-lock recovery needs no guessing);
/// the file records the holder's host, pid and start time so a refused writer can say who holds it.
final class IndexLock {
    static let fileName = "writer.lock"
    private var descriptor: Int32

    /// Takes the lock of the index in `directory`, or throws "the index is locked by process N".
    init(indexDirectory directory: String) throws {
        let path = (directory as NSString).appendingPathComponent(IndexLock.fileName)
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw PlaidError.io(path: path, detail: "cannot open the writer lock: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = (try? Data(contentsOf: URL(fileURLWithPath: path))).flatMap { try? JSONDecoder().decode(ProcessIdentity.self, from: $0) }
            close(descriptor)
            guard reason == EWOULDBLOCK else {
                throw PlaidError.io(path: path, detail: "cannot take the writer lock: \(String(cString: strerror(reason)))")
            }
            let who = holder.map { "\($0)" } ?? "another process"
            throw PlaidError.locked(path: directory, holder: who)
        }
        let record = (try? JSONEncoder().encode(ProcessIdentity.current)) ?? Data()
        _ = ftruncate(descriptor, 0)
        _ = record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    /// Releases the lock. The file stays: removing it could let two writers lock two different files.
    func release() {
        guard descriptor >= 0 else { return }
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
