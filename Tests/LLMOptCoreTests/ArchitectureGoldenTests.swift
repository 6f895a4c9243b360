import Foundation
import LLMOptCore
import XCTest

/// Qwen2, Mistral and Gemma 3 against transformers (golden/architectures/): logits of 247
/// tokens (past the sliding windows) within 1e-4, greedy continuations, and perplexity to 1e-5
/// with the same window and token counts.
final class ArchitectureGoldenTests: XCTestCase {
    struct Logits: Decodable {
        struct Position: Decodable {
            let pos: Int
            let topk_ids: [Int]
            let topk_logits: [Float]
            let first_logits: [Float]
            let logsumexp: Double
        }
        let ids: [Int]
        let vocab_size: Int
        let positions: [Position]
    }

    struct Greedy: Decodable {
        let prompt_ids: [Int]
        let generated_ids: [Int]
    }

    struct PerplexityGolden: Decodable {
        let n_tokens, ctx, stride, n_windows, n_scored: Int
        let first_ids: [Int]
        let mean_nll, ppl: Double
    }

    func golden<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("golden/architectures/\(name)")))
        return try JSONDecoder().decode(T.self, from: data)
    }

    func load(_ folder: String) throws -> Model { try HuggingFaceFolder.load(Fixtures.path("models/\(folder)")) }

    func checkLogits(_ folder: String, architecture: Architecture) throws {
        let model = try load(folder)
        XCTAssertEqual(model.config.architecture, architecture)
        let g = try golden("logits_\(folder)_gpl3head.json", as: Logits.self)
        let session = try InferenceSession(model: model, capacity: g.ids.count)
        let vocab = session.vocabSize
        XCTAssertEqual(vocab, g.vocab_size)
        let logits = try session.forward(g.ids, logits: .all)
        var worst: Float = 0
        for p in g.positions {
            let row = Array(logits[p.pos * vocab ..< (p.pos + 1) * vocab])
            let order = row.indices.sorted { row[$0] > row[$1] }
            XCTAssertEqual(Array(order.prefix(p.topk_ids.count)), p.topk_ids, "top-k at \(p.pos)")
            for (id, want) in zip(p.topk_ids, p.topk_logits) { worst = max(worst, abs(row[id] - want)) }
            for (i, want) in p.first_logits.enumerated() { worst = max(worst, abs(row[i] - want)) }
            let m = Double(row.max()!)
            let lse = m + log(row.reduce(0.0) { $0 + exp(Double($1) - m) })
            XCTAssertEqual(lse, p.logsumexp, accuracy: 1e-4, "logsumexp at \(p.pos)")
        }
        XCTAssertLessThan(worst, 1e-4, "\(folder): largest logit difference")
        // One token at a time through the cache gives the batched logits (the window on both paths).
        let stepwise = try InferenceSession(model: model, capacity: g.ids.count)
        var diff: Float = 0
        for (t, id) in g.ids.enumerated() {
            let row = try stepwise.forward([id])
            for i in 0..<vocab { diff = max(diff, abs(row[i] - logits[t * vocab + i])) }
        }
        XCTAssertLessThan(diff, 1e-4, "\(folder): decode against prefill")
    }

    func checkGreedy(_ folder: String) throws {
        let model = try load(folder)
        let g = try golden("greedy_\(folder).json", as: Greedy.self)
        let session = try InferenceSession(model: model, capacity: g.prompt_ids.count + g.generated_ids.count)
        var logits = try session.forward(g.prompt_ids)
        var out: [Int] = []
        for _ in g.generated_ids {
            let next = logits.indices.max { logits[$0] < logits[$1] }!
            out.append(next)
            logits = try session.forward([next])
        }
        XCTAssertEqual(out, g.generated_ids)
    }

    func checkPerplexity(_ folder: String) throws {
        let model = try load(folder)
        let text = try String(contentsOfFile: Fixtures.path("text/eval_gpl3.txt"), encoding: .utf8)
        let ids = try XCTUnwrap(model.tokenizer).encode(text)
        for (ctx, stride) in [(64, 64), (128, 64), (128, 128)] {
            let g = try golden("ppl_\(folder)_c\(ctx)_s\(stride).json", as: PerplexityGolden.self)
            XCTAssertEqual(ids.count, g.n_tokens)
            XCTAssertEqual(Array(ids.prefix(g.first_ids.count)), g.first_ids)
            let report = try Perplexity.evaluate(model: model, tokens: ids, ctx: ctx, stride: stride)
            let label = "\(folder) ctx \(ctx) stride \(stride)"
            XCTAssertEqual(report.nWindows, g.n_windows, label)
            XCTAssertEqual(report.nScored, g.n_scored, label)
            XCTAssertEqual(report.ppl, g.ppl, accuracy: g.ppl * 1e-5, label)
            XCTAssertEqual(report.meanNLL, g.mean_nll, accuracy: 1e-5, label)
        }
    }

    func testQwen2Logits() throws { try checkLogits("tiny-qwen2", architecture: .qwen2) }
    func testQwen2Greedy() throws { try checkGreedy("tiny-qwen2") }
    func testQwen2Perplexity() throws { try checkPerplexity("tiny-qwen2") }

    /// Saved as GGUF and as a Hugging Face folder, the model reloads with the same logits.
    func checkRoundTrips(_ folder: String) throws {
        let model = try load(folder)
        let ids = try golden("logits_\(folder)_gpl3head.json", as: Logits.self).ids
        let want = try InferenceSession(model: model, capacity: ids.count).forward(ids, logits: .all)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llmopt-arch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try GGUFWriter.save(model, to: dir + "/m.gguf")
        try HuggingFaceFolder.save(model, to: dir + "/hf")
        for reloaded in [try GGUFModel.load(dir + "/m.gguf"), try HuggingFaceFolder.load(dir + "/hf")] {
            XCTAssertEqual(reloaded.config.architecture, model.config.architecture)
            let got = try InferenceSession(model: reloaded, capacity: ids.count).forward(ids, logits: .all)
            XCTAssertEqual(got.count, want.count)
            XCTAssertLessThan(zip(got, want).map { abs($0 - $1) }.max() ?? 1, 1e-5)
        }
    }

    func testQwen2RoundTrips() throws { try checkRoundTrips("tiny-qwen2") }
}

extension ArchitectureGoldenTests {
    func testMistralLogits() throws { try checkLogits("tiny-mistral", architecture: .mistral) }
    func testMistralGreedy() throws { try checkGreedy("tiny-mistral") }
    func testMistralPerplexity() throws { try checkPerplexity("tiny-mistral") }
    func testMistralRoundTrips() throws { try checkRoundTrips("tiny-mistral") }

    /// Mistral GGUFs are written as llama.cpp's converter writes them (`llama`, so llama.cpp
    /// loads them) with the window under a key that marks them as Mistral for llmopt; a plain
    /// Llama file stays Llama.
    func testMistralGGUFIsALlamaFileThatKeepsItsWindow() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llmopt-mistral-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try GGUFWriter.save(try load("tiny-mistral"), to: dir + "/mistral.gguf")
        let file = try GGUFFile(path: dir + "/mistral.gguf")
        XCTAssertEqual(file.architecture, "llama")
        XCTAssertEqual(file.metadata["llama.attention.sliding_window"]?.int, 24)
        let reloaded = try GGUFModel.model(from: file)
        XCTAssertEqual(reloaded.config.architecture, .mistral)
        XCTAssertEqual(reloaded.config.slidingWindow, 24)
        try GGUFWriter.save(try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama")), to: dir + "/llama.gguf")
        XCTAssertEqual(try GGUFModel.load(dir + "/llama.gguf").config.architecture, .llama)
    }
}

extension ArchitectureGoldenTests {
    func testGemma3Logits() throws { try checkLogits("tiny-gemma3", architecture: .gemma3) }
    func testGemma3Greedy() throws { try checkGreedy("tiny-gemma3") }
    func testGemma3Perplexity() throws { try checkPerplexity("tiny-gemma3") }
    func testGemma3RoundTrips() throws { try checkRoundTrips("tiny-gemma3") }
}
