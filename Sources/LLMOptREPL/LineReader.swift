import CLineEditShim
import Foundation

/// What reading one line gave.
public enum LineInput: Equatable {
    case line(String)
    /// Ctrl-C at the prompt: drop what was typed.
    case interrupted
    /// Ctrl-D or the end of piped input.
    case end
}

/// A source of input lines for the REPL.
public protocol LineReader: AnyObject {
    /// Whether prompts and line editing are shown (false for pipes and files).
    var isInteractive: Bool { get }
    func read(prompt: String) -> LineInput
    func addHistory(_ entry: String)
}

/// Reads stdin plainly: no prompts, no escape codes (for pipes, files and tests).
public final class PlainLineReader: LineReader {
    public init() {}
    public var isInteractive: Bool { false }

    public func read(prompt: String) -> LineInput {
        guard let line = Swift.readLine(strippingNewline: true) else { return .end }
        return .line(line)
    }

    public func addHistory(_ entry: String) {}
}

/// What history keeps. libedit's Ctrl-R search runs a regular expression over every entry at
/// each keystroke and cannot be interrupted: a pasted 300,000-character line made it spin for
/// minutes, and a full history of 4 KB entries took about a second per keystroke (measured on
/// two loaded cores, some 250 ns per byte). Entries over 1 KB are not stored, so a search over
/// the whole history reads at most 1 MB; a history file holding longer ones is cleaned when the
/// REPL starts.
public enum HistoryLimits {
    public static let entryCharacters = 1024
    public static let entries: Int32 = 1000

    /// Whether an entry goes into history.
    public static func keeps(_ entry: String) -> Bool { entry.utf8.count <= entryCharacters }

    /// Drops the too-long lines of a history file (libedit writes one entry per line, with
    /// line breaks inside an entry encoded). Leaves the file alone when nothing is too long.
    public static func clean(file path: String) {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        guard lines.contains(where: { $0.count > entryCharacters }) else { return }
        let kept = lines.filter { $0.count <= entryCharacters }
        var out = Data()
        for (i, line) in kept.enumerated() {
            out.append(contentsOf: line)
            if i < kept.count - 1 { out.append(UInt8(ascii: "\n")) }
        }
        try? out.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// Line editing, history and Tab completion through libedit.
public final class LibeditLineReader: LineReader {
    private let editor: OpaquePointer
    public var isInteractive: Bool { true }

    /// The completion function Tab calls; one reader is active per process.
    nonisolated(unsafe) static var completion: ((String) -> (replace: Int, candidates: [String]))?

    /// Opens an editor on the terminal; nil when libedit cannot start.
    public init?(historyPath: String?, completion: @escaping (String) -> (replace: Int, candidates: [String])) {
        LibeditLineReader.completion = completion
        if let historyPath { HistoryLimits.clean(file: historyPath) }
        guard let e = llmopt_lineedit_open("llmopt", historyPath, HistoryLimits.entries, { editor, before in
            guard let editor, let before, let complete = LibeditLineReader.completion else { return 0 }
            let (replace, candidates) = complete(String(cString: before))
            for c in candidates { llmopt_lineedit_add_candidate(editor, c) }
            return Int32(replace)
        }) else { return nil }
        editor = e
    }

    deinit { llmopt_lineedit_close(editor) }

    public func read(prompt: String) -> LineInput {
        var interrupted: Int32 = 0
        guard let line = llmopt_lineedit_read(editor, prompt, &interrupted) else {
            return interrupted != 0 ? .interrupted : .end
        }
        return .line(String(cString: line))
    }

    public func addHistory(_ entry: String) {
        guard HistoryLimits.keeps(entry) else { return }
        llmopt_lineedit_add_history(editor, entry)
    }
}
