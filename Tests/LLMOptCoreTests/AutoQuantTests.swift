import Foundation
@testable import LLMOptCore
import XCTest

/// autoquant on tiny-llama: its sensitivities are the KL divergences `Divergence` measures, its
/// plans meet their budgets, and no uniform format that meets a budget is smaller than its plan.
final class AutoQuantTests: XCTestCase {
    let formats = ["q8_0", "q4_1", "q4_0"]

    func setUpModel() throws -> (Model, [Int]) {
        let model = try ModelLoader.load(path: Fixtures.path("models/tiny-llama"))
        let text = try String(contentsOfFile: Fixtures.path("text/eval_gpl3.txt"), encoding: .utf8)
        return (model, model.tokenizer!.encode(text))
    }

    func options(_ budget: AutoQuant.Budget) -> AutoQuant.Options {
        var o = AutoQuant.Options(budget: budget)
        o.formats = formats
        o.tokens = 192
        o.ctx = 64
        return o
    }

    func testSensitivitiesAreTheDivergencesOfSingleTensorVariants() throws {
        let (model, ids) = try setUpModel()
        let r = try AutoQuant.run(model, calibration: ids, options: options(.perplexity(ratio: 1.01)))
        XCTAssertEqual(r.sensitivities.count, TensorSelection.linearWeights.selectedNames(in: model).count)
        // Two tensors, every format: the same variant measured by Divergence (its own windows and sums).
        for s in [r.sensitivities[0], r.sensitivities[r.sensitivities.count - 3]] {
            for (f, format) in formats.enumerated() {
                var variant = model
                let (q, _) = try Quantization.quantize(model, scheme: format, options: QuantizationOptions(targets: ["^" + s.name + "$"]))
                variant.weights[s.name] = q.weights[s.name]
                XCTAssertEqual(variant.weights[s.name]!.byteCount, s.bytes[f], "\(s.name) \(format) bytes")
                let d = try Divergence.evaluate(base: model, other: variant, tokens: Array(ids.prefix(192)), ctx: 64)
                XCTAssertEqual(d.nScored, 3 * 63)
                // Divergence sums float32 log-probabilities: below about 2e-8 nats it measures its own rounding.
                XCTAssertEqual(s.kld[f], d.meanKLD, accuracy: max(2e-8, 1e-3 * d.meanKLD), "\(s.name) \(format)")
                XCTAssertGreaterThanOrEqual(s.kld[f], 0)
            }
        }
        // The original perplexity is the perplexity protocol's.
        let base = try Perplexity.evaluate(model: model, tokens: Array(ids.prefix(192)), ctx: 64)
        XCTAssertEqual(r.basePPL, base.ppl, accuracy: 1e-7 * base.ppl)
    }

    func testPerplexityBudgetIsMetWithNoLargerFileThanAnyUniformFormat() throws {
        let (model, ids) = try setUpModel()
        for ratio in [1.0005, 1.002, 1.01] {
            let r = try AutoQuant.run(model, calibration: ids, options: options(.perplexity(ratio: ratio)))
            let measured = try Perplexity.evaluate(model: r.model, tokens: Array(ids.prefix(192)), ctx: 64)
            XCTAssertEqual(r.ppl, measured.ppl, accuracy: 1e-7 * measured.ppl)
            XCTAssertLessThanOrEqual(r.ppl, ratio * r.basePPL, "ratio \(ratio)")
            for u in r.uniform where u.ppl <= ratio * r.basePPL {
                XCTAssertLessThanOrEqual(r.model.byteCount, u.bytes, "ratio \(ratio): \(u.format) everywhere meets it")
            }
            XCTAssertEqual(r.model.byteCount, r.plan.bytes)
            // Each tensor is stored as its plan says.
            for (name, level) in r.plan.levels {
                XCTAssertEqual(r.model.weights[name]!.byteCount, r.sensitivities.first { $0.name == name }!.bytes[level])
            }
        }
        XCTAssertThrowsError(try AutoQuant.run(model, calibration: ids, options: options(.perplexity(ratio: 0.9)))) { error in
            XCTAssertTrue("\(error)".contains("budget"), "\(error)")
        }
    }

    func testByteBudgetAndTheGreedyOrder() throws {
        let (model, ids) = try setUpModel()
        let all = try AutoQuant.run(model, calibration: ids, options: options(.bytes(Int.max)))
        let sequence = AutoQuant.greedySequence(all.sensitivities, fixedBytes: all.plan.bytes - all.sensitivities.reduce(0) { $0 + $1.bytes[0] })
        XCTAssertEqual(sequence.count, 1 + all.sensitivities.count * (formats.count - 1))
        XCTAssertTrue(sequence.first!.levels.values.allSatisfy { $0 == 0 })
        XCTAssertTrue(sequence.last!.levels.values.allSatisfy { $0 == formats.count - 1 })
        for (a, b) in zip(sequence, sequence.dropFirst()) { XCTAssertLessThanOrEqual(b.bytes, a.bytes) }
        XCTAssertEqual(sequence.last!.bytes, all.uniform.last!.bytes)

        let middle = (all.uniform[0].bytes + all.uniform[2].bytes) / 2
        let r = try AutoQuant.run(model, calibration: ids, options: options(.bytes(middle)))
        XCTAssertLessThanOrEqual(r.model.byteCount, middle)
        XCTAssertEqual(r.plan.bytes, sequence.first { $0.bytes <= middle }!.bytes)
        XCTAssertFalse(r.isUniform, "between the uniform sizes only a mix fits")
        XCTAssertThrowsError(try AutoQuant.run(model, calibration: ids, options: options(.bytes(all.uniform[2].bytes - 1)))) { error in
            XCTAssertTrue("\(error)".contains("below the smallest plan"), "\(error)")
        }
    }
}
