import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe an index: documents, segments, commit generation, sizes and bytes per token.",
        discussion: "With --system instead of --index: the CPU, the level of plaid's kernels, the encoder's product tile and OpenBLAS's core type.")

    @Option(help: "Index directory.")
    var index: String?

    @Flag(help: "Describe this machine's code paths instead of an index.")
    var system = false

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        if system == (index != nil) { throw ValidationError("Give either --index DIR (an index to describe) or --system (this machine).") }
    }

    /// `--system`: this machine's code paths.
    func describeMachine() throws {
        let machine = MachineDescription()
        guard json else { return machine.lines.forEach { print($0) } }
        print(String(decoding: try machine.json(), as: UTF8.self))
    }

    func run() throws {
        guard let index else { return try describeMachine() }
        try runReportingErrors {
            let opened = try CompressedIndex(path: index)
            let book = opened.codebook
            let perToken = Double(opened.bytesOnDisk) / Double(max(1, opened.tokenCount))
            if json {
                let data = try IndexDescription(opened).json()
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("index:           \(index)")
                print("documents:       \(opened.documentCount)")
                print("deleted:         \(opened.deletedCount) (not yet compacted)")
                print("segments:        \(opened.segments.count)")
                print("generation:      \(opened.generation)")
                print("format version:  \(opened.formatVersion)")
                print("tokens:          \(opened.tokenCount)")
                print("dim:             \(book.dim)")
                print("centroids:       \(book.centroidCount)\(book.centroidCount > book.trainedCentroidCount ? " (\(book.centroidCount - book.trainedCentroidCount) appended by additions)" : "")")
                print("nbits:           \(book.nbits)")
                print("codebook:        identity \(book.identity(centroids: opened.quantizer.centroids, listCount: book.centroidCount))")
                if opened.manifest.outliersCodedWithoutGrowth > 0 {
                    print("outliers:        \(opened.manifest.outliersCodedWithoutGrowth) tokens of attached segments lay beyond the codebook's outlier distance (coded without growing it)")
                }
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
