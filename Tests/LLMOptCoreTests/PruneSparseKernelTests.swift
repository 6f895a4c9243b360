import Foundation
import XCTest
import LLMOptCore

/// The CSR kernel against the dense one: same results, and an honest speed measurement.
final class PruneSparseKernelTests: XCTestCase {
    /// A [rows, cols] weight pruned by magnitude to `sparsity` (or 2:4), seeded.
    func prunedWeight(rows: Int, cols: Int, sparsity: Double?, seed: UInt64) throws -> Tensor {
        var rng = SplitMix64(seed: seed)
        let values = (0..<(rows * cols)).map { _ in Float(Int64(rng.next() % 2_000_001) - 1_000_000) / 1e7 }
        let dense = Tensor(shape: [rows, cols], floats: values)
        let model = Model(config: ModelConfig(architecture: .llama, vocabSize: 1, hiddenSize: cols, intermediateSize: rows, numLayers: 1,
                                              numHeads: 1, numKVHeads: 1, maxPositions: 1, normEps: 1e-5, tieEmbeddings: true),
                          weights: ["model.layers.0.mlp.up_proj.weight": dense])
        let options = try sparsity.map { PruneOptions(sparsity: $0) } ?? PruneOptions(pattern: NMPattern("2:4"))
        return try Pruning.prune(model, method: "magnitude", options: options).0.weight("model.layers.0.mlp.up_proj.weight")
    }

    func activations(_ count: Int) -> [Float] {
        var rng = SplitMix64(seed: 99)
        return (0..<count).map { _ in Float(Int64(rng.next() % 2001) - 1000) / 1000 }
    }

    func testSparseMultiplyMatchesDense() throws {
        for (sparsity, tokens) in [(0.7, 1), (0.7, 5), (nil, 3)] as [(Double?, Int)] {
            let w = try prunedWeight(rows: 96, cols: 80, sparsity: sparsity, seed: 3)
            let sparse = try SparseMatrix(w)
            XCTAssertEqual(sparse.nonZeroCount, w.floats().filter { $0 != 0 }.count)
            let x = activations(tokens * 80)
            var dense = [Float](repeating: 0, count: tokens * 96), ours = dense
            x.withUnsafeBufferPointer { xp in
                dense.withUnsafeMutableBufferPointer { Linear.forward(xp.baseAddress!, rows: tokens, weight: w, into: $0.baseAddress!) }
                ours.withUnsafeMutableBufferPointer { sparse.multiply(xp.baseAddress!, tokens: tokens, into: $0.baseAddress!) }
            }
            for i in 0..<dense.count { XCTAssertEqual(ours[i], dense[i], accuracy: 1e-4) }
        }
        XCTAssertThrowsError(try SparseMatrix(Tensor(shape: [4], floats: [1, 2, 3, 4]), name: "bias")) { e in
            XCTAssertTrue("\(e)".contains("bias"))
        }
    }

    func testVerySparseWeightsDecodeThroughTheirCSRCopy() throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        let (withCopy, report) = try Pruning.prune(model, method: "magnitude", options: PruneOptions(sparsity: 0.8))
        let (withoutCopy, _) = try Pruning.prune(model, method: "magnitude", options: PruneOptions(sparsity: 0.8, sparseKernel: false))
        XCTAssertTrue(report.notes.contains { $0.contains("14 tensors") && $0.contains("CSR") }, "\(report.notes)")
        for row in report.rows {
            XCTAssertTrue(withCopy.weights[row.name]!.storage.attachment is SparseMatrix, row.name)
            XCTAssertNil(withoutCopy.weights[row.name]!.storage.attachment, row.name)
        }
        // Prefill goes through the dense GEMM, decoding through the CSR copy: same logits.
        let prompt = [1, 17, 300, 42, 99]
        let a = try InferenceSession(model: withCopy, capacity: 8), b = try InferenceSession(model: withoutCopy, capacity: 8)
        XCTAssertEqual(try a.forward(prompt), try b.forward(prompt))
        let x = try a.forward([7]), y = try b.forward([7])
        for i in 0..<x.count { XCTAssertEqual(x[i], y[i], accuracy: 1e-4) }
        let (half, halfReport) = try Pruning.prune(model, method: "magnitude", options: PruneOptions(sparsity: 0.5))
        XCTAssertFalse(halfReport.notes.contains { $0.contains("CSR") })
        XCTAssertNil(half.weights["model.layers.0.mlp.up_proj.weight"]!.storage.attachment)
    }

    /// Decode tokens/s of SmolLM2 pruned to 70% and 90% (float32), with and without the CSR copies.
    func testMeasureDecodeWithSparseCopies() throws {
        guard ProcessInfo.processInfo.environment["LLMOPT_BENCH"] != nil else {
            throw XCTSkip("benchmark: set LLMOPT_BENCH=1 to measure")
        }
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Examples/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("SmolLM2 not fetched: run Scripts/fetch-models") }
        let model = try ModelLoader.load(path: path)
        for sparsity in [0.0, 0.5, 0.7, 0.9] {
            for sparseKernel in [false, true] where !(sparseKernel && sparsity < 0.7) {
                let (pruned, _) = try Pruning.prune(model, method: "magnitude", options: PruneOptions(sparsity: sparsity, sparseKernel: sparseKernel))
                let t = try Throughput.measure(model: pruned, promptTokens: 64, decodeTokens: 32)
                print(String(format: "SmolLM2 f32 sparsity %.0f%% %@: prefill %.1f tok/s, decode %.1f tok/s", sparsity * 100,
                             sparseKernel ? "with CSR copies" : "dense", t.prefillTokensPerSecond, t.decodeTokensPerSecond))
            }
        }
    }

    /// Milliseconds per call, best of `repeats` after a warm-up.
    func time(repeats: Int = 20, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<repeats {
            let t = Date()
            body()
            best = min(best, Date().timeIntervalSince(t) * 1000)
        }
        return best
    }

    /// Prints dense vs CSR timings for a SmolLM2 MLP shape (1536 x 576) at 30/50/70/90% and 2:4,
    /// with the weights in cache (one matrix, called again and again) and cold (cycling over 32
    /// copies, 113 MB dense, as in decoding where every weight comes from memory once per token).
    /// Run with LLMOPT_BENCH=1 on an idle machine; compare with a BLAS (numpy) measured alongside.
    func testMeasureSparseAgainstDense() throws {
        guard ProcessInfo.processInfo.environment["LLMOPT_BENCH"] != nil else {
            throw XCTSkip("benchmark: set LLMOPT_BENCH=1 to measure")
        }
        let (rows, cols, copies) = (1536, 576, 32)
        for tokens in [1, 128] {
            let x = activations(tokens * cols)
            var y = [Float](repeating: 0, count: tokens * rows)
            for sparsity in [0, 0.3, 0.5, 0.7, 0.9, nil] as [Double?] {
                let w = try prunedWeight(rows: rows, cols: cols, sparsity: sparsity, seed: 5)
                let ws = (0..<copies).map { _ in Tensor(shape: w.shape, floats: w.floats()) }
                let sparse = try (0..<copies).map { _ in try SparseMatrix(w) }
                func run(_ i: Int, _ xp: UnsafePointer<Float>, _ yp: UnsafeMutablePointer<Float>, csr: Bool) {
                    if csr { sparse[i].multiply(xp, tokens: tokens, into: yp) } else { Linear.forward(xp, rows: tokens, weight: ws[i], into: yp) }
                }
                var line = "tokens \(tokens) " + (sparsity.map { String(format: "%.0f%%", $0 * 100) } ?? "2:4") + ":"
                for csr in [false, true] {
                    let (warm, cold) = x.withUnsafeBufferPointer { xb in
                        y.withUnsafeMutableBufferPointer { yb in
                            let xp = xb.baseAddress!, yp = yb.baseAddress!
                            let warm = time(repeats: 10) { run(0, xp, yp, csr: csr) }
                            let cold = time(repeats: 2) { for i in 0..<copies { run(i, xp, yp, csr: csr) } } / Double(copies)
                            return (warm, cold)
                        }
                    }
                    line += String(format: "  %@ %d B warm %.3f ms cold %.3f ms", csr ? "csr" : "dense", csr ? sparse[0].byteCount : w.byteCount, warm, cold)
                }
                print(line)
            }
        }
    }
}
