import Foundation
import LLMOptCore

/// Mutations that know where the numbers that matter sit: integers that are counts, offsets,
/// lengths, ids or dimensions get boundary values (0, -1, 2^31, 2^40, Int64.max...), JSON is
/// changed as a tree, and scripts are changed as tokens.
struct Mutator {
    var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }
    mutating func chance(_ p: Double) -> Bool { Double(rng.next() % 1_000_000) / 1_000_000 < p }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    static let interesting: [UInt64] = [
        0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 127, 128, 255, 256, 511, 512, 1023, 1024, 4096, 65535, 65536,
        0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 32, (1 << 32) + 1, 1 << 40, 1 << 48, 1 << 62, 1 << 63,
        UInt64(Int64.max), UInt64.max, UInt64.max - 1, 100_000_000,
    ]

    /// A value near `old` or a boundary value.
    mutating func integer(old: UInt64) -> UInt64 {
        switch below(4) {
        case 0: return old &+ UInt64(below(33)) &- 16
        case 1: return old &* 2 &+ UInt64(below(2))
        default: return pick(Self.interesting)
        }
    }

    /// Byte-level mutations concentrated in `[0, hot)` (a file's header: counts, offsets,
    /// lengths, shapes); `ints` are offsets known to hold integers of the given width.
    mutating func binary(_ bytes: [UInt8], hot: Int, ints: [(offset: Int, width: Int)] = []) -> [UInt8] {
        var d = bytes
        let rounds = 1 + below(4)
        for _ in 0..<rounds {
            guard !d.isEmpty else { d = [UInt8](repeating: 0, count: 16); continue }
            let region = max(1, min(hot, d.count))
            let at = chance(0.85) ? below(region) : below(d.count)
            switch below(10) {
            case 0, 1, 2:
                // An integer field: a known one, or any offset in the header.
                let (offset, width) = !ints.isEmpty && chance(0.6) ? pick(ints) : (at, pick([1, 2, 4, 8]))
                guard offset + width <= d.count else { continue }
                var old: UInt64 = 0
                for i in 0..<width { old |= UInt64(d[offset + i]) << (8 * i) }
                let v = integer(old: old)
                for i in 0..<width { d[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
            case 3: d[at] ^= UInt8(1 << below(8))
            case 4: d[at] = UInt8(truncatingIfNeeded: rng.next())
            case 5: d.removeSubrange(min(at, d.count)..<d.count) // truncate
            case 6:
                let n = 1 + below(64)
                d.removeSubrange(at..<min(d.count, at + n))
            case 7:
                let n = 1 + below(64)
                d.insert(contentsOf: (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            case 8:
                // Copy a chunk elsewhere (repeats a record, a string, a tensor info).
                let n = 1 + below(256)
                let from = below(region)
                let chunk = Array(d[from..<min(d.count, from + n)])
                d.insert(contentsOf: chunk, at: below(region))
            default:
                let n = 1 + below(8)
                for i in at..<min(d.count, at + n) { d[i] = pick([0x00, 0xff, 0x7f, 0x80, 0x20, 0x22, 0x5c, 0x7b, 0x7d]) }
            }
        }
        return d
    }

    // MARK: - JSON

    /// A JSON document changed at one to three places of its tree; sometimes a value is
    /// replaced by deeply nested arrays (written as text: the serializer would recurse).
    mutating func json(_ data: Data) -> Data {
        guard var root = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            return Data(binary([UInt8](data), hot: data.count))
        }
        var deep: Int? = nil
        for _ in 0..<(1 + below(3)) {
            if chance(0.03) { deep = pick([600, 5_000, 100_000]) }
            root = mutateNode(root, depth: 0, placeholder: deep != nil)
        }
        guard var out = try? JSONSerialization.data(withJSONObject: root, options: [.fragmentsAllowed]) else { return data }
        if let deep, let text = String(data: out, encoding: .utf8), text.contains("\"\\u0001NEST\"") {
            let nested = String(repeating: "[", count: deep) + "1" + String(repeating: "]", count: deep)
            out = Data(text.replacingOccurrences(of: "\"\\u0001NEST\"", with: nested).utf8)
        }
        if chance(0.1) { return Data(binary([UInt8](out), hot: out.count)) }
        return out
    }

    private mutating func randomValue(placeholder: Bool) -> Any {
        switch below(9) {
        case 0: return NSNull()
        case 1: return Int64(bitPattern: pick(Self.interesting))
        case 2: return -Int64(below(1 << 20))
        case 3: return pick([0.5, -1.5, 1e308, -1e308, Double.leastNonzeroMagnitude, 3.0e9])
        case 4: return pick(["", "\u{1b}[31m", "\u{0}", "\u{202e}rev", String(repeating: "A", count: 10_000), "<s>", "Ġ", "▁", "<0xFF>", "a b"])
        case 5: return [Any]()
        case 6: return [String: Any]()
        case 7: return placeholder ? "\u{1}NEST" : [1, 2, 3]
        default: return Bool(below(2) == 1)
        }
    }

    private mutating func mutateNode(_ node: Any, depth: Int, placeholder: Bool) -> Any {
        let descend = depth < 6 && chance(0.8)
        if var object = node as? [String: Any], !object.isEmpty {
            let key = pick(Array(object.keys))
            if descend { object[key] = mutateNode(object[key]!, depth: depth + 1, placeholder: placeholder); return object }
            switch below(3) {
            case 0: object[key] = nil
            case 1: object[key] = randomValue(placeholder: placeholder)
            default: object[pick(["vocab", "merges", "type", "id", "added_tokens", "hidden_size", "num_hidden_layers", "vocab_size", "dtype", "shape", "data_offsets"])] = randomValue(placeholder: placeholder)
            }
            return object
        }
        if var array = node as? [Any], !array.isEmpty {
            let i = below(array.count)
            if descend { array[i] = mutateNode(array[i], depth: depth + 1, placeholder: placeholder); return array }
            switch below(5) {
            case 0: array.remove(at: i)
            case 1: array.append(array[i])
            case 2: array[i] = randomValue(placeholder: placeholder)
            case 3: array = Array(array.prefix(below(array.count)))
            default: array.swapAt(i, below(array.count))
            }
            return array
        }
        if let n = node as? NSNumber {
            return chance(0.5) ? Int64(bitPattern: integer(old: UInt64(bitPattern: n.int64Value))) : randomValue(placeholder: placeholder)
        }
        return randomValue(placeholder: placeholder)
    }

    // MARK: - Scripts

    static let fragments = [
        "(", ")", "[", "]", "{", "}", ",", ":", ".", "+", "-", "*", "/", "%", "**", "|>", "..<", "...", "==", "=", "+=",
        "\n", " ", "\"", "\\(", "#", "let x = ", "fn", "if", "else", "for i in ", "while", "return", "break", "continue",
        "not", "and", "or", "nil", "true", "0", "1", "-1", "1e12", "1e300", "0.5", "999999999999999", "1e15", "-0",
        "x", "m", "len(", "range(", "map(", "print(", "load(", "text(", "quantize(", "prune(", "perplexity(", "bench(",
        "generate(", "compare(", "sparsity(", "tokenize(", "help(", "plot(", "sort(", "keys(", "\"a\" * ", "0..<100000000",
        "ctx: ", "samples: ", "length: ", "bits: ", "group: ", "sparsity: ", "prompt: ", "decode: ", "max_tokens: ",
        "\u{1b}", "\u{0}", "\u{202e}", "é", "😀",
    ]

    /// A script changed at a few places by whole fragments; sometimes a piece is repeated or
    /// nested hundreds of times.
    mutating func script(_ text: String, splice other: String) -> String {
        var chars = Array(text)
        for _ in 0..<(1 + below(4)) {
            let at = below(chars.count + 1)
            switch below(8) {
            case 0, 1: chars.insert(contentsOf: pick(Self.fragments), at: at)
            case 2:
                let n = 1 + below(20)
                chars.removeSubrange(at..<min(chars.count, at + n))
            case 3:
                let o = Array(other)
                guard !o.isEmpty else { continue }
                let from = below(o.count), n = 1 + below(200)
                chars.insert(contentsOf: o[from..<min(o.count, from + n)], at: at)
            case 4:
                let n = 1 + below(40)
                let piece = Array(chars[min(at, chars.count)..<min(chars.count, at + n)])
                let times = pick([2, 3, 10, 300, 3000])
                for _ in 0..<times where chars.count < 200_000 { chars.insert(contentsOf: piece, at: at) }
            case 5:
                let (open, close) = pick([("(", ")"), ("[", "]"), ("-(", ")"), ("\"\\(", ")\""), ("fn() { ", " }"), ("if true { ", " }")])
                let times = pick([1, 5, 300, 3000])
                chars.insert(contentsOf: String(repeating: close, count: times), at: min(chars.count, at + below(30)))
                chars.insert(contentsOf: String(repeating: open, count: times), at: at)
            case 6:
                // A number replaced by a boundary value.
                if let i = chars.indices.dropFirst(at).first(where: { chars[$0].isNumber }) {
                    chars.replaceSubrange(i...i, with: pick(["0", "-1", "1e9", "1e12", "1e300", "0.000001", "99999999", "2147483648"]))
                }
            default:
                if at < chars.count { chars.remove(at: at) }
            }
        }
        return String(chars)
    }
}
