/// Documents whose vectors live in the caller's memory, read in place: a batch handed over by a
/// foreign caller (a numpy array through the C interface) without a copy. `values` holds
/// `lengths.reduce(0, +)` rows of `dim` floats, document after document, and must stay valid and
/// unchanged while the batch is read; the batch is meant to live for one call. Rows are checked
/// as they are read (`copyTokens`), as a file's are.
public final class BorrowedDocumentBatch: DocumentEmbeddingSource, @unchecked Sendable {
    public let dim: Int
    public let ids: [String]
    public let lengths: [Int]
    public let offsets: [Int]
    public let sourceName: String
    public var model: ModelIdentity?
    private let values: UnsafePointer<Float>

    public init(ids: [String], lengths: [Int], values: UnsafePointer<Float>, dim: Int, sourceName: String) throws {
        try EmbeddingsLayout.checkDimension(dim, file: sourceName)
        guard ids.count == lengths.count else {
            throw PlaidError.invalidInput(file: sourceName, detail: "has \(ids.count) ids for \(lengths.count) documents")
        }
        try EmbeddingsLayout.checkUnique(ids, file: sourceName)
        var offsets = [0]
        offsets.reserveCapacity(lengths.count + 1)
        for (i, n) in lengths.enumerated() {
            guard n > 0 else {
                throw PlaidError.invalidInput(file: sourceName, detail: "document '\(ids[i])' has \(n) vectors; every document needs at least one")
            }
            let (end, overflow) = offsets[i].addingReportingOverflow(n)
            guard !overflow else {
                throw PlaidError.invalidInput(file: sourceName, detail: "document '\(ids[i])' has \(n) vectors, which takes the total past what can be held")
            }
            offsets.append(end)
        }
        self.dim = dim; self.ids = ids; self.lengths = lengths; self.offsets = offsets
        self.values = values; self.sourceName = sourceName
    }

    public func copyTokens(start: Int, count: Int, into out: UnsafeMutablePointer<Float>) throws {
        out.update(from: values + start * dim, count: count * dim)
        try EmbeddingsLayout.checkRows(out, rows: count, dim: dim, firstRow: start, file: sourceName)
    }

    public func releasePages(tokens start: Int, count: Int) {}
    public func prepareSequentialRead() {}
}
