import Foundation

/// What a tokenizer must tell a saver so that the saved file carries it: GGUF's
/// `tokenizer.ggml.*` vocabulary.
public struct ExportedVocabulary: Sendable {
    /// GGUF's `tokenizer.ggml.model`: "llama" (SentencePiece-style BPE) or "gpt2" (byte-level BPE).
    public var model: String
    public var pieces: [String]
    /// One score per piece ("llama" model), `nil` otherwise.
    public var scores: [Float]?
    /// GGUF token types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).
    public var tokenTypes: [Int]
    /// Merge rules "a b" in rank order ("gpt2" model), `nil` otherwise.
    public var merges: [String]?
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    public var unknownTokenId: Int?
    public var addBOS: Bool
    /// `tokenizer.ggml.add_space_prefix` ("llama" model).
    public var addSpacePrefix: Bool?
    /// `tokenizer.ggml.pre` ("gpt2" model), e.g. "gpt2" or "smollm".
    public var preTokenizer: String?

    public init(model: String, pieces: [String], scores: [Float]?, tokenTypes: [Int], merges: [String]?,
                bosTokenId: Int?, eosTokenId: Int?, unknownTokenId: Int?, addBOS: Bool,
                addSpacePrefix: Bool?, preTokenizer: String?) {
        self.model = model
        self.pieces = pieces
        self.scores = scores
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.unknownTokenId = unknownTokenId
        self.addBOS = addBOS
        self.addSpacePrefix = addSpacePrefix
        self.preTokenizer = preTokenizer
    }
}

/// Tokenizers that can hand their vocabulary to a saver.
public protocol VocabularyExporting {
    var exportedVocabulary: ExportedVocabulary { get }
}

/// A tokenizer together with the vocabulary it was built from, for tokenizer types that do
/// not export their own (the Metaspace BPE of Llama-style tokenizer.json files).
public struct ExportableTokenizer: Tokenizer, VocabularyExporting {
    public let base: any Tokenizer
    public let exportedVocabulary: ExportedVocabulary

    public init(_ base: any Tokenizer, vocabulary: ExportedVocabulary) {
        self.base = base
        self.exportedVocabulary = vocabulary
    }

    public var vocabularySize: Int { base.vocabularySize }
    public var bosTokenId: Int? { base.bosTokenId }
    public var eosTokenId: Int? { base.eosTokenId }
    public var addsBOSByDefault: Bool { base.addsBOSByDefault }
    public func encode(_ text: String, addBOS: Bool) -> [Int] { base.encode(text, addBOS: addBOS) }
    public func decodeBytes(_ id: Int, previous: Int?) -> [UInt8] { base.decodeBytes(id, previous: previous) }
    public func piece(_ id: Int) -> String { base.piece(id) }
    public func tokenId(_ piece: String) -> Int? { base.tokenId(piece) }
}

extension ExportedVocabulary {
    /// The vocabulary of a Hugging Face `tokenizer.json` BPE with a Metaspace pre-tokenizer
    /// (Llama 2 style), as a GGUF "llama" vocabulary: each merged piece is scored by minus the
    /// rank of the merge that first makes it (SentencePiece's convention: earlier merges win),
    /// `<0xNN>` pieces are byte tokens, added tokens control or user-defined.
    static func metaspaceTokenizerJSON(path: String, loaded: any Tokenizer) throws -> ExportedVocabulary {
        guard let data = FileManager.default.contents(atPath: path),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let model = root["model"] as? [String: Any], let vocab = model["vocab"] as? [String: Int]
        else { throw LLMOptError.badFile(path: path, reason: "no model.vocab object to export") }
        let added = (root["added_tokens"] as? [[String: Any]]) ?? []
        var pieceById: [Int: String] = [:]
        for (piece, id) in vocab where id >= 0 { pieceById[id] = piece }
        var typeById: [Int: TokenType] = [:]
        for token in added {
            guard let id = token["id"] as? Int, id >= 0, let content = token["content"] as? String else { continue }
            pieceById[id] = content
            typeById[id] = (token["special"] as? Bool ?? false) ? .control : .userDefined
        }
        let count = (pieceById.keys.max() ?? -1) + 1
        guard count > 0, count <= 10_000_000 else {
            throw LLMOptError.badFile(path: path, reason: count > 0
                ? "token ids run to \(count - 1); llmopt exports vocabularies of at most 10,000,000 tokens"
                : "the vocabulary is empty")
        }
        // Unused ids get placeholder pieces, as llama.cpp's converter writes them.
        let pieces = (0..<count).map { pieceById[$0] ?? "[PAD\($0)]" }
        let merges: [String] = ((model["merges"] as? [Any]) ?? []).compactMap { m in
            if let s = m as? String { return s }
            if let pair = m as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }
            return nil
        }
        let unknown = (model["unk_token"] as? String).flatMap { loaded.tokenId($0) }
        var scores = [Float](repeating: 0, count: count)
        var scored = Set<Int>()
        for (rank, merge) in merges.enumerated() {
            guard let id = vocab[merge.replacingOccurrences(of: " ", with: "")], scored.insert(id).inserted else { continue }
            scores[id] = -Float(rank)
        }
        let types: [Int] = (0..<count).map { id in
            if id == unknown { return TokenType.unknown.rawValue }
            if let t = typeById[id] { return t.rawValue }
            guard let piece = pieceById[id] else { return TokenType.unused.rawValue }
            let isByte = piece.count == 6 && piece.hasPrefix("<0x") && piece.hasSuffix(">")
            return (isByte ? TokenType.byte : TokenType.normal).rawValue
        }
        let pre = root["pre_tokenizer"] as? [String: Any]
        return ExportedVocabulary(
            model: "llama", pieces: pieces, scores: scores, tokenTypes: types, merges: nil,
            bosTokenId: loaded.bosTokenId, eosTokenId: loaded.eosTokenId, unknownTokenId: unknown,
            addBOS: loaded.addsBOSByDefault, addSpacePrefix: pre?["prepend_scheme"] as? String != "never", preTokenizer: nil)
    }
}
