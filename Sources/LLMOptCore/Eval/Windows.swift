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
        guard tokenCount >= 2 else {
            throw LLMOptError.invalidArgument(name: "text", reason: "needs at least 2 tokens to score, got \(tokenCount)")
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

/// log Σ exp(x) over a row of logits, in float64.
func logSumExp(_ row: UnsafePointer<Float>, _ n: Int) -> Double {
    var m = -Float.infinity
    for i in 0..<n where row[i] > m { m = row[i] }
    var s = 0.0
    for i in 0..<n { s += exp(Double(row[i] - m)) }
    return Double(m) + log(s)
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
