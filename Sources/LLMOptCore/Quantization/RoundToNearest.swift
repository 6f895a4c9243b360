/// Which weights share one scale: a whole tensor, one output channel (a row of an `[out, in]`
/// weight), or consecutive runs of `n` values along a row (the last run may be shorter).
public enum QuantGrouping: Sendable, Equatable, CustomStringConvertible {
    case perTensor
    case perChannel
    case groups(Int)

    /// The script convention: `-1` per tensor, `0` per output channel, `n > 0` groups of n.
    public init(group: Int) throws {
        switch group {
        case -1: self = .perTensor
        case 0: self = .perChannel
        case 1...: self = .groups(group)
        default:
            throw LLMOptError.invalidArgument(name: "group", reason: "\(group) is not -1 (per tensor), 0 (per channel) or a group size")
        }
    }

    /// Values per group in a row of `columns` values.
    func groupSize(columns: Int) -> Int {
        if case .groups(let n) = self { return min(n, columns) }
        return columns
    }

    public var description: String {
        switch self {
        case .perTensor: return "tensor"
        case .perChannel: return "channel"
        case .groups(let n): return "g\(n)"
        }
    }
}

/// An integer grid: bits, symmetric or asymmetric, and how values share scales.
///
/// A symmetric grid comes in two kinds. The restricted one uses the codes −qmax...qmax with
/// qmax = 2^(b−1) − 1 (the textbook grid, and the oracle's): one of the 2^b codes is never used,
/// which at 4 bits is one level in 16. The full-range one uses all of −2^(b−1)...2^(b−1) − 1, as
/// ggml's Q4_0 does: the value of largest magnitude m maps exactly to −2^(b−1) (the scale is
/// m / −2^(b−1), negative when m is), so the step is max|w| / 2^(b−1) instead of / qmax.
public struct QuantGrid: Sendable, Equatable, CustomStringConvertible {
    public let bits: Int
    public let grouping: QuantGrouping
    public let symmetric: Bool
    /// Symmetric grids only: all 2^b codes (see above).
    public let fullRange: Bool

    public init(bits: Int, grouping: QuantGrouping, symmetric: Bool, fullRange: Bool = false) throws {
        guard (2...8).contains(bits) else {
            throw LLMOptError.invalidArgument(name: "bits", reason: "\(bits) is outside 2...8")
        }
        guard !(fullRange && !symmetric) else {
            throw LLMOptError.invalidArgument(name: "full_range", reason: "applies to symmetric grids only (an asymmetric grid already uses all 2^bits codes)")
        }
        self.bits = bits
        self.grouping = grouping
        self.symmetric = symmetric
        self.fullRange = fullRange
    }

    /// Largest code magnitude (symmetric) or largest code (asymmetric).
    public var maxCode: Int { symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1 }

    /// Smallest code: −qmax, −2^(b−1) (full range) or 0 (asymmetric).
    public var minCode: Int { symmetric ? (fullRange ? -(1 << (bits - 1)) : -maxCode) : 0 }

    /// The scale and zero point of a set of values, from their minimum and maximum.
    /// Symmetric: scale = max|w| / qmax, or (full range) m / −2^(b−1) with m the extreme of
    /// larger magnitude. Asymmetric: the range is widened to hold 0, scale = (max − min) /
    /// (2^b − 1), zero = round(−min / scale). A zero scale becomes 1. All float32.
    @inline(__always)
    public func parameters(min lo: Float, max hi: Float) -> (scale: Float, zero: Int) {
        if symmetric {
            if fullRange {
                let extreme = abs(lo) > abs(hi) ? lo : hi
                let s = extreme / Float(minCode)
                return (s == 0 ? 1 : s, 0)
            }
            let s = Swift.max(abs(lo), abs(hi)) / Float(maxCode)
            return (s == 0 ? 1 : s, 0)
        }
        let xmin = Swift.min(lo, 0), xmax = Swift.max(hi, 0)
        var s = (xmax - xmin) / Float(maxCode)
        if s == 0 { s = 1 }
        return (s, Int((-xmin / s).rounded(.toNearestOrEven)))
    }

    /// The code of `w`: round half to even of w / scale (true division), shifted by the zero
    /// point and clamped to the grid.
    @inline(__always)
    public func code(_ w: Float, scale: Float, zero: Int) -> Int {
        let q = Int((w / scale).rounded(.toNearestOrEven)) + zero
        return Swift.min(Swift.max(q, minCode), maxCode)
    }

    /// The value a code stands for.
    @inline(__always)
    public func value(code q: Int, scale: Float, zero: Int) -> Float {
        Float(q - zero) * scale
    }

    /// The packed row layout for rows of `columns` values.
    public func layout(columns: Int) throws -> GroupQuantLayout {
        try GroupQuantLayout(bits: bits, groupSize: grouping.groupSize(columns: columns), columns: columns, symmetric: symmetric)
    }

    public var description: String { "int\(bits) \(symmetric ? (fullRange ? "sym-full" : "sym") : "asym") \(grouping)" }
}

/// Round-to-nearest quantization: each group gets a scale (and zero) from its own range and
/// every weight its nearest code. The result is a packed `.qgroup` tensor; its dequantized
/// values equal the float32 oracle's fake-quantized weights bit for bit.
public enum RoundToNearest {
    /// Quantizes a matrix (last dimension = input features) named `name` for error messages.
    /// `scales`, on a symmetric grid, replaces the scales taken from the ranges: one per group
    /// (row by row, groups along the row; one in all for a per-tensor grid), as learned step
    /// size quantization trains them.
    public static func quantize(_ tensor: Tensor, grid: QuantGrid, name: String, scales: [Float]? = nil) throws -> Tensor {
        guard tensor.rank >= 2 else {
            throw LLMOptError.invalidArgument(name: name, reason: "round-to-nearest needs a matrix, got shape \(tensor.shape)")
        }
        let w = tensor.toF32()
        try checkFinite(w, name: name)
        let rows = w.rows, cols = w.columns
        let layout = try grid.layout(columns: cols)
        let src = w.f32Pointer
        var tensorParameters: (scale: Float, zero: Int)?
        if let scales {
            let expected = grid.grouping == .perTensor ? 1 : rows * layout.groupsPerRow
            guard grid.symmetric, scales.count == expected, scales.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw LLMOptError.invalidArgument(name: name, reason: "given scales need a symmetric grid and \(expected) positive finite values, got \(scales.count)")
            }
            if grid.grouping == .perTensor { tensorParameters = (scales[0], 0) }
        } else if grid.grouping == .perTensor {
            let (lo, hi) = range(src, count: rows * cols)
            tensorParameters = grid.parameters(min: lo, max: hi)
        }
        return layout.makeTensor(shape: w.shape) { base in
            Parallel.forRanges(rows, grain: 8) { range in
                for r in range {
                    let row = base + r * layout.rowBytes
                    let x = src + r * cols
                    for g in 0..<layout.groupsPerRow {
                        let start = g * layout.groupSize, end = min(cols, start + layout.groupSize)
                        let p = tensorParameters ?? scales.map { ($0[r * layout.groupsPerRow + g], 0) } ?? {
                            let (lo, hi) = Self.range(x + start, count: end - start)
                            return grid.parameters(min: lo, max: hi)
                        }()
                        layout.setScale(row, group: g, p.scale)
                        if !grid.symmetric { layout.setZero(row, group: g, p.zero) }
                        for i in start..<end {
                            layout.setCode(row, index: i, grid.code(x[i], scale: p.scale, zero: p.zero))
                        }
                    }
                }
            }
        }
    }

    /// Minimum and maximum of `count` floats.
    static func range(_ x: UnsafePointer<Float>, count: Int) -> (Float, Float) {
        var lo = Float.infinity, hi = -Float.infinity
        for i in 0..<count {
            lo = min(lo, x[i])
            hi = max(hi, x[i])
        }
        return (lo, hi)
    }

    /// Minimum and maximum of `count` values of `x` from `start`.
    static func range(_ x: [Float], from start: Int = 0, count: Int) -> (Float, Float) {
        x.withUnsafeBufferPointer { range($0.baseAddress! + start, count: count) }
    }

    /// Quantizers assume finite weights; NaN or infinity would silently poison a whole group.
    static func checkFinite(_ w: Tensor, name: String) throws {
        let p = w.f32Pointer
        for i in 0..<w.count where !p[i].isFinite {
            throw LLMOptError.invalidArgument(name: name, reason: "weight \(i) is \(p[i]); cannot quantize non-finite values")
        }
    }
}
