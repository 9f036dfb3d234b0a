import XCTest
@testable import PlaidCore

/// plaid's choice of OpenBLAS core type (`BLASCoreType.replacement`): a wider core type only where
/// the CPU runs it and OpenBLAS chose a narrower one, and never over a core type someone set.
final class BLASCoreTypeTests: XCTestCase {
    func testANarrowerChoiceIsReplacedByWhatTheCPURuns() {
        // Debian 12's OpenBLAS on a Xeon it does not know (family 6, model 207, AVX-512).
        XCTAssertEqual(BLASCoreType.replacement(forCurrent: "Prescott", kernelLevel: 4, environment: [:]), "SkylakeX")
        XCTAssertEqual(BLASCoreType.replacement(forCurrent: "Haswell", kernelLevel: 4, environment: [:]), "SkylakeX")
        XCTAssertEqual(BLASCoreType.replacement(forCurrent: "Sandybridge", kernelLevel: 3, environment: [:]), "Haswell")
        XCTAssertEqual(BLASCoreType.replacement(forCurrent: "Prescott", kernelLevel: 3, environment: [:]), "Haswell")
    }

    func testAChoiceAsWideIsKept() {
        for core in ["SkylakeX", "CooperLake", "SapphireRapids", "Zen"] {
            XCTAssertNil(BLASCoreType.replacement(forCurrent: core, kernelLevel: 4, environment: [:]), core)
            XCTAssertNil(BLASCoreType.replacement(forCurrent: core, kernelLevel: 3, environment: [:]), core)
        }
        XCTAssertNil(BLASCoreType.replacement(forCurrent: "Haswell", kernelLevel: 3, environment: [:]))
    }

    /// A CPU of the baseline level gets no AVX2 or AVX-512 core type, whatever OpenBLAS chose.
    func testNothingWiderThanTheCPURunsIsChosen() {
        for core in ["Prescott", "Nehalem", "Sandybridge", "Haswell"] {
            XCTAssertNil(BLASCoreType.replacement(forCurrent: core, kernelLevel: 1, environment: [:]), core)
        }
        XCTAssertNotEqual(BLASCoreType.replacement(forCurrent: "Prescott", kernelLevel: 3, environment: [:]), "SkylakeX")
    }

    func testACoreTypeSetOutsidePlaidIsKept() {
        XCTAssertNil(BLASCoreType.replacement(forCurrent: "Prescott", kernelLevel: 4, environment: ["OPENBLAS_CORETYPE": "Prescott"]))
        XCTAssertNil(BLASCoreType.replacement(forCurrent: "Prescott", kernelLevel: 4, environment: ["OPENBLAS_CORETYPE": ""]))
    }

    func testTheDescriptionSaysWhoChose() {
        XCTAssertTrue(BLASCoreType.describe(environment: [:]).hasSuffix("(OpenBLAS's own choice)"))
        XCTAssertTrue(BLASCoreType.describe(environment: ["OPENBLAS_CORETYPE": "Haswell"]).contains("OPENBLAS_CORETYPE=Haswell set outside plaid"))
        let replaced = BLASCoreType.describe(environment: ["OPENBLAS_CORETYPE": "SkylakeX", "PLAID_REPLACED_OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertTrue(replaced.contains("set by plaid") && replaced.contains("OpenBLAS chose Prescott"), replaced)
    }
}
