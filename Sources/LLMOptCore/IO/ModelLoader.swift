import Foundation

/// The model file formats llmopt reads.
public enum ModelFileKind: String, Sendable {
    case gguf, llama2c, safetensors, huggingFaceFolder
}

/// Loads a model from a path, recognizing the format by content rather than by extension.
public enum ModelLoader {
    static let knownFormats = "GGUF (v2/v3), llama2.c checkpoints (.bin), Hugging Face folders (config.json + safetensors)"

    /// Loads the model at `path`: a Hugging Face folder, a GGUF file, a llama2.c checkpoint, a
    /// safetensors file with `config.json` beside it, or a folder holding one such model file.
    /// `tokenizerPath` replaces the model's own tokenizer (a tokenizer.json, a GGUF file or a
    /// llama2.c tokenizer.bin).
    public static func load(path: String, tokenizerPath: String? = nil) throws -> Model {
        let (kind, file) = try detect(path: path)
        var model: Model
        switch kind {
        case .huggingFaceFolder:
            model = try HuggingFaceFolder.load(file)
        case .safetensors:
            model = try HuggingFaceFolder.load((file as NSString).deletingLastPathComponent)
        case .gguf:
            model = try GGUFModel.load(file)
        case .llama2c:
            return try Llama2CFile(path: file).model(tokenizerPath: tokenizerPath)
        }
        if let tokenizerPath {
            model.tokenizer = try loadTokenizer(path: tokenizerPath, vocabSize: model.config.vocabSize)
        }
        return model
    }

    /// The format of `path` and the file (or folder) to read it from.
    public static func detect(path: String) throws -> (ModelFileKind, String) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LLMOptError.badFile(path: path, reason: "no such file or folder")
        }
        if isDirectory.boolValue { return try detectInFolder(path) }
        let file = try MappedFile(path: path)
        if let kind = kind(of: file) {
            if kind == .safetensors {
                let config = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("config.json")
                guard FileManager.default.fileExists(atPath: config) else {
                    throw LLMOptError.badFile(path: path, reason: "a safetensors file needs config.json beside it (a Hugging Face folder)")
                }
            }
            return (kind, path)
        }
        throw LLMOptError.badFile(path: path, reason: "not a model file llmopt knows; it reads \(knownFormats)")
    }

    /// The format of a file from its first bytes (and, for llama2.c, its size).
    static func kind(of file: MappedFile) -> ModelFileKind? {
        if file.size >= 4, file.base.loadUnaligned(as: UInt32.self) == GGUFFile.magic { return .gguf }
        if file.size >= 9 {
            let headerLength = file.base.loadUnaligned(as: UInt64.self)
            if headerLength <= UInt64(file.size - 8), file.base.load(fromByteOffset: 8, as: UInt8.self) == UInt8(ascii: "{") {
                return .safetensors
            }
        }
        if Llama2CFile.looksLikeCheckpoint(file) { return .llama2c }
        return nil
    }

    /// A folder with `config.json` is a Hugging Face folder; otherwise it must hold one model
    /// file (a llama2.c checkpoint is preferred to a GGUF when both are there, as in the
    /// llama2.c stories models' folders, because its tokenizer sits beside it).
    static func detectInFolder(_ folder: String) throws -> (ModelFileKind, String) {
        if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("config.json")) {
            return (.huggingFaceFolder, folder)
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        var found: [(ModelFileKind, String)] = []
        for name in names where name.hasSuffix(".gguf") || name.hasSuffix(".bin") {
            let p = (folder as NSString).appendingPathComponent(name)
            guard let file = try? MappedFile(path: p), let kind = kind(of: file), kind != .safetensors else { continue }
            found.append((kind, p))
        }
        let checkpoints = found.filter { $0.0 == .llama2c }
        if checkpoints.count == 1 { return checkpoints[0] }
        if found.count == 1 { return found[0] }
        let listed = found.isEmpty ? "no model file" : "several model files (\(found.map { ($0.1 as NSString).lastPathComponent }.joined(separator: ", "))); name one"
        throw LLMOptError.badFile(path: folder, reason: "no config.json and \(listed); llmopt reads \(knownFormats)")
    }

    /// A tokenizer from its own file, recognized by content: a Hugging Face tokenizer.json
    /// (with tokenizer_config.json beside it), a GGUF file's vocabulary, or a llama2.c
    /// tokenizer.bin. Every tokenizer comes back able to export its vocabulary for saving, and
    /// is refused when it has more tokens than the model's embedding rows.
    public static func loadTokenizer(path: String, vocabSize: Int) throws -> any Tokenizer {
        let file = try MappedFile(path: path)
        let tokenizer: any Tokenizer
        if file.size >= 4, file.base.loadUnaligned(as: UInt32.self) == GGUFFile.magic {
            tokenizer = try GGUFTokenizerFactory.make(from: GGUFFile(path: path))
        } else if file.size >= 1, file.base.load(as: UInt8.self) == UInt8(ascii: "{") {
            let loaded = try TokenizerJSON.load(path: path)
            tokenizer = loaded is VocabularyExporting
                ? loaded : ExportableTokenizer(loaded, vocabulary: try ExportedVocabulary.metaspaceTokenizerJSON(path: path, loaded: loaded))
        } else {
            tokenizer = try Llama2CTokenizer(path: path, vocabSize: vocabSize)
        }
        guard tokenizer.vocabularySize <= vocabSize else {
            throw LLMOptError.badFile(path: path, reason: "the tokenizer has \(tokenizer.vocabularySize) tokens, more than the model's \(vocabSize) embedding rows")
        }
        return tokenizer
    }
}
