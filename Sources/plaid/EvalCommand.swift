import ArgumentParser
import Foundation
import PlaidCore
import PlaidEncoder
import PlaidEvaluation
import PlaidIndex

/// `plaid eval`: a BEIR dataset folder in, one table of retrieval quality and speed out, for PLAID
/// search and for exhaustive MaxSim over the same embeddings.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate on a BEIR dataset: encode, build (if missing), search, and score PLAID against exhaustive MaxSim.",
        discussion: """
        Document embeddings and the index are kept under --work (default: .plaid-work/DATASET-MODEL-KEY in \
        the current folder, KEY a checksum of the model's files, the precision and the corpus) and reused by \
        later runs with the same settings; a reused index built with other settings is refused. Metrics follow \
        trec_eval and BEIR: nDCG@10, MRR@10, and Recall and MAP at min(k, 100); a retrieved document whose id is \
        the query id is dropped, and queries without a judged relevant document are skipped. With --run FILE, \
        scores that run file instead (no encoding, no search), and with --reference FILE also reports the \
        share of that run's top-10 it keeps. The report gives PLAID's share of the exhaustive top-10.
        """)

    @Option(help: "BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv).")
    var dataset: String?

    @Option(help: "With --run instead of --dataset: the qrels file (BEIR TSV with a header, or TREC) to score against.")
    var qrels: String?

    @Option(help: "qrels split to evaluate.")
    var split: String = "test"

    @Option(help: "Index directory (default: WORK/index-NBITSbit).")
    var index: String?

    @Option(help: "Directory for the document embeddings and the default index (default: .plaid-work/DATASET-MODEL-KEY).")
    var work: String?

    @Option(name: .customLong("run"), help: "Score this TREC run file against the qrels instead of searching.")
    var runFile: String?

    @Option(help: "With --run: a run (such as exhaustive MaxSim's) whose top-10 the report says how much of --run keeps.")
    var reference: String?

    @Option(help: "Write the PLAID and exhaustive runs here (plaid.run, exhaustive.run).")
    var runDir: String?

    @Option(help: "Where the report goes: a file, or - for standard output.")
    var output: String = "-"

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Searches to score besides exhaustive MaxSim, comma-separated: plaid (always run), bm25, hybrid. bm25 and hybrid store the corpus's text in the index (--store-text).")
    var modes: String = "plaid"

    @Option(help: "How hybrid fuses its rankings: relative (the default) or rrf.")
    var fusion: ModeOptions.FusionName?

    @Option(help: "With --fusion relative: PLAID's weight, between 0 and 1 (default 0.5).")
    var alpha: Double?

    @OptionGroup var search: SearchOptions
    @OptionGroup var filter: FilterOptions
    @OptionGroup var encoder: ModelOptions
    @OptionGroup var build: BuildOptions
    @OptionGroup var reporting: ReportingOptions

    var k: Int { search.k ?? 100 }

    /// The modes --modes lists.
    var searchModes: [SearchMode] {
        get throws {
            try modes.split(separator: ",").map { name in
                guard let mode = SearchMode(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--modes takes plaid, bm25 and hybrid, comma-separated; '\(name)' is none of them.")
                }
                return mode
            }
        }
    }

    func validate() throws {
        switch (dataset, qrels) {
        case (nil, nil): throw ValidationError("Give --dataset (a BEIR folder), or --run with --qrels FILE.")
        case (.some, .some): throw ValidationError("Give --dataset or --qrels, not both.")
        case (nil, .some) where runFile == nil: throw ValidationError("--qrels scores a --run file; a search needs --dataset.")
        default: break
        }
        try build.validate()
        try search.validate()
        try filter.validate()
        guard k >= 10 else { throw ValidationError("--k must be at least 10 for nDCG@10, not \(k).") }
        if runFile != nil && (runDir != nil || index != nil) { throw ValidationError("--run scores an existing run; --run-dir and --index go with a search.") }
        if reference != nil && runFile == nil { throw ValidationError("--reference goes with --run; a search is compared with exhaustive MaxSim already.") }
        try ModeOptions.check(fusion: fusion, alpha: alpha, hybrid: searchModes.contains(.hybrid), modeOption: "--modes ...,hybrid")
        if runFile != nil && modes != "plaid" { throw ValidationError("--modes goes with a search; --run scores one run file.") }
    }

    func run() throws {
        reporting.apply()
        try runReportingErrors {
            let destination = try OutputDestination.prepare(output)
            let report: EvaluationReport
            if let runFile {
                report = try Evaluation.score(run: runFile, qrels: qrels, dataset: dataset, split: split, k: k, reference: reference)
            } else {
                report = try evaluation.run(encoder: try encoder.loadEncoder())
            }
            try destination.write(Data(((json ? try report.json() : report.table()) + "\n").utf8))
        }
    }

    /// The evaluation the options describe, reporting on stderr.
    var evaluation: Evaluation {
        get throws {
            var evaluation = Evaluation(dataset: dataset!)
            evaluation.split = split
            evaluation.k = k
            evaluation.work = work
            evaluation.index = index
            evaluation.rebuild = build.overwrite
            evaluation.build = build.parameters
            evaluation.search = search.parameters(defaultK: 100)
            evaluation.modes = try searchModes
            evaluation.fusion = try ModeOptions.fusion(fusion, alpha: alpha)
            evaluation.filter = filter.metadataFilter
            evaluation.threads = search.threads
            evaluation.batchSize = encoder.batchSize
            evaluation.runDirectory = runDir
            evaluation.status = { printStatus($0) }
            evaluation.built = { [build] summary, path, tokens in build.report(summary, path: path, tokens: tokens) }
            return evaluation
        }
    }
}
