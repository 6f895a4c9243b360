/// N:M semi-structured sparsity (2:4 as in NVIDIA's sparse tensor cores, 4:8...): in every
/// group of M consecutive weights along the input dimension of a row, the N with the highest
/// score stay and the other M − N become zero. Among equal scores the earlier weight stays.
public struct NMPattern: Sendable, Equatable, CustomStringConvertible {
    public let n: Int
    public let m: Int

    public init(n: Int, m: Int) throws {
        guard m > 0, n > 0, n < m, m <= 64 else {
            throw LLMOptError.invalidArgument(name: "pattern", reason: "\(n):\(m) needs 0 < N < M <= 64")
        }
        self.n = n
        self.m = m
    }

    /// Parses "2:4".
    public init(_ text: String) throws {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let n = Int(parts[0]), let m = Int(parts[1]) else {
            throw LLMOptError.invalidArgument(name: "pattern", reason: "'\(text)' is not of the form N:M (e.g. 2:4)")
        }
        try self.init(n: n, m: m)
    }

    public var description: String { "\(n):\(m)" }
    public var sparsity: Double { Double(m - n) / Double(m) }

    /// Checks that a weight's rows split into whole groups.
    func check(_ name: String, columns: Int) throws {
        guard columns % m == 0 else {
            throw LLMOptError.invalidArgument(name: "pattern", reason: "tensor '\(name)' has \(columns) input columns, not a multiple of \(m)")
        }
    }

    /// Zeroes, in place, the M − N lowest-scored weights of every group of `row`.
    func apply(row: UnsafeMutablePointer<Float>, scores: UnsafePointer<Float>, columns: Int) {
        var g = 0
        while g < columns {
            // Drop the M − N smallest: repeatedly find the smallest score still standing
            // (the later one among equals, so the earlier weight stays).
            var dropped: UInt64 = 0
            for _ in 0..<(m - n) {
                var worst = -1
                for j in 0..<m where dropped & (1 << UInt64(j)) == 0 {
                    if worst < 0 || scores[g + j] <= scores[g + worst] { worst = j }
                }
                dropped |= 1 << UInt64(worst)
                row[g + worst] = 0
            }
            g += m
        }
    }
}

/// N:M pruning by magnitude (score |w|) or any per-weight score.
enum SemiStructured {
    /// A copy of `weight` pruned to `pattern`, scoring weight (r, c) with `score(r, c, w)`.
    static func prune(_ name: String, _ weight: Tensor, pattern: NMPattern,
                      score: (_ row: Int, _ column: Int, _ w: Float) -> Float = { _, _, w in abs(w) }) throws -> Tensor {
        let src = weight.toF32()
        let (rows, cols) = (src.rows, src.columns)
        try pattern.check(name, columns: cols)
        let w = src.f32Pointer
        return Tensor.f32(shape: src.shape) { out in
            var s = [Float](repeating: 0, count: cols)
            for r in 0..<rows {
                let row = out.baseAddress! + r * cols
                row.update(from: w + r * cols, count: cols)
                for c in 0..<cols { s[c] = score(r, c, row[c]) }
                pattern.apply(row: row, scores: s, columns: cols)
            }
        }
    }
}
