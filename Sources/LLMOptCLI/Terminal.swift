import Foundation
#if canImport(Glibc)
import Glibc
import LLMOptCore
#endif

/// Output conventions of every subcommand: results on stdout, progress and errors on stderr,
/// progress only when stderr is a terminal.
enum Terminal {
    static let stderrIsTTY = isatty(STDERR_FILENO) != 0

    static func error(_ message: String) {
        FileHandle.standardError.write(Data("llmopt: error: \(message.terminalSafe)\n".utf8))
    }

    static func note(_ message: String) {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }

    /// A one-line progress indicator redrawn in place on a terminal; silent otherwise.
    final class Progress {
        let label: String
        private var last = Date.distantPast
        init(_ label: String) { self.label = label }

        func update(_ done: Int, of total: Int, detail: String = "") {
            guard stderrIsTTY, Date().timeIntervalSince(last) > 0.1 || done == total else { return }
            last = Date()
            let width = 30
            let filled = total > 0 ? min(width, done * width / total) : 0
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardError.write(Data("\r\(label) \(bar) \(done)/\(total) \(detail)\u{1B}[K".utf8))
        }

        func finish() {
            guard stderrIsTTY else { return }
            FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        }
    }

    /// Prints a JSON object with sorted keys on stdout.
    /// A measurement's fields as a JSON object, under the names the language's records use.
    static func json(_ m: MeasurementRecord) -> [String: Any] {
        var object: [String: Any] = [:]
        for (name, value) in m.fields {
            switch value {
            case .number(let x): object[name] = x
            case .integer(let i): object[name] = i
            case .text(let s): object[name] = s
            case .integers(let a): object[name] = a
            case .missing: object[name] = NSNull()
            }
        }
        return object
    }

    static func printJSON(_ object: [String: Any]) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        print(String(decoding: data, as: UTF8.self))
    }
}
