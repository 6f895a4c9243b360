import XCTest
import LLMOptTestSupport
import LLMOptCore

/// Hugging Face folders, llama2.c checkpoints and format detection.
final class ModelFormatTests: XCTestCase {
    func testLoadsTinyLlamaFolder() throws {
        let m = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        let c = m.config
        XCTAssertEqual(c.architecture, .llama)
        XCTAssertEqual(c.vocabSize, 512)
        XCTAssertEqual(c.hiddenSize, 64)
        XCTAssertEqual(c.intermediateSize, 172)
        XCTAssertEqual(c.numLayers, 2)
        XCTAssertEqual(c.numHeads, 4)
        XCTAssertEqual(c.numKVHeads, 2)
        XCTAssertEqual(c.headDim, 16)
        XCTAssertEqual(c.maxPositions, 256)
        XCTAssertEqual(c.normEps, 1e-5)
        XCTAssertEqual(c.ropeTheta, 10000)
        XCTAssertFalse(c.ropeInterleaved)
        XCTAssertFalse(c.tieEmbeddings)
        XCTAssertEqual(c.bosTokenId, 1)
        XCTAssertEqual(c.eosTokenId, 2)
        XCTAssertEqual(m.weights.count, 21)
        XCTAssertEqual(m.weights["model.layers.0.mlp.down_proj.weight"]?.shape, [64, 172])
        XCTAssertEqual(m.weights["model.layers.1.self_attn.k_proj.weight"]?.shape, [32, 64])
        XCTAssertEqual(m.weights["lm_head.weight"]?.shape, [512, 64])
        XCTAssertEqual(m.format, .huggingFace)
        XCTAssertTrue(m.weights.values.allSatisfy { $0.storage.isMapped })
    }

    func testLoadsTinyGPT2FolderTransposingConv1D() throws {
        let folder = Fixtures.path("models/tiny-gpt2")
        let m = try HuggingFaceFolder.load(folder)
        let c = m.config
        XCTAssertEqual(c.architecture, .gpt2)
        XCTAssertEqual(c.vocabSize, 50257)
        XCTAssertEqual(c.hiddenSize, 64)
        XCTAssertEqual(c.intermediateSize, 256)
        XCTAssertEqual(c.numLayers, 2)
        XCTAssertEqual(c.numHeads, 4)
        XCTAssertEqual(c.maxPositions, 256)
        XCTAssertTrue(c.tieEmbeddings)
        XCTAssertNil(m.weights["lm_head.weight"])
        XCTAssertEqual(m.weights.count, 2 + 12 * 2 + 2)
        XCTAssertEqual(m.weights["transformer.h.0.attn.c_attn.weight"]?.shape, [192, 64])
        XCTAssertEqual(m.weights["transformer.h.1.mlp.c_proj.weight"]?.shape, [64, 256])
        // Element (i, j) of the stored [in, out] matrix is element (j, i) of the loaded one.
        let st = try SafetensorsFile(path: folder + "/model.safetensors")
        let stored = st.tensors["transformer.h.0.mlp.c_fc.weight"]!.floats()
        let loaded = m.weights["transformer.h.0.mlp.c_fc.weight"]!.floats()
        for (i, j) in [(0, 0), (3, 17), (63, 255), (10, 200)] {
            XCTAssertEqual(loaded[j * 64 + i], stored[i * 256 + j])
        }
    }

    /// The hub's GPT-2 layout: no `transformer.` prefix, causal-mask buffers stored.
    func testGPT2WithoutPrefixAndWithMaskBuffers() throws {
        let dir = try TempDir()
        let src = Fixtures.path("models/tiny-gpt2")
        try FileManager.default.copyItem(atPath: src + "/config.json", toPath: dir.path + "/config.json")
        let st = try SafetensorsFile(path: src + "/model.safetensors")
        var tensors: [(String, Tensor)] = st.order.map { (String($0.dropFirst("transformer.".count)), st.tensors[$0]!) }
        tensors.append(("h.0.attn.bias", Tensor(shape: [1, 1, 2, 2], floats: [1, 0, 1, 1])))
        try SafetensorsWriter.write(tensors, to: dir.path + "/model.safetensors")
        let m = try HuggingFaceFolder.load(dir.path)
        let ref = try HuggingFaceFolder.load(src)
        XCTAssertEqual(Set(m.weights.keys), Set(ref.weights.keys))
        for (name, t) in ref.weights { XCTAssertEqual(m.weights[name]?.floats(), t.floats(), name) }
    }

    func testShardedFolder() throws {
        let dir = try TempDir()
        let src = Fixtures.path("models/tiny-llama")
        try FileManager.default.copyItem(atPath: src + "/config.json", toPath: dir.path + "/config.json")
        let ref = try HuggingFaceFolder.load(src)
        let names = ref.weightOrder
        let half = names.count / 2
        var map: [String: String] = [:]
        for (i, part) in [Array(names[..<half]), Array(names[half...])].enumerated() {
            let file = "model-0000\(i + 1)-of-00002.safetensors"
            try SafetensorsWriter.write(part.map { ($0, ref.weights[$0]!) }, to: dir.path + "/" + file)
            for n in part { map[n] = file }
        }
        let index = try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": map])
        try index.write(to: URL(fileURLWithPath: dir.path + "/model.safetensors.index.json"))
        let m = try ModelLoader.load(path: dir.path)
        XCTAssertEqual(m.config, ref.config)
        XCTAssertEqual(m.weights.count, ref.weights.count)
        for (name, t) in ref.weights { XCTAssertEqual(m.weights[name]?.floats(), t.floats(), name) }
    }

    func testChatTemplateFromTokenizerConfig() throws {
        let dir = try TempDir()
        let src = Fixtures.path("models/tiny-llama")
        for f in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: src + "/" + f, toPath: dir.path + "/" + f)
        }
        let template = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
        let config = try JSONSerialization.data(withJSONObject: ["chat_template": template])
        try config.write(to: URL(fileURLWithPath: dir.path + "/tokenizer_config.json"))
        XCTAssertEqual(try HuggingFaceFolder.load(dir.path).chatTemplate, template)
    }

    func testLlama2CCheckpoint() throws {
        let f = try Llama2CFile(path: SharedFiles.data("models/stories260K/stories260K.bin"))
        let c = f.config
        XCTAssertEqual([c.hiddenSize, c.intermediateSize, c.numLayers, c.numHeads, c.numKVHeads, c.vocabSize, c.maxPositions],
                       [64, 172, 5, 8, 4, 512, 512])
        XCTAssertEqual(c.normEps, 1e-5)
        XCTAssertEqual(c.ropeTheta, 10000)
        XCTAssertTrue(c.ropeInterleaved)
        XCTAssertTrue(c.tieEmbeddings)
        XCTAssertEqual(f.tensors["model.layers.4.self_attn.v_proj.weight"]?.shape, [32, 64])
        XCTAssertEqual(f.tensors["model.layers.2.mlp.up_proj.weight"]?.shape, [172, 64])
        XCTAssertEqual(f.tensors["model.layers.2.mlp.down_proj.weight"]?.shape, [64, 172])
        // The first float after the header is the first embedding value.
        let raw = try Data(contentsOf: URL(fileURLWithPath: f.path))
        let first = raw.subdata(in: 28..<32).withUnsafeBytes { $0.loadUnaligned(as: Float.self) }
        XCTAssertEqual(f.tensors["model.embed_tokens.weight"]?.floats().first, first)
    }

    /// The vocabulary read from tok512.bin is the one llama.cpp's converter wrote into the GGUF.
    func testLlama2CVocabularyMatchesLlamaCppConversion() throws {
        let folder = try SharedFiles.data("models/stories260K") + "/"
        let v = try Llama2CTokenizer(path: folder + "tok512.bin", vocabSize: 512).exportedVocabulary
        let f = try GGUFFile(path: folder + "stories260K.gguf")
        XCTAssertEqual(v.pieces, f["tokenizer.ggml.tokens"]?.strings)
        XCTAssertEqual(v.scores, f["tokenizer.ggml.scores"]?.floats)
        XCTAssertEqual(v.tokenTypes, f["tokenizer.ggml.token_type"]?.ints)
    }

    func testExplicitTokenizerPath() throws {
        let dir = try TempDir()
        let folder = try SharedFiles.data("models/stories260K") + "/"
        try FileManager.default.copyItem(atPath: folder + "stories260K.bin", toPath: dir.file("m.bin"))
        let m = try ModelLoader.load(path: dir.file("m.bin"), tokenizerPath: folder + "tok512.bin")
        XCTAssertEqual(m.tokenizer?.vocabularySize, 512)
        XCTAssertEqual(m.tokenizer?.encode("Once upon a time").first, 1)
        // A tokenizer with more tokens than the model has embedding rows is refused.
        let gpt2Tokenizer = Fixtures.path("models/tiny-gpt2/tokenizer.json")
        XCTAssertThrowsError(try ModelLoader.load(path: dir.file("m.bin"), tokenizerPath: gpt2Tokenizer)) { error in
            XCTAssertTrue("\(error)".contains("50257 tokens"), "\(error)")
        }
    }

    func testDetectsFormatsByContent() throws {
        let stories = try SharedFiles.data("models/stories260K")
        let dir = try TempDir()
        // Misleading extensions: detection reads the bytes.
        try FileManager.default.copyItem(atPath: stories + "/stories260K.gguf", toPath: dir.path + "/model.bin")
        try FileManager.default.copyItem(atPath: stories + "/stories260K.bin", toPath: dir.path + "/weights.gguf")
        XCTAssertEqual(try ModelLoader.detect(path: dir.path + "/model.bin").0, .gguf)
        XCTAssertEqual(try ModelLoader.detect(path: dir.path + "/weights.gguf").0, .llama2c)
        XCTAssertEqual(try ModelLoader.detect(path: Fixtures.path("models/tiny-llama")).0, .huggingFaceFolder)
        XCTAssertEqual(try ModelLoader.detect(path: Fixtures.path("models/tiny-llama/model.safetensors")).0, .safetensors)
        // A folder holding a llama2.c checkpoint and a GGUF: the checkpoint, whose tokenizer sits beside it.
        XCTAssertEqual(try ModelLoader.detect(path: stories).1, stories + "/stories260K.bin")
        XCTAssertEqual(try ModelLoader.load(path: stories).format, .llama2c)
        XCTAssertEqual(try ModelLoader.load(path: dir.path + "/model.bin").format, .gguf)
        XCTAssertEqual(try ModelLoader.load(path: Fixtures.path("models/tiny-gpt2/model.safetensors")).config.architecture, .gpt2)
    }
}

/// A temporary folder removed when the value goes away.
final class TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "llmopt-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}
