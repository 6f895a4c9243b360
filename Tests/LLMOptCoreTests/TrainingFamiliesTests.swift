import Foundation
import XCTest
@testable import LLMOptCore

/// The training graph takes its tensor names, biases and windows from the family's description:
/// Qwen2 (biases on q/k/v) and Mistral (sliding window 24) train on the Llama block, and their
/// training forward pass scores each position as the inference engine does (which matches
/// transformers, `ArchitectureGoldenTests`); a family without a backward pass is refused by name.
final class TrainingFamiliesTests: XCTestCase {
    func load(_ folder: String) throws -> Model { try HuggingFaceFolder.load(Fixtures.path("models/\(folder)")) }

    /// The 247 tokens of the family's logits golden.
    func tokens(_ model: Model) throws -> [Int] {
        struct Ids: Decodable { let ids: [Int] }
        let folder = "tiny-\(model.config.architecture.rawValue)"
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("golden/architectures/logits_\(folder)_gpl3head.json")))
        return try JSONDecoder().decode(Ids.self, from: data).ids
    }

    /// Per-position losses of the training graph's forward pass against the inference engine's
    /// logits, two rows of `seq` tokens.
    func checkLossesMatchInference(_ model: Model, seq T: Int, file: StaticString = #filePath, line: UInt = #line) throws -> [Float] {
        let ids = Array(try tokens(model).prefix(2 * T))
        let graph = try TrainingGraph(model: model)
        var nll = [Float](repeating: 0, count: ids.count)
        _ = try graph.run(ids: ids, batch: 2, seq: T, backward: false, nll: &nll)
        var worst = 0.0
        for b in 0..<2 {
            let row = Array(ids[(b * T)..<((b + 1) * T)])
            let session = try InferenceSession(model: model, capacity: T)
            let logits = try session.forward(row, logits: .all), vocab = session.vocabSize
            for t in 0..<(T - 1) {
                let r = logits[(t * vocab)..<((t + 1) * vocab)]
                let m = Double(r.max()!)
                let lse = m + log(r.reduce(0.0) { $0 + exp(Double($1) - m) })
                worst = max(worst, abs(lse - Double(r[r.startIndex + row[t + 1]]) - Double(nll[b * T + t])))
            }
        }
        XCTAssertLessThan(worst, 1e-4, "largest per-position loss difference", file: file, line: line)
        return nll
    }

    /// The gradient of the weight with the largest one, in each named tensor, against central differences.
    func checkGradients(_ model: Model, names: [String], seq T: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let ids = Array(try tokens(model).prefix(2 * T))
        let graph = try TrainingGraph(model: model)
        _ = try graph.run(ids: ids, batch: 2, seq: T)
        for name in names {
            let g = graph.parameters.gradient(name)
            let i = g.indices.max { abs(g[$0]) < abs(g[$1]) }!
            var v = graph.parameters.values(name)
            let h: Float = 1e-2, x0 = v[i]
            v[i] = x0 + h; graph.parameters.setValues(name, v)
            let plus = try graph.run(ids: ids, batch: 2, seq: T, backward: false)
            v[i] = x0 - h; graph.parameters.setValues(name, v)
            let minus = try graph.run(ids: ids, batch: 2, seq: T, backward: false)
            v[i] = x0; graph.parameters.setValues(name, v)
            XCTAssertEqual((plus - minus) / Double(2 * h), Double(g[i]), accuracy: 0.02 * abs(Double(g[i])) + 1e-4, name, file: file, line: line)
        }
    }

    func testQwen2TrainsWithItsBiases() throws {
        let model = try load("tiny-qwen2")
        let graph = try TrainingGraph(model: model)
        for bias in ["q", "k", "v"].map({ "model.layers.0.self_attn.\($0)_proj.bias" }) {
            XCTAssertNotNil(graph.parameters.entry(bias), bias)
        }
        _ = try checkLossesMatchInference(model, seq: 40)
        try checkGradients(model, names: ["model.layers.0.self_attn.q_proj.bias", "model.layers.1.self_attn.v_proj.bias",
                                          "model.layers.0.self_attn.k_proj.weight", "model.layers.1.mlp.down_proj.weight"], seq: 20)
    }

    func testMistralTrainsInsideItsSlidingWindow() throws {
        let model = try load("tiny-mistral")
        XCTAssertEqual(model.config.slidingWindow, 24)
        let windowed = try checkLossesMatchInference(model, seq: 40)
        // Without the window the same rows score differently past position 24: the mask is in use.
        var unbounded = model
        unbounded.config.slidingWindow = nil
        let graph = try TrainingGraph(model: unbounded)
        let ids = Array(try tokens(model).prefix(80))
        var nll = [Float](repeating: 0, count: 80)
        _ = try graph.run(ids: ids, batch: 2, seq: 40, backward: false, nll: &nll)
        XCTAssertEqual(Array(nll[0..<23]), Array(windowed[0..<23]), "positions inside the window")
        XCTAssertGreaterThan(zip(nll[24..<39], windowed[24..<39]).map { abs($0 - $1) }.max()!, 1e-4, "positions past the window")
        try checkGradients(model, names: ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight",
                                          "model.layers.0.mlp.gate_proj.weight"], seq: 32)
    }

    func testFamilyWithoutABackwardPassIsRefusedByName() throws {
        let model = try load("tiny-gemma3")
        XCTAssertThrowsError(try TrainingGraph(model: model)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("Gemma 3 has no backward pass"), text)
            XCTAssertTrue(text.contains("Llama") && text.contains("Qwen2") && text.contains("Mistral"), text)
        }
    }
}
