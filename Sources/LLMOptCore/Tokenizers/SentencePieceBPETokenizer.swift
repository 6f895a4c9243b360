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
    private let chunker: MetaspaceChunker
    private let decodedPieces: [[UInt8]]
    private let types: [TokenType]
    private let unknownTokenId: Int?
    private let addsBOSSetting: Bool

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
        chunker = MetaspaceChunker(pieces: pieces)
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
        self.types = types
        self.unknownTokenId = unknownTokenId
        addsBOSSetting = addBOS
    }

    public func encode(_ text: String, addBOS: Bool) -> [Int] {
        var output: [Int] = []
        if addBOS, let bos = bosTokenId { output.append(bos) }
        let bytes = Array(text.utf8)
        var afterSpecial = true
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
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
                for chunk in chunker.chunks(escaped) {
                    let key = escaped[chunk]
                    if cache[key] == nil { cache[key] = tokenize(Array(key)) }
                    for id in cache[key]! { output.append(Int(id)) }
                }
                afterSpecial = false
            }
        }
        return output
    }

    /// llama.cpp's SPM session over escaped text. Queue keys order candidate pairs by score,
    /// highest first, then by position, leftmost first.
    private func tokenize(_ text: [UInt8]) -> [Int32] {
        var output: [Int32] = []
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
        /// The token that the symbol at `left` and the one after it spell together, if any.
        func pairToken(_ left: Int) -> Int32? {
            guard left >= 0, length[left] > 0, next[left] >= 0 else { return nil }
            let from = Int(start[left])
            return idByText[text[from..<from + Int(length[left] + length[Int(next[left])])]]
        }
        var queue = PriorityQueue(capacity: start.count)
        func push(_ left: Int) {
            guard let id = pairToken(left) else { return }
            queue.push(PriorityQueue.descending(scores[Int(id)]) << 32 | UInt64(left))
        }
        for i in 0..<(start.count - 1) { push(i) }
        while let key = queue.pop() {
            let l = Int(key & 0xFFFF_FFFF)
            // A queued pair is stale once either side has merged. The pair now at `l` with the
            // same score has a key equal to this one, so taking it here is what llama.cpp's
            // length check amounts to.
            guard let id = pairToken(l), PriorityQueue.descending(scores[Int(id)]) == key >> 32 else { continue }
            let r = Int(next[l])
            length[l] += length[r]
            length[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[Int(next[r])] = Int32(l) }
            push(Int(prev[l]))
            push(l)
        }
        var i: Int32 = 0
        while i >= 0 {
            let from = Int(start[Int(i)])
            let symbol = text[from..<from + Int(length[Int(i)])]
            if let id = idByText[symbol] {
                output.append(id)
            } else {
                for b in symbol where byteTokens[Int(b)] >= 0 { output.append(byteTokens[Int(b)]) }
            }
            i = next[Int(i)]
        }
        return output
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

    /// The vocabulary as GGUF's "llama" model holds it.
    public var exportedVocabulary: ExportedVocabulary {
        ExportedVocabulary(
            model: "llama", pieces: pieces, scores: scores, tokenTypes: types.map(\.rawValue), merges: nil,
            bosTokenId: bosTokenId, eosTokenId: eosTokenId, unknownTokenId: unknownTokenId, addBOS: addsBOSSetting,
            addSpacePrefix: addsSpacePrefix, preTokenizer: nil)
    }
}
