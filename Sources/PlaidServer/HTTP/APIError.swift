import Foundation
import Hummingbird
import PlaidCore

/// An error a client caused or should know of, answered as `{"error": "one sentence"}` with its
/// status. Every error leaves a handler as one of these (see `ErrorMiddleware`): no stack trace
/// or internal type name reaches a client.
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var message: String
    /// Headers the answer carries besides its type (`WWW-Authenticate` for a 401).
    var headers: HTTPFields = [:]

    static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, message: message) }
    static func tooLarge(_ message: String) -> APIError { APIError(status: .contentTooLarge, message: message) }
    static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")

    /// A library or system error: the input's fault unless it is an I/O failure or a damaged
    /// index. The server's own paths never reach a client (the log keeps them): an error about
    /// the server's files loses every absolute path; an error about the input loses the
    /// server's own folders (`hiding`), and keeps the paths the client wrote itself, as in a
    /// filter's text. A full disk is a 507.
    static func from(_ error: Error, hiding folders: ServerFolders = ServerFolders()) -> APIError {
        if let error = error as? APIError { return error }
        if isNoSpace(error) {
            return APIError(status: insufficientStorage, message: "the server's disk is full (no space left on device), so the change was not committed; retry once space is freed")
        }
        if let error = error as? PlaidError {
            switch error {
            case .io(_, let detail):
                return APIError(status: .internalServerError, message: "reading or writing the index failed: \(withoutPaths(detail)); the server's log has the details")
            case .corruptIndex(_, let detail):
                return APIError(status: .internalServerError, message: "a file of the index is damaged: \(withoutPaths(detail)); the server's log names it")
            case .missingFile:
                return APIError(status: .internalServerError, message: "a file of the index is missing: \(withoutPaths(describe(error))); the server's log names it")
            default: return .badRequest(folders.hidden(in: describe(error, remedies: .http)))
            }
        }
        // Anything else is the server's own failure: the client gets no internals, the log gets them.
        return APIError(status: .internalServerError, message: "the server failed to answer; its log has the details")
    }

    /// ENOSPC, as a library error's text or a Foundation/POSIX error.
    private static func isNoSpace(_ error: Error) -> Bool {
        let text = String(cString: strerror(ENOSPC))
        if let error = error as? PlaidError {
            if case .io(_, let detail) = error { return detail.contains(text) }
            return false
        }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain, ns.code == Int(ENOSPC) { return true }
        if ns.domain == NSCocoaErrorDomain, ns.code == NSFileWriteOutOfSpaceError { return true }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError { return isNoSpace(underlying) }
        return false
    }

    /// `text` with every absolute path in it replaced by "the index".
    static func withoutPaths(_ text: String) -> String {
        absolutePath.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "the index")
    }

    // A "/" that starts a word, then anything up to a space, quote or bracket.
    private static let absolutePath = try! NSRegularExpression(pattern: #"(?<![\w.~-])/[^\s"'()\[\]{}<>,;]*[^\s"'()\[\]{}<>,;:.]"#)
}

extension Remedies {
    /// Remedies named by the API's JSON fields (docs/openapi.json).
    static let http = Remedies(
        upsert: "send \"upsert\": true", overwrite: "start the server on a new index", overwriteName: "overwrite",
        filterParameters: "\"filter_params\"", filterParameterValue: "filter_params value",
        build: "`plaid build` or `plaid serve --create`", indexPath: "--index path")
}

/// The server's folders, which an input error may name (the index "at PATH" it refuses a
/// document for, the model it was built with), each shown to clients by what it is.
struct ServerFolders: Sendable {
    private var names: [(path: String, name: String)] = []

    init(index: String? = nil, model: String? = nil) {
        for (path, name) in [(index, "the index"), (model, "the model"), (NSTemporaryDirectory(), "a temporary folder")] {
            guard let path, !path.isEmpty else { continue }
            // Absolute forms only: a relative name ("idx") would also match words of the text.
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            for variant in Set([absolute, URL(fileURLWithPath: absolute).resolvingSymlinksInPath().path]) where variant.count > 1 {
                names.append((variant.hasSuffix("/") ? String(variant.dropLast()) : variant, name))
            }
        }
        // Longest first, so that a folder inside another is named by itself.
        names.sort { $0.path.count > $1.path.count }
    }

    /// `text` with each server folder, and any path inside it, replaced by its name.
    func hidden(in text: String) -> String {
        var text = text
        for (path, name) in names {
            let pattern = NSRegularExpression.escapedPattern(for: path) + #"(?:/[^\s"'()\[\]{}<>,;]*[^\s"'()\[\]{}<>,;:.])?"#
            guard let regex = try? NSRegularExpression(pattern: pattern) else { continue }
            text = regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text),
                                                  withTemplate: NSRegularExpression.escapedTemplate(for: name))
        }
        return text
    }
}

/// Turns whatever a route throws into a JSON error answer, and answers unknown routes (a known
/// path with another method included: the router does not tell them apart) with one.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    var folders = ServerFolders()
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
            let apiError = APIError.from(error, hiding: folders)
            if apiError.status.code >= 500 {
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
    var response = jsonResponse(body, status: error.status)
    response.headers.append(contentsOf: error.headers)
    return response
}

func jsonResponse(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}
