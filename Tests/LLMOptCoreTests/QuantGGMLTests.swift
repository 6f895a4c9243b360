import Foundation
import XCTest
import LLMOptTestSupport
import LLMOptCore

/// ggml block formats against files that llama.cpp's `llama-quantize` wrote
/// (`shared/testdata/llamacpp`, made from stories260K).
final class QuantGGMLTests: XCTestCase {
    static var source: String { get throws { try SharedFiles.data("models/stories260K/stories260K.gguf") } }

    /// GGUF tensor names to Hugging Face names, for the llama tensors of stories260K.
    static func huggingFaceName(_ gguf: String) -> String? {
        let fixed = ["token_embd.weight": "model.embed_tokens.weight", "output.weight": "lm_head.weight", "output_norm.weight": "model.norm.weight"]
        if let name = fixed[gguf] { return name }
        let parts = gguf.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk" else { return nil }
        let map = ["attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
                   "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
                   "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"]
        guard let inner = map[String(parts[2])] else { return nil }
        return "model.layers.\(parts[1]).\(inner).\(parts[3])"
    }

    static func sameBytes(_ a: Tensor, _ b: Tensor) -> Bool {
        a.byteCount == b.byteCount && memcmp(a.rawPointer, b.rawPointer, a.byteCount) == 0
    }

    func testReferenceQuantizersMatchLlamaCppByteForByte() throws {
        let base = try GGUFFile(path: Self.source)
        var checked: [DType: Int] = [:]
        for file in ["F16", "Q8_0", "Q4_0", "Q4_1"] {
            let quantized = try GGUFFile(path: SharedFiles.testdata("llamacpp/stories260K-\(file).gguf"))
            for (name, want) in quantized.tensors where want.dtype != .f32 {
                let f32 = try XCTUnwrap(base.tensors[name], name)
                XCTAssertEqual(f32.dtype, .f32)
                let got = want.dtype == .f16 ? try HalfPrecision.convert(f32, to: .f16, name: name)
                                             : try GGMLBlocks.quantize(f32, to: want.dtype, name: name)
                XCTAssertTrue(Self.sameBytes(got, want), "\(file): \(name) (\(want.dtype.ggmlName)) differs from llama.cpp's bytes")
                checked[want.dtype, default: 0] += 1
            }
        }
        // Every block type was exercised: 32 Q8_0 + 2 output Q8_0, 31 Q4_0, 31 Q4_1, F16 everywhere.
        XCTAssertEqual(checked[.q8_0], 34)
        XCTAssertEqual(checked[.q4_0], 31)
        XCTAssertEqual(checked[.q4_1], 31)
        XCTAssertGreaterThanOrEqual(checked[.f16] ?? 0, 37)
    }

    /// The whole-model scheme with llama.cpp's choices (output in Q8_0, rows of 172 in F16)
    /// gives the same file content.
    func testMixedSchemeReproducesLlamaCppModel() throws {
        let model = try ModelLoader.load(path: Self.source)
        for (scheme, file) in [("q4_0", "Q4_0"), ("q4_1", "Q4_1"), ("q8_0", "Q8_0")] {
            let (q, report) = try Quantization.quantize(model, scheme: scheme, options: QuantizationOptions(
                targets: [".*"], overrides: [SchemeOverride("^lm_head\\.", "q8_0")]))
            let reference = try GGUFFile(path: SharedFiles.testdata("llamacpp/stories260K-\(file).gguf"))
            for (ggufName, want) in reference.tensors {
                let name = try XCTUnwrap(Self.huggingFaceName(ggufName), ggufName)
                let got = try q.weight(name)
                XCTAssertEqual(got.dtype, want.dtype, "\(file): \(name)")
                XCTAssertTrue(Self.sameBytes(got, want), "\(file): \(name) differs")
            }
            let down = try XCTUnwrap(report.row("model.layers.0.mlp.down_proj.weight"))
            XCTAssertEqual(down.dtypeAfter, .f16)
            XCTAssertTrue(down.note?.contains("not a multiple of 32") ?? false)
            XCTAssertTrue(report.description.contains("stored F16 instead of \(file)"))
            XCTAssertEqual(report.modelBytesAfter, q.byteCount)
        }
    }

    func testBlockFormatsRejectBadInput() throws {
        let odd = Tensor(shape: [2, 20], floats: [Float](repeating: 1, count: 40))
        XCTAssertThrowsError(try GGMLBlocks.quantize(odd, to: .q4_0, name: "odd.weight")) { XCTAssertTrue("\($0)".contains("odd.weight")) }
        XCTAssertThrowsError(try GGMLBlocks.quantize(Tensor(shape: [1, 32], floats: [Float](repeating: .infinity, count: 32)), to: .q8_0, name: "inf.weight")) {
            XCTAssertTrue("\($0)".contains("inf.weight"))
        }
        XCTAssertThrowsError(try GGMLBlocks.quantize(odd, to: .f16, name: "x"))
    }

    func testHalfPrecisionRoundsToNearestEven() throws {
        let values: [Float] = [1, 1 + 1.0 / 2048, 1 + 3.0 / 2048, 65520, -0.0, 1e-8, 3.14159]
        let t = Tensor(shape: [1, values.count], floats: values)
        let f16 = try HalfPrecision.convert(t, to: .f16, name: "t").floats()
        XCTAssertEqual(f16, [1, 1, 1 + 4.0 / 2048, .infinity, -0.0, 0, 3.140625])
        let bf16 = try HalfPrecision.convert(t, to: .bf16, name: "t").floats()
        XCTAssertEqual(bf16[0], 1)
        XCTAssertEqual(bf16[6], 3.140625)
    }

    /// bfloat16 keeps 8 significant bits: values halfway between two of them go to the one
    /// with an even last bit, values past halfway go up; truncation or rounding half up fails
    /// here, and so does a conversion that turns a NaN with only low mantissa bits into infinity.
    func testBFloat16RoundsTiesToEvenAndKeepsNaN() throws {
        let half: Float = 1.0 / 256 // half a unit in the last place of bfloat16 at 1
        let values: [Float] = [
            1 + half,                   // tie, 1 is even: stays 1
            1 + 3 * half,               // tie between 1 + 2/256 (odd) and 1 + 4/256 (even): up
            1 + half + 1.0 / 1_048_576, // past the tie: up to 1 + 2/256
            1 + half - 1.0 / 1_048_576, // short of it: down to 1
            -(1 + 3 * half),            // the same tie, negative
            Float(bitPattern: 0x7F7F_FFFF), // the largest float rounds past bfloat16's largest: infinity
            Float(bitPattern: 0x7F80_0001), // a NaN whose payload is all below bfloat16's bits
            -0.0, 256 + 1,                 // 257 = 1.00000001b × 2^8: a tie, even is 256
        ]
        let got = try HalfPrecision.convert(Tensor(shape: [1, values.count], floats: values), to: .bf16, name: "t").floats()
        let want: [Float] = [1, 1 + 4 * half, 1 + 2 * half, 1, -(1 + 4 * half), .infinity, .nan, -0.0, 256]
        for (i, (g, w)) in zip(got, want).enumerated() {
            if w.isNaN { XCTAssertTrue(g.isNaN, "value \(i): \(g)") } else { XCTAssertEqual(g.bitPattern, w.bitPattern, "value \(i): \(values[i]) -> \(g), want \(w)") }
        }
    }
}
