import Foundation

/// Quantization-aware training: the forward pass sees every selected weight as Q(W), the value
/// `quantize` would store for it, while the float32 master copy is what the optimizer updates.
///
/// Q(W) is made by the real quantizer (the same `QuantGrid` or ggml block code `quantize` runs)
/// and read back, so the trained model converts to exactly the tensors the forward pass used.
/// Backward: the straight-through estimator, dL/dW = dL/dQ(W) (Q is the identity when
/// differentiating). The matmul backward needs only the weight for the input gradient, so that
/// product already uses Q(W), and the weight gradient is unchanged. With `learnedScales` (LSQ)
/// the scales are trained too, and Q(W) uses them.
public final class FakeQuantizer: @unchecked Sendable {
    public let scheme: String
    public let options: QuantizationOptions
    /// Each fake-quantized weight and how it is quantized.
    let plan: [(name: String, scheme: Quantization.TensorScheme)]
    private var buffers: [String: FloatBuffer] = [:]
    /// The `ParameterSet.version`s of the weights and of the learned scales the buffers were made from.
    private var madeFrom = (weights: -1, scales: -1)
    /// Learned step size quantization: the trained scales Q(W) uses instead of the weights' ranges.
    public private(set) var learnedScales: LearnedStepSizes?

    /// Schemes that quantize one tensor at a time without calibration (GPTQ and AWQ do not).
    /// (Nor the K-quant mixes, which choose a format per tensor name.)
    public static let schemes = Quantization.schemes.filter { $0 != "gptq" && $0 != "awq" && KQuantMix($0) == nil }

    /// Fake quantization of `model`'s matrices as `quantize(model, scheme, options)` would select them.
    public init(model: Model, scheme: String, options: QuantizationOptions) throws {
        guard Self.schemes.contains(scheme.lowercased()) else {
            throw LLMOptError.invalidArgument(name: "scheme", reason: "'\(scheme)' cannot be trained through; choose one of \(Self.schemes.joined(separator: ", "))"
                + (scheme.lowercased() == "gptq" || scheme.lowercased() == "awq" ? " (start from a \(scheme) model instead)" : ""))
        }
        self.scheme = scheme
        self.options = options
        let main = try Quantization.TensorScheme(scheme, options: options)
        let (names, overridden) = try Quantization.selectTensors(model, options: options)
        plan = names.map { ($0, main) } + overridden.map { ($0.0, $0.1) }
    }

    /// Trains the scales too (LSQ), starting from the ranges of the weights in `parameters`.
    func learnScales(parameters: ParameterSet, training: TrainingOptions) throws -> LearnedStepSizes {
        let lsq = try LearnedStepSizes(plan: plan, parameters: parameters, training: training)
        learnedScales = lsq
        return lsq
    }

    /// Names of the fake-quantized weights.
    public var names: [String] { plan.map(\.name) }

    /// The weight the forward pass uses for `name`, or nil when it is not fake-quantized.
    func weight(_ name: String) -> FloatPtr? { buffers[name]?.pointer }

    /// Remakes every Q(W) from the master weights when they changed since the last call.
    func refresh(from params: ParameterSet) throws {
        let versions = (weights: params.version, scales: learnedScales?.scales.version ?? -1)
        guard versions != madeFrom else { return }
        for (name, tensorScheme) in plan {
            guard let e = params.entry(name) else {
                throw LLMOptError.invalidArgument(name: "qat", reason: "'\(name)' is not a trained parameter of this model")
            }
            let master = Tensor.f32(shape: e.shape) { $0.baseAddress!.update(from: params.value(name), count: e.count) }
            let quantized = try learnedScales?.quantize(master, name: name) ?? tensorScheme.apply(master, name: name).0
            let out = buffers[name] ?? FloatBuffer(count: e.count)
            buffers[name] = out
            Self.dequantize(quantized, into: out.pointer)
        }
        madeFrom = versions
    }

    /// Row-parallel dequantization (rows of a quantized matrix are a fixed number of bytes apart).
    static func dequantize(_ t: Tensor, into dst: FloatPtr) {
        let rows = t.rows, cols = t.columns, stride = t.byteCount / max(rows, 1)
        let src = t.rawPointer
        Parallel.forRanges(rows, grain: 16) { range in
            for r in range { Dequantize.row(from: src + r * stride, dtype: t.dtype, count: cols, into: dst + r * cols) }
        }
    }

    /// The trained model in the real quantized format: the same call `quantize` makes, on the
    /// trained master weights (with the learned scales under LSQ), so its dequantized weights
    /// are the forward pass's Q(W) bit for bit.
    public func convert(_ trained: Model) throws -> (Model, QuantReport) {
        guard let lsq = learnedScales else { return try Quantization.quantize(trained, scheme: scheme, options: options) }
        var result = trained, rows: [QuantReport.Row] = []
        for name in lsq.names {
            let tensor = try trained.weight(name), quantized = try lsq.quantize(tensor, name: name)
            result.weights[name] = quantized
            rows.append(QuantReport.Row(name: name, before: tensor, after: quantized, format: "\(lsq.layouts[name]!.grid) LSQ", note: nil))
        }
        result.metadata["llmopt.quantized"] = scheme + " lsq"
        let report = QuantReport(scheme: scheme + " lsq", rows: rows, notes: ["learned step sizes (LSQ): each group's scale trained with the weights"],
                                 modelBytesBefore: trained.byteCount, modelBytesAfter: result.byteCount)
        return (result, report)
    }
}
