import XCTest
@testable import PlaidCore

final class ParallelTests: XCTestCase {
    /// `PLAID_THREADS` gives a process its share of the cores; a value that is not a positive
    /// integer is ignored, not taken for one thread.
    func testPlaidThreadsSetsTheDefaultThreadCount() {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        XCTAssertEqual(Parallel.threadCount(environment: [:]), cores)
        XCTAssertEqual(Parallel.threadCount(environment: ["PLAID_THREADS": "1"]), 1)
        XCTAssertEqual(Parallel.threadCount(environment: ["PLAID_THREADS": " 3 "]), 3)
        for ignored in ["0", "-2", "two", ""] {
            XCTAssertEqual(Parallel.threadCount(environment: ["PLAID_THREADS": ignored]), cores, ignored)
        }
        XCTAssertEqual(Parallel.threadCount(environment: ["PLAID_THREADS": "99999999"]), 4_096)
    }
}
