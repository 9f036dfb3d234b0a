import Foundation

/// Free space on the file system a write goes to, checked before a long write starts and while
/// it runs, so that a write that cannot fit stops early with the sizes, not at ENOSPC hours in.
public enum DiskSpace {
    /// Bytes an unprivileged process may still write on the file system holding `path` (its
    /// nearest existing folder when `path` does not exist yet); nil when the system cannot say.
    /// Tests replace it to stand for a full disk.
    nonisolated(unsafe) public static var available: (String) -> Int64? = { path in
        var folder = URL(fileURLWithPath: path).standardizedFileURL
        while !FileManager.default.fileExists(atPath: folder.path) && folder.path != "/" {
            folder.deleteLastPathComponent()
        }
        var info = statvfs()
        guard statvfs(folder.path, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// Throws `PlaidError.insufficientSpace` when fewer than `needed` bytes are free at `path`.
    public static func check(needed: Int64, at path: String) throws {
        guard let free = available(path), free < needed else { return }
        throw PlaidError.insufficientSpace(path: path, needed: needed, available: free)
    }

    /// `bytes` for a person: "1.2 GB", "340 MB", "12 KB".
    public static func format(_ bytes: Int64) -> String {
        let units: [(Double, String)] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")]
        for (size, unit) in units where Double(bytes) >= size {
            return String(format: "%.1f %@", Double(bytes) / size, unit)
        }
        return "\(bytes) bytes"
    }
}
