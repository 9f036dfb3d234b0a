import Foundation

/// Which side of ColBERT a set of embeddings encodes: documents (`[tokens, dim]` per text, any
/// length) or queries (`[queryLength, dim]` per text).
public enum EmbeddingMode: String, CaseIterable, Sendable {
    case document, query
}

/// Writes the embeddings layout (`EmbeddingsLayout`) under temporary names and renames the files
/// into place only when everything is written, so a reader never sees a partial set.
public final class EmbeddingsWriter {
    public let directory: String
    public let mode: EmbeddingMode
    public let dimension: Int
    public let queryLength: Int
    private let embeddings: NPYWriter
    private let lengths: NPYWriter?
    private var ids: [String] = []
    public private(set) var vectorCount = 0
    private let pending: [(temporary: String, final: String)]

    /// The model recorded beside the embeddings (`model.json`) when they are finished.
    public let model: ModelIdentity?

    public init(directory: String, mode: EmbeddingMode, dimension: Int, queryLength: Int, float16: Bool,
                model: ModelIdentity? = nil) throws {
        self.directory = directory
        self.model = model
        self.mode = mode
        self.dimension = dimension
        self.queryLength = queryLength
        let type: NPYElementType = float16 ? .float16 : .float32
        var pending: [(temporary: String, final: String)] = []
        func path(_ name: String) -> String {
            let final = (directory as NSString).appendingPathComponent(name)
            let temporary = (directory as NSString).appendingPathComponent(".\(name).partial")
            pending.append((temporary, final))
            StagingFiles.register(temporary)
            return temporary
        }
        switch mode {
        case .document:
            embeddings = try NPYWriter(path: path(EmbeddingsLayout.documentEmbeddings), elementType: type, rowShape: [dimension])
            lengths = try NPYWriter(path: path(EmbeddingsLayout.documentLengths), elementType: .int32, rowShape: [])
        case .query:
            embeddings = try NPYWriter(path: path(EmbeddingsLayout.queryEmbeddings), elementType: type, rowShape: [queryLength, dimension])
            lengths = nil
        }
        self.pending = pending
    }

    /// Appends one text's vectors; `source` names the input file in errors.
    public func append(id: String, vectors: [Float], source: String) throws {
        ids.append(id)
        let count = vectors.count / dimension
        switch mode {
        case .document:
            guard count > 0 else {
                throw PlaidError.invalidInput(file: source, detail: "document '\(id)' has no token vectors left after the skiplist")
            }
            try vectors.withUnsafeBufferPointer { try embeddings.append($0) }
            try lengths!.append(integers: [count])
        case .query:
            // A model without query expansion gives fewer vectors; zero rows pad them (readers allow zero query rows).
            var padded = Array(vectors.prefix(queryLength * dimension))
            padded += [Float](repeating: 0, count: queryLength * dimension - padded.count)
            try padded.withUnsafeBufferPointer { try embeddings.append($0) }
        }
        vectorCount += count
    }

    public func finish() throws {
        try embeddings.finish()
        try lengths?.finish()
        let idsName = mode == .document ? EmbeddingsLayout.documentIDs : EmbeddingsLayout.queryIDs
        let idsFinal = (directory as NSString).appendingPathComponent(idsName)
        let idsTemporary = (directory as NSString).appendingPathComponent(".\(idsName).partial")
        StagingFiles.register(idsTemporary)
        try EmbeddingsLayout.writeIDs(ids, path: idsTemporary)
        try model?.write(embeddingsDirectory: directory)
        for (temporary, final) in pending + [(idsTemporary, idsFinal)] {
            StagingFiles.unregister(temporary)
            guard rename(temporary, final) == 0 else {
                throw PlaidError.io(path: final, detail: "cannot move the finished file into place: \(String(cString: strerror(errno)))")
            }
        }
    }
}
