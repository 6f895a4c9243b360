import ArgumentParser
import LLMOptCore

/// The `llmopt` command line: subcommands in the spirit of llama.cpp's tools.
public struct LLMOptCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "llmopt",
        abstract: "A workbench for making language models smaller and faster.",
        discussion: """
        Scripts: `llmopt FILE.llmopt`, `llmopt run FILE.llmopt --notebook OUT.html`, `llmopt -e 'CODE'`, \
        `llmopt check FILE`; with no arguments, the interactive REPL.
        """,
        subcommands: [InspectCommand.self, PerplexityCommand.self, GenerateCommand.self, BenchCommand.self, TrainCommand.self]
    )
    public init() {}
}
