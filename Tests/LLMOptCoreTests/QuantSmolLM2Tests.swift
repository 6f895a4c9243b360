import Foundation
import XCTest
import LLMOptCore

/// GPTQ at the scale of a real model: SmolLM2-135M (30 layers, 210 matrices up to 1536x576).
final class QuantSmolLM2Tests: XCTestCase {
    func testGPTQOnSmolLM2() throws {
        let path = GGUFFormatTests.example("Examples/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("SmolLM2 not fetched: run Scripts/fetch-models") }
        let model = try ModelLoader.load(path: path)
        let text = try String(contentsOfFile: GGUFFormatTests.example("Examples/data/tinystories-valid.txt"), encoding: .utf8)
        let calibration = try Calibration(text: String(text.prefix(200_000)), samples: 8, length: 256, seed: 0)
        let start = Date()
        let (q, report) = try Quantization.quantize(model, scheme: "gptq", options: QuantizationOptions(bits: 4, group: 32, calibration: calibration))
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "SmolLM2 GPTQ int4 g32: %d matrices in %.1f s", report.rows.count, seconds))
        print(report.description.split(separator: "\n").prefix(12).joined(separator: "\n"))
        XCTAssertEqual(report.rows.count, 210)
        XCTAssertLessThan(seconds, 600, "GPTQ on SmolLM2 should take minutes, not more")
        var better = 0
        for row in report.rows where try XCTUnwrap(row.outputError) < XCTUnwrap(row.outputErrorRTN) { better += 1 }
        print("GPTQ beats RTN's calibration output error on \(better) of \(report.rows.count) matrices")
        XCTAssertEqual(better, report.rows.count)
        // The quantized model still runs.
        let session = try InferenceSession(model: q, capacity: 8)
        let logits = try session.forward([1, 2, 3])
        XCTAssertTrue(logits.allSatisfy(\.isFinite))
    }
}
