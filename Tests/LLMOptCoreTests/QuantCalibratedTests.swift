import Foundation
import XCTest
import LLMOptCore

/// GPTQ and AWQ on tiny-llama with calibration text, against round-to-nearest on the same grid.
final class QuantCalibratedTests: XCTestCase {
    static func tinyLlama() throws -> Model {
        try ModelLoader.load(path: Fixtures.path("models/tiny-llama"))
    }
    static func evalText() throws -> String { try String(contentsOfFile: Fixtures.path("text/eval_gpl3.txt"), encoding: .utf8) }

    func testGPTQAndAWQBeatRoundToNearestOnTinyLlama() throws {
        let model = try Self.tinyLlama()
        let tokenizer = try XCTUnwrap(model.tokenizer, "tiny-llama has a tokenizer.json")
        let text = try Self.evalText()
        let tokens = tokenizer.encode(text)
        // Calibrate on the first half of the text, evaluate on the second.
        let half = text.index(text.startIndex, offsetBy: text.count / 2)
        let calibration = try Calibration(text: String(text[..<half]), samples: 16, length: 128, seed: 1)
        let evalTokens = tokenizer.encode(String(text[half...]))
        let options = QuantizationOptions(bits: 4, group: 32, symmetric: true, calibration: calibration)

        let (rtn, _) = try Quantization.quantize(model, scheme: "rtn", options: options)
        let (gptq, gptqReport) = try Quantization.quantize(model, scheme: "gptq", options: options)
        let (awq, awqReport) = try Quantization.quantize(model, scheme: "awq", options: options)
        let base = try Perplexity.evaluate(model: model, tokens: evalTokens, ctx: 128).ppl
        let pRTN = try Perplexity.evaluate(model: rtn, tokens: evalTokens, ctx: 128).ppl
        let pGPTQ = try Perplexity.evaluate(model: gptq, tokens: evalTokens, ctx: 128).ppl
        let pAWQ = try Perplexity.evaluate(model: awq, tokens: evalTokens, ctx: 128).ppl
        print("tiny-llama int4 g32 perplexity (\(evalTokens.count) tokens, of \(tokens.count)): float32 \(base), RTN \(pRTN), GPTQ \(pGPTQ), AWQ \(pAWQ)")
        print(gptqReport)
        print(awqReport)
        XCTAssertLessThanOrEqual(pGPTQ, pRTN)
        XCTAssertLessThanOrEqual(abs(pGPTQ - base), abs(pRTN - base))
        // Per layer, on the calibration inputs, GPTQ's output error is below RTN's.
        for row in gptqReport.rows {
            XCTAssertLessThan(try XCTUnwrap(row.outputError), try XCTUnwrap(row.outputErrorRTN), row.name)
            XCTAssertEqual(row.dtypeAfter, .qgroup)
        }
        // AWQ never does worse than α = 0 (plain RTN) on a scale group's calibration output error
        // (members of a group may trade error among themselves).
        for layer in 0..<2 {
            for members in [["q_proj", "k_proj", "v_proj"], ["o_proj"], ["gate_proj", "up_proj"], ["down_proj"]] {
                let rows = try members.map { m in try XCTUnwrap(awqReport.rows.first { $0.name.hasPrefix("model.layers.\(layer).") && $0.name.contains(m) }) }
                func total(_ e: KeyPath<QuantReport.Row, Double?>) throws -> Double {
                    try rows.reduce(0) { $0 + pow(try XCTUnwrap($1[keyPath: e]), 2) * (try XCTUnwrap($1.outputSignal)) }
                }
                XCTAssertLessThanOrEqual(try total(\.outputError), try total(\.outputErrorRTN) * (1 + 1e-6), "layer \(layer) \(members)")
            }
        }
        XCTAssertTrue(awqReport.notes.contains { $0.contains("o_proj") && $0.contains("grouped-query") })
        XCTAssertEqual(gptqReport.bytesAfter, try Quantization.quantize(model, scheme: "rtn", options: options).1.bytesAfter)
    }

    /// Folding AWQ's scales into the norms and up_proj keeps the float model's function.
    func testAWQScalingIsExactBeforeRounding() throws {
        let model = try Self.tinyLlama()
        let tokenizer = try XCTUnwrap(model.tokenizer)
        let sample = tokenizer.encode("This program is free software: you can redistribute it")
        // 8-bit per-tensor quantization of a single matrix: the rest of the model only carries scales.
        let (awq, report) = try Quantization.quantize(model, scheme: "awq", options: QuantizationOptions(
            bits: 8, group: 32, targets: ["layers\\.0\\.mlp\\.(gate|up)_proj"],
            calibration: Calibration(tokens: sample, samples: 1, length: sample.count)))
        XCTAssertEqual(report.rows.map(\.name), ["model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight"])
        let norm = try model.weight("model.layers.0.post_attention_layernorm.weight").floats()
        let scaledNorm = try awq.weight("model.layers.0.post_attention_layernorm.weight").floats()
        if report.notes.contains(where: { $0.contains("α = 0 (no scaling)") }) {
            XCTAssertEqual(norm, scaledNorm)
        } else {
            XCTAssertNotEqual(norm, scaledNorm)
        }
        let a = try InferenceSession(model: model, capacity: 64).forward(sample)
        let b = try InferenceSession(model: awq, capacity: 64).forward(sample)
        let maxDiff = zip(a, b).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(maxDiff, 0.02, "8-bit AWQ of two matrices moves logits by \(maxDiff)")
    }

    func testCalibratedSchemesNeedCalibration() throws {
        let model = try Self.tinyLlama()
        XCTAssertThrowsError(try Quantization.quantize(model, scheme: "gptq")) { XCTAssertTrue("\($0)".contains("calibration")) }
        XCTAssertThrowsError(try Quantization.quantize(model, scheme: "int4", options: QuantizationOptions(overrides: [SchemeOverride("lm_head", "gptq")]))) {
            XCTAssertTrue("\($0)".contains("needs calibration"))
        }
    }
}
