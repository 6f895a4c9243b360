/// SentencePiece-style BPE as llama.cpp runs it for GGUF vocabularies of type "llama"
/// (`llm_tokenizer_spm`): spaces become "▁", a space goes in front of the text (and after each
/// special token) when `addSpacePrefix`, the text starts as one symbol per UTF-8 character, and
/// the adjacent pair whose concatenation is a token with the highest score merges first (the
/// leftmost on ties). Symbols that are not tokens fall back to `<0xNN>` byte tokens.
public final class SentencePieceBPETokenizer: Tokenizer, VocabularyExporting {
    public let vocabularySize: Int
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let addsBOSByDefault: Bool

    private let pieces: [String]
    private let scores: [Float]
    /// Each piece's UTF-8 to its id; the last id wins for duplicates, as in llama.cpp.
    private let idByText: [ArraySlice<UInt8>: Int32]
    private let byteTokens: [Int32]
    private let addsSpacePrefix: Bool
    private let specials: SpecialTokenSplitter
    private let decodedPieces: [[UInt8]]
    /// What a GGUF saver writes back.
    public let exportedVocabulary: ExportedVocabulary

    private static let metaspace: [UInt8] = Array("\u{2581}".utf8)

    public init(
        pieces: [String], scores: [Float], types: [TokenType], bosTokenId: Int?, eosTokenId: Int?,
        unknownTokenId: Int?, addBOS: Bool, addSpacePrefix: Bool
    ) {
        self.pieces = pieces
        self.scores = pieces.indices.map { $0 < scores.count ? scores[$0] : 0 }
        vocabularySize = pieces.count
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        addsBOSByDefault = addBOS && bosTokenId != nil
        addsSpacePrefix = addSpacePrefix
        let types = pieces.indices.map { $0 < types.count ? types[$0] : TokenType.normal }

        var idByText: [ArraySlice<UInt8>: Int32] = [:]
        idByText.reserveCapacity(pieces.count)
        for (id, piece) in pieces.enumerated() { idByText[Array(piece.utf8)[...]] = Int32(id) }
        self.idByText = idByText

        // llama.cpp's byte_to_token: "<0xNN>", else the byte itself as a token.
        byteTokens = (0..<256).map { byte in
            idByText[Array(ByteTokens.piece(UInt8(byte)).utf8)[...]] ?? idByText[[UInt8(byte)][...]]
                ?? unknownTokenId.map { Int32($0) } ?? -1
        }

        specials = SpecialTokenSplitter(tokens: pieces.indices.compactMap { id in
            types[id].isMatchedInText ? (pieces[id], id) : nil
        })
        decodedPieces = pieces.indices.map { id in
            switch types[id] {
            case .normal: return Array(pieces[id].replacingOccurrences(of: "\u{2581}", with: " ").utf8)
            case .userDefined: return Array(pieces[id].utf8)
            case .byte:
                let hex = String(decoding: Array(pieces[id].utf8).dropFirst(3).prefix(2), as: UTF8.self)
                return UInt8(hex, radix: 16).map { [$0] } ?? []
            case .control, .unknown, .unused: return []
            }
        }
        exportedVocabulary = ExportedVocabulary(
            model: "llama", pieces: pieces, scores: self.scores, tokenTypes: types.map(\.rawValue), merges: nil,
            bosTokenId: bosTokenId, eosTokenId: eosTokenId, unknownTokenId: unknownTokenId, addBOS: addBOS,
            addSpacePrefix: addSpacePrefix, preTokenizer: nil)
    }

    public func encode(_ text: String, addBOS: Bool) -> [Int] {
        var output: [Int] = []
        if addBOS, let bos = bosTokenId { output.append(bos) }
        let bytes = Array(text.utf8)
        var afterSpecial = true
        for fragment in specials.split(bytes) {
            switch fragment {
            case .token(let id):
                output.append(id)
                afterSpecial = true
            case .text(let range):
                var escaped: [UInt8] = []
                escaped.reserveCapacity(range.count * 2 + 3)
                if addsSpacePrefix && afterSpecial { escaped += Self.metaspace }
                for b in bytes[range] {
                    if b == 0x20 { escaped += Self.metaspace } else { escaped.append(b) }
                }
                tokenize(escaped, into: &output)
                afterSpecial = false
            }
        }
        return output
    }

    /// A candidate merge; `<` puts the higher score first and, on ties, the leftmost pair.
    private struct Bigram: Comparable {
        let score: Float
        let left: Int32, right: Int32
        /// Bytes of the pair when it was queued: a later merge of either side makes it stale.
        let size: Int32
        static func < (a: Bigram, b: Bigram) -> Bool {
            a.score > b.score || (a.score == b.score && a.left < b.left)
        }
    }

    /// llama.cpp's SPM session over escaped text.
    private func tokenize(_ text: [UInt8], into output: inout [Int]) {
        guard !text.isEmpty else { return }
        var start: [Int32] = [], length: [Int32] = [], prev: [Int32] = [], next: [Int32] = []
        var offset = 0
        while offset < text.count {
            let n = min(Self.utf8Length(text[offset]), text.count - offset)
            prev.append(Int32(start.count - 1))
            start.append(Int32(offset))
            length.append(Int32(n))
            offset += n
            next.append(offset == text.count ? -1 : Int32(start.count))
        }
        var queue = PriorityQueue<Bigram>(capacity: start.count)
        func tryAdd(_ left: Int32, _ right: Int32) {
            guard left >= 0, right >= 0 else { return }
            let from = Int(start[Int(left)])
            let size = Int(length[Int(left)] + length[Int(right)])
            guard let id = idByText[text[from..<from + size]] else { return }
            queue.push(Bigram(score: scores[Int(id)], left: left, right: right, size: Int32(size)))
        }
        for i in 1..<start.count { tryAdd(Int32(i - 1), Int32(i)) }
        while let bigram = queue.pop() {
            let l = Int(bigram.left), r = Int(bigram.right)
            guard length[l] != 0, length[r] != 0, length[l] + length[r] == bigram.size else { continue }
            length[l] += length[r]
            length[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[Int(next[r])] = bigram.left }
            tryAdd(prev[l], bigram.left)
            tryAdd(bigram.left, next[l])
        }
        var i: Int32 = 0
        while i >= 0 {
            let from = Int(start[Int(i)])
            let symbol = text[from..<from + Int(length[Int(i)])]
            if let id = idByText[symbol] {
                output.append(Int(id))
            } else {
                for b in symbol where byteTokens[Int(b)] >= 0 { output.append(Int(byteTokens[Int(b)])) }
            }
            i = next[Int(i)]
        }
    }

    /// llama.cpp's `unicode_len_utf8`: a character's byte count from its first byte.
    private static func utf8Length(_ first: UInt8) -> Int {
        switch first >> 4 {
        case 0xC, 0xD: return 2
        case 0xE: return 3
        case 0xF: return 4
        default: return 1
        }
    }

    /// The piece's text with "▁" as spaces; the space the encoder put in front is dropped at
    /// the start of a text and after BOS, as SentencePiece does.
    public func decodeBytes(_ id: Int, previous: Int?) -> [UInt8] {
        guard id >= 0 && id < decodedPieces.count else { return [] }
        let bytes = decodedPieces[id]
        if addsSpacePrefix && (previous == nil || previous == bosTokenId) && bytes.first == 0x20 {
            return Array(bytes.dropFirst())
        }
        return bytes
    }

    public func piece(_ id: Int) -> String { id >= 0 && id < pieces.count ? pieces[id] : "" }

    public func tokenId(_ piece: String) -> Int? { idByText[Array(piece.utf8)[...]].map { Int($0) } }
}
