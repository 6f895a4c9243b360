import Foundation
import LLMOptREPL
import LLMOptScript

/// The script forms of the command line, handled before the subcommands:
///
///     llmopt                          the REPL
///     llmopt FILE.llmopt              run a script
///     llmopt run FILE [--notebook OUT.md|OUT.html]
///     llmopt -e CODE                  run code given here
///     llmopt check FILE...            report every syntax error, run nothing
public enum ScriptCommands {
    static let usage = """
    usage: llmopt                                 start the REPL
           llmopt FILE.llmopt                     run a script
           llmopt run FILE [--notebook OUT]       run a script; OUT.md or OUT.html gets a notebook
           llmopt -e CODE                         run code
           llmopt check FILE...                   check scripts for syntax errors
    """

    /// The exit status when `arguments` (without the program name) are a script form;
    /// nil when they are for another subcommand.
    public static func run(_ arguments: [String]) -> Int32? {
        guard let first = arguments.first else { return REPL.run() }
        switch first {
        case "repl":
            return arguments.count == 1 ? REPL.run() : usageError("repl takes no arguments")
        case "-e":
            guard arguments.count == 2 else { return usageError("-e needs exactly one argument: the code") }
            return ScriptRunner.run(code: arguments[1])
        case "run":
            var rest = Array(arguments.dropFirst())
            var notebook: String? = nil
            if let i = rest.firstIndex(where: { $0 == "--notebook" || $0.hasPrefix("--notebook=") }) {
                if rest[i].hasPrefix("--notebook=") {
                    notebook = String(rest[i].dropFirst("--notebook=".count))
                    rest.remove(at: i)
                } else {
                    guard i + 1 < rest.count else { return usageError("--notebook needs a file name") }
                    notebook = rest[i + 1]
                    rest.removeSubrange(i...(i + 1))
                }
            }
            guard rest.count == 1 else { return usageError("run needs one script file") }
            return ScriptRunner.run(file: rest[0], notebook: notebook)
        case "check":
            let files = arguments.dropFirst()
            guard !files.isEmpty else { return usageError("check needs at least one script file") }
            return files.map { ScriptRunner.check(file: $0) }.max() ?? ExitStatus.success
        default:
            if first.hasSuffix(".llmopt") {
                guard arguments.count == 1 else { return usageError("a script runs alone; to write a notebook use: llmopt run FILE --notebook OUT") }
                return ScriptRunner.run(file: first)
            }
            return nil
        }
    }

    private static func usageError(_ message: String) -> Int32 {
        ScriptRunner.standardError("error: \(message)\n\(usage)")
        return ExitStatus.usage
    }
}
