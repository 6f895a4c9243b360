import Foundation

/// The windows a perplexity-style evaluation runs over a token sequence, and which tokens
/// each one scores (shared by `Perplexity` and `Divergence`, so both score the same tokens).
///
/// Windows start at 0, S, 2S, ... and cover ids[b ..< min(b + ctx, N)], stopping after the
/// window that reaches N. Logits at window position j predict the token at j + 1. A token is
/// scored once: in the first window where it sits at position >= 1 and past the end of the
/// previous window.
struct EvaluationWindows {
    struct Window {
        let start: Int
        let end: Int
        /// Absolute indices of the predicted tokens this window scores.
        let scored: Range<Int>
    }

    let tokenCount: Int
    let ctx: Int
    let stride: Int

    init(tokenCount: Int, ctx: Int, stride: Int) throws {
        guard ctx >= 2 else { throw LLMOptError.invalidArgument(name: "ctx", reason: "must be at least 2, got \(ctx)") }
        guard stride >= 1, stride <= ctx else {
            throw LLMOptError.invalidArgument(name: "stride", reason: "must be between 1 and ctx (\(ctx)), got \(stride)")
        }
        // Two scored tokens at least: the error bar is a sample standard deviation.
        guard tokenCount >= 3 else {
            throw LLMOptError.invalidArgument(name: "text", reason: "gives \(tokenCount) token\(tokenCount == 1 ? "" : "s"); at least 3 are needed (2 scored, for a mean and its error bar)")
        }
        self.tokenCount = tokenCount
        self.ctx = ctx
        self.stride = stride
    }

    /// The windows in order.
    var all: [Window] {
        var windows: [Window] = []
        var start = 0, previousEnd = 0
        while true {
            let end = min(start + ctx, tokenCount)
            windows.append(Window(start: start, end: end, scored: max(start + 1, previousEnd)..<end))
            if end == tokenCount { return windows }
            previousEnd = end
            start += stride
        }
    }
}

/// Running mean and standard error of per-token values, summed in float64.
struct MeanAccumulator {
    private(set) var count = 0
    private(set) var sum = 0.0
    private var sumOfSquares = 0.0

    mutating func add(_ x: Double) {
        count += 1
        sum += x
        sumOfSquares += x * x
    }

    var mean: Double { count > 0 ? sum / Double(count) : .nan }

    /// Standard error of the mean (sample variance over n - 1).
    var standardError: Double {
        guard count > 1 else { return .nan }
        let n = Double(count)
        let variance = max(0, (sumOfSquares - sum * sum / n) / (n - 1))
        return (variance / n).squareRoot()
    }
}

/// log Σ exp(x) over a row of logits: float32 exponentials (within a few ulps), summed in
/// float32 over blocks of 64 values and in float64 across blocks.
func logSumExp(_ row: UnsafePointer<Float>, _ n: Int) -> Double {
    var m = -Float.infinity
    for i in 0..<n where row[i] > m { m = row[i] }
    let shift = SIMD8<Float>(repeating: m)
    var total = 0.0
    var i = 0
    while i + 64 <= n {
        var acc = SIMD8<Float>()
        for j in Swift.stride(from: i, to: i + 64, by: 8) {
            acc += expNonPositive(UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self) - shift)
        }
        total += Double(acc.sum())
        i += 64
    }
    while i < n { total += Double(expf(row[i] - m)); i += 1 }
    return Double(m) + log(total)
}

/// e^x for x <= 0, eight at a time (Cephes' expf: x = n ln2 + r, |r| <= ln2/2, a degree-5
/// polynomial for e^r, 2^n from the exponent bits). Values below -87 give 0.
@inline(__always)
func expNonPositive(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let x = x.replacing(with: -87.3, where: x .< -87.3)
    // n = round(x / ln2), by adding and subtracting 1.5·2^23; n sits in t's low mantissa bits.
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let t = x * 1.442_695_04 + magic
    let n = t - magic
    let r = x - n * 0.693_359_375 - n * -2.121_944_4e-4
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let er = p * r * r + r + 1
    let bits = (unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self) &+ 127) &<< 23
    let scale = unsafeBitCast(bits, to: SIMD8<Float>.self)
    return (er * scale).replacing(with: 0, where: x .<= -87.3)
}

/// Computes `body(i)` for i in 0..<count across all cores, results in index order.
func parallelMap<T>(_ count: Int, _ body: (Int) -> T) -> [T] {
    var results = [T?](repeating: nil, count: count)
    results.withUnsafeMutableBufferPointer { out in
        let base = out.baseAddress!
        Parallel.forRanges(count) { range in
            for i in range { (base + i).pointee = body(i) }
        }
    }
    return results.map { $0! }
}

/// Tokenizes evaluation text with the model's own tokenizer and its default BOS.
func evaluationTokens(_ model: Model, text: String, maxTokens: Int?) throws -> [Int] {
    guard let tokenizer = model.tokenizer else {
        throw LLMOptError.invalidArgument(name: "model", reason: "\(model.sourcePath ?? "the model") has no tokenizer; pass token ids")
    }
    let ids = tokenizer.encode(text)
    if let maxTokens, maxTokens < ids.count { return Array(ids.prefix(max(0, maxTokens))) }
    return ids
}
