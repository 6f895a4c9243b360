import Foundation
import LLMOptCore

extension Builtins {
    /// Loading models.
    static let models: [Builtin] = [
        Builtin("load", family: "models",
                parameters: [.init("path", "a Hugging Face folder (config.json + model.safetensors)")],
                summary: "Loads a model. Tensors stay memory-mapped where the file allows; weight names are Hugging Face's whatever the source.",
                example: "let m = load(\"Tests/Fixtures/models/tiny-llama\")\nm.layers[0].attention.wq") { args in
            let path = try args.string("path")
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ScriptError("load: no file or folder at '\(path)'")
            }
            guard isDirectory.boolValue else {
                throw ScriptError("load: '\(path)' is a file; only Hugging Face folders can be loaded in this build")
            }
            return .model(try HuggingFaceFolder.load(path))
        },
    ]
}
