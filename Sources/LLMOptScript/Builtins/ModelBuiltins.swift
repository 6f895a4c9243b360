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
                example: "let m = load(\"Examples/models/SmolLM2-135M-Instruct.Q4_1.gguf\")\nm.layers[0].attention.wq") { args in
            .model(try ModelLoader.load(path: try args.string("path"), tokenizerPath: try args.optionalString("tokenizer")))
        },
        Builtin("save", family: "models",
                parameters: [.init("model", "the model to save"), .init("path", "a path ending in .gguf (GGUF v3, dtypes kept), or a folder (Hugging Face: config.json + model.safetensors)")],
                summary: "Writes a model that llama.cpp (GGUF) or Hugging Face transformers (folder) can load. The file or folder is written beside the destination and swapped in whole, so a crash or a full disk leaves the old one. Missing parent folders are created; only a regular file, or a folder holding nothing but a saved model's files, is replaced.",
                example: "save(load(\"Tests/Fixtures/models/tiny-llama\"), \"/tmp/tiny.gguf\")") { args in
            let path = try args.string("path"), model = try args.model("model")
            // Under mpirun rank 0 writes it; the others wait for it (and stop too if it fails).
            let comm = Communicator.world
            try comm.agree { if comm.isRoot { try ModelSaver.save(model, to: path) } }
            return .null
        },
    ]
}
