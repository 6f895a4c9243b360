import Foundation

/// A model's trainable parameters as float32 "master" copies, with a gradient of the same shape
/// for each, all in two flat arrays (so the optimizer, clipping and checkpoints walk one buffer).
/// Names and shapes are the `Model`'s (Hugging Face names, linear weights `[out, in]`).
/// A forward-only set (a distillation teacher) has no gradient buffer at all.
public final class ParameterSet: @unchecked Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
        /// AdamW decays matrices (rank ≥ 2, embeddings included), never vectors (norms, biases).
        public var decays: Bool { shape.count >= 2 }
    }

    public let entries: [Entry]
    public let count: Int
    let values: FloatPtr
    let grads: FloatPtr
    /// False for a forward-only set: `grads` is a single unused float, and nothing may read it.
    public let hasGradients: Bool
    private let index: [String: Int]
    /// Counts the writes through `setValues` and `withValues`: whatever is derived from the
    /// values (fake-quantized weights) is remade only when it changed.
    public private(set) var version = 0

    /// Float32 copies of `names` of `model` (dequantized or converted when stored otherwise),
    /// with a gradient buffer of the same size unless `gradients` is false.
    public convenience init(model: Model, names: [String], gradients: Bool = true) throws {
        let tensors = try names.map { try model.weight($0) }
        self.init(shapes: zip(names, tensors).map { ($0, $1.shape) }, gradients: gradients)
        for (e, t) in zip(entries, tensors) {
            Dequantize.row(from: t.rawPointer, dtype: t.dtype, count: t.count, into: values + e.offset)
        }
    }

    /// Parameters of these names and shapes, all zero (set them with `setValues`): trained
    /// values that are not weights of a model, such as learned quantization scales.
    public init(shapes: [(name: String, shape: [Int])], gradients: Bool = true) {
        var entries: [Entry] = [], offset = 0
        for (name, shape) in shapes {
            entries.append(Entry(name: name, shape: shape, offset: offset))
            offset += shape.reduce(1, *)
        }
        self.entries = entries
        count = offset
        values = FloatPtr.allocate(capacity: max(offset, 1))
        values.initialize(repeating: 0, count: max(offset, 1))
        hasGradients = gradients
        let gradCount = gradients ? max(offset, 1) : 1
        grads = FloatPtr.allocate(capacity: gradCount)
        grads.initialize(repeating: 0, count: gradCount)
        index = Dictionary(entries.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { _, last in last })
    }

    deinit {
        values.deallocate()
        grads.deallocate()
    }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    func value(_ name: String) -> FloatPtr { values + entries[index[name]!].offset }
    func grad(_ name: String) -> FloatPtr {
        precondition(hasGradients, "\(name): a forward-only parameter set has no gradients")
        return grads + entries[index[name]!].offset
    }

    public func zeroGradients() { if hasGradients { grads.update(repeating: 0, count: count) } }

    /// A parameter's current values (copy).
    public func values(_ name: String) -> [Float] {
        guard let e = entry(name) else { return [] }
        return Array(UnsafeBufferPointer(start: values + e.offset, count: e.count))
    }

    /// A parameter's accumulated gradient (copy).
    public func gradient(_ name: String) -> [Float] {
        guard hasGradients, let e = entry(name) else { return [] }
        return Array(UnsafeBufferPointer(start: grads + e.offset, count: e.count))
    }

    /// Overwrites a parameter's values (checkpoints, tests).
    public func setValues(_ name: String, _ v: [Float]) {
        guard let e = entry(name) else { return }
        precondition(v.count == e.count, "\(name): \(v.count) values for \(e.count)")
        version += 1
        v.withUnsafeBufferPointer { (values + e.offset).update(from: $0.baseAddress!, count: e.count) }
    }

    /// Raw access to all values / gradients in entry order (optimizers, checkpoints).
    public func withValues<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        version += 1
        return try body(UnsafeMutableBufferPointer(start: values, count: count))
    }
    public func withGradients<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: grads, count: hasGradients ? count : 0))
    }

    /// L2 norm of one parameter's gradient and of all of them (float64 sums of float32 squares).
    public func gradientNorm(_ name: String) -> Double {
        guard hasGradients, let e = entry(name) else { return 0 }
        return Self.sumSquares(grads + e.offset, e.count).squareRoot()
    }

    /// The global gradient norm: sqrt(Σ over parameters of ‖g‖²), as `clip_grad_norm_` computes it.
    public func globalGradientNorm() -> Double {
        guard hasGradients else { return 0 }
        var total = 0.0
        for e in entries { total += Self.sumSquares(grads + e.offset, e.count) }
        return total.squareRoot()
    }

    static func sumSquares(_ p: ConstFloatPtr, _ n: Int) -> Double {
        var s = 0.0, i = 0
        while i < n {
            var chunk: Float = 0
            let end = min(n, i + 256)
            // Float partial sums over short runs, added in Double: accurate and vectorizable.
            for j in i..<end { chunk += p[j] * p[j] }
            s += Double(chunk)
            i = end
        }
        return s
    }

    /// Multiplies every gradient by `factor`.
    public func scaleGradients(_ factor: Float) {
        guard hasGradients else { return }
        for i in 0..<count { grads[i] *= factor }
    }

    /// A copy of `model` whose parameters are replaced by the current values (float32 tensors).
    public func write(into model: Model) -> Model {
        var m = model
        for e in entries {
            let t = Tensor.f32(shape: e.shape) { out in out.baseAddress!.update(from: values + e.offset, count: e.count) }
            m = m.replacing(e.name, with: t)
        }
        m.format = .memory
        return m
    }
}
