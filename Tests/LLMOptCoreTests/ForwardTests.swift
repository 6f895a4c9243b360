import Foundation
import LLMOptCore
import XCTest

/// Logits of the tiny fixture models against PyTorch/transformers (golden/logits_*_hello.json).
final class ForwardTests: XCTestCase {
    struct Golden: Decodable {
        struct Position: Decodable {
            let pos: Int
            let argmax: Int
            let topk_ids: [Int]
            let topk_logits: [Float]
            let first_logits: [Float]
            let logsumexp: Double
        }
        let ids: [Int]
        let vocab_size: Int
        let positions: [Position]
    }

    func loadGolden(_ name: String) throws -> Golden {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("golden/\(name)")))
        return try JSONDecoder().decode(Golden.self, from: data)
    }

    func checkLogits(model folder: String, golden name: String) throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/\(folder)"))
        let golden = try loadGolden(name)
        let session = try InferenceSession(model: model, capacity: 64)
        let vocab = session.vocabSize
        XCTAssertEqual(vocab, golden.vocab_size)
        let logits = try session.forward(golden.ids, logits: .all)
        XCTAssertEqual(logits.count, golden.ids.count * vocab)
        XCTAssertEqual(session.position, golden.ids.count)
        for p in golden.positions {
            let row = Array(logits[p.pos * vocab ..< (p.pos + 1) * vocab])
            let order = row.indices.sorted { row[$0] > row[$1] }
            XCTAssertEqual(order[0], p.argmax, "argmax at \(p.pos)")
            XCTAssertEqual(Array(order.prefix(p.topk_ids.count)), p.topk_ids, "top-k at \(p.pos)")
            for (id, want) in zip(p.topk_ids, p.topk_logits) {
                XCTAssertEqual(row[id], want, accuracy: 1e-4, "logit \(id) at \(p.pos)")
            }
            for (i, want) in p.first_logits.enumerated() {
                XCTAssertEqual(row[i], want, accuracy: 1e-4, "logit \(i) at \(p.pos)")
            }
            let m = Double(row.max()!)
            let lse = m + log(row.reduce(0.0) { $0 + exp(Double($1) - m) })
            XCTAssertEqual(lse, p.logsumexp, accuracy: 1e-4, "logsumexp at \(p.pos)")
        }
    }

    func testTinyLlamaLogitsMatchTransformers() throws {
        try checkLogits(model: "tiny-llama", golden: "logits_tiny-llama_hello.json")
    }

    func testTinyGPT2LogitsMatchTransformers() throws {
        try checkLogits(model: "tiny-gpt2", golden: "logits_tiny-gpt2_hello.json")
    }

    /// One token at a time through the KV cache gives the logits of one batched prefill.
    func checkIncrementalDecode(model folder: String) throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/\(folder)"))
        let ids = try loadGolden("logits_\(folder)_hello.json").ids
        let batched = try InferenceSession(model: model, capacity: 32)
        let all = try batched.forward(ids, logits: .all)
        let stepwise = try InferenceSession(model: model, capacity: 32)
        let vocab = stepwise.vocabSize
        var maxDiff: Float = 0
        for (t, id) in ids.enumerated() {
            let row = try stepwise.forward([id])
            for i in 0..<vocab { maxDiff = max(maxDiff, abs(row[i] - all[t * vocab + i])) }
        }
        XCTAssertLessThan(maxDiff, 1e-5)
        // Prefill split in two batches, `.last` only.
        let split = try InferenceSession(model: model, capacity: 32)
        _ = try split.forward(Array(ids.prefix(5)))
        let last = try split.forward(Array(ids.dropFirst(5)))
        XCTAssertEqual(last.count, vocab)
        for i in 0..<vocab { XCTAssertEqual(last[i], all[(ids.count - 1) * vocab + i], accuracy: 1e-5) }
    }

    /// The prefill attention (blocks of 32 queries, each over only the keys it can see) against
    /// the one-token decode path: 70 tokens as one batch, as 23 + 47 (blocks starting at
    /// position 23), and token by token, over both tiny models (Llama with grouped KV heads).
    func checkBlockAttention(model folder: String) throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/\(folder)"))
        let count = 70
        let batched = try InferenceSession(model: model, capacity: count)
        let vocab = batched.vocabSize
        let ids = (0..<count).map { ($0 * 7919 + 11) % vocab }
        let all = try batched.forward(ids, logits: .all)
        let split = try InferenceSession(model: model, capacity: count)
        let first = try split.forward(Array(ids.prefix(23)), logits: .all)
        let second = try split.forward(Array(ids.dropFirst(23)), logits: .all)
        let stepwise = try InferenceSession(model: model, capacity: count)
        var maxDiff: Float = 0
        for (t, id) in ids.enumerated() {
            let row = try stepwise.forward([id])
            let chunked = t < 23 ? first[(t * vocab)...] : second[((t - 23) * vocab)...]
            for i in 0..<vocab {
                maxDiff = max(maxDiff, abs(row[i] - all[t * vocab + i]), abs(chunked[chunked.startIndex + i] - all[t * vocab + i]))
            }
        }
        XCTAssertLessThan(maxDiff, 1e-4)
    }

    func testTinyLlamaBlockAttentionMatchesDecode() throws { try checkBlockAttention(model: "tiny-llama") }
    func testTinyGPT2BlockAttentionMatchesDecode() throws { try checkBlockAttention(model: "tiny-gpt2") }

    func testTinyLlamaIncrementalDecodeMatchesPrefill() throws { try checkIncrementalDecode(model: "tiny-llama") }
    func testTinyGPT2IncrementalDecodeMatchesPrefill() throws { try checkIncrementalDecode(model: "tiny-gpt2") }

    func testSessionRejectsBadInput() throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        let session = try InferenceSession(model: model, capacity: 4)
        XCTAssertThrowsError(try session.forward([1, 2, 3, 4, 5])) { error in
            XCTAssertTrue("\(error)".contains("capacity of 4"), "\(error)")
        }
        XCTAssertThrowsError(try session.forward([9999])) { error in
            XCTAssertTrue("\(error)".contains("9999"), "\(error)")
        }
        var broken = model
        broken.weights["model.layers.1.mlp.up_proj.weight"] = nil
        XCTAssertThrowsError(try InferenceSession(model: broken, capacity: 4)) { error in
            XCTAssertTrue("\(error)".contains("model.layers.1.mlp.up_proj.weight"), "\(error)")
        }
        session.isCancelled = { true }
        XCTAssertThrowsError(try session.forward([1])) { error in
            XCTAssertEqual(error as? LLMOptError, .cancelled)
        }
    }

    /// The observer sees every linear layer's input with its weight name and shape.
    func testLinearInputObserverSeesEveryLinear() throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        let session = try InferenceSession(model: model, capacity: 16)
        var seen: [String: (Int, Int)] = [:]
        session.linearInputObserver = { name, _, rows, cols in seen[name] = (rows, cols) }
        _ = try session.forward([1, 5, 6, 7])
        for l in 0..<2 {
            for n in ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj"] {
                XCTAssertEqual(seen["model.layers.\(l).\(n).weight"]?.0, 4)
                XCTAssertEqual(seen["model.layers.\(l).\(n).weight"]?.1, 64)
            }
            XCTAssertEqual(seen["model.layers.\(l).mlp.down_proj.weight"]?.1, 172)
        }
        XCTAssertEqual(seen["lm_head.weight"]?.0, 1)
    }

    /// Block by block (`embed`, then `runBlock` for each block) the linear layers see the very
    /// inputs of a full forward pass, beyond one prefill batch (256 tokens) included; bad
    /// arguments are errors that say which.
    func testBlockByBlockMatchesForward() throws {
        final class Recorder {
            var inputs: [String: [Float]] = [:]
            func listen(_ session: InferenceSession) {
                session.linearInputObserver = { name, x, rows, cols in
                    self.inputs[name, default: []] += Array(UnsafeBufferPointer(start: x, count: rows * cols))
                }
            }
        }
        for (folder, count) in [("tiny-llama", 300), ("tiny-gpt2", 200)] {
            let model = try HuggingFaceFolder.load(Fixtures.path("models/\(folder)"))
            let tokens = (0..<count).map { 1 + ($0 * 37) % 500 }
            let full = Recorder(), blockwise = Recorder()
            let session = try InferenceSession(model: model, capacity: count)
            full.listen(session)
            _ = try session.forward(tokens)
            let stepper = try InferenceSession(model: model, capacity: count)
            blockwise.listen(stepper)
            var hidden = try stepper.embed(tokens)
            XCTAssertEqual(hidden.count, count * model.config.hiddenSize)
            for block in 0..<model.config.numLayers { try stepper.runBlock(block, hidden: &hidden) }
            XCTAssertEqual(stepper.position, 0)
            XCTAssertEqual(blockwise.inputs.count, full.inputs.count - 1, "\(folder): every linear layer but the head")
            for (name, x) in blockwise.inputs {
                let y = try XCTUnwrap(full.inputs[name], name)
                XCTAssertEqual(x.count, y.count, name)
                XCTAssertEqual(zip(x, y).map { abs($0 - $1) }.max() ?? 0, 0, accuracy: 1e-5, name)
            }
            XCTAssertThrowsError(try stepper.runBlock(model.config.numLayers, hidden: &hidden)) { XCTAssertTrue("\($0)".contains("block"), "\($0)") }
            var ragged = [Float](repeating: 0, count: model.config.hiddenSize + 1)
            XCTAssertThrowsError(try stepper.runBlock(0, hidden: &ragged)) { XCTAssertTrue("\($0)".contains("hidden"), "\($0)") }
            XCTAssertThrowsError(try stepper.embed(tokens + [1])) { XCTAssertTrue("\($0)".contains("capacity"), "\($0)") }
        }
    }
}
