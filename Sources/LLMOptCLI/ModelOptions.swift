import ArgumentParser
import LLMOptCore

/// The model argument shared by the subcommands that load one.
struct ModelOptions: ParsableArguments {
    @Argument(help: "A model: llama2.c .bin, GGUF file, or Hugging Face folder (detected by content).")
    var model: String

    @Option(help: "The tokenizer of a llama2.c model, when it is not beside the model as tokenizer.bin or tok*.bin.")
    var tokenizer: String?

    func load() throws -> Model {
        try ModelLoader.load(path: model, tokenizerPath: tokenizer)
    }
}

/// Runs a subcommand body, turning engine errors into one clean line on stderr and exit code 1.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as DistributedFailure {
        // Every rank has it (Communicator.agree): all end normally, rank 0 says why.
        Terminal.error(error.description)
        throw ExitCode(1)
    } catch let error as LLMOptError {
        Terminal.error(error.description)
        DistributedLaunch.abortJob(1, reason: "failed: \(error.description)")
        throw ExitCode(1)
    }
}
