import ArgumentParser

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "(being written)")
    func run() throws { throw ValidationError("plaid info is not written yet") }
}
