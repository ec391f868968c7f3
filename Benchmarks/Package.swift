// swift-tools-version:6.1
// Wharf's benchmarks, a package of their own so that the main package's test build never compiles them.
// Run through scripts/bench-*; figures in docs/performance.md.
import PackageDescription

let grpc: [Target.Dependency] = [
    .product(name: "GRPCCore", package: "grpc-swift-2"),
    .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
    .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
]

let package = Package(
    name: "WharfBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Wharf", path: ".."),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
    ],
    targets: [
        // In-process reconciliation of a million items per side (scripts/bench-negentropy).
        .executableTarget(name: "NegentropyBench", dependencies: [.product(name: "WharfProtocols", package: "Wharf")], path: "NegentropyBench"),
        // A relay loaded and reconciled end to end: signed events, pipelined ingest, Wharf→Wharf SyncWithPeer
        // (scripts/bench-negentropy-relay).
        .executableTarget(
            name: "NegentropyRelayBench",
            dependencies: [
                .product(name: "WharfServices", package: "Wharf"), .product(name: "WharfRuntime", package: "Wharf"),
                .product(name: "WharfProto", package: "Wharf"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            ] + grpc,
            path: "NegentropyRelayBench"),
        // Search latency over a million indexed records (scripts/bench-routing).
        .executableTarget(
            name: "RoutingBench",
            dependencies: [
                .product(name: "WharfServices", package: "Wharf"), .product(name: "WharfRuntime", package: "Wharf"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "RoutingBench"
        ),
        // Push, Pull and Lookup rates of a running store service (scripts/bench-store).
        .executableTarget(
            name: "StoreBench",
            dependencies: [.product(name: "WharfServices", package: "Wharf"), .product(name: "WharfProto", package: "Wharf")] + grpc,
            path: "StoreBench"),
        // Mirror rate, push-to-pullable latency and re-sync cost between two systems (scripts/bench-sync).
        .executableTarget(
            name: "SyncBench",
            dependencies: [
                .product(name: "WharfServices", package: "Wharf"), .product(name: "WharfProto", package: "Wharf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ] + grpc,
            path: "SyncBench"),
        // backrest hub ingest and catch-up (scripts/bench-backrest).
        .executableTarget(
            name: "BackrestBench",
            dependencies: [
                .product(name: "WharfServices", package: "Wharf"), .product(name: "WharfRuntime", package: "Wharf"),
                .product(name: "WharfProto", package: "Wharf"),
            ] + grpc,
            path: "BackrestBench"),
        // Canonical JSON and CID computation rates (scripts/bench-store).
        .executableTarget(
            name: "RecordCodecBench",
            dependencies: [
                .product(name: "WharfProtocols", package: "Wharf"), .product(name: "WharfProto", package: "Wharf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "RecordCodecBench"),
        // BLAKE3 and blob service throughput (scripts/bench-blob).
        .executableTarget(
            name: "BlobBench",
            dependencies: [
                .product(name: "WharfServices", package: "Wharf"), .product(name: "WharfProtocols", package: "Wharf"),
                .product(name: "WharfProto", package: "Wharf"),
            ] + grpc, path: "BlobBench"),
        // Redis client and job queue throughput (scripts/bench-runtime).
        .executableTarget(
            name: "RuntimeBench",
            dependencies: [.product(name: "WharfRuntime", package: "Wharf"), .product(name: "PostgresNIO", package: "postgres-nio")],
            path: "RuntimeBench"
        ),
    ]
)
