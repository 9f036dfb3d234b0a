import Foundation
import NIOCore
import NIOHTTP1

/// The connection-level rules no route sees, on NIO's HTTP/1.1 parts, between the parser and
/// Hummingbird:
///
/// - A request head must arrive within `headerTimeout` of the connection opening or of the
///   previous response, or the connection is closed: clients that send half a head cannot hold
///   every one of `--max-connections` for the longer `--idle-timeout`.
/// - One `Host`: a second one is a 400, since a proxy and this server could each read another.
/// - An absolute-form target (`DELETE http://name/documents`) names the host itself, and that
///   name replaces the `Host` header (RFC 9112 §3.2.2), so the access policy checks the name the
///   request was really sent to.
/// - `Transfer-Encoding` may only be `chunked` (501 otherwise): no other coding is decoded, and
///   a body read as chunked under another name would be misread.
/// - A request the parser refuses (a bad or doubled `Content-Length`, a bare LF, an unknown
///   method, headers past the limit) is answered as every other error is: a JSON sentence,
///   where NIO's own answer is an empty 400.
///
/// Each refusal answers and closes the connection: what follows a refused head cannot be framed.
/// A refusal waits for the answers of the requests before it on the connection (pipelined), so
/// that each client sees its own answer: a write answered only by the next request's refusal
/// would look failed though committed. A request whose body the parser breaks off is itself
/// answered by the refusal, once the requests before it are.
final class RequestHeadGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let headerTimeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// Requests whose head has come and whose response has not ended.
    private var unanswered = 0
    /// Set once a refusal is sent or waiting: the rest of the connection's input is dropped.
    private var closing = false
    /// A refusal waiting for the answers of the requests before it, sent once `unanswered` is
    /// down to `answeredBy` (1 when the refused request's own head was passed on and counted).
    private var waiting: (refusal: Refusal, answeredBy: Int)?
    /// Whether a forwarded request's body is still arriving.
    private var bodyOpen = false

    init(headerTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) { armTimer(context) }
    func handlerRemoved(context: ChannelHandlerContext) { cancelTimer() }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        guard case .head(var head) = unwrapInboundIn(data) else {
            if case .end = unwrapInboundIn(data) { bodyOpen = false }
            context.fireChannelRead(data)
            return
        }
        cancelTimer()
        if let refusal = RequestHeadGuard.refusal(for: &head) {
            refuseAfterEarlierAnswers(context, refusal)
            return
        }
        unanswered += 1
        bodyOpen = true
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        unanswered = max(0, unanswered - 1)
        context.write(data, promise: promise)
        if let (refusal, answeredBy) = waiting {
            guard unanswered <= answeredBy else { return }
            waiting = nil
            refuse(context, refusal)
        } else if unanswered == 0 {
            armTimer(context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let error = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !closing else { return }  // the connection is being refused already
        // Mid-body, the broken request's head was passed on and counted: the refusal is its answer.
        refuseAfterEarlierAnswers(context, RequestHeadGuard.refusal(for: error), answeredBy: bodyOpen ? 1 : 0)
    }

    // MARK: The rules

    struct Refusal: Equatable {
        var status: HTTPResponseStatus
        var message: String
    }

    /// Why `head` is refused, or nil once its absolute-form target (if any) is made origin-form.
    static func refusal(for head: inout HTTPRequestHead) -> Refusal? {
        let hosts = head.headers["Host"]
        if hosts.count > 1 {
            return Refusal(status: .badRequest, message: "the request has \(hosts.count) Host headers; send exactly one")
        }
        if !head.uri.hasPrefix("/") && head.uri != "*" {
            guard let (authority, target) = absoluteForm(head.uri) else {
                return Refusal(status: .badRequest, message: "the request target must be a path such as /search, or an http:// URL; '\(head.uri.prefix(100))' is neither")
            }
            head.headers.replaceOrAdd(name: "Host", value: authority)
            head.uri = target
        }
        let codings = head.headers["Transfer-Encoding"].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if !codings.isEmpty && codings != ["chunked"] {
            return Refusal(status: .notImplemented, message: "the request's Transfer-Encoding is '\(codings.joined(separator: ", "))', and this server decodes only 'chunked'; send the body with Content-Length or Transfer-Encoding: chunked")
        }
        return nil
    }

    /// The authority and the origin-form target of an `http://authority/path?query` target.
    static func absoluteForm(_ uri: String) -> (authority: String, target: String)? {
        let scheme = "http://"
        guard uri.lowercased().hasPrefix(scheme) else { return nil }
        let rest = uri.dropFirst(scheme.count)
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = String(rest[..<end])
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        let target = String(rest[end...])
        return (authority, target.hasPrefix("/") ? target : "/" + target)
    }

    /// The answer to a request the parser refused.
    static func refusal(for error: HTTPParserError) -> Refusal {
        switch error {
        case .headerOverflow:
            return Refusal(status: .requestHeaderFieldsTooLarge, message: "the request's headers are over the server's limit; send fewer or shorter headers")
        case .invalidContentLength, .unexpectedContentLength:
            return Refusal(status: .badRequest, message: "the request's Content-Length is not one decimal number, or comes with another Content-Length or a Transfer-Encoding; send one")
        case .invalidMethod:
            return Refusal(status: .notImplemented, message: "the request's method is not one HTTP/1.1 defines; the API uses GET, POST and DELETE")
        case .lfExpected, .invalidConstant, .strictModeAssertion:
            return Refusal(status: .badRequest, message: "the request head is not valid HTTP/1.1: each line must end with CRLF; send it again")
        case .invalidHeaderToken, .invalidCharactersUsed:
            return Refusal(status: .badRequest, message: "a header of the request has a name or value with characters HTTP does not allow; send it again")
        case .invalidChunkSize:
            return Refusal(status: .badRequest, message: "the request body has a malformed chunk; send it again")
        case .invalidURL:
            return Refusal(status: .badRequest, message: "the request target is not a valid URL path; send a path such as /search")
        case .invalidVersion:
            return Refusal(status: .httpVersionNotSupported, message: "the request is not HTTP/1.0 or HTTP/1.1; send it as HTTP/1.1")
        default:
            return Refusal(status: .badRequest, message: "the request is not valid HTTP/1.1; send it again")
        }
    }

    // MARK: Answering and timing

    /// Refuses now when every earlier request is answered (all but `answeredBy` of `unanswered`),
    /// else once the last of them is.
    private func refuseAfterEarlierAnswers(_ context: ChannelHandlerContext, _ refusal: Refusal, answeredBy: Int = 0) {
        guard unanswered > answeredBy else {
            refuse(context, refusal)
            return
        }
        closing = true
        cancelTimer()
        waiting = (refusal, answeredBy)
    }

    private func refuse(_ context: ChannelHandlerContext, _ refusal: Refusal) {
        closing = true
        cancelTimer()
        let body = (try? JSONSerialization.data(withJSONObject: ["error": refusal.message], options: [.withoutEscapingSlashes]))
            ?? Data(#"{"error":"the request was refused"}"#.utf8)
        let headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", String(body.count)), ("Connection", "close")])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: refusal.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let closed = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: closed)
        closed.futureResult.whenComplete { _ in context.close(promise: nil) }
    }

    private func armTimer(_ context: ChannelHandlerContext) {
        cancelTimer()
        guard !closing else { return }
        timer = context.eventLoop.scheduleTask(in: headerTimeout) { [weak self] in
            guard let self, self.unanswered == 0 else { return }
            self.closing = true
            context.close(promise: nil)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}

/// Puts a `RequestHeadGuard` right after NIO's HTTP/1.1 parser, then leaves: Hummingbird adds a
/// server's own handlers after its conversion to HTTP types, where the raw head is gone.
final class RequestHeadGuardInstaller: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Never
    private let headerTimeout: TimeAmount

    init(headerTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        let parser = (try? pipeline.context(handlerType: HTTPServerPipelineHandler.self))
            ?? (try? pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self))
        if let parser {
            try? pipeline.addHandler(RequestHeadGuard(headerTimeout: headerTimeout), position: .after(parser.handler))
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
