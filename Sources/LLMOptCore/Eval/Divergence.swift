import Foundation

/// How far a model's next-token distributions are from a base model's, token by token.
public struct DivergenceReport: Sendable, CustomStringConvertible {
    /// Mean KL(base ‖ other) per scored token, in nats.
    public let meanKLD: Double
    /// Standard error of `meanKLD`.
    public let kldStandardError: Double
    /// Largest KL divergence at a single token.
    public let maxKLD: Double
    /// Fraction of scored tokens where both models rank the same token first.
    public let top1Agreement: Double
    /// Mean NLL of the text under each model over the same tokens (their perplexities are exp of these).
    public let baseMeanNLL: Double
    public let otherMeanNLL: Double
    public let nTokens: Int
    public let nScored: Int
    public let nWindows: Int
    public let ctx: Int
    public let stride: Int

    public var basePPL: Double { exp(baseMeanNLL) }
    public var otherPPL: Double { exp(otherMeanNLL) }

    public var `protocol`: String {
        "ctx \(ctx), stride \(stride), \(nTokens) tokens, \(nWindows) windows, \(nScored) scored"
    }

    public var description: String {
        String(format: "KLD %.6f ± %.6f nats (max %.4f), top-1 agreement %.2f%%, ppl %.4f → %.4f (",
               meanKLD, kldStandardError, maxKLD, 100 * top1Agreement, basePPL, otherPPL) + self.protocol + ")"
    }
}

/// KL divergence and top-1 agreement of `other` against `base` over the windows and scored
/// tokens of the perplexity protocol (llama.cpp's `--kl-divergence` measures the same).
public enum Divergence {
    /// Tokenizes `text` once with the base model's tokenizer.
    public static func evaluate(
        base: Model, other: Model, text: String, ctx: Int, stride: Int? = nil, maxTokens: Int? = nil,
        progress: ((_ windowsDone: Int, _ windows: Int) -> Void)? = nil, isCancelled: @escaping () -> Bool = { false }
    ) throws -> DivergenceReport {
        let ids = try evaluationTokens(base, text: text, maxTokens: maxTokens)
        return try evaluate(base: base, other: other, tokens: ids, ctx: ctx, stride: stride, progress: progress, isCancelled: isCancelled)
    }

    public static func evaluate(
        base: Model, other: Model, tokens ids: [Int], ctx: Int, stride: Int? = nil, maxTokens: Int? = nil,
        progress: ((_ windowsDone: Int, _ windows: Int) -> Void)? = nil, isCancelled: @escaping () -> Bool = { false }
    ) throws -> DivergenceReport {
        let ids = maxTokens.map { Array(ids.prefix(max(0, $0))) } ?? ids
        let plan = try EvaluationWindows(tokenCount: ids.count, ctx: ctx, stride: stride ?? ctx)
        let windows = plan.all, total = windows.count
        let capacity = min(ctx, ids.count)
        let baseSession = try InferenceSession(model: base, capacity: capacity)
        let otherSession = try InferenceSession(model: other, capacity: capacity)
        baseSession.isCancelled = isCancelled
        otherSession.isCancelled = isCancelled
        let vocab = baseSession.vocabSize
        guard otherSession.vocabSize == vocab else {
            throw LLMOptError.invalidArgument(
                name: "other", reason: "vocabulary of \(otherSession.vocabSize) tokens differs from the base model's \(vocab)")
        }
        // Under mpirun each rank compares its share of the windows (Distributed/ShardedWindows.swift);
        // each scored token gives four values: KL, same top-1 (1 or 0), base NLL, other NLL.
        let perWindow = try Communicator.world.shardedScores(windows: total) { w -> [Double] in
            let window = windows[w]
            baseSession.reset()
            otherSession.reset()
            let tokens = Array(ids[window.start..<window.end])
            let p = try baseSession.forward(tokens, logits: .all)
            let q = try otherSession.forward(tokens, logits: .all)
            let targets = Array(window.scored)
            let rows = p.withUnsafeBufferPointer { pb in
                q.withUnsafeBufferPointer { qb in
                    parallelMap(targets.count) { i in
                        compare(pb.baseAddress! + (targets[i] - 1 - window.start) * vocab,
                                qb.baseAddress! + (targets[i] - 1 - window.start) * vocab, vocab, target: ids[targets[i]])
                    }
                }
            }
            progress?(w + 1, total)
            return rows.flatMap { [$0.kl, $0.sameTop1 ? 1 : 0, $0.baseNLL, $0.otherNLL] }
        }
        var kld = MeanAccumulator(), baseNLL = MeanAccumulator(), otherNLL = MeanAccumulator()
        var maxKLD = 0.0, agree = 0
        for values in perWindow {
            for t in Swift.stride(from: 0, to: values.count, by: 4) {
                kld.add(values[t])
                maxKLD = max(maxKLD, values[t])
                if values[t + 1] != 0 { agree += 1 }
                baseNLL.add(values[t + 2])
                otherNLL.add(values[t + 3])
            }
        }
        return DivergenceReport(
            meanKLD: kld.mean, kldStandardError: kld.standardError, maxKLD: maxKLD,
            top1Agreement: Double(agree) / Double(max(1, kld.count)), baseMeanNLL: baseNLL.mean, otherMeanNLL: otherNLL.mean,
            nTokens: ids.count, nScored: kld.count, nWindows: total, ctx: ctx, stride: plan.stride)
    }

    /// One token's comparison. KL(P‖Q) = Σ p (x - y) - (lse(x) - lse(y)) for logits x, y, since Σ p = 1.
    private static func compare(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int, target: Int)
        -> (kl: Double, sameTop1: Bool, baseNLL: Double, otherNLL: Double)
    {
        let lseX = logSumExp(x, n), lseY = logSumExp(y, n)
        var argX = 0, argY = 0
        for i in 0..<n {
            if x[i] > x[argX] { argX = i }
            if y[i] > y[argY] { argY = i }
        }
        // Σ exp(x - max) (x - y), then scaled by exp(max - lse) into Σ p (x - y).
        let top = x[argX], topV = SIMD8<Float>(repeating: top)
        var expected = 0.0
        var i = 0
        while i + 8 <= n {
            let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            expected += Double((expNonPositive(xv - topV) * (xv - yv)).sum())
            i += 8
        }
        while i < n { expected += Double(expf(x[i] - top)) * Double(x[i] - y[i]); i += 1 }
        expected *= exp(Double(top) - lseX)
        let kl = max(0, expected - (lseX - lseY))
        return (kl, argX == argY, lseX - Double(x[target]), lseY - Double(y[target]))
    }
}
