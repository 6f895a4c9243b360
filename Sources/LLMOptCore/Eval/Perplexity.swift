import Foundation

/// Perplexity of a model on a text, with its protocol and an error bar.
public struct PerplexityReport: Sendable, CustomStringConvertible {
    public let ppl: Double
    /// Mean negative log-likelihood per scored token, in nats.
    public let meanNLL: Double
    /// Standard error of `meanNLL` over the scored tokens.
    public let standardError: Double
    public let nTokens: Int
    public let nScored: Int
    public let nWindows: Int
    public let ctx: Int
    public let stride: Int

    /// ppl's one-sigma error bar, ppl · SE(meanNLL) (first-order, as llama.cpp reports it).
    public var pplError: Double { ppl * standardError }

    /// How the number was measured, to print beside it.
    public var `protocol`: String {
        "ctx \(ctx), stride \(stride), \(nTokens) tokens, \(nWindows) windows, \(nScored) scored"
    }

    public var description: String {
        String(format: "ppl %.4f ± %.4f (mean NLL %.6f ± %.6f nats; ", ppl, pplError, meanNLL, standardError) + self.protocol + ")"
    }
}

/// Perplexity over sliding windows (shared/testdata/README.md's protocol, as the
/// transformers perplexity guide and llama.cpp's `llama-perplexity` measure it).
public enum Perplexity {
    /// Tokenizes `text` once with the model's tokenizer (Llama: BOS at the start; GPT-2: none)
    /// and evaluates it. `stride` defaults to `ctx` (non-overlapping windows); `maxTokens` keeps
    /// the first tokens only. `progress(done, total)` is called after each window.
    public static func evaluate(
        model: Model, text: String, ctx: Int, stride: Int? = nil, maxTokens: Int? = nil,
        progress: ((_ windowsDone: Int, _ windows: Int) -> Void)? = nil, isCancelled: @escaping () -> Bool = { false }
    ) throws -> PerplexityReport {
        let ids = try evaluationTokens(model, text: text, maxTokens: maxTokens)
        return try evaluate(model: model, tokens: ids, ctx: ctx, stride: stride, progress: progress, isCancelled: isCancelled)
    }

    /// Perplexity of token ids.
    public static func evaluate(
        model: Model, tokens ids: [Int], ctx: Int, stride: Int? = nil, maxTokens: Int? = nil,
        progress: ((_ windowsDone: Int, _ windows: Int) -> Void)? = nil, isCancelled: @escaping () -> Bool = { false }
    ) throws -> PerplexityReport {
        let ids = maxTokens.map { Array(ids.prefix(max(0, $0))) } ?? ids
        let plan = try EvaluationWindows(tokenCount: ids.count, ctx: ctx, stride: stride ?? ctx)
        let windows = plan.all, total = windows.count
        let session = try InferenceSession(model: model, capacity: min(ctx, ids.count))
        session.isCancelled = isCancelled
        let vocab = session.vocabSize
        // Under mpirun each rank scores its share of the windows (Distributed/ShardedWindows.swift).
        let perWindow = try Communicator.world.shardedScores(windows: total) { w in
            let window = windows[w]
            session.reset()
            let logits = try session.forward(Array(ids[window.start..<window.end]), logits: .all)
            let targets = Array(window.scored)
            let losses = logits.withUnsafeBufferPointer { buf in
                parallelMap(targets.count) { i -> Double in
                    let row = buf.baseAddress! + (targets[i] - 1 - window.start) * vocab
                    return logSumExp(row, vocab) - Double(row[ids[targets[i]]])
                }
            }
            progress?(w + 1, total)
            return losses
        }
        var nll = MeanAccumulator()
        for losses in perWindow { for loss in losses { nll.add(loss) } }
        return PerplexityReport(
            ppl: exp(nll.mean), meanNLL: nll.mean, standardError: nll.standardError, nTokens: ids.count,
            nScored: nll.count, nWindows: total, ctx: ctx, stride: plan.stride)
    }
}
