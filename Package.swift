// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "swift-rocketmq",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mqnamesrv", targets: ["mqnamesrv"]),
        .executable(name: "mqbroker", targets: ["mqbroker"]),
        .executable(name: "raft-sim", targets: ["raft-sim"]),
        .executable(name: "raft-bench", targets: ["raft-bench"]),
        .executable(name: "store-bench", targets: ["store-bench"]),
        .executable(name: "mqadmin", targets: ["mqadmin"]),
        .executable(name: "mqbench", targets: ["mqbench"]),
        .executable(name: "chaos", targets: ["chaos"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        // Pure Raft: imports nothing but the standard library.
        .target(name: "Raft", swiftSettings: strict),
        // Deterministic simulation of Raft groups (tests and raft-sim only).
        .target(name: "RaftSim", dependencies: ["Raft"], swiftSettings: strict),
        // The system zlib (zlib1g-dev): RocketMQ compresses bodies and broker registrations with it,
        // and its crc32 is the body checksum of stored messages.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(
            name: "Common",
            dependencies: [
                "CZlib",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The file layer under both CommitLogs (local and DLedger): segment files, the storage
        // protocol, store errors and the offset waiter that SYNC_FLUSH and quorum acks share.
        .target(
            name: "Storage",
            dependencies: [
                "Common",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        // DLedger's replicated CommitLog: entry and index codecs, segment files, recovery, the
        // Raft driver and the peer transport. Raft ← DLedgerStore ← Broker.
        .target(
            name: "DLedgerStore",
            dependencies: [
                "Raft", "Storage", "Common", "Remoting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Remoting",
            dependencies: [
                "Common",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Client",
            dependencies: [
                "Common", "Remoting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "NameServer",
            dependencies: [
                "Common", "Remoting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Broker",
            dependencies: [
                "Common", "Remoting", "Storage", "DLedgerStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "mqnamesrv",
            dependencies: [
                "NameServer", "Common",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "mqbroker",
            dependencies: [
                "Broker", "Common",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "raft-sim",
            dependencies: ["Raft", "RaftSim", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "raft-bench",
            dependencies: ["Raft", "RaftSim", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "mqadmin",
            dependencies: [
                "Client", "Common", "Remoting", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "mqbench",
            dependencies: [
                "Client", "Common", "Remoting", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "rocketmq-example",
            dependencies: [
                "Client", "Remoting", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "store-bench",
            dependencies: [
                "Broker", "Common", "Remoting", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The chaos harness (chaos/): the history checker and report are pure code; the runner
        // starts a real cluster, drives a workload with our client and injects faults.
        .target(name: "ChaosCheck", dependencies: ["Raft"], path: "chaos/Sources/ChaosCheck", swiftSettings: strict),
        .executableTarget(
            name: "chaos",
            dependencies: [
                "ChaosCheck", "Client", "Common", "Remoting", "DLedgerStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "chaos/Sources/chaos",
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChaosCheckTests", dependencies: ["ChaosCheck"], path: "chaos/Tests/ChaosCheckTests",
            swiftSettings: strict),
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(
            name: "ClientTests",
            dependencies: [
                "Client", "Broker", "NameServer", "Remoting", "Common", "TestSupport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DLedgerStoreTests",
            dependencies: [
                "DLedgerStore", "Raft", "Storage", "Common", "TestSupport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "RaftTests", dependencies: ["Raft", "RaftSim"], swiftSettings: strict),
        .testTarget(name: "MQBenchTests", dependencies: ["mqbench"], swiftSettings: strict),
        .testTarget(
            name: "RemotingTests",
            dependencies: [
                "Remoting", "Common", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NameServerTests",
            dependencies: ["NameServer", "Remoting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BrokerTests",
            dependencies: ["Broker", "Remoting", "Common", "Storage", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
    ]
)
