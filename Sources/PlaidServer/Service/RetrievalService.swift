import Foundation
import PlaidCore
import PlaidEncoder
import PlaidIndex

/// What the HTTP routes call: the served index's writer and current snapshot, the optional
/// encoder, and the pools they run on. HTTP-free; each method takes a decoded request body and
/// returns the answer's body.
///
/// Concurrency: searches, reranks and encodings run on the search pool and read the snapshot
/// that is current when they start, so they never wait for a write. Writes run one after
/// another on a pool of one thread; each is one commit, and the snapshot is replaced before the
/// write is answered, so the next search sees it. A commit is on disk (fsync) before it is
/// answered.
final class RetrievalService: @unchecked Sendable {
    let indexPath: String
    let encoder: ColBERTEncoder?
    let limits: ServerConfiguration.Limits

    private let searchPool: WorkerPool
    private let writePool = WorkerPool(threads: 1, name: "plaid-write")
    /// Touched only on the write pool. Nil after a failed commit whose reopening failed too; the
    /// next write tries to open it again.
    private var writer: IndexWriter?
    private let snapshotLock = NSLock()
    private var current: CompressedIndex
    /// Why the last commit's snapshot could not be opened, while it cannot: searches would miss
    /// what was answered, so every request tries again first and is refused (503) until one succeeds.
    private var reopenFailure: Error?
    /// Opens a snapshot of the index after a commit; a test may put a failing one in its place.
    var openSnapshot: (_ path: String, _ previous: CompressedIndex) throws -> CompressedIndex = { path, previous in
        // Its own commit was just written, read back and flushed: no need to read every checksum
        // again, nor the centroids and segments the commit did not change.
        try CompressedIndex(path: path, verifyChecksums: false, reusing: previous)
    }
    /// Where failures that reach no client go (a merge after a landed commit, a failed reopen).
    var log: @Sendable (String) -> Void = { message in
        FileHandle.standardError.write(Data("plaid serve: \(message)\n".utf8))
    }
    /// The encoder runs one call at a time (each call already uses every core).
    private let encoderLock = NSLock()

    init(indexPath: String, encoder: ColBERTEncoder?, threads: Int, limits: ServerConfiguration.Limits) throws {
        self.indexPath = indexPath
        self.encoder = encoder
        self.limits = limits
        writer = try IndexWriter(path: indexPath)
        current = try CompressedIndex(path: indexPath)
        if let encoder {
            guard encoder.dimension == current.dim else {
                throw PlaidError.refused("the model \(encoder.modelName) makes vectors of dimension \(encoder.dimension) but the index at \(indexPath) has dimension \(current.dim); serve it with the model that built it")
            }
            if let recorded = current.codebook.model, !recorded.isSameModel(as: encoder.identity) {
                throw PlaidError.refused("the index at \(indexPath) was built with the model \(recorded.summary), not \(encoder.identity.summary); serve it with that model")
            }
        }
        searchPool = WorkerPool(threads: threads, name: "plaid-search")
    }

    /// The commit searches read now: the last one committed. Throws (503) while the last
    /// commit's snapshot cannot be opened.
    var snapshot: CompressedIndex {
        get throws {
            snapshotLock.lock()
            defer { snapshotLock.unlock() }
            if reopenFailure != nil { try install(Result { try openSnapshot(indexPath, current) }) }
            return current
        }
    }

    /// Makes `opened` (the current commit, opened) the snapshot; a failure to open keeps the old
    /// one but refuses to serve it. Call with `snapshotLock` held.
    private func install(_ opened: Result<CompressedIndex, Error>) throws {
        do {
            current = try opened.get()
            reopenFailure = nil
        } catch {
            if reopenFailure == nil { log("the index's last commit could not be opened for search: \(describe(error))") }
            reopenFailure = error
            throw APIError(status: .serviceUnavailable,
                           message: "the index's last commit cannot be opened for search (\(APIError.from(error).message)); the server retries on every request")
        }
    }

    /// Finishes queued work and releases the writer lock.
    func close() {
        searchPool.shutdown()
        writePool.shutdown()
        writer?.close()
    }

    // MARK: Search

    func search(_ request: SearchRequest) async throws -> SearchResponse {
        let started = DispatchTime.now()
        let parameters = try searchParameters(of: request)
        let metadataFilter = try request.filter.map { MetadataFilter($0, parameters: request.filterParams ?? []) }
        if request.filter == nil, request.filterParams != nil { throw APIError.badRequest("filter_params goes with filter") }
        return try await searchPool.run {
            let index = try self.snapshot
            let queries = try self.queryVectors(texts: request.queries, embeddings: request.queryEmbeddings, dim: index.dim)
            let filter = try metadataFilter.map { try index.documents(matching: $0) }
            let searcher = Searcher(index: index)
            let results = queries.map { query in
                query.vectors.withUnsafeBufferPointer { searcher.search(query: $0.baseAddress!, tokens: query.tokens, parameters: parameters, filter: filter) }
            }
            var metadata: [Int: [String: MetadataValue]] = [:]
            if request.includeMetadata ?? true, !index.metadataFields.isEmpty {
                metadata = try index.metadata(of: results.flatMap { $0.map(\.document) })
            }
            return SearchResponse(results: results.map { hits in
                hits.map { SearchResponse.Hit(id: $0.id, score: $0.score, metadata: metadata[$0.document]) }
            }, tookMs: milliseconds(since: started))
        }
    }

    /// PLAID's defaults for the request's k (10 if not given), with the parameters it sets.
    private func searchParameters(of request: SearchRequest) throws -> SearchParameters {
        var parameters = SearchParameters(k: try checkK(request.k ?? 10))
        if let ncells = request.ncells { parameters.ncells = try checkPositive(ncells, "ncells") }
        if let ndocs = request.ndocs { parameters.ndocs = try checkPositive(ndocs, "ndocs") }
        if let threshold = request.centroidScoreThreshold { parameters.centroidScoreThreshold = threshold }
        return parameters
    }

    /// One query's vectors, flattened `[tokens, dim]`.
    struct QueryVectors { var vectors: [Float]; var tokens: Int }

    private func queryVectors(texts: [String]?, embeddings: [[[Float]]]?, dim: Int) throws -> [QueryVectors] {
        switch (texts, embeddings) {
        case (let texts?, nil):
            try checkCount(texts.count, "queries")
            let encoder = try requireEncoder(for: "queries")
            let encoded = try withEncoder { try encoder.encodeQueryEmbeddings(ids: texts.indices.map(String.init), texts: texts) }
            let perQuery = encoded.tokensPerQuery * encoded.dim
            return (0..<encoded.count).map {
                QueryVectors(vectors: Array(encoded.values[($0 * perQuery)..<(($0 + 1) * perQuery)]), tokens: encoded.tokensPerQuery)
            }
        case (nil, let embeddings?):
            try checkCount(embeddings.count, "query_embeddings")
            return try embeddings.enumerated().map { q, rows in
                guard rows.count <= limits.maxQueryTokens else {
                    throw APIError.badRequest("query_embeddings[\(q)] has \(rows.count) vectors; the limit is \(limits.maxQueryTokens) per query")
                }
                return QueryVectors(vectors: try flatten(rows, dim: dim, field: "query_embeddings[\(q)]"), tokens: rows.count)
            }
        case (nil, nil):
            throw APIError.badRequest("a search request needs \"queries\" (texts) or \"query_embeddings\"")
        default:
            throw APIError.badRequest("send \"queries\" or \"query_embeddings\", not both")
        }
    }

    // MARK: Writes

    func add(_ request: AddRequest) async throws -> AddResponse {
        try checkCount(request.documents.count, "documents")
        let index = try snapshot
        let (given, texts) = try documentVectors(request.documents, dim: index.dim)
        let ids = request.documents.map(\.id)
        let metadata: BatchMetadata = request.documents.reduce(into: [:]) { all, document in
            if let fields = document.metadata { all[document.id] = fields }
        }
        return try await writePool.run {
            var vectors = given
            try self.encode(texts, into: &vectors)
            let batch = try DocumentBatch(ids: ids, documents: vectors, dim: index.dim, sourceName: "the request")
            // Vectors sent as numbers may come from any model; texts are this server's model's.
            if texts.count == ids.count { batch.model = self.encoder?.identity }
            let (summary, commit, manifest) = try self.commitWrite { writer in
                try writer.add(batch, metadata: metadata, upsert: request.upsert)
            }
            return AddResponse(added: summary.documents - summary.replaced, replaced: summary.replaced, tokens: summary.tokens,
                               newCentroids: summary.newCentroids, generation: commit.generation, documents: manifest.documentCount)
        }
    }

    func delete(_ request: DeleteRequest) async throws -> DeleteResponse {
        try checkCount(request.ids.count, "ids")
        return try await writePool.run {
            let (summary, commit, manifest) = try self.commitWrite { try $0.delete(ids: request.ids) }
            return DeleteResponse(deleted: summary.deleted, unknown: summary.unknown.count, unknownIDs: summary.unknown,
                                  generation: commit.generation, documents: manifest.documentCount)
        }
    }

    /// Stages a change, commits it, and makes the new commit the snapshot searches read.
    ///
    /// What was answered is what is served: an error means the commit did not land (a failed
    /// commit drops what was staged, by reopening the writer, so a refused request is never
    /// committed by a later one); an answer means it landed, even when the merge after it failed
    /// (logged, and tried again by the next write) or its snapshot could not be opened (then
    /// every request is refused until it can be). Returns the manifest committed.
    private func commitWrite<T>(_ change: (IndexWriter) throws -> T) throws -> (T, CommitSummary, Manifest) {
        if writer == nil {
            do {
                writer = try IndexWriter(path: indexPath)
            } catch {
                throw APIError(status: .serviceUnavailable,
                               message: "the index cannot be opened for writing (\(APIError.from(error).message)); the server retries on the next write")
            }
        }
        let writer = self.writer!
        // A write must not land while searches cannot see the commit before it.
        _ = try snapshot
        let result = try change(writer)
        let commit: CommitSummary
        do {
            commit = try writer.commit()
        } catch {
            writer.close()
            self.writer = try? IndexWriter(path: indexPath)
            throw error
        }
        if let failure = commit.maintenanceFailure {
            log("commit \(commit.generation) landed, but merging segments after it failed (the next write tries again): \(describe(failure))")
        }
        // Opened before taking the lock, so that searches do not wait for it; only this pool's
        // one thread replaces the snapshot after a commit.
        snapshotLock.lock()
        let previous = current
        snapshotLock.unlock()
        let opened = Result { try openSnapshot(indexPath, previous) }
        snapshotLock.lock()
        defer { snapshotLock.unlock() }
        // The commit has landed, so the write is answered whether or not its snapshot opens.
        try? install(opened)
        return (result, commit, writer.committed)
    }

    // MARK: Rerank and encode

    func rerank(_ request: RerankRequest) async throws -> RerankResponse {
        let started = DispatchTime.now()
        try checkCount(request.documents.count, "documents")
        if let k = request.k { _ = try checkK(k) }
        let dim = try encoder?.dimension ?? snapshot.dim
        return try await searchPool.run {
            let query: [Float]
            switch (request.query, request.queryEmbeddings) {
            case (let text?, nil):
                let encoder = try self.requireEncoder(for: "query")
                query = try self.withEncoder { try encoder.encodeQueryEmbeddings(ids: ["query"], texts: [text]).values }
            case (nil, let rows?):
                guard rows.count <= self.limits.maxQueryTokens else {
                    throw APIError.badRequest("query_embeddings has \(rows.count) vectors; the limit is \(self.limits.maxQueryTokens)")
                }
                query = try self.flatten(rows, dim: dim, field: "query_embeddings")
            case (nil, nil): throw APIError.badRequest("a rerank request needs \"query\" (text) or \"query_embeddings\"")
            default: throw APIError.badRequest("send \"query\" or \"query_embeddings\", not both")
            }
            if let i = request.documents.firstIndex(where: { $0.metadata != nil }) {
                throw APIError.badRequest("documents[\(i)] of a rerank request takes no metadata")
            }
            var (vectors, texts) = try self.documentVectors(request.documents, dim: dim)
            try self.encode(texts, into: &vectors)
            let documents = zip(request.documents, vectors).map { Reranker.Document(id: $0.id, vectors: $1) }
            let ranked = Reranker.rerank(query: query, dim: dim, documents: documents, k: request.k)
            return RerankResponse(results: ranked.map { .init(id: $0.id, score: $0.score) }, tookMs: milliseconds(since: started))
        }
    }

    func encode(_ request: EncodeRequest) async throws -> EncodeResponse {
        try checkCount(request.texts.count, "texts")
        let encoder = try requireEncoder(for: "texts")
        return try await searchPool.run {
            let dim = encoder.dimension
            let flat = try self.withEncoder {
                request.mode == .query ? try encoder.encodeQueries(request.texts) : try encoder.encodeDocuments(request.texts)
            }
            let embeddings = flat.map { v in (0..<(v.count / dim)).map { Array(v[($0 * dim)..<(($0 + 1) * dim)]) } }
            return EncodeResponse(embeddings: embeddings, dim: dim)
        }
    }

    /// Each document's vectors, `[tokens · dim]`: its embeddings, checked and flattened, or for a
    /// text nothing yet (`encode(_:into:)` fills them in); and the texts by position. Texts need the model.
    private func documentVectors(_ documents: [DocumentInput], dim: Int) throws -> (vectors: [[Float]], texts: [(position: Int, text: String)]) {
        var texts: [(position: Int, text: String)] = []
        let vectors = try documents.enumerated().map { i, document -> [Float] in
            switch (document.text, document.embeddings) {
            case (let text?, nil):
                _ = try requireEncoder(for: "documents[\(i)].text")
                texts.append((i, text))
                return []
            case (nil, let rows?): return try flatten(rows, dim: dim, field: "documents[\(i)].embeddings")
            case (nil, nil): throw APIError.badRequest("documents[\(i)] needs \"text\" or \"embeddings\"")
            default: throw APIError.badRequest("documents[\(i)] has both \"text\" and \"embeddings\"; send one")
            }
        }
        return (vectors, texts)
    }

    /// Encodes the texts as documents into their places in `vectors`.
    private func encode(_ texts: [(position: Int, text: String)], into vectors: inout [[Float]]) throws {
        guard let encoder, !texts.isEmpty else { return }
        let encoded = try withEncoder { try encoder.encodeDocuments(texts.map(\.text)) }
        for (j, text) in texts.enumerated() { vectors[text.position] = encoded[j] }
    }

    // MARK: Checks

    private func requireEncoder(for field: String) throws -> ColBERTEncoder {
        guard let encoder else {
            throw APIError.badRequest("\(field) holds text but the server has no model; send embeddings, or start the server with --model")
        }
        return encoder
    }

    private func withEncoder<T>(_ body: () throws -> T) rethrows -> T {
        encoderLock.lock()
        defer { encoderLock.unlock() }
        return try body()
    }

    private func checkK(_ k: Int) throws -> Int {
        guard (1...limits.maxK).contains(k) else { throw APIError.badRequest("k must be between 1 and \(limits.maxK), not \(k)") }
        return k
    }

    private func checkPositive(_ value: Int, _ field: String) throws -> Int {
        guard value >= 1 else { throw APIError.badRequest("\(field) must be at least 1, not \(value)") }
        return value
    }

    private func checkCount(_ count: Int, _ field: String) throws {
        guard count >= 1 else { throw APIError.badRequest("\(field) is empty; send at least one") }
        guard count <= limits.maxItemsPerRequest else {
            throw APIError.tooLarge("\(field) holds \(count) items; the limit is \(limits.maxItemsPerRequest) per request (--max-items)")
        }
    }

    /// Rows of `dim` finite numbers, flattened; at least one row.
    private func flatten(_ rows: [[Float]], dim: Int, field: String) throws -> [Float] {
        guard !rows.isEmpty else { throw APIError.badRequest("\(field) holds no vectors") }
        var flat: [Float] = []
        flat.reserveCapacity(rows.count * dim)
        for (r, row) in rows.enumerated() {
            guard row.count == dim else {
                throw APIError.badRequest("\(field)[\(r)] has \(row.count) numbers; the index's vectors have dimension \(dim)")
            }
            if let c = row.firstIndex(where: { !$0.isFinite }) {
                throw APIError.badRequest("\(field)[\(r)][\(c)] is not a finite number")
            }
            let norm = row.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            guard norm <= EmbeddingsLayout.maximumVectorNorm else {
                throw APIError.badRequest("\(field)[\(r)] has norm \(String(format: "%.3g", norm)); vectors may have norm at most \(Int(EmbeddingsLayout.maximumVectorNorm)) (ColBERT's are normalised to 1)")
            }
            flat += row
        }
        return flat
    }
}

private func milliseconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}
