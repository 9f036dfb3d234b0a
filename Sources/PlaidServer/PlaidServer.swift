import Foundation
import Hummingbird
import HummingbirdCore
import PlaidCore
import PlaidEncoder
import PlaidIndex
import ServiceLifecycle

/// `plaid serve`: the JSON API of docs/openapi.json over one index, on Hummingbird.
///
/// The server holds the index's writer lock for as long as it runs (other writers are told
/// which process holds it), unless it is read-only. SIGTERM and SIGINT stop it gracefully: it
/// stops accepting connections, finishes the requests in flight (their commits included), then
/// releases the lock; requests still running after `shutdownTimeout` are cut off (an answered
/// write is already committed, an unanswered one is not).
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
        // Armed by the stop signal; cancelled last, so that it also bounds the pools' shutdown below.
        let watchdog = ShutdownWatchdog(after: configuration.shutdownTimeout)
        defer { watchdog.cancel() }
        let pooled = encoder.map { PooledEncoder.pooling($0, factor: configuration.poolFactor) }
        let service = try RetrievalService(indexPath: indexPath, encoder: pooled, modelFolder: encoder?.modelDirectory,
                                           threads: configuration.threads, limits: configuration.limits, readOnly: configuration.readOnly)
        let parser = WorkerPool(threads: max(1, min(configuration.threads, 4)), name: "plaid-parse")
        defer {
            parser.shutdown()
            service.close()
        }
        let application = makeApplication(service: service, parser: parser, configuration: configuration, onListening: onListening)
        var group = ServiceGroupConfiguration(services: [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: application.logger)
        // Past it, graceful shutdown becomes cancellation: connections still open are closed.
        group.maximumGracefulShutdownDuration = .nanoseconds(Int64(configuration.shutdownTimeout * 1e9))
        try await ServiceGroup(configuration: group).run()
    }
}

/// The application `plaid serve` runs: the API's routes over `service` (bodies parsed on
/// `parser`), behind the access rules, timeouts and connection bound of `configuration`.
/// `onListening` receives the bound port. Tests build it to answer requests in process.
func makeApplication(service: RetrievalService, parser: WorkerPool, configuration: ServerConfiguration,
                     onListening: @escaping @Sendable (Int) -> Void = { _ in }) -> Application<RouterResponder<BasicRequestContext>> {
    let port = configuration.port
    let bound = BoundPort(port)
    let access = AccessPolicy(host: configuration.host, allowedHosts: configuration.allowedHosts,
                              apiKey: configuration.apiKey, port: bound)
    return Application(
        router: makeRouter(service: service, access: access, parser: parser),
        server: .http1(configuration: .init(
            additionalChannelHandlers: [RequestHeadGuardInstaller(headerTimeout: .nanoseconds(Int64(configuration.headerTimeout * 1e9)))],
            idleTimeout: .nanoseconds(Int64(configuration.idleTimeout * 1e9)))),
        configuration: .init(address: .hostname(configuration.host, port: port), serverName: "plaid",
                             availableConnectionsDelegate: MaximumAvailableConnections(configuration.maxConnections)),
        onServerRunning: { channel in
            bound.value = channel.localAddress?.port ?? port
            onListening(bound.value)
        })
}

/// The last resort of a stop: once SIGTERM or SIGINT has come and the server has not ended
/// `after` seconds past its graceful-shutdown limit, the process exits. Every answered write is
/// already committed, and the kernel releases the writer lock.
private final class ShutdownWatchdog: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private var timer: DispatchSourceTimer?
    private let queue = DispatchQueue(label: "plaid-shutdown-watchdog")

    init(after seconds: Double) {
        for signal in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: signal, queue: queue)
            source.setEventHandler { [weak self] in self?.arm(seconds + 5) }
            source.resume()
            sources.append(source)
        }
    }

    private func arm(_ seconds: Double) {
        guard timer == nil else { return }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + seconds)
        timer.setEventHandler {
            FileHandle.standardError.write(Data("plaid serve: requests were still running \(Int(seconds)) s after the stop signal (--shutdown-timeout); exiting without them (every answered write is committed)\n".utf8))
            exit(1)
        }
        timer.resume()
        self.timer = timer
    }

    func cancel() {
        queue.sync {
            sources.forEach { $0.cancel() }
            timer?.cancel()
        }
    }
}
