/// Wanda (Sun, Liu, Bair and Kolter 2023, "A Simple and Effective Pruning Approach for Large
/// Language Models"): weight (i, j) scores |W_ij| · ‖X_j‖₂, the magnitude times the L2 norm of
/// input feature j over all calibration tokens, and each output row drops its round(s·in)
/// lowest scores (or, with an N:M pattern, the M − N lowest of every group). No weight update.
enum Wanda {
    /// A pruned copy of `weight` [out, in] given the L2 norm of each input feature.
    static func prune(_ name: String, weight: Tensor, inputNorms: [Float], sparsity: Double, pattern: NMPattern?) throws -> Tensor {
        let src = weight.toF32()
        let (rows, cols) = (src.rows, src.columns)
        guard inputNorms.count == cols else {
            throw LLMOptError.shapeMismatch(name: name, expected: [rows, inputNorms.count], actual: src.shape, source: "calibration")
        }
        if let pattern {
            return try SemiStructured.prune(name, src, pattern: pattern) { _, c, w in abs(w) * inputNorms[c] }
        }
        let k = Magnitude.pruneCount(sparsity: sparsity, of: cols)
        let w = src.f32Pointer
        return Tensor.f32(shape: src.shape) { out in
            Parallel.forRanges(rows, grain: 8) { range in
                var scores = [Float](repeating: 0, count: cols)
                for r in range {
                    for c in 0..<cols { scores[c] = abs(w[r * cols + c]) * inputNorms[c] }
                    scores.withUnsafeBufferPointer { s in
                        let cut = Magnitude.cut([s], k: k)
                        var ties = cut?.ties ?? 0
                        for c in 0..<cols {
                            out[r * cols + c] = Magnitude.isPruned(Magnitude.key(s[c]), cut, tiesLeft: &ties) ? 0 : w[r * cols + c]
                        }
                    }
                }
            }
        }
    }
}
