import Foundation
import PlaidCore
import PlaidIndex

/// What the HTTP routes call: the served index's writer and current snapshot, the optional
/// encoder, and the pools they run on. HTTP-free: each method takes plain inputs
/// (`ServiceInputs.swift`), returns plain results, and throws `ServiceError` or the libraries'
/// errors, which the front end phrases.
///
/// Concurrency: searches, reranks and encodings run on the search pool and read the snapshot
/// that is current when they start, so they never wait for a write. Writes run one after
/// another on a pool of one thread; each is one commit, and the snapshot is replaced before the
/// write is answered, so the next search sees it. A commit is on disk (fsync) before it is
/// answered.
///
/// Bounds: every request is checked against `limits` before any work (items, texts and their
/// bytes, k, query vectors × k), and its `Deadline` is checked when its job starts and between
/// queries, encoder chunks and stages, so no request holds a pool thread long past it.
final class RetrievalService: @unchecked Sendable {
    let indexPath: String
    /// The model, called by one request at a time.
    private let encoder: SerialEncoder?
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
    /// what was answered, so every request tries again first and is refused (`indexUnavailable`)
    /// until one succeeds.
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

    /// - Parameters:
    ///   - encoder: the model that encodes texts; without one, texts are refused (`noModel`).
    ///   - modelFolder: the folder it was loaded from, which errors shown to clients must not name.
    init(indexPath: String, encoder: TextEncoder?, modelFolder: String? = nil, threads: Int,
         limits: ServerConfiguration.Limits, readOnly: Bool = false) throws {
        // Absolute, so that every message naming a file of the index is one `folders` hides from clients.
        let indexPath = URL(fileURLWithPath: indexPath).standardizedFileURL.path
        self.indexPath = indexPath
        self.encoder = encoder.map(SerialEncoder.init)
        folders = ServerFolders(index: indexPath, model: modelFolder)
        self.limits = limits
        self.readOnly = readOnly
        writer = readOnly ? nil : try IndexWriter(path: indexPath)
        openedManifest = CompressedIndex.commitStamp(ofIndexAt: indexPath)
        current = try CompressedIndex(path: indexPath)
        if let encoder {
            guard encoder.dimension == current.dim else {
                throw PlaidError.refused("the model \(encoder.identity.name) makes vectors of dimension \(encoder.dimension) but the index at \(indexPath) has dimension \(current.dim); serve it with the model that built it")
            }
            if let recorded = current.codebook.model, !recorded.isSameModel(as: encoder.identity) {
                throw PlaidError.refused("the index at \(indexPath) was built with the model \(recorded.summary), not \(encoder.identity.summary); serve it with that model")
            }
        }
        // The pools start last: nothing above may throw once their threads run.
        searchPool = WorkerPool(threads: threads, name: "plaid-search")
        writePool = WorkerPool(threads: 1, name: "plaid-write")
    }

    /// The commit searches read now: the last one committed. Throws (`indexUnavailable`) while
    /// the last commit's snapshot cannot be opened.
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
            throw ServiceError.indexUnavailable(.search, cause: error)
        }
    }

    /// Read-only: when another process has committed since (each commit renames a new manifest
    /// into place), searches from now on read its commit. A stat per request; nothing when writing.
    func followCommits() throws {
        guard readOnly, let version = CompressedIndex.commitStamp(ofIndexAt: indexPath) else { return }
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


    /// Finishes queued work and releases the writer lock.
    func close() {
        searchPool.shutdown()
        writePool.shutdown()
        writer?.close()
    }

    // MARK: Search

    func search(_ search: Search, deadline: Deadline) async throws -> SearchResults {
        let parameters = try searchParameters(of: search)
        if let texts = search.texts { try checkTexts(texts, in: .queryTexts, each: ServiceError.Input.queryText) }
        if let queries = search.vectors {
            for (q, query) in queries.enumerated() {
                try checkQueryVectors(query.count, in: .queryVectors(q))
                try checkWork(vectors: query.count, k: parameters.k, in: .queryVectors(q))
            }
        }
        let metadataFilter = search.filter.map { MetadataFilter($0, parameters: search.filterParameters ?? [], timeLimit: limits.filterTimeLimit) }
        if search.filter == nil, search.filterParameters != nil { throw ServiceError.filterParametersWithoutFilter }
        if search.mode != .plaid, search.texts == nil { throw ServiceError.textModeWithoutTexts(search.mode) }
        return try await searchPool.run {
            try deadline.check()
            try self.followCommits()
            let index = try self.snapshot
            // Refused before any encoding when the index stores no text.
            let modeSearch = try ModeSearch(index: index, mode: search.mode, fusion: search.fusion)
            var queries: [QueryVectors]?
            if modeSearch.needsEmbeddings || search.matches {
                queries = try self.queryVectors(of: search, dim: index.dim, deadline: deadline)
                if search.texts != nil, let tokens = queries?.first?.tokens { try self.checkWork(vectors: tokens, k: parameters.k, in: .queryTexts) }
            } else if let texts = search.texts {
                try self.checkCount(texts.count, .queryTexts)
            }
            let count = queries?.count ?? search.texts?.count ?? 0
            try self.checkAnswerSize(queries: count, k: parameters.k, matchedTokens: search.matches ? queries?.map(\.tokens).max() : nil,
                                     in: search.texts != nil ? .queryTexts : .queryVectorSets)
            try deadline.check()
            let filter = try metadataFilter.map { try index.documents(matching: $0) }
            let hits = try (0..<count).map { q -> [SearchResult] in
                try deadline.check()
                return try modeSearch.search(question: search.texts?[q], query: modeSearch.needsEmbeddings ? queries?[q].vectors : nil,
                                             tokens: queries?[q].tokens ?? 0, parameters: parameters, filter: filter)
            }
            var results = SearchResults(hits: hits, metadata: [:])
            if search.includeMetadata, !index.metadataFields.isEmpty {
                results.metadata = try index.metadata(of: hits.flatMap { $0.map(\.document) })
            }
            if search.matches, let queries {
                results.matches = try hits.enumerated().map { q, results in
                    try MatchedTokens.of(documents: results.map(\.document), in: index, query: queries[q].vectors, tokens: queries[q].tokens,
                                         question: search.texts?[q], encoder: self.encoder, beforeEachDocument: deadline.check)
                }
            }
            if search.includeText { results.texts = try self.storedTexts(of: hits, in: index, deadline: deadline) }
            return results
        }
    }

    /// The stored texts of `hits` by document. Each hit repeats its text in the answer: their sum
    /// is bounded as a request body is.
    private func storedTexts(of hits: [[SearchResult]], in index: CompressedIndex, deadline: Deadline) throws -> [Int: DocumentText] {
        var texts: [Int: DocumentText] = [:]
        var bytes = 0
        for hit in hits.joined() {
            let text = try texts[hit.document] ?? index.storedText(ofDocument: hit.document)
            bytes += (text?.text.utf8.count ?? 0) + (text?.title?.utf8.count ?? 0)
            guard bytes <= limits.maxBodyBytes else {
                throw ServiceError.limitExceeded(.answerTextBytes, value: bytes, maximum: limits.maxBodyBytes, in: .includeText)
            }
            try deadline.check()
            texts[hit.document] = text
        }
        return texts
    }

    /// PLAID's defaults for the search's k (10 if not given), with the parameters it sets.
    private func searchParameters(of search: Search) throws -> SearchParameters {
        var parameters = SearchParameters(k: try checkK(search.k ?? 10))
        if let ncells = search.ncells { parameters.ncells = try checkRange(ncells, .ncells, limits.maxNcells) }
        if let ndocs = search.ndocs { parameters.ndocs = try checkRange(ndocs, .ndocs, limits.maxNdocs) }
        if let threshold = search.centroidScoreThreshold { parameters.centroidScoreThreshold = threshold }
        return parameters
    }

    /// One query's vectors, flattened `[tokens, dim]`.
    struct QueryVectors { var vectors: [Float]; var tokens: Int }

    private func queryVectors(of search: Search, dim: Int, deadline: Deadline) throws -> [QueryVectors] {
        switch (search.texts, search.vectors) {
        case (let texts?, nil):
            try checkCount(texts.count, .queryTexts)
            let encoder = try requireEncoder(for: .queryTexts)
            return try encodedQueries(texts, with: encoder, deadline: deadline).map { QueryVectors(vectors: $0, tokens: encoder.queryLength) }
        case (nil, let queries?):
            try checkCount(queries.count, .queryVectorSets)
            return try queries.enumerated().map { q, query in
                try checkQueryVectors(query.count, in: .queryVectors(q))
                return QueryVectors(vectors: try checked(query, dim: dim, in: .queryVectors(q)), tokens: query.count)
            }
        case (nil, nil):
            throw ServiceError.missing(.searchQueries)
        default:
            throw ServiceError.contradicting(.searchQueries)
        }
    }

    // MARK: Writes

    /// Adds the documents in one commit; `upsert` replaces live documents of the same ids.
    func add(_ documents: [Document], upsert: Bool, deadline: Deadline) async throws -> Written<AddSummary> {
        try checkWritable()
        try checkCount(documents.count, .documents)
        let index = try snapshot
        let (given, texts) = try documentVectors(documents, dim: index.dim)
        let ids = documents.map(\.id)
        let metadata: BatchMetadata = documents.reduce(into: [:]) { all, document in
            if let fields = document.metadata { all[document.id] = fields }
        }
        return try await writePool.run {
            try deadline.check()
            var vectors = given
            try self.encodeDocuments(texts, into: &vectors, deadline: deadline)
            try deadline.check()   // the last point where it may be refused: after it, it commits
            let batch = try DocumentBatch(ids: ids, documents: vectors, dim: index.dim, sourceName: "the request")
            // Vectors sent as numbers may come from any model; texts are this server's model's.
            if texts.count == ids.count { batch.model = self.encoder?.identity }
            // A document sent as text keeps it, with its tokens, when the index stores text (one
            // sent as vectors, an empty one).
            let stored: BatchTexts = !index.storesText ? [:] : documents.reduce(into: [:]) { all, document in
                guard let text = document.text else { return }
                let kept = DocumentText(text: text)
                all[ByteExactID(document.id)] = self.encoder.map { kept.tokenized(by: $0) } ?? kept
            }
            let (summary, commit, manifest) = try self.commitWrite { writer in
                try writer.add(batch, metadata: metadata, texts: stored, upsert: upsert)
            }
            return Written(summary: summary, generation: commit.generation, documents: manifest.documentCount)
        }
    }

    /// Deletes the live documents of `ids` in one commit; ids that name none are reported.
    func delete(ids: [String], deadline: Deadline) async throws -> Written<DeleteSummary> {
        try checkWritable()
        try checkCount(ids.count, .ids)
        return try await writePool.run {
            try deadline.check()
            let (summary, commit, manifest) = try self.commitWrite { try $0.delete(ids: ids) }
            return Written(summary: summary, generation: commit.generation, documents: manifest.documentCount)
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
                throw ServiceError.indexUnavailable(.write, cause: error)
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

    /// The documents ordered by exact MaxSim with the query, best first, the first `k` of them.
    func rerank(_ rerank: Rerank, deadline: Deadline) async throws -> [SearchResult] {
        try checkCount(rerank.documents.count, .documents)
        if let k = rerank.k { _ = try checkK(k) }
        if let query = rerank.queryText { try checkTexts([query], in: .rerankQueryText) { _ in .rerankQueryText } }
        let dim = try encoder?.dimension ?? snapshot.dim
        return try await searchPool.run {
            try deadline.check()
            let query: [Float]
            switch (rerank.queryText, rerank.queryVectors) {
            case (let text?, nil):
                let encoder = try self.requireEncoder(for: .rerankQueryText)
                query = try self.encodedQueries([text], with: encoder, deadline: deadline)[0]
            case (nil, let vectors?):
                try self.checkQueryVectors(vectors.count, in: .rerankQueryVectors)
                query = try self.checked(vectors, dim: dim, in: .rerankQueryVectors)
            case (nil, nil): throw ServiceError.missing(.rerankQuery)
            default: throw ServiceError.contradicting(.rerankQuery)
            }
            if let i = rerank.documents.firstIndex(where: { $0.metadata != nil }) {
                throw ServiceError.metadataInRerank(document: i)
            }
            var (vectors, texts) = try self.documentVectors(rerank.documents, dim: dim)
            try self.encodeDocuments(texts, into: &vectors, deadline: deadline)
            try deadline.check()
            let documents = zip(rerank.documents, vectors).map { Reranker.Document(id: $0.id, vectors: $1) }
            return Reranker.rerank(query: query, dim: dim, documents: documents, k: rerank.k)
        }
    }

    /// Each text's vectors as the model encodes a query (`.query`) or a document.
    func encode(_ texts: [String], as mode: EmbeddingMode, deadline: Deadline) async throws -> Encoded {
        try checkCount(texts.count, .texts)
        try checkTexts(texts, in: .texts, each: ServiceError.Input.text)
        let encoder = try requireEncoder(for: .texts)
        return try await searchPool.run {
            let dim = encoder.dimension
            let flat = try encoder.vectors(of: texts, as: mode, chunk: RetrievalService.encoderChunk,
                                           batchSize: RetrievalService.encoderChunk, beforeEachChunk: deadline.check)
            return Encoded(vectors: flat.map { v in (0..<(v.count / dim)).map { Array(v[($0 * dim)..<(($0 + 1) * dim)]) } }, dim: dim)
        }
    }

    /// Each document's vectors, `[tokens · dim]`: its vectors, checked, or for a text nothing
    /// yet (`encodeDocuments` fills them in); and the texts by position. Texts need the model.
    private func documentVectors(_ documents: [Document], dim: Int) throws -> (vectors: [[Float]], texts: [(position: Int, text: String)]) {
        let textual = documents.indices.filter { documents[$0].text != nil }
        try checkTexts(textual.map { documents[$0].text! }, in: .documents) { .documentText(textual[$0]) }
        var texts: [(position: Int, text: String)] = []
        let vectors = try documents.enumerated().map { i, document -> [Float] in
            switch (document.text, document.vectors) {
            case (let text?, nil):
                _ = try requireEncoder(for: .documentText(i))
                texts.append((i, text))
                return []
            case (nil, let vectors?): return try checked(vectors, dim: dim, in: .documentVectors(i))
            case (nil, nil): throw ServiceError.missing(.document(i))
            default: throw ServiceError.contradicting(.document(i))
            }
        }
        return (vectors, texts)
    }

    /// Encodes the texts as documents into their places in `vectors`, the library's way.
    private func encodeDocuments(_ texts: [(position: Int, text: String)], into vectors: inout [[Float]], deadline: Deadline) throws {
        guard let encoder, !texts.isEmpty else { return }
        let encoded = try encoder.vectors(of: texts.map(\.text), as: .document, chunk: RetrievalService.encoderChunk,
                                          batchSize: RetrievalService.encoderChunk, beforeEachChunk: deadline.check)
        for (text, v) in zip(texts, encoded) { vectors[text.position] = v }
    }

    /// Queries encoded the library's way, each padded with zero vectors to the model's query
    /// length (as `encodeQueryEmbeddings` pads them for search), `[queryLength · dim]`.
    private func encodedQueries(_ texts: [String], with encoder: TextEncoder, deadline: Deadline) throws -> [[Float]] {
        let length = encoder.queryLength * encoder.dimension
        let encoded = try encoder.vectors(of: texts, as: .query, chunk: RetrievalService.encoderChunk,
                                          batchSize: RetrievalService.encoderChunk, beforeEachChunk: deadline.check)
        return encoded.map { v in Array(v.prefix(length)) + [Float](repeating: 0, count: length - min(v.count, length)) }
    }

    /// Texts encoded per call to the model, between deadline checks: one of the encoder's batches.
    private static let encoderChunk = 32

    // MARK: Checks

    private func requireEncoder(for input: ServiceError.Input) throws -> SerialEncoder {
        guard let encoder else { throw ServiceError.noModel(input) }
        return encoder
    }

    private func checkK(_ k: Int) throws -> Int {
        try checkRange(k, .k, limits.maxK)
    }

    private func checkRange(_ value: Int, _ parameter: ServiceError.Parameter, _ maximum: Int) throws -> Int {
        guard (1...maximum).contains(value) else { throw ServiceError.outOfRange(parameter, value: value, maximum: maximum) }
        return value
    }

    private func checkQueryVectors(_ count: Int, in input: ServiceError.Input) throws {
        guard count <= limits.maxQueryTokens else {
            throw ServiceError.limitExceeded(.queryVectors, value: count, maximum: limits.maxQueryTokens, in: input)
        }
    }

    /// A query's vectors times k: what its candidate generation and ranking cost grows with.
    private func checkWork(vectors: Int, k: Int, in input: ServiceError.Input) throws {
        guard vectors * k <= limits.maxTokensTimesK else {
            throw ServiceError.limitExceeded(.vectorsTimesK(vectors: vectors, k: k), value: vectors * k, maximum: limits.maxTokensTimesK, in: input)
        }
    }

    /// The entries an answer may carry: each query's k results, and with matches an entry per
    /// query token of each, so that the answer's size and the memory that makes it are bounded.
    private func checkAnswerSize(queries: Int, k: Int, matchedTokens: Int?, in input: ServiceError.Input) throws {
        let entries = queries * k * (1 + (matchedTokens ?? 0))
        guard entries <= limits.maxResults else {
            throw ServiceError.limitExceeded(.results(queries: queries, k: k, matchedTokens: matchedTokens), value: entries,
                                             maximum: limits.maxResults, in: input)
        }
    }

    /// Texts to encode: at most `maxTexts` in a request, each at most `maxTextBytes` of UTF-8;
    /// `each(i)` names text i.
    private func checkTexts(_ texts: [String], in input: ServiceError.Input, each: (Int) -> ServiceError.Input) throws {
        guard texts.count <= limits.maxTexts else {
            throw ServiceError.limitExceeded(.texts, value: texts.count, maximum: limits.maxTexts, in: input)
        }
        if let i = texts.firstIndex(where: { $0.utf8.count > limits.maxTextBytes }) {
            throw ServiceError.limitExceeded(.textBytes, value: texts[i].utf8.count, maximum: limits.maxTextBytes, in: each(i))
        }
    }

    func checkWritable() throws {
        guard !readOnly else { throw ServiceError.readOnly }
    }

    private func checkCount(_ count: Int, _ input: ServiceError.Input) throws {
        guard count >= 1 else { throw ServiceError.empty(input) }
        guard count <= limits.maxItemsPerRequest else {
            throw ServiceError.limitExceeded(.items, value: count, maximum: limits.maxItemsPerRequest, in: input)
        }
    }

    /// The vectors' numbers, once checked: rows of `dim` finite numbers of at most the norm an
    /// index can score; at least one row.
    private func checked(_ vectors: Vectors, dim: Int, in input: ServiceError.Input) throws -> [Float] {
        guard vectors.count > 0 else { throw ServiceError.invalidVectors(input, .none) }
        guard vectors.width == dim else { throw ServiceError.invalidVectors(input, .dimension(found: vectors.width, expected: dim)) }
        if let i = vectors.values.firstIndex(where: { !$0.isFinite }) {
            throw ServiceError.invalidVectors(input, .notFinite(row: i / dim, column: i % dim))
        }
        for r in 0..<vectors.count {
            let norm = vectors.values[(r * dim)..<((r + 1) * dim)].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            guard norm <= EmbeddingsLayout.maximumVectorNorm else {
                throw ServiceError.invalidVectors(input, .norm(row: r, norm: norm, maximum: EmbeddingsLayout.maximumVectorNorm))
            }
        }
        return vectors.values
    }
}
