import ArgumentParser
import Foundation
import PlaidCore
import PlaidIndex

/// `--filter` and `--filter-param`, shared by `query`, `eval` and `metadata`.
struct FilterOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Search only documents whose metadata matches this SQL expression (as an SQLite WHERE clause), e.g. \"year >= 2020 AND source IN ('pubmed','pmc')\".", valueName: "expression"))
    var filter: String?

    @Option(help: ArgumentHelp("A value for the next ? placeholder of --filter (repeatable; bound as text).", valueName: "value"))
    var filterParam: [String] = []

    @Option(help: ArgumentHelp("Seconds --filter may run before it is stopped with an error.", valueName: "seconds"))
    var filterTimeLimit: Double = MetadataFilter.defaultTimeLimit

    func validate() throws {
        if filter == nil && !filterParam.isEmpty { throw ValidationError("--filter-param goes with --filter.") }
        guard filterTimeLimit > 0 else { throw ValidationError("--filter-time-limit must be a positive number of seconds, not \(filterTimeLimit).") }
    }

    var metadataFilter: MetadataFilter? { filter.map { MetadataFilter($0, parameters: filterParam, timeLimit: filterTimeLimit) } }

    /// The allowed documents of `index`, with a status line; nil without --filter.
    func documents(of index: CompressedIndex) throws -> DocumentFilter? {
        guard let metadataFilter else { return nil }
        let matched = try index.documents(matching: metadataFilter)
        printStatus("filter: \(matched.count) of \(index.documentCount) documents match (\(matched.tokens) tokens)")
        return matched
    }
}

/// Metadata of a batch for `build` and `add`: from --metadata FILE (with --embeddings), or from
/// the collection's lines (its `metadata` object and other top-level fields).
func batchMetadata(file: String?, collection: String?, ids: () throws -> [String]) throws -> BatchMetadata {
    if let file { return try MetadataReader.read(path: file, batchIDs: try ids()) }
    if let collection { return try MetadataReader.fromCollection(path: collection) }
    return [:]
}
