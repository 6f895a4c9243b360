import ArgumentParser
import Foundation
import LLMOptCore

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a model on a text file, with the protocol and an error bar.",
        discussion: """
        The text is tokenized once. Windows of --ctx tokens start every --stride tokens; each token is \
        scored once, by the first window in which it has context (with stride = ctx the first token of \
        every window is not scored). ppl = exp(mean negative log-likelihood); the error bar is the \
        standard error of the mean NLL carried through exp. Under `mpirun -np N`, window w is scored by \
        rank w mod N and the losses are summed in window order: the same result as one process.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Argument(help: "A UTF-8 text file.")
    var textFile: String

    @Option(help: "Tokens per window.")
    var ctx = 256

    @Option(help: "Tokens between window starts (default: ctx, non-overlapping).")
    var stride: Int?

    @Option(name: .customLong("max-tokens"), help: "Evaluate only the first N tokens of the text.")
    var maxTokens: Int?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        try reportingErrors {
            // Under mpirun every rank reads both, then scores its share of the windows.
            let (model, text) = try Communicator.world.agree { (try modelOptions.load(), try readText(textFile)) }
            let progress = Terminal.Progress("perplexity")
            let r = try Perplexity.evaluate(model: model, text: text, ctx: ctx, stride: stride, maxTokens: maxTokens) { done, total in
                progress.update(done, of: total, detail: "windows")
            }
            progress.finish()
            if json {
                Terminal.printJSON(Terminal.json(r).merging(["model": modelOptions.model, "text": textFile]) { _, new in new })
            } else {
                print(r.description)
            }
        }
    }
}

/// Reads a UTF-8 text file or throws an error naming it.
func readText(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw LLMOptError.badFile(path: path, reason: "cannot read the file")
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw LLMOptError.badFile(path: path, reason: "not valid UTF-8 text")
    }
    return text
}
