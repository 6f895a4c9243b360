import Foundation

/// What calibration samples look like at the input of each selected linear layer: the
/// (unnormalized) Hessian of the layer-wise squared error, H = Σ x xᵀ over every calibration
/// token, and the per-channel sum of |x|. GPTQ and AWQ (and SparseGPT, Wanda: diag(H) = Σ x²)
/// work from these alone, so the activations themselves are never stored.
///
/// Layers that read the very same activations (Llama's q/k/v and gate/up) share one entry: the
/// observer sees them one after another with identical inputs, which is checked, not assumed.
public final class LayerInputStatistics {
    public final class Entry {
        public let columns: Int
        /// Σ x xᵀ, [columns, columns] row-major, accumulated in float32 batch by batch.
        public internal(set) var hessian: [Float]
        /// Σ |x_j| per input channel.
        public internal(set) var absSum: [Double]
        /// Tokens seen.
        public internal(set) var tokens = 0

        init(columns: Int) {
            self.columns = columns
            hessian = [Float](repeating: 0, count: columns * columns)
            absSum = [Double](repeating: 0, count: columns)
        }

        /// mean |x_j| per input channel.
        public var meanAbs: [Float] { absSum.map { Float($0 / Double(max(tokens, 1))) } }

        func add(_ x: UnsafePointer<Float>, rows: Int) {
            let n = columns
            // H += Xᵀ X as one GEMM: Linear computes a · Bᵀ, with a = B = Xᵀ [n, rows].
            let xt = Tensor.f32(shape: [n, rows]) { out in
                for r in 0..<rows { for j in 0..<n { out[j * rows + r] = x[r * n + j] } }
            }
            var product = [Float](repeating: 0, count: n * n)
            product.withUnsafeMutableBufferPointer { Linear.forward(xt.f32Pointer, rows: n, weight: xt, into: $0.baseAddress!) }
            for i in 0..<(n * n) { hessian[i] += product[i] }
            for r in 0..<rows { for j in 0..<n { absSum[j] += Double(abs(x[r * n + j])) } }
            tokens += rows
        }
    }

    /// Entries by weight name (names with identical inputs map to the same entry).
    public private(set) var entries: [String: Entry] = [:]

    /// Runs every sample of `calibration` through `model` and gathers the statistics of the
    /// inputs of `names`.
    public static func collect(model: Model, names: Set<String>, samples: [[Int]]) throws -> LayerInputStatistics {
        let stats = LayerInputStatistics()
        let capacity = samples.map(\.count).max() ?? 1
        let session = try InferenceSession(model: model, capacity: capacity)
        var previous: (name: String, copy: [Float])?
        var failure: Error?
        session.linearInputObserver = { name, x, rows, cols in
            guard names.contains(name), failure == nil else { return }
            let same = previous.map { $0.copy.count == rows * cols && memcmp($0.copy, x, rows * cols * 4) == 0 } ?? false
            if let entry = stats.entries[name] {
                guard entry.columns == cols else {
                    failure = LLMOptError.shapeMismatch(name: name, expected: [rows, entry.columns], actual: [rows, cols], source: "calibration")
                    return
                }
                // A shared entry is fed once per batch, by the first of the names that share it.
                let sharedWithPrevious = previous.flatMap { stats.entries[$0.name] } === entry
                if sharedWithPrevious && !same {
                    failure = LLMOptError.unsupported("calibration: '\(name)' stopped sharing its input with '\(previous!.name)'")
                    return
                }
                if !sharedWithPrevious { entry.add(x, rows: rows) }
            } else if same, let prior = previous, let entry = stats.entries[prior.name], entry.columns == cols {
                stats.entries[name] = entry
            } else {
                let entry = Entry(columns: cols)
                entry.add(x, rows: rows)
                stats.entries[name] = entry
            }
            previous = (name, Array(UnsafeBufferPointer(start: x, count: rows * cols)))
        }
        for sample in samples {
            session.reset()
            previous = nil
            _ = try session.forward(sample, logits: .last)
            if let failure { throw failure }
        }
        return stats
    }
}
