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

/// Line editing, history and Tab completion through libedit.
public final class LibeditLineReader: LineReader {
    private let editor: OpaquePointer
    public var isInteractive: Bool { true }

    /// The completion function Tab calls; one reader is active per process.
    nonisolated(unsafe) static var completion: ((String) -> (replace: Int, candidates: [String]))?

    /// Opens an editor on the terminal; nil when libedit cannot start.
    public init?(historyPath: String?, completion: @escaping (String) -> (replace: Int, candidates: [String])) {
        LibeditLineReader.completion = completion
        guard let e = llmopt_lineedit_open("llmopt", historyPath, 1000, { editor, before in
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
        llmopt_lineedit_add_history(editor, entry)
    }
}
