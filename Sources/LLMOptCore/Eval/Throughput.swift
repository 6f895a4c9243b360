import Foundation

/// Speed of a model on this machine: prompt processing and token generation.
public struct ThroughputReport: Sendable, CustomStringConvertible {
    public let promptTokens: Int
    public let decodeTokens: Int
    /// Best run: one forward pass over `promptTokens` tokens.
    public let prefillSeconds: Double
    /// Best run: `decodeTokens` single-token steps after the prompt.
    public let decodeSeconds: Double
    /// Process CPU time (all threads) of the best prefill and decode runs: on a shared machine,
    /// wall time / CPU time · threads shows how much of the cores the run really had.
    public let prefillCPUSeconds: Double
    public let decodeCPUSeconds: Double
    public let runs: Int
    public let threads: Int
    /// Bytes of the model's weights.
    public let modelBytes: Int

    public var prefillTokensPerSecond: Double { Double(promptTokens) / prefillSeconds }
    public var decodeTokensPerSecond: Double { Double(decodeTokens) / decodeSeconds }

    public var description: String {
        String(format: "prefill %.1f tok/s (%d tokens, %.3f s wall, %.3f s CPU), decode %.1f tok/s (%d tokens, %.3f s wall, %.3f s CPU), best of %d, %d threads, weights %@",
               prefillTokensPerSecond, promptTokens, prefillSeconds, prefillCPUSeconds,
               decodeTokensPerSecond, decodeTokens, decodeSeconds, decodeCPUSeconds, runs, threads, Format.bytes(modelBytes))
    }
}

public enum Throughput {
    /// Times a prefill of `promptTokens` tokens and then `decodeTokens` greedy decode steps,
    /// `runs` times, keeping the fastest of each (the least disturbed by other work).
    public static func measure(model: Model, promptTokens: Int = 128, decodeTokens: Int = 32, runs: Int = 3) throws -> ThroughputReport {
        guard promptTokens > 0, decodeTokens > 0, runs > 0 else {
            throw LLMOptError.unsupported("the prompt and decode token counts and the runs must all be positive (got \(promptTokens), \(decodeTokens), \(runs))")
        }
        let context = model.config.maxPositions
        guard promptTokens <= context, decodeTokens <= context - promptTokens else {
            throw LLMOptError.unsupported("\(promptTokens) prompt + \(decodeTokens) decode tokens exceed the model's context of \(context) positions")
        }
        let session = try InferenceSession(model: model, capacity: promptTokens + decodeTokens)
        let vocab = session.vocabSize
        // Any valid ids do: the cost of a forward pass does not depend on them.
        var prompt = (0..<promptTokens).map { ($0 * 7919 + 13) % vocab }
        if let bos = model.config.bosTokenId, model.config.architecture.family.startsWithBOS, bos < vocab { prompt[0] = bos }
        let clock = ContinuousClock()
        var bestPrefill = (wall: Double.infinity, cpu: 0.0), bestDecode = (wall: Double.infinity, cpu: 0.0)
        for _ in 0..<runs {
            try Cancellation.checkpoint()
            session.reset()
            let (t0, c0) = (clock.now, processCPUSeconds())
            var logits = try session.forward(prompt)
            let (t1, c1) = (clock.now, processCPUSeconds())
            for _ in 0..<decodeTokens {
                try Cancellation.checkpoint()
                let next = logits.withUnsafeBufferPointer { Sampler.argmax($0) }
                logits = try session.forward([next])
            }
            let (t2, c2) = (clock.now, processCPUSeconds())
            if (t1 - t0).seconds < bestPrefill.wall { bestPrefill = ((t1 - t0).seconds, c1 - c0) }
            if (t2 - t1).seconds < bestDecode.wall { bestDecode = ((t2 - t1).seconds, c2 - c1) }
        }
        return ThroughputReport(
            promptTokens: promptTokens, decodeTokens: decodeTokens, prefillSeconds: bestPrefill.wall,
            decodeSeconds: bestDecode.wall, prefillCPUSeconds: bestPrefill.cpu, decodeCPUSeconds: bestDecode.cpu, runs: runs, threads: Parallel.threadCount, modelBytes: model.byteCount)
    }
}

/// CPU time used by this process so far, all threads together.
func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
