import ArgumentParser
import Foundation
import PlaidCore
import PlaidEncoder

extension MatrixPrecision: ExpressibleByArgument {
    static let help = "How the encoder's dense layers multiply: int16 (16-bit integers with exact sums; faster, cosine within 1e-6 of float32) or float32 (OpenBLAS sgemm)."
}

/// The `--model` option shared by the commands that encode text. Without it, the default model
/// is used: `$PLAID_DEFAULT_MODEL` if set, else `models/minilm-colbert` in the working directory,
/// else in the checkout the running `plaid` executable was built in (the folders above it), so
/// `swift run`, `.build/release/plaid` and a copy on the PATH all find it from any folder.
struct ModelOptions: ParsableArguments {
    @Option(help: "ColBERT model: a PyLate/sentence-transformers folder or a Hugging Face repo id in the local hub cache (default: $PLAID_DEFAULT_MODEL, else models/minilm-colbert of the working directory or of the plaid checkout).")
    var model: String?

    @Option(help: "Texts per forward pass of the encoder.")
    var batchSize: Int = 32

    @Option(help: ArgumentHelp(MatrixPrecision.help, valueName: "int16|float32"))
    var precision: MatrixPrecision = .int16

    static let defaultModelFolder = "models/minilm-colbert"
    static let environmentVariable = "PLAID_DEFAULT_MODEL"

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, not \(batchSize).") }
    }

    /// Whether any option of the group was given (for commands that do not encode in some modes).
    var isGiven: Bool { model != nil }

    /// The folders tried for the default model, in order, as absolute paths.
    static func defaultModelCandidates(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var candidates: [String] = []
        if let chosen = environment[environmentVariable], !chosen.isEmpty {
            candidates.append(URL(fileURLWithPath: (chosen as NSString).expandingTildeInPath).standardizedFileURL.path)
        }
        candidates.append(URL(fileURLWithPath: defaultModelFolder).standardizedFileURL.path)
        // The executable's own path (through /proc, so a copy or link on the PATH resolves too).
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(directory.appendingPathComponent(defaultModelFolder).standardizedFileURL.path)
            directory.deleteLastPathComponent()
        }
        var seen = Set<String>()
        return candidates.filter { seen.insert($0).inserted }
    }

    /// The model to load: `--model`, else the first default folder that is assembled.
    func resolvedModel() throws -> String {
        if let model { return model }
        let candidates = ModelOptions.defaultModelCandidates()
        for folder in candidates where FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("model.safetensors")) {
            return folder
        }
        throw PlaidError.missingFile(path: "the default model", hint: """
            No assembled model (model.safetensors) in any of: \(candidates.joined(separator: ", ")). \
            Run scripts/setup.sh (or scripts/setup-default-model.sh) in the plaid repository, set \
            \(ModelOptions.environmentVariable) to a model folder, or pass --model. plaid never downloads models.
            """)
    }

    func loadEncoder() throws -> ColBERTEncoder { try ColBERTEncoder(modelPath: try resolvedModel(), precision: precision) }
}
