import Foundation
import PlaidCore
import PlaidIndex

// Opening, building, writing to and describing an index. See ABI.swift for the conventions.

public typealias ErrorOut = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
public typealias TextOut = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
public typealias HandleOut = UnsafeMutablePointer<UnsafeMutableRawPointer?>?

/// Opens the index at `path`; `*out` receives the handle, released with `plaid_index_close`.
@_cdecl("plaid_index_open")
public func plaid_index_open(_ path: UnsafePointer<CChar>?, _ out: HandleOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        guard let path = string(path) else { throw PlaidError.invalidArgument("no index path was given") }
        out?.pointee = Unmanaged.passRetained(try IndexHandle(path: path)).toOpaque()
    }
}

/// Releases the writer lock (if taken) and the handle.
@_cdecl("plaid_index_close")
public func plaid_index_close(_ handle: UnsafeMutableRawPointer?) {
    guard let handle else { return }
    let index = Unmanaged<IndexHandle>.fromOpaque(handle)
    index.takeUnretainedValue().close()
    index.release()
}

/// A batch of documents in the caller's memory: `n` documents, `lengths[i]` vectors each,
/// `vectors` holding all of them as float32 rows of `dim`, ids as a UTF-8 buffer with offsets,
/// and optional metadata as a JSON array (one object or null per document).
func batch(_ vectors: UnsafePointer<Float>?, _ lengths: UnsafePointer<Int64>?, _ n: Int64, _ dim: Int64,
                   _ ids: UnsafePointer<UInt8>?, _ idOffsets: UnsafePointer<Int64>?,
                   _ metadataJSON: UnsafePointer<CChar>?) throws -> (BorrowedDocumentBatch, BatchMetadata) {
    guard n > 0 else { throw PlaidError.invalidInput(file: "documents", detail: "none were given; there is nothing to index") }
    guard let vectors, let lengths else { throw PlaidError.invalidArgument("documents: no vectors were given") }
    let names = try strings(ids, idOffsets, n, what: "document ids")
    let batch = try BorrowedDocumentBatch(ids: names, lengths: (0..<Int(n)).map { Int(lengths[$0]) }, values: vectors,
                                          dim: Int(dim), sourceName: "documents")
    var metadata: BatchMetadata = [:]
    if let metadataJSON {
        let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(metadataJSON).assumingMemoryBound(to: UInt8.self), count: strlen(metadataJSON)))
        metadata = try MetadataReader.read(jsonArray: bytes, ids: names, source: "metadata")
    }
    return (batch, metadata)
}

/// The stored texts of option `texts` (one string per document of `ids`, the order of the
/// batch); empty when the option is absent.
func batchTexts(_ options: Options, ids: [String]) throws -> BatchTexts {
    guard let texts = try options.strings("texts") else { return [:] }
    guard texts.count == ids.count else {
        throw PlaidError.invalidArgument("\(options.source): texts holds \(texts.count) texts for \(ids.count) documents; give one per document")
    }
    return Dictionary(zip(ids, texts).map { (ByteExactID($0), DocumentText(text: $1)) }, uniquingKeysWith: { first, _ in first })
}

/// Builds an index at `path` from a batch of documents (see `batch` above) and opens it.
/// Options: nbits (1, 2, 4), centroids, kmeans_iterations, seed, overwrite, store_text,
/// fts_tokenizer, and texts (one per document, stored with it; implies store_text).
@_cdecl("plaid_index_build")
public func plaid_index_build(_ path: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?,
                              _ vectors: UnsafePointer<Float>?, _ lengths: UnsafePointer<Int64>?, _ n: Int64, _ dim: Int64,
                              _ ids: UnsafePointer<UInt8>?, _ idOffsets: UnsafePointer<Int64>?,
                              _ metadataJSON: UnsafePointer<CChar>?, _ out: HandleOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        guard let path = string(path) else { throw PlaidError.invalidArgument("no index path was given") }
        let options = try Options(options, source: "build options", known: BuildOptionNames.all.union(["texts"]))
        let parameters = try buildParameters(options)
        let (documents, metadata) = try batch(vectors, lengths, n, dim, ids, idOffsets, metadataJSON)
        let texts = try batchTexts(options, ids: documents.ids)
        _ = try IndexBuilder.build(from: documents, at: path, parameters: parameters, metadata: metadata, texts: texts,
                                   overwrite: try options.bool("overwrite") ?? false)
        out?.pointee = Unmanaged.passRetained(try IndexHandle(path: path)).toOpaque()
    }
}

/// Creates an index of no documents and dimension `dim` and opens it; its first added batch
/// trains the centroids (as a build on that batch would). Options as `plaid_index_build`'s, or
/// `codebook` (a trained codebook's or an index's path; `dim` 0 or the codebook's): the index
/// then has that codebook, for `plaid_index_attach`, and takes no training option.
@_cdecl("plaid_index_create")
public func plaid_index_create(_ path: UnsafePointer<CChar>?, _ dim: Int64, _ options: UnsafePointer<CChar>?,
                               _ out: HandleOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        guard let path = string(path) else { throw PlaidError.invalidArgument("no index path was given") }
        let options = try Options(options, source: "create options", known: BuildOptionNames.all.union(["codebook"]))
        let overwrite = try options.bool("overwrite") ?? false
        if let codebook = try options.string("codebook") {
            let training = BuildOptionNames.all.subtracting(["overwrite"]).filter { options.has($0) }
            guard training.isEmpty else {
                throw PlaidError.invalidArgument("create options: \(training.sorted().joined(separator: ", ")) go with training; with codebook they come from the codebook")
            }
            let shared = try SharedCodebook(path: codebook)
            guard dim == 0 || Int(dim) == shared.codebook.dim else {
                throw PlaidError.invalidArgument("create options: the codebook at \(codebook) has dimension \(shared.codebook.dim), not \(dim)")
            }
            try IndexBuilder.create(at: path, codebook: shared, overwrite: overwrite)
            out?.pointee = Unmanaged.passRetained(try IndexHandle(path: path)).toOpaque()
            return
        }
        try IndexBuilder.createEmpty(at: path, dim: Int(dim), parameters: try buildParameters(options), overwrite: overwrite)
        out?.pointee = Unmanaged.passRetained(try IndexHandle(path: path)).toOpaque()
    }
}

enum BuildOptionNames {
    static let all: Set<String> = ["nbits", "centroids", "kmeans_iterations", "seed", "overwrite", "store_text", "fts_tokenizer"]
}

/// nbits (1, 2 or 4; default 2), centroids (default from the token count), kmeans_iterations, seed;
/// store_text (or texts given) and fts_tokenizer (docs/text.md).
func buildParameters(_ options: Options) throws -> BuildParameters {
    var parameters = BuildParameters(nbits: try options.int("nbits") ?? 2)
    parameters.kmeans.centroids = try options.int("centroids", in: 1...(1 << 24))
    if let iterations = try options.int("kmeans_iterations", in: 1...KMeansParameters.maximumIterations) { parameters.kmeans.iterations = iterations }
    if let seed = try options.int("seed", in: 0...Int.max) { parameters.kmeans.seed = UInt64(seed) }
    let storeText = try options.bool("store_text"), tokenizer = try options.string("fts_tokenizer")
    let texts = try options.strings("texts") != nil
    if storeText == false && texts { throw PlaidError.invalidArgument("\(options.source): texts are stored with store_text, which is false") }
    if tokenizer != nil && !(storeText ?? texts) { throw PlaidError.invalidArgument("\(options.source): fts_tokenizer goes with store_text") }
    if storeText ?? texts { parameters.storedText = try StoredTextSettings(tokenizer: tokenizer ?? StoredTextSettings.defaultTokenizer) }
    return parameters
}

/// Adds a batch in one commit. Options: upsert (live documents of the same ids are replaced),
/// texts (one per document, stored with it on an index that stores text).
/// `*summary` receives JSON: added, tokens, replaced, new_centroids, documents, generation, and on
/// an index that stores text without_text (the documents given no text).
@_cdecl("plaid_index_add")
public func plaid_index_add(_ handle: UnsafeMutableRawPointer?,
                            _ vectors: UnsafePointer<Float>?, _ lengths: UnsafePointer<Int64>?, _ n: Int64, _ dim: Int64,
                            _ ids: UnsafePointer<UInt8>?, _ idOffsets: UnsafePointer<Int64>?,
                            _ metadataJSON: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?, _ summary: TextOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        let index = try indexHandle(handle)
        let options = try Options(options, source: "add options", known: ["upsert", "texts"])
        let (documents, metadata) = try batch(vectors, lengths, n, dim, ids, idOffsets, metadataJSON)
        let texts = try batchTexts(options, ids: documents.ids), upsert = try options.bool("upsert") ?? false
        var withoutText: Int?
        let ((added, live), commit) = try index.write { writer in
            if !texts.isEmpty && !writer.storesText {
                throw PlaidError.invalidArgument("add options: texts were given, but the index stores no text; build it with store_text=True")
            }
            if writer.storesText { withoutText = documents.ids.filter { texts[ByteExactID($0)] == nil }.count }
            return (try writer.add(documents, metadata: metadata, texts: texts, upsert: upsert), writer.documentCount)
        }
        var fields: [String: Any] = ["added": added.documents, "tokens": added.tokens, "replaced": added.replaced,
                                     "new_centroids": added.newCentroids, "documents": live, "generation": commit.generation]
        // On an index that stores text: the documents added without one (they store an empty text).
        if let withoutText { fields["without_text"] = withoutText }
        give(try json(fields), to: summary)
    }
}

/// Deletes the live documents of these ids in one commit. `*summary`: deleted, unknown (the
/// ids that named no live document), documents, generation.
@_cdecl("plaid_index_delete")
public func plaid_index_delete(_ handle: UnsafeMutableRawPointer?, _ ids: UnsafePointer<UInt8>?, _ idOffsets: UnsafePointer<Int64>?,
                               _ n: Int64, _ summary: TextOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        let index = try indexHandle(handle)
        let names = try strings(ids, idOffsets, n, what: "document ids")
        let ((deleted, live), commit) = try index.write { writer in (try writer.delete(ids: names), writer.documentCount) }
        give(try json(["deleted": deleted.deleted, "unknown": deleted.unknown, "documents": live,
                       "generation": commit.generation]), to: summary)
    }
}

/// Rewrites the index as one segment of its live documents (search results do not change).
@_cdecl("plaid_index_compact")
public func plaid_index_compact(_ handle: UnsafeMutableRawPointer?, _ summary: TextOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        let index = try indexHandle(handle)
        try index.withWriter { try $0.compact() }
        let described = try index.snapshot().index
        give(try json(["documents": described.documentCount, "segments": described.segments.count,
                       "generation": described.generation]), to: summary)
    }
}

/// `*description` receives what `plaid info --json` prints, plus `path` and the metadata fields.
@_cdecl("plaid_index_info")
public func plaid_index_info(_ handle: UnsafeMutableRawPointer?, _ description: TextOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        let index = try indexHandle(handle)
        let snapshot = try index.snapshot().index
        guard var object = try JSONSerialization.jsonObject(with: try IndexDescription(snapshot).json()) as? [String: Any] else {
            throw PlaidError.invalidArgument("the index description is not a JSON object")
        }
        object["path"] = index.path
        object["metadata_fields"] = snapshot.metadataFields.map { ["name": $0.name, "type": $0.type.rawValue] }
        give(try json(object), to: description)
    }
}
