import Foundation

/// Quantization-aware training: the forward pass sees every selected weight as Q(W), the value
/// `quantize` would store for it, while the float32 master copy is what the optimizer updates.
///
/// Q(W) is made by the real quantizer (the same `QuantGrid` or ggml block code `quantize` runs)
/// and read back, so the trained model converts to exactly the tensors the forward pass used.
/// Backward: the straight-through estimator, dL/dW = dL/dQ(W) (Q is the identity when
/// differentiating; scales are not learned). The matmul backward needs only the weight for the
/// input gradient, so that product already uses Q(W), and the weight gradient is unchanged.
public final class FakeQuantizer: @unchecked Sendable {
    public let scheme: String
    public let options: QuantizationOptions
    /// Each fake-quantized weight and how it is quantized.
    let plan: [(name: String, scheme: Quantization.TensorScheme)]
    private var buffers: [String: FloatBuffer] = [:]
    /// The `ParameterSet.version` the buffers were made from.
    private var madeFrom = -1

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

    /// Names of the fake-quantized weights.
    public var names: [String] { plan.map(\.name) }

    /// The weight the forward pass uses for `name`, or nil when it is not fake-quantized.
    func weight(_ name: String) -> FloatPtr? { buffers[name]?.pointer }

    /// Remakes every Q(W) from the master weights when they changed since the last call.
    func refresh(from params: ParameterSet) throws {
        guard params.version != madeFrom else { return }
        for (name, tensorScheme) in plan {
            guard let e = params.entry(name) else {
                throw LLMOptError.invalidArgument(name: "qat", reason: "'\(name)' is not a trained parameter of this model")
            }
            let master = Tensor.f32(shape: e.shape) { $0.baseAddress!.update(from: params.value(name), count: e.count) }
            let (quantized, _, _) = try tensorScheme.apply(master, name: name)
            let out = buffers[name] ?? FloatBuffer(count: e.count)
            buffers[name] = out
            Self.dequantize(quantized, into: out.pointer)
        }
        madeFrom = params.version
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
    /// trained master weights, so its dequantized weights are the forward pass's Q(W) bit for bit.
    public func convert(_ trained: Model) throws -> (Model, QuantReport) {
        try Quantization.quantize(trained, scheme: scheme, options: options)
    }
}
