// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Trellis",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "trellis", targets: ["trellis"]),
        .executable(name: "trellis-codegen", targets: ["trellis-codegen"]),
        .library(name: "TrellisRuntime", targets: ["TrellisRuntime"]),
        .library(name: "TrellisJobs", targets: ["TrellisJobs"]),
        .library(name: "TrellisSchema", targets: ["TrellisSchema"]),
        .library(name: "TrellisCodegen", targets: ["TrellisCodegen"]),
        .plugin(name: "TrellisGenerate", targets: ["TrellisGenerate"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/mattpolzin/OpenAPIKit", exact: "6.4.0", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/GraphQLSwift/GraphQL", from: "4.3.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // OTLP/HTTP only: the gRPC exporter's dependencies are never built.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // Spans around Trellis's own work (service calls, SQL, Redis, outbound HTTP), started only
        // inside a trace: the tracer travels in the task's ServiceContext, so tracing off costs
        // one task-local read per statement and nothing else.
        .target(
            name: "TrellisTracing",
            dependencies: [.product(name: "Tracing", package: "swift-distributed-tracing")],
            swiftSettings: swiftSettings
        ),
        // Schema language: YAML -> validated model with file:line:column diagnostics.
        .target(
            name: "TrellisSchema",
            dependencies: ["TrellisContract", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        // What the schema side and the runtime both read: problem codes, per-operation responses,
        // cron expressions. No dependencies, so each can import it without importing the other.
        .target(
            name: "TrellisContract",
            swiftSettings: swiftSettings
        ),
        // Schema model -> Swift sources, OpenAPI document, SQL DDL.
        .target(
            name: "TrellisCodegen",
            dependencies: [
                "TrellisSchema",
                "TrellisContract",
                .product(name: "OpenAPIKit", package: "OpenAPIKit"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // The thin CLI the build plugin runs.
        .executableTarget(
            name: "trellis-codegen",
            dependencies: ["TrellisCodegen"],
            swiftSettings: swiftSettings
        ),
        .plugin(
            name: "TrellisGenerate",
            capability: .buildTool(),
            dependencies: ["trellis-codegen"]
        ),
        // HTTP pipeline and shared services.
        .target(
            name: "TrellisRuntime",
            dependencies: [
                "TrellisContract",
                "TrellisPostgres",
                "TrellisRedis",
                "TrellisTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "GraphQL", package: "GraphQL"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "WSCore", package: "swift-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        // libhiredis (Debian libhiredis-dev 0.14.1, RESP2): the RESP reader used by TrellisRedis.
        // No pkgConfig: it adds a prohibited -D_FILE_OFFSET_BITS=64 flag and a warning.
        // A PostgreSQL client that keeps many single statements in flight on each connection
        // (NIO; postgres-nio's types encode and decode the values): the tenant reads' path.
        .target(
            name: "TrellisPostgres",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis"),
        // Redis client: pool, pipelining, pub/sub, scripts; hiredis parses, SwiftNIO does the I/O.
        .target(
            name: "TrellisRedis",
            dependencies: [
                "CHiredis",
                "TrellisTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // Durable jobs: the worker that runs the Postgres queue's jobs (DESIGN.md §7).
        .target(
            name: "TrellisJobs",
            dependencies: [
                "TrellisRuntime",
                "TrellisTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Generated code (from schema/) plus hand-written hooks.
        .target(
            name: "App",
            dependencies: [
                "TrellisRuntime",
                "TrellisJobs",
                "TrellisPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["TrellisGenerate"]
        ),
        .executableTarget(
            name: "trellis",
            dependencies: [
                "App",
                "TrellisRuntime",
                "TrellisJobs",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "TrellisBenchmarks",
            dependencies: [
                "App",
                "TrellisRuntime",
                "TrellisJobs",
                "TrellisRedis",
                "TrellisPostgres",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/TrellisBenchmarks",
            swiftSettings: swiftSettings
        ),
        // What the test targets share: where Redis is, a free port.
        .target(
            name: "TrellisTestSupport",
            dependencies: ["TrellisRedis", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TrellisTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TrellisSchemaTests",
            dependencies: ["TrellisSchema", "TrellisContract"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TrellisCodegenTests",
            dependencies: ["TrellisCodegen", "TrellisSchema", "TrellisContract", .product(name: "GraphQL", package: "GraphQL")],
            resources: [.copy("Golden"), .copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TrellisRuntimeTests",
            dependencies: ["TrellisRuntime", "TrellisPostgres", "TrellisRedis", "TrellisTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TrellisRedisTests",
            dependencies: ["TrellisRedis", "TrellisTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AppTests",
            dependencies: [
                "App",
                "TrellisRuntime",
                "TrellisJobs",
                "TrellisContract",
                "TrellisPostgres",
                "TrellisRedis",
                "TrellisTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
                "TrellisTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
