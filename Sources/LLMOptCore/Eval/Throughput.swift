import Foundation

/// Speed of a model on this machine: prompt processing and token generation.
public struct ThroughputReport: Sendable, CustomStringConvertible {
    public let promptTokens: Int
    public let decodeTokens: Int
    /// Best run: one forward pass over `promptTokens` tokens.
    public let prefillSeconds: Double
    /// Best run: `decodeTokens` single-token steps after the prompt.
    public let decodeSeconds: Double
    public let runs: Int
    public let threads: Int
    /// Bytes of the model's weights.
    public let modelBytes: Int

    public var prefillTokensPerSecond: Double { Double(promptTokens) / prefillSeconds }
    public var decodeTokensPerSecond: Double { Double(decodeTokens) / decodeSeconds }

    public var description: String {
        String(format: "prefill %.1f tok/s (%d tokens), decode %.1f tok/s (%d tokens), best of %d, %d threads, weights %@",
               prefillTokensPerSecond, promptTokens, decodeTokensPerSecond, decodeTokens, runs, threads,
               Format.bytes(modelBytes))
    }
}

public enum Throughput {
    /// Times a prefill of `promptTokens` tokens and then `decodeTokens` greedy decode steps,
    /// `runs` times, keeping the fastest of each (the least disturbed by other work).
    public static func measure(model: Model, promptTokens: Int = 128, decodeTokens: Int = 32, runs: Int = 3) throws -> ThroughputReport {
        guard promptTokens > 0, decodeTokens > 0, runs > 0 else {
            throw LLMOptError.invalidArgument(name: "promptTokens/decodeTokens/runs", reason: "must all be positive")
        }
        let session = try InferenceSession(model: model, capacity: promptTokens + decodeTokens)
        let vocab = session.vocabSize
        // Any valid ids do: the cost of a forward pass does not depend on them.
        var prompt = (0..<promptTokens).map { ($0 * 7919 + 13) % vocab }
        if let bos = model.config.bosTokenId, model.config.architecture == .llama, bos < vocab { prompt[0] = bos }
        let clock = ContinuousClock()
        var bestPrefill = Double.infinity, bestDecode = Double.infinity
        for _ in 0..<runs {
            session.reset()
            let t0 = clock.now
            var logits = try session.forward(prompt)
            let t1 = clock.now
            for _ in 0..<decodeTokens {
                let next = logits.withUnsafeBufferPointer { Sampler.argmax($0) }
                logits = try session.forward([next])
            }
            let t2 = clock.now
            bestPrefill = min(bestPrefill, (t1 - t0).seconds)
            bestDecode = min(bestDecode, (t2 - t1).seconds)
        }
        return ThroughputReport(
            promptTokens: promptTokens, decodeTokens: decodeTokens, prefillSeconds: bestPrefill,
            decodeSeconds: bestDecode, runs: runs, threads: Parallel.threadCount, modelBytes: model.byteCount)
    }
}
