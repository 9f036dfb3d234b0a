import Foundation
import PlaidKernels

/// A 64-bit content checksum of files (`plaid_checksum64`, streamed), as 16 hex digits: it tells
/// whether two sets of files hold the same bytes. Not cryptographic.
public enum FileChecksum {
    /// Over each file's name (as given) and content, in the order given; a missing file counts as its name alone.
    public static func hex(ofFiles files: [(name: String, path: String)], seed: UInt64 = 0) -> String {
        var state = plaid_checksum_state()
        plaid_checksum_init(&state, seed)
        for file in files {
            Array(file.name.utf8).withUnsafeBytes { plaid_checksum_update(&state, $0.baseAddress, $0.count) }
            guard let mapped = try? MappedFile(path: file.path) else { continue }
            plaid_checksum_update(&state, mapped.bytes, mapped.count)
        }
        return String(format: "%016llx", plaid_checksum_final(&state))
    }

    /// Over the strings given, in order.
    public static func hex(ofStrings strings: [String], seed: UInt64 = 0) -> String {
        var state = plaid_checksum_state()
        plaid_checksum_init(&state, seed)
        for string in strings {
            Array((string + "\u{0}").utf8).withUnsafeBytes { plaid_checksum_update(&state, $0.baseAddress, $0.count) }
        }
        return String(format: "%016llx", plaid_checksum_final(&state))
    }
}
