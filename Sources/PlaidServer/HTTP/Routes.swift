import Foundation
import Hummingbird
import PlaidIndex

/// The API's routes (docs/openapi.json), each a thin translation between JSON and a
/// `RetrievalService` call.
func makeRouter(service: RetrievalService) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.middlewares.add(ErrorMiddleware())
    let limit = service.limits.maxBodyBytes

    router.get("health") { _, _ in jsonResponse(Data(#"{"status":"ok"}"#.utf8)) }
    router.get("info") { _, _ in jsonResponse(try IndexDescription(try service.snapshot).json()) }
    router.get("openapi.json") { _, _ in jsonResponse(Data(PackageResources.openapi_json)) }
    router.post("search") { request, _ in
        try encoded(await service.search(try await decoded(SearchRequest.init(json:), from: request, limit: limit)))
    }
    router.post("documents") { request, _ in
        let answer = try await service.add(try await decoded(AddRequest.init(json:), from: request, limit: limit))
        return try encoded(answer, status: answer.replaced == 0 ? .created : .ok)
    }
    router.delete("documents") { request, _ in
        try encoded(await service.delete(try await decoded(DeleteRequest.init(json:), from: request, limit: limit)))
    }
    router.post("rerank") { request, _ in
        try encoded(await service.rerank(try await decoded(RerankRequest.init(json:), from: request, limit: limit)))
    }
    router.post("encode") { request, _ in
        try encoded(await service.encode(try await decoded(EncodeRequest.init(json:), from: request, limit: limit)))
    }
    return router
}

/// The request's JSON body, read by `read`; larger than `limit` bytes is a 413.
private func decoded<T>(_ read: (JSONValue) throws -> T, from request: Request, limit: Int) async throws -> T {
    if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
        throw APIError.tooLarge("the request body has \(length) bytes; the limit is \(limit) (--max-body-mib)")
    }
    let body: ByteBuffer
    do {
        body = try await request.body.collect(upTo: limit)
    } catch let error as HTTPError where error.status == .contentTooLarge {
        throw APIError.tooLarge("the request body is over the limit of \(limit) bytes (--max-body-mib)")
    }
    guard body.readableBytes > 0 else { throw APIError.badRequest("the request has no body; send a JSON object") }
    return try read(try JSONReader.parse(body.readableBytesView))
}

private func encoded<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return jsonResponse(try encoder.encode(value), status: status)
}
