import Foundation
import XCTest
import LLMOptCore

/// Perplexity of the RTN-quantized tiny models against `golden/ppl_table.tsv` (the oracle's
/// fake-quantized models run in PyTorch): the packed weights must compute the same function.
final class QuantPerplexityTests: XCTestCase {
    func testQuantizedTinyModelsMatchPerplexityTable() throws {
        let table = try String(contentsOfFile: Fixtures.path("golden/ppl_table.tsv"), encoding: .utf8)
        var expected: [String: (ppl: Double, scored: Int)] = [:]
        for line in table.split(separator: "\n").dropFirst() {
            let f = line.split(separator: "\t").map(String.init)
            expected["\(f[0]) \(f[1]) \(f[2])"] = (Double(f[7])!, Int(f[5])!)
        }
        let text = try String(contentsOfFile: Fixtures.path("text/eval_gpl3.txt"), encoding: .utf8)
        let cases: [(base: String, out: String, bits: Int, group: Int, symmetric: Bool)] = [
            ("tiny-llama", "tiny-llama-q8g32", 8, 32, true), ("tiny-llama", "tiny-llama-q4g32", 4, 32, true),
            ("tiny-llama", "tiny-llama-q4g32-asym", 4, 32, false), ("tiny-llama", "tiny-llama-q8row", 8, 0, true),
            ("tiny-gpt2", "tiny-gpt2-q8g32", 8, 32, true), ("tiny-gpt2", "tiny-gpt2-q4g32", 4, 32, true),
        ]
        var checked = 0
        for c in cases {
            let base = try ModelLoader.load(path: Fixtures.path("models/\(c.base)"))
            let (q, _) = try Quantization.quantize(base, scheme: "rtn", options: QuantizationOptions(bits: c.bits, group: c.group, symmetric: c.symmetric))
            for (ctx, stride) in [(128, 128), (256, 256), (256, 128), (64, 32)] {
                guard let want = expected["out/\(c.out) \(ctx) \(stride)"] else { continue }
                let got = try Perplexity.evaluate(model: q, text: text, ctx: ctx, stride: stride)
                XCTAssertEqual(got.nScored, want.scored, "\(c.out) ctx \(ctx) stride \(stride)")
                XCTAssertEqual(got.ppl, want.ppl, accuracy: want.ppl * 1e-6, "\(c.out) ctx \(ctx) stride \(stride)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 24, "rows of ppl_table.tsv for the quantized models")
    }
}
