import CLineEditShim
import Foundation
import LLMOptCore
import LLMOptScript

/// The interactive loop: reads statements (continuing while brackets, blocks or strings are
/// open), runs them in one session, shows bare values, and answers `:` commands.
public final class REPL {
    struct Command {
        let name: String
        let takesArgument: Bool
        let help: String
    }

    static let commands: [Command] = [
        Command(name: "help", takesArgument: true, help: ":help [topic]   help on a built-in, a family or \"language\""),
        Command(name: "vars", takesArgument: false, help: ":vars           the variables of this session"),
        Command(name: "load", takesArgument: true, help: ":load FILE      run a script in this session"),
        Command(name: "time", takesArgument: true, help: ":time EXPR      run an expression repeatedly: mean and spread"),
        Command(name: "reset", takesArgument: false, help: ":reset          forget every variable"),
        Command(name: "quit", takesArgument: false, help: ":quit           leave (Ctrl-D too)"),
    ]

    public let interpreter: Interpreter
    let reader: LineReader
    let errors: (String) -> Void
    let emit: (String) -> Void
    /// The worst error seen while reading non-interactive input, as an exit status.
    private var status: Int32 = ExitStatus.success
    private var inputCount = 0
    /// Whether a progress line is on screen and must be cleared before the next output.
    var statusLineShown = false

    public init(reader: LineReader, output: @escaping (String) -> Void = { print($0); fflush(stdout) },
                errors: @escaping (String) -> Void = ScriptRunner.standardError) {
        self.reader = reader
        self.emit = output
        self.errors = errors
        self.interpreter = Interpreter(output: StreamOutput(emit: output))
        interpreter.isCancelled = { llmopt_interrupt_pending() != 0 }
        interpreter.output = StreamOutput { [unowned self] text in
            self.clearStatusLine()
            self.emit(text)
        }
    }

    /// Where history is kept: `$LLMOPT_HISTORY`, else `$HOME/.llmopt_history` (the account's
    /// home from the password database only when HOME is unset).
    public static var historyPath: String { historyPath(environment: ProcessInfo.processInfo.environment) }

    static func historyPath(environment: [String: String]) -> String {
        if let path = environment["LLMOPT_HISTORY"], !path.isEmpty { return path }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".llmopt_history")
    }

    /// Runs the REPL on the terminal (libedit) or, when stdin is not a terminal, on plain
    /// lines. Returns the exit status: 0, or for piped input the status of the worst error.
    public static func run() -> Int32 {
        llmopt_install_interrupt_handler()
        var completer: Completer? = nil
        let reader: LineReader
        if llmopt_is_interactive() != 0, let editor = LibeditLineReader(historyPath: historyPath, completion: { completer?.complete($0) ?? (0, []) }) {
            reader = editor
        } else {
            reader = PlainLineReader()
        }
        let repl = REPL(reader: reader)
        completer = Completer(interpreter: repl.interpreter)
        if reader.isInteractive {
            // Long evaluations show where they are on one status line of stderr.
            repl.interpreter.progress = { status in
                FileHandle.standardError.write(Data("\r\u{1b}[2K\(status)".utf8))
                repl.statusLineShown = true
            }
            repl.emit("llmopt: a workbench for smaller, faster language models. :help for help, :quit or Ctrl-D to leave.")
        }
        return repl.loop()
    }

    /// Reads and runs input until the end.
    public func loop() -> Int32 {
        var buffer = ""
        while true {
            let prompt = reader.isInteractive ? (buffer.isEmpty ? "llmopt> " : "   ...> ") : ""
            switch reader.read(prompt: prompt) {
            case .end:
                if reader.isInteractive { emit("") }
                if !buffer.isEmpty { evaluate(buffer) }
                return status
            case .interrupted:
                buffer = ""
            case .line(let line):
                if buffer.isEmpty {
                    let trimmed = line.trimmingCharacters(in: .whitespaces)
                    if trimmed.isEmpty { continue }
                    if trimmed.hasPrefix(":") {
                        reader.addHistory(trimmed)
                        if !command(trimmed) { return status }
                        continue
                    }
                }
                buffer += (buffer.isEmpty ? "" : "\n") + line
                if Interpreter.needsMoreInput(buffer) { continue }
                reader.addHistory(buffer)
                evaluate(buffer)
                buffer = ""
            }
        }
    }

    /// Runs one complete input in the session.
    private func evaluate(_ text: String) {
        inputCount += 1
        llmopt_clear_interrupt()
        let file = SourceFile(name: reader.isInteractive ? "<input \(inputCount)>" : "<stdin>", text: text)
        do {
            try interpreter.run(file)
        } catch {
            clearStatusLine()
            report(error)
        }
        llmopt_clear_interrupt()
        clearStatusLine()
    }

    /// Prints a syntax or runtime error and remembers the exit status it stands for.
    private func report(_ error: Error) {
        switch error {
        case let e as SyntaxErrors:
            e.diagnostics.forEach { errors(DiagnosticRenderer.render($0)) }
            status = max(status, ExitStatus.syntax)
        case let d as Diagnostic:
            errors(DiagnosticRenderer.render(d))
            status = max(status, d.phase == .syntax ? ExitStatus.syntax : ExitStatus.runtime)
        default:
            errors("error: \(error)")
            status = max(status, ExitStatus.runtime)
        }
    }

    private func clearStatusLine() {
        if statusLineShown {
            FileHandle.standardError.write(Data("\r\u{1b}[2K".utf8))
            statusLineShown = false
        }
    }

    /// Runs a `:` command; false means leave.
    private func command(_ line: String) -> Bool {
        let body = line.dropFirst()
        let name = String(body.prefix { !$0.isWhitespace })
        let argument = body.dropFirst(name.count).trimmingCharacters(in: .whitespaces)
        let matches = REPL.commands.filter { $0.name.hasPrefix(name) && !name.isEmpty }
        guard let command = matches.first(where: { $0.name == name }) ?? (matches.count == 1 ? matches[0] : nil) else {
            let hint = closestName(to: name, in: REPL.commands.map(\.name)).map { "; did you mean :\($0)?" } ?? ""
            errors("error: unknown command ':\(name)'\(hint) (:help lists them)")
            return true
        }
        switch command.name {
        case "help":
            if argument.isEmpty {
                emit(Help.text(for: nil)! + "\nREPL commands:\n" + REPL.commands.map { "  " + $0.help }.joined(separator: "\n"))
            } else if let text = Help.text(for: argument) {
                emit(text)
            } else {
                let hint = closestName(to: argument, in: Help.topics).map { "; did you mean '\($0)'?" } ?? ""
                errors("error: no help topic '\(argument)'\(hint)")
            }
        case "vars":
            let vars = interpreter.userVariables
            if vars.isEmpty { emit("no variables yet") }
            let width = vars.map(\.0.count).max() ?? 0
            for (name, value) in vars {
                emit(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + Display.literal(value))
            }
        case "load":
            guard !argument.isEmpty else { errors("error: :load needs a file"); return true }
            let path = argument.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                errors("error: cannot read '\(path)'")
                return true
            }
            llmopt_clear_interrupt()
            do {
                try interpreter.run(SourceFile(name: path, text: text))
            } catch {
                clearStatusLine()
                report(error)
            }
            clearStatusLine()
        case "time":
            time(argument)
        case "reset":
            interpreter.reset()
            emit("session reset")
        default:
            return false
        }
        return true
    }

    /// `:time EXPR`: at least 3 runs, more while under 2 seconds in all (at most 1000).
    private func time(_ expression: String) {
        guard !expression.isEmpty else { errors("error: :time needs an expression"); return }
        let file = SourceFile(name: "<time>", text: expression)
        var seconds: [Double] = []
        llmopt_clear_interrupt()
        do {
            var total = 0.0
            while seconds.count < 3 || (total < 2 && seconds.count < 1000) {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try interpreter.evaluate(file)
                let s = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                seconds.append(s)
                total += s
                if llmopt_interrupt_pending() != 0 { break }
            }
        } catch {
            clearStatusLine()
            report(error)
            return
        }
        clearStatusLine()
        let mean = seconds.reduce(0, +) / Double(seconds.count)
        let spread = (seconds.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(1, seconds.count - 1))).squareRoot()
        emit("\(REPL.duration(mean)) ± \(REPL.duration(spread)) (mean ± std of \(seconds.count) runs; min \(REPL.duration(seconds.min()!)))")
    }

    static func duration(_ s: Double) -> String {
        if s >= 1 { return String(format: "%.3g s", s) }
        if s >= 1e-3 { return String(format: "%.3g ms", s * 1e3) }
        return String(format: "%.3g µs", s * 1e6)
    }
}
