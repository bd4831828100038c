import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import Tracing

/// An external service the app relies on (api.yaml `dependencies`, such as an AI provider's
/// status URL), probed in the background for `/health/ready`.
public struct HealthDependency: Sendable, Hashable {
    public var name: String
    public var url: String
    public var interval: Duration
    public var timeout: Duration

    public init(name: String, url: String, interval: Duration = .seconds(30), timeout: Duration = .seconds(5)) {
        self.name = name
        self.url = url
        self.interval = interval
        self.timeout = timeout
    }
}

/// The last probe of every dependency: what `/health/ready` shows without probing anything on
/// the request path.
public final class DependencyHealth: Sendable {
    public enum Status: String, Sendable {
        /// Answered 2xx or 3xx within half its timeout.
        case ok
        /// Answered 2xx or 3xx, but took over half its timeout.
        case degraded
        /// Failed, timed out, or answered 4xx/5xx.
        case down
        /// Not probed yet (the first probe runs at start).
        case unknown
    }

    public struct Probe: Sendable {
        public var status: Status
        public var latency: Duration?
        public var httpStatus: Int?
        /// Why it is down, in a few words; never the URL (which may hold a token).
        public var error: String?
        public var checkedAt: Date?
    }

    public let dependencies: [HealthDependency]
    private let probes: NIOLockedValueBox<[String: Probe]>

    public init(_ dependencies: [HealthDependency]) {
        self.dependencies = dependencies
        probes = NIOLockedValueBox(Dictionary(uniqueKeysWithValues: dependencies.map { ($0.name, Probe(status: .unknown)) }))
    }

    func record(_ name: String, _ probe: Probe) {
        probes.withLockedValue { $0[name] = probe }
    }

    /// Each dependency with its last probe, in api.yaml's order.
    public var snapshot: [(HealthDependency, Probe)] {
        let probes = probes.withLockedValue { $0 }
        return dependencies.map { ($0, probes[$0.name] ?? Probe(status: .unknown)) }
    }
}

/// Probes each ``HealthDependency`` every `interval` with a GET (redirects not followed: a 3xx
/// is an answer), bounded by its `timeout`, and records the outcome in ``DependencyHealth`` and
/// `trellis_dependency_up`. Nothing here runs on a request's path.
public struct DependencyProber: Service {
    let health: DependencyHealth
    let metrics: OperationsMetrics
    let logger: Logger
    /// Each probe is a trace of its own (a client span) when set.
    let tracer: (any Tracer)?

    public init(health: DependencyHealth, metrics: OperationsMetrics, logger: Logger, tracer: (any Tracer)? = nil) {
        self.health = health
        self.metrics = metrics
        self.logger = logger
        self.tracer = tracer
    }

    public func run() async throws {
        guard !health.dependencies.isEmpty else { return }
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, decompression: .disabled)
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for dependency in health.dependencies {
                    group.addTask {
                        while !Task.isCancelled {
                            let probe = await Self.probe(dependency, client: client, tracer: tracer)
                            health.record(dependency.name, probe)
                            metrics.dependencyUp(dependency.name).set(probe.status == .down ? Int64(0) : Int64(1))
                            if probe.status == .down {
                                logger.warning(
                                    "dependency is down", metadata: ["dependency": "\(dependency.name)", "error": "\(probe.error ?? "")"])
                            }
                            try? await Task.sleep(for: dependency.interval)
                        }
                    }
                }
            }
        }
        try? await client.shutdown()
    }

    /// One GET of `dependency.url`, at most `dependency.timeout` from connect to the last byte
    /// read (at most 64 KiB of the body is read).
    static func probe(_ dependency: HealthDependency, client: HTTPClient, tracer: (any Tracer)? = nil) async -> DependencyHealth.Probe {
        let started = ContinuousClock.now
        let timeout = TimeAmount.milliseconds(Int64(dependency.timeout / .milliseconds(1)))
        do {
            var request = HTTPClientRequest(url: dependency.url)
            request.headers.add(name: "User-Agent", value: "Trellis-HealthCheck/1")
            let response = try await OutboundHTTP.execute(request, on: client, timeout: timeout, tracer: tracer)
            var read = 0
            for try await chunk in response.body {
                read += chunk.readableBytes
                if read > 65_536 { break }
            }
            let latency = ContinuousClock.now - started
            let code = Int(response.status.code)
            guard (200..<400).contains(code) else {
                return .init(status: .down, latency: latency, httpStatus: code, error: "answered \(code)", checkedAt: Date())
            }
            return .init(
                status: latency * 2 > dependency.timeout ? .degraded : .ok, latency: latency, httpStatus: code, error: nil, checkedAt: Date())
        } catch {
            return .init(
                status: .down, latency: ContinuousClock.now - started, httpStatus: nil, error: describe(error), checkedAt: Date())
        }
    }

    /// A few words for what went wrong, without the URL or anything else the error carries.
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout: return "timed out"
            case .remoteConnectionClosed: return "connection closed"
            default: break
            }
        }
        let text = String(describing: error).lowercased()
        if text.contains("refused") { return "connection refused" }
        if text.contains("timeout") || text.contains("timed out") || text.contains("deadline") { return "timed out" }
        if text.contains("resolve") || text.contains("dns") || text.contains("lookup") { return "name not resolved" }
        if text.contains("tls") || text.contains("ssl") || text.contains("certificate") { return "TLS failed" }
        return "unreachable"
    }
}
