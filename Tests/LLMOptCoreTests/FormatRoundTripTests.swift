import XCTest
import LLMOptTestSupport
import Foundation
import LLMOptCore

/// Save then load: tensors come back bit for bit (or as documented conversions).
final class FormatRoundTripTests: XCTestCase {
    func bytes(_ t: Tensor) -> [UInt8] { Array(UnsafeRawBufferPointer(start: t.rawPointer, count: t.byteCount)) }

    func assertSameTensors(_ a: Model, _ b: Model, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(a.weights.keys), Set(b.weights.keys), file: file, line: line)
        for (name, t) in a.weights {
            guard let u = b.weights[name] else { continue }
            XCTAssertEqual(t.shape, u.shape, name, file: file, line: line)
            XCTAssertEqual(t.dtype, u.dtype, name, file: file, line: line)
            XCTAssertEqual(bytes(t), bytes(u), name, file: file, line: line)
        }
    }

    func testGGUFRoundTripKeepsQuantizedTensors() throws {
        let dir = try TempDir()
        for source in try [SharedFiles.data("models/stories260K/stories260K.gguf"),
                       SharedFiles.testdata("llamacpp/stories260K-Q4_1.gguf")] {
            let m = try GGUFModel.load(source)
            try ModelSaver.save(m, to: dir.file("out.gguf"))
            let back = try ModelLoader.load(path: dir.file("out.gguf"))
            XCTAssertEqual(back.config, m.config)
            assertSameTensors(m, back)
            XCTAssertEqual(back.weightOrder, m.weightOrder)
            let f = try GGUFFile(path: dir.file("out.gguf"))
            XCTAssertEqual(f.version, 3)
            XCTAssertTrue(f.tensorInfos.allSatisfy { $0.offset % 32 == 0 })
            XCTAssertEqual(f["tokenizer.ggml.tokens"]?.strings, try GGUFFile(path: source)["tokenizer.ggml.tokens"]?.strings)
            let text = try String(contentsOfFile: Fixtures.path("text/tricky.txt"), encoding: .utf8)
            XCTAssertEqual(back.tokenizer?.encode(text), m.tokenizer?.encode(text))
            XCTAssertEqual(back.tokenizer?.encode(text).count, 614)
        }
    }

    /// A rotate-half (Hugging Face) model saved as GGUF has its q/k rows permuted as llama.cpp's
    /// converter does; saving that back as a folder restores the original bytes.
    func testHuggingFaceToGGUFPermutesQKAndBack() throws {
        let dir = try TempDir()
        let hf = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        try ModelSaver.save(hf, to: dir.file("tiny.gguf"))
        let gguf = try ModelLoader.load(path: dir.file("tiny.gguf"))
        XCTAssertTrue(gguf.config.ropeInterleaved)
        var c = gguf.config
        c.ropeInterleaved = false
        XCTAssertEqual(c, hf.config)
        let hd = hf.config.headDim
        for name in ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight"] {
            let a = hf.weights[name]!.floats(), b = gguf.weights[name]!.floats()
            let cols = hf.weights[name]!.columns
            // Interleaved row 2i + half of head h is rotate-half row half * hd/2 + i.
            for head in 0..<(hf.weights[name]!.shape[0] / hd) {
                for i in 0..<(hd / 2) {
                    for half in 0..<2 {
                        let g = head * hd + 2 * i + half, r = head * hd + half * hd / 2 + i
                        XCTAssertEqual(Array(b[(g * cols)..<((g + 1) * cols)]), Array(a[(r * cols)..<((r + 1) * cols)]), name)
                    }
                }
            }
        }
        XCTAssertEqual(gguf.weights["model.layers.0.self_attn.v_proj.weight"]!.floats(), hf.weights["model.layers.0.self_attn.v_proj.weight"]!.floats())
        try ModelSaver.save(gguf, to: dir.file("folder"))
        let back = try ModelLoader.load(path: dir.file("folder"))
        XCTAssertEqual(back.config, hf.config)
        assertSameTensors(hf, back)
    }

    func testHuggingFaceRoundTrip() throws {
        let dir = try TempDir()
        for name in ["tiny-llama", "tiny-gpt2"] {
            let m = try HuggingFaceFolder.load(Fixtures.path("models/" + name))
            try ModelSaver.save(m, to: dir.file(name))
            let back = try HuggingFaceFolder.load(dir.file(name))
            XCTAssertEqual(back.config, m.config, name)
            assertSameTensors(m, back)
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.file(name + "/tokenizer.json")), name)
            // GPT-2 goes back to Conv1D's [in, out] on disk, exactly as the source stored it.
            let src = try SafetensorsFile(path: Fixtures.path("models/\(name)/model.safetensors"))
            let out = try SafetensorsFile(path: dir.file(name + "/model.safetensors"))
            for (n, t) in src.tensors { XCTAssertEqual(bytes(out.tensors[n]!), bytes(t), n) }
        }
    }

    func testQuantizedModelSavedAsFolderIsDequantized() throws {
        let dir = try TempDir()
        let q = try GGUFModel.load(SharedFiles.testdata("llamacpp/stories260K-Q8_0.gguf"))
        try ModelSaver.save(q, to: dir.file("folder"))
        let back = try ModelLoader.load(path: dir.file("folder"))
        XCTAssertFalse(back.config.ropeInterleaved)
        XCTAssertTrue(back.weights.values.allSatisfy { !$0.dtype.isQuantized })
        let name = "model.layers.2.mlp.up_proj.weight"
        XCTAssertEqual(back.weights[name]!.floats(), q.weights[name]!.floats())
        // config.json says which format each float tensor came from.
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("folder/config.json")))) as! [String: Any]
        let record = try XCTUnwrap(config["llmopt_quantization"] as? [String: Any], "config.json has no llmopt_quantization")
        XCTAssertNil(config["quantization_config"], "transformers would try to apply a quantization_config to float weights")
        let formats = try XCTUnwrap(record["formats"] as? [[String: Any]])
        let recorded = Dictionary(formats.flatMap { f in (f["tensors"] as! [String]).map { ($0, f["format"] as! String) } }, uniquingKeysWith: { a, _ in a })
        for (n, t) in q.weights where t.dtype.isQuantized { XCTAssertEqual(recorded[n], t.dtype.ggmlName, n) }
        XCTAssertEqual(recorded.count, q.weights.values.filter { $0.dtype.isQuantized }.count)
        // Back to GGUF: the rows return to llama.cpp's order, values as dequantized.
        try ModelSaver.save(back, to: dir.file("again.gguf"))
        let again = try ModelLoader.load(path: dir.file("again.gguf"))
        for (n, t) in q.weights { XCTAssertEqual(again.weights[n]!.floats(), t.floats(), n) }
    }

    func testGroupQuantizedFolderRecordsItsFormat() throws {
        let dir = try TempDir()
        let m = try ModelLoader.load(path: Fixtures.path("models/tiny-llama"))
        let (q, _) = try Quantization.quantize(m, scheme: "rtn", options: QuantizationOptions(bits: 4, group: 32, symmetric: false))
        try ModelSaver.save(q, to: dir.file("folder"))
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("folder/config.json")))) as! [String: Any]
        let record = try XCTUnwrap(config["llmopt_quantization"] as? [String: Any])
        let formats = try XCTUnwrap(record["formats"] as? [[String: Any]])
        XCTAssertEqual(formats.count, 1, "\(formats)")
        XCTAssertEqual(formats.first?["format"] as? String, "int4")
        XCTAssertEqual(formats.first?["group_size"] as? Int, 32)
        XCTAssertEqual(formats.first?["symmetric"] as? Bool, false)
        let names = Set(formats.first?["tensors"] as? [String] ?? [])
        XCTAssertEqual(names, Set(q.weights.filter { $0.value.dtype == .qgroup }.map(\.key)))
        XCTAssertTrue(names.contains("model.layers.1.mlp.down_proj.weight"))
        // The folder loads back as the dequantized values.
        let back = try ModelLoader.load(path: dir.file("folder"))
        let name = "model.layers.1.mlp.down_proj.weight"
        XCTAssertEqual(back.weights[name]!.floats(), q.weights[name]!.floats())
    }

    func testFailedSaveLeavesNothingBehind() throws {
        let dir = try TempDir()
        var m = try GGUFModel.load(SharedFiles.data("models/stories260K/stories260K.gguf"))
        m = m.replacing("model.layers.0.self_attn.q_norm.weight", with: Tensor(shape: [8], floats: [Float](repeating: 1, count: 8)))
        XCTAssertThrowsError(try ModelSaver.save(m, to: dir.file("bad.gguf")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
        let quantized = try GGUFModel.load(SharedFiles.testdata("llamacpp/stories260K-Q4_0.gguf"))
        XCTAssertThrowsError(try SafetensorsWriter.write([("w", quantized.weights["lm_head.weight"]!)], to: dir.file("q.safetensors")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    struct GoldenIds: Decodable { let ids: [Int] }

    func goldenIds(_ name: String) throws -> [Int] {
        try JSONDecoder().decode(GoldenIds.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("golden/\(name).json")))).ids
    }

    /// A Hugging Face tokenizer written into GGUF and read back by the GGUF tokenizer gives the
    /// ids the `tokenizers` library gave.
    func testTokenizerSurvivesHuggingFaceToGGUF() throws {
        let dir = try TempDir()
        let tricky = try String(contentsOfFile: Fixtures.path("text/tricky.txt"), encoding: .utf8)
        for name in ["tiny-gpt2", "tiny-llama"] {
            let hf = try HuggingFaceFolder.load(Fixtures.path("models/" + name))
            try ModelSaver.save(hf, to: dir.file(name + ".gguf"))
            let back = try ModelLoader.load(path: dir.file(name + ".gguf"))
            let tokenizer = try XCTUnwrap(back.tokenizer, name)
            XCTAssertEqual(tokenizer.vocabularySize, hf.tokenizer?.vocabularySize, name)
            XCTAssertEqual(tokenizer.encode(tricky), try goldenIds("tokenize_\(name)_tricky"), name)
            XCTAssertEqual(tokenizer.addsBOSByDefault, name == "tiny-llama", name)
        }
    }

    /// GGUF → GGUF keeps the tokenizer metadata exactly (SmolLM2's byte-level BPE).
    func testSmolLM2TokenizerRoundTrip() throws {
        let path = try SharedFiles.smolLM2()
        let dir = try TempDir()
        let m = try GGUFModel.load(path)
        try ModelSaver.save(m, to: dir.file("smol.gguf"))
        let a = try GGUFFile(path: path), b = try GGUFFile(path: dir.file("smol.gguf"))
        for key in ["tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                    "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                    "tokenizer.ggml.add_bos_token", "tokenizer.chat_template", "llama.rope.freq_base", "general.organization"] {
            XCTAssertEqual(a[key], b[key], key)
        }
        let back = try GGUFModel.load(dir.file("smol.gguf"))
        let text = "<|im_start|>user\nHello world, 12345 tokens!<|im_end|>"
        XCTAssertEqual(back.tokenizer?.encode(text), m.tokenizer?.encode(text))
        assertSameTensors(m, back)
    }

    func testGPT2GGUFRoundTrip() throws {
        let dir = try TempDir()
        let m = try HuggingFaceFolder.load(Fixtures.path("models/tiny-gpt2"))
        try ModelSaver.save(m, to: dir.file("gpt2.gguf"))
        let back = try ModelLoader.load(path: dir.file("gpt2.gguf"))
        XCTAssertEqual(back.config, m.config)
        assertSameTensors(m, back)
        XCTAssertEqual(try GGUFFile(path: dir.file("gpt2.gguf")).tensors["blk.0.attn_qkv.weight"]?.shape, [192, 64])
    }

    /// A model whose first layer lost FFN channels (structured pruning) saves its per-layer
    /// widths as llama.cpp's per-layer arrays and loads back unchanged.
    func testLayersOfDifferentWidthsRoundTrip() throws {
        let dir = try TempDir()
        var m = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        let keep = 100
        let p = "model.layers.0.mlp."
        m = m.replacing(p + "gate_proj.weight", with: m.weights[p + "gate_proj.weight"]!.rowSlice(0..<keep))
        m = m.replacing(p + "up_proj.weight", with: m.weights[p + "up_proj.weight"]!.rowSlice(0..<keep))
        let down = m.weights[p + "down_proj.weight"]!.floats()
        let narrowDown = (0..<64).flatMap { r in down[(r * 172)..<(r * 172 + keep)] }
        m = m.replacing(p + "down_proj.weight", with: Tensor(shape: [64, keep], floats: narrowDown))
        try ModelSaver.save(m, to: dir.file("pruned.gguf"))
        XCTAssertEqual(try GGUFFile(path: dir.file("pruned.gguf"))["llama.feed_forward_length"]?.ints, [keep, 172])
        let back = try ModelLoader.load(path: dir.file("pruned.gguf"))
        XCTAssertEqual(back.config.intermediateSize, 172)
        XCTAssertEqual(back.weights[p + "down_proj.weight"]?.shape, [64, keep])
        XCTAssertEqual(back.weights[p + "down_proj.weight"]?.floats(), narrowDown)
    }

    /// A GGUF model saved as a folder gets a tokenizer.json that tokenizes as the GGUF did.
    func testGGUFTokenizerWrittenAsTokenizerJSON() throws {
        let dir = try TempDir()
        let tricky = try String(contentsOfFile: Fixtures.path("text/tricky.txt"), encoding: .utf8)
        let m = try GGUFModel.load(SharedFiles.data("models/stories260K/stories260K.gguf"))
        try ModelSaver.save(m, to: dir.file("folder"))
        let back = try ModelLoader.load(path: dir.file("folder"))
        let a = try XCTUnwrap(m.tokenizer), b = try XCTUnwrap(back.tokenizer)
        XCTAssertEqual(b.encode(tricky), a.encode(tricky))
        XCTAssertEqual(b.encode("Once upon a time, <s> there was"), a.encode("Once upon a time, <s> there was"))
        XCTAssertEqual(b.decode(a.encode(tricky)), a.decode(a.encode(tricky)))
    }

    func testSmolLM2VocabularyWrittenAsTokenizerJSON() throws {
        let path = try SharedFiles.smolLM2()
        let dir = try TempDir()
        let gguf = try GGUFTokenizerFactory.make(from: GGUFFile(path: path))
        let vocabulary = try XCTUnwrap(gguf as? VocabularyExporting).exportedVocabulary
        try TokenizerJSONWriter.write(vocabulary, to: dir.path)
        let json = try TokenizerJSON.load(path: dir.file("tokenizer.json"))
        let tricky = try String(contentsOfFile: Fixtures.path("text/tricky.txt"), encoding: .utf8)
        for text in [tricky, "<|im_start|>user\nWhat is 1234 + 5678?<|im_end|>\n"] {
            XCTAssertEqual(json.encode(text), gguf.encode(text))
        }
        XCTAssertEqual(json.addsBOSByDefault, false)
        XCTAssertEqual(json.eosTokenId, 2)
    }

    /// An embedding with more rows than the tokenizer has tokens gets "[PADn]" tokens in GGUF,
    /// one per row, as llama.cpp expects.
    func testPaddedVocabularyInGGUF() throws {
        let dir = try TempDir()
        var m = try ModelLoader.load(path: SharedFiles.data("models/stories260K/stories260K.bin"))
        let embed = m.weights["model.embed_tokens.weight"]!.floats()
        m = m.replacing("model.embed_tokens.weight", with: Tensor(shape: [520, 64], floats: embed + [Float](repeating: 0, count: 8 * 64)))
        m.config.vocabSize = 520
        try ModelSaver.save(m, to: dir.file("padded.gguf"))
        let f = try GGUFFile(path: dir.file("padded.gguf"))
        XCTAssertEqual(f["tokenizer.ggml.tokens"]?.strings?.count, 520)
        XCTAssertEqual(f["tokenizer.ggml.tokens"]?.strings?.last, "[PAD519]")
        XCTAssertEqual(f["tokenizer.ggml.token_type"]?.ints?.last, 5)
        let back = try GGUFModel.model(from: f)
        XCTAssertEqual(back.tokenizer?.encode("Once upon a time"), m.tokenizer?.encode("Once upon a time"))
    }

    /// BF16 and F16 tensors keep their type through GGUF and safetensors.
    func testHalfPrecisionTensorsRoundTrip() throws {
        let dir = try TempDir()
        var m = try HuggingFaceFolder.load(Fixtures.path("models/tiny-llama"))
        let q = "model.layers.0.self_attn.q_proj.weight", up = "model.layers.1.mlp.up_proj.weight"
        let qValues = m.weights[q]!.floats(), upValues = m.weights[up]!.floats()
        m = m.replacing(q, with: Tensor.raw(shape: [64, 64], dtype: .bf16) { out in
            for (i, x) in qValues.enumerated() { out.storeBytes(of: Dequantize.floatToBF16(x), toByteOffset: 2 * i, as: UInt16.self) }
        })
        m = m.replacing(up, with: Tensor.raw(shape: [172, 64], dtype: .f16) { out in
            for (i, x) in upValues.enumerated() { out.storeBytes(of: Float16(x).bitPattern, toByteOffset: 2 * i, as: UInt16.self) }
        })
        // Folder → GGUF (q/k rows permuted) → folder (permuted back): the bytes are unchanged.
        try ModelSaver.save(m, to: dir.file("half.gguf"))
        let gguf = try ModelLoader.load(path: dir.file("half.gguf"))
        XCTAssertEqual(gguf.weights[q]?.dtype, .bf16)
        XCTAssertEqual(gguf.weights[up]?.dtype, .f16)
        try ModelSaver.save(gguf, to: dir.file("half"))
        let back = try ModelLoader.load(path: dir.file("half"))
        assertSameTensors(m, back)
        XCTAssertEqual(try SafetensorsFile(path: dir.file("half/model.safetensors")).tensors[q]?.dtype, .bf16)
    }
}
