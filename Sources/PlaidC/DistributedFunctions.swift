import Foundation
import PlaidCore
import PlaidIndex

// A build spread over machines (docs/distributed.md): a codebook trained once, segments coded
// with it anywhere, attached to an index in one commit. See ABI.swift for the conventions.

/// Trains a codebook on a batch of documents (a sample of the corpus; see `plaid_index_build`
/// for the batch) and writes it at `path`. Options: nbits, centroids, kmeans_iterations, seed,
/// overwrite, store_text, fts_tokenizer. `*summary` receives JSON: identity, centroids, dim, nbits.
@_cdecl("plaid_codebook_train")
public func plaid_codebook_train(_ path: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?,
                                 _ vectors: UnsafePointer<Float>?, _ lengths: UnsafePointer<Int64>?, _ n: Int64, _ dim: Int64,
                                 _ ids: UnsafePointer<UInt8>?, _ idOffsets: UnsafePointer<Int64>?,
                                 _ metadataJSON: UnsafePointer<CChar>?, _ summary: TextOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        guard let path = string(path) else { throw PlaidError.invalidArgument("no codebook path was given") }
        let options = try Options(options, source: "codebook options", known: BuildOptionNames.all)
        let (documents, _) = try batch(vectors, lengths, n, dim, ids, idOffsets, metadataJSON)
        let codebook = try SharedCodebook.train(on: documents, at: path, parameters: try buildParameters(options),
                                                overwrite: try options.bool("overwrite") ?? false)
        give(try json(["identity": codebook.identity, "centroids": codebook.codebook.centroidCount,
                       "dim": codebook.codebook.dim, "nbits": codebook.codebook.nbits]), to: summary)
    }
}

/// Codes a batch of documents with the codebook at `codebookPath` (or an index's) into a new
/// segment directory at `segmentPath`. Options: overwrite, texts (one per document, stored when
/// the codebook stores text; required then). `*summary` receives JSON: documents, tokens,
/// outlier_tokens, codebook_identity.
@_cdecl("plaid_segment_build")
public func plaid_segment_build(_ codebookPath: UnsafePointer<CChar>?, _ segmentPath: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?,
                                _ vectors: UnsafePointer<Float>?, _ lengths: UnsafePointer<Int64>?, _ n: Int64, _ dim: Int64,
                                _ ids: UnsafePointer<UInt8>?, _ idOffsets: UnsafePointer<Int64>?,
                                _ metadataJSON: UnsafePointer<CChar>?, _ summary: TextOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        guard let codebookPath = string(codebookPath) else { throw PlaidError.invalidArgument("no codebook path was given") }
        guard let segmentPath = string(segmentPath) else { throw PlaidError.invalidArgument("no segment path was given") }
        let options = try Options(options, source: "segment options", known: ["overwrite", "texts"])
        let shared = try SharedCodebook(path: codebookPath)
        let (documents, metadata) = try batch(vectors, lengths, n, dim, ids, idOffsets, metadataJSON)
        let texts = try batchTexts(options, ids: documents.ids)
        if shared.storedText != nil && texts.isEmpty {
            throw PlaidError.invalidArgument("segment options: the codebook at \(codebookPath) stores text, so the documents need theirs; pass texts=")
        }
        if shared.storedText == nil && !texts.isEmpty {
            throw PlaidError.invalidArgument("segment options: the codebook at \(codebookPath) stores no text, so texts have nothing to do; leave them out")
        }
        let descriptor = try shared.buildSegment(from: documents, metadata: metadata, texts: texts, at: segmentPath,
                                                 overwrite: try options.bool("overwrite") ?? false)
        give(try json(["documents": descriptor.segment.documentCount, "tokens": descriptor.segment.tokenCount,
                       "outlier_tokens": descriptor.segment.outlierTokens ?? 0, "codebook_identity": descriptor.codebookIdentity]),
             to: summary)
    }
}

/// Attaches segment directories (`n` paths as a UTF-8 buffer with offsets, in order) to the
/// index in one commit. Options: upsert. `*summary` receives JSON: segments, added, tokens,
/// replaced, outlier_tokens, documents, generation.
@_cdecl("plaid_index_attach")
public func plaid_index_attach(_ handle: UnsafeMutableRawPointer?, _ paths: UnsafePointer<UInt8>?, _ pathOffsets: UnsafePointer<Int64>?,
                               _ n: Int64, _ options: UnsafePointer<CChar>?, _ summary: TextOut, _ error: ErrorOut) -> Int32 {
    reportingErrors(error) {
        let index = try indexHandle(handle)
        let options = try Options(options, source: "attach options", known: ["upsert"])
        let segments = try strings(paths, pathOffsets, n, what: "segment paths")
        guard !segments.isEmpty else { throw PlaidError.invalidArgument("no segment was given to attach") }
        let upsert = try options.bool("upsert") ?? false
        let ((attached, live), commit) = try index.write { writer in
            (try writer.attach(segments: segments, upsert: upsert), writer.documentCount)
        }
        give(try json(["segments": attached.segments, "added": attached.documents, "tokens": attached.tokens,
                       "replaced": attached.replaced, "outlier_tokens": attached.outlierTokens, "documents": live,
                       "generation": commit.generation]), to: summary)
    }
}
