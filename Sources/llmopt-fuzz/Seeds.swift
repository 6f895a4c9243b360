import Foundation
import LLMOptCore

/// The inputs mutation starts from, made at start-up from the repository's fixtures (and from
/// ../shared/data when present): GGUF files in each storage type, Hugging Face folders,
/// tokenizer.json files, llama2.c checkpoints with their tokenizer, and scripts.
struct Seeds {
    var gguf: [[UInt8]] = []
    /// Hugging Face folders: file name to bytes.
    var folders: [[String: Data]] = []
    var tokenizers: [Data] = []
    /// llama2.c checkpoint and tokenizer.bin pairs.
    var llama2c: [(model: [UInt8], tokenizer: [UInt8])] = []
    var scripts: [String] = []

    static func make(root: String, scratch: String) throws -> Seeds {
        var seeds = Seeds()
        let fm = FileManager.default
        func read(_ path: String) -> Data? { fm.contents(atPath: path) }

        // Hugging Face folders from the fixtures.
        for name in ["Tests/Fixtures/models/tiny-llama", "Tests/Fixtures/derived/tiny-llama-q8g32"] {
            let folder = root + "/" + name
            var files: [String: Data] = [:]
            for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
                if let d = read(folder + "/" + f) { files[f] = d }
            }
            if files["config.json"] != nil, files["model.safetensors"] != nil { seeds.folders.append(files) }
            if let t = files["tokenizer.json"] { seeds.tokenizers.append(t) }
        }
        // A small byte-level tokenizer cut from tiny-gpt2's (its full vocabulary is 50,257).
        if let d = read(root + "/Tests/Fixtures/models/tiny-gpt2/tokenizer.json"),
           var json = try JSONSerialization.jsonObject(with: d) as? [String: Any],
           var model = json["model"] as? [String: Any], let vocab = model["vocab"] as? [String: Int] {
            model["vocab"] = vocab.filter { $0.value < 400 }
            model["merges"] = ((model["merges"] as? [Any]) ?? []).prefix(100).map { $0 }
            json["model"] = model
            json["added_tokens"] = [["id": 399, "content": "<|endoftext|>", "special": true]]
            seeds.tokenizers.append(try JSONSerialization.data(withJSONObject: json))
        }

        // GGUF: tiny-llama in each storage type, a random model without tokenizer, and
        // llama.cpp's own stories260K.gguf when ../shared has it.
        let tiny = try ModelLoader.load(path: root + "/Tests/Fixtures/models/tiny-llama")
        for scheme in ["f32", "q8_0", "q4_0", "q4_1", "f16", "bf16"] {
            var m = tiny
            if scheme != "f32" { m = try Quantization.quantize(tiny, scheme: scheme, options: QuantizationOptions()).0 }
            let path = scratch + "/seed-\(scheme).gguf"
            try GGUFWriter.save(m, to: path)
            seeds.gguf.append([UInt8](read(path)!))
        }
        let small = RandomModel.make(ModelConfig(
            architecture: .llama, vocabSize: 32, hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2,
            numKVHeads: 1, maxPositions: 16, normEps: 1e-5, tieEmbeddings: true))
        try GGUFWriter.save(small, to: scratch + "/seed-small.gguf")
        seeds.gguf.append([UInt8](read(scratch + "/seed-small.gguf")!))
        let gpt2 = RandomModel.make(ModelConfig(
            architecture: .gpt2, vocabSize: 32, hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2,
            numKVHeads: 2, maxPositions: 16, normEps: 1e-5, tieEmbeddings: true))
        try GGUFWriter.save(gpt2, to: scratch + "/seed-gpt2.gguf")
        seeds.gguf.append([UInt8](read(scratch + "/seed-gpt2.gguf")!))
        try HuggingFaceFolder.save(gpt2, to: scratch + "/seed-gpt2")
        var gpt2Files: [String: Data] = [:]
        for f in ["config.json", "model.safetensors"] { gpt2Files[f] = read(scratch + "/seed-gpt2/" + f) }
        seeds.folders.append(gpt2Files)
        let shared = root + "/../shared/data/models/stories260K"
        if let d = read(shared + "/stories260K.gguf") { seeds.gguf.append([UInt8](d)) }

        // llama2.c: a tiny checkpoint written here (header, then float arrays in run.c's
        // order) with a tokenizer.bin, and stories260K when ../shared has it.
        seeds.llama2c.append(Self.tinyLlama2C())
        if let m = read(shared + "/stories260K.bin"), let t = read(shared + "/tok512.bin") {
            seeds.llama2c.append(([UInt8](m), [UInt8](t)))
        }

        // Scripts: the golden scripts and the CLI's.
        for folder in ["Tests/LLMOptScriptTests/Scripts", "Tests/LLMOptCLITests/Scripts"] {
            let dir = root + "/" + folder
            for name in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted() where name.hasSuffix(".llmopt") {
                if let s = try? String(contentsOfFile: dir + "/" + name, encoding: .utf8) { seeds.scripts.append(s) }
            }
        }
        guard !seeds.gguf.isEmpty, !seeds.folders.isEmpty, !seeds.tokenizers.isEmpty, !seeds.scripts.isEmpty else {
            throw LLMOptError.badFile(path: root, reason: "no fuzz seeds found under Tests/ (run from the package root)")
        }
        return seeds
    }

    /// dim 16, hidden 32, 1 layer, 2 heads, 1 KV head, vocab 32 (unshared head), seq_len 16.
    static func tinyLlama2C() -> (model: [UInt8], tokenizer: [UInt8]) {
        let (dim, hidden, layers, heads, kvHeads, vocab, seq) = (16, 32, 1, 2, 1, 32, 16)
        var bytes: [UInt8] = []
        func int32(_ v: Int) { withUnsafeBytes(of: Int32(v).littleEndian) { bytes += $0 } }
        for v in [dim, hidden, layers, heads, kvHeads, -vocab, seq] { int32(v) }
        let headDim = dim / heads, kvDim = kvHeads * headDim
        let floats = vocab * dim + layers * (dim + dim * dim + 2 * kvDim * dim + dim * dim + dim + 3 * dim * hidden)
            + dim + seq * headDim + vocab * dim
        var rng = SplitMix64(seed: 7)
        for _ in 0..<floats {
            let f = Float(Int(rng.next() % 2001) - 1000) / 20000
            withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes += $0 }
        }
        var tok: [UInt8] = []
        func tint(_ v: Int) { withUnsafeBytes(of: Int32(v).littleEndian) { tok += $0 } }
        tint(8)
        for i in 0..<vocab {
            let piece: [UInt8] = i < 3 ? Array(["<unk>", "<s>", "</s>"][i].utf8) : i < 29 ? [UInt8(0x61 + i - 3)] : Array(" th".utf8.prefix(i - 28))
            withUnsafeBytes(of: Float(-Float(i)).bitPattern.littleEndian) { tok += $0 }
            tint(piece.count)
            tok += piece
        }
        return (bytes, tok)
    }
}
