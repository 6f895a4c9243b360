import Foundation
import LLMOptScript

/// Tab completion for the REPL: built-ins and variables, fields after a dot, named arguments
/// of the function being called, file paths inside strings, and `:` commands.
public struct Completer {
    let interpreter: Interpreter

    public init(interpreter: Interpreter) {
        self.interpreter = interpreter
    }

    /// Candidates for the text before the cursor, and how many characters before the cursor
    /// they replace.
    public func complete(_ before: String) -> (replace: Int, candidates: [String]) {
        let chars = Array(before)
        // `:` commands, `:help topic`, `:load path`.
        let trimmed = before.drop { $0 == " " }
        if trimmed.hasPrefix(":") {
            if let space = trimmed.firstIndex(of: " ") {
                let command = String(trimmed[trimmed.index(after: trimmed.startIndex)..<space])
                let argument = String(trimmed[trimmed.index(after: space)...]).drop { $0 == " " }
                if command == "help" { return (argument.count, Help.topics.filter { $0.hasPrefix(argument) }.sorted()) }
                if command == "load" { return paths(String(argument)) }
                return (0, [])
            }
            let word = String(trimmed.dropFirst())
            return (word.count, REPL.commands.filter { $0.name.hasPrefix(word) }.map { $0.name + ($0.takesArgument ? " " : "") })
        }
        // Inside an unclosed string: a file path.
        if let quote = openStringStart(chars) {
            return paths(String(chars[(quote + 1)...]))
        }
        var start = chars.count
        while start > 0, chars[start - 1].isLetter || chars[start - 1].isNumber || chars[start - 1] == "_" { start -= 1 }
        let word = String(chars[start...])
        // After a dot: fields of the value before it.
        if start > 0, chars[start - 1] == "." {
            let chain = chainBefore(chars, end: start - 1)
            guard !chain.isEmpty, let value = interpreter.peek(chain) else { return (word.count, []) }
            return (word.count, Interpreter.fieldNames(of: value).filter { $0.hasPrefix(word) }.sorted())
        }
        var candidates = Set(interpreter.namesInScope.filter { $0.hasPrefix(word) })
        candidates.formUnion(Interpreter.keywords.filter { $0.hasPrefix(word) && !word.isEmpty })
        // Inside a call: its named arguments.
        if let callee = enclosingCall(chars, before: start), let f = interpreter.peek(callee) {
            let labels = Interpreter.parameterNames(of: f).filter { $0.hasPrefix(word) }.map { $0 + ": " }
            if word.isEmpty { return (0, labels) }
            candidates.formUnion(labels)
        } else if word.isEmpty {
            return (0, [])
        }
        return (word.count, candidates.sorted())
    }

    /// The offset of the quote that opens a string still open at the end of `chars`.
    private func openStringStart(_ chars: [Character]) -> Int? {
        var open: Int? = nil
        var i = 0
        while i < chars.count {
            if chars[i] == "\\", open != nil { i += 2; continue }
            if chars[i] == "\"" { open = open == nil ? i : nil }
            if chars[i] == "#", open == nil { return nil }
            i += 1
        }
        return open
    }

    /// The text of the name/field/index chain that ends at `end` (exclusive): `m.layers[0]`.
    private func chainBefore(_ chars: [Character], end: Int) -> String {
        var i = end
        var depth = 0
        while i > 0 {
            let c = chars[i - 1]
            if c == "]" { depth += 1 } else if c == "[" {
                if depth == 0 { break }
                depth -= 1
            } else if depth == 0, !(c.isLetter || c.isNumber || c == "_" || c == ".") { break }
            i -= 1
        }
        return String(chars[i..<end])
    }

    /// The callee of the innermost call whose `(` is still open before `position`, when the
    /// cursor sits where an argument starts.
    private func enclosingCall(_ chars: [Character], before position: Int) -> String? {
        var i = position
        while i > 0, chars[i - 1] == " " { i -= 1 }
        guard i > 0, chars[i - 1] == "(" || chars[i - 1] == "," else { return nil }
        var depth = 0
        var inString = false
        var j = i - 1
        while j >= 0 {
            let c = chars[j]
            if c == "\"" { inString.toggle() }
            if !inString {
                if c == ")" || c == "]" { depth += 1 }
                if c == "[" { depth -= 1 }
                if c == "(" {
                    if depth == 0 {
                        let callee = chainBefore(chars, end: j)
                        return callee.isEmpty ? nil : callee
                    }
                    depth -= 1
                }
            }
            j -= 1
        }
        return nil
    }

    /// Entries of the folder named by a partial path; folders end in "/".
    private func paths(_ partial: String) -> (replace: Int, candidates: [String]) {
        let expanded = partial.hasPrefix("~") ? (partial as NSString).expandingTildeInPath : partial
        let folder: String, prefix: String
        if let slash = expanded.lastIndex(of: "/") {
            folder = String(expanded[...slash])
            prefix = String(expanded[expanded.index(after: slash)...])
        } else {
            folder = ""
            prefix = expanded
        }
        let base = partial.lastIndex(of: "/").map { String(partial[...$0]) } ?? ""
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder) else { return (0, []) }
        let matches = entries.filter { $0.hasPrefix(prefix) && (prefix.hasPrefix(".") || !$0.hasPrefix(".")) }.sorted().map { name -> String in
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: (folder.isEmpty ? "" : folder) + name, isDirectory: &isDirectory)
            return base + name + (exists && isDirectory.boolValue ? "/" : "")
        }
        return (partial.count, matches)
    }
}
