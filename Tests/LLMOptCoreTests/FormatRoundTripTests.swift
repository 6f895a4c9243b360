import XCTest
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
        for source in [GGUFFormatTests.example("Examples/models/stories260K/stories260K.gguf"),
                       Fixtures.path("llamacpp/stories260K-Q4_1.gguf")] {
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
        let q = try GGUFModel.load(Fixtures.path("llamacpp/stories260K-Q8_0.gguf"))
        try ModelSaver.save(q, to: dir.file("folder"))
        let back = try ModelLoader.load(path: dir.file("folder"))
        XCTAssertFalse(back.config.ropeInterleaved)
        XCTAssertTrue(back.weights.values.allSatisfy { !$0.dtype.isQuantized })
        let name = "model.layers.2.mlp.up_proj.weight"
        XCTAssertEqual(back.weights[name]!.floats(), q.weights[name]!.floats())
        // Back to GGUF: the rows return to llama.cpp's order, values as dequantized.
        try ModelSaver.save(back, to: dir.file("again.gguf"))
        let again = try ModelLoader.load(path: dir.file("again.gguf"))
        for (n, t) in q.weights { XCTAssertEqual(again.weights[n]!.floats(), t.floats(), n) }
    }

    func testFailedSaveLeavesNothingBehind() throws {
        let dir = try TempDir()
        var m = try GGUFModel.load(GGUFFormatTests.example("Examples/models/stories260K/stories260K.gguf"))
        m = m.replacing("model.layers.0.self_attn.q_norm.weight", with: Tensor(shape: [8], floats: [Float](repeating: 1, count: 8)))
        XCTAssertThrowsError(try ModelSaver.save(m, to: dir.file("bad.gguf")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
        let quantized = try GGUFModel.load(Fixtures.path("llamacpp/stories260K-Q4_0.gguf"))
        XCTAssertThrowsError(try SafetensorsWriter.write([("w", quantized.weights["lm_head.weight"]!)], to: dir.file("q.safetensors")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }
}
