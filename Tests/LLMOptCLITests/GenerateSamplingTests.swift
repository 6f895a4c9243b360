import Foundation
import LLMOptCore
import LLMOptTestSupport
import XCTest

/// `llmopt generate` with a temperature, top-p, top-k and a seed draws the tokens that llama2.c's
/// run.c would draw. The reference below is written from run.c's `sample`, `sample_mult`,
/// `sample_topp`, `softmax` and `random_f32`, independently of `Sampler`, and is fed by one
/// position at a time, as run.c's loop is.
final class GenerateSamplingTests: XCTestCase {
    /// run.c's sampler state and rules.
    struct RunCSampler {
        var state: UInt64
        let temperature: Float
        let topp: Float
        /// Not in run.c: keep the k most likely tokens, then draw as sample_mult does.
        let topk: Int

        mutating func randomF32() -> Float {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            let u = UInt32(truncatingIfNeeded: (state &* 0x2545F4914F6CDD1D) >> 32)
            return Float(u >> 8) / 16777216.0
        }

        static func softmax(_ x: inout [Float]) {
            let maxVal = x.max()!
            var sum: Float = 0
            for i in x.indices {
                x[i] = expf(x[i] - maxVal)
                sum += x[i]
            }
            for i in x.indices { x[i] /= sum }
        }

        mutating func sample(_ logits: [Float]) -> Int {
            if temperature == 0 { return logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }! }
            var probs = logits.map { $0 / temperature }
            Self.softmax(&probs)
            let coin = randomF32()
            if topk > 0 {
                let kept = probs.indices.sorted { probs[$0] > probs[$1] }.prefix(topk)
                let total = kept.reduce(Float(0)) { $0 + probs[$1] }
                var cdf: Float = 0
                for i in kept {
                    cdf += probs[i]
                    if coin * total < cdf { return i }
                }
                return kept.last!
            }
            if topp <= 0 || topp >= 1 {
                var cdf: Float = 0
                for i in probs.indices {
                    cdf += probs[i]
                    if coin < cdf { return i }
                }
                return probs.count - 1
            }
            // sample_topp: drop what cannot be in the nucleus, sort, cut where the sum passes p.
            let cutoff = (1 - topp) / Float(probs.count - 1)
            let candidates = probs.indices.filter { probs[$0] >= cutoff }.sorted { probs[$0] > probs[$1] }
            var cumulative: Float = 0
            var last = candidates.count - 1
            for (i, id) in candidates.enumerated() {
                cumulative += probs[id]
                if cumulative > topp { last = i; break }
            }
            let r = coin * cumulative
            var cdf: Float = 0
            for id in candidates[0...last] {
                cdf += probs[id]
                if r < cdf { return id }
            }
            return candidates[last]
        }
    }

    /// run.c's generation loop: prompt tokens are forced, then sampled tokens are fed back,
    /// until BOS or `steps` positions.
    func runC(_ model: Model, prompt: [Int], steps: Int, sampler: RunCSampler) throws -> [Int] {
        var sampler = sampler
        let session = try InferenceSession(model: model, capacity: steps)
        var tokens = [prompt[0]]
        var token = prompt[0]
        for pos in 0..<steps {
            let logits = try session.forward([token])
            let next = pos < prompt.count - 1 ? prompt[pos + 1] : sampler.sample(logits)
            if next == 1 { break }
            tokens.append(next)
            token = next
        }
        return tokens
    }

    func stories260K() throws -> (model: Model, path: String) {
        let path = try SharedFiles.data("models/stories260K/stories260K.gguf")
        return (try ModelLoader.load(path: path), path)
    }

    /// The text run.c prints for `tokens` (the BOS is not printed).
    func printed(_ model: Model, _ tokens: [Int]) -> String {
        var bytes: [UInt8] = []
        for i in 1..<tokens.count { bytes += model.tokenizer!.decodeBytes(tokens[i], previous: tokens[i - 1]) }
        return String(decoding: bytes, as: UTF8.self) + "\n"
    }

    func check(prompt: String, steps: Int, temperature: Float, topP: Float, topK: Int, seed: UInt64) throws {
        let (model, path) = try stories260K()
        let ids = model.tokenizer!.encode(prompt)
        let reference = try runC(model, prompt: ids, steps: steps,
                                 sampler: RunCSampler(state: seed, temperature: temperature, topp: topP, topk: topK))
        let result = try Binary.run(["generate", path, "--prompt", prompt, "--steps", "\(steps)",
                                     "--temperature", "\(temperature)", "--top-p", "\(topP)",
                                     "--top-k", "\(topK)", "--seed", "\(seed)"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, printed(model, reference))
        // A sampled continuation is not the greedy one (else the test would not test sampling).
        let greedy = try runC(model, prompt: ids, steps: steps, sampler: RunCSampler(state: seed, temperature: 0, topp: 1, topk: 0))
        XCTAssertNotEqual(reference, greedy)
    }

    func testFullDistribution() throws {
        try check(prompt: "Zoo", steps: 80, temperature: 1.0, topP: 1, topK: 0, seed: 42)
    }

    /// run.c's defaults: temperature 1, top-p 0.9.
    func testNucleus() throws {
        try check(prompt: "Once upon a time", steps: 80, temperature: 1.0, topP: 0.9, topK: 0, seed: 7)
    }

    func testLowTemperatureNucleus() throws {
        try check(prompt: "", steps: 100, temperature: 0.7, topP: 0.8, topK: 0, seed: 1234)
    }

    func testTopK() throws {
        try check(prompt: "Lily", steps: 80, temperature: 1.2, topP: 1, topK: 5, seed: 99)
    }

    /// Different seeds give different text; the same seed gives the same text.
    func testSeedsDiffer() throws {
        let (_, path) = try stories260K()
        func run(_ seed: Int) throws -> String {
            let r = try Binary.run(["generate", path, "--steps", "60", "--temperature", "1", "--seed", "\(seed)"])
            XCTAssertEqual(r.status, 0, r.stderr)
            return r.stdout
        }
        XCTAssertEqual(try run(5), try run(5))
        XCTAssertNotEqual(try run(5), try run(6))
    }

    /// `--chat` renders SmolLM2's ChatML template and prints only the reply.
    func testChatAnswersGreedily() throws {
        let model = try SharedFiles.smolLM2()
        let r = try Binary.run(["generate", model, "--chat", "--prompt", "What is the capital of France?", "--steps", "20"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "The capital of France is Paris.")
    }
}
