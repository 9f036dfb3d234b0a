import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe an index: sizes and bytes per token.")

    @OptionGroup var index: IndexOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        try runReportingErrors {
            let opened = try CompressedIndex(path: index.index)
            let m = opened.metadata
            let perToken = Double(opened.bytesOnDisk) / Double(max(1, m.tokenCount))
            if json {
                let object: [String: Any] = [
                    "documents": m.documentCount, "tokens": m.tokenCount, "centroids": m.centroidCount,
                    "dim": m.dim, "nbits": m.nbits, "bytes": opened.bytesOnDisk, "bytes_per_token": perToken,
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("index:           \(index.index)")
                print("documents:       \(m.documentCount)")
                print("tokens:          \(m.tokenCount)")
                print("dim:             \(m.dim)")
                print("centroids:       \(m.centroidCount)")
                print("nbits:           \(m.nbits)")
                print("bytes on disk:   \(opened.bytesOnDisk)")
                print(String(format: "bytes per token: %.2f", perToken))
            }
        }
    }
}
