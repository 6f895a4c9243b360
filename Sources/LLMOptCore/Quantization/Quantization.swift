/// A per-name choice of scheme that takes precedence over the main one, e.g. keep the
/// embeddings in Q8_0 while the rest goes to Q4_0, or store the LM head in float16.
public struct SchemeOverride: Sendable {
    /// A regular expression matched anywhere in the tensor name.
    public let pattern: String
    /// A scheme that needs no calibration: `rtn`, `int2`...`int8`, `q8_0`, `q4_0`, `q4_1`, `f16`, `bf16`.
    public let scheme: String

    public init(_ pattern: String, _ scheme: String) {
        self.pattern = pattern
        self.scheme = scheme
    }
}

/// Everything a quantization call can be told. The integer grid (`bits`, `group`, `symmetric`)
/// applies to `rtn`, `gptq` and `awq`; the ggml and float schemes fix their own.
public struct QuantizationOptions: Sendable {
    public var bits: Int
    /// -1: one scale per tensor; 0: per output channel; n > 0: groups of n along each row.
    public var group: Int
    public var symmetric: Bool
    /// Symmetric grids: all 2^bits codes (`QuantGrid.fullRange`).
    public var fullRange: Bool
    /// Which matrices the main scheme touches (see `TensorSelection`).
    public var targets: [String]
    public var ignore: [String]
    /// Checked first, in order; a tensor they match is quantized as they say even when the
    /// main selection leaves it out (embeddings, LM head), unless `ignore` names it.
    public var overrides: [SchemeOverride]
    /// Calibration data for `gptq` and `awq`.
    public var calibration: Calibration?
    public var gptq: GPTQOptions
    public var awq: AWQOptions

    public init(bits: Int = 4, group: Int = 32, symmetric: Bool = true, fullRange: Bool = false, targets: [String] = [],
                ignore: [String] = [], overrides: [SchemeOverride] = [], calibration: Calibration? = nil,
                gptq: GPTQOptions = GPTQOptions(), awq: AWQOptions = AWQOptions()) {
        self.bits = bits
        self.group = group
        self.symmetric = symmetric
        self.fullRange = fullRange
        self.targets = targets
        self.ignore = ignore
        self.overrides = overrides
        self.calibration = calibration
        self.gptq = gptq
        self.awq = awq
    }

    /// The integer grid of `rtn`, `gptq` and `awq`.
    public func grid(bits: Int? = nil) throws -> QuantGrid {
        try QuantGrid(bits: bits ?? self.bits, grouping: QuantGrouping(group: group), symmetric: symmetric, fullRange: fullRange)
    }
}

/// The entry point for every quantization scheme.
public enum Quantization {
    /// Schemes `quantize` accepts.
    public static let schemes = ["rtn", "int2", "int3", "int4", "int5", "int6", "int7", "int8",
                                 "gptq", "awq", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k",
                                 "q6_k", "q4_k_m", "q5_k_m", "f16", "bf16"]

    /// A scheme applied to one tensor at a time.
    enum TensorScheme {
        case roundToNearest(QuantGrid)
        case block(DType)
        case half(DType)

        init(_ scheme: String, options: QuantizationOptions) throws {
            let name = scheme.lowercased()
            switch name {
            case "rtn":
                self = .roundToNearest(try options.grid())
            case _ where name.hasPrefix("int") && Int(name.dropFirst(3)) != nil:
                self = .roundToNearest(try options.grid(bits: Int(name.dropFirst(3))!))
            case "gptq", "awq":
                throw LLMOptError.invalidArgument(name: "overrides", reason: "\(name) needs calibration: use it as the main scheme")
            case "q8_0": self = .block(.q8_0)
            case "q4_0": self = .block(.q4_0)
            case "q4_1": self = .block(.q4_1)
            case "q5_0": self = .block(.q5_0)
            case "q5_1": self = .block(.q5_1)
            case "q2_k": self = .block(.q2_k)
            case "q3_k": self = .block(.q3_k)
            case "q4_k": self = .block(.q4_k)
            case "q5_k": self = .block(.q5_k)
            case "q6_k": self = .block(.q6_k)
            case "q4_k_m", "q5_k_m":
                throw LLMOptError.invalidArgument(name: "overrides", reason: "\(name) is a mix of formats by tensor name: use it as the main scheme")
            case "f16": self = .half(.f16)
            case "bf16": self = .half(.bf16)
            default:
                throw LLMOptError.invalidArgument(name: "scheme", reason: "unknown scheme '\(scheme)'; known: \(Quantization.schemes.joined(separator: ", "))")
            }
        }

        /// Quantizes one tensor; returns the new tensor, its format name and a note. A ggml block
        /// format takes `importance` (E[x²] per input channel), where given, into its scale search.
        func apply(_ tensor: Tensor, name: String, importance: [Float]? = nil) throws -> (Tensor, String, String?) {
            switch self {
            case .roundToNearest(let grid):
                return (try RoundToNearest.quantize(tensor, grid: grid, name: name), grid.description, nil)
            case .block(let dtype):
                func blocks(_ stored: DType) throws -> (Tensor, String) {
                    guard let importance, ImportanceMatrix.handles(stored) else { return (try GGMLBlocks.quantize(tensor, to: stored, name: name), stored.ggmlName) }
                    return (try ImportanceMatrix.quantize(tensor, to: stored, importance: importance, name: name), stored.ggmlName + " imatrix")
                }
                guard GGMLBlocks.fits(tensor, dtype) else {
                    // As llama.cpp's quantize tool: a K-quant falls back to a 32-value block
                    // format of about its size, and a row no block fits is stored float16.
                    if let fallback = GGMLBlocks.fallback(for: dtype), GGMLBlocks.fits(tensor, fallback) {
                        let (quantized, format) = try blocks(fallback)
                        return (quantized, format,
                                "\(tensor.columns) columns are not a multiple of \(dtype.blockSize): stored \(fallback.ggmlName) instead of \(dtype.ggmlName)")
                    }
                    return (try HalfPrecision.convert(tensor, to: .f16, name: name), "F16",
                            "\(tensor.columns) columns are not a multiple of 32: stored F16 instead of \(dtype.ggmlName)")
                }
                let (quantized, format) = try blocks(dtype)
                return (quantized, format, nil)
            case .half(let dtype):
                return (try HalfPrecision.convert(tensor, to: dtype, name: name), dtype.ggmlName, nil)
            }
        }
    }

    /// Quantizes the selected matrices of `model` with `scheme` and the per-name overrides.
    ///
    /// Storage, as it really sits in memory: `rtn`/`intN`, `gptq` and `awq` produce packed
    /// `.qgroup` tensors (b-bit codes plus a float32 scale, and a zero point when asymmetric, per
    /// group). They are never silently stored as a ggml type: even int8 symmetric g32, whose
    /// scale rule (max|w| / 127) is Q8_0's, differs from Q8_0 in the bits, because Q8_0 keeps its
    /// scale in float16 and rounds x·(1/d) half away from zero, while the grid here keeps a float32
    /// scale and rounds w / scale half to even; Q4_0's scale is the signed extreme over -8, not
    /// max|w| / 7. Ask for `q8_0`, `q4_0` or `q4_1` to get llama.cpp's formats bit for bit.
    public static func quantize(_ model: Model, scheme: String, options: QuantizationOptions = QuantizationOptions()) throws -> (Model, QuantReport) {
        let (mainNames, overridden) = try selectTensors(model, options: options)

        var result = model
        var rows: [QuantReport.Row] = []
        var notes: [String] = []
        switch scheme.lowercased() {
        case "gptq", "awq":
            let (quantized, methodRows, methodNotes) = try quantizeWithCalibration(model, method: scheme.lowercased(), names: mainNames, options: options)
            result = quantized
            rows = methodRows
            notes = methodNotes
        case let name where KQuantMix(name) != nil:
            // A mix covers every matrix llama.cpp's recipe quantizes, embeddings and LM head included.
            let mix = KQuantMix(name)!
            let ignoreOnly = try TensorSelection(targets: [".*"], ignore: options.ignore)
            let taken = Set(overridden.map(\.0))
            let names = model.weightOrder.filter { name in
                guard let t = model.weights[name], t.rank == 2, !taken.contains(name) else { return false }
                return ignoreOnly.selects(name, shape: t.shape, family: model.config.architecture.family)
            }
            let importance = try importanceMatrix(model, names: names, options: options, notes: &notes)
            for (name, dtype) in mix.plan(model, names: names) {
                rows.append(try apply(.block(dtype), to: name, in: &result, importance: importance[name]))
            }
        default:
            let main = try TensorScheme(scheme, options: options)
            var importance: [String: [Float]] = [:]
            if case .block(let dtype) = main, ImportanceMatrix.handles(dtype) || GGMLBlocks.fallback(for: dtype).map(ImportanceMatrix.handles) == true {
                importance = try importanceMatrix(model, names: mainNames, options: options, notes: &notes)
            }
            for name in mainNames { rows.append(try apply(main, to: name, in: &result, importance: importance[name])) }
        }
        for (name, tensorScheme) in overridden { rows.append(try apply(tensorScheme, to: name, in: &result)) }
        let unsearched = Set(rows.map(\.dtypeAfter).filter { $0.blockSize > 1 && $0.format.ggmlType != nil && !ImportanceMatrix.handles($0) })
        if options.calibration != nil, !["gptq", "awq"].contains(scheme.lowercased()), !unsearched.isEmpty {
            notes.append("\(unsearched.map(\.ggmlName).sorted().joined(separator: ", ")) keep the reference quantizer: "
                         + "the importance matrix is used for Q4_0, Q8_0, Q2_K, Q4_K and Q5_K")
        }
        let position = Dictionary(model.weightOrder.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        rows.sort { position[$0.name, default: 0] < position[$1.name, default: 0] }
        result.metadata["llmopt.quantized"] = scheme
        let report = QuantReport(scheme: scheme, rows: rows, notes: notes, modelBytesBefore: model.byteCount, modelBytesAfter: result.byteCount)
        return (result, report)
    }

    /// The matrices the main scheme quantizes, and those an override claims with its scheme.
    /// Only matrices are quantized: biases and norms stay float32 whatever the patterns say.
    static func selectTensors(_ model: Model, options: QuantizationOptions) throws -> (main: [String], overridden: [(String, TensorScheme)]) {
        let selection = try TensorSelection(targets: options.targets, ignore: options.ignore)
        let ignoreOnly = try TensorSelection(targets: [".*"], ignore: options.ignore)
        let overrides = try options.overrides.map { (try TensorSelection(targets: [$0.pattern]), try TensorScheme($0.scheme, options: options)) }
        var mainNames: [String] = [], overridden: [(String, TensorScheme)] = []
        let family = model.config.architecture.family
        for name in model.weightOrder {
            guard let tensor = model.weights[name], tensor.rank == 2 else { continue }
            if let (_, tensorScheme) = overrides.first(where: { $0.0.selects(name, shape: tensor.shape, family: family) }) {
                if ignoreOnly.selects(name, shape: tensor.shape, family: family) { overridden.append((name, tensorScheme)) }
            } else if selection.selects(name, shape: tensor.shape, family: family) {
                mainNames.append(name)
            }
        }
        if mainNames.isEmpty && overridden.isEmpty {
            throw LLMOptError.invalidArgument(name: "targets", reason: "no matrix of the model is selected")
        }
        return (mainNames, overridden)
    }

    /// E[x²] per input channel of `names` on the calibration text (llama.cpp's imatrix), for the
    /// ggml block formats' scale searches; empty without calibration text.
    static func importanceMatrix(_ model: Model, names: [String], options: QuantizationOptions, notes: inout [String]) throws -> [String: [Float]] {
        guard options.calibration != nil else { return [:] }
        notes.append("importance matrix from the calibration text (as llama.cpp's imatrix): block scales minimise "
                     + "Σ E[x²]·(w − ŵ)², E[x²] the mean squared input of each channel")
        return try ImportanceMatrix.collect(model, names: names, calibration: options.calibration)
    }

    static func apply(_ tensorScheme: TensorScheme, to name: String, in model: inout Model, importance: [Float]? = nil) throws -> QuantReport.Row {
        try Cancellation.checkpoint()
        let tensor = try model.weight(name)
        let (quantized, format, note) = try tensorScheme.apply(tensor, name: name, importance: importance)
        model.weights[name] = quantized
        return QuantReport.Row(name: name, before: tensor, after: quantized, format: format, note: note)
    }

    /// GPTQ or AWQ over `names`. GPTQ goes block by block as in the paper: each block's layer
    /// inputs come from the calibration windows run through the blocks already quantized, so a
    /// layer also corrects what the earlier layers' rounding did to its inputs. AWQ takes its
    /// statistics from one pass over the unquantized model, as in its paper.
    static func quantizeWithCalibration(_ model: Model, method: String, names: [String], options: QuantizationOptions) throws
        -> (Model, [QuantReport.Row], [String]) {
        let grid = try options.grid()
        let pass = try CalibrationPass(model: model, calibration: options.calibration, method: method)
        var notes = ["\(method): \(grid), calibration \(pass.windows.count) samples, \(pass.tokenCount) tokens; "]
        var result = model
        var rows: [QuantReport.Row] = []
        var scales: [String: AWQ.WeightScaling] = [:]
        var statistics: [String: LayerInputStatistics.Entry] = [:]
        var quantized: [String: Tensor] = [:]
        if method == "gptq" {
            notes[0] += "layer inputs taken block by block through the blocks already quantized"
            let layout = try BlockLayout(model)
            let inBlocks = names.filter { layout.split($0) != nil }
            quantized = try pass.blockByBlock(model, names: inBlocks, method: method) { layerNames, entries, current in
                var block: [String: Tensor] = [:]
                for name in layerNames {
                    try Cancellation.checkpoint()
                    statistics[name] = entries[name]
                    block[name] = try GPTQ.quantize(try current.weight(name), hessian: entries[name]!.hessian, grid: grid,
                                                    options: options.gptq, name: name)
                }
                return block
            }
        } else {
            notes[0] += "layer inputs taken from the unquantized model in one pass"
            let collected = try LayerInputStatistics.collect(model: model, names: Set(names), samples: pass.windows)
            let (scaled, s, awqNotes) = try AWQ.scale(model, selected: Set(names), statistics: collected, grid: grid, options: options.awq)
            scales = s
            result = scaled
            notes += awqNotes
            statistics = collected.entries
            var clippedErrors = (before: 0.0, after: 0.0, count: 0)
            for name in names {
                try Cancellation.checkpoint()
                guard let entry = statistics[name] else { continue }
                var weight = try scaled.weight(name)
                if options.awq.clip && AWQ.clips(name) {
                    let (clipped, before, after) = AWQ.clip(weight, hessian: entry.hessian, inputScales: s[name]?.columns, grid: grid)
                    weight = clipped
                    clippedErrors = (clippedErrors.before + before, clippedErrors.after + after, clippedErrors.count + 1)
                }
                quantized[name] = try RoundToNearest.quantize(weight, grid: grid, name: name)
            }
            if clippedErrors.count > 0 {
                notes.append(String(format: "AWQ clipping: %d linears (not q/k), each group's range shrunk to the best of 100%%...55%%: "
                                    + "their groups' calibration output error %.4g -> %.4g", clippedErrors.count, clippedErrors.before, clippedErrors.after))
            }
        }
        for name in names {
            let original = try model.weight(name)
            guard let entry = statistics[name], let quantized = quantized[name] else {
                notes.append("\(name): no calibration inputs reach it (not a linear layer of the forward pass): round-to-nearest")
                rows.append(try apply(.roundToNearest(grid), to: name, in: &result))
                continue
            }
            result.weights[name] = quantized
            // What the layer computes now, in the original model's terms: Q(W·s) / s.
            var effective = quantized.floats()
            scales[name]?.undo(&effective, cols: original.columns)
            let rtn = try RoundToNearest.quantize(original, grid: grid, name: name).floats()
            let h = Tensor(shape: [entry.columns, entry.columns], floats: entry.hessian)
            let w = original.floats()
            let signal = AWQ.outputError(w, [Float](repeating: 0, count: w.count), rows: original.rows, hessian: h)
            let error = AWQ.outputError(w, effective, rows: original.rows, hessian: h)
            let errorRTN = AWQ.outputError(w, rtn, rows: original.rows, hessian: h)
            rows.append(QuantReport.Row(name: name, before: original, after: Tensor(shape: original.shape, floats: effective), stored: quantized,
                                        format: "\(method) \(grid)", note: nil,
                                        outputError: (error / signal).squareRoot(), outputErrorRTN: (errorRTN / signal).squareRoot(),
                                        outputSignal: signal))
        }
        return (result, rows, notes)
    }
}
