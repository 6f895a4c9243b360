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

    /// Q2_K, Q4_K and Q5_K with the importance in their sub-block searches: a weight of 8 rows of
    /// 512 and an importance that varies over three orders of magnitude across channels. The
    /// importance-weighted error falls clearly below the reference quantizer's, the bytes decode
    /// with the format's ordinary dequantizer, and without importance the bytes are llama.cpp's
    /// (the reference quantizer, which the byte-exact fixtures check).
    func testKQuantSearchesTakeTheImportance() throws {
        var rng = TestRandom(seed: 41)
        let rows = 8, cols = 512
        let w = rng.floats(rows * cols)
        let importance = (0..<cols).map { j in Float(pow(10.0, Double(j % 7) / 2)) * (1 + rng.float() * 0.5) }
        let tensor = Tensor(shape: [rows, cols], floats: w)
        for dtype in [DType.q2_k, .q4_k, .q5_k] {
            let plain = try GGMLBlocks.quantize(tensor, to: dtype, name: "w").floats()
            let weighted = try ImportanceMatrix.quantize(tensor, to: dtype, importance: importance, name: "w")
            XCTAssertEqual(weighted.dtype, dtype)
            let values = weighted.floats()
            var plainError = 0.0, weightedError = 0.0
            for i in w.indices {
                let e = Double(importance[i % cols])
                plainError += e * Double(w[i] - plain[i]) * Double(w[i] - plain[i])
                weightedError += e * Double(w[i] - values[i]) * Double(w[i] - values[i])
            }
            XCTAssertLessThan(weightedError, 0.9 * plainError, "\(dtype)")
        }
        XCTAssertThrowsError(try ImportanceMatrix.quantize(tensor, to: .q6_k, importance: importance, name: "w"))
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
