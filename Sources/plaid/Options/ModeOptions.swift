import ArgumentParser
import PlaidCore
import PlaidIndex

extension SearchMode: ExpressibleByArgument {}

/// How `query` ranks: PLAID, BM25 over stored text, or both fused.
struct ModeOptions: ParsableArguments {
    @Option(help: "plaid (MaxSim over the token vectors), bm25 (over the text an index built with --store-text keeps) or hybrid (both, fused). bm25 and hybrid need query texts.")
    var mode: SearchMode = .plaid

    @Option(help: "How hybrid fuses its two rankings: relative (each ranking's scores scaled to 0..1, then --alpha · PLAID + (1 − alpha) · BM25; the default) or rrf (reciprocal rank, k = 60).")
    var fusion: FusionName?

    @Option(help: "With --fusion relative: PLAID's weight, between 0 and 1 (default 0.5).")
    var alpha: Double?

    enum FusionName: String, ExpressibleByArgument, CaseIterable { case rrf, relative }

    func validate() throws {
        try ModeOptions.check(fusion: fusion, alpha: alpha, hybrid: mode == .hybrid, modeOption: "--mode hybrid")
    }

    /// The checks of `--fusion` and `--alpha`, shared with `eval` (`hybrid`: whether a hybrid
    /// search is asked for, and `modeOption` how).
    static func check(fusion: FusionName?, alpha: Double?, hybrid: Bool, modeOption: String) throws {
        _ = try ModeOptions.fusion(fusion, alpha: alpha)
        if (fusion != nil || alpha != nil) && !hybrid { throw ValidationError("--fusion and --alpha go with \(modeOption).") }
    }

    var fusionRule: Fusion { get throws { try ModeOptions.fusion(fusion, alpha: alpha) } }

    /// The fusion `--fusion` and `--alpha` name (relative at 0.5 when neither is given), checked
    /// as the library checks it (`Fusion(named:alpha:)`), its sentence naming the option.
    static func fusion(_ name: FusionName?, alpha: Double?) throws -> Fusion {
        do {
            return try Fusion(named: name?.rawValue, alpha: alpha)
        } catch PlaidError.invalidArgument(let detail) {
            throw ValidationError("--\(detail).")
        }
    }
}
