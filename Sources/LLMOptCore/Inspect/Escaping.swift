extension String {
    /// The string with what a terminal would act on made visible: control characters (ESC,
    /// NUL, line breaks...), Unicode format characters such as the right-to-left override
    /// U+202E, and unassigned or private-use scalars become `\u{...}` escapes; backslashes and
    /// quotes stay as they are. For names and pieces read from files, shown in messages.
    public var debugEscaped: String { escaped(keepingLineBreaks: false) }

    /// `debugEscaped`, but line breaks and tabs stay: for multi-line messages on a terminal.
    public var terminalSafe: String { escaped(keepingLineBreaks: true) }

    private func escaped(keepingLineBreaks: Bool) -> String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for scalar in unicodeScalars {
            if keepingLineBreaks && (scalar == "\n" || scalar == "\t") {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar.properties.generalCategory {
            case .control, .format, .unassigned, .privateUse, .surrogate, .lineSeparator, .paragraphSeparator:
                out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
