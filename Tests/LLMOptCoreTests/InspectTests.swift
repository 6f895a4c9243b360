import Foundation
import LLMOptCore
import XCTest
import LLMOptTestSupport

final class InspectTests: XCTestCase {
    func testTensorStatsOfKnownValues() {
        let values: [Float] = [0, 0, 1, 2, 3, 4, -2, 0]
        let stats = TensorStats(Tensor(shape: [2, 4], floats: values), name: "w", bins: 3)
        XCTAssertEqual(stats.shape, [2, 4])
        XCTAssertEqual(stats.dtype, .f32)
        XCTAssertEqual(stats.bytes, 32)
        XCTAssertEqual(stats.count, 8)
        XCTAssertEqual(stats.min, -2)
        XCTAssertEqual(stats.max, 4)
        XCTAssertEqual(stats.mean, 1)
        XCTAssertEqual(stats.std, 3.25.squareRoot(), accuracy: 1e-12)   // population variance (1+1+0+1+4+9+9+1) / 8
        XCTAssertEqual(stats.l2, 34.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(stats.zeroFraction, 3.0 / 8)
        XCTAssertEqual(stats.outliers, 0)
        XCTAssertEqual(stats.histogram.edges, [-2, 0, 2, 4])
        XCTAssertEqual(stats.histogram.counts, [1, 4, 3])  // [-2,0): -2; [0,2): 0,0,0,1; [2,4]: 2,3,4
        let text = stats.render()
        XCTAssertTrue(text.hasPrefix("w\n"), text)
        XCTAssertTrue(text.contains("2 × 4"), text)
        XCTAssertTrue(text.contains("37.50%"), text)
        XCTAssertTrue(text.contains("████████████████████████"), text)  // the fullest bin is a full bar
    }

    func testOutliersAndQuantizedTensors() throws {
        var values = [Float](repeating: 0.01, count: 999)
        for i in stride(from: 0, to: 999, by: 2) { values[i] = -0.01 }
        values.append(5)
        let stats = TensorStats(Tensor(shape: [1000], floats: values))
        XCTAssertEqual(stats.outliers, 1)
        // A llama.cpp Q8_0 tensor: stats over its dequantized values.
        let model = try ModelLoader.load(path: SharedFiles.testdata("llamacpp/stories260K-Q8_0.gguf"))
        let name = "model.layers.0.self_attn.q_proj.weight"
        let q = try XCTUnwrap(model[name])
        XCTAssertEqual(q.dtype, .q8_0)
        let qs = TensorStats(q, name: name)
        let fs = TensorStats(Tensor(shape: q.shape, floats: q.floats()))
        XCTAssertEqual(qs.bytes, 64 * 64 / 32 * 34)
        XCTAssertEqual(qs.mean, fs.mean, accuracy: 1e-12)
        XCTAssertEqual(qs.std, fs.std, accuracy: 1e-12)
        XCTAssertEqual(qs.histogram, fs.histogram)
    }

    func testFormats() {
        XCTAssertEqual(Format.count(135_000_000), "135.0M")
        XCTAssertEqual(Format.count(260_096), "260.1K")
        XCTAssertEqual(Format.count(950), "950")
        XCTAssertEqual(Format.bytes(98_400_000), "93.8 MiB")
        XCTAssertEqual(Format.bytes(1_040_000), "1015.6 KiB")
        XCTAssertEqual(Format.bytes(1_300_000_000), "1.21 GiB")
        XCTAssertEqual(Format.bytes(512), "512 B")
        XCTAssertEqual(Format.grouped(1_234_567), "1,234,567")
        XCTAssertEqual(Format.table([["a", "n"], ["x", "5"], ["yy", "10"]]), "a   n\nx    5\nyy  10")
    }

    func testModelSummaryOfTinyLlama() throws {
        let model = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        let s = ModelSummary(model)
        XCTAssertEqual(s.parameters, 156_480)
        XCTAssertEqual(s.parametersByKind[.embedding], 512 * 64)
        XCTAssertEqual(s.parametersByKind[.head], 512 * 64)
        XCTAssertEqual(s.parametersByKind[.attention], 2 * (64 * 64 * 2 + 32 * 64 * 2))
        XCTAssertEqual(s.parametersByKind[.mlp], 2 * 3 * 172 * 64)
        XCTAssertEqual(s.parametersByKind[.norm], 5 * 64)
        XCTAssertEqual(s.bytesByDType[.f32], 156_480 * 4)
        XCTAssertEqual(s.layers.count, 2)
        let layer = s.layers[0]
        XCTAssertEqual([layer.index, layer.heads, layer.kvHeads, layer.ffn, layer.parameters, layer.bytes], [0, 4, 2, 172, 45_440, 45_440 * 4])
        XCTAssertEqual(layer.dtype, "f32")
        let text = s.render()
        XCTAssertTrue(text.hasPrefix("Llama model, 156.5K parameters, 611.2 KiB"), text)
        XCTAssertTrue(text.contains("4 heads (2 KV heads) of 16, FFN 172"), text)
        XCTAssertTrue(text.contains("RoPE theta 10000 (rotate-half), RMSNorm eps 1.000e-05, separate LM head"), text)
        XCTAssertTrue(text.contains("      0      4         2  172   45.4K  177.5 KiB  f32"), text)
    }

    /// A structurally pruned layer (fewer heads and FFN channels) shows its own sizes and still runs.
    func testModelSummaryAndForwardOfShrunkLayer() throws {
        var model = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        let p = "model.layers.1."
        func rows(_ name: String, _ r: Range<Int>) { model.weights[name] = model.weights[name]!.rowSlice(r) }
        func cols(_ name: String, _ n: Int) {
            let t = model.weights[name]!, f = t.floats(), c = t.columns
            model.weights[name] = Tensor(shape: [t.shape[0], n], floats: (0..<t.shape[0]).flatMap { f[$0 * c ..< $0 * c + n] })
        }
        rows(p + "self_attn.q_proj.weight", 0..<32)   // heads 0, 1 (both use KV head 0)
        rows(p + "self_attn.k_proj.weight", 0..<16)
        rows(p + "self_attn.v_proj.weight", 0..<16)
        cols(p + "self_attn.o_proj.weight", 32)
        rows(p + "mlp.gate_proj.weight", 0..<100)
        rows(p + "mlp.up_proj.weight", 0..<100)
        cols(p + "mlp.down_proj.weight", 100)
        let s = ModelSummary(model)
        XCTAssertEqual(s.layers[1].heads, 2)
        XCTAssertEqual(s.layers[1].kvHeads, 1)
        XCTAssertEqual(s.layers[1].ffn, 100)
        let session = try InferenceSession(model: model, capacity: 8)
        let logits = try session.forward([1, 300, 301])
        XCTAssertEqual(logits.count, 512)
        XCTAssertTrue(logits.allSatisfy(\.isFinite))
    }
}
