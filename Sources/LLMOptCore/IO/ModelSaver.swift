/// Saves a model in the format its destination names.
public enum ModelSaver {
    /// A path ending in `.gguf` gets a GGUF v3 file (tensors in their current dtypes); any other
    /// path becomes a Hugging Face folder (config.json + model.safetensors, float weights).
    /// Both follow `SaveTarget`'s rules: missing parent folders are created, only a regular
    /// file or a folder llmopt wrote is replaced, and the replacement is atomic.
    public static func save(_ model: Model, to path: String) throws {
        if path.lowercased().hasSuffix(".gguf") {
            try SaveTarget.prepare(path, folder: false)
            try GGUFWriter.save(model, to: path)
        } else {
            try HuggingFaceFolder.save(model, to: path)
        }
    }
}
