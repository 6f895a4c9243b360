/// A script's text with a table of line starts, so that any character offset maps to a
/// line and a column counted in characters (not bytes), as diagnostics show them.
public final class SourceFile: Sendable {
    public let name: String
    public let text: String
    let chars: [Character]
    /// Character offset of the first character of each line.
    let lineStarts: [Int]

    public init(name: String, text: String) {
        self.name = name
        self.text = text
        let chars = Array(text)
        self.chars = chars
        var starts = [0]
        for (i, c) in chars.enumerated() where c == "\n" || c == "\r\n" { starts.append(i + 1) }
        self.lineStarts = starts
    }

    /// 1-based line and column of a character offset.
    public func lineColumn(of offset: Int) -> (line: Int, column: Int) {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return (lo + 1, offset - lineStarts[lo] + 1)
    }

    /// The text of a 1-based line, without its line break.
    public func line(_ number: Int) -> String {
        guard number >= 1, number <= lineStarts.count else { return "" }
        let start = lineStarts[number - 1]
        var end = number < lineStarts.count ? lineStarts[number] : chars.count
        while end > start, chars[end - 1] == "\n" || chars[end - 1] == "\r\n" || chars[end - 1] == "\r" { end -= 1 }
        return String(chars[start..<end])
    }
}

/// A place in a script: the file and a character offset, resolved to line and column on demand.
public struct SourceLocation: Sendable {
    public let file: SourceFile
    public let offset: Int

    public init(file: SourceFile, offset: Int) {
        self.file = file
        self.offset = offset
    }

    public var line: Int { file.lineColumn(of: offset).line }
    public var column: Int { file.lineColumn(of: offset).column }
    public var description: String {
        let (l, c) = file.lineColumn(of: offset)
        return "\(file.name):\(l):\(c)"
    }
}
