import ArgumentParser

/// The index directory option shared by several commands.
struct IndexOptions: ParsableArguments {
    @Option(help: "Index directory.")
    var index: String
}
