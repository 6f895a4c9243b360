import LLMOptCore

/// How far a changed (pruned, quantized) model's linear layers are from the dense ones.
enum LinearOutputError {
    /// ‖X Wᵀ − X W'ᵀ‖² / ‖X Wᵀ‖² for each linear `include` accepts, with W the dense weight, W'
    /// the changed one and X the dense model's inputs to that layer on `windows`.
    static func relative(_ dense: Model, _ changed: Model, windows: [[Int]], include: @escaping (String) -> Bool) throws -> [String: Double] {
        let session = try InferenceSession(model: dense, capacity: windows.map(\.count).max()!)
        var errors: [String: (diff: Double, total: Double)] = [:]
        session.linearInputObserver = { name, x, rows, _ in
            guard include(name), let w = dense.weights[name], let p = changed.weights[name] else { return }
            var y = [Float](repeating: 0, count: rows * w.shape[0]), z = y
            y.withUnsafeMutableBufferPointer { Linear.forward(x, rows: rows, weight: w, into: $0.baseAddress!) }
            z.withUnsafeMutableBufferPointer { Linear.forward(x, rows: rows, weight: p, into: $0.baseAddress!) }
            var e = errors[name] ?? (0, 0)
            for i in 0..<y.count { e.diff += Double(y[i] - z[i]) * Double(y[i] - z[i]); e.total += Double(y[i]) * Double(y[i]) }
            errors[name] = e
        }
        for w in windows { session.reset(); _ = try session.forward(w) }
        return errors.mapValues { $0.diff / $0.total }
    }
}
