import Foundation
import Hummingbird
import PlaidCore
import PlaidIndex
#if canImport(Glibc)
import Glibc
#endif

/// The API's routes (docs/openapi.json), each a thin translation between JSON and a
/// `RetrievalService` call (`Translation.swift`); every error they throw is answered by
/// `ErrorMiddleware`. Bodies are parsed on `parser`'s threads, neither on the event loops nor on
/// the cooperative threads that answer `/health`.
func makeRouter(service: RetrievalService, access: AccessPolicy, parser: WorkerPool) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.middlewares.add(ErrorMiddleware(folders: service.folders))
    router.middlewares.add(AccessMiddleware(policy: access))
    let limit = service.limits.maxBodyBytes
    let timeout = service.limits.requestTimeout
    func body<T: Sendable>(_ read: @escaping @Sendable (JSONValue) throws -> T, _ request: Request, _ deadline: Deadline) async throws -> T {
        try await decoded(read, from: request, limit: limit, parser: parser, deadline: deadline)
    }

    router.get("health") { _, _ in jsonResponse(Data(#"{"status":"ok"}"#.utf8)) }
    router.get("info") { _, _ in
        try service.followCommits()
        return jsonResponse(try IndexDescription(try service.snapshot).json())
    }
    router.get("openapi.json") { _, _ in jsonResponse(Data(PackageResources.openapi_json)) }
    router.post("search") { request, _ in
        let deadline = Deadline(seconds: timeout)
        let search = try await body(SearchRequest.init(json:), request, deadline)
        let started = DispatchTime.now()
        let results = try await service.search(search.input, deadline: deadline)
        return try encoded(SearchResponse(results, tookMs: milliseconds(since: started)))
    }
    router.post("documents") { request, _ in
        let deadline = Deadline(seconds: timeout)
        try service.checkWritable()
        let add = try await body(AddRequest.init(json:), request, deadline)
        let written = try await service.add(add.documents.map(\.input), upsert: add.upsert, deadline: deadline)
        return try encoded(AddResponse(written), status: written.summary.replaced == 0 ? .created : .ok)
    }
    router.delete("documents") { request, _ in
        let deadline = Deadline(seconds: timeout)
        try service.checkWritable()
        let delete = try await body(DeleteRequest.init(json:), request, deadline)
        return try encoded(DeleteResponse(try await service.delete(ids: delete.ids, deadline: deadline)))
    }
    router.post("rerank") { request, _ in
        let deadline = Deadline(seconds: timeout)
        let rerank = try await body(RerankRequest.init(json:), request, deadline)
        let started = DispatchTime.now()
        let ranked = try await service.rerank(rerank.input, deadline: deadline)
        return try encoded(RerankResponse(ranked, tookMs: milliseconds(since: started)))
    }
    router.post("encode") { request, _ in
        let deadline = Deadline(seconds: timeout)
        let encode = try await body(EncodeRequest.init(json:), request, deadline)
        let embeddings = try await service.encode(encode.texts, as: encode.mode.embeddingMode, deadline: deadline)
        return try encoded(EncodeResponse(embeddings: embeddings.vectors, dim: embeddings.dim))
    }
    return router
}

/// The request's JSON body, read by `read` on `parser`: `Content-Type: application/json`
/// (415 otherwise), at most `limit` bytes (413), arrived before `deadline` (408: a body that
/// trickles in resets the idle timeout with every byte).
private func decoded<T: Sendable>(_ read: @escaping @Sendable (JSONValue) throws -> T, from request: Request, limit: Int,
                                  parser: WorkerPool, deadline: Deadline) async throws -> T {
    let type = request.headers[.contentType]
    if let type, !isJSON(type) {
        throw APIError(status: .unsupportedMediaType, message: "the body must be JSON sent with the header Content-Type: application/json, not \(type)")
    }
    if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
        throw APIError.tooLarge("the request body has \(length) bytes; the limit is \(limit) (--max-body-mib)")
    }
    let body: ByteBuffer
    do {
        body = try await collect(request.body, upTo: limit, before: deadline)
    } catch let error as APIError {
        throw error
    } catch let error as HTTPResponseError where error.status == .contentTooLarge {
        // NIO's too-many-bytes error for a chunked body, Hummingbird's for a declared length.
        throw APIError.tooLarge("the request body is over the limit of \(limit) bytes (--max-body-mib)")
    } catch {
        // The connection failed mid-body: a malformed chunk, or a body that ended early.
        throw APIError.badRequest("the request body could not be read as HTTP/1.1 (a malformed chunk, or fewer bytes than announced); send it again")
    }
    guard body.readableBytes > 0 else { throw APIError.badRequest("the request has no body; send a JSON object") }
    guard type != nil else {
        throw APIError(status: .unsupportedMediaType, message: "the body must be JSON sent with the header Content-Type: application/json, and the request has no Content-Type")
    }
    let size = body.readableBytes
    defer { if size >= MemoryRelease.threshold { MemoryRelease.soon() } }
    return try await parser.run { try read(try JSONReader.parseRequestBody(body.readableBytesView)) }
}

/// The whole body, or a 408 once `deadline` passes first.
private func collect(_ body: RequestBody, upTo limit: Int, before deadline: Deadline) async throws -> ByteBuffer {
    guard let remaining = deadline.remaining else { return try await body.collect(upTo: limit) }
    return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
        group.addTask { try await body.collect(upTo: limit) }
        group.addTask {
            try await Task.sleep(nanoseconds: remaining)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let collected = first else { throw bodyTooSlow(deadline) }
        return collected
    }
}

/// What a body still arriving at the deadline is answered: the connection closes after it.
private func bodyTooSlow(_ deadline: Deadline) -> APIError {
    APIError(status: .requestTimeout,
             message: "the request body did not arrive within the server's limit of \(shownSeconds(deadline.seconds)) s (--request-timeout); send it at once",
             headers: [.connection: "close"])
}

/// `application/json`, with parameters (`; charset=utf-8`) or without.
private func isJSON(_ type: String) -> Bool {
    type.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } == "application/json"
}

/// Large bodies leave the allocator holding their pages after they are freed; they go back to
/// the system once the request is done, so a burst of large requests does not stay resident.
enum MemoryRelease {
    static let threshold = 1 << 20
    private static let queue = DispatchQueue(label: "plaid-memory-release", qos: .utility)

    /// glibc's `malloc_trim`, which Swift's Glibc module does not expose; nil elsewhere.
    private static let trim: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(nil, "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
        return nil
        #endif
    }()

    /// Shortly after the request's values are freed (the handler returns first).
    static func soon() {
        guard let trim else { return }
        queue.asyncAfter(deadline: .now() + 0.2) { _ = trim(0) }
    }
}

private func encoded<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return jsonResponse(try encoder.encode(value), status: status)
}

private func milliseconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}
