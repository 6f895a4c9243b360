/// Sizes a script may ask for. Each is checked before anything is allocated, so a typo such
/// as `"a" * 1e12` ends in an error that names the limit instead of exhausting memory.
public enum Limits {
    /// Elements of a list built from a range, `range(...)` or a concatenation.
    public static let listElements = 10_000_000
    /// UTF-8 bytes of a string made by repetition or concatenation (100 MB).
    public static let stringBytes = 100_000_000

    /// "1,000,000" for error messages.
    static func spelled(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }

    /// The elements of a range as a list, refusing one too long to hold.
    static func list(of r: ScriptRange, for what: String) throws -> [Value] {
        guard r.count <= listElements else {
            throw ScriptError("\(what): the range \(r.start)..<\(r.end) has \(spelled(r.count)) values, more than a list may hold (\(spelled(listElements))); loop over it with 'for' instead")
        }
        return (r.start..<max(r.start, r.end)).map { .number(Double($0)) }
    }
}
