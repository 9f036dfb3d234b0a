import ArgumentParser

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "encode", abstract: "(being written)")
    func run() throws { throw ValidationError("plaid encode is not written yet") }
}
