import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PlaidCore
import PlaidKernels

/// Token sequences packed one after another with no padding, so that the dense layers only
/// ever multiply real tokens. Attention, the one step that mixes tokens, runs per sequence.
public struct PackedSequences: Sendable {
    /// [tokenCount] token ids, sequence after sequence.
    public var tokenIDs: [Int32] = []
    /// [sequenceCount + 1]: sequence s holds tokens offsets[s]..<offsets[s+1].
    public var offsets: [Int] = [0]
    /// [tokenCount]: 1 where other tokens may attend to this one (the attention mask), else 0.
    public var attendable: [UInt8] = []

    public init() {}

    public var tokenCount: Int { tokenIDs.count }
    public var sequenceCount: Int { offsets.count - 1 }
    public func length(of sequence: Int) -> Int { offsets[sequence + 1] - offsets[sequence] }
    public var longestSequence: Int { (0..<sequenceCount).map(length(of:)).max() ?? 0 }

    public mutating func append(_ ids: [Int], attendable mask: [Bool]) {
        precondition(ids.count == mask.count)
        tokenIDs.append(contentsOf: ids.map { Int32($0) })
        attendable.append(contentsOf: mask.map { $0 ? 1 : 0 })
        offsets.append(tokenIDs.count)
    }
}

/// A transformer that maps packed token ids to contextual token vectors.
protocol TransformerBackbone: AnyObject, Sendable {
    var hiddenSize: Int { get }
    var vocabularySize: Int { get }
    /// The longest sequence the model can take (position embeddings), if limited.
    var maximumSequenceLength: Int? { get }
    /// [tokenCount, hiddenSize] contextual vectors of the tokens of `batch`, computed on up to
    /// `threads` threads (the element-wise steps and attention; sgemm uses OpenBLAS's own threads).
    func forward(_ batch: PackedSequences, threads: Int) -> FloatBuffer
}

/// A block of working memory (the forward pass's, a few to tens of MB per batch, and the packed
/// int16 weights), 64-byte aligned at least, freed on deinit.
/// Blocks of 1 MiB or more are mapped from the kernel directly and unmapped when freed: through
/// malloc, freeing them raises glibc's dynamic mmap threshold, after which such blocks come from
/// the per-thread arenas and stay resident (encoding SciFact peaked at 1.6 GB instead of 0.4 GB).
final class WorkingMemory: @unchecked Sendable {
    static let mappedFrom = 1 << 20

    let pointer: UnsafeMutableRawPointer
    let bytes: Int
    private let mapped: Bool

    init(bytes: Int) {
        self.bytes = max(bytes, 1)
        if self.bytes >= Self.mappedFrom,
           let base = mmap(nil, self.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED {
            pointer = base
            mapped = true
        } else {
            // Small blocks, and the unlikely failure of mmap (malloc then fails in turn or succeeds).
            pointer = .allocate(byteCount: self.bytes, alignment: 64)
            mapped = false
        }
    }

    deinit {
        if mapped { munmap(pointer, bytes) } else { pointer.deallocate() }
    }
}

/// Scratch memory of the forward pass: allocated once per batch, not per token.
public final class FloatBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    private let memory: WorkingMemory
    public init(count: Int) {
        self.count = count
        memory = WorkingMemory(bytes: count * MemoryLayout<Float>.stride)
        pointer = memory.pointer.bindMemory(to: Float.self, capacity: max(count, 1))
    }
}

/// How the dense layers multiply.
public enum MatrixPrecision: String, Sendable, CaseIterable {
    /// float32 throughout: OpenBLAS sgemm.
    case float32
    /// Both operands rounded to 16-bit integers, weights with a scale per output column and
    /// activations with a scale per row, then exact integer sums (`plaid_enc_int16_gemm`).
    /// About 1.5× sgemm's speed on AVX2 machines (1.24–1.31× for a whole encoding); token
    /// vectors stay within 2e-6 of PyLate's in cosine on the parity fixtures.
    case int16
}

/// A weight matrix packed once for `plaid_enc_int16_gemm`.
final class Int16Weights: @unchecked Sendable {
    let values: UnsafeMutablePointer<Int16>
    let scales: UnsafeMutablePointer<Float>
    // Both 64-byte aligned at least: the kernel loads the panels with aligned 32-byte loads.
    private let valueMemory: WorkingMemory
    private let scaleMemory: WorkingMemory

    init(_ weight: FloatStorage, outFeatures: Int, inFeatures: Int) {
        let count = plaid_enc_int16_weights_count(outFeatures, inFeatures)
        let scaleCount = plaid_enc_int16_scales_count(outFeatures)
        valueMemory = WorkingMemory(bytes: count * MemoryLayout<Int16>.stride)
        scaleMemory = WorkingMemory(bytes: scaleCount * MemoryLayout<Float>.stride)
        values = valueMemory.pointer.bindMemory(to: Int16.self, capacity: max(count, 1))
        scales = scaleMemory.pointer.bindMemory(to: Float.self, capacity: max(scaleCount, 1))
        plaid_enc_int16_pack_weights(weight.pointer, outFeatures, inFeatures, values, scales)
    }
}

/// Scratch memory for the int16 products of one forward pass (the rows rounded to 16 bits),
/// reused by each product rather than allocated per product.
final class MatmulScratch: @unchecked Sendable {
    private var memory: WorkingMemory?

    init() {}

    /// At least `bytes` bytes, valid until the next call (one product at a time uses it).
    func memory(bytes: Int) -> UnsafeMutableRawPointer {
        if let memory, bytes <= memory.bytes { return memory.pointer }
        let fresh = WorkingMemory(bytes: bytes)
        memory = fresh
        return fresh.pointer
    }
}

/// y = x·Wᵀ + b (torch.nn.Linear). Weight is [outFeatures, inFeatures].
struct Linear: @unchecked Sendable {
    let weight: FloatStorage
    let bias: FloatStorage?
    let inFeatures: Int
    let outFeatures: Int
    /// Set by `using(.int16)`: the weights packed for the integer product, which then replaces sgemm.
    private(set) var int16: Int16Weights? = nil

    init(weight: FloatStorage, bias: FloatStorage?, inFeatures: Int, outFeatures: Int) {
        self.weight = weight
        self.bias = bias
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    /// This layer multiplying with `precision`.
    func using(_ precision: MatrixPrecision) -> Linear {
        var copy = self
        copy.int16 = precision == .int16 ? Int16Weights(weight, outFeatures: outFeatures, inFeatures: inFeatures) : nil
        return copy
    }

    /// out[rows, outFeatures] = x[rows, inFeatures]·Wᵀ, without the bias (callers fuse it into
    /// the next element-wise step).
    func multiply(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, threads: Int,
                  scratch: MatmulScratch) {
        product(x, rows: rows, into: out, threads: threads, scratch: scratch, bias: nil, epilogue: PLAID_ENC_EPILOGUE_NONE)
    }

    /// out = x·Wᵀ + b.
    func apply(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, threads: Int,
               scratch: MatmulScratch) {
        product(x, rows: rows, into: out, threads: threads, scratch: scratch, bias: bias, epilogue: PLAID_ENC_EPILOGUE_NONE)
    }

    /// out = GELU(x·Wᵀ + b), in the erf form or, with `tanh`, the tanh one.
    func applyGELU(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, threads: Int,
                   scratch: MatmulScratch, tanh: Bool) {
        product(x, rows: rows, into: out, threads: threads, scratch: scratch, bias: bias,
                epilogue: tanh ? PLAID_ENC_EPILOGUE_BIAS_GELU_TANH : PLAID_ENC_EPILOGUE_BIAS_GELU)
    }

    /// In float32: one OpenBLAS sgemm (on OpenBLAS's threads), then the epilogue as a row-parallel
    /// pass. In int16: the rows split over up to `threads` threads, the epilogue fused.
    private func product(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, threads: Int,
                         scratch: MatmulScratch, bias: FloatStorage?, epilogue: Int) {
        let n = outFeatures, k = inFeatures
        guard let int16 else {
            BLAS.matmulTransposedB(x, weight.pointer, out, m: rows, n: n, k: k)
            guard bias != nil || epilogue != PLAID_ENC_EPILOGUE_NONE else { return }
            RowParallel.run(rows: rows, threads: threads) { start, count in
                if epilogue == PLAID_ENC_EPILOGUE_NONE {
                    plaid_enc_add_bias(out + start * n, bias!.pointer, count, n)
                } else {
                    plaid_enc_bias_gelu(out + start * n, bias?.pointer, count, n, epilogue == PLAID_ENC_EPILOGUE_BIAS_GELU_TANH ? 1 : 0)
                }
            }
            return
        }
        // Parts of at least 96 rows (the kernel's row block), one per thread.
        let parts = max(1, min(threads, rows / 96))
        let partRows = (rows + parts - 1) / parts
        let partBytes = plaid_enc_int16_gemm_scratch_bytes(partRows, k)
        let memory = scratch.memory(bytes: parts * partBytes)
        Parallel.forEach(parts, threads: parts) { part in
            let start = part * partRows
            let count = min(partRows, rows - start)
            guard count > 0 else { return }
            plaid_enc_int16_gemm(x + start * k, count, k, int16.values, int16.scales, n, out + start * n,
                                 memory + part * partBytes, bias?.pointer, Int32(epilogue))
        }
    }
}

/// torch.nn.LayerNorm over the last dimension; `bias` is nil where the config says none.
struct LayerNorm: @unchecked Sendable {
    let weight: FloatStorage
    let bias: FloatStorage?
    let eps: Float
    var size: Int { weight.count }

    func apply(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, threads: Int) {
        let size = self.size
        RowParallel.run(rows: rows, threads: threads) { start, count in
            plaid_enc_layer_norm(x + start * size, out + start * size, count, size,
                                 weight.pointer, bias?.pointer, eps)
        }
    }
}

/// Element-wise work split into row ranges over the cores.
enum RowParallel {
    /// Runs body(firstRow, rowCount) over chunks of about `chunk` rows; in the calling thread
    /// when there is only one chunk.
    static func run(rows: Int, chunk: Int = 128, threads: Int, _ body: (Int, Int) -> Void) {
        let chunks = (rows + chunk - 1) / chunk
        if chunks <= 1 || threads <= 1 {
            if rows > 0 { body(0, rows) }
            return
        }
        Parallel.forEach(chunks, threads: threads) { c in
            let start = c * chunk
            body(start, min(chunk, rows - start))
        }
    }
}

/// Rotary position tables for one θ: cos and sin of position·θ^(−2i/headDim), [positions, headDim/2].
struct RotaryTable: @unchecked Sendable {
    let cosines: FloatStorage
    let sines: FloatStorage
    let positions: Int
    let half: Int

    init(theta: Double, headDim: Int, positions: Int) {
        let half = headDim / 2
        // Computed in Float as transformers does, so that the angles round the same way.
        let inverseFrequencies: [Float] = (0..<half).map { i in
            1 / Float(pow(Float(theta), Float(2 * i) / Float(headDim)))
        }
        cosines = FloatStorage(count: positions * half) { out in
            for p in 0..<positions { for i in 0..<half { out[p * half + i] = Float(cos(Double(Float(p) * inverseFrequencies[i]))) } }
        }
        sines = FloatStorage(count: positions * half) { out in
            for p in 0..<positions { for i in 0..<half { out[p * half + i] = Float(sin(Double(Float(p) * inverseFrequencies[i]))) } }
        }
        self.positions = positions
        self.half = half
    }
}

/// Multi-head self-attention over packed sequences, from a fused [tokens, 3·hidden] Q|K|V
/// projection (head h of Q at columns h·headDim, K at hidden + h·headDim, V at 2·hidden + …).
enum PackedAttention {
    /// Writes the per-head outputs, concatenated, to `context` [tokens, hidden]. Work items are
    /// (sequence, head) pairs spread over the cores. `window` >= 0 limits each query to keys
    /// within that distance; `rotary` (if given) is applied to Q and K first, in place.
    static func run(qkv: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>,
                    batch: PackedSequences, heads: Int, headDim: Int,
                    window: Int = -1, rotary: RotaryTable? = nil, threads: Int) {
        let hidden = heads * headDim
        let stride = 3 * hidden
        let scale = 1 / Float(headDim).squareRoot()
        // A fully attendable batch skips the mask test in the kernel.
        let needsMask = batch.attendable.contains(0)
        batch.attendable.withUnsafeBufferPointer { mask in
            Parallel.forEach(batch.sequenceCount * heads, threads: threads) { item in
                let sequence = item / heads, head = item % heads
                let start = batch.offsets[sequence]
                let length = batch.offsets[sequence + 1] - start
                let q = qkv + start * stride + head * headDim
                let k = q + hidden
                let v = k + hidden
                if let rotary {
                    plaid_enc_rotary(q, length, stride, 1, headDim, rotary.cosines.pointer, rotary.sines.pointer)
                    plaid_enc_rotary(k, length, stride, 1, headDim, rotary.cosines.pointer, rotary.sines.pointer)
                }
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: plaid_enc_attention_scratch(length, headDim))
                defer { scratch.deallocate() }
                plaid_enc_attention(q, k, v, stride, context + start * hidden + head * headDim, hidden,
                                    length, headDim, needsMask ? mask.baseAddress! + start : nil,
                                    window, scale, scratch)
            }
        }
    }
}
