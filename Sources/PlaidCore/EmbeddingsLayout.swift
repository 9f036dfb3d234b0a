import Foundation

/// File names of the token-embeddings layout that `plaid encode` writes and `plaid build
/// --embeddings` reads (shared with other ColBERT tools).
public enum EmbeddingsLayout {
    public static let documentEmbeddings = "doc_embeddings.npy"
    public static let documentLengths = "doclens.npy"
    public static let documentIDs = "doc_ids.json"
    public static let queryEmbeddings = "query_embeddings.npy"
    public static let queryIDs = "query_ids.json"

    /// Reads a JSON list of string ids and checks that no id repeats.
    public static func readIDs(path: String) throws -> [String] {
        let name = (path as NSString).lastPathComponent
        guard FileManager.default.fileExists(atPath: path) else {
            throw PlaidError.missingFile(path: path, hint: "The embeddings directory must hold \(name).")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let ids = try? JSONDecoder().decode([String].self, from: data) else {
            throw PlaidError.invalidInput(file: path, detail: "expected a JSON list of strings")
        }
        try checkUnique(ids, file: path)
        return ids
    }

    /// Refuses an id that repeats, naming both positions, and an empty id. Ids compare by their
    /// UTF-8 bytes (see `ByteExactID`).
    public static func checkUnique(_ ids: [String], file: String) throws {
        var seen = [ByteExactID: Int]()
        for (i, id) in ids.enumerated() {
            guard !id.isEmpty else { throw PlaidError.invalidInput(file: file, detail: "id at position \(i) is empty") }
            if let first = seen[ByteExactID(id)] {
                throw PlaidError.invalidInput(file: file, detail: "duplicate id '\(id)' at positions \(first) and \(i); ids must be unique within a batch")
            }
            seen[ByteExactID(id)] = i
        }
    }

    public static func writeIDs(_ ids: [String], path: String) throws {
        let data = try JSONEncoder().encode(ids)
        try data.write(to: URL(fileURLWithPath: path))
    }
}

/// Token embeddings of a batch of documents in document order: what `plaid build` indexes and
/// `plaid add` appends. Shapes: `[tokenCount, dim]` vectors, `lengths[d]` tokens for document d,
/// whose first token is `offsets[d]` (`offsets` has documentCount + 1 entries).
public protocol DocumentEmbeddingSource: AnyObject {
    var dim: Int { get }
    var ids: [String] { get }
    var lengths: [Int] { get }
    var offsets: [Int] { get }
    /// Names the source in errors: a file, or a description of an in-memory batch.
    var sourceName: String { get }
    /// Copies tokens [start, start+count) as Float into `out` ([count, dim]) and checks them:
    /// NaN/infinite values and zero vectors are errors naming the row.
    func copyTokens(start: Int, count: Int, into out: UnsafeMutablePointer<Float>) throws
    /// Says that tokens [start, start+count) were read and need not stay in memory.
    func releasePages(tokens start: Int, count: Int)
    /// Says that the tokens are about to be read once, in order.
    func prepareSequentialRead()
    /// The model that made the vectors, where it is known.
    var model: ModelIdentity? { get }
}

extension DocumentEmbeddingSource {
    public var model: ModelIdentity? { nil }
    public var tokenCount: Int { offsets.last ?? 0 }
    public var documentCount: Int { lengths.count }

    /// Consecutive ranges of whole documents holding at most `maxTokens` tokens each; a document
    /// longer than that is a range of its own. This is how a batch is streamed.
    public func documentChunks(maxTokens: Int) -> [Range<Int>] {
        var chunks: [Range<Int>] = []
        var first = 0
        while first < documentCount {
            var end = first + 1
            while end < documentCount && offsets[end + 1] - offsets[first] <= maxTokens { end += 1 }
            chunks.append(first..<end)
            first = end
        }
        return chunks
    }
}

/// Document token embeddings held in memory, for a library caller (or a server) that has the
/// vectors at hand. Checked on creation: ids unique and non-empty, every document at least one
/// token, every vector of dimension `dim`, finite and not zero.
public final class DocumentBatch: DocumentEmbeddingSource, @unchecked Sendable {
    public let dim: Int
    public let ids: [String]
    public let lengths: [Int]
    public let offsets: [Int]
    public let sourceName: String
    /// [tokenCount * dim]
    public let values: [Float]
    /// The model that made the vectors, if the caller knows it.
    public var model: ModelIdentity?

    /// `documents[i]` is document i's vectors, flattened `[tokens, dim]`.
    public init(ids: [String], documents: [[Float]], dim: Int, sourceName: String = "the batch") throws {
        try EmbeddingsLayout.checkDimension(dim, file: sourceName)
        guard ids.count == documents.count else {
            throw PlaidError.invalidInput(file: sourceName, detail: "has \(ids.count) ids for \(documents.count) documents")
        }
        try EmbeddingsLayout.checkUnique(ids, file: sourceName)
        var offsets = [0], values: [Float] = []
        values.reserveCapacity(documents.reduce(0) { $0 + $1.count })
        for (i, vectors) in documents.enumerated() {
            guard !vectors.isEmpty, vectors.count % dim == 0 else {
                throw PlaidError.invalidInput(file: sourceName, detail: "document '\(ids[i])' has \(vectors.count) values, expected a positive multiple of the dimension \(dim)")
            }
            try vectors.withUnsafeBufferPointer {
                try EmbeddingsLayout.checkRows($0.baseAddress!, rows: vectors.count / dim, dim: dim, firstRow: 0, file: "\(sourceName), document '\(ids[i])'")
            }
            values += vectors
            offsets.append(offsets.last! + vectors.count / dim)
        }
        self.dim = dim; self.ids = ids; self.offsets = offsets; self.values = values; self.sourceName = sourceName
        lengths = zip(offsets.dropFirst(), offsets).map { $0 - $1 }
    }

    public func copyTokens(start: Int, count: Int, into out: UnsafeMutablePointer<Float>) throws {
        values.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + start * dim, count: count * dim) }
    }

    public func releasePages(tokens start: Int, count: Int) {}
    public func prepareSequentialRead() {}
}

/// A contiguous run of another source's documents, read through it: for adding a corpus in parts.
public final class DocumentRange: DocumentEmbeddingSource, @unchecked Sendable {
    public let base: DocumentEmbeddingSource
    public let documents: Range<Int>
    public let ids: [String]
    public let lengths: [Int]
    public let offsets: [Int]
    private let firstToken: Int

    public init(_ base: DocumentEmbeddingSource, documents: Range<Int>) {
        precondition(documents.lowerBound >= 0 && documents.upperBound <= base.documentCount)
        self.base = base
        self.documents = documents
        ids = Array(base.ids[documents])
        lengths = Array(base.lengths[documents])
        firstToken = base.offsets[documents.lowerBound]
        offsets = base.offsets[documents.lowerBound...documents.upperBound].map { $0 - base.offsets[documents.lowerBound] }
    }

    public var dim: Int { base.dim }
    public var model: ModelIdentity? { base.model }
    public var sourceName: String { "\(base.sourceName) (documents \(documents.lowerBound)..<\(documents.upperBound))" }
    public func copyTokens(start: Int, count: Int, into out: UnsafeMutablePointer<Float>) throws {
        try base.copyTokens(start: firstToken + start, count: count, into: out)
    }
    public func releasePages(tokens start: Int, count: Int) { base.releasePages(tokens: firstToken + start, count: count) }
    public func prepareSequentialRead() { base.prepareSequentialRead() }
}

/// Document token embeddings on disk: `doc_embeddings.npy` [total_tokens, dim] (float32 or
/// float16), `doclens.npy` [n_docs] (int32 or int64) and `doc_ids.json`. The embeddings stay
/// memory-mapped; rows are converted to Float only when asked for.
public final class DocumentEmbeddings: DocumentEmbeddingSource, @unchecked Sendable {
    public let directory: String
    public let embeddings: NPYArray
    public let lengths: [Int]
    public let ids: [String]
    /// offsets[d] is the first token of document d; offsets[n] is the total.
    public let offsets: [Int]
    /// The model `plaid encode` recorded beside the embeddings (`model.json`), if any.
    public let model: ModelIdentity?
    public var dim: Int { embeddings.shape[1] }
    public var sourceName: String { (directory as NSString).appendingPathComponent(EmbeddingsLayout.documentEmbeddings) }

    public init(directory: String) throws {
        self.directory = directory
        let embPath = (directory as NSString).appendingPathComponent(EmbeddingsLayout.documentEmbeddings)
        let lenPath = (directory as NSString).appendingPathComponent(EmbeddingsLayout.documentLengths)
        let idPath = (directory as NSString).appendingPathComponent(EmbeddingsLayout.documentIDs)
        for p in [embPath, lenPath, idPath] where !FileManager.default.fileExists(atPath: p) {
            throw PlaidError.missingFile(path: p, hint: "An embeddings directory holds \(EmbeddingsLayout.documentEmbeddings), \(EmbeddingsLayout.documentLengths) and \(EmbeddingsLayout.documentIDs) (`plaid encode --mode document` writes them).")
        }
        embeddings = try NPYArray(path: embPath)
        guard embeddings.elementType == .float32 || embeddings.elementType == .float16 else {
            throw PlaidError.invalidInput(file: EmbeddingsLayout.documentEmbeddings, detail: "dtype \(embeddings.elementType.rawValue) found; expected float32 or float16")
        }
        guard embeddings.shape.count == 2 else {
            throw PlaidError.invalidInput(file: EmbeddingsLayout.documentEmbeddings, detail: "shape \(embeddings.shape) found; expected 2 dimensions [total_doc_tokens, dim]")
        }
        try EmbeddingsLayout.checkDimension(embeddings.shape[1], file: EmbeddingsLayout.documentEmbeddings)
        let lens = try NPYArray(path: lenPath)
        guard lens.shape.count == 1 else {
            throw PlaidError.invalidInput(file: EmbeddingsLayout.documentLengths, detail: "shape \(lens.shape) found; expected 1 dimension [n_docs]")
        }
        lengths = try lens.integers()
        var offsets = [0]
        offsets.reserveCapacity(lengths.count + 1)
        for (i, n) in lengths.enumerated() {
            guard n > 0 else {
                throw PlaidError.invalidInput(file: EmbeddingsLayout.documentLengths, detail: "document \(i) has length \(n); every document needs at least one token")
            }
            // Checked against the rows left, so that the sum cannot overflow either.
            guard n <= embeddings.shape[0] - offsets[i] else {
                throw PlaidError.invalidInput(file: EmbeddingsLayout.documentLengths,
                                              detail: "document \(i) has length \(n), but only \(embeddings.shape[0] - offsets[i]) of the \(embeddings.shape[0]) rows of \(EmbeddingsLayout.documentEmbeddings) are left for it; the lengths must add up to its rows")
            }
            offsets.append(offsets[i] + n)
        }
        self.offsets = offsets
        guard offsets.last! == embeddings.shape[0] else {
            throw PlaidError.invalidInput(file: EmbeddingsLayout.documentEmbeddings, detail: "has \(embeddings.shape[0]) rows but the lengths in \(EmbeddingsLayout.documentLengths) add up to \(offsets.last!)")
        }
        ids = try EmbeddingsLayout.readIDs(path: idPath)
        model = try ModelIdentity.read(embeddingsDirectory: directory)
        guard ids.count == lengths.count else {
            throw PlaidError.invalidInput(file: EmbeddingsLayout.documentIDs, detail: "has \(ids.count) ids but \(EmbeddingsLayout.documentLengths) has \(lengths.count) documents")
        }
    }

    /// Lets the kernel drop the mapped pages of tokens [start, start+count) once they have been
    /// read, so resident memory does not grow with the part of the corpus already streamed.
    public func releasePages(tokens start: Int, count: Int) {
        let rowBytes = dim * embeddings.elementType.byteCount
        embeddings.file.dropPages(offset: embeddings.dataOffset + start * rowBytes, length: count * rowBytes)
    }

    public func prepareSequentialRead() { embeddings.file.adviseSequential() }

    /// Copies tokens [start, start+count) as Float into `out` ([count, dim]) and checks them:
    /// NaN/infinite values and zero vectors are errors naming the row.
    public func copyTokens(start: Int, count: Int, into out: UnsafeMutablePointer<Float>) throws {
        embeddings.copyFloats(start: start * dim, count: count * dim, into: out)
        try EmbeddingsLayout.checkRows(out, rows: count, dim: dim, firstRow: start, file: EmbeddingsLayout.documentEmbeddings)
    }
}

/// Query token embeddings: `query_embeddings.npy` [n_queries, query_len, dim] and `query_ids.json`.
public final class QueryEmbeddings: @unchecked Sendable {
    public let ids: [String]
    public let tokensPerQuery: Int
    public let dim: Int
    /// [n_queries * query_len * dim] as Float.
    public let values: [Float]
    /// The model that encoded the queries, where known (`model.json` beside them, or the encoder).
    public var model: ModelIdentity?

    public init(directory: String) throws {
        let embPath = (directory as NSString).appendingPathComponent(EmbeddingsLayout.queryEmbeddings)
        let idPath = (directory as NSString).appendingPathComponent(EmbeddingsLayout.queryIDs)
        for p in [embPath, idPath] where !FileManager.default.fileExists(atPath: p) {
            throw PlaidError.missingFile(path: p, hint: "A query embeddings directory holds \(EmbeddingsLayout.queryEmbeddings) and \(EmbeddingsLayout.queryIDs) (`plaid encode --mode query` writes them).")
        }
        let array = try NPYArray(path: embPath)
        guard array.elementType == .float32 || array.elementType == .float16 else {
            throw PlaidError.invalidInput(file: EmbeddingsLayout.queryEmbeddings, detail: "dtype \(array.elementType.rawValue) found; expected float32 or float16")
        }
        guard array.shape.count == 3 else {
            throw PlaidError.invalidInput(file: EmbeddingsLayout.queryEmbeddings, detail: "shape \(array.shape) found; expected 3 dimensions [n_queries, query_len, dim]")
        }
        try EmbeddingsLayout.checkDimension(array.shape[2], file: EmbeddingsLayout.queryEmbeddings)
        tokensPerQuery = array.shape[1]
        dim = array.shape[2]
        var v = [Float](repeating: 0, count: array.elementCount)
        v.withUnsafeMutableBufferPointer { array.copyFloats(start: 0, count: array.elementCount, into: $0.baseAddress!) }
        try v.withUnsafeBufferPointer {
            try EmbeddingsLayout.checkRows($0.baseAddress!, rows: array.shape[0] * array.shape[1], dim: array.shape[2], firstRow: 0, file: EmbeddingsLayout.queryEmbeddings, allowZero: true)
        }
        values = v
        ids = try EmbeddingsLayout.readIDs(path: idPath)
        model = try ModelIdentity.read(embeddingsDirectory: directory)
        guard ids.count == array.shape[0] else {
            throw PlaidError.invalidInput(file: EmbeddingsLayout.queryIDs, detail: "has \(ids.count) ids but \(EmbeddingsLayout.queryEmbeddings) has \(array.shape[0]) queries")
        }
    }

    public init(ids: [String], tokensPerQuery: Int, dim: Int, values: [Float], model: ModelIdentity? = nil) {
        precondition(values.count == ids.count * tokensPerQuery * dim)
        self.ids = ids; self.tokensPerQuery = tokensPerQuery; self.dim = dim; self.values = values; self.model = model
    }

    public var count: Int { ids.count }

    /// The queries whose ids are in `keep`, in their order here.
    public func subset(ids keep: Set<String>) -> QueryEmbeddings {
        let kept = ids.indices.filter { keep.contains(ids[$0]) }
        let perQuery = tokensPerQuery * dim
        return QueryEmbeddings(ids: kept.map { ids[$0] }, tokensPerQuery: tokensPerQuery, dim: dim,
                               values: kept.flatMap { values[($0 * perQuery)..<(($0 + 1) * perQuery)] }, model: model)
    }
}

extension EmbeddingsLayout {
    /// The largest vector dimension plaid takes; an index's files record it in 16 bits' range.
    public static let maximumDimension = 1 << 16

    public static func checkDimension(_ dim: Int, file: String) throws {
        guard dim > 0, dim % 8 == 0 else {
            throw PlaidError.invalidInput(file: file, detail: "embedding dimension \(dim) is not a positive multiple of 8")
        }
        guard dim <= maximumDimension else {
            throw PlaidError.invalidInput(file: file, detail: "embedding dimension \(dim) is past the largest plaid takes; it must be at most \(maximumDimension)")
        }
    }

    /// The largest L2 norm a vector may have. ColBERT's vectors have norm 1; far larger ones are
    /// not embeddings, and their products overflow float32 in k-means and scoring (a value of
    /// 1e20 squares past its range).
    public static let maximumVectorNorm: Double = 10_000

    /// Rejects NaN or infinite values, vectors longer than `maximumVectorNorm` and (unless
    /// allowed) all-zero rows, naming the first bad row.
    public static func checkRows(_ p: UnsafePointer<Float>, rows: Int, dim: Int, firstRow: Int, file: String, allowZero: Bool = false) throws {
        for r in 0..<rows {
            let row = p + r * dim
            // Summed in Double so that large finite values are not reported as infinite.
            var sum: Double = 0
            for j in 0..<dim { sum += Double(row[j]) * Double(row[j]) }
            if !sum.isFinite {
                throw PlaidError.invalidInput(file: file, detail: "row \(firstRow + r) holds NaN or infinite values")
            }
            if sum > maximumVectorNorm * maximumVectorNorm {
                throw PlaidError.invalidInput(file: file, detail: "row \(firstRow + r) has norm \(String(format: "%.3g", sum.squareRoot())); plaid takes vectors of norm at most \(Int(maximumVectorNorm)) (ColBERT's are normalised to 1)")
            }
            if sum == 0 && !allowZero {
                throw PlaidError.invalidInput(file: file, detail: "row \(firstRow + r) is a zero vector; ColBERT token vectors are normalised and never zero")
            }
        }
    }
}
