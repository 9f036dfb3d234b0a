import ArgumentParser
import Foundation
import PlaidCore

/// `--quiet`, shared by every command that reports progress.
struct ReportingOptions: ParsableArguments {
    @Flag(help: "Print no progress or summary lines; errors and warnings still go to standard error.")
    var quiet = false

    func apply() { ProgressReporter.quiet = quiet }
}

/// A summary line on standard error, unless --quiet.
func printStatus(_ message: String) {
    if !ProgressReporter.quiet { printError(message) }
}

/// A warning on standard error (even with --quiet).
func printWarning(_ message: String) {
    printError("warning: \(message)")
}

/// Runs a command body, turning any error into one sentence and a non-zero exit: the toolkit's
/// own errors as they are, Foundation's as "PATH: reason" instead of a raw dump.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch {
        throw reported(error)
    }
}

/// `runReportingErrors` for an asynchronous body.
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch {
        throw reported(error)
    }
}

extension Remedies {
    /// Remedies named by the command line's flags.
    static let commandLine = Remedies(
        upsert: "pass --upsert", overwrite: "pass --overwrite", overwriteName: "--overwrite",
        filterParameters: "--filter-param", filterParameterValue: "--filter-param value",
        build: "`plaid build`", indexPath: "--index path")
}

/// An error printed as one sentence, and the exit code to leave with.
private func reported(_ error: Error) -> Error {
    if let exit = error as? ExitCode { return exit }
    printError("error: \(describe(error, remedies: .commandLine))")
    return ExitCode.failure
}
