import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A directory of this process's own under $TMPDIR (scripts/fuzz.sh points it into the build
/// folder and removes it afterwards), made once.
public let scratchDirectory: String = {
    let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    let path = (base as NSString).appendingPathComponent("plaid-fuzz-\(getpid())")
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()

/// Writes `bytes` to `name` in the scratch directory (replacing what was there) and returns its path.
public func scratchFile(_ name: String, _ bytes: UnsafeRawBufferPointer) -> String {
    let path = (scratchDirectory as NSString).appendingPathComponent(name)
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0, "cannot create \(path)")
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        precondition(n > 0, "cannot write \(path)")
        offset += n
    }
    close(fd)
    return path
}

public func scratchFile(_ name: String, _ bytes: [UInt8]) -> String {
    bytes.withUnsafeBytes { scratchFile(name, $0) }
}

/// The fuzzer's input as a buffer (libFuzzer may pass a null pointer for an empty input).
public func input(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(start: size == 0 ? nil : data, count: size)
}
