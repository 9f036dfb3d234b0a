import Foundation
import XCTest
import PlaidKernels
@testable import PlaidEncoder

/// The 16-bit integer matrix product (`plaid_enc_int16_gemm`): within its rounding bound of the
/// exact product, never overflowing, every vector tile (AVX2, AVX-512 VNNI) equal bit for bit to the plain C one, and the
/// row-split multi-threaded `Linear` equal to one thread.
final class Int16MatmulTests: XCTestCase {
    struct Packed {
        let values: UnsafeMutablePointer<Int16>
        let scales: [Float]
        init(_ w: [Float], n: Int, k: Int) {
            let count = plaid_enc_int16_weights_count(n, k)
            values = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 2, alignment: 64)
                .bindMemory(to: Int16.self, capacity: max(count, 1))
            var scales = [Float](repeating: 0, count: plaid_enc_int16_scales_count(n))
            plaid_enc_int16_pack_weights(w, n, k, values, &scales)
            self.scales = scales
        }
        func free() { UnsafeMutableRawPointer(values).deallocate() }
    }

    /// out = epilogue(x·Wᵀ) through the kernel; `portable` selects the plain C path.
    static func multiply(_ x: [Float], _ w: [Float], m: Int, n: Int, k: Int, portable: Bool = false,
                         bias: [Float]? = nil, epilogue: Int = PLAID_ENC_EPILOGUE_NONE) -> [Float] {
        let packed = Packed(w, n: n, k: k)
        defer { packed.free() }
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: plaid_enc_int16_gemm_scratch_bytes(m, k), alignment: 64)
        defer { scratch.deallocate() }
        var out = [Float](repeating: .nan, count: m * n)
        let gemm = portable ? plaid_enc_int16_gemm_portable : plaid_enc_int16_gemm
        if let bias {
            gemm(x, m, k, packed.values, packed.scales, n, &out, scratch, bias, Int32(epilogue))
        } else {
            gemm(x, m, k, packed.values, packed.scales, n, &out, scratch, nil, Int32(epilogue))
        }
        return out
    }

    /// Activations with a few large "outlier" columns, as transformer hidden states have.
    static func randomMatrix(rows: Int, columns: Int, seed: UInt64, outliers: Bool) -> [Float] {
        var state = seed
        return (0..<(rows * columns)).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let unit = Float(state >> 40) / Float(1 << 24) - 0.5
            return outliers && i % columns % 97 == 3 ? unit * 40 : unit
        }
    }

    /// |out − x·Wᵀ| <= Σ_i |x_i − x̂_i|·|w_i| + |x̂_i|·|w_i − ŵ_i| <= (rowScale/2)·Σ|w| + (columnScale/2)·Σ|x̂|,
    /// with x̂, ŵ the rounded operands; computed here from the inputs alone, plus float rounding slack.
    func assertWithinRoundingBound(m: Int, n: Int, k: Int, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        let x = Self.randomMatrix(rows: m, columns: k, seed: seed, outliers: true)
        let w = Self.randomMatrix(rows: n, columns: k, seed: seed + 1, outliers: false)
        let out = Self.multiply(x, w, m: m, n: n, k: k)
        let packed = Packed(w, n: n, k: k)
        defer { packed.free() }
        var worstRatio = 0.0
        for r in 0..<m {
            let row = x[(r * k)..<((r + 1) * k)]
            let rowScale = Double(row.map { abs($0) }.max() ?? 0) / 32767
            let rowAbsoluteSum = row.reduce(0.0) { $0 + Double(abs($1)) }
            for c in 0..<n {
                var exact = 0.0, weightAbsoluteSum = 0.0, magnitude = 0.0
                for i in 0..<k {
                    exact += Double(x[r * k + i]) * Double(w[c * k + i])
                    weightAbsoluteSum += Double(abs(w[c * k + i]))
                    magnitude += Double(abs(x[r * k + i] * w[c * k + i]))
                }
                let bound = rowScale / 2 * weightAbsoluteSum + Double(packed.scales[c]) / 2 * (rowAbsoluteSum + rowScale / 2 * Double(k))
                    + 1e-6 * magnitude
                let error = abs(Double(out[r * n + c]) - exact)
                worstRatio = max(worstRatio, error / bound)
                if error > bound {
                    XCTFail("[\(r), \(c)] of \(m)×\(n)×\(k): error \(error) exceeds the rounding bound \(bound)", file: file, line: line)
                    return
                }
            }
        }
        XCTAssertGreaterThan(worstRatio, 0, "an exact result everywhere means the product was not rounded at all", file: file, line: line)
    }

    func testWithinRoundingBoundOfExactProduct() {
        // Odd inputs, columns not a multiple of 16, rows not a multiple of 6, one-row and one-input cases.
        for (m, n, k) in [(1, 1, 1), (7, 17, 3), (13, 40, 129), (100, 48, 384), (6, 16, 1536)] {
            assertWithinRoundingBound(m: m, n: n, k: k, seed: UInt64(m * 1000 + k))
        }
    }

    func testSmallRelativeErrorOnEncoderShapes() {
        let m = 50, n = 64, k = 384
        let x = Self.randomMatrix(rows: m, columns: k, seed: 7, outliers: true)
        let w = Self.randomMatrix(rows: n, columns: k, seed: 8, outliers: false)
        let out = Self.multiply(x, w, m: m, n: n, k: k)
        var errorSquares = 0.0, squares = 0.0
        for r in 0..<m {
            for c in 0..<n {
                var exact = 0.0
                for i in 0..<k { exact += Double(x[r * k + i]) * Double(w[c * k + i]) }
                errorSquares += (Double(out[r * n + c]) - exact) * (Double(out[r * n + c]) - exact)
                squares += exact * exact
            }
        }
        let relative = (errorSquares / squares).squareRoot()
        XCTAssertLessThan(relative, 2e-3)
    }

    /// Every input at full scale with the same sign: the int32 block sums reach their largest
    /// possible value (32767 · 65472 per block). A wrapped or saturated sum would be far off.
    func testLargestSumsDoNotOverflow() {
        let m = 6, n = 16, k = 1536
        for sign: Float in [1, -1] {
            let x = [Float](repeating: sign, count: m * k)
            let w = [Float](repeating: 1, count: n * k)
            for value in Self.multiply(x, w, m: m, n: n, k: k) {
                XCTAssertEqual(value, sign * Float(k), accuracy: Float(k) * 1e-3)
            }
            // Alternating signs along the inputs: the pairs of vpmaddwd cancel exactly.
            let alternating = (0..<(m * k)).map { $0 % 2 == 0 ? sign : -sign }
            for value in Self.multiply(alternating, w, m: m, n: n, k: k) {
                XCTAssertEqual(value, 0, accuracy: 1e-3)
            }
        }
    }

    func testZeroRowsAndColumnsGiveZeros() {
        let m = 8, n = 20, k = 10
        var x = Self.randomMatrix(rows: m, columns: k, seed: 3, outliers: false)
        var w = Self.randomMatrix(rows: n, columns: k, seed: 4, outliers: false)
        for i in 0..<k { x[2 * k + i] = 0; w[5 * k + i] = 0 }
        let out = Self.multiply(x, w, m: m, n: n, k: k)
        for c in 0..<n { XCTAssertEqual(out[2 * n + c], 0) }
        for r in 0..<m { XCTAssertEqual(out[r * n + 5], 0) }
        XCTAssertFalse(out.contains { $0.isNaN })
    }

    /// Every tile this CPU runs (each kernel level it can run) equals the plain C one bit for bit.
    func testEveryTileEqualsThePortableTileBitForBit() {
        defer { plaid_set_kernel_level(0) }
        var tiles: [String] = []
        for level in [Int32(1), 3, 4] where level <= plaid_cpu_kernel_level() {
            XCTAssertEqual(plaid_set_kernel_level(level), level)
            let tile = String(cString: plaid_enc_int16_gemm_tile())
            tiles.append(tile)
            for (m, n, k) in [(5, 16, 64), (13, 40, 129), (97, 384, 384), (12, 48, 1536), (7, 3, 1)] {
                let x = Self.randomMatrix(rows: m, columns: k, seed: UInt64(k), outliers: true)
                let w = Self.randomMatrix(rows: n, columns: k, seed: UInt64(k + 1), outliers: false)
                let fast = Self.multiply(x, w, m: m, n: n, k: k)
                let portable = Self.multiply(x, w, m: m, n: n, k: k, portable: true)
                XCTAssertEqual(fast.map(\.bitPattern), portable.map(\.bitPattern), "\(tile) at level \(level), \(m)×\(n)×\(k)")
            }
        }
        XCTAssertEqual(tiles.first, "portable", "level 1 runs the plain C tile")
        if plaid_cpu_kernel_level() >= 3 { XCTAssertTrue(tiles.contains("avx2"), "tiles run: \(tiles)") }
        print("int16 product tiles compared with the portable one: \(tiles)")
    }

    /// The fused epilogues equal the separate passes over the plain product, bit for bit, on more
    /// rows than one row block (96) so that several blocks are finished in turn.
    func testFusedEpiloguesEqualSeparatePasses() {
        let m = 200, n = 40, k = 64
        let x = Self.randomMatrix(rows: m, columns: k, seed: 21, outliers: true)
        let w = Self.randomMatrix(rows: n, columns: k, seed: 22, outliers: false)
        let bias = Self.randomMatrix(rows: 1, columns: n, seed: 23, outliers: false)
        for portable in [false, true] {
            let plain = Self.multiply(x, w, m: m, n: n, k: k, portable: portable)
            var withBias = plain
            plaid_enc_add_bias(&withBias, bias, m, n)
            XCTAssertEqual(Self.multiply(x, w, m: m, n: n, k: k, portable: portable, bias: bias).map(\.bitPattern),
                           withBias.map(\.bitPattern))
            for (epilogue, tanh) in [(PLAID_ENC_EPILOGUE_BIAS_GELU, Int32(0)), (PLAID_ENC_EPILOGUE_BIAS_GELU_TANH, 1)] {
                var separate = plain
                plaid_enc_bias_gelu(&separate, bias, m, n, tanh)
                let fused = Self.multiply(x, w, m: m, n: n, k: k, portable: portable, bias: bias, epilogue: epilogue)
                XCTAssertEqual(fused.map(\.bitPattern), separate.map(\.bitPattern), "epilogue \(epilogue)")
                XCTAssertNotEqual(fused, plain)
            }
        }
    }

    /// `Linear` splits rows over threads; each row's result depends on that row alone.
    func testThreadedLinearEqualsOneThread() {
        let m = 500, n = 48, k = 96
        let x = Self.randomMatrix(rows: m, columns: k, seed: 11, outliers: true)
        let weight = FloatStorage(Self.randomMatrix(rows: n, columns: k, seed: 12, outliers: false))
        let linear = Linear(weight: weight, bias: nil, inFeatures: k, outFeatures: n).using(.int16)
        var one = [Float](repeating: 0, count: m * n), four = one
        linear.multiply(x, rows: m, into: &one, threads: 1, scratch: MatmulScratch())
        linear.multiply(x, rows: m, into: &four, threads: 4, scratch: MatmulScratch())
        XCTAssertEqual(one.map(\.bitPattern), four.map(\.bitPattern))
        let float32 = Linear(weight: weight, bias: nil, inFeatures: k, outFeatures: n)
        var reference = [Float](repeating: 0, count: m * n)
        float32.multiply(x, rows: m, into: &reference, threads: 1, scratch: MatmulScratch())
        XCTAssertNotEqual(one, reference, "the int16 layer must not silently fall back to sgemm")
        for i in 0..<(m * n) { XCTAssertEqual(one[i], reference[i], accuracy: 0.05) }
    }
}
