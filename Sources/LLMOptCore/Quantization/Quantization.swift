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
    /// Which matrices the main scheme touches (see `TensorSelection`).
    public var targets: [String]
    public var ignore: [String]
    /// Checked first, in order; a tensor they match is quantized as they say even when the
    /// main selection leaves it out (embeddings, LM head), unless `ignore` names it.
    public var overrides: [SchemeOverride]

    public init(bits: Int = 4, group: Int = 32, symmetric: Bool = true, targets: [String] = [],
                ignore: [String] = [], overrides: [SchemeOverride] = []) {
        self.bits = bits
        self.group = group
        self.symmetric = symmetric
        self.targets = targets
        self.ignore = ignore
        self.overrides = overrides
    }
}

/// The entry point for every quantization scheme.
public enum Quantization {
    /// Schemes `quantize` accepts.
    public static let schemes = ["rtn", "int2", "int3", "int4", "int5", "int6", "int7", "int8",
                                 "q8_0", "q4_0", "q4_1", "f16", "bf16"]

    /// A scheme applied to one tensor at a time.
    enum TensorScheme {
        case roundToNearest(QuantGrid)
        case block(DType)
        case half(DType)

        init(_ scheme: String, options: QuantizationOptions) throws {
            let name = scheme.lowercased()
            switch name {
            case "rtn":
                self = .roundToNearest(try QuantGrid(bits: options.bits, grouping: QuantGrouping(group: options.group), symmetric: options.symmetric))
            case _ where name.hasPrefix("int") && Int(name.dropFirst(3)) != nil:
                self = .roundToNearest(try QuantGrid(bits: Int(name.dropFirst(3))!, grouping: QuantGrouping(group: options.group), symmetric: options.symmetric))
            case "q8_0": self = .block(.q8_0)
            case "q4_0": self = .block(.q4_0)
            case "q4_1": self = .block(.q4_1)
            case "f16": self = .half(.f16)
            case "bf16": self = .half(.bf16)
            default:
                throw LLMOptError.invalidArgument(name: "scheme", reason: "unknown scheme '\(scheme)'; known: \(Quantization.schemes.joined(separator: ", "))")
            }
        }

        /// Quantizes one tensor; returns the new tensor, its format name and a note.
        func apply(_ tensor: Tensor, name: String) throws -> (Tensor, String, String?) {
            switch self {
            case .roundToNearest(let grid):
                return (try RoundToNearest.quantize(tensor, grid: grid, name: name), grid.description, nil)
            case .block(let dtype):
                guard GGMLBlocks.fits(tensor, dtype) else {
                    // Every ggml block format here packs 32 values, so none fits: float16 keeps the rest exact enough.
                    return (try HalfPrecision.convert(tensor, to: .f16, name: name), "F16",
                            "\(tensor.columns) columns are not a multiple of 32: stored F16 instead of \(dtype.ggmlName)")
                }
                return (try GGMLBlocks.quantize(tensor, to: dtype, name: name), dtype.ggmlName, nil)
            case .half(let dtype):
                return (try HalfPrecision.convert(tensor, to: dtype, name: name), dtype.ggmlName, nil)
            }
        }
    }

    /// Quantizes the selected matrices of `model` with `scheme` and the per-name overrides.
    public static func quantize(_ model: Model, scheme: String, options: QuantizationOptions = QuantizationOptions()) throws -> (Model, QuantReport) {
        let main = try TensorScheme(scheme, options: options)
        let selection = try TensorSelection(targets: options.targets, ignore: options.ignore)
        let ignoreOnly = try TensorSelection(targets: [".*"], ignore: options.ignore)
        let overrides = try options.overrides.map { (try TensorSelection(targets: [$0.pattern]), try TensorScheme($0.scheme, options: options)) }

        var result = model
        var rows: [QuantReport.Row] = []
        for name in model.weightOrder {
            guard let tensor = model.weights[name] else { continue }
            var chosen: TensorScheme?
            // Only matrices are quantized: biases and norms stay float32 whatever the patterns say.
            guard tensor.rank == 2 else { continue }
            if let (_, tensorScheme) = overrides.first(where: { $0.0.selects(name, shape: tensor.shape) }) {
                if ignoreOnly.selects(name, shape: tensor.shape) { chosen = tensorScheme }
            } else if selection.selects(name, shape: tensor.shape) {
                chosen = main
            }
            guard let tensorScheme = chosen else { continue }
            let (quantized, format, note) = try tensorScheme.apply(tensor, name: name)
            result = result.replacing(name, with: quantized)
            rows.append(QuantReport.Row(name: name, before: tensor, after: quantized, format: format, note: note))
        }
        if rows.isEmpty {
            throw LLMOptError.invalidArgument(name: "targets", reason: "no matrix of the model is selected")
        }
        let report = QuantReport(scheme: scheme, rows: rows, notes: [], modelBytesBefore: model.byteCount, modelBytesAfter: result.byteCount)
        return (result, report)
    }
}
