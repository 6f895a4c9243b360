import Foundation
import XCTest
import LLMOptCore

/// Q5_0, Q5_1 and the K-quants against llama.cpp: Tests/Fixtures/kquants holds rows of our own
/// random model (Scripts/fixtures/make-kquant-fixtures.py), the bytes `llama-quantize --pure`
/// wrote for them, and the values gguf-py's numpy dequantizers read back.
final class KQuantTests: XCTestCase {
    static let formats: [DType] = [.q5_0, .q5_1, .q2_k, .q3_k, .q4_k, .q5_k, .q6_k]
    /// Fixture tensors and their row length: blk.0.attn_q.weight and blk.1.ffn_down.weight.
    static let tensors = [("attn_q", 256), ("ffn_down", 512)]

    /// A standard normal sample (Box-Muller) from the seeded generator.
    func gaussian(_ rng: inout SplitMix64) -> Float {
        let u = (Double(rng.next() >> 11) + 1) / 9007199254740993.0, v = Double(rng.next() >> 11) / 9007199254740992.0
        return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
    }

    func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("kquants/" + name)))
    }

    func floats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in (0..<(data.count / 4)).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
    }

    func testQuantizersWriteLlamaCppBytes() throws {
        for (name, columns) in Self.tensors {
            let input = floats(try fixture("\(name).f32"))
            let rows = input.count / columns
            for dtype in Self.formats {
                let expected = try fixture("\(name).\(dtype.rawValue).bin")
                let quantized = try GGMLBlocks.quantize(Tensor(shape: [rows, columns], floats: input), to: dtype, name: name)
                XCTAssertEqual(quantized.dtype, dtype)
                let ours = Data(bytes: quantized.rawPointer, count: quantized.byteCount)
                XCTAssertEqual(ours.count, expected.count, "\(name) \(dtype.ggmlName): size")
                if let i = zip(ours, expected).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                    XCTFail("\(name) \(dtype.ggmlName): byte \(i) is \(ours[i]), llama.cpp wrote \(expected[i])")
                }
            }
        }
    }

    func testDequantizersMatchGGUFPy() throws {
        for (name, columns) in Self.tensors {
            for dtype in Self.formats {
                let bytes = try fixture("\(name).\(dtype.rawValue).bin")
                let expected = floats(try fixture("\(name).\(dtype.rawValue).dequant.f32"))
                var ours = [Float](repeating: .nan, count: expected.count)
                XCTAssertEqual(bytes.count, dtype.byteCount(elements: expected.count), "\(name) \(dtype.ggmlName)")
                XCTAssertEqual(expected.count % columns, 0)
                bytes.withUnsafeBytes { raw in
                    ours.withUnsafeMutableBufferPointer { Dequantize.row(from: raw.baseAddress!, dtype: dtype, count: expected.count, into: $0.baseAddress!) }
                }
                let scale = expected.map(abs).max()!
                for i in 0..<expected.count where abs(ours[i] - expected[i]) > 1e-6 * scale {
                    XCTFail("\(name) \(dtype.ggmlName): value \(i) is \(ours[i]), gguf-py reads \(expected[i])")
                    break
                }
            }
        }
    }

    /// The layer product on K-quant weights against a naive product with the dequantized weight:
    /// decode rows with exact activations (the float kernels), and a prefill-sized batch. Decode
    /// with activations rounded as llama.cpp rounds them is KernelKQuantTests'.
    func testLinearMatchesDequantizedProduct() throws {
        var rng = SplitMix64(seed: 7)
        let n = 24, k = 512
        let w = Tensor(shape: [n, k], floats: (0..<(n * k)).map { _ in gaussian(&rng) * 0.05 })
        for dtype in Self.formats {
            let q = try GGMLBlocks.quantize(w, to: dtype, name: "w")
            let dense = q.toF32().floats()
            for rows in [1, 3, 40] {
                let x = (0..<(rows * k)).map { _ in gaussian(&rng) }
                var y = [Float](repeating: .nan, count: rows * n)
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer {
                        Linear.forward(xp.baseAddress!, rows: rows, weight: q, into: $0.baseAddress!,
                                       activations: rows <= Linear.integerRowLimit ? .exact : .quantized)
                    }
                }
                for i in 0..<rows {
                    for j in 0..<n {
                        var expected = 0.0
                        for p in 0..<k { expected += Double(x[i * k + p]) * Double(dense[j * k + p]) }
                        XCTAssertEqual(Double(y[i * n + j]), expected, accuracy: 1e-3 * max(1, abs(expected)), "\(dtype.ggmlName) rows \(rows)")
                    }
                }
            }
        }
    }

    /// Rows that are not whole super-blocks fall back as llama.cpp's quantize tool does, and the
    /// report says so.
    func testRowsOfOtherLengthsFallBack() throws {
        var rng = SplitMix64(seed: 3)
        let expected: [(String, DType)] = [("q2_k", .q4_0), ("q3_k", .q4_0), ("q4_k", .q5_0), ("q5_k", .q5_1), ("q6_k", .q8_0)]
        let w = Tensor(shape: [8, 96], floats: (0..<768).map { _ in gaussian(&rng) })
        let odd = Tensor(shape: [8, 40], floats: (0..<320).map { _ in gaussian(&rng) })
        for (scheme, fallback) in expected {
            let model = Model(config: ModelConfig(architecture: .llama, vocabSize: 1, hiddenSize: 96, intermediateSize: 8, numLayers: 1,
                                                  numHeads: 1, numKVHeads: 1, maxPositions: 1, normEps: 1e-5, tieEmbeddings: true),
                              weights: ["model.layers.0.mlp.up_proj.weight": w, "model.layers.0.mlp.gate_proj.weight": odd])
            let (q, report) = try Quantization.quantize(model, scheme: scheme)
            XCTAssertEqual(try q.weight("model.layers.0.mlp.up_proj.weight").dtype, fallback, scheme)
            XCTAssertEqual(try q.weight("model.layers.0.mlp.gate_proj.weight").dtype, .f16, scheme)
            let notes = report.rows.compactMap(\.note).joined(separator: "\n")
            XCTAssertTrue(notes.contains("not a multiple of 256: stored \(fallback.ggmlName)"), notes)
        }
    }

    /// Q4_K_M on an 8-layer model: llama.cpp's `use_more_bits` gives attention values and
    /// feed-forward down projections of layers 0, 3, 6 and 7 Q6_K, the untied LM head Q6_K,
    /// everything else (token embeddings included) Q4_K.
    func testQ4KMMixByName() throws {
        let config = ModelConfig(architecture: .llama, vocabSize: 16, hiddenSize: 256, intermediateSize: 256, numLayers: 8,
                                 numHeads: 2, numKVHeads: 1, maxPositions: 8, normEps: 1e-5, tieEmbeddings: false)
        let model = RandomModel.make(config)
        let (q, _) = try Quantization.quantize(model, scheme: "q4_k_m")
        for l in 0..<8 {
            let more: DType = [0, 3, 6, 7].contains(l) ? .q6_k : .q4_k
            let p = "model.layers.\(l)."
            XCTAssertEqual(try q.weight(p + "self_attn.v_proj.weight").dtype, more, "layer \(l) v")
            XCTAssertEqual(try q.weight(p + "mlp.down_proj.weight").dtype, more, "layer \(l) down")
            XCTAssertEqual(try q.weight(p + "self_attn.q_proj.weight").dtype, .q4_k)
            XCTAssertEqual(try q.weight(p + "mlp.up_proj.weight").dtype, .q4_k)
            XCTAssertEqual(try q.weight(p + "input_layernorm.weight").dtype, .f32)
        }
        XCTAssertEqual(try q.weight("lm_head.weight").dtype, .q6_k)
        XCTAssertEqual(try q.weight("model.embed_tokens.weight").dtype, .q4_k)
        var tied = config
        tied.tieEmbeddings = true
        let (q5, _) = try Quantization.quantize(RandomModel.make(tied), scheme: "q5_k_m")
        XCTAssertEqual(try q5.weight("model.embed_tokens.weight").dtype, .q6_k)
        XCTAssertEqual(try q5.weight("model.layers.1.self_attn.v_proj.weight").dtype, .q5_k)
    }

    /// K-quant tensors survive a GGUF save and load byte for byte (q and k rows come back in
    /// llama.cpp's interleaved RoPE order, moved whole).
    func testGGUFRoundTrip() throws {
        let config = ModelConfig(architecture: .llama, vocabSize: 16, hiddenSize: 256, intermediateSize: 512, numLayers: 2,
                                 numHeads: 2, numKVHeads: 1, maxPositions: 8, normEps: 1e-5, tieEmbeddings: true)
        let (q, _) = try Quantization.quantize(RandomModel.make(config), scheme: "q4_k_m")
        let path = NSTemporaryDirectory() + "kquant-roundtrip-\(ProcessInfo.processInfo.processIdentifier).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ModelSaver.save(q, to: path)
        let back = try ModelLoader.load(path: path)
        var seen = Set<DType>()
        for name in q.weightOrder {
            var a = try q.weight(name)
            let b = try back.weight(name)
            if name.hasSuffix("q_proj.weight") || name.hasSuffix("k_proj.weight") {
                a = try RopeLayout.toInterleaved(a, headDim: config.headDim, name: name)
            }
            XCTAssertEqual(a.dtype, b.dtype, name)
            seen.insert(a.dtype)
            XCTAssertEqual(Data(bytes: a.rawPointer, count: a.byteCount), Data(bytes: b.rawPointer, count: b.byteCount), name)
        }
        XCTAssertEqual(seen, [.f32, .q4_k, .q6_k])
    }
}
