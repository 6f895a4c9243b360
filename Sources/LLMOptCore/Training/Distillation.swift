import Foundation

/// A loss on the logits of a training run that replaces next-token cross-entropy (distillation).
/// Evaluation runs (no backward pass) still score plain cross-entropy, so eval losses compare
/// across techniques.
public protocol LogitLoss: AnyObject {
    /// The sum over the B·(T−1) predictions of `ids` (B rows of `seq`) of the per-position loss;
    /// when `backward`, `logits` ([B·T, vocab]) is overwritten by d(loss)/d(logits) · `gradScale`
    /// (zero in the last position of each row, which predicts nothing).
    func lossAndGradient(logits: FloatPtr, ids: [Int], seq: Int, vocab: Int, gradScale: Float, backward: Bool) throws -> Double
}

/// Which divergence pulls the student towards the teacher.
public enum DistillationDivergence: String, Sendable, Codable, CaseIterable {
    /// KL(teacher ‖ student): the student covers every token the teacher likes (mean-seeking).
    case forward
    /// KL(student ‖ teacher): the student puts its mass where the teacher's is (mode-seeking).
    case reverse
}

public struct DistillationOptions: Sendable, Equatable {
    /// T: both distributions are softened as softmax(logits / T).
    public var temperature: Double = 2
    /// Weight of the label cross-entropy; 1 − alpha goes to the T²-scaled divergence.
    public var alpha: Double = 0.5
    public var divergence: DistillationDivergence = .forward
    /// Keep only the teacher's k largest logits per position (its distribution renormalized over
    /// them), computed once for every batch before training so the teacher need not stay loaded.
    public var topK: Int?

    public init(temperature: Double = 2, alpha: Double = 0.5, divergence: DistillationDivergence = .forward, topK: Int? = nil) {
        self.temperature = temperature
        self.alpha = alpha
        self.divergence = divergence
        self.topK = topK
    }

    public func validate() throws {
        guard temperature.isFinite, temperature > 0 else {
            throw LLMOptError.invalidArgument(name: "temperature", reason: "must be a positive number, got \(temperature)")
        }
        guard alpha.isFinite, (0...1).contains(alpha) else { throw LLMOptError.invalidArgument(name: "alpha", reason: "must be in [0, 1], got \(alpha)") }
        if let topK {
            guard topK > 0 else { throw LLMOptError.invalidArgument(name: "top-k", reason: "must be at least 1, got \(topK)") }
            guard divergence == .forward else {
                throw LLMOptError.invalidArgument(name: "top-k", reason: "needs the forward divergence: reverse KL takes log of the teacher's probability of every token, and the top-k teacher gives the others none")
            }
        }
    }
}

/// Knowledge distillation (Hinton et al. 2015): per predicted position,
///
///     loss = alpha · CE(student, label) + (1 − alpha) · T² · KL(p_t ‖ p_s)
///     p_t = softmax(teacher / T), p_s = softmax(student / T)
///
/// with KL summed over the vocabulary and averaged over positions. Gradient with respect to the
/// student's logits z: alpha·(softmax(z) − onehot) + (1 − alpha)·T·(p_s − p_t). Reverse KL(p_s ‖
/// p_t) has gradient (1 − alpha)·T·p_s,j·(log p_s,j − log p_t,j − KL).
public final class Distillation: LogitLoss, @unchecked Sendable {
    public let options: DistillationOptions
    /// The teacher's forward pass (no gradients, one layer's activations); released once a
    /// top-k cache holds everything training needs.
    private(set) var teacher: TrainingGraph?
    private let vocab: Int
    /// Top-k teachers: per micro-batch of ids, every position's k token ids and logits.
    private var cache: [[Int]: TopK] = [:]
    /// The mean cross-entropy and divergence (before weighting) of the last training micro-batch.
    public private(set) var lastCrossEntropy = 0.0
    public private(set) var lastDivergence = 0.0

    struct TopK {
        var ids: [Int32]
        var logits: [Float]
    }

    /// Distills `teacher` into the student being trained by `student`; both must share a vocabulary.
    public init(teacher: Model, student: TrainingGraph, studentModel: Model, options: DistillationOptions) throws {
        try options.validate()
        let graph = try TrainingGraph(model: teacher, forwardOnly: true)
        guard graph.vocab == student.vocab else {
            throw LLMOptError.invalidArgument(name: "teacher", reason: "the teacher scores \(graph.vocab) tokens and the student \(student.vocab): distillation compares their distributions token by token, so both need the same vocabulary (the same tokenizer)")
        }
        if let a = teacher.tokenizer, let b = studentModel.tokenizer {
            for id in stride(from: 0, to: min(a.vocabularySize, b.vocabularySize), by: max(1, a.vocabularySize / 997)) where a.piece(id) != b.piece(id) {
                throw LLMOptError.invalidArgument(name: "teacher", reason: "token \(id) is '\(a.piece(id))' for the teacher but '\(b.piece(id))' for the student: the vocabularies differ")
            }
        }
        self.options = options
        self.teacher = graph
        vocab = graph.vocab
    }

    /// Runs the teacher over every micro-batch `trainer` will train on and keeps each position's
    /// top-k logits, then lets the teacher go. Needs `options.topK`.
    public func cacheTopK(for trainer: Trainer) throws {
        guard let k = options.topK, let teacher else { return }
        let o = trainer.options, micro = o.batch / o.accumulate, microTokens = micro * o.seq
        for s in 1...o.steps {
            let ids = try trainer.data.batch(step: s, rows: o.batch, seq: o.seq, order: o.order, seed: o.seed)
            for part in 0..<o.accumulate {
                let slice = Array(ids[(part * microTokens)..<((part + 1) * microTokens)])
                guard cache[slice] == nil else { continue }
                try Cancellation.checkpoint()
                _ = try teacher.run(ids: slice, batch: micro, seq: o.seq, backward: false)
                cache[slice] = Self.topK(teacher.lastLogits(rows: slice.count), rows: slice.count, vocab: vocab, k: min(k, vocab))
            }
        }
        self.teacher = nil
    }

    /// The k largest logits of each row (ids and values, largest first; earlier id among equals).
    static func topK(_ logits: ConstFloatPtr, rows: Int, vocab V: Int, k: Int) -> TopK {
        var out = TopK(ids: [Int32](repeating: 0, count: rows * k), logits: [Float](repeating: 0, count: rows * k))
        out.ids.withUnsafeMutableBufferPointer { ids in
            out.logits.withUnsafeMutableBufferPointer { vals in
                let idp = ids.baseAddress!, vp = vals.baseAddress!
                Parallel.forRanges(rows, grain: 4) { range in
                    var order = [Int](repeating: 0, count: V)
                    for r in range {
                        let row = logits + r * V
                        for i in 0..<V { order[i] = i }
                        order.sort { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
                        for j in 0..<k { idp[r * k + j] = Int32(order[j]); vp[r * k + j] = row[order[j]] }
                    }
                }
            }
        }
        return out
    }

    public func lossAndGradient(logits: FloatPtr, ids: [Int], seq T: Int, vocab V: Int, gradScale: Float, backward: Bool) throws -> Double {
        let rows = ids.count, B = rows / T
        let cached = cache[ids]
        var teacherLogits: ConstFloatPtr?
        if cached == nil {
            guard let teacher else {
                throw LLMOptError.invalidArgument(name: "teacher", reason: "this batch was not in the top-k cache and the teacher was released")
            }
            _ = try teacher.run(ids: ids, batch: B, seq: T, backward: false)
            teacherLogits = teacher.lastLogits(rows: rows)
        }
        let invT = Float(1 / options.temperature), temp = Float(options.temperature)
        let alpha = Float(options.alpha), klWeight = Float((1 - options.alpha) * options.temperature * options.temperature)
        let gradKL = Float(1 - options.alpha) * temp
        let reverse = options.divergence == .reverse
        var ce = [Double](repeating: 0, count: rows), kl = [Double](repeating: 0, count: rows)
        ce.withUnsafeMutableBufferPointer { ceOut in
            kl.withUnsafeMutableBufferPointer { klOut in
                let ceP = ceOut.baseAddress!, klP = klOut.baseAddress!
                Parallel.forRanges(rows, grain: 4) { range in
                    var ps = [Float](repeating: 0, count: V), logPt = [Float](repeating: -.infinity, count: V)
                    for r in range {
                        let z = logits + r * V
                        guard r % T < T - 1 else {
                            if backward { for i in 0..<V { z[i] = 0 } }
                            continue
                        }
                        // Student: log-sum-exp at temperature 1 (CE) and at T (divergence).
                        var mx = -Float.infinity
                        for i in 0..<V { mx = max(mx, z[i]) }
                        var sum1: Float = 0, sumT: Float = 0
                        for i in 0..<V {
                            sum1 += expf(z[i] - mx)
                            let e = expf((z[i] - mx) * invT)
                            ps[i] = e
                            sumT += e
                        }
                        let lse1 = logf(sum1), lseT = logf(sumT)
                        let label = ids[r + 1]
                        ceP[r] = Double(-(z[label] - mx - lse1))
                        // Teacher: log p_t at temperature T (−inf outside the top k).
                        if let t = teacherLogits.map({ $0 + r * V }) {
                            var tm = -Float.infinity
                            for i in 0..<V { tm = max(tm, t[i]) }
                            var ts: Float = 0
                            for i in 0..<V { ts += expf((t[i] - tm) * invT) }
                            let tl = logf(ts)
                            for i in 0..<V { logPt[i] = (t[i] - tm) * invT - tl }
                        } else if let c = cached {
                            let k = c.ids.count / rows
                            for i in 0..<V { logPt[i] = -.infinity }
                            var tm = -Float.infinity
                            for j in 0..<k { tm = max(tm, c.logits[r * k + j]) }
                            var ts: Float = 0
                            for j in 0..<k { ts += expf((c.logits[r * k + j] - tm) * invT) }
                            let tl = logf(ts)
                            for j in 0..<k { logPt[Int(c.ids[r * k + j])] = (c.logits[r * k + j] - tm) * invT - tl }
                        }
                        // Divergence and, in ps, the student's p_s at temperature T.
                        var d = 0.0
                        let invSumT = 1 / sumT
                        for i in 0..<V {
                            let p = ps[i] * invSumT
                            ps[i] = p
                            let logPs = (z[i] - mx) * invT - lseT
                            if reverse {
                                if p > 0 { d += Double(p * (logPs - logPt[i])) }
                            } else if logPt[i] > -.infinity {
                                let q = expf(logPt[i])
                                if q > 0 { d += Double(q * (logPt[i] - logPs)) }
                            }
                        }
                        klP[r] = d
                        guard backward else { continue }
                        let inv1 = 1 / sum1, dF = Float(d)
                        for i in 0..<V {
                            var g = alpha * expf(z[i] - mx) * inv1
                            if reverse {
                                let logPs = (z[i] - mx) * invT - lseT
                                g += gradKL * ps[i] * (logPs - logPt[i] - dF)
                            } else {
                                g += gradKL * (ps[i] - (logPt[i] > -.infinity ? expf(logPt[i]) : 0))
                            }
                            z[i] = g * gradScale
                        }
                        z[label] -= alpha * gradScale
                    }
                }
            }
        }
        let predictions = Double(B * (T - 1))
        let ceSum = ce.reduce(0, +), klSum = kl.reduce(0, +)
        lastCrossEntropy = ceSum / predictions
        lastDivergence = klSum / predictions
        return Double(alpha) * ceSum + Double(klWeight) * klSum
    }
}
