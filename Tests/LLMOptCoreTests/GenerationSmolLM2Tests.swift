import Foundation
import LLMOptCore
import XCTest
import LLMOptTestSupport

/// SmolLM2-135M-Instruct (Q4_1 GGUF, fetched by Scripts/fetch-models) answers in its chat template.
final class GenerationSmolLM2Tests: XCTestCase {
    func loadSmolLM2() throws -> Model {
        try ModelLoader.load(path: SharedFiles.smolLM2())
    }

    /// The model with the tokenizer the GGUF loader attaches from its `tokenizer.ggml.*` metadata.
    func loadSmolLM2WithTokenizer() throws -> Model {
        let model = try loadSmolLM2()
        XCTAssertNotNil(model.tokenizer, "the GGUF loader attaches the model's tokenizer")
        return model
    }

    func testCapitalOfFrance() throws {
        let model = try loadSmolLM2WithTokenizer()
        XCTAssertEqual(model.config.numLayers, 30)
        var streamed = ""
        let reply = try Generator.chat(model, messages: [.user("What is the capital of France?")], steps: 64, onToken: { _, bytes in
            streamed += String(decoding: bytes, as: UTF8.self)
        })
        XCTAssertEqual(reply.text, "The capital of France is Paris.")
        XCTAssertEqual(streamed, reply.text)
        XCTAssertEqual(reply.stopReason, .endOfTurn)
    }

    /// The same with every weight dequantized to float32 first: every linear layer then runs
    /// the exact float path, so this checks the forward pass apart from kernel approximations.
    func testCapitalOfFranceWithFloatWeights() throws {
        var model = try loadSmolLM2WithTokenizer()
        model.weights = model.weights.mapValues { $0.toF32() }
        let reply = try Generator.chat(model, messages: [.user("What is the capital of France?")], steps: 64)
        XCTAssertEqual(reply.text, "The capital of France is Paris.")
    }

    /// Plain generation prints the whole prompt: SmolLM2's tokenizer adds no BOS, so the first
    /// prompt token is a word (run.c, whose prompts start with BOS, skips only that).
    func testGenerationPrintsThePromptsFirstWord() throws {
        let model = try loadSmolLM2WithTokenizer()
        let prompt = "The history of Paris"
        let ids = try XCTUnwrap(model.tokenizer).encode(prompt)
        XCTAssertNotEqual(ids.first, model.config.bosTokenId, "the prompt starts with a word")
        let result = try Generator.generate(model, prompt: prompt, steps: ids.count + 4)
        let text = String(decoding: result.bytes, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(prompt), "printed \(text.debugDescription)")
        XCTAssertGreaterThan(result.generatedTokens.count, 0)
        XCTAssertGreaterThan(text.count, prompt.count, "the continuation is printed after the prompt")
    }

    func testThroughput() throws {
        let model = try loadSmolLM2()
        let report = try Throughput.measure(model: model, promptTokens: 128, decodeTokens: 32, runs: 2)
        XCTAssertGreaterThan(report.prefillTokensPerSecond, 0)
        XCTAssertGreaterThan(report.decodeTokensPerSecond, 0)
        print("SmolLM2-135M Q4_1 throughput:", report)
    }
}
