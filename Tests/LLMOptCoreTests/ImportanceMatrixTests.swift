import Foundation
@testable import LLMOptCore
import XCTest

/// Q4_0/Q8_0 with an importance matrix: E[x²] per input channel as the forward pass sees it,
/// and blocks whose importance-weighted error is below the plain quantizer's.
final class ImportanceMatrixTests: XCTestCase {
    func load() throws -> (Model, Calibration) {
        let model = try ModelLoader.load(path: Fixtures.path("models/tiny-llama"))
        let text = try String(contentsOfFile: Fixtures.path("text/eval_gpl3.txt"), encoding: .utf8)
        return (model, try Calibration(text: text, samples: 4, length: 64))
    }

    /// The mean squared input of q_proj in layer 1, gathered here from the session's observer.
    func testImportanceIsTheMeanSquaredLayerInput() throws {
        let (model, calibration) = try load()
        let name = "model.layers.1.self_attn.q_proj.weight"
        let importance = try ImportanceMatrix.collect(model, names: [name], calibration: calibration)[name]!
        var sums = [Double](repeating: 0, count: 64), tokens = 0
        for window in try calibration.windows(tokenizer: model.tokenizer) {
            let session = try InferenceSession(model: model, capacity: window.count)
            session.linearInputObserver = { weight, x, rows, cols in
                guard weight == name else { return }
                for r in 0..<rows { for j in 0..<cols { sums[j] += Double(x[r * cols + j] * x[r * cols + j]) } }
                tokens += rows
            }
            _ = try session.forward(window)
        }
        XCTAssertEqual(tokens, 4 * 64)
        for j in 0..<64 { XCTAssertEqual(Double(importance[j]), sums[j] / Double(tokens), accuracy: 1e-4 * sums[j] / Double(tokens) + 1e-9) }
    }

    func testWeightedErrorIsBelowThePlainQuantizers() throws {
        let (model, calibration) = try load()
        let names = TensorSelection.linearWeights.selectedNames(in: model).filter { try! model.weight($0).columns % 32 == 0 }
        let importance = try ImportanceMatrix.collect(model, names: names, calibration: calibration)
        for scheme in ["q4_0", "q8_0"] {
            let (plain, _) = try Quantization.quantize(model, scheme: scheme)
            let (weighted, report) = try Quantization.quantize(model, scheme: scheme, options: QuantizationOptions(calibration: calibration))
            XCTAssertTrue(report.notes.contains { $0.contains("importance matrix") })
            var plainTotal = 0.0, weightedTotal = 0.0
            for name in names {
                let w = try model.weight(name).floats(), e = importance[name]!, cols = e.count
                XCTAssertEqual(weighted.weights[name]!.dtype, scheme == "q4_0" ? .q4_0 : .q8_0)
                XCTAssertEqual(weighted.weights[name]!.byteCount, plain.weights[name]!.byteCount)
                func error(_ q: [Float]) -> Double {
                    var s = 0.0
                    for i in w.indices { let d = Double(w[i] - q[i]); s += Double(e[i % cols]) * d * d }
                    return s
                }
                let p = error(try plain.weight(name).floats()), q = error(try weighted.weight(name).floats())
                XCTAssertLessThanOrEqual(q, p * (1 + 1e-6), "\(scheme) \(name)")
                plainTotal += p
                weightedTotal += q
            }
            XCTAssertLessThan(weightedTotal, 0.97 * plainTotal, scheme)
        }
    }

    /// Calibration text reaches the K-quant mixes: their Q8_0 tensors are searched with the
    /// importance matrix, and the report says that the K-quant and 5-bit tensors are not.
    func testMixesUseTheImportanceMatrixWhereTheyCan() throws {
        let (model, calibration) = try load()
        let (_, report) = try Quantization.quantize(model, scheme: "q4_k_m", options: QuantizationOptions(calibration: calibration))
        XCTAssertTrue(report.rows.contains { $0.format == "Q8_0 imatrix" }, "\(report.rows.map(\.format))")
        XCTAssertTrue(report.rows.contains { $0.format == "Q5_0" }, "\(report.rows.map(\.format))")
        XCTAssertTrue(report.notes.contains { $0.contains("Q5_0") && $0.contains("reference quantizer") }, "\(report.notes)")
    }
}
