/// The regex pre-tokenizers that cut text into words before byte-level BPE, written as
/// scanners over Unicode scalars. Each variant reproduces the regexes llama.cpp uses for a
/// GGUF `tokenizer.ggml.pre` name (and Hugging Face uses for the same tokenizer.json), in order:
/// every regex splits each piece left by the previous one into its matches and the gaps
/// between them.
enum ByteLevelPreTokenizer: Sendable, Equatable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// Every `\p{N}` on its own, then GPT-2's regex (SmolLM, StarCoder).
    case digitsThenGPT2
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case llama3
    /// Llama 3's regex with single digits (`\p{N}` for `\p{N}{1,3}`).
    case qwen2
    /// llama.cpp's fallback for BPE vocabularies without a known name: punctuation runs,
    /// GPT-2's regex, number runs, then ASCII digit triples.
    case llamaCppDefault

    /// The variant llama.cpp picks for a `tokenizer.ggml.pre` value; nil for names it does not know.
    init?(ggufName: String) {
        switch ggufName {
        case "gpt2", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es",
             "jina-v2-de", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais":
            self = .gpt2
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
            self = .digitsThenGPT2
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe":
            self = .llama3
        case "qwen2", "stablelm2", "megrez":
            self = .qwen2
        case "default", "":
            self = .llamaCppDefault
        default:
            return nil
        }
    }

    /// Splits `scalars` into consecutive word ranges covering all of it.
    func split(_ scalars: [UInt32]) -> [Range<Int>] {
        guard !scalars.isEmpty else { return [] }
        var words: [Range<Int>] = []
        words.reserveCapacity(scalars.count / 3 + 1)
        let whole = 0..<scalars.count
        switch self {
        case .gpt2:
            PreTokenizerScanners.gpt2(scalars, whole, into: &words)
        case .llama3:
            PreTokenizerScanners.llama3(scalars, whole, maxDigits: 3, into: &words)
        case .qwen2:
            PreTokenizerScanners.llama3(scalars, whole, maxDigits: 1, into: &words)
        case .digitsThenGPT2:
            var pieces: [Range<Int>] = []
            PreTokenizerScanners.splitEach(scalars, whole, where: { UnicodeClass.of($0).contains(.number) }, into: &pieces)
            for piece in pieces { PreTokenizerScanners.gpt2(scalars, piece, into: &words) }
        case .llamaCppDefault:
            var pieces: [Range<Int>] = []
            PreTokenizerScanners.splitRuns(scalars, whole, where: PreTokenizerScanners.isDefaultPunctuation, into: &pieces)
            var afterGPT2: [Range<Int>] = []
            for piece in pieces { PreTokenizerScanners.gpt2(scalars, piece, into: &afterGPT2) }
            var afterNumbers: [Range<Int>] = []
            for piece in afterGPT2 {
                PreTokenizerScanners.splitRuns(scalars, piece, where: { UnicodeClass.of($0).contains(.number) }, into: &afterNumbers)
            }
            for piece in afterNumbers { PreTokenizerScanners.splitDigitTriples(scalars, piece, into: &words) }
        }
        return words
    }
}

/// The character classes the pre-tokenizer regexes use.
struct UnicodeClass: OptionSet, Sendable {
    let rawValue: UInt8
    /// `\p{L}`
    static let letter = UnicodeClass(rawValue: 1)
    /// `\p{N}`
    static let number = UnicodeClass(rawValue: 2)
    /// `\s`: the Unicode White_Space property.
    static let whitespace = UnicodeClass(rawValue: 4)
    /// `\p{P}`
    static let punctuation = UnicodeClass(rawValue: 8)

    static func of(_ scalar: UInt32) -> UnicodeClass {
        if scalar < 0x10000 { return UnicodeClass(rawValue: basicPlane[Int(scalar)]) }
        return compute(scalar)
    }

    /// Classes of the Basic Multilingual Plane, looked up on every character.
    private static let basicPlane: [UInt8] = (0..<0x10000).map { compute(UInt32($0)).rawValue }

    private static func compute(_ value: UInt32) -> UnicodeClass {
        guard let scalar = Unicode.Scalar(value) else { return [] }
        var result: UnicodeClass = []
        let properties = scalar.properties
        if properties.isWhitespace { result.insert(.whitespace) }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            result.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber:
            result.insert(.number)
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            result.insert(.punctuation)
        default:
            break
        }
        return result
    }
}

/// Hand-written equivalents of the regexes, each appending the words of `range` to `words`
/// (matches and the unmatched text between them alike).
enum PreTokenizerScanners {
    private static let apostrophe: UInt32 = 0x27, space: UInt32 = 0x20
    private static let carriageReturn: UInt32 = 0x0D, newline: UInt32 = 0x0A

    /// GPT-2's regex. `\s+(?!\S)` keeps the last whitespace of a run for the next word when
    /// something follows the run.
    static func gpt2(_ s: [UInt32], _ range: Range<Int>, into words: inout [Range<Int>]) {
        let end = range.upperBound
        @inline(__always) func cls(_ i: Int) -> UnicodeClass { i < end ? UnicodeClass.of(s[i]) : [] }
        var pos = range.lowerBound
        while pos < end {
            let start = pos
            let c = s[pos]
            if c == apostrophe, let length = contractionLength(s, pos, end, caseInsensitive: false) {
                pos += length
            } else {
                let hasSpace = c == space
                let next = hasSpace ? cls(pos + 1) : cls(pos)
                if next.contains(.letter) {
                    pos += hasSpace ? 1 : 0
                    while cls(pos).contains(.letter) { pos += 1 }
                } else if next.contains(.number) {
                    pos += hasSpace ? 1 : 0
                    while cls(pos).contains(.number) { pos += 1 }
                } else if isSymbolic(next, inRange: pos + (hasSpace ? 1 : 0) < end) {
                    pos += hasSpace ? 1 : 0
                    while pos < end && isSymbolic(cls(pos), inRange: true) { pos += 1 }
                } else {
                    var run = 0
                    while cls(pos + run).contains(.whitespace) { run += 1 }
                    if run > 1 && pos + run < end {
                        pos += run - 1
                    } else if run > 0 {
                        pos += run
                    } else {
                        pos += 1
                    }
                }
            }
            words.append(start..<pos)
        }
    }

    /// Llama 3's regex (Qwen 2's with `maxDigits` 1).
    static func llama3(_ s: [UInt32], _ range: Range<Int>, maxDigits: Int, into words: inout [Range<Int>]) {
        let end = range.upperBound
        @inline(__always) func cls(_ i: Int) -> UnicodeClass { i < end ? UnicodeClass.of(s[i]) : [] }
        @inline(__always) func isLineBreak(_ i: Int) -> Bool { i < end && (s[i] == carriageReturn || s[i] == newline) }
        var pos = range.lowerBound
        while pos < end {
            let c = s[pos]
            let here = cls(pos)
            if c == apostrophe, let length = contractionLength(s, pos, end, caseInsensitive: true) {
                words.append(pos..<pos + length)
                pos += length
                continue
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !isLineBreak(pos) && !here.contains(.number) && (here.contains(.letter) || cls(pos + 1).contains(.letter)) {
                let start = pos
                pos += 1
                while cls(pos).contains(.letter) { pos += 1 }
                words.append(start..<pos)
                continue
            }
            // \p{N}{1,maxDigits}
            if here.contains(.number) {
                var start = pos
                while cls(pos).contains(.number) {
                    pos += 1
                    if pos - start >= maxDigits {
                        words.append(start..<pos)
                        start = pos
                    }
                }
                if start < pos { words.append(start..<pos) }
                continue
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            let hasSpace = c == space
            let next = hasSpace ? cls(pos + 1) : here
            if isSymbolic(next, inRange: pos + (hasSpace ? 1 : 0) < end) {
                let start = pos
                pos += hasSpace ? 1 : 0
                while pos < end && isSymbolic(cls(pos), inRange: true) { pos += 1 }
                while isLineBreak(pos) { pos += 1 }
                words.append(start..<pos)
                continue
            }
            // \s*[\r\n]+ | \s+(?!\S) | \s+
            var run = 0
            var afterLastLineBreak = 0
            while cls(pos + run).contains(.whitespace) {
                if isLineBreak(pos + run) { afterLastLineBreak = pos + run + 1 }
                run += 1
            }
            let start = pos
            if afterLastLineBreak > 0 {
                pos = afterLastLineBreak
            } else if run > 1 && pos + run < end {
                pos += run - 1
            } else if run > 0 {
                pos += run
            } else {
                pos += 1
            }
            words.append(start..<pos)
        }
    }

    /// `[^\s\p{L}\p{N}]`: any character in the text that is not whitespace, letter or number.
    @inline(__always)
    private static func isSymbolic(_ c: UnicodeClass, inRange: Bool) -> Bool {
        inRange && !c.contains(.whitespace) && !c.contains(.letter) && !c.contains(.number)
    }

    /// Length of `'s|'t|'re|'ve|'m|'ll|'d` at `pos`, if one starts there.
    private static func contractionLength(_ s: [UInt32], _ pos: Int, _ end: Int, caseInsensitive: Bool) -> Int? {
        func lower(_ i: Int) -> UInt32 {
            let c = s[i]
            return caseInsensitive && c >= 0x41 && c <= 0x5A ? c + 0x20 : c
        }
        guard pos + 1 < end else { return nil }
        let a = lower(pos + 1)
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return 2 }  // s t m d
        guard pos + 2 < end else { return nil }
        let b = lower(pos + 2)
        if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return 3 }  // re ve ll
        return nil
    }

    /// Every character matching `predicate` becomes its own word (regex `\p{N}`).
    static func splitEach(_ s: [UInt32], _ range: Range<Int>, where predicate: (UInt32) -> Bool, into words: inout [Range<Int>]) {
        var start = range.lowerBound
        for i in range where predicate(s[i]) {
            if start < i { words.append(start..<i) }
            words.append(i..<i + 1)
            start = i + 1
        }
        if start < range.upperBound { words.append(start..<range.upperBound) }
    }

    /// Every maximal run of characters matching `predicate` becomes a word (regex `[...]+`).
    static func splitRuns(_ s: [UInt32], _ range: Range<Int>, where predicate: (UInt32) -> Bool, into words: inout [Range<Int>]) {
        var start = range.lowerBound
        var i = range.lowerBound
        while i < range.upperBound {
            guard predicate(s[i]) else { i += 1; continue }
            var j = i + 1
            while j < range.upperBound && predicate(s[j]) { j += 1 }
            if start < i { words.append(start..<i) }
            words.append(i..<j)
            start = j
            i = j
        }
        if start < range.upperBound { words.append(start..<range.upperBound) }
    }

    /// `[0-9][0-9][0-9]`: runs of ASCII digits cut into triples from their start.
    static func splitDigitTriples(_ s: [UInt32], _ range: Range<Int>, into words: inout [Range<Int>]) {
        @inline(__always) func isDigit(_ i: Int) -> Bool { s[i] >= 0x30 && s[i] <= 0x39 }
        var start = range.lowerBound
        var i = range.lowerBound
        while i + 3 <= range.upperBound {
            if isDigit(i) && isDigit(i + 1) && isDigit(i + 2) {
                if start < i { words.append(start..<i) }
                words.append(i..<i + 3)
                i += 3
                start = i
            } else {
                i += 1
            }
        }
        if start < range.upperBound { words.append(start..<range.upperBound) }
    }

    /// llama.cpp's default first regex `[\p{P}\$\+<=>\^~\|]+`, as it evaluates it: ASCII by the
    /// listed ranges (which leave out the backtick), other characters by their category.
    static func isDefaultPunctuation(_ c: UInt32) -> Bool {
        if c < 0x80 {
            switch c {
            case 0x21...0x2F, 0x3A...0x40, 0x5B...0x5F, 0x7B...0x7E: return true
            default: return false
            }
        }
        let cls = UnicodeClass.of(c)
        return cls.contains(.punctuation) && !cls.contains(.whitespace)
    }
}
