import ArgumentParser

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "build", abstract: "(being written)")
    func run() throws { throw ValidationError("plaid build is not written yet") }
}
