import Foundation

/// Picks the next token from logits: greedy at temperature 0, otherwise a draw from the
/// softmax of logits / temperature, optionally restricted to the `topK` most likely tokens
/// and to the smallest set whose probability reaches `topP` (nucleus sampling).
/// Deterministic for a given seed: the random numbers are llama2.c's xorshift* generator.
public struct Sampler: Sendable {
    public let temperature: Float
    /// Keep only the k most likely tokens (0: all).
    public let topK: Int
    /// Keep the smallest set of tokens whose probabilities sum to at least p (1: all).
    public let topP: Float
    public let seed: UInt64
    private var state: UInt64

    public static let greedy = Sampler()

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 42) {
        self.temperature = max(0, temperature)
        self.topK = max(0, topK)
        self.topP = topP
        self.seed = seed
        state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed  // xorshift needs a nonzero state
    }

    public var isGreedy: Bool { temperature == 0 }

    /// A float in [0, 1) (llama2.c's random_f32 over its random_u32).
    mutating func nextUniform() -> Float {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        let u32 = UInt32(truncatingIfNeeded: (state &* 0x2545_F491_4F6C_DD1D) >> 32)
        return Float(u32 >> 8) / 16_777_216
    }

    /// The next token id for one row of logits.
    public mutating func sample(_ logits: [Float]) -> Int {
        logits.withUnsafeBufferPointer { sample($0) }
    }

    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int {
        if isGreedy { return Self.argmax(logits) }
        let n = logits.count
        var probs = [Float](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = logits[i] / temperature }
            count = n
        }
        probs.withUnsafeMutableBufferPointer { softmaxForward($0.baseAddress!, count: n) }
        let coin = nextUniform()
        let restrictK = topK > 0 && topK < n
        let restrictP = topP > 0 && topP < 1
        if !restrictK && !restrictP {
            var cdf: Float = 0
            for i in 0..<n {
                cdf += probs[i]
                if coin < cdf { return i }
            }
            return n - 1  // rounding left the total just under the coin
        }
        // Candidates, most likely first; cut to k, then to the nucleus.
        var candidates = Array(0..<n)
        if restrictP && !restrictK {
            // Tokens below (1 - p) / (n - 1) cannot be in the nucleus (llama2.c's shortcut).
            let cutoff = (1 - topP) / Float(n - 1)
            candidates = candidates.filter { probs[$0] >= cutoff }
            if candidates.isEmpty { return probs.withUnsafeBufferPointer { Self.argmax($0) } }
        }
        candidates.sort { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && $0 < $1) }
        if restrictK { candidates = Array(candidates.prefix(topK)) }
        // The nucleus ends at the first token where the running sum exceeds p (run.c's `>`).
        var total: Float = 0
        var last = candidates.count - 1
        for (i, id) in candidates.enumerated() {
            total += probs[id]
            if restrictP && total > topP { last = i; break }
        }
        let r = coin * total
        var cdf: Float = 0
        for id in candidates[0...last] {
            cdf += probs[id]
            if r < cdf { return id }
        }
        return candidates[last]
    }

    /// Index of the largest logit (the first one on ties).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return best
    }
}
