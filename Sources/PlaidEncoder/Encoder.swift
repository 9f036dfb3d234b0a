import Foundation
import PlaidCore

/// A PyLate ColBERT model run natively: text in, L2-normalised token vectors out, following
/// PyLate 1.6's query and document rules (see `ColBERTTokenization`).
///
/// The model is a sentence-transformers folder (config.json, model.safetensors, tokenizer.json,
/// modules.json, config_sentence_transformers.json, Dense modules) or a Hugging Face repo id in
/// the local hub cache (`ModelLocator`). BERT and ModernBERT backbones are supported.
/// One call at a time: each call already uses all cores.
public final class ColBERTEncoder: @unchecked Sendable {
    public let model: ColBERTModel
    public let settings: ColBERTSettings
    let tokenization: ColBERTTokenization

    /// The folder the model was loaded from.
    public var modelDirectory: String { model.directory }
    /// Dimension of each token vector.
    public var dimension: Int { model.dimension }
    /// Vectors per query (PyLate `query_length`).
    public var queryLength: Int { settings.queryLength }
    /// The `modelPath` it was created with.
    public let modelName: String
    public let precision: MatrixPrecision

    /// What the index and embeddings record of this model: its name, folder, a checksum of its
    /// files, dimension, lengths and prefixes. Computed on first use (it reads every file once).
    public private(set) lazy var identity: ModelIdentity = ModelIdentity(
        name: modelName, path: URL(fileURLWithPath: modelDirectory).standardizedFileURL.path,
        hash: ColBERTEncoder.checksum(ofModelFolder: modelDirectory), dim: dimension, queryLength: settings.queryLength,
        documentLength: settings.documentLength, queryPrefix: settings.queryPrefix, documentPrefix: settings.documentPrefix,
        precision: precision.rawValue)

    /// plaid_checksum64 over every file of the folder that shapes the vectors (configuration,
    /// tokenizer, weights; not READMEs), by relative path and content, in sorted order; hex.
    static func checksum(ofModelFolder folder: String) -> String {
        let files = (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []).filter { file in
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent(file), isDirectory: &isDirectory)
            let name = (file as NSString).lastPathComponent
            return !isDirectory.boolValue && !name.hasPrefix(".") && !file.hasPrefix(".") && !name.lowercased().hasPrefix("readme")
        }.sorted()
        return FileChecksum.hex(ofFiles: files.map { ($0, (folder as NSString).appendingPathComponent($0)) }, seed: 0x6d6f64656c)
    }

    /// Model input tokens run so far by this encoder (real tokens; nothing is padded), for throughput reports.
    public private(set) var tokensProcessed = 0

    /// - Parameters:
    ///   - modelPath: a model folder, or a repo id found in the local Hugging Face hub cache.
    ///   - precision: how the dense layers multiply (see `MatrixPrecision`).
    public init(modelPath: String, precision: MatrixPrecision = .int16) throws {
        let directory = try ModelLocator.resolve(modelPath)
        modelName = modelPath
        self.precision = precision
        let folder = directory as NSString
        let settingsPath = folder.appendingPathComponent("config_sentence_transformers.json")
        settings = FileManager.default.fileExists(atPath: settingsPath)
            ? try decodeJSON(ColBERTSettings.self, path: settingsPath) : ColBERTSettings()
        guard settings.queryLength >= 2, settings.documentLength >= 3 else {
            throw PlaidError.invalidInput(file: settingsPath, detail: "query_length \(settings.queryLength) and document_length \(settings.documentLength) are too small")
        }
        model = try ColBERTModel(directory: directory, precision: precision)
        if let limit = model.maximumSequenceLength, max(settings.queryLength, settings.documentLength) > limit {
            throw PlaidError.invalidInput(file: settingsPath, detail: "query_length \(settings.queryLength) or document_length \(settings.documentLength) exceeds the \(limit) positions of the model")
        }
        let tokenizer = try Tokenizer(path: folder.appendingPathComponent("tokenizer.json"))
        guard tokenizer.vocabularySize <= model.vocabularySize else {
            throw PlaidError.invalidInput(file: folder.appendingPathComponent("tokenizer.json"), detail: "has \(tokenizer.vocabularySize) tokens but the model's embeddings have \(model.vocabularySize) rows")
        }
        let moduleSettingsPath = folder.appendingPathComponent("sentence_bert_config.json")
        let moduleSettings = FileManager.default.fileExists(atPath: moduleSettingsPath)
            ? try decodeJSON(TransformerModuleSettings.self, path: moduleSettingsPath) : TransformerModuleSettings()
        let tokenizerConfigPath = folder.appendingPathComponent("tokenizer_config.json")
        let specialTokens = FileManager.default.fileExists(atPath: tokenizerConfigPath)
            ? try decodeJSON(SpecialTokenNames.self, path: tokenizerConfigPath) : SpecialTokenNames()
        tokenization = try ColBERTTokenization(tokenizer: tokenizer, settings: settings, lowercase: moduleSettings.doLowerCase,
                                               specialTokens: specialTokens, folder: directory)
    }

    /// The ids PyLate feeds the model for a query (prefix and expansion included).
    public func queryTokenIDs(_ text: String) -> [Int] { tokenization.query(text).ids }

    /// The ids PyLate feeds the model for a document (before skiplist vectors are dropped).
    public func documentTokenIDs(_ text: String) -> [Int] { tokenization.document(text) }

    /// Query vectors: each [queryLength · dimension] (all expansion vectors kept), or, for a model
    /// without query expansion, [tokens · dimension].
    public func encodeQueries(_ texts: [String], batchSize: Int = 32) throws -> [[Float]] {
        let tokenized = tokenizeInParallel(texts) { tokenization.query($0) }
        for (i, query) in tokenized.enumerated() { try model.validate(query.ids, what: "query \(i)") }
        let groups = stride(from: 0, to: texts.count, by: max(batchSize, 1)).map { $0..<min($0 + max(batchSize, 1), texts.count) }
        let batches = groups.map { range -> PackedSequences in
            var batch = PackedSequences()
            for i in range { batch.append(tokenized[i].ids, attendable: tokenized[i].attendable) }
            return batch
        }
        let vectors = model.embed(batches: batches)
        tokensProcessed += batches.reduce(0) { $0 + $1.tokenCount }
        return Array(vectors.joined())
    }

    /// Queries encoded into one `QueryEmbeddings` ([count, queryLength, dimension]), the form
    /// search takes. A model without query expansion gives shorter queries; zero rows pad them,
    /// and add nothing to MaxSim.
    public func encodeQueryEmbeddings(ids: [String], texts: [String], batchSize: Int = 32) throws -> QueryEmbeddings {
        precondition(ids.count == texts.count, "one id per query text")
        let vectors = try encodeQueries(texts, batchSize: batchSize)
        let perQuery = queryLength * dimension
        var values = [Float]()
        values.reserveCapacity(texts.count * perQuery)
        for v in vectors {
            values += v.prefix(perQuery)
            values += [Float](repeating: 0, count: perQuery - min(v.count, perQuery))
        }
        return QueryEmbeddings(ids: ids, tokensPerQuery: queryLength, dim: dimension, values: values, model: identity)
    }

    /// Document vectors: each [tokens · dimension], without the skiplist tokens. Documents are
    /// grouped by length into batches of `batchSize` (results come back in input order);
    /// `progress` receives the number of documents done after each batch (possibly on a worker
    /// thread, never two calls at once).
    public func encodeDocuments(_ texts: [String], batchSize: Int = 32, progress: ((Int) -> Void)? = nil) throws -> [[Float]] {
        let tokenized = tokenizeInParallel(texts) { tokenization.document($0) }
        for (i, ids) in tokenized.enumerated() { try model.validate(ids, what: "document \(i)") }
        // Longest first, as PyLate orders them; ties keep input order so that runs are reproducible.
        // (Sequences are packed without padding, so sorting only evens out the batches' work.)
        let order = tokenized.indices.sorted { (tokenized[$0].count, -$0) > (tokenized[$1].count, -$1) }
        let groups = stride(from: 0, to: order.count, by: max(batchSize, 1)).map {
            Array(order[$0..<min($0 + max(batchSize, 1), order.count)])
        }
        let batches = groups.map { members -> PackedSequences in
            var batch = PackedSequences()
            for i in members { batch.append(tokenized[i], attendable: [Bool](repeating: true, count: tokenized[i].count)) }
            return batch
        }
        let skiplist = tokenization.skiplist
        var done = 0
        let vectors = model.embed(batches: batches, keep: { b, s, p in !skiplist.contains(tokenized[groups[b][s]][p]) },
                                  finished: { b in
                                      done += groups[b].count
                                      self.tokensProcessed += batches[b].tokenCount
                                      progress?(done)
                                  })
        var results = [[Float]](repeating: [], count: texts.count)
        for (b, members) in groups.enumerated() {
            for (s, i) in members.enumerated() { results[i] = vectors[b][s] }
        }
        return results
    }

    /// The token each of a query's vectors stands for, as the tokenizer writes it (`[MASK]` for
    /// the expansion): what a match's query token is.
    public func queryTokenTexts(_ text: String) -> [String] {
        tokenization.query(text).ids.map { tokenization.tokenizer.token(forID: $0) ?? "" }
    }

    /// The token each of a document's vectors stands for (skiplist tokens have none), as the
    /// tokenizer writes it, and its span in `text`: what a match's document token is. Only the
    /// text's first `documentLength` · 128 characters are read (a document keeps its first
    /// `documentLength` tokens, which span fewer but for long runs of white space or words of
    /// hundreds of characters): a text past that then gives fewer tokens than vectors, and
    /// callers name none.
    public func documentTokens(_ text: String) -> [DocumentToken]? {
        let read = String(text.prefix(settings.documentLength * 128))
        let (ids, spans) = tokenization.documentWithSpans(read)
        return zip(ids, spans).filter { !tokenization.skiplist.contains($0.0) }.map { id, span in
            DocumentToken(id: id, text: tokenization.tokenizer.token(forID: id) ?? "", span: span)
        }
    }

    public func tokenText(ofID id: Int) -> String? { tokenization.tokenizer.token(forID: id) }

    /// Number of vectors `encodeDocuments` returns for each text (tokens not in the skiplist).
    public func documentVectorCount(_ ids: [Int]) -> Int { ids.filter { !tokenization.skiplist.contains($0) }.count }

    private func tokenizeInParallel<T>(_ texts: [String], _ body: (String) -> T) -> [T] {
        var results = [T?](repeating: nil, count: texts.count)
        results.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            Parallel.forEach(texts.count) { i in (base + i).pointee = body(texts[i]) }
        }
        return results.map { $0! }
    }
}

/// The libraries' text pipelines (build, add, evaluation, the server) take any `TextEncoder`.
extension ColBERTEncoder: TextEncoder {}
