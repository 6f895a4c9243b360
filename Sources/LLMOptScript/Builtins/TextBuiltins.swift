import Foundation

extension Builtins {
    /// Texts to evaluate on.
    static let texts: [Builtin] = [
        Builtin("text", family: "texts",
                parameters: [.init("path", "a UTF-8 text file"), .init("chars", .absent, "keep only the first this many characters")],
                summary: "Reads a text file to evaluate or tokenize. Its fields: content, chars, lines, bytes, path.",
                example: "let t = text(\"Examples/data/tinystories-valid.txt\", chars: 2000)\nt.chars") { args in
            let path = try args.string("path")
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ScriptError("text: cannot read '\(path)'")
            }
            guard var content = String(data: data, encoding: .utf8) else {
                throw ScriptError("text: '\(path)' is not UTF-8 text")
            }
            if let n = try args.optionalInt("chars") {
                guard n >= 0 else { throw ScriptError("text: argument 'chars' must not be negative") }
                content = String(content.prefix(n))
            }
            return .text(TextValue(content: content, source: path))
        },
    ]
}
