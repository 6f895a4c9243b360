import Foundation

/// llama2.c's tokenizer (`tokenizer.bin`, `tok512.bin`), encoding and decoding exactly as
/// `encode` and `decode` in its run.c: a dummy " " in front of non-empty text, one token per
/// UTF-8 character (bytes + 3 when the character is not in the vocabulary), then repeated merges
/// of the adjacent pair whose concatenation is in the vocabulary with the highest score.
///
/// File layout: int32 max_token_length, then per token: float32 score, int32 length, bytes.
public final class Llama2CTokenizer: Tokenizer, VocabularyExporting {
    public let vocabularySize: Int
    public let bosTokenId: Int? = 1
    public let eosTokenId: Int? = 2
    public let addsBOSByDefault = true

    /// Each piece up to its first NUL byte, as run.c sees it through C string functions.
    private let pieces: [[UInt8]]
    private let scores: [Float]
    /// The first id of each piece.
    private let idByPiece: [[UInt8]: Int32]
    private static let bos = 1

    public init(path: String, vocabSize: Int) throws {
        guard vocabSize > 0 else {
            throw LLMOptError.invalidArgument(name: "vocabSize", reason: "must be positive, got \(vocabSize)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LLMOptError.badFile(path: path, reason: "cannot read the llama2.c tokenizer")
        }
        let bytes = [UInt8](data)
        var offset = 0
        func int32() throws -> Int32 {
            guard offset + 4 <= bytes.count else {
                throw LLMOptError.badFile(path: path, reason: "truncated at byte \(offset) (expected \(vocabSize) tokens)")
            }
            let value = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
            offset += 4
            return Int32(bitPattern: value)
        }
        let maxTokenLength = try int32()
        guard maxTokenLength >= 0 else {
            throw LLMOptError.badFile(path: path, reason: "negative max_token_length \(maxTokenLength)")
        }
        var pieces: [[UInt8]] = []
        var scores: [Float] = []
        pieces.reserveCapacity(vocabSize)
        scores.reserveCapacity(vocabSize)
        for id in 0..<vocabSize {
            let score = Float(bitPattern: UInt32(bitPattern: try int32()))
            let length = Int(try int32())
            guard length >= 0, offset + length <= bytes.count else {
                throw LLMOptError.badFile(path: path, reason: "token \(id) has length \(length), past the end of the file (\(bytes.count) bytes)")
            }
            let raw = bytes[offset..<offset + length]
            pieces.append(Array(raw.prefix { $0 != 0 }))
            scores.append(score)
            offset += length
        }
        self.pieces = pieces
        self.scores = scores
        vocabularySize = vocabSize
        var idByPiece: [[UInt8]: Int32] = [:]
        for (id, piece) in pieces.enumerated() where idByPiece[piece] == nil { idByPiece[piece] = Int32(id) }
        self.idByPiece = idByPiece
    }

    public func encode(_ text: String, addBOS: Bool) -> [Int] {
        // run.c reads a C string: it ends at the first NUL.
        let bytes = Array(text.utf8.prefix { $0 != 0 })
        var tokens: [Int32] = []
        tokens.reserveCapacity(bytes.count + 2)
        if addBOS && Self.bos < pieces.count { tokens.append(Int32(Self.bos)) }
        if !bytes.isEmpty, let space = idByPiece[[0x20]] { tokens.append(space) }
        var i = 0
        while i < bytes.count {
            // A character: a byte and up to three continuation bytes after it.
            var end = i + 1
            while end < bytes.count && bytes[end] & 0xC0 == 0x80 && end - i < 4 { end += 1 }
            let character = Array(bytes[i..<end])
            if let id = idByPiece[character] {
                tokens.append(id)
            } else {
                // run.c's byte fallback (id = byte + 3) assumes 256 byte tokens after the three
                // special ones; a smaller vocabulary has no such ids, and gets <unk> (0) instead.
                for b in character { tokens.append(Int(b) + 3 < pieces.count ? Int32(b) + 3 : 0) }
            }
            i = end
        }
        mergeByScore(&tokens)
        return tokens.map { Int($0) }
    }

    /// run.c rescans every pair after each merge and takes the highest score, the leftmost on
    /// ties; a queue keyed by (score, position) gives the same merges in O(n log n).
    private func mergeByScore(_ tokens: inout [Int32]) {
        let n = tokens.count
        guard n > 1 else { return }
        var next = (0..<n).map { Int32($0 + 1) }
        next[n - 1] = -1
        var prev = (0..<n).map { Int32($0 - 1) }
        var alive = [Bool](repeating: true, count: n)
        var mergedOfPair: [UInt64: Int32] = [:]
        /// The token whose piece is the concatenation of the pieces at `left` and after it,
        /// when run.c would merge it (its search starts from a best score of -1e10).
        func pairToken(_ left: Int) -> Int32? {
            guard left >= 0, alive[left], next[left] >= 0 else { return nil }
            let a = tokens[left], b = tokens[Int(next[left])]
            let key = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
            let merged: Int32
            if let known = mergedOfPair[key] {
                merged = known
            } else {
                merged = idByPiece[pieces[Int(a)] + pieces[Int(b)]] ?? -1
                mergedOfPair[key] = merged
            }
            return merged >= 0 && scores[Int(merged)] > -1e10 ? merged : nil
        }
        var queue = PriorityQueue(capacity: n)
        func push(_ left: Int) {
            guard let merged = pairToken(left) else { return }
            queue.push(PriorityQueue.descending(scores[Int(merged)]) << 32 | UInt64(left))
        }
        for i in 0..<(n - 1) { push(i) }
        while let key = queue.pop() {
            let left = Int(key & 0xFFFF_FFFF)
            // A stale entry is skipped unless the pair now at `left` has the same score, in
            // which case its own entry has this very key.
            guard let merged = pairToken(left), PriorityQueue.descending(scores[Int(merged)]) == key >> 32 else { continue }
            let right = Int(next[left])
            tokens[left] = merged
            alive[right] = false
            let after = next[right]
            next[left] = after
            if after >= 0 { prev[Int(after)] = Int32(left) }
            push(Int(prev[left]))
            push(left)
        }
        var merged: [Int32] = []
        var i: Int32 = 0
        while i >= 0 {
            merged.append(tokens[Int(i)])
            i = next[Int(i)]
        }
        tokens = merged
    }

    /// run.c's `decode`: after BOS a leading space of the piece goes, `<0xNN>` pieces become
    /// the byte. BOS itself is never printed by run.c, so it decodes to nothing.
    public func decodeBytes(_ id: Int, previous: Int?) -> [UInt8] {
        guard id >= 0 && id < pieces.count, id != Self.bos else { return [] }
        var piece = pieces[id][...]
        if previous == Self.bos && piece.first == 0x20 { piece = piece.dropFirst() }
        if let byte = Self.byteValue(piece) { return [byte] }
        return Array(piece)
    }

    /// What `sscanf(piece, "<0x%02hhX>", &byte)` reads: "<0x" and one or two hex digits.
    private static func byteValue(_ piece: ArraySlice<UInt8>) -> UInt8? {
        guard piece.starts(with: [0x3C, 0x30, 0x78]) else { return nil }
        var value = 0, digits = 0
        for c in piece.dropFirst(3).prefix(2) {
            guard let d = hexDigit(c) else { break }
            value = value * 16 + d
            digits += 1
        }
        return digits > 0 ? UInt8(value) : nil
    }

    private static func hexDigit(_ c: UInt8) -> Int? {
        switch c {
        case 0x30...0x39: return Int(c - 0x30)
        case 0x41...0x46: return Int(c - 0x41 + 10)
        case 0x61...0x66: return Int(c - 0x61 + 10)
        default: return nil
        }
    }

    public func piece(_ id: Int) -> String {
        id >= 0 && id < pieces.count ? String(decoding: pieces[id], as: UTF8.self) : ""
    }

    public func tokenId(_ piece: String) -> Int? { idByPiece[Array(piece.utf8)].map { Int($0) } }

    /// The vocabulary as a GGUF "llama" (SentencePiece) vocabulary, which llama.cpp tokenizes
    /// the same way: "▁" for spaces, `<unk>` `<s>` `</s>` for ids 0 to 2, `<0xNN>` as bytes.
    public var exportedVocabulary: ExportedVocabulary {
        let names = ["<unk>", "<s>", "</s>"]
        var exported: [String] = []
        var types: [Int] = []
        for (id, bytes) in pieces.enumerated() {
            let piece = String(decoding: bytes, as: UTF8.self)
            if id < names.count {
                exported.append(names[id])
                types.append(id == 0 ? TokenType.unknown.rawValue : TokenType.control.rawValue)
            } else if ByteTokens.byte(of: piece) != nil {
                exported.append(piece)
                types.append(TokenType.byte.rawValue)
            } else {
                exported.append(piece.replacingOccurrences(of: " ", with: "\u{2581}"))
                types.append(TokenType.normal.rawValue)
            }
        }
        return ExportedVocabulary(
            model: "llama", pieces: exported, scores: scores, tokenTypes: types, merges: nil, bosTokenId: 1,
            eosTokenId: 2, unknownTokenId: 0, addBOS: true, addSpacePrefix: true, preTokenizer: nil)
    }
}
