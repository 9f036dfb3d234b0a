import Foundation
import PlaidCore
import PlaidKernels

/// The numeric part of a PyLate ColBERT model: the transformer backbone, then the Dense
/// modules in `modules.json` order, then L2 normalisation of every token vector.
/// Text handling lives in `ColBERTTokenization`; this type takes token ids.
public final class ColBERTModel: @unchecked Sendable {
    let backbone: TransformerBackbone
    let projections: [DenseProjection]
    public let directory: String

    /// Output dimension of the token vectors.
    public var dimension: Int { projections.last?.outFeatures ?? backbone.hiddenSize }
    public var vocabularySize: Int { backbone.vocabularySize }
    public var maximumSequenceLength: Int? { backbone.maximumSequenceLength }

    /// Loads the backbone (the module chain's Transformer, at the folder's root) and each Dense module.
    /// - Parameter precision: how the dense layers multiply (see `MatrixPrecision`).
    public init(directory: String, precision: MatrixPrecision = .int16) throws {
        self.directory = directory
        let modulesPath = (directory as NSString).appendingPathComponent("modules.json")
        var modules: [ModuleEntry] = []
        if FileManager.default.fileExists(atPath: modulesPath) {
            modules = try decodeJSON([ModuleEntry].self, path: modulesPath)
        }
        guard modules.isEmpty || modules.first?.isTransformer == true else {
            throw PlaidError.invalidInput(file: modulesPath, detail: "the first module is \(modules.first!.type); expected sentence_transformers.models.Transformer")
        }
        let backboneDirectory = (directory as NSString).appendingPathComponent(modules.first?.path ?? "")
        backbone = try loadBackbone(directory: backboneDirectory, precision: precision)
        var projections: [DenseProjection] = []
        var width = backbone.hiddenSize
        for module in modules.dropFirst() {
            if module.isDense {
                let dense = try DenseProjection(folder: (directory as NSString).appendingPathComponent(module.path), precision: precision)
                guard dense.inFeatures == width else {
                    throw PlaidError.invalidInput(file: (directory as NSString).appendingPathComponent("\(module.path)/config.json"), detail: "in_features is \(dense.inFeatures) but the module before it outputs \(width)")
                }
                width = dense.outFeatures
                projections.append(dense)
            } else if module.isTransformer {
                throw PlaidError.invalidInput(file: modulesPath, detail: "lists a second Transformer module (\(module.path)); expected one backbone followed by Dense modules")
            }
            // PyLate keeps only the Transformer and Dense modules of the chain (Normalize and the like
            // are dropped; it normalises the output itself), so the others are skipped here too.
        }
        self.projections = projections
    }

    /// Normalised token vectors of each sequence, [length · dimension] each.
    /// - Parameters:
    ///   - batch: the packed sequences; `attendable` is the attention mask.
    ///   - threads: threads for the element-wise steps and attention.
    ///   - keep: when given, keep(sequence, position) selects the vectors returned.
    func embed(_ batch: PackedSequences, threads: Int, keep: ((Int, Int) -> Bool)? = nil) -> [[Float]] {
        var states = backbone.forward(batch, threads: threads)
        var width = backbone.hiddenSize
        for projection in projections {
            states = projection.apply(states.pointer, rows: batch.tokenCount, threads: threads)
            width = projection.outFeatures
        }
        let dimension = width
        let vectors = states.pointer
        RowParallel.run(rows: batch.tokenCount, threads: threads) { start, count in
            plaid_enc_l2_normalize(vectors + start * dimension, count, dimension)
        }
        return (0..<batch.sequenceCount).map { s in
            let start = batch.offsets[s], length = batch.length(of: s)
            guard let keep else {
                return Array(UnsafeBufferPointer(start: vectors + start * dimension, count: length * dimension))
            }
            var out: [Float] = []
            out.reserveCapacity(length * dimension)
            for p in 0..<length where keep(s, p) {
                out.append(contentsOf: UnsafeBufferPointer(start: vectors + (start + p) * dimension, count: dimension))
            }
            return out
        }
    }

    /// Runs several batches. With more than one batch and more than one core, whole batches run
    /// side by side, one per core, each single-threaded (OpenBLAS set to 1 thread meanwhile, then
    /// restored): two single-threaded sgemms outrun one two-threaded sgemm (docs/benchmarks.md,
    /// "Design measurements"), and no step waits for the others.
    /// - Parameters:
    ///   - keep: keep(batch, sequence, position) selects the vectors returned, if given.
    ///   - finished: called after each batch with its index, serially.
    /// - Returns: per batch, per sequence, [kept · dimension] vectors.
    func embed(batches: [PackedSequences], keep: ((Int, Int, Int) -> Bool)? = nil,
               finished: ((Int) -> Void)? = nil) -> [[[Float]]] {
        let cores = Parallel.defaultThreadCount
        var results = [[[Float]]](repeating: [], count: batches.count)
        if batches.count == 1 || cores == 1 {
            for (b, batch) in batches.enumerated() {
                results[b] = embed(batch, threads: cores, keep: keep.map { k in { k(b, $0, $1) } })
                finished?(b)
            }
            return results
        }
        let previousBLASThreads = BLAS.threadCount
        BLAS.setThreadCount(1)
        defer { BLAS.setThreadCount(previousBLASThreads) }
        let lock = NSLock()
        results.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            Parallel.forEach(batches.count, threads: min(cores, batches.count)) { b in
                let vectors = embed(batches[b], threads: 1, keep: keep.map { k in { k(b, $0, $1) } })
                (base + b).pointee = vectors
                lock.lock()
                finished?(b)
                lock.unlock()
            }
        }
        return results
    }

    /// Checks ids against the model before they index its embedding table.
    func validate(_ ids: [Int], what: String) throws {
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw PlaidError.invalidInput(file: directory, detail: "\(what) has token id \(bad) but the model's vocabulary has \(vocabularySize) entries; tokenizer.json does not match the model")
        }
        if let limit = maximumSequenceLength, ids.count > limit {
            throw PlaidError.invalidInput(file: directory, detail: "\(what) has \(ids.count) tokens; the model takes at most \(limit)")
        }
    }

    /// Normalised vectors of every token of each sequence (no ColBERT rules): [length · dimension] each.
    public func embed(tokenIDs: [[Int]], attendable: [[Bool]]? = nil) throws -> [[Float]] {
        var batch = PackedSequences()
        for (i, ids) in tokenIDs.enumerated() {
            try validate(ids, what: "sequence \(i)")
            batch.append(ids, attendable: attendable?[i] ?? [Bool](repeating: true, count: ids.count))
        }
        return embed(batch, threads: Parallel.defaultThreadCount)
    }
}
