import XCTest
import PlaidCore
@testable import PlaidIndex

final class CodecTests: XCTestCase {
    /// Mean squared reconstruction error of residuals coded with `nbits`.
    private func reconstructionError(nbits: Int, residuals: [Float], dim: Int) -> Double {
        let codec = ResidualCodec.train(residuals: residuals, dim: dim, nbits: nbits)
        let n = residuals.count / dim
        var packed = [UInt8](repeating: 0, count: n * codec.bytesPerVector)
        residuals.withUnsafeBufferPointer { r in packed.withUnsafeMutableBufferPointer { codec.encode(residuals: r.baseAddress!, count: n, into: $0.baseAddress!) } }
        // Decode against a zero centroid so the output is the decoded residual itself.
        let decoder = ResidualDecoder(codec: codec, quantizer: CoarseQuantizer(centroids: [Float](repeating: 0, count: dim), dim: dim))
        var decoded = [Float](repeating: 0, count: residuals.count)
        let codes = [UInt8](repeating: 0, count: n)
        packed.withUnsafeBufferPointer { p in codes.withUnsafeBytes { c in decoded.withUnsafeMutableBufferPointer {
            decoder.decode(packed: p.baseAddress!, codes: c.baseAddress!, codeWidth: 1, count: n, into: $0.baseAddress!)
        } } }
        var error = 0.0
        for i in 0..<residuals.count { error += Double((residuals[i] - decoded[i]) * (residuals[i] - decoded[i])) }
        return error / Double(residuals.count)
    }

    func testReconstructionErrorFallsStrictlyWithMoreBits() {
        let dim = 64
        var rng = SeededRandom(seed: 11)
        let residuals = (0..<4000 * dim).map { _ in 0.05 * rng.nextGaussian() }
        let e1 = reconstructionError(nbits: 1, residuals: residuals, dim: dim)
        let e2 = reconstructionError(nbits: 2, residuals: residuals, dim: dim)
        let e4 = reconstructionError(nbits: 4, residuals: residuals, dim: dim)
        XCTAssertLessThan(e2, e1)
        XCTAssertLessThan(e4, e2)
        XCTAssertGreaterThan(e4, 0)
    }

    func testCutoffsAndWeightsAreTheQuantiles() {
        // Residuals uniform on 0..<1000: the 2-bit cutoffs sit at the quartiles, weights at the octiles.
        let residuals = (0..<1000).map { Float($0) }
        let codec = ResidualCodec.train(residuals: residuals, dim: 8, nbits: 2)
        XCTAssertEqual(codec.cutoffs.count, 3)
        XCTAssertEqual(codec.weights.count, 4)
        for (i, q) in [0.25, 0.5, 0.75].enumerated() { XCTAssertEqual(codec.cutoffs[i], Float(q * 999), accuracy: 1e-3) }
        for (i, q) in [0.125, 0.375, 0.625, 0.875].enumerated() { XCTAssertEqual(codec.weights[i], Float(q * 999), accuracy: 1e-3) }
    }

    func testPackingIsTightAndMostSignificantFirst() {
        let codec = ResidualCodec(dim: 8, nbits: 2, cutoffs: [-0.5, 0, 0.5], weights: [-1, -0.25, 0.25, 1])
        XCTAssertEqual(codec.bytesPerVector, 2)
        let residual: [Float] = [-0.9, -0.1, 0.1, 0.9, 0.9, 0.1, -0.1, -0.9]
        var packed = [UInt8](repeating: 0, count: 2)
        residual.withUnsafeBufferPointer { r in packed.withUnsafeMutableBufferPointer { codec.encode(residuals: r.baseAddress!, count: 1, into: $0.baseAddress!) } }
        XCTAssertEqual(packed, [0b00_01_10_11, 0b11_10_01_00])
    }
}
