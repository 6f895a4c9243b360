// swift-tools-version:6.0
import PackageDescription

/// The engine and the language are always built with the optimizer on, so that debug builds of
/// the tools stay usable and tests that run real models finish in seconds. Both keep Swift's
/// overflow and bounds checks (`-O`, not `-Ounchecked`): they parse untrusted files and scripts,
/// and a missing check must trap rather than corrupt memory. The hot loops are C
/// (CLLMOptKernels, -O3); dropping the checks in Swift bought nothing measurable on SmolLM2
/// prefill or decode (issue 15), so only the kernel benchmark keeps `-Ounchecked`.
let checked: [SwiftSetting] = [.unsafeFlags(["-O"])]
let optimized: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]

let package = Package(
    name: "llmopt",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "llmopt", targets: ["llmopt"]),
        .library(name: "LLMOptCore", targets: ["LLMOptCore"]),
        .library(name: "LLMOptScript", targets: ["LLMOptScript"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Hot loops in C (GEMM, quantized dot products), each with a Swift or C reference beside it.
        .target(
            name: "CLLMOptKernels",
            cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off", "-fno-math-errno"])]
        ),
        // libedit, through pkg-config, and a small C shim for its variadic calls.
        .systemLibrary(name: "CLineEdit", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        .target(name: "CLineEditShim", dependencies: ["CLineEdit"]),

        // Open MPI, through pkg-config, and a small C shim for its handle macros (MPI_COMM_WORLD, MPI_FLOAT).
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "CMPIShim", dependencies: ["CMPI"]),

        .target(name: "LLMOptCore", dependencies: ["CLLMOptKernels", "CMPIShim"], swiftSettings: checked),
        .target(name: "LLMOptScript", dependencies: ["LLMOptCore"], swiftSettings: checked),
        .target(name: "LLMOptREPL", dependencies: ["LLMOptScript", "CLineEditShim"]),
        .target(
            name: "LLMOptCLI",
            dependencies: [
                "LLMOptCore", "LLMOptScript", "LLMOptREPL",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "llmopt", dependencies: ["LLMOptCLI"]),
        // Kernel benchmark (GFLOP/s, GB/s); Scripts/bench-gemm runs it beside numpy.
        .executableTarget(name: "llmopt-bench", dependencies: ["LLMOptCore"], swiftSettings: optimized),
        // Fuzzing of the loaders, the tokenizers and the interpreter; Scripts/fuzz runs it.
        .executableTarget(name: "llmopt-fuzz", dependencies: ["LLMOptCore", "LLMOptScript"], swiftSettings: checked),

        // Where tests find the third-party files that stay outside the repository (../shared).
        .target(name: "LLMOptTestSupport", path: "Tests/Support"),
        .testTarget(name: "LLMOptCoreTests", dependencies: ["LLMOptCore", "LLMOptTestSupport"]),
        .testTarget(name: "LLMOptScriptTests", dependencies: ["LLMOptScript", "LLMOptTestSupport"], exclude: ["Scripts"]),
        .testTarget(name: "LLMOptCLITests", dependencies: ["LLMOptCLI", "LLMOptTestSupport"], exclude: ["Scripts"]),
    ],
    // Numeric kernels pass raw pointers between threads; Swift 5 mode keeps that plain.
    swiftLanguageModes: [.v5]
)
