import Foundation
import LLMOptCore
import XCTest

final class PerplexityTests: XCTestCase {
    struct Row {
        let model: String
        let ctx, stride, nTokens, nWindows, nScored: Int
        let meanNLL, ppl: Double
    }

    /// golden/ppl_table.tsv rows for one model.
    func goldenRows(_ model: String) throws -> [Row] {
        let text = try String(contentsOfFile: Fixtures.path("golden/ppl_table.tsv"), encoding: .utf8)
        var rows: [Row] = []
        for line in text.split(separator: "\n").dropFirst() {
            let f: [String] = line.split(separator: "\t").map(String.init)
            guard f[0] == model else { continue }
            rows.append(Row(model: f[0], ctx: Int(f[1])!, stride: Int(f[2])!, nTokens: Int(f[3])!, nWindows: Int(f[4])!,
                            nScored: Int(f[5])!, meanNLL: Double(f[6])!, ppl: Double(f[7])!))
        }
        return rows
    }

    func goldenIds(_ name: String) throws -> [Int] {
        struct Ids: Decodable { let ids: [Int] }
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("golden/\(name)")))
        return try JSONDecoder().decode(Ids.self, from: data).ids
    }

    func checkTable(_ folder: String) throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/\(folder)"))
        let ids = try goldenIds("tokenize_\(folder)_gpl3.json")
        let rows = try goldenRows("models/\(folder)")
        XCTAssertEqual(rows.count, 4)
        for row in rows {
            var calls = 0
            let report = try Perplexity.evaluate(model: model, tokens: ids, ctx: row.ctx, stride: row.stride) { done, total in
                calls += 1
                XCTAssertEqual(done, calls)
                XCTAssertEqual(total, row.nWindows)
            }
            let label = "\(folder) ctx \(row.ctx) stride \(row.stride)"
            XCTAssertEqual(report.nTokens, row.nTokens, label)
            XCTAssertEqual(report.nWindows, row.nWindows, label)
            XCTAssertEqual(report.nScored, row.nScored, label)
            XCTAssertEqual(calls, row.nWindows, label)
            XCTAssertEqual(report.ppl, row.ppl, accuracy: row.ppl * 1e-6, label)
            XCTAssertEqual(report.meanNLL, row.meanNLL, accuracy: 1e-6, label)
            XCTAssertEqual(report.protocol, "ctx \(row.ctx), stride \(row.stride), \(row.nTokens) tokens, \(row.nWindows) windows, \(row.nScored) scored")
            // A random model's per-token NLL spreads a little around its mean.
            XCTAssertGreaterThan(report.standardError, 0)
            XCTAssertLessThan(report.standardError, 0.05)
            XCTAssertEqual(report.pplError, report.ppl * report.standardError, accuracy: 1e-9)
        }
    }

    func testTinyLlamaPerplexityTable() throws { try checkTable("tiny-llama") }
    func testTinyGPT2PerplexityTable() throws { try checkTable("tiny-gpt2") }

    /// The text itself, tokenized once with the model's tokenizer.json, gives the golden ids and
    /// the golden perplexity (the tokenizer is attached here, independent of the folder loader).
    func checkFromText(_ folder: String) throws {
        var model = try HuggingFaceFolder.load(Fixtures.path("models/\(folder)"))
        model.tokenizer = try TokenizerJSON.load(path: Fixtures.path("models/\(folder)/tokenizer.json"))
        let text = try String(contentsOfFile: Fixtures.path("text/eval_gpl3.txt"), encoding: .utf8)
        XCTAssertEqual(model.tokenizer?.encode(text), try goldenIds("tokenize_\(folder)_gpl3.json"))
        let row = try XCTUnwrap(goldenRows("models/\(folder)").first { $0.ctx == 128 && $0.stride == 128 })
        let report = try Perplexity.evaluate(model: model, text: text, ctx: 128)
        XCTAssertEqual(report.nTokens, row.nTokens)
        XCTAssertEqual(report.nScored, row.nScored)
        XCTAssertEqual(report.ppl, row.ppl, accuracy: row.ppl * 1e-6)
    }

    func testTinyLlamaPerplexityFromText() throws { try checkFromText("tiny-llama") }
    func testTinyGPT2PerplexityFromText() throws { try checkFromText("tiny-gpt2") }

    func testMaxTokensAndBadArguments() throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        let ids = try goldenIds("tokenize_tiny-llama_gpl3.json")
        let report = try Perplexity.evaluate(model: model, tokens: ids, ctx: 64, maxTokens: 200)
        XCTAssertEqual(report.nTokens, 200)
        XCTAssertEqual(report.nWindows, 4)
        XCTAssertEqual(report.nScored, 196)
        XCTAssertThrowsError(try Perplexity.evaluate(model: model, tokens: ids, ctx: 64, stride: 65))
        XCTAssertThrowsError(try Perplexity.evaluate(model: model, tokens: [1], ctx: 64))
    }

    /// A model against itself diverges by nothing; a pruned copy diverges by something and
    /// its perplexity from the same pass matches the golden table.
    func testDivergence() throws {
        let base = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        let pruned = try HuggingFaceFolder.load(Fixtures.path("derived/tiny-llama-prune50-global"))
        let ids = try goldenIds("tokenize_tiny-llama_gpl3.json")
        let same = try Divergence.evaluate(base: base, other: base, tokens: ids, ctx: 128, maxTokens: 1000)
        XCTAssertEqual(same.meanKLD, 0, accuracy: 1e-9)
        XCTAssertEqual(same.top1Agreement, 1)
        XCTAssertEqual(same.nScored, 1000 - 8)
        let d = try Divergence.evaluate(base: base, other: pruned, tokens: ids, ctx: 128)
        XCTAssertGreaterThan(d.meanKLD, 1e-5)
        XCTAssertLessThan(d.meanKLD, 0.1)
        XCTAssertGreaterThan(d.kldStandardError, 0)
        XCTAssertGreaterThan(d.top1Agreement, 0.1)
        XCTAssertLessThan(d.top1Agreement, 1)
        XCTAssertEqual(d.nScored, 17887)
        XCTAssertEqual(d.basePPL, 519.488346, accuracy: 519.488346 * 1e-6)
        XCTAssertEqual(d.otherPPL, 519.353936, accuracy: 519.353936 * 1e-6)
    }
}
