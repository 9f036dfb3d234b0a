import Foundation
import Hummingbird
import PlaidCore
import PlaidEncoder
import PlaidIndex

/// `plaid serve`: the JSON API of docs/openapi.json over one index, on Hummingbird.
///
/// The server holds the index's writer lock for as long as it runs (other writers are told
/// which process holds it). SIGTERM and SIGINT stop it gracefully: it stops accepting
/// connections, finishes the requests in flight (their commits included), then releases the lock.
public enum PlaidServer {
    /// Serves the index at `indexPath` until SIGTERM or SIGINT. `encoder`, when given, encodes the
    /// texts of requests; without it such requests are refused. `onListening` receives the bound
    /// port (the one picked when `configuration.port` is 0).
    public static func run(indexPath: String, encoder: ColBERTEncoder?, configuration: ServerConfiguration,
                           onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        // Every product runs with one OpenBLAS thread: parallelism comes from serving requests on
        // the pool's threads, and the thread count is process-wide state that concurrent calls would fight over.
        BLAS.setThreadCount(1)
        // A write past the file size limit (`ulimit -f`) must fail as a full disk does, with an
        // answer, instead of the signal's default of ending the process.
        signal(SIGXFSZ, SIG_IGN)
        let service = try RetrievalService(indexPath: indexPath, encoder: encoder, threads: configuration.threads,
                                           limits: configuration.limits)
        defer { service.close() }
        let port = configuration.port
        let application = Application(
            router: makeRouter(service: service),
            configuration: .init(address: .hostname(configuration.host, port: port), serverName: "plaid"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) })
        try await application.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }
}
