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
        var kld = MeanAccumulator(), baseNLL = MeanAccumulator(), otherNLL = MeanAccumulator()
        var maxKLD = 0.0, agree = 0
        for (w, window) in windows.enumerated() {
            baseSession.reset()
            otherSession.reset()
            let tokens = Array(ids[window.start..<window.end])
            let p = try baseSession.forward(tokens, logits: .all)
            let q = try otherSession.forward(tokens, logits: .all)
            p.withUnsafeBufferPointer { pb in
                q.withUnsafeBufferPointer { qb in
                    for target in window.scored {
                        let offset = (target - 1 - window.start) * vocab
                        let pr = pb.baseAddress! + offset, qr = qb.baseAddress! + offset
                        let lseP = logSumExp(pr, vocab), lseQ = logSumExp(qr, vocab)
                        var kl = 0.0
                        var argP = 0, argQ = 0
                        for i in 0..<vocab {
                            let lp = Double(pr[i]) - lseP, lq = Double(qr[i]) - lseQ
                            kl += exp(lp) * (lp - lq)
                            if pr[i] > pr[argP] { argP = i }
                            if qr[i] > qr[argQ] { argQ = i }
                        }
                        kl = max(0, kl)
                        kld.add(kl)
                        maxKLD = max(maxKLD, kl)
                        if argP == argQ { agree += 1 }
                        baseNLL.add(lseP - Double(pr[ids[target]]))
                        otherNLL.add(lseQ - Double(qr[ids[target]]))
                    }
                }
            }
            progress?(w + 1, total)
        }
        return DivergenceReport(
            meanKLD: kld.mean, kldStandardError: kld.standardError, maxKLD: maxKLD,
            top1Agreement: Double(agree) / Double(max(1, kld.count)), baseMeanNLL: baseNLL.mean, otherMeanNLL: otherNLL.mean,
            nTokens: ids.count, nScored: kld.count, nWindows: total, ctx: ctx, stride: plan.stride)
    }
}
