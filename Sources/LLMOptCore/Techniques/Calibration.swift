/// Calibration data for techniques that look at activations (Wanda, SparseGPT, GPTQ, AWQ):
/// `samples` windows of `length` tokens cut from a text at positions drawn with a fixed seed,
/// so the same call always sees the same tokens.
public struct Calibration: Sendable {
    /// The calibration text, or nil when the data came as token ids.
    public let text: String?
    /// Already tokenized calibration data, or nil when it came as text.
    public let tokens: [Int]?
    public let samples: Int
    public let length: Int
    public let seed: UInt64
    /// Tokens all windows together may hold (128 MiB of ids).
    public static let maxTokens = 1 << 24

    public init(text: String, samples: Int = 16, length: Int = 256, seed: UInt64 = 0) throws {
        try self.init(text: text, tokens: nil, samples: samples, length: length, seed: seed)
    }

    /// Calibration data that is already token ids (for models without a tokenizer).
    public init(tokens: [Int], samples: Int = 16, length: Int = 256, seed: UInt64 = 0) throws {
        try self.init(text: nil, tokens: tokens, samples: samples, length: length, seed: seed)
    }

    private init(text: String?, tokens: [Int]?, samples: Int, length: Int, seed: UInt64) throws {
        guard samples > 0 else { throw LLMOptError.invalidArgument(name: "samples", reason: "must be positive, got \(samples)") }
        guard length > 1 else { throw LLMOptError.invalidArgument(name: "length", reason: "must be at least 2, got \(length)") }
        self.text = text
        self.tokens = tokens
        self.samples = samples
        self.length = length
        self.seed = seed
    }

    /// The token windows: the text is tokenized once (with BOS when the model adds one) and
    /// each window starts at a seeded random offset. A text shorter than `length` gives
    /// `samples` copies of the whole text; an empty one is an error, and so is a text with no
    /// tokenizer to read it.
    public func windows(tokenizer: (any Tokenizer)?) throws -> [[Int]] {
        let ids: [Int]
        if let tokens {
            ids = tokens
        } else if let tokenizer, let text {
            ids = tokenizer.encode(text)
        } else {
            throw LLMOptError.invalidArgument(name: "calibration", reason: "a calibration text needs the model's tokenizer")
        }
        guard ids.count >= 2 else {
            throw LLMOptError.invalidArgument(name: "calibration", reason: "the text gives \(ids.count) tokens; at least 2 are needed")
        }
        // The windows are held in memory: bound the tokens they hold (a window is at most the
        // whole text) before making them.
        let window = min(length, ids.count)
        let (held, overflow) = samples.multipliedReportingOverflow(by: window)
        guard !overflow, held <= Calibration.maxTokens else {
            throw LLMOptError.invalidArgument(
                name: "samples", reason: "\(samples) windows of \(window) tokens are more than the \(Calibration.maxTokens) tokens calibration holds; use fewer samples or a shorter length")
        }
        if ids.count <= length { return Array(repeating: ids, count: samples) }
        var rng = SplitMix64(seed: seed)
        let starts = ids.count - length + 1
        return (0..<samples).map { _ in
            let s = Int(rng.next() % UInt64(starts))
            return Array(ids[s..<(s + length)])
        }
    }
}

/// A small, fast, seedable generator (Steele, Lea and Flood 2014); the same seed gives the
/// same stream on every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
