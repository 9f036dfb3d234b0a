import ArgumentParser

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "query", abstract: "(being written)")
    func run() throws { throw ValidationError("plaid query is not written yet") }
}
