/// Saves a model in the format its destination names.
public enum ModelSaver {
    /// A path ending in `.gguf` gets a GGUF v3 file (tensors in their current dtypes); any other
    /// path becomes a Hugging Face folder (config.json + model.safetensors, float weights).
    public static func save(_ model: Model, to path: String) throws {
        if path.lowercased().hasSuffix(".gguf") {
            try GGUFWriter.save(model, to: path)
        } else {
            try HuggingFaceFolder.save(model, to: path)
        }
    }
}
