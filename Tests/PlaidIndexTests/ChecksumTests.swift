import XCTest
import PlaidKernels
@testable import PlaidIndex

final class ChecksumTests: XCTestCase {
    func testStreamingChecksumEqualsOneShotForAnySplit() {
        var rng = SeededRandom(seed: 99)
        for length in [0, 1, 7, 31, 32, 33, 64, 100, 1000] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let whole = bytes.withUnsafeBytes { plaid_checksum64($0.baseAddress, length, 5) }
            for _ in 0..<20 {
                var state = plaid_checksum_state()
                plaid_checksum_init(&state, 5)
                var offset = 0
                while offset < length {
                    let piece = min(length - offset, Int(rng.next() % 40))
                    bytes.withUnsafeBytes { plaid_checksum_update(&state, $0.baseAddress! + offset, piece) }
                    offset += piece
                }
                XCTAssertEqual(plaid_checksum_final(&state), whole, "length \(length)")
            }
        }
    }

    func testChecksumSeesEveryByteAndTheSeed() {
        var bytes = [UInt8](repeating: 0, count: 200)
        let base = plaid_checksum64(bytes, bytes.count, 1)
        XCTAssertNotEqual(base, plaid_checksum64(bytes, bytes.count, 2))
        for i in [0, 31, 32, 150, 199] {
            bytes[i] ^= 1
            XCTAssertNotEqual(plaid_checksum64(bytes, bytes.count, 1), base, "byte \(i)")
            bytes[i] ^= 1
        }
    }
}
