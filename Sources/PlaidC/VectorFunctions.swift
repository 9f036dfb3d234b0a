import Foundation
import PlaidCore
import PlaidIndex

// Token vectors handed back to the caller (a document's decoded vectors, encoded texts), and
// reranking by exact MaxSim. See ABI.swift for the conventions.

/// Several texts' or documents' vectors: per item its row count, and all rows of `dim` floats.
final class VectorsBox {
    let dim: Int
    let lengths: [Int64]
    let values: [Float]

    init(_ items: [[Float]], dim: Int) {
        self.dim = dim
        lengths = items.map { Int64($0.count / max(dim, 1)) }
        values = Array(items.joined())
    }
}

/// The decoded vectors of the live documents of these ids, in order (as the index stores them:
/// centroid plus quantized residual). An id the index does not hold is an error naming it.
@_cdecl("plaid_index_document_vectors")
public func plaid_index_document_vectors(_ handle: UnsafeMutableRawPointer?, _ ids: UnsafePointer<UInt8>?,
                                         _ idOffsets: UnsafePointer<Int64>?, _ n: Int64, _ out: HandleOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        let snapshot = try indexHandle(handle).snapshot()
        let names = try strings(ids, idOffsets, n, what: "document ids")
        let items = try names.map { id -> [Float] in
            guard let ordinal = snapshot.lookup.ordinal(of: id) else {
                throw PlaidError.invalidArgument("no live document has the id '\(id)' in the index at \(snapshot.index.path)")
            }
            return snapshot.index.reconstruct(document: ordinal)
        }
        out?.pointee = Unmanaged.passRetained(VectorsBox(items, dim: snapshot.index.dim)).toOpaque()
    }
}

private func vectors(_ pointer: UnsafeMutableRawPointer) -> VectorsBox {
    Unmanaged<VectorsBox>.fromOpaque(pointer).takeUnretainedValue()
}

/// Items, rows in all, and the dimension of each row.
@_cdecl("plaid_vectors_shape")
public func plaid_vectors_shape(_ pointer: UnsafeMutableRawPointer, _ items: UnsafeMutablePointer<Int64>,
                                _ rows: UnsafeMutablePointer<Int64>, _ dim: UnsafeMutablePointer<Int64>) {
    let box = vectors(pointer)
    items.pointee = Int64(box.lengths.count)
    rows.pointee = Int64(box.values.count / max(box.dim, 1))
    dim.pointee = Int64(box.dim)
}

/// Copies the row counts [items] and the rows [rows · dim] into the caller's arrays.
@_cdecl("plaid_vectors_copy")
public func plaid_vectors_copy(_ pointer: UnsafeMutableRawPointer, _ lengths: UnsafeMutablePointer<Int64>, _ values: UnsafeMutablePointer<Float>) {
    let box = vectors(pointer)
    lengths.update(from: box.lengths, count: box.lengths.count)
    values.update(from: box.values, count: box.values.count)
}

@_cdecl("plaid_vectors_free")
public func plaid_vectors_free(_ pointer: UnsafeMutableRawPointer?) {
    guard let pointer else { return }
    Unmanaged<VectorsBox>.fromOpaque(pointer).release()
}

/// Exact MaxSim of one query (`queryTokens` rows of `dim`) against `n` documents given by their
/// vectors (`lengths[i]` rows each, back to back): the best `k` (all when k < 1), best first, as
/// positions into the documents and scores. `*count` receives how many were written; the
/// caller's arrays hold `n` entries.
@_cdecl("plaid_rerank")
public func plaid_rerank(_ query: UnsafePointer<Float>?, _ queryTokens: Int64, _ dim: Int64,
                         _ documents: UnsafePointer<Float>?, _ lengths: UnsafePointer<Int64>?, _ n: Int64, _ k: Int64,
                         _ positions: UnsafeMutablePointer<Int64>?, _ scores: UnsafeMutablePointer<Float>?,
                         _ count: UnsafeMutablePointer<Int64>?, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        try EmbeddingsLayout.checkDimension(Int(dim), file: "rerank")
        guard let query, queryTokens >= 1 else { throw PlaidError.invalidArgument("rerank: the query has no vectors") }
        guard n >= 0, n == 0 || (documents != nil && lengths != nil && positions != nil && scores != nil) else {
            throw PlaidError.invalidArgument("rerank: the documents' buffers are missing")
        }
        let queryValues = Array(UnsafeBufferPointer(start: query, count: Int(queryTokens * dim)))
        try queryValues.withUnsafeBufferPointer {
            try EmbeddingsLayout.checkRows($0.baseAddress!, rows: Int(queryTokens), dim: Int(dim), firstRow: 0, file: "rerank query", allowZero: true)
        }
        var items: [Reranker.Document] = []
        var row = 0
        for i in 0..<Int(n) {
            let length = Int(lengths![i])
            guard length >= 0 else { throw PlaidError.invalidArgument("rerank: document \(i) has a negative length (\(length))") }
            let start = documents! + row * Int(dim)
            try EmbeddingsLayout.checkRows(start, rows: length, dim: Int(dim), firstRow: 0, file: "rerank document \(i)", allowZero: true)
            items.append(Reranker.Document(id: String(i), vectors: Array(UnsafeBufferPointer(start: start, count: length * Int(dim)))))
            row += length
        }
        let ranked = Reranker.rerank(query: queryValues, dim: Int(dim), documents: items, k: k >= 1 ? Int(k) : nil)
        for (i, hit) in ranked.enumerated() {
            positions![i] = Int64(hit.document)
            scores![i] = hit.score
        }
        count?.pointee = Int64(ranked.count)
    }
}
