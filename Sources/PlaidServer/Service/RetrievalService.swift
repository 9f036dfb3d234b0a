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
///
/// Bounds: every request is checked against `limits` before any work (items, texts and their
/// bytes, k, query vectors × k), and its `Deadline` is checked when its job starts and between
/// queries, encoder batches and stages, so no request holds a pool thread long past it.
final class RetrievalService: @unchecked Sendable {
    let indexPath: String
    let encoder: ColBERTEncoder?
    /// The folders an error shown to a client must not name.
    let folders: ServerFolders
    let limits: ServerConfiguration.Limits
    /// Serving searches only: no writer, no writer lock (so a read-only copy can be served).
    let readOnly: Bool

    private let searchPool: WorkerPool
    private let writePool: WorkerPool
    /// Touched only on the write pool. Nil when read-only, or after a failed commit whose reopening failed too.
    private var writer: IndexWriter?
    private let snapshotLock = NSLock()
    private var current: CompressedIndex
    /// Read-only: the manifest file `current` was opened from (see `followCommits`).
    private var openedManifest: String?
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

    init(indexPath: String, encoder: ColBERTEncoder?, threads: Int, limits: ServerConfiguration.Limits, readOnly: Bool = false) throws {
        self.indexPath = indexPath
        self.encoder = encoder
        folders = ServerFolders(index: indexPath, model: encoder?.modelDirectory)
        self.limits = limits
        self.readOnly = readOnly
        writer = readOnly ? nil : try IndexWriter(path: indexPath)
        openedManifest = RetrievalService.manifestVersion(indexPath)
        current = try CompressedIndex(path: indexPath)
        if let encoder {
            guard encoder.dimension == current.dim else {
                throw PlaidError.refused("the model \(encoder.modelName) makes vectors of dimension \(encoder.dimension) but the index at \(indexPath) has dimension \(current.dim); serve it with the model that built it")
            }
            if let recorded = current.codebook.model, !recorded.isSameModel(as: encoder.identity) {
                throw PlaidError.refused("the index at \(indexPath) was built with the model \(recorded.summary), not \(encoder.identity.summary); serve it with that model")
            }
        }
        // The pools start last: nothing above may throw once their threads run.
        searchPool = WorkerPool(threads: threads, name: "plaid-search")
        writePool = WorkerPool(threads: 1, name: "plaid-write")
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
                           message: "the index's last commit cannot be opened for search (\(APIError.from(error, hiding: folders).message)); the server retries on every request")
        }
    }

    /// Read-only: when another process has committed since (each commit renames a new manifest
    /// into place), searches from now on read its commit. A stat per request; nothing when writing.
    func followCommits() throws {
        guard readOnly, let version = RetrievalService.manifestVersion(indexPath) else { return }
        snapshotLock.lock()
        let seen = openedManifest == version
        snapshotLock.unlock()
        if seen { return }
        let fresh = try CompressedIndex(path: indexPath, reusing: try snapshot)
        snapshotLock.lock()
        current = fresh
        openedManifest = version
        snapshotLock.unlock()
    }

    /// The manifest's inode, size and modification time; nil without one (a version-1 index).
    private static func manifestVersion(_ indexPath: String) -> String? {
        var info = stat()
        guard stat((indexPath as NSString).appendingPathComponent(IndexComponent.manifest.fileName), &info) == 0 else { return nil }
        return "\(info.st_ino)-\(info.st_size)-\(info.st_mtim.tv_sec)-\(info.st_mtim.tv_nsec)"
    }

    /// Finishes queued work and releases the writer lock.
    func close() {
        searchPool.shutdown()
        writePool.shutdown()
        writer?.close()
    }

    // MARK: Search

    func search(_ request: SearchRequest, deadline: Deadline) async throws -> SearchResponse {
        let started = DispatchTime.now()
        let parameters = try searchParameters(of: request)
        if let texts = request.queries { try checkTexts(texts, "queries") }
        if let embeddings = request.queryEmbeddings {
            for (q, query) in embeddings.enumerated() {
                try checkTokens(query.rows, field: "query_embeddings[\(q)]")
                try checkWork(tokens: query.rows, k: parameters.k, field: "query_embeddings[\(q)]")
            }
        }
        let metadataFilter = try request.filter.map { MetadataFilter($0, parameters: request.filterParams ?? [], timeLimit: limits.filterTimeLimit) }
        if request.filter == nil, request.filterParams != nil { throw APIError.badRequest("filter_params goes with filter") }
        return try await searchPool.run {
            try deadline.check()
            try self.followCommits()
            let index = try self.snapshot
            let queries = try self.queryVectors(texts: request.queries, embeddings: request.queryEmbeddings, dim: index.dim, deadline: deadline)
            if request.queries != nil, let tokens = queries.first?.tokens { try self.checkWork(tokens: tokens, k: parameters.k, field: "queries") }
            try deadline.check()
            let filter = try metadataFilter.map { try index.documents(matching: $0) }
            let searcher = Searcher(index: index)
            let results = try queries.map { query in
                try deadline.check()
                return query.vectors.withUnsafeBufferPointer { searcher.search(query: $0.baseAddress!, tokens: query.tokens, parameters: parameters, filter: filter) }
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
        if let ncells = request.ncells { parameters.ncells = try checkRange(ncells, "ncells", limits.maxNcells, option: "--max-ncells") }
        if let ndocs = request.ndocs { parameters.ndocs = try checkRange(ndocs, "ndocs", limits.maxNdocs, option: "--max-ndocs") }
        if let threshold = request.centroidScoreThreshold { parameters.centroidScoreThreshold = threshold }
        return parameters
    }

    /// One query's vectors, flattened `[tokens, dim]`.
    struct QueryVectors { var vectors: [Float]; var tokens: Int }

    private func queryVectors(texts: [String]?, embeddings: [Matrix]?, dim: Int, deadline: Deadline) throws -> [QueryVectors] {
        switch (texts, embeddings) {
        case (let texts?, nil):
            try checkCount(texts.count, "queries")
            let encoder = try requireEncoder(for: "queries")
            var queries: [QueryVectors] = []
            for start in stride(from: 0, to: texts.count, by: RetrievalService.encoderBatch) {
                try deadline.check()
                let batch = Array(texts[start..<min(start + RetrievalService.encoderBatch, texts.count)])
                let encoded = try withEncoder { try encoder.encodeQueryEmbeddings(ids: batch.indices.map(String.init), texts: batch) }
                let perQuery = encoded.tokensPerQuery * encoded.dim
                queries += (0..<encoded.count).map {
                    QueryVectors(vectors: Array(encoded.values[($0 * perQuery)..<(($0 + 1) * perQuery)]), tokens: encoded.tokensPerQuery)
                }
            }
            return queries
        case (nil, let embeddings?):
            try checkCount(embeddings.count, "query_embeddings")
            return try embeddings.enumerated().map { q, rows in
                try checkTokens(rows.rows, field: "query_embeddings[\(q)]")
                return QueryVectors(vectors: try flatten(rows, dim: dim, field: "query_embeddings[\(q)]"), tokens: rows.rows)
            }
        case (nil, nil):
            throw APIError.badRequest("a search request needs \"queries\" (texts) or \"query_embeddings\"")
        default:
            throw APIError.badRequest("send \"queries\" or \"query_embeddings\", not both")
        }
    }

    // MARK: Writes

    func add(_ request: AddRequest, deadline: Deadline) async throws -> AddResponse {
        try checkWritable()
        try checkCount(request.documents.count, "documents")
        let index = try snapshot
        let (given, texts) = try documentVectors(request.documents, dim: index.dim)
        let ids = request.documents.map(\.id)
        let metadata: BatchMetadata = request.documents.reduce(into: [:]) { all, document in
            if let fields = document.metadata { all[document.id] = fields }
        }
        return try await writePool.run {
            try deadline.check()
            var vectors = given
            try self.encode(texts, into: &vectors, deadline: deadline)
            try deadline.check()   // the last point where it may be refused: after it, it commits
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

    func delete(_ request: DeleteRequest, deadline: Deadline) async throws -> DeleteResponse {
        try checkWritable()
        try checkCount(request.ids.count, "ids")
        return try await writePool.run {
            try deadline.check()
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
        try checkWritable()
        if writer == nil {
            do {
                writer = try IndexWriter(path: indexPath)
            } catch {
                throw APIError(status: .serviceUnavailable,
                               message: "the index cannot be opened for writing (\(APIError.from(error, hiding: folders).message)); the server retries on the next write")
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

    func rerank(_ request: RerankRequest, deadline: Deadline) async throws -> RerankResponse {
        let started = DispatchTime.now()
        try checkCount(request.documents.count, "documents")
        if let k = request.k { _ = try checkK(k) }
        if let query = request.query { try checkTexts([query], "query") }
        let dim = try encoder?.dimension ?? snapshot.dim
        return try await searchPool.run {
            try deadline.check()
            let query: [Float]
            switch (request.query, request.queryEmbeddings) {
            case (let text?, nil):
                let encoder = try self.requireEncoder(for: "query")
                query = try self.withEncoder { try encoder.encodeQueryEmbeddings(ids: ["query"], texts: [text]).values }
            case (nil, let rows?):
                try self.checkTokens(rows.rows, field: "query_embeddings")
                query = try self.flatten(rows, dim: dim, field: "query_embeddings")
            case (nil, nil): throw APIError.badRequest("a rerank request needs \"query\" (text) or \"query_embeddings\"")
            default: throw APIError.badRequest("send \"query\" or \"query_embeddings\", not both")
            }
            if let i = request.documents.firstIndex(where: { $0.metadata != nil }) {
                throw APIError.badRequest("documents[\(i)] of a rerank request takes no metadata")
            }
            var (vectors, texts) = try self.documentVectors(request.documents, dim: dim)
            try self.encode(texts, into: &vectors, deadline: deadline)
            try deadline.check()
            let documents = zip(request.documents, vectors).map { Reranker.Document(id: $0.id, vectors: $1) }
            let ranked = Reranker.rerank(query: query, dim: dim, documents: documents, k: request.k)
            return RerankResponse(results: ranked.map { .init(id: $0.id, score: $0.score) }, tookMs: milliseconds(since: started))
        }
    }

    func encode(_ request: EncodeRequest, deadline: Deadline) async throws -> EncodeResponse {
        try checkCount(request.texts.count, "texts")
        try checkTexts(request.texts, "texts")
        let encoder = try requireEncoder(for: "texts")
        return try await searchPool.run {
            let dim = encoder.dimension
            var flat: [[Float]] = []
            for start in stride(from: 0, to: request.texts.count, by: RetrievalService.encoderBatch) {
                try deadline.check()
                let batch = Array(request.texts[start..<min(start + RetrievalService.encoderBatch, request.texts.count)])
                flat += try self.withEncoder {
                    request.mode == .query ? try encoder.encodeQueries(batch) : try encoder.encodeDocuments(batch)
                }
            }
            let embeddings = flat.map { v in (0..<(v.count / dim)).map { Array(v[($0 * dim)..<(($0 + 1) * dim)]) } }
            return EncodeResponse(embeddings: embeddings, dim: dim)
        }
    }

    /// Each document's vectors, `[tokens · dim]`: its embeddings, checked and flattened, or for a
    /// text nothing yet (`encode(_:into:)` fills them in); and the texts by position. Texts need the model.
    private func documentVectors(_ documents: [DocumentInput], dim: Int) throws -> (vectors: [[Float]], texts: [(position: Int, text: String)]) {
        let textual = documents.indices.filter { documents[$0].text != nil }
        try checkTexts(textual.map { documents[$0].text! }, "documents", field: { "documents[\(textual[$0])].text" })
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

    /// Encodes the texts as documents into their places in `vectors`, a batch at a time.
    private func encode(_ texts: [(position: Int, text: String)], into vectors: inout [[Float]], deadline: Deadline) throws {
        guard let encoder, !texts.isEmpty else { return }
        for start in stride(from: 0, to: texts.count, by: RetrievalService.encoderBatch) {
            try deadline.check()
            let batch = texts[start..<min(start + RetrievalService.encoderBatch, texts.count)]
            let encoded = try withEncoder { try encoder.encodeDocuments(batch.map(\.text)) }
            for (j, text) in batch.enumerated() { vectors[text.position] = encoded[j] }
        }
    }

    /// Texts encoded per call between deadline checks: one of the encoder's batches.
    private static let encoderBatch = 32

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
        guard (1...limits.maxK).contains(k) else { throw APIError.badRequest("k must be between 1 and \(limits.maxK) (--max-k), not \(k)") }
        return k
    }

    private func checkRange(_ value: Int, _ field: String, _ limit: Int, option: String) throws -> Int {
        guard (1...limit).contains(value) else { throw APIError.badRequest("\(field) must be between 1 and \(limit) (\(option)), not \(value)") }
        return value
    }

    private func checkTokens(_ tokens: Int, field: String) throws {
        guard tokens <= limits.maxQueryTokens else {
            throw APIError.badRequest("\(field) has \(tokens) vectors; the limit is \(limits.maxQueryTokens) per query (--max-query-tokens)")
        }
    }

    /// A query's vectors times k: what its candidate generation and ranking cost grows with.
    private func checkWork(tokens: Int, k: Int, field: String) throws {
        guard tokens * k <= limits.maxTokensTimesK else {
            throw APIError.badRequest("\(field) has \(tokens) vectors at k = \(k), \(tokens * k) vectors × k; the limit is \(limits.maxTokensTimesK) (--max-tokens-times-k): send fewer vectors or a smaller k")
        }
    }

    /// Texts to encode: at most `maxTexts` in a request, each at most `maxTextBytes` of UTF-8.
    private func checkTexts(_ texts: [String], _ what: String, field: ((Int) -> String)? = nil) throws {
        guard texts.count <= limits.maxTexts else {
            throw APIError.tooLarge("\(what) holds \(texts.count) texts; the limit is \(limits.maxTexts) per request (--max-texts): send them in several requests")
        }
        if let i = texts.firstIndex(where: { $0.utf8.count > limits.maxTextBytes }) {
            let name = field?(i) ?? (what == "query" ? what : "\(what)[\(i)]")
            throw APIError.tooLarge("\(name) has \(texts[i].utf8.count) bytes; the limit is \(limits.maxTextBytes) per text (--max-text-bytes): split it")
        }
    }

    func checkWritable() throws {
        guard !readOnly else {
            throw APIError(status: .forbidden, message: "the server is read-only (--read-only) and takes no writes; send them to a server started without --read-only")
        }
    }

    private func checkCount(_ count: Int, _ field: String) throws {
        guard count >= 1 else { throw APIError.badRequest("\(field) is empty; send at least one") }
        guard count <= limits.maxItemsPerRequest else {
            throw APIError.tooLarge("\(field) holds \(count) items; the limit is \(limits.maxItemsPerRequest) per request (--max-items)")
        }
    }

    /// Rows of `dim` finite numbers, flattened; at least one row.
    private func flatten(_ rows: Matrix, dim: Int, field: String) throws -> [Float] {
        guard rows.rows > 0 else { throw APIError.badRequest("\(field) holds no vectors") }
        guard rows.width == dim else {
            throw APIError.badRequest("\(field)[0] has \(rows.width) numbers; the index's vectors have dimension \(dim)")
        }
        if let i = rows.values.firstIndex(where: { !$0.isFinite }) {
            throw APIError.badRequest("\(field)[\(i / dim)][\(i % dim)] is not a finite number")
        }
        for r in 0..<rows.rows {
            let norm = rows.values[(r * dim)..<((r + 1) * dim)].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            guard norm <= EmbeddingsLayout.maximumVectorNorm else {
                throw APIError.badRequest("\(field)[\(r)] has norm \(String(format: "%.3g", norm)); vectors may have norm at most \(Int(EmbeddingsLayout.maximumVectorNorm)) (ColBERT's are normalised to 1)")
            }
        }
        return rows.values
    }
}

private func milliseconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}
