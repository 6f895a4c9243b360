import Foundation
import LLMOptCore
import LLMOptTestSupport
import XCTest

/// The real Gemma 3 270M (Q4_K_M: F32, Q8_0, Q5_0, Q4_K and Q6_K tensors) as `Scripts/fetch-models`
/// brings it: it loads with llama.cpp's conventions undone (1 + w norms, the fixed sliding
/// pattern) and answers greedily as llama.cpp and transformers do.
final class Gemma3RealModelTests: XCTestCase {
    func testLoadsAndAnswersGreedily() throws {
        let model = try GGUFModel.load(SharedFiles.gemma3_270M())
        let c = model.config
        XCTAssertEqual(c.architecture, .gemma3)
        XCTAssertEqual([c.numLayers, c.hiddenSize, c.numHeads, c.numKVHeads, c.headDim, c.vocabSize], [18, 640, 4, 1, 256, 262_144])
        XCTAssertEqual(c.slidingWindow, 512)
        XCTAssertEqual(c.slidingLayers?.count, 15)
        XCTAssertEqual(Set(model.weights.values.map(\.dtype)), Set<DType>([.f32, .q8_0, .q5_0, .q4_k, .q6_k]))
        let tokenizer = try XCTUnwrap(model.tokenizer)
        let prompt = tokenizer.encode("The capital of France is")
        let answer = tokenizer.encode("The capital of France is the capital of the country of France. It is the largest city in France")
        XCTAssertEqual(Array(answer.prefix(prompt.count)), prompt)
        // Teacher-forced in one prefill (float32 activations throughout): every next token of the
        // reference answer is the model's greedy choice.
        let session = try InferenceSession(model: model, capacity: answer.count)
        let logits = try session.forward(answer, logits: .all)
        let vocab = session.vocabSize
        for t in (prompt.count - 1)..<(answer.count - 1) {
            let row = logits[t * vocab ..< (t + 1) * vocab]
            XCTAssertEqual(row.indices.max { row[$0] < row[$1] }.map { $0 - t * vocab }, answer[t + 1], "greedy choice after token \(t)")
        }
        // Token by token through the KV cache, the whole answer. "It is the" is a near tie
        // (" largest" 16.91, " capital" 16.90 in float32): decode agrees with llama.cpp because it
        // rounds every layer's activations as llama.cpp does (Q8_0 blocks for the Q8_0 and Q5_0
        // layers, Q8_K super-blocks for the K-quant layers), with the same integer dot products.
        let result = try Generator.generate(model, promptTokens: prompt, steps: answer.count)
        XCTAssertTrue(result.text.hasPrefix("The capital of France is the capital of the country of France. It is the largest city in France"),
                      result.text)
    }
}
