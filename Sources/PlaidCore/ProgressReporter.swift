import Foundation

/// Progress of long work on stderr: one line rewritten in place on a terminal, a line every few
/// seconds otherwise (so logs stay readable), with rate and ETA.
public final class ProgressReporter: @unchecked Sendable {
    private let label: String
    private let total: Int
    private let unit: String
    private let start = Date()
    private var lastPrint = Date.distantPast
    private let interactive = isatty(2) != 0
    private let lock = NSLock()
    public var enabled = true
    /// Set by `--quiet`: no reporter prints anything.
    nonisolated(unsafe) public static var quiet = false

    public init(label: String, total: Int, unit: String) {
        self.label = label; self.total = total; self.unit = unit
    }

    /// Reports that `done` of `total` units are finished.
    public func update(_ done: Int, extra: String = "") {
        lock.lock(); defer { lock.unlock() }
        guard enabled && !ProgressReporter.quiet else { return }
        let now = Date()
        // On a terminal the line is rewritten in place; in a log, a stage shorter than the
        // interval leaves only its summary line (`finish`), a longer one a line every interval.
        let interval = interactive ? 0.2 : 5.0
        let last = interactive ? lastPrint : max(lastPrint, start)
        guard now.timeIntervalSince(last) >= interval || (interactive && done >= total) else { return }
        lastPrint = now
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let percent = total > 0 ? 100 * Double(done) / Double(total) : 100
        let eta = rate > 0 ? Double(total - done) / rate : 0
        var line = String(format: "%@: %d/%d %@ (%.0f%%), %@, ETA %@", label, done, total, unit, percent, formatRate(rate, unit), ProgressReporter.duration(eta))
        if !extra.isEmpty { line += ", " + extra }
        FileHandle.standardError.write(((interactive ? "\r\u{1B}[K" : "") + line + (interactive ? "" : "\n")).data(using: .utf8)!)
    }

    /// Ends the line with the total time.
    public func finish(extra: String = "") {
        lock.lock(); defer { lock.unlock() }
        guard enabled && !ProgressReporter.quiet else { return }
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(total) / elapsed : 0
        var line = String(format: "%@: %d %@ in %@ (%@)", label, total, unit, ProgressReporter.duration(elapsed), formatRate(rate, unit))
        if !extra.isEmpty { line += ", " + extra }
        FileHandle.standardError.write(((interactive ? "\r\u{1B}[K" : "") + line + "\n").data(using: .utf8)!)
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : String(format: "%.1fs", seconds)
    }
}

/// A rate in one format everywhere: no decimals from 100 up, one below ("7570 tokens/s", "54.5 queries/s").
public func formatRate(_ value: Double, _ unit: String) -> String {
    String(format: value >= 100 ? "%.0f %@/s" : "%.1f %@/s", value, unit)
}

/// Writes one line to stderr.
public func printError(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}
