import ArgumentParser
import Foundation
import PlaidCore

#if os(Linux)
// Before anything else: OpenBLAS may have taken this CPU for an older one (BLASCoreType).
BLASCoreType.reexecuteWithBetterCoreIfNeeded()
#endif

/// `plaid`: build, search and evaluate PLAID indexes of ColBERT token embeddings.
struct Plaid: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plaid",
        abstract: "A PLAID compressed index for ColBERT late-interaction retrieval, on the CPU.",
        discussion: """
        Inputs are named alike in every command: --collection FILE (document texts), --queries FILE|DIR \
        (query texts, or query embeddings), --embeddings DIR (document embeddings). --output FILE is \
        always a file (- for standard output); a folder is --output-dir DIR. --model defaults to the \
        assembled default model everywhere.
        """,
        version: PlaidVersion.string,
        subcommands: [Build.self, Add.self, CodebookCommands.self, SegmentCommands.self, Attach.self, Delete.self, Compact.self, Query.self, Search.self, Rerank.self, Serve.self, Metadata.self, Info.self, Encode.self, Eval.self, Synthesize.self]
    )
}

/// `--k -5` would read as a missing value followed by an option `-5`: join an option and a
/// negative number into `--k=-5`, so validation can say what is wrong with the value.
func joiningNegativeNumbers(_ arguments: [String]) -> [String] {
    var out: [String] = []
    var i = 0
    while i < arguments.count {
        let argument = arguments[i]
        if argument.hasPrefix("--"), !argument.contains("="), i + 1 < arguments.count,
           arguments[i + 1].hasPrefix("-"), Double(arguments[i + 1]) != nil {
            out.append("\(argument)=\(arguments[i + 1])")
            i += 2
        } else {
            out.append(argument)
            i += 1
        }
    }
    return out
}

/// SIGINT and SIGTERM remove this process's staging files (`StagingFiles`) and exit with 130 or
/// 143, as a shell reports a process ended by those signals. (`plaid serve` cancels these and
/// shuts down gracefully instead.)
let interruptions: [DispatchSourceSignal] = [SIGINT, SIGTERM].map { number in
    signal(number, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    source.setEventHandler {
        StagingFiles.removeAll()
        printError("plaid: interrupted; removed the files it was writing")
        _exit(128 + number)
    }
    source.resume()
    return source
}

/// The asynchronous entry point (a plain `Plaid.main(...)` call resolves to the synchronous one,
/// which would run `plaid serve` as a command without a body).
func runAsynchronously<Command: AsyncParsableCommand>(_ command: Command.Type, _ arguments: [String]) async {
    await command.main(arguments)
}

await runAsynchronously(Plaid.self, joiningNegativeNumbers(Array(CommandLine.arguments.dropFirst())))
