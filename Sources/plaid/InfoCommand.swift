import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe an index: documents, segments, commit generation, sizes and bytes per token.")

    @OptionGroup var index: IndexOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        try runReportingErrors {
            let opened = try CompressedIndex(path: index.index)
            let book = opened.codebook
            let perToken = Double(opened.bytesOnDisk) / Double(max(1, opened.tokenCount))
            if json {
                let object: [String: Any] = [
                    "documents": opened.documentCount, "deleted": opened.deletedCount, "segments": opened.segments.count,
                    "generation": opened.generation, "format_version": opened.formatVersion,
                    "tokens": opened.tokenCount, "centroids": book.centroidCount, "dim": book.dim, "nbits": book.nbits,
                    "bytes": opened.bytesOnDisk, "bytes_per_token": perToken,
                    "created_by": book.createdBy, "written_by": opened.manifest.writtenBy,
                    "model": book.model.map { m -> [String: Any] in
                        ["name": m.name, "path": m.path, "hash": m.hash, "dim": m.dim, "query_length": m.queryLength,
                         "document_length": m.documentLength, "query_prefix": m.queryPrefix, "document_prefix": m.documentPrefix,
                         "precision": m.precision]
                    } ?? NSNull(),
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("index:           \(index.index)")
                print("documents:       \(opened.documentCount)")
                print("deleted:         \(opened.deletedCount) (not yet compacted)")
                print("segments:        \(opened.segments.count)")
                print("generation:      \(opened.generation)")
                print("format version:  \(opened.formatVersion)")
                print("tokens:          \(opened.tokenCount)")
                print("dim:             \(book.dim)")
                print("centroids:       \(book.centroidCount)\(book.centroidCount > book.trainedCentroidCount ? " (\(book.centroidCount - book.trainedCentroidCount) appended by additions)" : "")")
                print("nbits:           \(book.nbits)")
                print("bytes on disk:   \(opened.bytesOnDisk)")
                print(String(format: "bytes per token: %.2f", perToken))
                if let m = book.model {
                    print("model:           \(m.name) (\(m.path))")
                    print("model hash:      \(m.hash), dim \(m.dim), \(m.precision)")
                    print("lengths:         query \(m.queryLength), document \(m.documentLength); prefixes \"\(m.queryPrefix)\", \"\(m.documentPrefix)\"")
                } else {
                    print("model:           not recorded (built from embeddings without model.json)")
                }
                print("built by:        \(book.createdBy); last commit by \(opened.manifest.writtenBy)")
            }
        }
    }
}
