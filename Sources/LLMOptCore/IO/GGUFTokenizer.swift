/// Builds the tokenizer a GGUF file describes in its `tokenizer.ggml.*` metadata, without
/// needing any tensors (llama.cpp's vocab-only files have none).
public enum GGUFTokenizerFactory {
    public static func make(from file: GGUFFile) throws -> any Tokenizer {
        let vocabulary = try self.vocabulary(file)
        let types = try vocabulary.tokenTypes.enumerated().map { i, v in
            guard let t = TokenType(rawValue: v) else {
                throw LLMOptError.badFile(path: file.path, reason: "token \(i) has unknown token type \(v)")
            }
            return t
        }
        let v = vocabulary
        switch v.model {
        case "llama":
            return SentencePieceBPETokenizer(
                pieces: v.pieces, scores: v.scores ?? [], types: types, bosTokenId: v.bosTokenId, eosTokenId: v.eosTokenId,
                unknownTokenId: v.unknownTokenId, addBOS: v.addBOS, addSpacePrefix: v.addSpacePrefix ?? true)
        default:
            return ByteLevelBPETokenizer(
                pieces: v.pieces, merges: v.merges ?? [], types: types, bosTokenId: v.bosTokenId, eosTokenId: v.eosTokenId,
                addBOS: v.addBOS, preTokenizer: v.preTokenizer ?? "default")
        }
    }

    /// The `tokenizer.ggml.*` arrays and settings, checked against each other. Tokenizers
    /// built from them export the same vocabulary back.
    static func vocabulary(_ file: GGUFFile) throws -> ExportedVocabulary {
        func fail(_ reason: String) -> LLMOptError { .badFile(path: file.path, reason: reason) }
        let meta = file.metadata
        guard let model = meta["tokenizer.ggml.model"]?.string else {
            throw fail("no tokenizer.ggml.model in the metadata")
        }
        guard model == "llama" || model == "gpt2" else {
            throw fail("tokenizer model '\(model)' is not supported (llmopt reads 'llama' and 'gpt2')")
        }
        guard let pieces = meta["tokenizer.ggml.tokens"]?.strings, !pieces.isEmpty else {
            throw fail("tokenizer.ggml.tokens is missing or not an array of strings")
        }
        var types = [Int](repeating: TokenType.normal.rawValue, count: pieces.count)
        if let raw = meta["tokenizer.ggml.token_type"] {
            guard let ints = raw.ints, ints.count == pieces.count else {
                throw fail("tokenizer.ggml.token_type must be \(pieces.count) integers")
            }
            types = ints
        }
        func id(_ key: String) throws -> Int? {
            guard let v = meta["tokenizer.ggml.\(key)"] else { return nil }
            guard let i = v.int else { throw fail("tokenizer.ggml.\(key) is not an integer") }
            // llama.cpp writes -1 (as uint32 0xFFFFFFFF) for "none".
            return (0..<pieces.count).contains(i) ? i : nil
        }
        var scores: [Float]?
        var merges: [String]?
        if model == "llama" {
            scores = meta["tokenizer.ggml.scores"]?.floats ?? [Float](repeating: 0, count: pieces.count)
            guard scores?.count == pieces.count else {
                throw fail("tokenizer.ggml.scores has \(scores?.count ?? 0) entries for \(pieces.count) tokens")
            }
        } else {
            guard let m = meta["tokenizer.ggml.merges"]?.strings else {
                throw fail("tokenizer.ggml.merges is missing or not an array of strings")
            }
            merges = m
        }
        return ExportedVocabulary(
            model: model, pieces: pieces, scores: scores, tokenTypes: types, merges: merges,
            bosTokenId: try id("bos_token_id"), eosTokenId: try id("eos_token_id"), unknownTokenId: try id("unknown_token_id"),
            addBOS: meta["tokenizer.ggml.add_bos_token"]?.bool ?? (model == "llama"),
            addSpacePrefix: model == "llama" ? (meta["tokenizer.ggml.add_space_prefix"]?.bool ?? true) : nil,
            preTokenizer: meta["tokenizer.ggml.pre"]?.string)
    }
}
