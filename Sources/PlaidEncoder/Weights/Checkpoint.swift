import Foundation
import PlaidCore

/// The tensors of a model checkpoint (`model.safetensors`, or shards listed in
/// `model.safetensors.index.json`), read strictly: every parameter the architecture asks for
/// must be present with the expected shape, and after loading every tensor must have been
/// used, unless it is a known non-parameter buffer or a known pre-training head.
///
/// Names are matched after normalisation, so that checkpoints saved by different classes load
/// the same way: a leading `bert.` or `model.` is dropped (`BertForMaskedLM`,
/// `ModernBertForMaskedLM`), and LayerNorm `gamma`/`beta` become `weight`/`bias` (old TF ports).
public final class Checkpoint {
    public let directory: String
    /// Normalised name → (file, name in that file).
    private var entries: [String: (file: SafeTensorsFile, key: String)] = [:]
    private var used: Set<String> = []

    /// Name prefixes that checkpoints of wrapper classes put before the backbone's names.
    static let wrapperPrefixes = ["bert.", "model."]

    /// Opens `<directory>/<stem>.safetensors` or, if absent, the shards named by
    /// `<directory>/<stem>.safetensors.index.json`.
    public init(directory: String, stem: String = "model") throws {
        self.directory = directory
        let single = (directory as NSString).appendingPathComponent("\(stem).safetensors")
        let index = single + ".index.json"
        var files: [SafeTensorsFile] = []
        if FileManager.default.fileExists(atPath: single) {
            files = [try SafeTensorsFile(path: single)]
        } else if FileManager.default.fileExists(atPath: index) {
            files = try Checkpoint.openShards(index: index, directory: directory)
        } else {
            throw PlaidError.missingFile(path: single, hint: "A model folder holds its weights in \(stem).safetensors (or shards listed in \(stem).safetensors.index.json).")
        }
        for file in files {
            for key in file.tensors.keys {
                let name = Checkpoint.normalisedName(key)
                if let previous = entries[name] {
                    throw PlaidError.invalidInput(file: file.path, detail: "tensors '\(previous.key)' and '\(key)' both name the parameter '\(name)'")
                }
                entries[name] = (file, key)
            }
        }
    }

    private static func openShards(index: String, directory: String) throws -> [SafeTensorsFile] {
        let data = try Data(contentsOf: URL(fileURLWithPath: index))
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let weightMap = object["weight_map"] as? [String: String] else {
            throw PlaidError.invalidInput(file: index, detail: "expected a JSON object with a 'weight_map' of tensor name → shard file")
        }
        var files: [SafeTensorsFile] = []
        for shard in Set(weightMap.values).sorted() {
            let file = try SafeTensorsFile(path: (directory as NSString).appendingPathComponent(shard))
            for (key, owner) in weightMap where owner == shard && file.tensors[key] == nil {
                throw PlaidError.invalidInput(file: file.path, detail: "has no tensor '\(key)', which \((index as NSString).lastPathComponent) places there")
            }
            files.append(file)
        }
        return files
    }

    /// The name a checkpoint key is matched by (see the type's documentation).
    static func normalisedName(_ key: String) -> String {
        var name = key
        for prefix in wrapperPrefixes where name.hasPrefix(prefix) {
            name.removeFirst(prefix.count)
            break
        }
        if name.hasSuffix(".gamma") { name = String(name.dropLast(".gamma".count)) + ".weight" }
        else if name.hasSuffix(".beta") { name = String(name.dropLast(".beta".count)) + ".bias" }
        return name
    }

    /// Whether a parameter is present (for parts that are optional in the architecture).
    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// The values of parameter `name`, which must have exactly `shape`. Marks it used.
    public func tensor(_ name: String, shape: [Int]) throws -> FloatStorage {
        guard let entry = entries[name] else {
            throw PlaidError.invalidInput(file: directory, detail: "the checkpoint lacks the parameter '\(name)' (shape \(shape)); the model folder does not match its config.json")
        }
        let info = entry.file.tensors[entry.key]!
        guard info.shape == shape else {
            throw PlaidError.invalidInput(file: entry.file.path, detail: "tensor '\(entry.key)' has shape \(info.shape), expected \(shape) from config.json")
        }
        used.insert(name)
        return try entry.file.floats(entry.key)
    }

    /// The parameter if the checkpoint has it, else nil.
    public func optionalTensor(_ name: String, shape: [Int]) throws -> FloatStorage? {
        contains(name) ? try tensor(name, shape: shape) : nil
    }

    /// Fails naming the tensors no layer used, except those for which `isIgnorable` is true
    /// (non-parameter buffers such as `embeddings.position_ids`, pre-training heads).
    public func checkAllUsed(ignoring isIgnorable: (String) -> Bool) throws {
        let unused = entries.keys.filter { !used.contains($0) && !isIgnorable($0) }.sorted()
        guard unused.isEmpty else {
            let keys = unused.prefix(5).map { entries[$0]!.key }
            let more = unused.count > 5 ? " and \(unused.count - 5) more" : ""
            throw PlaidError.invalidInput(file: directory, detail: "the checkpoint has tensors the model does not use: \(keys.joined(separator: ", "))\(more); the model folder does not match its config.json")
        }
    }
}
