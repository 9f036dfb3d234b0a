import ArgumentParser

/// `plaid`: build, search and evaluate PLAID indexes of ColBERT token embeddings.
struct Plaid: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plaid",
        abstract: "A PLAID compressed index for ColBERT late-interaction retrieval, on the CPU.",
        subcommands: [Build.self, Add.self, Delete.self, Compact.self, Query.self, Info.self, Encode.self, Eval.self, Synthesize.self]
    )
}

Plaid.main()
