import XCTest
import LLMOptTestSupport
import LLMOptCore

final class GGUFFormatTests: XCTestCase {
    /// A file of stories260K (`shared/data/models/stories260K`).
    static func stories(_ name: String) throws -> String { try SharedFiles.data("models/stories260K/" + name) }

    func testReadsStoriesGGUFMetadataAndTensors() throws {
        let f = try GGUFFile(path: Self.stories("stories260K.gguf"))
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.architecture, "llama")
        XCTAssertEqual(f.alignment, 32)
        XCTAssertEqual(f.tensorInfos.count, 48)
        XCTAssertEqual(f["llama.block_count"]?.int, 5)
        XCTAssertEqual(f["llama.attention.layer_norm_rms_epsilon"]?.double.map { Float($0) }, 1e-5)
        XCTAssertEqual(f["tokenizer.ggml.tokens"]?.strings?.count, 512)
        XCTAssertEqual(f["tokenizer.ggml.tokens"]?.strings?[1], "<s>")
        XCTAssertEqual(f["tokenizer.ggml.token_type"]?.ints?.prefix(4), [2, 3, 3, 6])
        // GGUF lists ne0 (the row length) first: token_embd has ne = [64, 512].
        XCTAssertEqual(f.tensorInfos[0].dims, [64, 512])
        XCTAssertEqual(f.tensors["token_embd.weight"]?.shape, [512, 64])
        XCTAssertTrue(f.tensors["token_embd.weight"]!.storage.isMapped)
        XCTAssertEqual(f.dataOffset % 32, 0)
    }

    /// llama2.c's checkpoint and the GGUF llama.cpp converted from it hold the same numbers.
    func testStoriesBinAndGGUFAgree() throws {
        let bin = try Llama2CFile(path: Self.stories("stories260K.bin"))
        let gguf = try GGUFModel.load(Self.stories("stories260K.gguf"))
        XCTAssertEqual(gguf.weights.count, 48)
        XCTAssertEqual(bin.tensors.count, 47)  // tied: no lm_head
        for (name, t) in gguf.weights {
            // The GGUF stores the shared classifier as its own output.weight.
            let other = try XCTUnwrap(bin.tensors[name == "lm_head.weight" ? "model.embed_tokens.weight" : name], name)
            XCTAssertEqual(t.shape, other.shape, name)
            XCTAssertEqual(t.dtype, .f32, name)
            XCTAssertEqual(t.floats(), other.floats(), name)
        }
        var a = gguf.config, b = bin.config
        XCTAssertTrue(a.ropeInterleaved && b.ropeInterleaved)
        XCTAssertFalse(a.tieEmbeddings)
        XCTAssertTrue(b.tieEmbeddings)
        XCTAssertEqual(a.maxPositions, 2048)  // llama.cpp's converter writes its default
        XCTAssertEqual(b.maxPositions, 512)
        (a.tieEmbeddings, a.maxPositions) = (b.tieEmbeddings, b.maxPositions)
        XCTAssertEqual(a, b)
        XCTAssertEqual(b.numKVHeads, 4)
        XCTAssertEqual(b.headDim, 8)
    }

    /// The files llama.cpp's llama-quantize made: types as its README lists them.
    func testReadsLlamaCppQuantizedFiles() throws {
        let f32 = try GGUFModel.load(Self.stories("stories260K.gguf"))
        let cases: [(String, DType, DType)] = [("F16", .f16, .f16), ("Q8_0", .q8_0, .q8_0), ("Q4_0", .q4_0, .q8_0), ("Q4_1", .q4_1, .q8_0)]
        for (suffix, matrix, output) in cases {
            let m = try GGUFModel.load(SharedFiles.testdata("llamacpp/stories260K-\(suffix).gguf"))
            XCTAssertEqual(m.weights.count, 48, suffix)
            var counts: [DType: Int] = [:]
            for (name, t) in m.weights {
                counts[t.dtype, default: 0] += 1
                XCTAssertEqual(t.shape, f32.weights[name]?.shape, name)
                if name.hasSuffix("norm.weight") { XCTAssertEqual(t.dtype, .f32, name) }
                if name.hasSuffix("down_proj.weight") { XCTAssertEqual(t.dtype, .f16, name) }
                // Dequantized values stay close to the float32 originals.
                let ref = f32.weights[name]!.floats()
                let got = t.floats()
                let maxRef = ref.map(abs).max()!
                let maxErr = zip(ref, got).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(maxErr, maxRef * (matrix == .q4_0 || matrix == .q4_1 ? 0.2 : 0.02), name)
            }
            XCTAssertEqual(m.weights["lm_head.weight"]?.dtype, output, suffix)
            XCTAssertEqual(counts[.f32], 11, suffix)
            if suffix == "F16" {
                XCTAssertEqual(counts[.f16], 37)
            } else {
                XCTAssertEqual(counts[.f16], 5, suffix)
                XCTAssertEqual(counts[matrix], matrix == .q8_0 ? 32 : 31, suffix)
            }
        }
    }

    func testSmolLM2Loads() throws {
        let m = try GGUFModel.load(SharedFiles.smolLM2())
        let c = m.config
        XCTAssertEqual(c.numLayers, 30)
        XCTAssertEqual(c.hiddenSize, 576)
        XCTAssertEqual(c.intermediateSize, 1536)
        XCTAssertEqual(c.numHeads, 9)
        XCTAssertEqual(c.numKVHeads, 3)
        XCTAssertEqual(c.headDim, 64)
        XCTAssertEqual(c.vocabSize, 49152)
        XCTAssertEqual(c.ropeTheta, 100000)
        XCTAssertEqual(c.maxPositions, 8192)
        XCTAssertTrue(c.tieEmbeddings)
        XCTAssertTrue(c.ropeInterleaved)
        XCTAssertEqual(c.bosTokenId, 1)
        XCTAssertEqual(c.eosTokenId, 2)
        XCTAssertEqual(m.weights.count, 272)
        XCTAssertEqual(m.weights["model.embed_tokens.weight"]?.dtype, .q8_0)
        XCTAssertEqual(m.weights["model.layers.7.self_attn.k_proj.weight"]?.shape, [192, 576])
        XCTAssertEqual(m.weights.values.filter { $0.dtype == .q4_1 }.count, 210)
        XCTAssertTrue(m.chatTemplate?.contains("<|im_start|>") ?? false)
        XCTAssertEqual(m.metadata["tokenizer.ggml.pre"], "smollm")
    }
}
