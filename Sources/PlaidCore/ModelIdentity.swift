import Foundation

/// Which ColBERT model made a set of embeddings or an index: recorded by `plaid encode` beside
/// the embeddings (`model.json`) and by `plaid build` in the index, so that an index describes
/// itself and a query encoded by another model can be caught.
public struct ModelIdentity: Codable, Equatable, Sendable {
    /// The `--model` argument as given: a folder or a Hugging Face repo id.
    public var name: String
    /// The folder it resolved to, absolute.
    public var path: String
    /// 64-bit checksum (hex) of the model's files: configuration, tokenizer and weights, by
    /// relative path and content. Two folders with the same files have the same hash.
    public var hash: String
    public var dim: Int
    public var queryLength: Int
    public var documentLength: Int
    public var queryPrefix: String
    public var documentPrefix: String
    /// The encoder's matrix precision (`int16` or `float32`).
    public var precision: String

    public init(name: String, path: String, hash: String, dim: Int, queryLength: Int, documentLength: Int,
                queryPrefix: String, documentPrefix: String, precision: String) {
        self.name = name; self.path = path; self.hash = hash; self.dim = dim; self.queryLength = queryLength
        self.documentLength = documentLength; self.queryPrefix = queryPrefix; self.documentPrefix = documentPrefix
        self.precision = precision
    }

    /// Whether two identities name the same weights and ColBERT settings (precision aside, which
    /// changes vectors only in their last digits).
    public func isSameModel(as other: ModelIdentity) -> Bool {
        hash == other.hash && dim == other.dim && queryPrefix == other.queryPrefix && documentPrefix == other.documentPrefix
    }

    public var summary: String { "\(name) (hash \(hash), dim \(dim), \(precision))" }

    /// The file beside embeddings that records their model.
    public static let fileName = "model.json"

    /// The identity recorded in an embeddings folder, if any.
    public static func read(embeddingsDirectory: String) throws -> ModelIdentity? {
        let path = (embeddingsDirectory as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let identity = try? JSONDecoder().decode(ModelIdentity.self, from: data) else {
            throw PlaidError.invalidInput(file: path, detail: "is not a model record of this plaid (expected the JSON `plaid encode` writes); remove it or encode again")
        }
        return identity
    }

    public func write(embeddingsDirectory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: (embeddingsDirectory as NSString).appendingPathComponent(ModelIdentity.fileName)))
    }
}
