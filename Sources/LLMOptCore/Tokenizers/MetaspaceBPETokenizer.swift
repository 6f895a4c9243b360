/// Hugging Face's `BPE` model with byte fallback behind a Metaspace pre-tokenizer (Llama 2,
/// TinyLlama and Mistral tokenizer.json files): spaces become "▁", a "▁" goes in front of the
/// text, characters missing from the vocabulary fall back to `<0xNN>` byte tokens, and merges
/// apply by rank over the whole text. Decoding turns "▁" back into spaces, byte tokens into
/// bytes, and drops the space the encoder put in front.
public final class MetaspaceBPETokenizer: Tokenizer {
    /// Where the encoder puts a "▁" in front of a text (Metaspace's `prepend_scheme`).
    public enum Prefix: Sendable {
        case never
        /// Only in front of the text at the very start of the input, when it lacks one.
        case first
        /// In front of every text between special tokens, when it lacks one.
        case always
        /// In front of every text between special tokens, unconditionally (the older
        /// `Prepend` normalizer).
        case unconditional
    }

    public let vocabularySize: Int
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let addsBOSByDefault: Bool

    private let pieces: [String]
    private let types: [TokenType]
    private let idByPiece: [String: Int]
    private let merges: MergeTable
    private let prefix: Prefix
    /// Metaspace `split`: every "▁" starts a new word.
    private let splitsWords: Bool
    private let byteTokens: [Int32]?
    private let unknownTokenId: Int?
    private let fusesUnknown: Bool
    private let specials: SpecialTokenSplitter
    private let decodedPieces: [[UInt8]]

    private static let metaspace: [UInt8] = Array("\u{2581}".utf8)

    /// - Parameters:
    ///   - merges: pairs of pieces in rank order.
    ///   - byteFallback: characters missing from the vocabulary become `<0xNN>` tokens;
    ///     without it (or without those tokens) they become `unknownTokenId`.
    public init(
        pieces: [String], merges: [(String, String)], types: [TokenType], bosTokenId: Int?, eosTokenId: Int?,
        unknownTokenId: Int?, addBOS: Bool, prefix: Prefix, splitsWords: Bool, byteFallback: Bool, fusesUnknown: Bool
    ) {
        self.pieces = pieces
        self.types = pieces.indices.map { $0 < types.count ? types[$0] : .normal }
        vocabularySize = pieces.count
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.unknownTokenId = unknownTokenId
        addsBOSByDefault = addBOS && bosTokenId != nil
        self.prefix = prefix
        self.splitsWords = splitsWords
        self.fusesUnknown = fusesUnknown

        var idByPiece: [String: Int] = [:]
        for (id, piece) in pieces.enumerated() { idByPiece[piece] = id }
        self.idByPiece = idByPiece

        var table = MergeTable()
        for (rank, (left, right)) in merges.enumerated() {
            guard let l = idByPiece[left], let r = idByPiece[right], let m = idByPiece[left + right] else { continue }
            table.add(left: l, right: r, merged: m, rank: rank)
        }
        self.merges = table

        let byteTokens = (0..<256).map { idByPiece[ByteTokens.piece(UInt8($0))].map { Int32($0) } ?? -1 }
        self.byteTokens = byteFallback ? byteTokens : nil

        let types = self.types
        specials = SpecialTokenSplitter(tokens: pieces.indices.compactMap { id in
            types[id].isMatchedInText ? (pieces[id], id) : nil
        })
        decodedPieces = pieces.indices.map { id in
            switch types[id] {
            case .control, .unknown, .unused: return []
            case .userDefined: return Array(pieces[id].utf8)
            case .byte, .normal:
                if byteFallback, let byte = ByteTokens.byte(of: pieces[id]) { return [byte] }
                return Array(pieces[id].replacingOccurrences(of: "\u{2581}", with: " ").utf8)
            }
        }
    }

    public func encode(_ text: String, addBOS: Bool) -> [Int] {
        var output: [Int] = []
        if addBOS, let bos = bosTokenId { output.append(bos) }
        let bytes = Array(text.utf8)
        for fragment in specials.split(bytes) {
            switch fragment {
            case .token(let id): output.append(id)
            case .text(let range): encodeText(bytes[range], atStart: range.lowerBound == 0, into: &output)
            }
        }
        return output
    }

    private func encodeText(_ text: ArraySlice<UInt8>, atStart: Bool, into output: inout [Int]) {
        var normalized: [UInt8] = []
        normalized.reserveCapacity(text.count * 2 + 3)
        let startsWithSpace = text.first == 0x20
        let prepend: Bool
        switch prefix {
        case .never: prepend = false
        case .first: prepend = atStart && !startsWithSpace
        case .always: prepend = !startsWithSpace
        case .unconditional: prepend = true
        }
        if prepend { normalized += Self.metaspace }
        for b in text {
            if b == 0x20 { normalized += Self.metaspace } else { normalized.append(b) }
        }
        let (scalars, offsets) = UTF8Scalars.decode(normalized)
        var wordStart = 0
        for i in 0...scalars.count where i == scalars.count || (splitsWords && i > wordStart && scalars[i] == 0x2581) {
            encodeWord(normalized, scalars: wordStart..<i, offsets: offsets, into: &output)
            wordStart = i
        }
    }

    private func encodeWord(_ bytes: [UInt8], scalars: Range<Int>, offsets: [Int], into output: inout [Int]) {
        var symbols: [Int32] = []
        symbols.reserveCapacity(scalars.count)
        var lastWasUnknown = false
        for i in scalars {
            let charBytes = bytes[offsets[i]..<offsets[i + 1]]
            if let id = idByPiece[String(decoding: charBytes, as: UTF8.self)] {
                symbols.append(Int32(id))
                lastWasUnknown = false
            } else if let byteTokens, charBytes.allSatisfy({ byteTokens[Int($0)] >= 0 }) {
                for b in charBytes { symbols.append(byteTokens[Int(b)]) }
                lastWasUnknown = false
            } else if let unknown = unknownTokenId {
                if !(fusesUnknown && lastWasUnknown) { symbols.append(Int32(unknown)) }
                lastWasUnknown = true
            }
        }
        merges.apply(&symbols)
        for id in symbols { output.append(Int(id)) }
    }

    public func decodeBytes(_ id: Int, previous: Int?) -> [UInt8] {
        guard id >= 0 && id < decodedPieces.count else { return [] }
        let bytes = decodedPieces[id]
        // Hugging Face's `Strip` decoder removes the space the encoder added at the start.
        if prefix != .never && (previous == nil || previous == bosTokenId) && bytes.first == 0x20 {
            return Array(bytes.dropFirst())
        }
        return bytes
    }

    public func piece(_ id: Int) -> String { id >= 0 && id < pieces.count ? pieces[id] : "" }

    public func tokenId(_ piece: String) -> Int? { idByPiece[piece] }
}

/// The `<0xNN>` pieces of byte-fallback vocabularies.
enum ByteTokens {
    static func piece(_ byte: UInt8) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        return String(decoding: [0x3C, 0x30, 0x78, hex[Int(byte >> 4)], hex[Int(byte & 15)], 0x3E], as: UTF8.self)
    }

    /// The byte of a piece spelled exactly `<0xNN>` (hex digits in either case).
    static func byte(of piece: String) -> UInt8? {
        let u = Array(piece.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }
}
