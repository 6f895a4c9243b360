import Foundation
import XCTest
@testable import LLMOptCore
import LLMOptTestSupport

/// Training against PyTorch's reference data (`testdata/training/README.md`): gradients of
/// tiny-llama and tiny-gpt2 (case 1), AdamW one and twenty steps with warmup, cosine decay and
/// clipping (case 2), accumulation (case 3), bf16 autocast (case 6), SGD (case 7).
final class TrainingReferenceTests: XCTestCase {
    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: try SharedFiles.testdata("training/" + name)))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static func tensors(_ name: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: try SharedFiles.testdata("training/" + name))
    }

    /// A safetensors file read here (F32 as tensors; I64 kept as raw bytes in an `.i32`-less
    /// holder: the engine's reader has no 64-bit integer type).
    static func rawTensors(_ name: String) throws -> [String: Tensor] {
        let data = try Data(contentsOf: URL(fileURLWithPath: try SharedFiles.testdata("training/" + name)))
        let n = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as! [String: Any]
        var out: [String: Tensor] = [:]
        for (key, value) in header where key != "__metadata__" {
            let info = value as! [String: Any], offsets = info["data_offsets"] as! [Int], shape = info["shape"] as! [Int]
            let bytes = data.subdata(in: (8 + n + offsets[0])..<(8 + n + offsets[1]))
            let dtype = info["dtype"] as! String
            let stored = dtype == "I64" ? [shape.reduce(1, *) * 2] : shape
            out[key] = Tensor.raw(shape: stored, dtype: dtype == "I64" ? .i32 : .f32) { p in bytes.copyBytes(to: p) }
            if dtype == "I64" { out[key] = Tensor(shape: shape, dtype: .i32, storage: out[key]!.storage) }
        }
        return out
    }

    static func model(_ name: String) throws -> Model {
        try ModelLoader.load(path: try SharedFiles.testdata("models/" + name))
    }

    static func ids(_ rows: Any?) -> [Int] { ((rows as? [[Any]]) ?? []).flatMap { $0.map { ($0 as! NSNumber).intValue } } }

    /// Max |a − b| and ‖a − b‖ / ‖b‖.
    static func errors(_ a: [Float], _ b: [Float]) -> (maxAbs: Double, relL2: Double) {
        precondition(a.count == b.count)
        var mx = 0.0, diff = 0.0, norm = 0.0
        for i in 0..<a.count {
            let d = Double(a[i]) - Double(b[i])
            mx = max(mx, abs(d))
            diff += d * d
            norm += Double(b[i]) * Double(b[i])
        }
        return (mx, norm > 0 ? (diff / norm).squareRoot() : diff.squareRoot())
    }

    /// `ref` in our [out, in] layout: GPT-2's Conv1D weights are stored [in, out].
    static func asStored(_ ref: Tensor, shape: [Int], conv1D: Bool = false) -> [Float] {
        let v = ref.floats()
        guard conv1D, ref.shape.count == 2, ref.shape.reversed() == shape else { return v }
        let r = ref.shape[0], c = ref.shape[1]
        var out = [Float](repeating: 0, count: v.count)
        for i in 0..<r { for j in 0..<c { out[j * r + i] = v[i * c + j] } }
        return out
    }

    func assertGradients(_ graph: TrainingGraph, _ ref: SafetensorsFile, maxAbs: Double = 1e-5, relL2: Double = 1e-4,
                         skip: Set<String> = [], file: StaticString = #filePath, line: UInt = #line) {
        var checked = 0
        for e in graph.parameters.entries where !skip.contains(e.name) {
            guard let r = ref.tensors[e.name] else { XCTFail("no reference gradient for \(e.name)", file: file, line: line); continue }
            let err = Self.errors(graph.parameters.gradient(e.name), Self.asStored(r, shape: e.shape))
            XCTAssertLessThanOrEqual(err.maxAbs, maxAbs, "\(e.name) max abs", file: file, line: line)
            XCTAssertLessThanOrEqual(err.relL2, relL2, "\(e.name) relative L2", file: file, line: line)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 10, file: file, line: line)
    }

    // MARK: Case 1

    func testGradientsTinyLlama() throws {
        let ref = try Self.json("grads_tiny-llama.json"), batch = ref["batch"] as! [String: Any]
        let ids = Self.ids(batch["ids"])
        XCTAssertEqual(ids.count, 64)
        let model = try Self.model("tiny-llama")
        // The batch is the first 64 ids of the text tokenized once with <s> in front.
        let text = try String(contentsOfFile: try SharedFiles.testdata("text/eval_gpl3.txt"), encoding: .utf8)
        let data = TrainingData(text: text, tokenizer: model.tokenizer!)
        XCTAssertEqual(data.ids.count, 18028)
        XCTAssertEqual(try data.batch(step: 1, rows: 2, seq: 32, order: .sequential, seed: 0), ids)

        let graph = try TrainingGraph(model: model)
        var nll = [Float](repeating: -1, count: 64)
        let loss = try nll.withUnsafeMutableBufferPointer { try graph.run(ids: ids, batch: 2, seq: 32, nll: $0.baseAddress!) }
        XCTAssertEqual(loss, ref["loss"] as! Double, accuracy: 1e-5)
        let refNLL = (ref["nll_per_position"] as! [[Double]])
        for b in 0..<2 { for t in 0..<31 { XCTAssertEqual(Double(nll[b * 32 + t]), refNLL[b][t], accuracy: 1e-5) } }
        assertGradients(graph, try Self.tensors("grads_tiny-llama.safetensors"))
        XCTAssertEqual(graph.parameters.globalGradientNorm(), ref["grad_global_l2_norm"] as! Double, accuracy: 1e-5 * 7.9)
        // The last token of row 1 (343, also elsewhere) — and rows never in the batch — get no lookup gradient.
        let embed = graph.parameters.gradient("model.embed_tokens.weight")
        let unused = (0..<512).filter { !Set(ids).contains($0) }
        XCTAssertTrue(unused.allSatisfy { id in (0..<64).allSatisfy { embed[id * 64 + $0] == 0 } })
    }

    func testGradientsTinyGPT2() throws {
        let ref = try Self.json("grads_tiny-gpt2.json"), batch = ref["batch"] as! [String: Any]
        let ids = Self.ids(batch["ids"])
        let model = try Self.model("tiny-gpt2")
        let graph = try TrainingGraph(model: model)
        let loss = try graph.run(ids: ids, batch: 2, seq: 32)
        XCTAssertEqual(loss, ref["loss"] as! Double, accuracy: 1e-5)
        let tensors = try Self.rawTensors("grads_tiny-gpt2.safetensors")
        for e in graph.parameters.entries where e.name != "transformer.wte.weight" {
            let err = Self.errors(graph.parameters.gradient(e.name), Self.asStored(tensors[e.name]!, shape: e.shape, conv1D: e.name.hasPrefix("transformer.h.") && e.shape.count == 2))
            XCTAssertLessThanOrEqual(err.maxAbs, 1e-5, "\(e.name) max abs")
            XCTAssertLessThanOrEqual(err.relL2, 1e-4, "\(e.name) relative L2")
        }
        // wte (tied head): the stored rows in full, every row's norm.
        let wte = graph.parameters.gradient("transformer.wte.weight"), d = 64
        let rowIDs = tensors["transformer.wte.weight.grad_rows.ids"]!
        let rows = (0..<rowIDs.count).map { Int(rowIDs.rawPointer.load(fromByteOffset: $0 * 8, as: Int64.self)) }
        XCTAssertEqual(rows.count, 55)
        let refRows = tensors["transformer.wte.weight.grad_rows"]!.floats()
        let ours = rows.flatMap { Array(wte[($0 * d)..<(($0 + 1) * d)]) }
        let err = Self.errors(ours, refRows)
        XCTAssertLessThanOrEqual(err.maxAbs, 1e-5)
        XCTAssertLessThanOrEqual(err.relL2, 1e-4)
        let norms = tensors["transformer.wte.weight.grad_row_l2_norms"]!.floats()
        var worst = 0.0
        for r in 0..<norms.count where norms[r] > 1e-6 {
            let n = ParameterSet.sumSquares(wte.withUnsafeBufferPointer { $0.baseAddress! + r * d }, d).squareRoot()
            worst = max(worst, abs(n - Double(norms[r])) / Double(norms[r]))
        }
        XCTAssertLessThanOrEqual(worst, 1e-5, "wte row norms")
        XCTAssertEqual(graph.parameters.globalGradientNorm(), ref["grad_global_l2_norm"] as! Double, accuracy: 1e-4)
    }

    /// Activation checkpointing: the same loss and gradients bit for bit (the layers run again on
    /// the same inputs), PyTorch's case-1 gradients still, and less memory held for activations.
    func testRecomputedActivationsGiveIdenticalGradients() throws {
        for name in ["tiny-llama", "tiny-gpt2"] {
            let ids = Self.ids((try Self.json("grads_\(name).json")["batch"] as! [String: Any])["ids"])
            let kept = try TrainingGraph(model: try Self.model(name))
            let recomputed = try TrainingGraph(model: try Self.model(name))
            recomputed.recomputeActivations = true
            for precision in [TrainingPrecision.fp32, .bf16] {
                kept.autocast = precision
                recomputed.autocast = precision
                kept.parameters.zeroGradients()
                recomputed.parameters.zeroGradients()
                let a = try kept.run(ids: ids, batch: 2, seq: 32), b = try recomputed.run(ids: ids, batch: 2, seq: 32)
                XCTAssertEqual(a, b, "\(name) \(precision) loss")
                let ga = kept.parameters.withGradients { Array($0) }, gb = recomputed.parameters.withGradients { Array($0) }
                XCTAssertEqual(ga, gb, "\(name) \(precision) gradients")
            }
            XCTAssertLessThan(recomputed.activationBytes, kept.activationBytes, name)
            if name == "tiny-llama" {
                // What one Llama layer keeps (B 2, T 32, d 64, 4 heads of 16, 2 kv heads, ffn 172): two rstd
                // [N], xn1, xn2, mid [N, d], q, ao [N, 64], k, v [N, 32], probs [B, H, T, T], g, u, h [N, ffn].
                let N = 64, d = 64, layer = 4 * (2 * N + 3 * N * d + 2 * N * 64 + 2 * N * 32 + 2 * 4 * 32 * 32 + 3 * N * 172)
                XCTAssertEqual(kept.activationBytes - recomputed.activationBytes, (2 - 1) * layer, "one layer's set instead of two")
            }
        }
        let graph = try TrainingGraph(model: try Self.model("tiny-llama"))
        graph.recomputeActivations = true
        let ids = Self.ids((try Self.json("grads_tiny-llama.json")["batch"] as! [String: Any])["ids"])
        XCTAssertEqual(try graph.run(ids: ids, batch: 2, seq: 32), try Self.json("grads_tiny-llama.json")["loss"] as! Double, accuracy: 1e-5)
        assertGradients(graph, try Self.tensors("grads_tiny-llama.safetensors"))
    }

    // MARK: Case 2

    func testAdamWOneStep() throws {
        let ref = try Self.json("adamw_tiny-llama.json"), one = ref["one_step"] as! [String: Any]
        let model = try Self.model("tiny-llama")
        let text = try String(contentsOfFile: try SharedFiles.testdata("text/eval_gpl3.txt"), encoding: .utf8)
        var o = TrainingOptions(steps: 1, batch: 2, seq: 32, lr: 1e-3)
        o.schedule = .constant
        o.clip = nil
        let trainer = try Trainer(model: model, data: TrainingData(text: text, tokenizer: model.tokenizer!), options: o)
        let entry = try trainer.step()
        XCTAssertEqual(entry.loss, one["loss_before"] as! Double, accuracy: 1e-5)
        XCTAssertEqual(entry.lr, 1e-3)
        let after = try Self.tensors("adamw_step1_tiny-llama.safetensors")
        for e in trainer.graph.parameters.entries {
            let err = Self.errors(trainer.graph.parameters.values(e.name), after.tensors[e.name]!.floats())
            XCTAssertLessThanOrEqual(err.maxAbs, 1e-5, e.name)
        }
        let ids = try trainer.data.batch(step: 1, rows: 2, seq: 32, order: .sequential, seed: 0)
        XCTAssertEqual(try trainer.graph.run(ids: ids, batch: 2, seq: 32, backward: false), one["loss_after"] as! Double, accuracy: 1e-5)
    }

    func testAdamWTwentyStepsWarmupCosineClipping() throws {
        let ref = try Self.json("adamw_tiny-llama.json"), twenty = ref["twenty_steps"] as! [String: Any]
        let model = try Self.model("tiny-llama")
        let text = try String(contentsOfFile: try SharedFiles.testdata("text/eval_gpl3.txt"), encoding: .utf8)
        var o = TrainingOptions(steps: 20, batch: 2, seq: 32, lr: 1e-3)
        o.warmup = 5
        o.schedule = .cosine
        o.minLR = 1e-4
        o.clip = 1
        o.weightDecay = 0.1
        let data = TrainingData(text: text, tokenizer: model.tokenizer!)
        let batches = twenty["batch_ids"] as! [Any]
        for (s, b) in batches.enumerated() {
            XCTAssertEqual(try data.batch(step: s + 1, rows: 2, seq: 32, order: .sequential, seed: 0), Self.ids(b), "batch of step \(s + 1)")
        }
        let trainer = try Trainer(model: model, data: data, options: o)
        try trainer.run()
        let steps = twenty["steps"] as! [[String: Any]]
        XCTAssertEqual(trainer.log.count, 20)
        for (entry, r) in zip(trainer.log, steps) {
            XCTAssertEqual(entry.lr, r["lr"] as! Double, accuracy: 1e-12, "lr of step \(entry.step)")
            XCTAssertEqual(entry.loss, r["loss"] as! Double, accuracy: 1e-5, "loss of step \(entry.step)")
            let norm = r["grad_norm_before_clip"] as! Double
            XCTAssertEqual(entry.gradNorm, norm, accuracy: 1e-5 * norm, "grad norm of step \(entry.step)")
        }
        let params = try Self.tensors("adamw_step20_tiny-llama.safetensors"), state = try Self.tensors("adamw_step20_state_tiny-llama.safetensors")
        for e in trainer.graph.parameters.entries {
            XCTAssertLessThanOrEqual(Self.errors(trainer.graph.parameters.values(e.name), params.tensors[e.name]!.floats()).maxAbs, 1e-5, e.name)
            XCTAssertLessThanOrEqual(Self.errors(trainer.optimizer.stateTensor("exp_avg", for: e), state.tensors["exp_avg." + e.name]!.floats()).maxAbs,
                                     1e-6, "m of " + e.name)
            XCTAssertLessThanOrEqual(Self.errors(trainer.optimizer.stateTensor("exp_avg_sq", for: e),
                                                 state.tensors["exp_avg_sq." + e.name]!.floats()).maxAbs, 1e-8, "v of " + e.name)
        }
        let ids = try data.batch(step: 1, rows: 2, seq: 32, order: .sequential, seed: 0)
        XCTAssertEqual(try trainer.graph.run(ids: ids, batch: 2, seq: 32, backward: false), twenty["loss_batch0_after_20_steps"] as! Double,
                       accuracy: 1e-5)
    }

    // MARK: Case 3

    func testAccumulationMatchesBigBatchAndReference() throws {
        let ref = try Self.json("accum_tiny-llama.json")
        let ids = Self.ids((ref["batch"] as! [String: Any])["ids"])
        XCTAssertEqual(ids.count, 128)
        let model = try Self.model("tiny-llama")
        let big = try TrainingGraph(model: model), acc = try TrainingGraph(model: model)
        XCTAssertEqual(try big.run(ids: ids, batch: 4, seq: 32), ref["loss_B4"] as! Double, accuracy: 1e-5)
        let micro = ref["micro_batch_losses"] as! [Double]
        for k in 0..<4 {
            let loss = try acc.run(ids: Array(ids[(k * 32)..<((k + 1) * 32)]), batch: 1, seq: 32, gradScale: 0.25)
            XCTAssertEqual(loss, micro[k], accuracy: 1e-5)
        }
        for e in big.parameters.entries {
            XCTAssertLessThanOrEqual(Self.errors(acc.parameters.gradient(e.name), big.parameters.gradient(e.name)).maxAbs, 1e-6, e.name)
        }
        let tensors = try Self.tensors("accum_tiny-llama.safetensors")
        assertGradients(big, tensors)
        assertGradients(acc, tensors)
    }

    // MARK: Case 6

    func testBF16AutocastCloseToFloat32() throws {
        let ref = try Self.json("bf16.json"), llama = ref["tiny-llama"] as! [String: Any], gpt2 = ref["tiny-gpt2"] as! [String: Any]
        let ids = Self.ids((try Self.json("grads_tiny-llama.json")["batch"] as! [String: Any])["ids"])
        let graph = try TrainingGraph(model: try Self.model("tiny-llama"))
        graph.autocast = .bf16
        let loss = try graph.run(ids: ids, batch: 2, seq: 32)
        let fp32 = llama["loss_fp32"] as! Double
        XCTAssertEqual(loss, fp32, accuracy: 1e-3 * fp32)
        XCTAssertNotEqual(loss, fp32, "autocast must change the arithmetic")
        assertGradients(graph, try Self.tensors("grads_tiny-llama.safetensors"), maxAbs: .infinity, relL2: 5e-2)
        // Against PyTorch's own autocast gradients: as close as two bf16 roundings can be.
        assertGradients(graph, try Self.tensors("bf16_tiny-llama.safetensors"), maxAbs: .infinity, relL2: 5e-2)

        let gids = Self.ids((try Self.json("grads_tiny-gpt2.json")["batch"] as! [String: Any])["ids"])
        let g2 = try TrainingGraph(model: try Self.model("tiny-gpt2"))
        g2.autocast = .bf16
        let gloss = try g2.run(ids: gids, batch: 2, seq: 32, backward: false)
        XCTAssertEqual(gloss, gpt2["loss_fp32"] as! Double, accuracy: 1e-3 * (gpt2["loss_fp32"] as! Double))
    }

    /// fp16 with dynamic loss scaling: a scale that overflows float16 skips the step and halves;
    /// after the growth interval of good steps it doubles; the losses stay close to fp32's.
    func testFP16DynamicLossScaling() throws {
        let model = try Self.model("tiny-llama")
        let text = try String(contentsOfFile: try SharedFiles.testdata("text/eval_gpl3.txt"), encoding: .utf8)
        var o = TrainingOptions(steps: 14, batch: 2, seq: 32, lr: 1e-3)
        o.precision = .fp16
        o.initialLossScale = 268_435_456  // 2^28: overflows float16 (max 65504) in the backward matmuls  // overflows float16 (max 65504) in the first backward matmuls
        o.lossScaleGrowthInterval = 3
        let data = TrainingData(text: text, tokenizer: model.tokenizer!)
        let t = try Trainer(model: model, data: data, options: o)
        try t.run()
        XCTAssertTrue(t.log[0].skipped!, "2^28 overflows")
        XCTAssertGreaterThanOrEqual(t.log.filter { $0.skipped == false }.count, 4)
        // The scale each step must have used, from the overflow flags alone.
        var expected = 268_435_456.0, good = 0
        for entry in t.log {
            XCTAssertEqual(entry.lossScale, expected, "scale of step \(entry.step)")
            if entry.skipped! { expected /= 2; good = 0 } else {
                good += 1
                if good == 3 { expected *= 2; good = 0 }
            }
        }
        XCTAssertTrue(t.log.contains { !$0.skipped! } && t.log.dropFirst().contains { $0.skipped! && $0.lossScale! > 1 })
        var f = o
        f.precision = .fp32
        let ref = try Trainer(model: model, data: data, options: f)
        let first = try ref.step()
        XCTAssertEqual(t.log[0].loss, first.loss, accuracy: 1e-2)
    }

    // MARK: Case 7

    func testSGDOneStep() throws {
        let ref = try Self.json("sgd_tiny-llama.json")
        let model = try Self.model("tiny-llama")
        let text = try String(contentsOfFile: try SharedFiles.testdata("text/eval_gpl3.txt"), encoding: .utf8)
        var o = TrainingOptions(steps: 1, batch: 2, seq: 32, lr: 0.1)
        o.optimizer = .sgd
        o.weightDecay = 0
        o.clip = nil
        o.schedule = .constant
        let trainer = try Trainer(model: model, data: TrainingData(text: text, tokenizer: model.tokenizer!), options: o)
        let entry = try trainer.step()
        XCTAssertEqual(entry.loss, ref["loss_before"] as! Double, accuracy: 1e-5)
        let ids = try trainer.data.batch(step: 1, rows: 2, seq: 32, order: .sequential, seed: 0)
        XCTAssertEqual(try trainer.graph.run(ids: ids, batch: 2, seq: 32, backward: false), ref["loss_after"] as! Double, accuracy: 1e-5)
    }
}
