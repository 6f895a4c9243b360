// `llmopt-bench --pruning [--quick] [--model PATH]`: what pruning buys and costs on this machine.
// Every ratio compares with a dense baseline measured in the same run (the machine is shared).
import Foundation
import LLMOptCore

/// A [rows, cols] float32 weight of seeded values, pruned by magnitude to `sparsity` (nil: 2:4).
func prunedWeight(rows: Int, cols: Int, sparsity: Double?) throws -> Tensor {
    var rng = SplitMix64(seed: 5)
    let values = (0..<(rows * cols)).map { _ in Float(Int64(rng.next() % 2_000_001) - 1_000_000) / 1e7 }
    let model = Model(config: ModelConfig(architecture: .llama, vocabSize: 1, hiddenSize: cols, intermediateSize: rows, numLayers: 1,
                                          numHeads: 1, numKVHeads: 1, maxPositions: 1, normEps: 1e-5, tieEmbeddings: true),
                      weights: ["w": Tensor(shape: [rows, cols], floats: values)])
    let selection = try TensorSelection(targets: ["^w$"])
    let options = try sparsity.map { PruneOptions(sparsity: $0, selection: selection) }
        ?? PruneOptions(pattern: NMPattern("2:4"), selection: selection)
    return try Pruning.prune(model, method: "magnitude", options: options).0.weight("w")
}

/// Dense GEMM/GEMV against the CSR kernel on a SmolLM2 MLP shape (1536 x 576), warm (one
/// matrix, in cache) and cold (cycling over 32 copies, 113 MB dense, as decoding reads weights).
func benchSparseKernels(runs: Int) throws {
    let (rows, cols, copies) = (1536, 576, 32)
    print("\nDense vs CSR kernel, \(rows) x \(cols) weight, ms per call (warm: in cache; cold: 32 copies cycled); ratio = dense / CSR")
    for tokens in [1, 128] {
        var rng = SplitMix64(seed: 99)
        let x = (0..<(tokens * cols)).map { _ in Float(Int64(rng.next() % 2001) - 1000) / 1000 }
        var y = [Float](repeating: 0, count: tokens * rows)
        for sparsity in [0, 0.5, 0.7, 0.9, nil] as [Double?] {
            let w = try prunedWeight(rows: rows, cols: cols, sparsity: sparsity)
            let dense = (0..<copies).map { _ in Tensor(shape: w.shape, floats: w.floats()) }
            let sparse = try (0..<copies).map { _ in try SparseMatrix(w) }
            func time(csr: Bool, copies used: Int) -> Double {
                best(runs: runs) {
                    x.withUnsafeBufferPointer { xb in
                        y.withUnsafeMutableBufferPointer { yb in
                            for i in 0..<used {
                                if csr { sparse[i].multiply(xb.baseAddress!, tokens: tokens, into: yb.baseAddress!) }
                                else { Linear.forward(xb.baseAddress!, rows: tokens, weight: dense[i], into: yb.baseAddress!) }
                            }
                        }
                    }
                } / Double(used) * 1e3
            }
            let (dWarm, dCold) = (time(csr: false, copies: 1), time(csr: false, copies: copies))
            let (sWarm, sCold) = (time(csr: true, copies: 1), time(csr: true, copies: copies))
            let label = sparsity.map { String(format: "%.0f%%", $0 * 100) } ?? "2:4"
            print(String(format: "  tokens %3d %@ dense %7.3f / %7.3f   csr (%7d B) %7.3f / %7.3f   ratio warm %.2fx cold %.2fx",
                         tokens, label.padding(toLength: 4, withPad: " ", startingAt: 0), dWarm, dCold, sparse[0].byteCount, sWarm, sCold, dWarm / sWarm, dCold / sCold))
        }
    }
}

/// Prefill and decode tok/s of pruned copies of `model` against the dense model, same run.
func benchPrunedThroughput(_ model: Model, runs: Int) throws {
    func measure(_ label: String, _ m: Model, against base: ThroughputReport?) throws -> ThroughputReport {
        let t = try Throughput.measure(model: m, promptTokens: 128, decodeTokens: 32, runs: runs)
        let ratios = base.map { String(format: "   %.2fx prefill, %.2fx decode", t.prefillTokensPerSecond / $0.prefillTokensPerSecond,
                                       t.decodeTokensPerSecond / $0.decodeTokensPerSecond) } ?? "   (baseline)"
        print("  " + label.padding(toLength: 24, withPad: " ", startingAt: 0) + " " + Format.bytes(m.byteCount, width: 10) + String(format: "  prefill %7.1f tok/s  decode %6.1f tok/s",
                     t.prefillTokensPerSecond, t.decodeTokensPerSecond) + ratios)
        return t
    }
    print("\nStructured pruning of SmolLM2 (Q4_1 storage kept), 128-token prompt, 32 decoded tokens")
    let dense = try measure("dense", model, against: nil)
    for (method, sparsity) in [("channels", 0.25), ("channels", 0.5), ("heads", 1.0 / 3), ("layers", 0.2)] {
        let pruned = try Pruning.prune(model, method: method, options: PruneOptions(sparsity: sparsity)).0
        _ = try measure(String(format: "%@ %.2f", method, sparsity), pruned, against: dense)
    }
    // Pruned weights are float32 (a zero is not exact in every block format): 0% is the dense baseline.
    print("\nUnstructured magnitude pruning of SmolLM2 (pruned weights float32), with and without CSR copies for decoding")
    var f32Dense: ThroughputReport?
    for sparsity in [0.0, 0.5, 0.7, 0.9] {
        for sparseKernel in [false, true] where !(sparseKernel && sparsity < SparseMatrix.attachSparsity) {
            let pruned = try Pruning.prune(model, method: "magnitude", options: PruneOptions(sparsity: sparsity, sparseKernel: sparseKernel)).0
            let t = try measure(String(format: "f32 %.0f%% %@", sparsity * 100, sparseKernel ? "+ CSR copies" : "dense kernel"), pruned, against: f32Dense)
            if f32Dense == nil { f32Dense = t }
        }
    }
}

/// Seconds Wanda and SparseGPT take on `model` with `samples` x `length` calibration tokens.
func benchCalibratedPruning(_ model: Model, text: String, samples: Int, length: Int) throws {
    print("\nCalibrated pruning of SmolLM2 to 50%, \(samples) x \(length) calibration tokens")
    let calibration = try Calibration(text: text, samples: samples, length: length, seed: 0)
    for method in ["magnitude", "wanda", "sparsegpt"] {
        let (_, report) = try Pruning.prune(model, method: method, options: PruneOptions(sparsity: 0.5, calibration: calibration))
        print("  " + method.padding(toLength: 10, withPad: " ", startingAt: 0) + String(format: " %7.1f s   sparsity %.4f", report.seconds, report.overallSparsity))
    }
}

func runPruningBench(arguments: ArraySlice<String>, quick: Bool, runs: Int) throws {
    let path = arguments.firstIndex(of: "--model").map { arguments[arguments.index(after: $0)] }
        ?? "Examples/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    try benchSparseKernels(runs: runs)
    guard FileManager.default.fileExists(atPath: path) else {
        print("\n\(path) not found (run Scripts/fetch-models): the SmolLM2 rows are left out")
        return
    }
    let model = try ModelLoader.load(path: path)
    try benchPrunedThroughput(model, runs: quick ? 1 : 3)
    let textPath = arguments.firstIndex(of: "--text").map { arguments[arguments.index(after: $0)] } ?? "Examples/data/hamlet.txt"
    let text = try String(contentsOfFile: textPath, encoding: .utf8)
    try benchCalibratedPruning(model, text: text, samples: quick ? 4 : 16, length: 256)
}
