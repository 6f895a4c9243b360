import Foundation
import LLMOptCore

extension Builtins {
    /// Loading and saving models.
    static let models: [Builtin] = [
        Builtin("load", family: "models",
                parameters: [
                    .init("path", "a GGUF file, a llama2.c .bin, a Hugging Face folder, or a folder holding one model file"),
                    .init("tokenizer", .absent, "a tokenizer to use instead of the model's own (tokenizer.json, GGUF, or llama2.c tokenizer.bin)"),
                ],
                summary: "Loads a model, recognizing its format by content. Weights stay memory-mapped where the file allows; their names are Hugging Face's whatever the source.",
                example: "let m = load(\"Examples/models/stories260K\")\nm.layers[0].attention.wq") { args in
            let path = try args.string("path")
            var model = try ModelLoader.load(path: path, tokenizerPath: try args.optionalString("tokenizer"))
            try attachTokenizerIfMissing(&model, loadedFrom: path)
            return .model(model)
        },
        Builtin("save", family: "models",
                parameters: [.init("model", "the model to save"), .init("path", "a path ending in .gguf (GGUF v3, dtypes kept), or a folder (Hugging Face: config.json + model.safetensors)")],
                summary: "Writes a model that llama.cpp (GGUF) or Hugging Face transformers (folder) can load. The file is written whole or not at all.",
                example: "save(load(\"Tests/Fixtures/models/tiny-llama\"), \"/tmp/tiny.gguf\")") { args in
            let path = try args.string("path")
            try ModelSaver.save(try args.model("model"), to: path)
            return .null
        },
    ]

    /// The loader does not attach tokenizers yet (its hookup waits on the tokenizers branch):
    /// until it does, take llama2.c's tokenizer file it found, or a folder's tokenizer.json.
    private static func attachTokenizerIfMissing(_ model: inout Model, loadedFrom path: String) throws {
        guard model.tokenizer == nil else { return }
        if let file = model.metadata["tokenizer.path"], model.format == .llama2c {
            model.tokenizer = try Llama2CTokenizer(path: file, vocabSize: model.config.vocabSize)
            return
        }
        let json = (path as NSString).appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json) { model.tokenizer = try TokenizerJSON.load(path: json) }
    }
}
