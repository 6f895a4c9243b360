import ArgumentParser
import LLMOptCore

/// The `llmopt` command line: subcommands in the spirit of llama.cpp's tools.
public struct LLMOptCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "llmopt",
        abstract: "A workbench for making language models smaller and faster.",
        subcommands: []
    )
    public init() {}
}
