import Foundation
import Hummingbird
import PlaidCore

/// An error a client caused or should know of, answered as `{"error": "one sentence"}` with its
/// status. Every error leaves a handler as one of these, made by `from` (see `ErrorMiddleware`):
/// no stack trace or internal type name reaches a client.
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var message: String
    /// Headers the answer carries besides its type (`WWW-Authenticate` for a 401).
    var headers: HTTPFields = [:]

    static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, message: message) }
    static func tooLarge(_ message: String) -> APIError { APIError(status: .contentTooLarge, message: message) }
    static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")

    /// The one place where errors become answers. A service error is phrased in the API's terms
    /// (`init(_:hiding:)`). A library or system error is the input's fault unless it is an I/O
    /// failure or a damaged index. The server's own paths never reach a client (the log keeps
    /// them): an error about the server's files loses every absolute path; an error about the
    /// input loses the server's own folders (`hiding`), and keeps the paths the client wrote
    /// itself, as in a filter's text. A full disk is a 507.
    static func from(_ error: Error, hiding folders: ServerFolders = ServerFolders()) -> APIError {
        if let error = error as? APIError { return error }
        if let error = error as? ServiceError { return APIError(error, hiding: folders) }
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
            if case .insufficientSpace = error { return true }
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

extension APIError {
    /// A service error in the API's terms: its status, the JSON field it is about, and the
    /// server option that sets the limit it names.
    init(_ error: ServiceError, hiding folders: ServerFolders) {
        switch error {
        case let .limitExceeded(limit, value, maximum, input):
            self = APIError.exceeding(limit, value: value, maximum: maximum, in: input.field)
        case let .outOfRange(parameter, value, maximum):
            self = .badRequest("\(parameter.field) must be between 1 and \(maximum) (\(parameter.option)), not \(value)")
        case let .empty(input):
            self = .badRequest("\(input.field) is empty; send at least one")
        case .missing(.searchQueries):
            self = .badRequest("a search request needs \"queries\" (texts) or \"query_embeddings\"")
        case .missing(.rerankQuery):
            self = .badRequest("a rerank request needs \"query\" (text) or \"query_embeddings\"")
        case .missing(.document(let i)):
            self = .badRequest("documents[\(i)] needs \"text\" or \"embeddings\"")
        case .contradicting(.searchQueries):
            self = .badRequest("send \"queries\" or \"query_embeddings\", not both")
        case .contradicting(.rerankQuery):
            self = .badRequest("send \"query\" or \"query_embeddings\", not both")
        case .contradicting(.document(let i)):
            self = .badRequest("documents[\(i)] has both \"text\" and \"embeddings\"; send one")
        case let .metadataInRerank(i):
            self = .badRequest("documents[\(i)] of a rerank request takes no metadata")
        case .filterParametersWithoutFilter:
            self = .badRequest("filter_params goes with filter")
        case let .invalidVectors(input, problem):
            self = .badRequest(APIError.sentence(problem, in: input.field))
        case let .noModel(input):
            self = .badRequest("\(input.field) holds text but the server has no model; send embeddings, or start the server with --model")
        case let .textModeWithoutTexts(mode):
            self = .badRequest("mode \(mode.rawValue) searches the queries' text; send them in queries, not query_embeddings")
        case .readOnly:
            self = APIError(status: .forbidden, message: "the server is read-only (--read-only) and takes no writes; send them to a server started without --read-only")
        case let .indexUnavailable(.search, cause):
            self = APIError(status: .serviceUnavailable,
                            message: "the index's last commit cannot be opened for search (\(APIError.from(cause, hiding: folders).message)); the server retries on every request")
        case let .indexUnavailable(.write, cause):
            self = APIError(status: .serviceUnavailable,
                            message: "the index cannot be opened for writing (\(APIError.from(cause, hiding: folders).message)); the server retries on the next write")
        case let .timeout(seconds):
            self = APIError(status: .serviceUnavailable,
                            message: "the request ran past the server's limit of \(shownSeconds(seconds)) s (--request-timeout); send fewer or smaller queries or texts per request")
        }
    }

    /// A limit of the server's configuration: the items, texts and bytes a request sends are
    /// too large (413); the vectors of a query and their product with k are a bad request (400).
    private static func exceeding(_ limit: ServiceError.Limit, value: Int, maximum: Int, in field: String) -> APIError {
        switch limit {
        case .items:
            return .tooLarge("\(field) holds \(value) items; the limit is \(maximum) per request (--max-items)")
        case .texts:
            return .tooLarge("\(field) holds \(value) texts; the limit is \(maximum) per request (--max-texts): send them in several requests")
        case .textBytes:
            return .tooLarge("\(field) has \(value) bytes; the limit is \(maximum) per text (--max-text-bytes): split it")
        case .queryVectors:
            return .badRequest("\(field) has \(value) vectors; the limit is \(maximum) per query (--max-query-tokens)")
        case let .vectorsTimesK(vectors, k):
            return .badRequest("\(field) has \(vectors) vectors at k = \(k), \(value) vectors × k; the limit is \(maximum) (--max-tokens-times-k): send fewer vectors or a smaller k")
        case let .results(queries, k, matchedTokens):
            let matches = matchedTokens.map { " with the matches of up to \($0) query tokens each" } ?? ""
            return .tooLarge("this search asks for \(queries) queries × k = \(k) results\(matches), \(value) entries; the limit is \(maximum) per answer (--max-results): send fewer queries per request or a smaller k")
        case .answerTextBytes:
            return .tooLarge("the stored texts of these results come to more than \(maximum) bytes, the most one answer carries (--max-body-mib): ask for fewer queries or results, or leave out \(field)")
        }
    }

    private static func sentence(_ problem: ServiceError.VectorProblem, in field: String) -> String {
        switch problem {
        case .none: return "\(field) holds no vectors"
        case let .dimension(found, expected): return "\(field)[0] has \(found) numbers; the index's vectors have dimension \(expected)"
        case let .notFinite(row, column): return "\(field)[\(row)][\(column)] is not a finite number"
        case let .norm(row, norm, maximum):
            return "\(field)[\(row)] has norm \(String(format: "%.3g", norm)); vectors may have norm at most \(Int(maximum)) (ColBERT's are normalised to 1)"
        }
    }
}

/// `--request-timeout`'s seconds as an option would be written: "60", "0.5".
func shownSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
}

extension ServiceError.Input {
    /// The JSON field of a request body that holds this input, with its path.
    var field: String {
        switch self {
        case .queryTexts: return "queries"
        case .queryText(let i): return "queries[\(i)]"
        case .queryVectorSets, .rerankQueryVectors: return "query_embeddings"
        case .queryVectors(let i): return "query_embeddings[\(i)]"
        case .rerankQueryText: return "query"
        case .documents: return "documents"
        case .documentText(let i): return "documents[\(i)].text"
        case .documentVectors(let i): return "documents[\(i)].embeddings"
        case .ids: return "ids"
        case .texts: return "texts"
        case .text(let i): return "texts[\(i)]"
        case .includeText: return "include_text"
        }
    }
}

extension ServiceError.Parameter {
    /// The search request's field, and the option of `plaid serve` that sets its maximum.
    var field: String {
        switch self {
        case .k: return "k"
        case .ncells: return "ncells"
        case .ndocs: return "ndocs"
        }
    }

    var option: String {
        switch self {
        case .k: return "--max-k"
        case .ncells: return "--max-ncells"
        case .ndocs: return "--max-ndocs"
        }
    }
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
        // Only the server's own folders: a shared one such as /tmp would also hide paths the
        // client wrote itself (in a filter's text).
        for (path, name) in [(index, "the index"), (model, "the model")] {
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
                context.logger.error("\(request.method) \(request.uri.path) failed: \(logged(error, answered: apiError))")
            }
            return jsonError(apiError)
        }
    }
}

/// What the log keeps of an error a client was answered 5xx for: the library's own sentence,
/// paths included; for a service error, the answer and the error that caused it.
private func logged(_ error: Error, answered: APIError) -> String {
    guard let error = error as? ServiceError else { return describe(error) }
    if case let .indexUnavailable(_, cause) = error { return "\(answered.message) (\(describe(cause)))" }
    return answered.message
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
