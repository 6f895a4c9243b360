/// GPT-2's byte-level BPE (also SmolLM, Llama 3, Qwen 2): text is cut into words by a regex
/// pre-tokenizer, each word's UTF-8 bytes become the printable characters of GPT-2's byte map,
/// and merges apply by rank. Matches llama.cpp's `llm_tokenizer_bpe` and Hugging Face's
/// `ByteLevel` + `BPE`.
public final class ByteLevelBPETokenizer: Tokenizer {
    public let vocabularySize: Int
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let addsBOSByDefault: Bool

    private let pieces: [String]
    private let idByPiece: [String: Int]
    /// The token of each single byte (-1 where the vocabulary lacks it).
    private let byteTokens: [Int32]
    private let merges: MergeTable
    private let preTokenizer: ByteLevelPreTokenizer
    /// Llama 3: a word that is a token as a whole is taken as it is, without merging.
    private let wholeWordTokens: [[UInt8]: Int32]?
    /// Hugging Face's `add_prefix_space`: a space in front of each text that lacks one.
    private let addsPrefixSpace: Bool
    private let specials: SpecialTokenSplitter
    private let decodedPieces: [[UInt8]]

    /// Whether `preTokenizer` names a pre-tokenizer this tokenizer implements (GGUF's
    /// `tokenizer.ggml.pre`: "gpt-2", "smollm", "llama-bpe", "qwen2", "default"...). The
    /// initializer uses llama.cpp's default regexes for names it does not know.
    public static func supportsPreTokenizer(_ preTokenizer: String) -> Bool {
        ByteLevelPreTokenizer(ggufName: preTokenizer) != nil
    }

    /// A tokenizer from GGUF-style arrays: `pieces` in the byte-mapped alphabet ("Ġthe"),
    /// `merges` as "left right" strings in rank order.
    public convenience init(
        pieces: [String], merges: [String], types: [TokenType], bosTokenId: Int?, eosTokenId: Int?,
        addBOS: Bool, preTokenizer: String
    ) {
        let pairs: [(String, String)] = merges.compactMap { merge in
            // llama.cpp splits at the first space after the first character.
            guard let first = merge.unicodeScalars.first else { return nil }
            let rest = merge.unicodeScalars.dropFirst()
            guard let space = rest.firstIndex(of: " ") else { return nil }
            return (String(first) + String(rest[rest.startIndex..<space]), String(rest[rest.index(after: space)...]))
        }
        let ignoresMerges = ["llama3", "llama-v3", "llama-bpe", "falcon3", "tekken"].contains(preTokenizer)
        self.init(
            pieces: pieces, mergePairs: pairs, types: types, bosTokenId: bosTokenId, eosTokenId: eosTokenId,
            addBOS: addBOS, preTokenizer: ByteLevelPreTokenizer(ggufName: preTokenizer) ?? .llamaCppDefault,
            ignoresMerges: ignoresMerges, addsPrefixSpace: false)
    }

    init(
        pieces: [String], mergePairs: [(String, String)], types: [TokenType], bosTokenId: Int?, eosTokenId: Int?,
        addBOS: Bool, preTokenizer: ByteLevelPreTokenizer, ignoresMerges: Bool, addsPrefixSpace: Bool
    ) {
        self.pieces = pieces
        vocabularySize = pieces.count
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        addsBOSByDefault = addBOS && bosTokenId != nil
        self.preTokenizer = preTokenizer
        self.addsPrefixSpace = addsPrefixSpace

        var idByPiece: [String: Int] = [:]
        idByPiece.reserveCapacity(pieces.count)
        for (id, piece) in pieces.enumerated() { idByPiece[piece] = id }
        self.idByPiece = idByPiece

        let byteMap = ByteLevelAlphabet.shared
        byteTokens = (0..<256).map { byte in
            idByPiece[String(Character(byteMap.character(for: UInt8(byte))))].map { Int32($0) } ?? -1
        }

        var table = MergeTable()
        for (rank, (left, right)) in mergePairs.enumerated() {
            guard let l = idByPiece[left], let r = idByPiece[right], let m = idByPiece[left + right] else { continue }
            table.add(left: l, right: r, merged: m, rank: rank)
        }
        merges = table

        let tokenType = { (id: Int) in id < types.count ? types[id] : TokenType.normal }
        if ignoresMerges {
            var whole: [[UInt8]: Int32] = [:]
            for (id, piece) in pieces.enumerated() where tokenType(id) == .normal {
                if let bytes = byteMap.bytes(of: piece) { whole[bytes] = Int32(id) }
            }
            wholeWordTokens = whole
        } else {
            wholeWordTokens = nil
        }

        specials = SpecialTokenSplitter(tokens: pieces.indices.compactMap { id in
            tokenType(id).isMatchedInText ? (pieces[id], id) : nil
        })
        decodedPieces = pieces.indices.map { id in
            switch tokenType(id) {
            case .control, .unknown, .unused: return []
            case .userDefined: return Array(pieces[id].utf8)
            case .normal, .byte: return byteMap.bytesKeepingUnmapped(of: pieces[id])
            }
        }
    }

    public func encode(_ text: String, addBOS: Bool) -> [Int] {
        var output: [Int] = []
        if addBOS, let bos = bosTokenId { output.append(bos) }
        let bytes = Array(text.utf8)
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        for fragment in specials.split(bytes) {
            switch fragment {
            case .token(let id):
                output.append(id)
            case .text(let range):
                if addsPrefixSpace && bytes[range.lowerBound] != 0x20 {
                    encodeText([0x20] + bytes[range], into: &output, cache: &cache)
                } else {
                    encodeText(Array(bytes[range]), into: &output, cache: &cache)
                }
            }
        }
        return output
    }

    /// Pre-tokenizes `bytes` (valid UTF-8) and merges each word, reusing earlier words' results.
    private func encodeText(_ bytes: [UInt8], into output: inout [Int], cache: inout [ArraySlice<UInt8>: [Int32]]) {
        let (scalars, offsets) = UTF8Scalars.decode(bytes)
        for word in preTokenizer.split(scalars) {
            let wordBytes = bytes[offsets[word.lowerBound]..<offsets[word.upperBound]]
            let ids: [Int32]
            if let cached = cache[wordBytes] {
                ids = cached
            } else {
                ids = encodeWord(wordBytes)
                cache[wordBytes] = ids
            }
            for id in ids { output.append(Int(id)) }
        }
    }

    private func encodeWord(_ word: ArraySlice<UInt8>) -> [Int32] {
        if let whole = wholeWordTokens?[Array(word)] { return [whole] }
        var symbols = word.map { byteTokens[Int($0)] }
        merges.apply(&symbols)
        // A byte missing from the vocabulary produces nothing, as in llama.cpp.
        return symbols.filter { $0 >= 0 }
    }

    public func decodeBytes(_ id: Int, previous: Int?) -> [UInt8] {
        id >= 0 && id < decodedPieces.count ? decodedPieces[id] : []
    }

    public func piece(_ id: Int) -> String { id >= 0 && id < pieces.count ? pieces[id] : "" }

    public func tokenId(_ piece: String) -> Int? { idByPiece[piece] }
}

/// GPT-2's reversible map from bytes to printable characters: printable Latin-1 bytes map to
/// themselves, the other 68 bytes to U+0100 and up, in byte order.
struct ByteLevelAlphabet: Sendable {
    static let shared = ByteLevelAlphabet()

    private let characters: [Unicode.Scalar]
    private let byteOfScalar: [UInt32: UInt8]

    private init() {
        var characters = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                characters[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                characters[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        self.characters = characters
        var byteOfScalar: [UInt32: UInt8] = [:]
        for (byte, c) in characters.enumerated() { byteOfScalar[c.value] = UInt8(byte) }
        self.byteOfScalar = byteOfScalar
    }

    func character(for byte: UInt8) -> Unicode.Scalar { characters[Int(byte)] }

    /// The bytes a piece stands for, or nil when it has characters outside the map.
    func bytes(of piece: String) -> [UInt8]? {
        var result: [UInt8] = []
        for c in piece.unicodeScalars {
            guard let b = byteOfScalar[c.value] else { return nil }
            result.append(b)
        }
        return result
    }

    /// The bytes a piece stands for; characters outside the map keep their own UTF-8.
    func bytesKeepingUnmapped(of piece: String) -> [UInt8] {
        var result: [UInt8] = []
        for c in piece.unicodeScalars {
            if let b = byteOfScalar[c.value] { result.append(b) } else { result += Array(String(c).utf8) }
        }
        return result
    }
}

/// Unicode scalars of valid UTF-8 with the byte offset where each starts (plus the end).
enum UTF8Scalars {
    static func decode(_ bytes: [UInt8]) -> (scalars: [UInt32], offsets: [Int]) {
        var scalars: [UInt32] = []
        var offsets: [Int] = []
        scalars.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = UInt32(bytes[i])
            offsets.append(i)
            if b0 < 0x80 {
                scalars.append(b0)
                i += 1
            } else if b0 < 0xE0 {
                scalars.append((b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F))
                i += 2
            } else if b0 < 0xF0 {
                scalars.append((b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F))
                i += 3
            } else {
                scalars.append((b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12
                    | UInt32(bytes[i + 2] & 0x3F) << 6 | UInt32(bytes[i + 3] & 0x3F))
                i += 4
            }
        }
        offsets.append(n)
        return (scalars, offsets)
    }
}
