import Foundation
import XCTest
import LLMOptTestSupport
import LLMOptCore

/// GPTQ at the scale of a real model: SmolLM2-135M (matrices up to 1536 x 576, grouped-query
/// attention, Q4_1 source weights), on blocks 0, 1 and 29 (21 matrices); its speed over all 210
/// matrices belongs in a benchmark.
final class QuantSmolLM2Tests: XCTestCase {
    func testGPTQOnSmolLM2() throws {
        let path = try SharedFiles.smolLM2()
        let model = try ModelLoader.load(path: path)
        let text = try String(contentsOfFile: SharedFiles.data("corpora/tinystories_valid_head.txt"), encoding: .utf8)
        let calibration = try Calibration(text: String(text.prefix(200_000)), samples: 8, length: 256, seed: 0)
        let options = QuantizationOptions(bits: 4, group: 32, targets: [#"^model\.layers\.(0|1|29)\..*_proj\.weight$"#], calibration: calibration)
        let (q, report) = try Quantization.quantize(model, scheme: "gptq", options: options)
        XCTAssertEqual(report.rows.count, 21)
        var better = 0
        for row in report.rows where try XCTUnwrap(row.outputError) < XCTUnwrap(row.outputErrorRTN) { better += 1 }
        XCTAssertEqual(better, report.rows.count, "GPTQ beats RTN's calibration output error on every matrix")
        // The quantized model still runs.
        let session = try InferenceSession(model: q, capacity: 8)
        let logits = try session.forward([1, 2, 3])
        XCTAssertTrue(logits.allSatisfy(\.isFinite))
    }
}
