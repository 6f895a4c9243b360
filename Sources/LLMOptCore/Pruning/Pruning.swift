import Foundation

/// Unstructured pruning compares values within one matrix or across all selected matrices.
public enum PruneScope: String, Sendable, CaseIterable {
    case layer, global
}

/// Settings for `Pruning.prune`. Methods ignore the fields they do not use.
public struct PruneOptions: Sendable {
    /// Fraction of weights (unstructured), heads, channels or layers to remove.
    public var sparsity: Double
    public var scope: PruneScope
    /// N:M semi-structured sparsity instead of a fraction (magnitude, wanda, sparsegpt).
    public var pattern: NMPattern?
    /// Which weights unstructured methods prune (default: every linear weight but embeddings and LM head).
    public var selection: TensorSelection
    /// Calibration text (Wanda, SparseGPT; optional for channels, whose importance then comes
    /// from the channels' activations instead of weight norms).
    public var calibration: Calibration?
    /// SparseGPT: columns per block of the adaptive mask and the lazy weight update.
    public var blockSize: Int
    /// SparseGPT: λ added to the Hessian's diagonal, as a fraction of its mean.
    public var dampening: Double
    /// Whole-layer pruning: the layer indices to remove (instead of choosing by `sparsity`).
    public var layers: [Int]?
    /// Attach a CSR copy (`SparseMatrix`) to pruned weights of at least 70% sparsity, so that
    /// decoding reads fewer bytes; costs memory for the copy.
    public var sparseKernel: Bool

    public init(sparsity: Double = 0.5, scope: PruneScope = .layer, pattern: NMPattern? = nil,
                selection: TensorSelection = .linearWeights, calibration: Calibration? = nil,
                blockSize: Int = 128, dampening: Double = 0.01, layers: [Int]? = nil, sparseKernel: Bool = true) {
        self.sparsity = sparsity
        self.scope = scope
        self.pattern = pattern
        self.selection = selection
        self.calibration = calibration
        self.blockSize = blockSize
        self.dampening = dampening
        self.layers = layers
        self.sparseKernel = sparseKernel
    }
}

/// The entry point of every pruning method. The input model is never changed: the result
/// shares every tensor that pruning did not touch.
public enum Pruning {
    public static let methods = ["magnitude", "wanda", "sparsegpt", "heads", "channels", "layers"]

    public static func prune(_ model: Model, method: String, options: PruneOptions = PruneOptions()) throws -> (Model, PruneReport) {
        guard options.sparsity >= 0, options.sparsity < 1 else {
            throw LLMOptError.invalidArgument(name: "sparsity", reason: "must be in [0, 1), got \(options.sparsity)")
        }
        let start = Date()
        var report: PruneReport
        var pruned: Model
        switch method {
        case "magnitude", "wanda", "sparsegpt":
            let names = options.selection.selectedNames(in: model)
            guard !names.isEmpty else {
                throw LLMOptError.invalidArgument(name: "targets", reason: "no tensor of the model matches the selection")
            }
            var threshold: Float?
            var newWeights: [String: Tensor]
            switch (method, options.pattern) {
            case ("magnitude", nil):
                (newWeights, threshold) = try Magnitude.prune(model, names: names, sparsity: options.sparsity, global: options.scope == .global)
            case ("magnitude", let pattern?):
                newWeights = try Dictionary(uniqueKeysWithValues: names.map { ($0, try SemiStructured.prune($0, try model.weight($0), pattern: pattern)) })
            case ("wanda", _):
                newWeights = try Wanda.prune(model, names: names, options: options)
            default:
                newWeights = try SparseGPT.prune(model, names: names, options: options)
            }
            pruned = model
            for (name, t) in newWeights { pruned.weights[name] = t }
            report = makeReport(method: method, options: options, before: model, after: pruned, names: names)
            report.globalThreshold = threshold
            if options.sparseKernel {
                let sparse = report.rows.filter { $0.sparsity >= SparseMatrix.attachSparsity }
                for row in sparse { pruned.weights[row.name] = try pruned.weights[row.name]!.withSparseCopy(name: row.name) }
                if !sparse.isEmpty {
                    report.notes.append("\(sparse.count) tensors of at least \(Int(SparseMatrix.attachSparsity * 100))% sparsity carry a CSR copy used when decoding")
                }
            }
        case "heads":
            (pruned, report) = try StructuredHeads.prune(model, options: options)
        case "channels":
            (pruned, report) = try StructuredChannels.prune(model, options: options)
        case "layers":
            (pruned, report) = try StructuredLayers.prune(model, options: options)
        default:
            throw LLMOptError.invalidArgument(name: "method", reason: "unknown pruning method '\(method)'; choose one of \(methods.joined(separator: ", "))")
        }
        report.seconds = Date().timeIntervalSince(start)
        pruned.metadata["llmopt.pruned"] = "\(method) \(report.scope) \(report.sparsityRequested)"
        return (pruned, report)
    }

    /// Rows for `names` comparing the two models, and the model totals.
    static func makeReport(method: String, options: PruneOptions, before: Model, after: Model, names: [String],
                           removed: [String] = []) -> PruneReport {
        let rows = names.compactMap { name -> PruneReport.Row? in
            guard let a = before.weights[name], let b = after.weights[name] else { return nil }
            return PruneReport.Row(name: name, shapeBefore: a.shape, shapeAfter: b.shape, zerosBefore: zeroCount(a),
                                   zerosAfter: zeroCount(b), bytesBefore: a.byteCount, bytesAfter: b.byteCount)
        }
        let converted = names.filter { name in
            guard let a = before.weights[name], let b = after.weights[name] else { return false }
            return a.dtype != b.dtype
        }
        let gone = removed.compactMap { name in before.weights[name].map { (name: name, parameters: $0.count, bytes: $0.byteCount) } }
        let scopeBefore = rows.reduce(0) { $0 + $1.countBefore } + gone.reduce(0) { $0 + $1.parameters }
        let scopeKept = rows.reduce(0) { $0 + $1.countAfter - $1.zerosAfter }
        return PruneReport(
            method: method, scope: options.pattern?.description ?? (["heads", "channels", "layers"].contains(method) ? "structured" : options.scope.rawValue),
            sparsityRequested: options.pattern?.sparsity ?? options.sparsity, rows: rows, removedTensors: gone,
            globalThreshold: nil, modelParametersBefore: before.parameterCount, modelParametersAfter: after.parameterCount,
            modelBytesBefore: before.byteCount, modelBytesAfter: after.byteCount, seconds: 0,
            notes: converted.isEmpty ? [] : ["\(converted.count) tensors were stored as \(before.weights[converted[0]]!.dtype.rawValue) and are float32 now "
                + "(a zero is not exactly representable in every block format); quantize again after pruning"],
            scopeParametersBefore: scopeBefore, scopeParametersKept: scopeKept)
    }

    /// Exact zeros (either sign) in a tensor of any dtype.
    public static func zeroCount(_ t: Tensor) -> Int {
        let f = t.toF32()
        let p = f.f32Pointer
        var zeros = 0
        for i in 0..<f.count where p[i] == 0 { zeros += 1 }
        return zeros
    }
}
