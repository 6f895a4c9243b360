// Whole-model throughput (`llmopt-bench --models`): prefill and decode tokens per second of
// GPT-2 small (random f32 weights) and SmolLM2-135M in f32, q8_0, q4_0 and as stored (q4_1),
// with the SGEMM rate of a GPT-2 prefill shape measured alongside as a yardstick for the load.
import Foundation
import LLMOptCore

/// Rounds one row of floats to ggml blocks the way llama.cpp's reference quantizers do
/// (q8_0: scale = max|x| / 127; q4_0: scale = (value of largest magnitude) / -8, nibbles x/scale + 8).
func quantizeRow(_ x: UnsafePointer<Float>, count: Int, to dtype: DType, into out: UnsafeMutableRawPointer) {
    for b in 0..<(count / 32) {
        let v = x + b * 32, blk = out + b * dtype.blockBytes
        switch dtype {
        case .q8_0:
            var amax: Float = 0
            for i in 0..<32 { amax = max(amax, abs(v[i])) }
            let d = amax / 127, id = d == 0 ? 0 : 1 / d
            blk.storeBytes(of: Float16(d).bitPattern, as: UInt16.self)
            for i in 0..<32 { blk.storeBytes(of: Int8((v[i] * id).rounded()), toByteOffset: 2 + i, as: Int8.self) }
        case .q4_0:
            var amax: Float = 0, signed: Float = 0
            for i in 0..<32 where abs(v[i]) > amax { amax = abs(v[i]); signed = v[i] }
            let d = signed / -8, id = d == 0 ? 0 : 1 / d
            blk.storeBytes(of: Float16(d).bitPattern, as: UInt16.self)
            for j in 0..<16 {
                let lo = min(15, UInt8(max(0, v[j] * id + 8.5))), hi = min(15, UInt8(max(0, v[j + 16] * id + 8.5)))
                blk.storeBytes(of: lo | hi << 4, toByteOffset: 2 + j, as: UInt8.self)
            }
        default: preconditionFailure("quantizeRow: \(dtype) not supported")
        }
    }
}

/// The model with every weight in f32, or every matrix quantized to `dtype` (norms stay f32).
func converted(_ model: Model, to dtype: DType) -> Model {
    var m = model
    for (name, t) in model.weights {
        let f = t.toF32()
        if dtype == .f32 || t.rank != 2 || t.columns % 32 != 0 { m.weights[name] = f; continue }
        m.weights[name] = Tensor.raw(shape: t.shape, dtype: dtype) { buf in
            for r in 0..<t.rows {
                quantizeRow(f.f32Pointer + r * t.columns, count: t.columns, to: dtype, into: buf.baseAddress! + r * t.columns / 32 * dtype.blockBytes)
            }
        }
    }
    return m
}

func runModelBenchmarks(runs: Int, only: String?) throws {
    let prompt = 256, decode = 32
    func yardstick() -> String {
        let (m, n, k) = (256, 3072, 768)
        let w = randomWeight(n: n, k: k, dtype: .f32)
        let x = [Float](repeating: 0.5, count: m * k)
        var y = [Float](repeating: 0, count: m * n)
        let t = best(runs: 5) { Linear.forward(x, rows: m, weight: w, into: &y) }
        return String(format: "SGEMM 256x3072x768 %.0f GFLOP/s", 2 * Double(m * n * k) / t * 1e-9)
    }
    func report(_ name: String, _ model: Model, flopsPerToken: Double? = nil) throws {
        if let only, !name.contains(only) { return }
        let r = try Throughput.measure(model: model, promptTokens: prompt, decodeTokens: decode, runs: runs)
        var line = String(format: "  %-18@ prefill %7.1f tok/s (CPU %.2f s / wall %.2f s)   decode %6.1f tok/s (CPU %.2f s / wall %.2f s)",
                          name, r.prefillTokensPerSecond, r.prefillCPUSeconds, r.prefillSeconds,
                          r.decodeTokensPerSecond, r.decodeCPUSeconds, r.decodeSeconds)
        if let flopsPerToken { line += String(format: "   prefill %.0f GFLOP/s", flopsPerToken * r.prefillTokensPerSecond * 1e-9) }
        print(line + "   [\(yardstick())]")
    }
    print("Whole models: \(prompt)-token prefill, \(decode) decode steps after it, best of \(runs)")
    // Matrix FLOPs per prefill token (weights without the embedding tables, head for one row in 256),
    // plus causal attention at 256 tokens (QKᵀ and SV: 2 · 2 · d · 128 average positions per layer).
    let c = RandomModel.gpt2Small
    let layerFlops = 2.0 * Double(12 * c.hiddenSize * c.hiddenSize) + 4.0 * Double(c.hiddenSize * 128)
    if only.map({ "gpt2-small f32".contains($0) }) ?? true {
        try report("gpt2-small f32", RandomModel.make(RandomModel.gpt2Small), flopsPerToken: Double(c.numLayers) * layerFlops + 2.0 * Double(c.vocabSize * c.hiddenSize) / Double(prompt))
    }
    let path = "Examples/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    guard FileManager.default.fileExists(atPath: path) else { print("  (SmolLM2 not fetched: run Scripts/fetch-models)"); return }
    let smol = try ModelLoader.load(path: path)
    try report("smollm2 q4_1", smol)
    for dtype in [DType.f32, .q8_0, .q4_0] where only.map({ "smollm2 \(dtype.rawValue)".contains($0) }) ?? true {
        try report("smollm2 \(dtype.rawValue)", converted(smol, to: dtype))
    }
}
