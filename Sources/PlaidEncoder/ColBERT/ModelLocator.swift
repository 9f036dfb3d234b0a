import Foundation
import PlaidCore

/// Resolves a `--model` argument to a model folder on disk. Nothing is ever downloaded.
///
/// The argument is either a folder, or a Hugging Face repo id (`ORG/NAME`) looked up in the
/// local hub cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`,
/// laid out as `models--ORG--NAME/snapshots/REVISION/`. The revision is the one `refs/main`
/// names when present, else the only (or most recently modified) snapshot.
public enum ModelLocator {
    /// The hub cache folder the environment selects.
    public static func hubCacheDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let cache = environment["HF_HUB_CACHE"], !cache.isEmpty { return cache }
        if let home = environment["HF_HOME"], !home.isEmpty { return (home as NSString).appendingPathComponent("hub") }
        let userHome = environment["HOME"] ?? NSHomeDirectory()
        return (userHome as NSString).appendingPathComponent(".cache/huggingface/hub")
    }

    public static func resolve(_ model: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        var isDirectory: ObjCBool = false
        let expanded = (model as NSString).expandingTildeInPath
        if FileManager.default.fileExists(atPath: expanded, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw PlaidError.invalidArgument("--model \(model) is a file; expected a model folder (with config.json, model.safetensors, tokenizer.json, modules.json) or a Hugging Face repo id")
            }
            return expanded
        }
        let cache = hubCacheDirectory(environment: environment)
        let howToGetOne = "plaid never downloads models: run scripts/setup-default-model.sh for the default model "
            + "(models/minilm-colbert), or put a PyLate model folder on disk and pass its path"
        guard isRepoID(model) else {
            throw PlaidError.missingFile(path: model, hint: "No such model folder. \(howToGetOne).")
        }
        let repo = "models--" + model.replacingOccurrences(of: "/", with: "--")
        if let snapshot = snapshot(repo: repo, cache: cache) { return snapshot }
        throw PlaidError.missingFile(path: model, hint: """
            No such model folder, and no snapshot of the Hugging Face repo '\(model)' in the local hub cache \
            (looked in \((cache as NSString).appendingPathComponent(repo))/snapshots; the cache is HF_HUB_CACHE, \
            else HF_HOME/hub, else ~/.cache/huggingface/hub). \(howToGetOne), or fetch the repo into the cache \
            yourself (`huggingface-cli download \(model)`).
            """)
    }

    /// `ORG/NAME`: one slash, neither part empty nor a path component like `.` or `..`.
    static func isRepoID(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
            && !text.hasPrefix("~")
    }

    static func snapshot(repo: String, cache: String) -> String? {
        let repoDirectory = (cache as NSString).appendingPathComponent(repo)
        let snapshots = (repoDirectory as NSString).appendingPathComponent("snapshots")
        let refPath = (repoDirectory as NSString).appendingPathComponent("refs/main")
        if let ref = try? String(contentsOfFile: refPath, encoding: .utf8) {
            let candidate = (snapshots as NSString).appendingPathComponent(ref.trimmingCharacters(in: .whitespacesAndNewlines))
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        guard let revisions = try? FileManager.default.contentsOfDirectory(atPath: snapshots), !revisions.isEmpty else { return nil }
        func modified(_ revision: String) -> Date {
            let attributes = try? FileManager.default.attributesOfItem(atPath: (snapshots as NSString).appendingPathComponent(revision))
            return attributes?[.modificationDate] as? Date ?? .distantPast
        }
        let newest = revisions.max { (modified($0), $0) < (modified($1), $1) }!
        return (snapshots as NSString).appendingPathComponent(newest)
    }
}
