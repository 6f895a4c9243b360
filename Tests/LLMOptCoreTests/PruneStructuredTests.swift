import XCTest
import LLMOptTestSupport
import LLMOptCore

/// N:M and structured pruning: exact patterns, real shrinking, and forward passes that agree
/// with the dense model in which the removed parts were zeroed.
final class PruneStructuredTests: XCTestCase {
    let tokens = [1, 17, 300, 42, 99, 5, 260, 7, 411, 3, 88, 120]

    func load(_ name: String) throws -> Model { try HuggingFaceFolder.load(Fixtures.path("models/\(name)")) }

    func logits(_ model: Model, _ ids: [Int]) throws -> [Float] {
        try InferenceSession(model: model, capacity: ids.count).forward(ids, logits: .all)
    }

    func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// `original` with the columns of `name` that the pruned model no longer has set to zero.
    func zeroingRemovedColumns(_ original: Model, pruned: Model, _ name: String) throws -> Model {
        let a = try original.weight(name), b = try pruned.weight(name)
        let (rows, cols, kept) = (a.shape[0], a.shape[1], b.shape[1])
        let av = a.floats(), bv = b.floats()
        func column(_ v: [Float], _ width: Int, _ j: Int) -> [Float] { (0..<rows).map { v[$0 * width + j] } }
        let keptColumns = Set((0..<kept).map { column(bv, kept, $0) })
        var out = av
        for j in 0..<cols where !keptColumns.contains(column(av, cols, j)) {
            for r in 0..<rows { out[r * cols + j] = 0 }
        }
        return original.replacing(name, with: Tensor(shape: a.shape, floats: out))
    }

    func testTwoFourPatternIsExact() throws {
        let model = try load("tiny-llama")
        let (pruned, report) = try Pruning.prune(model, method: "magnitude", options: PruneOptions(pattern: try NMPattern("2:4")))
        XCTAssertEqual(report.rows.count, 14)
        XCTAssertEqual(report.overallSparsity, 0.5, accuracy: 1e-12)
        for row in report.rows {
            let before = try model.weight(row.name).floats(), after = try pruned.weight(row.name).floats()
            for g in stride(from: 0, to: before.count, by: 4) {
                let group = Array(before[g..<(g + 4)])
                // The two largest |w| stay (the earlier among equals), the other two are zero.
                let keep = Set((0..<4).sorted { abs(group[$0]) != abs(group[$1]) ? abs(group[$0]) > abs(group[$1]) : $0 < $1 }.prefix(2))
                for j in 0..<4 {
                    XCTAssertEqual(after[g + j], keep.contains(j) ? group[j] : 0, "\(row.name) group \(g / 4)")
                }
            }
        }
        XCTAssertTrue(pruned.weights["model.embed_tokens.weight"]!.storage === model.weights["model.embed_tokens.weight"]!.storage)
    }

    func testPatternThatDoesNotDivideTheRowIsAnError() throws {
        let model = try load("tiny-llama")
        // down_proj has 172 input columns: 172 = 21·8 + 4.
        XCTAssertThrowsError(try Pruning.prune(model, method: "magnitude", options: PruneOptions(pattern: try NMPattern("4:8")))) { e in
            XCTAssertTrue("\(e)".contains("down_proj.weight") && "\(e)".contains("172"), "\(e)")
        }
        XCTAssertThrowsError(try NMPattern("4:2"))
        XCTAssertThrowsError(try NMPattern("two:four"))
    }

    func testChannelsShrinkAndMatchZeroedDenseModel() throws {
        for (name, ffnIn, ffnOut) in [("tiny-llama", ["mlp.gate_proj.weight", "mlp.up_proj.weight"], "mlp.down_proj.weight"),
                                      ("tiny-gpt2", ["mlp.c_fc.weight", "mlp.c_fc.bias"], "mlp.c_proj.weight")] {
            let model = try load(name)
            let prefix = model.config.architecture == .llama ? "model.layers." : "transformer.h."
            let channels = model.config.intermediateSize
            let kept = channels - Int((0.25 * Double(channels)).rounded(.toNearestOrEven))
            let (pruned, report) = try Pruning.prune(model, method: "channels", options: PruneOptions(sparsity: 0.25))
            XCTAssertEqual(pruned.config.intermediateSize, kept)
            for (tensor, t) in model.weights where !tensor.contains(".mlp.") {
                XCTAssertTrue(pruned.weights[tensor]!.storage === t.storage, "\(tensor) should be untouched")
            }
            var zeroed = model
            for layer in 0..<model.config.numLayers {
                for t in ffnIn { XCTAssertEqual(try pruned.weight("\(prefix)\(layer).\(t)").shape.first, kept) }
                XCTAssertEqual(try pruned.weight("\(prefix)\(layer).\(ffnOut)").shape, [model.config.hiddenSize, kept])
                zeroed = try zeroingRemovedColumns(zeroed, pruned: pruned, "\(prefix)\(layer).\(ffnOut)")
            }
            let removedBytes = report.rows.reduce(0) { $0 + $1.bytesBefore - $1.bytesAfter }
            XCTAssertGreaterThan(removedBytes, 0)
            XCTAssertEqual(report.modelBytesBefore - report.modelBytesAfter, removedBytes)
            XCTAssertEqual(model.byteCount - pruned.byteCount, removedBytes)
            // Removing a channel is the same as zeroing its output column: same logits.
            let ids = name == "tiny-llama" ? tokens : tokens.map { $0 * 97 }
            let difference = maxDifference(try logits(pruned, ids), try logits(zeroed, ids))
            XCTAssertLessThan(difference, 1e-4, name)
            XCTAssertGreaterThan(maxDifference(try logits(pruned, ids), try logits(model, ids)), 1e-3, "\(name): pruning changed nothing")
        }
    }

    func testCalibratedChannelsMatchZeroedDenseModel() throws {
        let model = try load("tiny-llama")
        let calibration = try Calibration(tokens: (0..<200).map { ($0 * 37 + 11) % 512 }, samples: 4, length: 24)
        let (pruned, report) = try Pruning.prune(model, method: "channels", options: PruneOptions(sparsity: 0.25, calibration: calibration))
        XCTAssertTrue(report.notes.contains { $0.contains("calibration tokens") }, "\(report.notes)")
        var zeroed = model
        for layer in 0..<model.config.numLayers {
            zeroed = try zeroingRemovedColumns(zeroed, pruned: pruned, "model.layers.\(layer).mlp.down_proj.weight")
        }
        XCTAssertLessThan(maxDifference(try logits(pruned, tokens), try logits(zeroed, tokens)), 1e-4)
    }

    func testSavedPrunedModelIsSmallerAndReloads() throws {
        let model = try load("tiny-llama")
        let (pruned, _) = try Pruning.prune(model, method: "channels", options: PruneOptions(sparsity: 0.25))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llmopt-prune-\(ProcessInfo.processInfo.processIdentifier)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = dir.appendingPathComponent("dense.gguf").path, smaller = dir.appendingPathComponent("channels.gguf").path
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try ModelSaver.save(model, to: original)
        try ModelSaver.save(pruned, to: smaller)
        let size = { (p: String) in try XCTUnwrap(FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) }
        XCTAssertLessThan(try size(smaller), try size(original))
        let reloaded = try ModelLoader.load(path: smaller)
        XCTAssertEqual(try reloaded.weight("model.layers.1.mlp.down_proj.weight").shape, [64, 129])
        XCTAssertEqual(try logits(reloaded, tokens).count, tokens.count * 512)
    }

    func testHeadsShrinkAndMatchZeroedDenseModel() throws {
        for name in ["tiny-llama", "tiny-gpt2"] {
            let model = try load(name)
            let (pruned, report) = try Pruning.prune(model, method: "heads", options: PruneOptions(sparsity: 0.5))
            let hd = model.config.headDim
            XCTAssertEqual(pruned.config.numKVHeads, model.config.numKVHeads / 2)
            XCTAssertEqual(pruned.config.numHeads, model.config.numHeads / 2)
            var zeroed = model
            for layer in 0..<model.config.numLayers {
                if name == "tiny-llama" {
                    let p = "model.layers.\(layer).self_attn."
                    XCTAssertEqual(try pruned.weight(p + "q_proj.weight").shape, [2 * hd, 64])
                    XCTAssertEqual(try pruned.weight(p + "k_proj.weight").shape, [hd, 64])
                    XCTAssertEqual(try pruned.weight(p + "v_proj.weight").shape, [hd, 64])
                    XCTAssertEqual(try pruned.weight(p + "o_proj.weight").shape, [64, 2 * hd])
                    zeroed = try zeroingRemovedColumns(zeroed, pruned: pruned, p + "o_proj.weight")
                } else {
                    let p = "transformer.h.\(layer).attn."
                    XCTAssertEqual(try pruned.weight(p + "c_attn.weight").shape, [3 * 2 * hd, 64])
                    XCTAssertEqual(try pruned.weight(p + "c_attn.bias").shape, [3 * 2 * hd])
                    XCTAssertEqual(try pruned.weight(p + "c_proj.weight").shape, [64, 2 * hd])
                    zeroed = try zeroingRemovedColumns(zeroed, pruned: pruned, p + "c_proj.weight")
                }
            }
            XCTAssertLessThan(report.modelBytesAfter, report.modelBytesBefore)
            let ids = name == "tiny-llama" ? tokens : tokens.map { $0 * 97 }
            XCTAssertLessThan(maxDifference(try logits(pruned, ids), try logits(zeroed, ids)), 1e-4, name)
            XCTAssertGreaterThan(maxDifference(try logits(pruned, ids), try logits(model, ids)), 1e-3, "\(name): pruning changed nothing")
        }
    }

    func testLayersAreRemovedAndRenumbered() throws {
        let model = try load("tiny-llama")
        let (pruned, report) = try Pruning.prune(model, method: "layers", options: PruneOptions(sparsity: 0.5))
        XCTAssertEqual(pruned.config.numLayers, 1)
        // The block before the last one goes; the last becomes block 0, sharing its storage.
        XCTAssertTrue(pruned.weights["model.layers.0.mlp.up_proj.weight"]!.storage === model.weights["model.layers.1.mlp.up_proj.weight"]!.storage)
        XCTAssertNil(pruned.weights["model.layers.1.mlp.up_proj.weight"])
        XCTAssertEqual(report.removedTensors.count, 9)
        XCTAssertEqual(report.overallSparsity, 0.5, accuracy: 1e-12)  // one of two identical blocks
        XCTAssertEqual(report.modelParametersBefore - report.modelParametersAfter, report.removedTensors.reduce(0) { $0 + $1.parameters })
        XCTAssertEqual(try logits(pruned, tokens).count, tokens.count * 512)

        let (explicit, _) = try Pruning.prune(model, method: "layers", options: PruneOptions(layers: [1]))
        XCTAssertTrue(explicit.weights["model.layers.0.mlp.up_proj.weight"]!.storage === model.weights["model.layers.0.mlp.up_proj.weight"]!.storage)
        XCTAssertThrowsError(try Pruning.prune(model, method: "layers", options: PruneOptions(layers: [2]))) { e in
            XCTAssertTrue("\(e)".contains("layer 2 does not exist"), "\(e)")
        }
    }
}

/// Channel pruning on a real model (SmolLM2-135M expanded to float32). Its FFNs have a few
/// channels whose activations are hundreds of times the median; weight norms alone ranked some
/// of them last, so removing 10% of the channels took perplexity from 29 to 15,000. Scored with
/// calibration activations the same pruning must cost little, and the shrunk model must compute
/// exactly what the dense model with the removed channels zeroed computes.
final class PruneChannelsSmolLM2Tests: XCTestCase {
    func smolLM2() throws -> Model {
        let path = try SharedFiles.smolLM2()
        var model = try ModelLoader.load(path: path)
        for (name, tensor) in model.weights where tensor.dtype != .f32 { model.weights[name] = tensor.toF32() }
        return model
    }

    func testCalibratedChannelPruningKeepsPerplexityAndMatchesZeroedModel() throws {
        let model = try smolLM2()
        let text = try String(contentsOfFile: Fixtures.path("text/eval_gpl3.txt"), encoding: .utf8)
        // Evaluate on the first 128 tokens, calibrate on windows drawn from the rest of the text.
        let calibration = try Calibration(text: String(text.dropFirst(10000)), samples: 8, length: 128)
        let dense = try Perplexity.evaluate(model: model, text: text, ctx: 128, maxTokens: 128)
        let (pruned, report) = try Pruning.prune(model, method: "channels", options: PruneOptions(sparsity: 0.1, calibration: calibration))
        XCTAssertEqual(pruned.config.intermediateSize, 1536 - 154)
        XCTAssertTrue(report.notes.contains { $0.contains("calibration tokens") }, "\(report.notes)")
        let after = try Perplexity.evaluate(model: pruned, text: text, ctx: 128, maxTokens: 128)
        print("SmolLM2 channels 10%, calibrated: perplexity \(dense.ppl) -> \(after.ppl)")
        XCTAssertLessThan(after.ppl, 1.5 * dense.ppl)
        XCTAssertGreaterThan(after.ppl, dense.ppl * 0.9)

        // The dense model with the removed columns of every down_proj set to zero (the kept
        // columns are found in order by their first 8 values) gives the same logits.
        var zeroed = model
        for layer in 0..<model.config.numLayers {
            let name = "model.layers.\(layer).mlp.down_proj.weight"
            let a = try model.weight(name), b = try pruned.weight(name)
            let (rows, cols, kept) = (a.shape[0], a.shape[1], b.shape[1])
            let av = a.floats(), bv = b.floats()
            var out = av, k = 0
            for j in 0..<cols {
                if k < kept && (0..<8).allSatisfy({ av[$0 * cols + j] == bv[$0 * kept + k] }) { k += 1; continue }
                for r in 0..<rows { out[r * cols + j] = 0 }
            }
            XCTAssertEqual(k, kept, name)
            zeroed = zeroed.replacing(name, with: Tensor(shape: a.shape, floats: out))
        }
        let ids = [1, 504, 3485, 314, 253, 1345, 28, 260, 1790, 30]
        let x = try InferenceSession(model: pruned, capacity: ids.count).forward(ids, logits: .all)
        let y = try InferenceSession(model: zeroed, capacity: ids.count).forward(ids, logits: .all)
        let scale = y.reduce(0) { max($0, abs($1)) }
        XCTAssertLessThan(zip(x, y).reduce(0) { max($0, abs($1.0 - $1.1)) }, 1e-4 * scale)
    }
}
