import Foundation

/// Loads a Hugging Face model folder: `config.json`, `model.safetensors` (or the shards listed
/// in `model.safetensors.index.json`), `tokenizer.json` and the chat template from
/// `tokenizer_config.json` or `chat_template.jinja`.
public enum HuggingFaceFolder {
    public static func load(_ folder: String) throws -> Model {
        let configPath = path(folder, "config.json")
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw LLMOptError.badFile(path: configPath, reason: "cannot read config.json")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LLMOptError.badFile(path: configPath, reason: "not a JSON object")
        }
        let config = try parseConfig(json, path: configPath)
        let family = config.architecture.family

        var weights: [String: Tensor] = [:]
        var order: [String] = []
        for file in try safetensorsFiles(folder) {
            let st = try SafetensorsFile(path: file)
            for name in st.order {
                guard let hfName = family.huggingFaceName(name) else { continue }
                guard weights[hfName] == nil else {
                    throw LLMOptError.badFile(path: file, reason: "tensor '\(hfName)' appears in more than one file")
                }
                do {
                    weights[hfName] = try family.fromHuggingFace(hfName, st.tensors[name]!, config: config)
                } catch let LLMOptError.invalidArgument(_, reason) {
                    throw LLMOptError.badFile(path: file, reason: "tensor '\(name)' \(reason)")
                }
                order.append(hfName)
            }
        }
        try WeightShapes.check(weights, config: config, source: folder)

        let tokenizerPath = path(folder, "tokenizer.json")
        let tokenizer = FileManager.default.fileExists(atPath: tokenizerPath)
            ? try ModelLoader.loadTokenizer(path: tokenizerPath, vocabSize: config.vocabSize) : nil
        return Model(
            config: config, weights: weights, weightOrder: order, tokenizer: tokenizer,
            chatTemplate: try chatTemplate(folder), format: .huggingFace, sourcePath: folder)
    }

    /// Saves `model` as a Hugging Face folder transformers loads: `config.json`,
    /// `model.safetensors` with float weights (quantized tensors dequantized to float32, GPT-2
    /// Conv1D weights transposed back to `[in, out]`, Llama q/k rows moved back to rotate-half
    /// when the model is interleaved), the chat template, and the tokenizer: its files copied
    /// from the source folder when the model came from one, else written from its vocabulary.
    /// Which format each dequantized tensor had goes in config.json as `llmopt_quantization`
    /// (not `quantization_config`, which transformers would try to apply to the float weights).
    ///
    /// The folder is written beside `destination` and swapped in whole (`SaveTarget`).
    public static func save(_ model: Model, to destination: String) throws {
        try SaveTarget.writeFolder(at: destination) { folder in
            try write(model, into: folder)
        }
    }

    private static func write(_ model: Model, into folder: String) throws {
        let c = model.config
        var tensors: [(name: String, tensor: Tensor)] = []
        var quantized: [(name: String, tensor: Tensor)] = []
        for name in model.weightOrder {
            guard var t = model.weights[name] else { continue }
            if name == "lm_head.weight" && c.tieEmbeddings { continue }
            if t.dtype.isQuantized {
                quantized.append((name, t))
                t = t.toF32()
            }
            t = try c.architecture.family.toHuggingFace(name, t, config: c)
            tensors.append((name, t))
        }
        var config = configJSON(c)
        let floatTypes = Set(tensors.map(\.tensor.dtype))
        config["torch_dtype"] = floatTypes == [.bf16] ? "bfloat16" : floatTypes == [.f16] ? "float16" : "float32"
        if !quantized.isEmpty { config["llmopt_quantization"] = quantizationRecord(quantized) }
        let configData = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try write(configData, to: path(folder, "config.json"))
        try SafetensorsWriter.write(tensors, to: path(folder, "model.safetensors"))
        var copiedTokenizer = false
        if model.format == .huggingFace, let source = model.sourcePath {
            for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"] {
                guard let data = FileManager.default.contents(atPath: path(source, name)) else { continue }
                try write(data, to: path(folder, name))
                copiedTokenizer = copiedTokenizer || name == "tokenizer.json"
            }
        }
        if !copiedTokenizer, let tokenizer = model.tokenizer {
            guard let exporting = tokenizer as? VocabularyExporting else {
                throw LLMOptError.unsupported("\(folder): the model's tokenizer (\(type(of: tokenizer))) cannot be written as tokenizer.json")
            }
            try TokenizerJSONWriter.write(exporting.exportedVocabulary, chatTemplate: model.chatTemplate, to: folder)
        }
        if let template = model.chatTemplate { try write(Data(template.utf8), to: path(folder, "chat_template.jinja")) }
    }

    /// The formats of tensors written dequantized, grouped: each entry names a format (`Q8_0`,
    /// `Q4_0`, `Q4_1`; `int4` and the like with `group_size` and `symmetric`) and its tensors.
    static func quantizationRecord(_ quantized: [(name: String, tensor: Tensor)]) -> [String: Any] {
        var formats: [[String: Any]] = []
        var indexOfKey: [String: Int] = [:]
        for (name, t) in quantized {
            var format: [String: Any]
            if t.dtype == .qgroup, t.count > 0 {
                let layout = GroupQuantLayout(row: t.rawPointer)
                format = ["format": "int\(layout.bits)", "group_size": layout.groupSize, "symmetric": layout.symmetric]
            } else {
                format = ["format": t.dtype.ggmlName, "block_size": t.dtype.blockSize]
            }
            let key = format.keys.sorted().map { "\($0)=\(format[$0]!)" }.joined(separator: ",")
            if let i = indexOfKey[key] {
                formats[i]["tensors"] = (formats[i]["tensors"] as! [String]) + [name]
            } else {
                indexOfKey[key] = formats.count
                format["tensors"] = [name]
                formats.append(format)
            }
        }
        return ["stored_as": "float32, dequantized", "formats": formats]
    }

    static func write(_ data: Data, to file: String) throws {
        try AtomicFileWriter.write(to: file) { w in try data.withUnsafeBytes { try w.write($0) } }
    }

    /// The double with the float's shortest decimal spelling (1e-05, not 9.99999974737875e-06).
    static func shortest(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }

    /// `config.json` in transformers' vocabulary for the model's architecture.
    static func configJSON(_ c: ModelConfig) -> [String: Any] {
        let family = c.architecture.family
        var j: [String: Any] = ["vocab_size": c.vocabSize, "tie_word_embeddings": c.tieEmbeddings]
        if let bos = c.bosTokenId { j["bos_token_id"] = bos }
        if let eos = c.eosTokenId { j["eos_token_id"] = eos }
        if let cls = family.huggingFaceClasses.first { j["architectures"] = [cls] }
        j["model_type"] = family.huggingFaceModelType
        j.merge(family.huggingFaceConfig(c)) { _, new in new }
        return j
    }

    static func path(_ folder: String, _ name: String) -> String {
        (folder as NSString).appendingPathComponent(name)
    }

    /// `model.safetensors`, or every shard named by `model.safetensors.index.json`.
    static func safetensorsFiles(_ folder: String) throws -> [String] {
        let single = path(folder, "model.safetensors")
        let indexPath = path(folder, "model.safetensors.index.json")
        if FileManager.default.fileExists(atPath: single) { return [single] }
        guard let data = FileManager.default.contents(atPath: indexPath) else {
            throw LLMOptError.badFile(path: folder, reason: "no model.safetensors or model.safetensors.index.json")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let map = json["weight_map"] as? [String: String]
        else {
            throw LLMOptError.badFile(path: indexPath, reason: "no 'weight_map' object of tensor names to file names")
        }
        var shards: [String] = []
        for file in Set(map.values).sorted() {
            guard !file.contains("/"), !file.hasPrefix(".") else {
                throw LLMOptError.badFile(path: indexPath, reason: "shard '\(file)' is not a file name in the folder")
            }
            shards.append(path(folder, file))
        }
        return shards
    }

    /// A 2-D tensor of a one-value-per-element dtype with its dimensions swapped.
    static func transposed(_ t: Tensor) -> Tensor {
        let (r, c) = (t.shape[0], t.shape[1])
        let size = t.dtype.blockBytes
        let src = t.rawPointer
        return Tensor.raw(shape: [c, r], dtype: t.dtype) { out in
            let dst = out.baseAddress!
            for i in 0..<r {
                for j in 0..<c {
                    (dst + (j * r + i) * size).copyMemory(from: src + (i * c + j) * size, byteCount: size)
                }
            }
        }
    }

    /// The chat template from `chat_template.jinja`, or `tokenizer_config.json`'s
    /// `chat_template` (a string, or a list of named templates of which "default" is used).
    static func chatTemplate(_ folder: String) throws -> String? {
        let jinja = path(folder, "chat_template.jinja")
        if let data = FileManager.default.contents(atPath: jinja) { return String(decoding: data, as: UTF8.self) }
        let configPath = path(folder, "tokenizer_config.json")
        guard let data = FileManager.default.contents(atPath: configPath) else { return nil }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LLMOptError.badFile(path: configPath, reason: "not a JSON object")
        }
        switch json["chat_template"] {
        case let s as String: return s
        case let list as [[String: Any]]:
            let named = list.first { ($0["name"] as? String) == "default" } ?? list.first
            return named?["template"] as? String
        default: return nil
        }
    }

    static func parseConfig(_ j: [String: Any], path: String) throws -> ModelConfig {
        let archs = (j["architectures"] as? [String]) ?? []
        let modelType = j["model_type"] as? String
        guard let family = ModelFamilies.huggingFace(classes: archs, modelType: modelType) else {
            let known = ModelFamilies.all.flatMap(\.huggingFaceClasses).joined(separator: ", ")
            throw LLMOptError.badFile(path: path, reason: "unknown architecture \(archs.first ?? modelType ?? "(none)"); llmopt runs \(known)")
        }
        return try family.config(huggingFace: HuggingFaceConfigReader(json: j, path: path))
    }
}

/// Typed reads of a Hugging Face `config.json`, with errors that name the file and the key.
public struct HuggingFaceConfigReader {
    public let json: [String: Any]
    public let path: String

    /// An integer, nil when absent or null.
    public func int(_ key: String) throws -> Int? {
        guard let v = json[key], !(v is NSNull) else { return nil }
        guard let i = v as? Int else {
            throw LLMOptError.badFile(path: path, reason: "'\(key)' should be an integer, is \(v)")
        }
        // Sizes and ids: beyond 2^31 none is meaningful, and arithmetic on them would overflow.
        guard i.magnitude <= UInt(Int32.max) else {
            throw LLMOptError.badFile(path: path, reason: "'\(key)' is \(i), more than \(Int32.max)")
        }
        return i
    }

    /// A number, nil when absent or null; `dict` reads a nested object instead of the top level.
    public func float(_ key: String, in dict: [String: Any]? = nil) throws -> Float? {
        guard let v = (dict ?? json)[key], !(v is NSNull) else { return nil }
        guard let d = v as? Double else {
            throw LLMOptError.badFile(path: path, reason: "'\(key)' should be a number, is \(v)")
        }
        return Float(d)
    }

    /// A positive integer that must be there.
    public func need(_ key: String) throws -> Int {
        guard let v = try int(key), v > 0 else { throw LLMOptError.badFile(path: path, reason: "missing or invalid '\(key)'") }
        return v
    }

    public func bool(_ key: String) -> Bool? { json[key] as? Bool }
    public func string(_ key: String) -> String? { json[key] as? String }

    /// A token id; some configs list several EOS ids, and the first is the one generation stops on.
    public func tokenId(_ key: String) -> Int? {
        if let v = json[key] as? Int { return v }
        return (json[key] as? [Int])?.first
    }

    /// RoPE settings: newer transformers nest them in `rope_parameters` (older: `rope_scaling`).
    public var rope: [String: Any]? { (json["rope_parameters"] as? [String: Any]) ?? (json["rope_scaling"] as? [String: Any]) }

    /// `rope_theta` at the top level or inside the RoPE settings; refuses RoPE types other than the default.
    public func ropeTheta(default value: Float) throws -> Float {
        if let type = rope?["rope_type"] as? String ?? rope?["type"] as? String, type != "default" {
            throw LLMOptError.unsupported("\(path): RoPE type '\(type)' is not supported (llmopt runs the default RoPE)")
        }
        return try float("rope_theta") ?? float("rope_theta", in: rope) ?? value
    }
}
