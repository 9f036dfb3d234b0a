import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

/// `plaid attach`: segments built anywhere join an index in one commit.
struct Attach: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach segments (plaid segment build) to an index in one atomic commit.",
        discussion: """
        Checks every segment before anything changes: complete, undamaged (every checksum), coded with \
        the index's codebook (its identity), of the index's dimension, model and text settings, and with \
        ids new to the index (unless --upsert replaces those documents) and to each other. Then links \
        the segments' files into the index (copies them across file systems) and commits once; the \
        segment directories stay as they were. Killed at any point, the index holds the old commit or \
        the new one. The segments' documents come after the index's, in the order given.
        """)

    @OptionGroup var index: IndexOptions

    @Argument(help: "Segment directories written by plaid segment build.")
    var segments: [String]

    @Flag(help: "Replace documents whose id is already in the index, in the same commit.")
    var upsert = false

    @OptionGroup var reporting: ReportingOptions

    func validate() throws {
        guard !segments.isEmpty else { throw ValidationError("Name at least one segment directory to attach.") }
    }

    func run() throws {
        reporting.apply()
        try runReportingErrors {
            let started = Date()
            let writer = try IndexWriter(path: index.index)
            defer { writer.close() }
            let attached = try writer.attach(segments: segments, upsert: upsert)
            let commit = try writer.commit()
            var line = String(format: "attached %d segments (%d documents, %d tokens) to %@ in %.1f s; generation %d",
                              attached.segments, attached.documents, attached.tokens, index.index,
                              Date().timeIntervalSince(started), commit.generation)
            if upsert { line += "; \(attached.replaced) replaced" }
            line += "; \(attached.outlierTokens) tokens lay beyond the codebook's outlier distance (coded without growing it)"
            printStatus(line)
            warnIfMaintenanceFailed(commit)
        }
    }
}
