// Metadata filters (`MetadataFilter`, Sources/PlaidIndex/Metadata/MetadataFilter.swift): the input
// is a filter expression, then optionally a NUL and its `?` parameters separated by NULs. It runs
// against a tiny index with metadata of every type, built once per process
// (`CompressedIndex.documents(matching:)`, i.e. `SegmentMetadata.matching`), and against a
// version-1 segment's ids (`SegmentMetadata.matchingIDs`).
import FuzzSupport
import Foundation
import PlaidCore
@testable import PlaidIndex

let index: CompressedIndex = {
    let directory = (scratchDirectory as NSString).appendingPathComponent("index")
    let corpus = SyntheticCorpus(documents: 24, tokensPerDocument: 4...8, dim: 16, terms: 64, topics: 8, seed: 1)
    let embeddings = (scratchDirectory as NSString).appendingPathComponent("embeddings")
    do {
        _ = try corpus.writeDocuments(to: embeddings)
        let pool = try DocumentEmbeddings(directory: embeddings)
        var metadata: BatchMetadata = [:]
        for (d, id) in pool.ids.enumerated() {
            var fields: [String: MetadataValue] = [
                "year": .integer(Int64(1990 + d)), "source": .string(["pubmed", "arxiv", "web"][d % 3]),
                "score": .float(Double(d) / 4), "reviewed": .boolean(d % 2 == 0),
                "topics": .json("[\"t\(d % 5)\",{\"k\":\(d)}]"), "title": .string("Ünïcode \"\(d)\" O'Brien"),
            ]
            if d % 5 == 0 { fields["year"] = .null }
            metadata[id] = fields
        }
        _ = try IndexBuilder.build(from: DocumentRange(pool, documents: 0..<pool.ids.count), at: directory,
                                   parameters: BuildParameters(nbits: 2, kmeans: KMeansParameters(centroids: 8)),
                                   metadata: metadata, overwrite: true)
        return try CompressedIndex(path: directory)
    } catch {
        fatalError("cannot build the fuzzing index: \(error)")
    }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let parts = input(data, size).split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    let filter = MetadataFilter(parts[0], parameters: Array(parts.dropFirst()))
    if let allowed = try? index.documents(matching: filter) {
        precondition(allowed.ordinals.allSatisfy { (0..<24).contains($0) && allowed.allows($0) })
    }
    if let clock = try? FilterClock(timeLimit: filter.timeLimit), let local = try? SegmentMetadata.matchingIDs(["doc0", "doc1", "doc2"], filter, schema: index.metadataFields, clock: clock) {
        _ = local
    }
    return 0
}
