import Foundation
import XCTest
import LLMOptCore

/// Perplexity of the RTN-quantized tiny models against `golden/ppl_table.tsv` (the oracle's
/// fake-quantized models run in PyTorch): the packed weights must compute the same function.
final class QuantPerplexityTests: XCTestCase {
    /// The README's rule: windows at 0, S, 2S, ... of up to ctx tokens, stopping after the window
    /// that reaches the end; each target is scored once, in the first window that holds it at
    /// position ≥ 1 past the previous window's end. NLL summed in float64.
    static func perplexity(_ model: Model, tokens: [Int], ctx: Int, stride: Int) throws -> (ppl: Double, scored: Int) {
        let session = try InferenceSession(model: model, capacity: ctx)
        var nll = 0.0, scored = 0, previousEnd = 0, begin = 0
        while true {
            let end = min(begin + ctx, tokens.count)
            let window = Array(tokens[begin..<end])
            session.reset()
            let logits = try session.forward(window, logits: .all)
            let vocab = logits.count / window.count
            for target in max(begin + 1, previousEnd)..<end {
                let j = target - 1 - begin
                let row = logits[(j * vocab)..<((j + 1) * vocab)]
                let m = row.max()!
                let logSum = log(row.reduce(0.0) { $0 + exp(Double($1 - m)) }) + Double(m)
                nll += logSum - Double(row[row.startIndex + tokens[target]])
                scored += 1
            }
            previousEnd = end
            if end == tokens.count { break }
            begin += stride
        }
        return (exp(nll / Double(scored)), scored)
    }

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
            var base = try HuggingFaceFolder.load(Fixtures.path("models/\(c.base)"))
            base.tokenizer = try TokenizerJSON.load(path: Fixtures.path("models/\(c.base)/tokenizer.json"))
            let tokens = try XCTUnwrap(base.tokenizer).encode(text)
            let (q, _) = try Quantization.quantize(base, scheme: "rtn", options: QuantizationOptions(bits: c.bits, group: c.group, symmetric: c.symmetric))
            for (ctx, stride) in [(128, 128), (256, 256), (256, 128), (64, 32)] {
                guard let want = expected["out/\(c.out) \(ctx) \(stride)"] else { continue }
                let got = try Self.perplexity(q, tokens: tokens, ctx: ctx, stride: stride)
                XCTAssertEqual(got.scored, want.scored, "\(c.out) ctx \(ctx) stride \(stride)")
                XCTAssertEqual(got.ppl, want.ppl, accuracy: want.ppl * 1e-5, "\(c.out) ctx \(ctx) stride \(stride)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 24, "rows of ppl_table.tsv for the quantized models")
    }
}
