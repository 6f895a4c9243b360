/// Token sequences that calibration-aware techniques (GPTQ, AWQ, Wanda, SparseGPT) run through
/// a model to observe the activations each layer really sees. Samples are windows of `length`
/// tokens at seeded random offsets in a tokenized text, as in the GPTQ paper's setup; when the
/// tokenizer adds BOS, each sample starts with BOS followed by `length - 1` text tokens, so every
/// sample looks like the start of a document to the model.
public struct Calibration: Sendable {
    public let samples: [[Int]]

    public init(samples: [[Int]]) throws {
        guard !samples.isEmpty, samples.allSatisfy({ !$0.isEmpty }) else {
            throw LLMOptError.invalidArgument(name: "calibration", reason: "needs at least one non-empty sample")
        }
        self.samples = samples
    }

    /// `samples` windows of `length` tokens from `tokens`, at offsets drawn with `seed`
    /// (shorter when the text is shorter than a window); `bos` is put in front of each.
    public init(tokens: [Int], samples: Int, length: Int, seed: UInt64 = 0, bos: Int? = nil) throws {
        guard samples > 0 else { throw LLMOptError.invalidArgument(name: "samples", reason: "\(samples) must be positive") }
        let body = length - (bos == nil ? 0 : 1)
        guard body > 0 else { throw LLMOptError.invalidArgument(name: "length", reason: "\(length) leaves no room for text tokens") }
        guard !tokens.isEmpty else { throw LLMOptError.invalidArgument(name: "calibration", reason: "the text has no tokens") }
        let window = min(body, tokens.count)
        var rng = SplitMix64(seed: seed)
        var out: [[Int]] = []
        for _ in 0..<samples {
            let start = Int(rng.next() % UInt64(tokens.count - window + 1))
            out.append((bos.map { [$0] } ?? []) + tokens[start..<(start + window)])
        }
        try self.init(samples: out)
    }

    /// Tokenizes `text` once (without BOS) and draws windows from it.
    public init(text: String, tokenizer: any Tokenizer, samples: Int, length: Int, seed: UInt64 = 0) throws {
        let tokens = tokenizer.encode(text, addBOS: false)
        try self.init(tokens: tokens, samples: samples, length: length, seed: seed,
                      bos: tokenizer.addsBOSByDefault ? tokenizer.bosTokenId : nil)
    }

    public var tokenCount: Int { samples.reduce(0) { $0 + $1.count } }
}

/// A small, fast, seedable generator (Steele et al.'s SplitMix64): reproducible across runs and
/// platforms, unlike the system generator.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
