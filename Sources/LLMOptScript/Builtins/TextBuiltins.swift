import Foundation
import LLMOptCore

extension Builtins {
    /// Texts and tokens.
    static let texts: [Builtin] = [
        Builtin("text", family: "texts",
                parameters: [.init("path", "a UTF-8 text file"), .init("chars", .absent, "keep only the first this many characters"),
                             .init("from", .value(.number(0)), "skip this many characters first (e.g. to calibrate on a part of a file that evaluation does not read)")],
                summary: "Reads a text file to evaluate or tokenize. Its fields: content, chars, lines, bytes, path.",
                example: "let t = text(\"Examples/data/hamlet.txt\", chars: 2000)\nt.chars") { args in
            let path = try args.string("path")
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ScriptError("text: cannot read '\(path)'")
            }
            guard var content = String(data: data, encoding: .utf8) else {
                throw ScriptError("text: '\(path)' is not UTF-8 text")
            }
            let from = try args.int("from")
            guard from >= 0 else { throw ScriptError("text: argument 'from' must not be negative") }
            if from > 0 { content = String(content.dropFirst(from)) }
            if let n = try args.optionalInt("chars") {
                guard n >= 0 else { throw ScriptError("text: argument 'chars' must not be negative") }
                content = String(content.prefix(n))
            }
            return .text(TextValue(content: content, source: path))
        },
        Builtin("tokenize", family: "texts",
                parameters: [.init("model", "a model with a tokenizer"), .init("text", "a text or a string"),
                             .init("bos", .absent, "add the BOS token in front (default: what the model does)")],
                summary: "The token ids of a text, as the model's tokenizer makes them.",
                example: "let m = load(\"Tests/Fixtures/models/tiny-llama\")\ntokenize(m, \"Hello world\")") { args in
            let tokenizer = try requireTokenizer(try args.model("model"), args.builtin.name)
            let content = try args.text("text").content
            let ids = args.has("bos") ? tokenizer.encode(content, addBOS: try args.bool("bos")) : tokenizer.encode(content)
            return .list(ids.map { .number(Double($0)) })
        },
        Builtin("detokenize", family: "texts",
                parameters: [.init("model", "a model with a tokenizer"), .init("tokens", "token ids")],
                summary: "The text of a list of token ids.",
                example: "let m = load(\"Tests/Fixtures/models/tiny-llama\")\ndetokenize(m, tokenize(m, \"Hello\"))") { args in
            let tokenizer = try requireTokenizer(try args.model("model"), args.builtin.name)
            let ids = try args.numbers("tokens").map { n -> Int in
                guard n == n.rounded(), n >= 0, Int(n) < tokenizer.vocabularySize else {
                    throw ScriptError("detokenize: \(formatNumber(n)) is not a token id (0..<\(tokenizer.vocabularySize))")
                }
                return Int(n)
            }
            return .string(tokenizer.decode(ids))
        },
    ]

    static func requireTokenizer(_ m: Model, _ function: String) throws -> any Tokenizer {
        guard let t = m.tokenizer else {
            throw ScriptError("\(function): the model has no tokenizer (load it with tokenizer: \"...\")")
        }
        return t
    }
}
