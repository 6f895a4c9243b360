import Foundation
import XCTest
import LLMOptCore

/// The CSR kernel against the dense one: same results (its speed: Scripts/bench-pruning).
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
            XCTAssertTrue(withCopy.weights[row.name]!.storage.sparse != nil, row.name)
            XCTAssertNil(withoutCopy.weights[row.name]!.storage.sparse, row.name)
        }
        // Prefill goes through the dense GEMM, decoding through the CSR copy: same logits.
        let prompt = [1, 17, 300, 42, 99]
        let a = try InferenceSession(model: withCopy, capacity: 8), b = try InferenceSession(model: withoutCopy, capacity: 8)
        XCTAssertEqual(try a.forward(prompt), try b.forward(prompt))
        let x = try a.forward([7]), y = try b.forward([7])
        for i in 0..<x.count { XCTAssertEqual(x[i], y[i], accuracy: 1e-4) }
        let (half, halfReport) = try Pruning.prune(model, method: "magnitude", options: PruneOptions(sparsity: 0.5))
        XCTAssertFalse(halfReport.notes.contains { $0.contains("CSR") })
        XCTAssertNil(half.weights["model.layers.0.mlp.up_proj.weight"]!.storage.sparse)
    }
}
