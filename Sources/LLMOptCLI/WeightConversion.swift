import LLMOptCore

/// Converts every matrix of a model (embeddings included; norms and biases stay float32) to
/// one storage type, so a benchmark compares the same weights as float32, float16 and ggml blocks.
/// A matrix whose rows no block fits is stored as float16, as llama.cpp does.
enum WeightConversion {
    static func convert(_ model: Model, to dtype: DType) throws -> Model {
        guard [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1].contains(dtype) else {
            throw LLMOptError.invalidArgument(name: "--dtype", reason: "cannot convert weights to \(dtype.rawValue); use f32, f16, bf16, q8_0, q4_0 or q4_1")
        }
        var m = model
        for (name, t) in model.weights {
            if t.rank < 2 || dtype == .f32 {
                if t.dtype != .f32 { m.weights[name] = t.toF32() }
                continue
            }
            let f = t.toF32()
            switch dtype {
            case .f16, .bf16:
                m.weights[name] = try HalfPrecision.convert(f, to: dtype, name: name)
            default:
                m.weights[name] = GGMLBlocks.fits(f, dtype)
                    ? try GGMLBlocks.quantize(f, to: dtype, name: name)
                    : try HalfPrecision.convert(f, to: .f16, name: name)
            }
        }
        return m
    }
}
