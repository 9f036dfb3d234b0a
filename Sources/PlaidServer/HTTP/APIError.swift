import Foundation
import Hummingbird
import PlaidCore

/// An error a client caused or should know of, answered as `{"error": "one sentence"}` with its
/// status. Every error leaves a handler as one of these (see `ErrorMiddleware`): no stack trace
/// or internal type name reaches a client.
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var message: String

    static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, message: message) }
    static func tooLarge(_ message: String) -> APIError { APIError(status: .contentTooLarge, message: message) }

    /// A library error: the input's fault unless it is an I/O failure or a damaged index.
    static func from(_ error: Error) -> APIError {
        if let error = error as? APIError { return error }
        if let error = error as? PlaidError {
            switch error {
            case .io, .corruptIndex: return APIError(status: .internalServerError, message: describe(error))
            default: return .badRequest(describe(error))
            }
        }
        // Anything else is the server's own failure: the client gets no internals, the log gets them.
        return APIError(status: .internalServerError, message: "the server failed to answer; its log has the details")
    }
}

/// Turns whatever a route throws into a JSON error answer, and answers unknown routes (a known
/// path with another method included: the router does not tell them apart) with one.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            switch error.status {
            case .notFound:
                return jsonError(APIError(status: .notFound, message: "no route \(request.method) \(request.uri.path); GET /openapi.json lists the API"))
            case .contentTooLarge:
                return jsonError(.tooLarge("the request body is larger than the server's limit (--max-body-mib)"))
            default:
                return jsonError(APIError(status: error.status, message: error.body ?? error.status.reasonPhrase))
            }
        } catch {
            let apiError = APIError.from(error)
            if apiError.status == .internalServerError {
                context.logger.error("\(request.method) \(request.uri.path) failed: \(describe(error))")
            }
            return jsonError(apiError)
        }
    }
}

func jsonError(_ error: APIError) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .withoutEscapingSlashes
    let body = (try? encoder.encode(["error": error.message])) ?? Data(#"{"error":"internal error"}"#.utf8)
    return jsonResponse(body, status: error.status)
}

func jsonResponse(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}
