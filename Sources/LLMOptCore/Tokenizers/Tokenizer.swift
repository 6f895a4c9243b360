/// Text to token ids and back. Every tokenizer reproduces its reference implementation exactly.
public protocol Tokenizer: Sendable {
    var vocabularySize: Int { get }
    var bosTokenId: Int? { get }
    var eosTokenId: Int? { get }
    /// Whether `encode(_:addBOS:)` adds BOS by default for this model (Llama: yes, GPT-2: no).
    var addsBOSByDefault: Bool { get }

    /// Token ids for `text`, with BOS in front when `addBOS` is true and the tokenizer has one.
    /// Special tokens written in the text (`<|endoftext|>`, `<|im_start|>`) map to their ids.
    func encode(_ text: String, addBOS: Bool) -> [Int]
    /// The bytes of one token's piece as it appears in decoded text. `previous` is the token
    /// before it (nil at the start), for tokenizers that drop the space after BOS.
    func decodeBytes(_ id: Int, previous: Int?) -> [UInt8]
    /// The text of a token (for display; byte tokens show as `<0xNN>`).
    func piece(_ id: Int) -> String
    /// The id of a token written exactly, e.g. `"<|im_end|>"`.
    func tokenId(_ piece: String) -> Int?
}

extension Tokenizer {
    public func encode(_ text: String) -> [Int] { encode(text, addBOS: addsBOSByDefault) }

    /// Decodes a whole sequence; invalid UTF-8 becomes U+FFFD.
    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        var previous: Int? = nil
        for id in ids {
            bytes += decodeBytes(id, previous: previous)
            previous = id
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The kind of a vocabulary entry, with GGUF's `tokenizer.ggml.token_type` values.
public enum TokenType: Int, Sendable {
    case normal = 1
    case unknown = 2
    /// BOS, EOS, chat markers: matched in text as whole tokens, decoded to nothing.
    case control = 3
    /// Added tokens that are not special: matched in text as whole tokens, decoded as written.
    case userDefined = 4
    case unused = 5
    /// `<0xNN>` byte-fallback tokens.
    case byte = 6

    /// Whether text spelling this token out encodes to the token itself (llama.cpp's
    /// `parse_special`, Hugging Face's added tokens).
    var isMatchedInText: Bool { self == .control || self == .userDefined || self == .unknown }
}
