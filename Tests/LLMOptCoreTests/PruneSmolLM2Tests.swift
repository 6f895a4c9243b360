import Foundation
import LLMOptCore
import XCTest

/// Pruning a real model: SmolLM2-135M (30 blocks, 210 linear weights up to 1536 x 576), timed.
final class PruneSmolLM2Tests: XCTestCase {
    func smolLM2() throws -> Model {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Examples/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("SmolLM2 not fetched: run Scripts/fetch-models")
        }
        return try ModelLoader.load(path: path)
    }

    func text() throws -> String {
        try String(contentsOfFile: Fixtures.path("text/eval_gpl3.txt"), encoding: .utf8)
    }

    func runs(_ model: Model) throws {
        let logits = try InferenceSession(model: model, capacity: 8).forward([1, 504, 3485, 314, 253, 1345])
        XCTAssertTrue(logits.allSatisfy(\.isFinite))
    }

    func testMagnitudeNMAndStructured() throws {
        let model = try smolLM2()
        for (method, options) in [("magnitude", PruneOptions(sparsity: 0.5, scope: .global)),
                                  ("magnitude", PruneOptions(sparsity: 0.5)),
                                  ("magnitude", PruneOptions(pattern: try NMPattern("2:4"))),
                                  ("channels", PruneOptions(sparsity: 0.25)),
                                  ("heads", PruneOptions(sparsity: 1.0 / 3)),
                                  ("layers", PruneOptions(sparsity: 0.2))] {
            let (pruned, report) = try Pruning.prune(model, method: method, options: options)
            print("SmolLM2 \(method) \(report.scope): \(String(format: "%.2f", report.seconds)) s, sparsity \(String(format: "%.4f", report.overallSparsity)), "
                  + "\(report.modelParametersBefore) -> \(report.modelParametersAfter) parameters")
            XCTAssertLessThan(report.seconds, 120, method)
            if method == "magnitude" {
                XCTAssertEqual(report.rows.count, 210)
                XCTAssertEqual(report.overallSparsity, 0.5, accuracy: 1e-4)
            } else {
                // Structured pruning keeps the Q4_1 storage: fewer parameters, fewer bytes.
                XCTAssertLessThan(report.modelParametersAfter, report.modelParametersBefore, method)
                XCTAssertLessThan(report.modelBytesAfter, report.modelBytesBefore, method)
                print("  bytes \(report.modelBytesBefore) -> \(report.modelBytesAfter); \(report.notes.joined(separator: "; "))")
            }
            try runs(pruned)
        }
    }

    /// Prefill and decode speed of structurally pruned SmolLM2 against the dense model.
    func testMeasureStructuredSpeed() throws {
        guard ProcessInfo.processInfo.environment["LLMOPT_BENCH"] != nil else {
            throw XCTSkip("benchmark: set LLMOPT_BENCH=1 to measure")
        }
        let model = try smolLM2()
        for (method, sparsity) in [("none", 0.0), ("channels", 0.25), ("channels", 0.5), ("heads", 1.0 / 3), ("layers", 0.2)] {
            let pruned = method == "none" ? model : try Pruning.prune(model, method: method, options: PruneOptions(sparsity: sparsity)).0
            let t = try Throughput.measure(model: pruned, promptTokens: 128, decodeTokens: 32)
            print(String(format: "SmolLM2 %@ %.2f: %d bytes, prefill %.1f tok/s, decode %.1f tok/s", method as NSString, sparsity,
                         pruned.byteCount, t.prefillTokensPerSecond, t.decodeTokensPerSecond))
        }
    }

    func testWandaAndSparseGPTInMinutes() throws {
        let model = try smolLM2()
        let calibration = try Calibration(text: try text(), samples: 16, length: 128, seed: 0)
        for method in ["wanda", "sparsegpt"] {
            let (pruned, report) = try Pruning.prune(model, method: method, options: PruneOptions(sparsity: 0.5, calibration: calibration))
            print("SmolLM2 \(method): \(String(format: "%.1f", report.seconds)) s, sparsity \(String(format: "%.4f", report.overallSparsity))")
            XCTAssertEqual(report.rows.count, 210)
            XCTAssertEqual(report.overallSparsity, 0.5, accuracy: 1e-3)
            XCTAssertLessThan(report.seconds, 300, method)
            try runs(pruned)
        }
    }
}
