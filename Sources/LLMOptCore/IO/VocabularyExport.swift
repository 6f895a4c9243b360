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
    func exportVocabulary() throws -> ExportedVocabulary
}

/// A tokenizer together with the vocabulary it was built from, so that savers can write it
/// out again. The tokenizer types keep their tables private; loaders wrap what they build.
/// The vocabulary is produced only when a saver asks (reading it again from a large
/// tokenizer.json costs as much as loading the tokenizer).
public struct ExportableTokenizer: Tokenizer, VocabularyExporting {
    public let base: any Tokenizer
    let vocabulary: @Sendable () throws -> ExportedVocabulary

    public init(_ base: any Tokenizer, vocabulary: @escaping @Sendable () throws -> ExportedVocabulary) {
        self.base = base
        self.vocabulary = vocabulary
    }

    public init(_ base: any Tokenizer, vocabulary: ExportedVocabulary) {
        self.init(base) { vocabulary }
    }

    public func exportVocabulary() throws -> ExportedVocabulary { try vocabulary() }

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
    /// The vocabulary of a llama2.c `tokenizer.bin` (int32 max token length, then per token a
    /// float32 score, an int32 length and the bytes), spelled as llama.cpp's
    /// convert-llama2c-to-ggml writes it: spaces as "▁", "\n<s>\n" as "<s>", byte tokens typed.
    public static func llama2C(path: String, vocabSize: Int) throws -> ExportedVocabulary {
        let file = try MappedFile(path: path)
        func fail(_ reason: String) -> LLMOptError { .badFile(path: path, reason: reason) }
        var offset = 4
        var pieces: [String] = []
        var scores: [Float] = []
        var types: [Int] = []
        guard vocabSize > 0, vocabSize <= (file.size - 4) / 8 else {
            throw fail("cannot hold \(vocabSize) tokens (\(file.size) bytes)")
        }
        for id in 0..<vocabSize {
            guard offset + 8 <= file.size else { throw fail("truncated at token \(id)") }
            let score = file.base.loadUnaligned(fromByteOffset: offset, as: Float.self)
            let length = Int(file.base.loadUnaligned(fromByteOffset: offset + 4, as: Int32.self))
            offset += 8
            guard length >= 0, length <= file.size - offset else { throw fail("token \(id) has length \(length), past the end of the file") }
            var text = String(decoding: UnsafeRawBufferPointer(start: file.base + offset, count: length), as: UTF8.self)
            offset += length
            let type: TokenType
            switch id {
            case 0: type = .unknown
            case 1, 2:
                text = text.trimmingCharacters(in: .newlines)
                type = .control
            default:
                let isByte = text.count == 6 && text.hasPrefix("<0x") && text.hasSuffix(">")
                type = isByte ? .byte : .normal
                text = text.replacingOccurrences(of: " ", with: "\u{2581}")
            }
            pieces.append(text)
            scores.append(score)
            types.append(type.rawValue)
        }
        return ExportedVocabulary(
            model: "llama", pieces: pieces, scores: scores, tokenTypes: types, merges: nil,
            bosTokenId: 1, eosTokenId: 2, unknownTokenId: 0, addBOS: true, addSpacePrefix: true, preTokenizer: nil)
    }

    /// The vocabulary of a Hugging Face `tokenizer.json` BPE model, as llama.cpp's converter
    /// writes it: byte-level files become "gpt2" with their merges; Metaspace files become
    /// "llama" with each merged piece scored by minus the rank of the merge that first makes
    /// it (SentencePiece's convention: earlier merges win). Other tokenizer models are refused.
    static func tokenizerJSON(path: String, loaded: any Tokenizer) throws -> ExportedVocabulary {
        guard let data = FileManager.default.contents(atPath: path),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let model = root["model"] as? [String: Any], let vocab = model["vocab"] as? [String: Int]
        else { throw LLMOptError.badFile(path: path, reason: "no model.vocab object to export") }
        guard model["type"] as? String == "BPE" else {
            throw LLMOptError.unsupported("\(path): only BPE tokenizers can be written to GGUF, this one is \(model["type"] ?? "untyped")")
        }
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
            throw LLMOptError.badFile(path: path, reason: "token ids run to \(count - 1)")
        }
        // Unused ids get placeholder pieces, as llama.cpp's converter writes them.
        let pieces = (0..<count).map { pieceById[$0] ?? "[PAD\($0)]" }
        let merges: [String] = ((model["merges"] as? [Any]) ?? []).compactMap { m in
            if let s = m as? String { return s }
            if let pair = m as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }
            return nil
        }
        let unknown = (model["unk_token"] as? String).flatMap { loaded.tokenId($0) }

        let pre = root["pre_tokenizer"] as? [String: Any]
        let steps = (pre?["type"] as? String == "Sequence") ? (pre?["pretokenizers"] as? [[String: Any]] ?? []) : (pre.map { [$0] } ?? [])
        if steps.last?["type"] as? String == "ByteLevel" {
            let types = (0..<count).map { (typeById[$0] ?? (pieceById[$0] == nil ? .unused : .normal)).rawValue }
            return ExportedVocabulary(
                model: "gpt2", pieces: pieces, scores: nil, tokenTypes: types, merges: merges,
                bosTokenId: loaded.bosTokenId, eosTokenId: loaded.eosTokenId, unknownTokenId: unknown,
                addBOS: loaded.addsBOSByDefault, addSpacePrefix: nil, preTokenizer: byteLevelPreName(steps.dropLast()))
        }
        var scores = [Float](repeating: 0, count: count)
        var scored = Set<Int>()
        for (rank, merge) in merges.enumerated() {
            guard let id = vocab[merge.replacingOccurrences(of: " ", with: "")], scored.insert(id).inserted else { continue }
            scores[id] = -Float(rank)
        }
        let types: [Int] = (0..<count).map { id in
            if let t = typeById[id] { return (id == unknown ? TokenType.unknown : t).rawValue }
            if id == unknown { return TokenType.unknown.rawValue }
            guard let piece = pieceById[id] else { return TokenType.unused.rawValue }
            let isByte = piece.count == 6 && piece.hasPrefix("<0x") && piece.hasSuffix(">")
            return (isByte ? TokenType.byte : TokenType.normal).rawValue
        }
        let prependScheme = pre?["prepend_scheme"] as? String
        return ExportedVocabulary(
            model: "llama", pieces: pieces, scores: scores, tokenTypes: types, merges: nil,
            bosTokenId: loaded.bosTokenId, eosTokenId: loaded.eosTokenId, unknownTokenId: unknown,
            addBOS: loaded.addsBOSByDefault, addSpacePrefix: prependScheme != "never", preTokenizer: nil)
    }

    /// llama.cpp's `tokenizer.ggml.pre` name for the steps before a ByteLevel pre-tokenizer.
    static func byteLevelPreName(_ steps: ArraySlice<[String: Any]>) -> String {
        guard let step = steps.first else { return "gpt-2" }
        if step["type"] as? String == "Digits" { return "smollm" }
        let pattern = (step["pattern"] as? [String: Any])?["Regex"] as? String ?? ""
        if pattern.contains(#"\p{N}{1,3}"#) { return "llama-bpe" }
        if pattern.contains(#"\p{N}|"#) { return "qwen2" }
        return "default"
    }
}
