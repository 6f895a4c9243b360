import Foundation

/// Budgeted mixed-precision quantization: each selected tensor gets one of several formats so
/// that the model meets a budget (a perplexity ratio, or a size in bytes) at the least damage.
///
/// 1. Sensitivity: for every tensor and every format, the model with only that tensor in that
///    format (the rest as given) is run on the calibration tokens, and its mean KL divergence
///    from the unchanged model's next-token distributions is measured.
/// 2. Order: starting with every tensor in the first (largest) format, the next step always
///    lowers the tensor whose move to its next format costs the least added KLD per byte saved
///    (a greedy multiple-choice knapsack under the assumption that damages add up). This gives
///    a sequence of plans, each smaller than the one before.
/// 3. Budget: for bytes, the first plan that fits; for perplexity, a binary search along the
///    sequence for the smallest plan whose measured perplexity on the calibration tokens stays
///    within the ratio (each probe quantizes nothing again: the tensors are cached). A uniform
///    format that meets the budget with fewer bytes would win, so it is checked too.
public enum AutoQuant {
    public enum Budget: Sendable, CustomStringConvertible {
        /// Perplexity at most `ratio` times the unquantized model's, on the calibration tokens.
        case perplexity(ratio: Double)
        /// The whole model in at most this many bytes.
        case bytes(Int)

        public var description: String {
            switch self {
            case .perplexity(let r): return String(format: "perplexity ≤ %.4g × the original's", r)
            case .bytes(let b): return "at most \(Format.bytes(b))"
            }
        }
    }

    public struct Options: Sendable {
        /// Formats from largest to smallest; each one a scheme `quantize` knows that needs no
        /// calibration (q8_0, q4_1, q4_0, int4 with `group`, f16...).
        public var formats: [String] = ["q8_0", "q4_1", "q4_0"]
        public var budget: Budget
        /// Calibration tokens used (the first ones of the text) and the window they are run in.
        public var tokens = 256
        public var ctx = 256
        /// Options of the formats (`group`, `symmetric` for the intN grids) and the selection.
        public var quantization = QuantizationOptions(group: 128)

        public init(budget: Budget) { self.budget = budget }
    }

    /// One tensor's cost in each format.
    public struct Sensitivity: Sendable {
        public let name: String
        public let bytes: [Int]
        /// Mean KL divergence (nats per token) with only this tensor in each format.
        public let kld: [Double]
    }

    /// A point of the greedy sequence: the format index of each tensor.
    public struct Plan: Sendable {
        public let levels: [String: Int]
        public let bytes: Int
        /// The sum of the chosen formats' measured KLDs.
        public let predictedKLD: Double
    }

    public struct Result: Sendable {
        public let model: Model
        public let options: Options
        public let sensitivities: [Sensitivity]
        public let plan: Plan
        /// Perplexity on the calibration tokens: unquantized, and as planned.
        public let basePPL: Double
        public let ppl: Double
        /// Each format applied to every selected tensor: bytes of the whole model and perplexity.
        public let uniform: [(format: String, bytes: Int, ppl: Double)]
        /// Whole-model evaluations the budget search made.
        public let probes: Int
        /// Whether the plan is one of the uniform formats (no mix did better).
        public let isUniform: Bool
    }

    public static func run(_ model: Model, calibration ids: [Int], options: Options,
                           progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Result {
        let formats = options.formats
        guard formats.count >= 2 else {
            throw LLMOptError.invalidArgument(name: "formats", reason: "give at least two formats, largest first, e.g. [\"q8_0\", \"q4_0\"]")
        }
        let schemes = try formats.map { try Quantization.TensorScheme($0, options: options.quantization) }
        let selection = try TensorSelection(targets: options.quantization.targets, ignore: options.quantization.ignore)
        let names = selection.selectedNames(in: model)
        guard !names.isEmpty else { throw LLMOptError.invalidArgument(name: "targets", reason: "no matrix of the model is selected") }
        guard options.ctx >= 2 else { throw LLMOptError.invalidArgument(name: "ctx", reason: "must be at least 2, got \(options.ctx)") }
        let tokens = Array(ids.prefix(options.tokens))
        guard tokens.count >= 2 else {
            throw LLMOptError.invalidArgument(name: "calibration", reason: "\(ids.count) tokens; autoquant needs at least 2 (and uses up to `tokens`)")
        }

        // Every tensor in every format, once.
        var stored: [String: [Tensor]] = [:]
        for name in names {
            try Cancellation.checkpoint()
            let tensor = try model.weight(name)
            stored[name] = try schemes.map { try $0.apply(tensor, name: name).0 }
        }
        let reference = try ReferenceDistributions(model: model, tokens: tokens, ctx: options.ctx)

        var sensitivities: [Sensitivity] = []
        let total = names.count * formats.count
        for (i, name) in names.enumerated() {
            var klds: [Double] = []
            for f in formats.indices {
                try Cancellation.checkpoint()
                var variant = model
                variant.weights[name] = stored[name]![f]
                klds.append(try reference.divergence(of: variant).kld)
                progress?(i * formats.count + f + 1, total)
            }
            sensitivities.append(Sensitivity(name: name, bytes: stored[name]!.map(\.byteCount), kld: klds))
        }

        let fixedBytes = model.weights.filter { stored[$0.key] == nil }.values.reduce(0) { $0 + $1.byteCount }
        let sequence = greedySequence(sensitivities, fixedBytes: fixedBytes)
        func build(_ plan: Plan) -> Model {
            var m = model
            for (name, level) in plan.levels { m.weights[name] = stored[name]![level] }
            m.metadata["llmopt.quantized"] = "autoquant " + formats.joined(separator: "/")
            return m
        }
        var probes = 0
        func ppl(_ m: Model) throws -> Double {
            probes += 1
            return exp(try reference.divergence(of: m).meanNLL)
        }
        let uniformPlans = formats.indices.map { f in
            Plan(levels: Dictionary(uniqueKeysWithValues: names.map { ($0, f) }),
                 bytes: fixedBytes + sensitivities.reduce(0) { $0 + $1.bytes[f] },
                 predictedKLD: sensitivities.reduce(0) { $0 + $1.kld[f] })
        }
        var uniform: [(format: String, bytes: Int, ppl: Double)] = []
        for (f, plan) in uniformPlans.enumerated() { uniform.append((formats[f], plan.bytes, try ppl(build(plan)))) }
        let basePPL = exp(reference.baseMeanNLL)

        var chosen: Plan
        switch options.budget {
        case .bytes(let limit):
            guard let fit = sequence.first(where: { $0.bytes <= limit }) else {
                throw LLMOptError.invalidArgument(name: "budget", reason: "\(Format.bytes(limit)) is below the smallest plan, "
                                                  + "every tensor in \(formats.last!): \(Format.bytes(sequence.last!.bytes))")
            }
            chosen = fit
        case .perplexity(let ratio):
            guard ratio >= 1 else { throw LLMOptError.invalidArgument(name: "budget", reason: "a perplexity ratio below 1 (\(ratio)) cannot be met") }
            let limit = ratio * basePPL
            guard try ppl(build(sequence[0])) <= limit else {
                throw LLMOptError.invalidArgument(name: "budget", reason: String(
                    format: "even every tensor in %@ gives perplexity %.4f > %.4f (%.4g × %.4f): allow more, or add a larger format",
                    formats[0], uniform[0].ppl, limit, ratio, basePPL))
            }
            // The largest index that still meets the limit (perplexity grows along the sequence).
            var lo = 0, hi = sequence.count - 1
            while lo < hi {
                try Cancellation.checkpoint()
                let mid = (lo + hi + 1) / 2
                if try ppl(build(sequence[mid])) <= limit { lo = mid } else { hi = mid - 1 }
            }
            chosen = sequence[lo]
            if let smaller = uniformPlans.enumerated().filter({ uniform[$0.offset].ppl <= limit && $0.element.bytes < chosen.bytes })
                .min(by: { $0.element.bytes < $1.element.bytes }) {
                chosen = smaller.element
            }
        }
        let result = build(chosen)
        let isUniform = Set(chosen.levels.values).count == 1
        return Result(model: result, options: options, sensitivities: sensitivities, plan: chosen, basePPL: basePPL,
                      ppl: try ppl(result), uniform: uniform, probes: probes, isUniform: isUniform)
    }

    /// Plans from every tensor in the first format down to every tensor in the last, one move at
    /// a time, cheapest added KLD per byte saved first.
    static func greedySequence(_ sensitivities: [Sensitivity], fixedBytes: Int) -> [Plan] {
        var levels = [Int](repeating: 0, count: sensitivities.count)
        var bytes = fixedBytes + sensitivities.reduce(0) { $0 + $1.bytes[0] }
        var kld = sensitivities.reduce(0) { $0 + $1.kld[0] }
        func plan() -> Plan {
            Plan(levels: Dictionary(uniqueKeysWithValues: zip(sensitivities.map(\.name), levels)), bytes: bytes, predictedKLD: kld)
        }
        var sequence = [plan()]
        let last = sensitivities.first!.bytes.count - 1
        while true {
            var best: (index: Int, cost: Double)?
            for (i, s) in sensitivities.enumerated() where levels[i] < last {
                let saved = s.bytes[levels[i]] - s.bytes[levels[i] + 1]
                let added = s.kld[levels[i] + 1] - s.kld[levels[i]]
                // A move that saves nothing goes last; one that saves bytes costs added KLD per byte.
                let cost = saved > 0 ? added / Double(saved) : .infinity
                if best == nil || cost < best!.cost { best = (i, cost) }
            }
            guard let move = best else { break }
            let s = sensitivities[move.index]
            bytes -= s.bytes[levels[move.index]] - s.bytes[levels[move.index] + 1]
            kld += s.kld[levels[move.index] + 1] - s.kld[levels[move.index]]
            levels[move.index] += 1
            sequence.append(plan())
        }
        return sequence
    }

    /// The unchanged model's log-probabilities over the calibration windows (in double: the
    /// divergences of single tensors are as small as 1e-8 nats, below float32's rounding of a
    /// log-softmax), kept to compare variants against without running the model again.
    struct ReferenceDistributions {
        let windows: [[Int]]
        let logProbs: [[Double]]
        let vocab: Int
        let baseMeanNLL: Double

        init(model: Model, tokens: [Int], ctx: Int) throws {
            windows = stride(from: 0, to: tokens.count - 1, by: ctx).map { Array(tokens[$0..<min(tokens.count, $0 + ctx)]) }
                .filter { $0.count >= 2 }
            let session = try InferenceSession(model: model, capacity: min(ctx, tokens.count))
            vocab = session.vocabSize
            var all: [[Double]] = []
            var nll = 0.0, count = 0
            for w in windows {
                session.reset()
                let lp = Self.logSoftmaxRows(try session.forward(w, logits: .all), vocab: vocab)
                for t in 0..<(w.count - 1) {
                    nll -= lp[t * vocab + w[t + 1]]
                    count += 1
                }
                all.append(lp)
            }
            logProbs = all
            baseMeanNLL = nll / Double(count)
        }

        /// Mean KL(reference ‖ variant) and the variant's mean NLL over the predicted positions.
        func divergence(of variant: Model) throws -> (kld: Double, meanNLL: Double) {
            let session = try InferenceSession(model: variant, capacity: windows.map(\.count).max()!)
            guard session.vocabSize == vocab else {
                throw LLMOptError.invalidArgument(name: "model", reason: "a variant's vocabulary (\(session.vocabSize)) differs from \(vocab)")
            }
            var kld = 0.0, nll = 0.0, count = 0
            for (w, reference) in zip(windows, logProbs) {
                session.reset()
                let lp = Self.logSoftmaxRows(try session.forward(w, logits: .all), vocab: vocab)
                for t in 0..<(w.count - 1) {
                    var sum = 0.0
                    for v in (t * vocab)..<((t + 1) * vocab) { sum += exp(reference[v]) * (reference[v] - lp[v]) }
                    kld += sum
                    nll -= lp[t * vocab + w[t + 1]]
                    count += 1
                }
            }
            return (kld / Double(count), nll / Double(count))
        }

        static func logSoftmaxRows(_ x: [Float], vocab: Int) -> [Double] {
            var out = [Double](repeating: 0, count: x.count)
            for r in 0..<(x.count / vocab) {
                let row = r * vocab
                var m = -Double.infinity
                for i in row..<(row + vocab) { m = max(m, Double(x[i])) }
                var s = 0.0
                for i in row..<(row + vocab) { s += exp(Double(x[i]) - m) }
                let lse = m + log(s)
                for i in row..<(row + vocab) { out[i] = Double(x[i]) - lse }
            }
            return out
        }
    }
}
