/// Runs calibration windows through a model and hands the input activations of chosen linear
/// layers to a callback (through `InferenceSession.linearInputObserver`). Wanda needs one pass
/// over the dense model; SparseGPT runs one pass per block, each stopping after that block.
struct CalibrationPass {
    let windows: [[Int]]

    init(model: Model, calibration: Calibration?, method: String) throws {
        guard let calibration else {
            throw LLMOptError.invalidArgument(name: "calibration", reason: "\(method) needs calibration text")
        }
        windows = try calibration.windows(tokenizer: model.tokenizer)
    }

    var tokenCount: Int { windows.reduce(0) { $0 + $1.count } }

    /// Runs every window through `model`, calling `observe` for the layers in `names`.
    /// `sameAsPrevious` tells that the activations are the very ones of the previous linear
    /// layer the forward pass ran (q, k and v; gate and up share their input).
    /// With `stopWhenSeen`, a window stops at the first layer boundary after all of `names`
    /// were observed (the rest of the network is not needed).
    func run(_ model: Model, names: Set<String>, stopWhenSeen: Bool,
             observe: @escaping (_ name: String, _ x: UnsafePointer<Float>, _ rows: Int, _ cols: Int, _ sameAsPrevious: Bool) -> Void) throws {
        let session = try InferenceSession(model: model, capacity: windows.map(\.count).max() ?? 1)
        var seen = Set<String>()
        var previous: (x: UnsafePointer<Float>, rows: Int, cols: Int)?
        session.linearInputObserver = { name, x, rows, cols in
            let same = previous.map { $0.x == x && $0.rows == rows && $0.cols == cols } ?? false
            previous = (x, rows, cols)
            guard names.contains(name) else { return }
            seen.insert(name)
            observe(name, x, rows, cols, same)
        }
        if stopWhenSeen { session.isCancelled = { seen.count == names.count } }
        for window in windows {
            session.reset()
            seen.removeAll()
            previous = nil
            do {
                _ = try session.forward(window)
            } catch LLMOptError.cancelled where stopWhenSeen {
                continue
            }
        }
    }
}

extension Wanda {
    /// Wanda over every selected weight, with input norms from one pass over the dense model.
    static func prune(_ model: Model, names: [String], options: PruneOptions) throws -> [String: Tensor] {
        let pass = try CalibrationPass(model: model, calibration: options.calibration, method: "wanda")
        var sumSquares: [String: [Double]] = [:]
        try pass.run(model, names: Set(names), stopWhenSeen: false) { name, x, rows, cols, _ in
            var s = sumSquares[name] ?? [Double](repeating: 0, count: cols)
            for r in 0..<rows { for c in 0..<cols { let v = Double(x[r * cols + c]); s[c] += v * v } }
            sumSquares[name] = s
        }
        var result: [String: Tensor] = [:]
        for name in names {
            guard let s = sumSquares[name] else {
                throw LLMOptError.unsupported("wanda: the forward pass never used '\(name)' (only linear layers of the blocks can be calibrated)")
            }
            result[name] = try prune(name, weight: try model.weight(name), inputNorms: s.map { Float($0.squareRoot()) },
                                     sparsity: options.sparsity, pattern: options.pattern)
        }
        return result
    }
}

extension SparseGPT {
    /// SparseGPT block by block: the Hessians of block L come from a pass through the model in
    /// which blocks 0..<L are already pruned, as in the paper's sequential procedure.
    static func prune(_ model: Model, names: [String], options: PruneOptions) throws -> [String: Tensor] {
        let pass = try CalibrationPass(model: model, calibration: options.calibration, method: "sparsegpt")
        let layout = try BlockLayout(model)
        var byLayer: [Int: [String]] = [:]
        for name in names {
            guard let (layer, _) = layout.split(name) else {
                throw LLMOptError.unsupported("sparsegpt: '\(name)' is not inside a transformer block")
            }
            byLayer[layer, default: []].append(name)
        }
        var current = model
        var result: [String: Tensor] = [:]
        for layer in byLayer.keys.sorted() {
            let layerNames = byLayer[layer]!
            let entries = try inputStatistics(current, names: layerNames, pass: pass)
            var factors: [ObjectIdentifier: InverseFactor] = [:]
            for name in layerNames {
                let entry = entries[name]!
                let factor = try factors[ObjectIdentifier(entry)] ?? InverseFactor(
                    hessian: entry.hessian.map(Double.init), columns: entry.columns, dampening: options.dampening, name: name)
                factors[ObjectIdentifier(entry)] = factor
                let pruned = try prune(name, weight: try current.weight(name), factor: factor, sparsity: options.sparsity,
                                       pattern: options.pattern, blockSize: options.blockSize)
                result[name] = pruned
                current.weights[name] = pruned
            }
        }
        return result
    }

    /// H = Σ x xᵀ for each of `names` (quantization's `LayerInputStatistics.Entry`: one GEMM per
    /// batch). Layers fed the same activations (q, k, v; gate, up) share one entry.
    static func inputStatistics(_ model: Model, names: [String], pass: CalibrationPass) throws -> [String: LayerInputStatistics.Entry] {
        var entries: [String: LayerInputStatistics.Entry] = [:]
        var previous: LayerInputStatistics.Entry?
        try pass.run(model, names: Set(names), stopWhenSeen: true) { name, x, rows, cols, sameAsPrevious in
            if sameAsPrevious, let shared = previous, shared.columns == cols, entries[name] == nil || entries[name] === shared {
                entries[name] = shared
                return
            }
            let entry = entries[name] ?? LayerInputStatistics.Entry(columns: cols)
            entry.add(x, rows: rows)
            entries[name] = entry
            previous = entry
        }
        if let missing = names.first(where: { entries[$0] == nil }) {
            throw LLMOptError.unsupported("sparsegpt: the forward pass never used '\(missing)' (only linear layers of the blocks can be calibrated)")
        }
        return entries
    }
}
