/// Cuts text at the special tokens written in it (`<|endoftext|>`, `<|im_start|>`, `<s>`), so
/// that they become single ids and the text between them is tokenized on its own.
/// Matching is leftmost-longest, as Hugging Face's added-token matcher does.
struct SpecialTokenSplitter: Sendable {
    enum Fragment: Equatable {
        /// A byte range of the text to tokenize normally.
        case text(Range<Int>)
        case token(Int)
    }

    /// Candidates by first byte, longest first.
    private let byFirstByte: [UInt8: [(bytes: [UInt8], id: Int)]]

    init(tokens: [(text: String, id: Int)]) {
        var table: [UInt8: [(bytes: [UInt8], id: Int)]] = [:]
        for (text, id) in tokens {
            let bytes = Array(text.utf8)
            guard let first = bytes.first else { continue }
            table[first, default: []].append((bytes, id))
        }
        for key in table.keys { table[key]!.sort { $0.bytes.count > $1.bytes.count } }
        byFirstByte = table
    }

    var isEmpty: Bool { byFirstByte.isEmpty }

    func split(_ text: [UInt8]) -> [Fragment] {
        guard !text.isEmpty else { return [] }
        if byFirstByte.isEmpty { return [.text(0..<text.count)] }
        var fragments: [Fragment] = []
        var start = 0
        var i = 0
        while i < text.count {
            if let candidates = byFirstByte[text[i]], let match = longestMatch(candidates, in: text, at: i) {
                if start < i { fragments.append(.text(start..<i)) }
                fragments.append(.token(match.id))
                i += match.length
                start = i
            } else {
                i += 1
            }
        }
        if start < text.count { fragments.append(.text(start..<text.count)) }
        return fragments
    }

    private func longestMatch(_ candidates: [(bytes: [UInt8], id: Int)], in text: [UInt8], at i: Int) -> (id: Int, length: Int)? {
        for candidate in candidates where i + candidate.bytes.count <= text.count {
            var equal = true
            for k in 1..<candidate.bytes.count where text[i + k] != candidate.bytes[k] {
                equal = false
                break
            }
            if equal { return (candidate.id, candidate.bytes.count) }
        }
        return nil
    }
}
