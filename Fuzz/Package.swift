// swift-tools-version:6.2
// libFuzzer targets, kept out of the main package so its builds never need the fuzzer runtime.
// The library sources are symlinks into ../Sources. Build and run:
//   swift build --package-path Fuzz -c release -Xswiftc -sanitize=fuzzer,address
//   SWIFT_BACKTRACE=enable=no Fuzz/.build/release/FuzzRemotingFrame -max_total_time=60 Fuzz/corpus
import PackageDescription

let package = Package(
    name: "Fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(
            name: "Common",
            dependencies: [
                "CZlib",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .target(
            name: "Remoting",
            dependencies: [
                "Common",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Frame and header parsing, then every header field through the checked number helper.
        .executableTarget(
            name: "FuzzRemotingFrame", dependencies: ["Remoting", .product(name: "NIOCore", package: "swift-nio")]),
    ]
)
