import Foundation

/// Exit statuses of the script commands, after BSD's sysexits.h.
public enum ExitStatus {
    public static let success: Int32 = 0
    /// Wrong command-line use (EX_USAGE).
    public static let usage: Int32 = 64
    /// The script has syntax errors (EX_DATAERR).
    public static let syntax: Int32 = 65
    /// The script file cannot be read (EX_NOINPUT).
    public static let noInput: Int32 = 66
    /// The script stopped on a runtime error (EX_SOFTWARE).
    public static let runtime: Int32 = 70
}

/// Writes output straight to the terminal (or whatever stdout is): plain text for `print`,
/// the rich form for bare expressions.
public final class StreamOutput: OutputSink {
    let emit: (String) -> Void

    public init(emit: @escaping (String) -> Void = { print($0); fflush(stdout) }) {
        self.emit = emit
    }

    public func beginStatement(_ statement: Stmt) {}
    public func write(_ text: String) { emit(text) }
    /// Values show names read from files (tensors, tokens): control characters come escaped.
    public func show(_ value: Value) { emit(Display.rich(value).terminalSafe) }
}

/// Sends everything to several sinks (the terminal and a notebook).
final class TeeOutput: OutputSink {
    let sinks: [OutputSink]
    init(_ sinks: [OutputSink]) { self.sinks = sinks }
    func beginStatement(_ statement: Stmt) { sinks.forEach { $0.beginStatement(statement) } }
    func write(_ text: String) { sinks.forEach { $0.write(text) } }
    func show(_ value: Value) { sinks.forEach { $0.show(value) } }
}

/// The library side of `llmopt FILE`, `llmopt run FILE --notebook OUT`, `llmopt -e CODE` and
/// `llmopt check FILE`. Each returns the process exit status.
public enum ScriptRunner {
    /// Writes an error to stderr with control characters from files and scripts (ESC, NUL,
    /// U+202E...) escaped, so a message cannot drive the terminal.
    public static let standardError: (String) -> Void = { FileHandle.standardError.write(Data(($0.terminalSafe + "\n").utf8)) }

    /// Runs a script file. With `notebook` (a path ending in `.md` or `.html`), also writes each
    /// top-level statement and its output there, even when the script stops on an error.
    public static func run(file path: String, notebook: String? = nil,
                           output: OutputSink = StreamOutput(), errors: (String) -> Void = standardError) -> Int32 {
        var format: NotebookFormat? = nil
        if let notebook {
            guard let f = NotebookFormat(path: notebook) else {
                errors("error: notebook '\(notebook)' must end in .md or .html")
                return ExitStatus.usage
            }
            format = f
        }
        guard let source = readSource(path, errors: errors) else { return ExitStatus.noInput }
        let recorder = NotebookRecorder(file: source)
        let sink: OutputSink = format == nil ? output : TeeOutput([output, recorder])
        let status = execute(source, output: sink, errors: errors, recorder: recorder)
        if let format, let notebook {
            do {
                try recorder.notebook.render(format).write(toFile: notebook, atomically: true, encoding: .utf8)
            } catch {
                errors("error: cannot write notebook '\(notebook)': \(error.localizedDescription)")
                return status == ExitStatus.success ? ExitStatus.noInput : status
            }
        }
        return status
    }

    /// Runs code given on the command line (`llmopt -e CODE`).
    public static func run(code: String, output: OutputSink = StreamOutput(), errors: (String) -> Void = standardError) -> Int32 {
        execute(SourceFile(name: "<command line>", text: code), output: output, errors: errors, recorder: nil)
    }

    /// Parses a file and reports every syntax error without running it.
    public static func check(file path: String, errors: (String) -> Void = standardError) -> Int32 {
        guard let source = readSource(path, errors: errors) else { return ExitStatus.noInput }
        do {
            _ = try Interpreter.parse(source)
            return ExitStatus.success
        } catch let e as SyntaxErrors {
            report(e, errors: errors)
            return ExitStatus.syntax
        } catch {
            errors("error: \(error)")
            return ExitStatus.syntax
        }
    }

    static func readSource(_ path: String, errors: (String) -> Void) -> SourceFile? {
        guard let data = FileManager.default.contents(atPath: path) else {
            errors("error: cannot read script '\(path)'")
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            errors("error: script '\(path)' is not UTF-8 text")
            return nil
        }
        return SourceFile(name: path, text: text)
    }

    static func report(_ e: SyntaxErrors, errors: (String) -> Void) {
        for d in e.diagnostics { errors(DiagnosticRenderer.render(d)) }
        let n = e.diagnostics.count
        errors("\(n) syntax error\(n == 1 ? "" : "s")")
    }

    private static func execute(_ source: SourceFile, output: OutputSink, errors: (String) -> Void, recorder: NotebookRecorder?) -> Int32 {
        let interpreter = Interpreter(output: output)
        do {
            try interpreter.run(source)
            return ExitStatus.success
        } catch let e as SyntaxErrors {
            report(e, errors: errors)
            recorder?.fail(e.diagnostics.map(DiagnosticRenderer.render).joined(separator: "\n"))
            return ExitStatus.syntax
        } catch let d as Diagnostic {
            let text = DiagnosticRenderer.render(d)
            errors(text)
            recorder?.fail(text)
            return d.phase == .syntax ? ExitStatus.syntax : ExitStatus.runtime
        } catch {
            errors("error: \(error)")
            return ExitStatus.runtime
        }
    }
}
