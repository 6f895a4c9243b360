/// Runs calibration windows through a model and hands the input activations of chosen linear
/// layers to a callback (through `InferenceSession.linearInputObserver`). Wanda needs one pass
/// over the dense model; SparseGPT and GPTQ run the model block by block on cached residual
/// streams (`blockByBlock`).
struct CalibrationPass {
    typealias Observer = (_ name: String, _ x: UnsafePointer<Float>, _ rows: Int, _ cols: Int, _ sameAsPrevious: Bool) -> Void

    let windows: [[Int]]

    init(model: Model, calibration: Calibration?, method: String) throws {
        guard let calibration else {
            throw LLMOptError.invalidArgument(name: "calibration", reason: "\(method) needs calibration text")
        }
        windows = try calibration.windows(tokenizer: model.tokenizer)
    }

    var tokenCount: Int { windows.reduce(0) { $0 + $1.count } }
    var longestWindow: Int { windows.map(\.count).max() ?? 1 }

    /// Runs every window through `model`, calling `observe` for the layers in `names`.
    /// `sameAsPrevious` tells that the activations are the very ones of the previous linear
    /// layer the forward pass ran (q, k and v; gate and up share their input).
    func run(_ model: Model, names: Set<String>, observe: @escaping Observer) throws {
        let session = try InferenceSession(model: model, capacity: longestWindow)
        let newWindow = Self.listen(session, names: names, observe: observe)
        for window in windows {
            try Cancellation.checkpoint()
            session.reset()
            newWindow()
            _ = try session.forward(window)
        }
    }

    /// Runs block `index` of `session` over a copy of each window's residual stream in `hidden`,
    /// calling `observe` for the layers in `names` (the copies are dropped: only the activations matter).
    func runBlock(_ index: Int, of session: InferenceSession, hidden: [[Float]], names: Set<String>,
                  observe: @escaping Observer) throws {
        let newWindow = Self.listen(session, names: names, observe: observe)
        defer { session.linearInputObserver = nil }
        for stream in hidden {
            try Cancellation.checkpoint()
            newWindow()
            var scratch = stream
            try session.runBlock(index, hidden: &scratch)
        }
    }

    /// The papers' sequential procedure (SparseGPT, GPTQ): the residual stream of every window is
    /// kept as it leaves the blocks already processed. Block L runs on it once to collect the
    /// input statistics of its layers among `names`, `process` turns them into new weights for
    /// those layers, then block L runs again, with the new weights, to carry the stream to block
    /// L + 1: two block passes per block instead of a forward pass from the embedding.
    /// `process` gets the block's names, their statistics and the model with the earlier blocks
    /// already replaced; every name must lie inside a transformer block.
    func blockByBlock(_ model: Model, names: [String], method: String,
                      process: (_ names: [String], _ statistics: [String: LayerInputStatistics.Entry], _ current: Model) throws -> [String: Tensor])
        throws -> [String: Tensor] {
        let layout = try BlockLayout(model)
        var byLayer: [Int: [String]] = [:]
        for name in names {
            guard let (layer, _) = layout.split(name) else {
                throw LLMOptError.unsupported("\(method): '\(name)' is not inside a transformer block")
            }
            byLayer[layer, default: []].append(name)
        }
        guard let lastLayer = byLayer.keys.max() else { return [:] }
        var current = model
        var session = try InferenceSession(model: current, capacity: longestWindow)
        var hidden = try windows.map { try session.embed($0) }
        var result: [String: Tensor] = [:]
        for layer in 0...lastLayer {
            if let layerNames = byLayer[layer] {
                let entries = try inputStatistics(block: layer, of: session, names: layerNames, hidden: hidden, method: method)
                for (name, tensor) in try process(layerNames, entries, current) {
                    result[name] = tensor
                    current.weights[name] = tensor
                }
                session = try InferenceSession(model: current, capacity: longestWindow)
            }
            if layer < lastLayer {
                for i in hidden.indices { try session.runBlock(layer, hidden: &hidden[i]) }
            }
        }
        return result
    }

    /// H = Σ x xᵀ for each of `names` in block `index` (`LayerInputStatistics.Entry`: one GEMM per
    /// batch), from the block run on the cached residual streams `hidden`. Layers fed the same
    /// activations (q, k, v; gate, up) share one entry.
    func inputStatistics(block index: Int, of session: InferenceSession, names: [String], hidden: [[Float]],
                         method: String) throws -> [String: LayerInputStatistics.Entry] {
        var entries: [String: LayerInputStatistics.Entry] = [:]
        var previous: LayerInputStatistics.Entry?
        try runBlock(index, of: session, hidden: hidden, names: Set(names)) { name, x, rows, cols, sameAsPrevious in
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
            throw LLMOptError.unsupported("\(method): the forward pass never used '\(missing)' (only linear layers of the blocks can be calibrated)")
        }
        return entries
    }

    /// Installs the observer on `session`; returns what to call before each window.
    private static func listen(_ session: InferenceSession, names: Set<String>, observe: @escaping Observer) -> () -> Void {
        var previous: (x: UnsafePointer<Float>, rows: Int, cols: Int)?
        session.linearInputObserver = { name, x, rows, cols in
            let same = previous.map { $0.x == x && $0.rows == rows && $0.cols == cols } ?? false
            previous = (x, rows, cols)
            guard names.contains(name) else { return }
            observe(name, x, rows, cols, same)
        }
        return { previous = nil }
    }
}

extension Wanda {
    /// Wanda over every selected weight, with input norms from one pass over the dense model.
    static func prune(_ model: Model, names: [String], options: PruneOptions) throws -> [String: Tensor] {
        let pass = try CalibrationPass(model: model, calibration: options.calibration, method: "wanda")
        var sumSquares: [String: [Double]] = [:]
        try pass.run(model, names: Set(names)) { name, x, rows, cols, _ in
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
    /// SparseGPT block by block (`CalibrationPass.blockByBlock`), each block's Hessians taken on
    /// the outputs of the blocks already pruned.
    static func prune(_ model: Model, names: [String], options: PruneOptions) throws -> [String: Tensor] {
        let pass = try CalibrationPass(model: model, calibration: options.calibration, method: "sparsegpt")
        return try pass.blockByBlock(model, names: names, method: "sparsegpt") { layerNames, entries, current in
            var factors: [ObjectIdentifier: InverseFactor] = [:]
            var pruned: [String: Tensor] = [:]
            for name in layerNames {
                let entry = entries[name]!
                let factor = try factors[ObjectIdentifier(entry)] ?? InverseFactor(
                    hessian: entry.hessian.map(Double.init), columns: entry.columns, dampening: options.dampening, name: name)
                factors[ObjectIdentifier(entry)] = factor
                pruned[name] = try prune(name, weight: try current.weight(name), factor: factor, sparsity: options.sparsity,
                                         pattern: options.pattern, blockSize: options.blockSize)
            }
            return pruned
        }
    }
}
