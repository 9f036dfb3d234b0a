import Foundation
import PlaidCore

/// What `plaid info --json` prints and the server's `GET /info` answers: one snapshot's counts,
/// codebook, sizes and provenance. Encoded with snake_case keys; `model` is `null` when the
/// index does not record its model.
public struct IndexDescription: Encodable, Sendable {
    public var documents: Int
    /// Deleted documents not yet compacted away.
    public var deleted: Int
    public var segments: Int
    public var generation: Int
    public var formatVersion: Int
    public var tokens: Int
    /// 0 for an index created empty whose first batch has not come yet.
    public var centroids: Int
    public var dim: Int
    public var nbits: Int
    public var bytes: Int
    public var bytesPerToken: Double
    public var createdBy: String
    public var writtenBy: String
    public var model: ModelIdentity?
    /// `Codebook.identity` over every centroid: equal for two indexes (or a codebook) whose
    /// segments can be attached to one another.
    public var codebookIdentity: String
    /// Tokens of the segments coded beyond the codebook's outlier distance without growing it
    /// (`Manifest.outliersCodedWithoutGrowth`); 0 when none.
    public var outliersCodedWithoutGrowth: Int

    public init(_ index: CompressedIndex) {
        documents = index.documentCount
        deleted = index.deletedCount
        segments = index.segments.count
        generation = index.generation
        formatVersion = index.formatVersion
        tokens = index.tokenCount
        centroids = index.codebook.centroidCount
        dim = index.dim
        nbits = index.codebook.nbits
        bytes = index.bytesOnDisk
        bytesPerToken = Double(index.bytesOnDisk) / Double(max(1, index.tokenCount))
        createdBy = index.codebook.createdBy
        writtenBy = index.manifest.writtenBy
        model = index.codebook.model
        codebookIdentity = index.codebook.identity(centroids: index.quantizer.centroids, listCount: index.codebook.centroidCount)
        outliersCodedWithoutGrowth = index.manifest.outliersCodedWithoutGrowth
    }

    private enum CodingKeys: String, CodingKey {
        case documents, deleted, segments, generation, formatVersion, tokens, centroids, dim, nbits, bytes,
             bytesPerToken, createdBy, writtenBy, model, codebookIdentity, outliersCodedWithoutGrowth
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(documents, forKey: .documents)
        try c.encode(deleted, forKey: .deleted)
        try c.encode(segments, forKey: .segments)
        try c.encode(generation, forKey: .generation)
        try c.encode(formatVersion, forKey: .formatVersion)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(centroids, forKey: .centroids)
        try c.encode(dim, forKey: .dim)
        try c.encode(nbits, forKey: .nbits)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(bytesPerToken, forKey: .bytesPerToken)
        try c.encode(createdBy, forKey: .createdBy)
        try c.encode(writtenBy, forKey: .writtenBy)
        try c.encode(model, forKey: .model)   // null, not absent, when not recorded
        try c.encode(codebookIdentity, forKey: .codebookIdentity)
        try c.encode(outliersCodedWithoutGrowth, forKey: .outliersCodedWithoutGrowth)
    }

    /// Pretty-printed JSON with sorted snake_case keys.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
