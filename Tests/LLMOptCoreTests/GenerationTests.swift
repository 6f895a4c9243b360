import Foundation
import LLMOptCore
import XCTest

final class GenerationTests: XCTestCase {
    struct GreedyGolden: Decodable {
        struct Step: Decodable { let id: Int; let logit: Float }
        let prompt_ids: [Int]
        let generated_ids: [Int]
        let steps: [Step]
    }

    /// 16 greedy tokens after "The license", as transformers' greedy search picks them.
    func checkGreedy(_ folder: String) throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/\(folder)"))
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("golden/greedy_\(folder).json")))
        let golden = try JSONDecoder().decode(GreedyGolden.self, from: data)
        let n = golden.prompt_ids.count
        let result = try Generator.generate(model, promptTokens: golden.prompt_ids, steps: n + golden.generated_ids.count - 1)
        XCTAssertEqual(Array(result.generatedTokens), golden.generated_ids)
        XCTAssertEqual(result.stopReason, .steps)

        let session = try InferenceSession(model: model, capacity: 64)
        var logits = try session.forward(golden.prompt_ids)
        for step in golden.steps {
            XCTAssertEqual(Sampler.greedy.isGreedy, true)
            var sampler = Sampler.greedy
            XCTAssertEqual(sampler.sample(logits), step.id)
            XCTAssertEqual(logits[step.id], step.logit, accuracy: 1e-4)
            logits = try session.forward([step.id])
        }
    }

    func testTinyLlamaGreedyMatchesTransformers() throws { try checkGreedy("tiny-llama") }
    func testTinyGPT2GreedyMatchesTransformers() throws { try checkGreedy("tiny-gpt2") }

    /// A cancellation flag raised after the fifth printed token stops generation at the next
    /// step with `LLMOptError.cancelled`; one raised from the start stops the prefill.
    func testCancellationStopsGeneration() throws {
        var model = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        model.chatTemplate = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        for chat in [false, true] {
            var printed = 0
            let run = {
                let stop = { printed >= 5 }
                let count = { (_: Int, _: [UInt8]) in printed += 1 }
                _ = chat ? try Generator.chat(model, messages: [.user("Hi")], steps: 40, isCancelled: stop, onToken: count)
                         : try Generator.generate(model, promptTokens: [1, 412], steps: 40, isCancelled: stop, onToken: count)
            }
            XCTAssertThrowsError(try run()) { XCTAssertEqual($0 as? LLMOptError, .cancelled) }
            XCTAssertEqual(printed, 5, "chat: \(chat)")
        }
        var polls = 0
        XCTAssertThrowsError(try Generator.generate(model, promptTokens: [1, 412, 324], steps: 40, isCancelled: { polls += 1; return true })) {
            XCTAssertEqual($0 as? LLMOptError, .cancelled)
        }
        XCTAssertEqual(polls, 1, "the prefill checks before its first layer")
    }

    func testSeededSamplingIsDeterministic() throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        let prompt = [1, 412, 324]
        let a = try Generator.generate(model, promptTokens: prompt, steps: 40, sampler: Sampler(temperature: 1, seed: 7))
        let b = try Generator.generate(model, promptTokens: prompt, steps: 40, sampler: Sampler(temperature: 1, seed: 7))
        let c = try Generator.generate(model, promptTokens: prompt, steps: 40, sampler: Sampler(temperature: 1, seed: 8))
        XCTAssertEqual(a.tokens, b.tokens)
        XCTAssertNotEqual(a.tokens, c.tokens)
        // A random model at temperature 1 does not repeat greedy's choices.
        let greedy = try Generator.generate(model, promptTokens: prompt, steps: 40)
        XCTAssertNotEqual(a.tokens, greedy.tokens)
        // top-k 1 and a tiny top-p keep only the most likely token: greedy again.
        let k1 = try Generator.generate(model, promptTokens: prompt, steps: 40, sampler: Sampler(temperature: 1, topK: 1, seed: 3))
        let p0 = try Generator.generate(model, promptTokens: prompt, steps: 40, sampler: Sampler(temperature: 0.8, topP: 1e-6, seed: 3))
        XCTAssertEqual(k1.tokens, greedy.tokens)
        XCTAssertEqual(p0.tokens, greedy.tokens)
    }

    /// Sampling frequencies follow softmax(logits / T), restricted and renormalized by top-k and top-p.
    func testSamplerFrequencies() {
        let logits: [Float] = [2, 1, 0, -1]
        func frequencies(_ sampler: Sampler, draws: Int = 40_000) -> [Double] {
            var s = sampler
            var counts = [Double](repeating: 0, count: logits.count)
            for _ in 0..<draws { counts[s.sample(logits)] += 1 }
            return counts.map { $0 / Double(draws) }
        }
        func softmax(_ x: [Double]) -> [Double] {
            let e = x.map { exp($0 - x.max()!) }
            return e.map { $0 / e.reduce(0, +) }
        }
        let plain = frequencies(Sampler(temperature: 1, seed: 1))
        for (f, p) in zip(plain, softmax([2, 1, 0, -1])) { XCTAssertEqual(f, p, accuracy: 0.01) }
        let hot = frequencies(Sampler(temperature: 2, seed: 2))
        for (f, p) in zip(hot, softmax([1, 0.5, 0, -0.5])) { XCTAssertEqual(f, p, accuracy: 0.01) }
        let top2 = frequencies(Sampler(temperature: 1, topK: 2, seed: 3))
        let two = softmax([2, 1])
        XCTAssertEqual(top2[0], two[0], accuracy: 0.01)
        XCTAssertEqual(top2[1], two[1], accuracy: 0.01)
        XCTAssertEqual(top2[2] + top2[3], 0)
        // Probabilities are 0.644, 0.237, 0.087, 0.032: top-p 0.8 keeps the first two.
        let nucleus = frequencies(Sampler(temperature: 1, topP: 0.8, seed: 4))
        XCTAssertEqual(nucleus[0], two[0], accuracy: 0.01)
        XCTAssertEqual(nucleus[2] + nucleus[3], 0)
    }

    func testChatMLRendering() throws {
        let smol = """
        {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
        You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
        ' }}{% endif %}{{'<|im_start|>' + message['role'] + '
        ' + message['content'] + '<|im_end|>' + '
        '}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
        ' }}{% endif %}
        """
        let template = try ChatTemplate(template: smol)
        XCTAssertEqual(template.render([.user("Hi")]), """
        <|im_start|>system
        You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
        <|im_start|>user
        Hi<|im_end|>
        <|im_start|>assistant

        """)
        XCTAssertEqual(template.render([.system("Be brief."), .user("Hi")], addGenerationPrompt: false),
                       "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
        let plain = try ChatTemplate(template: "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}")
        XCTAssertEqual(plain.render([.user("Hi")]), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertThrowsError(try ChatTemplate(template: "[INST] {{ m }} [/INST]"))
        XCTAssertThrowsError(try ChatTemplate(template: nil))
    }
}
