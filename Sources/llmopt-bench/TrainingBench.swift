import Foundation
import LLMOptCore

/// Training throughput on a Llama shape of about 10M parameters (6 layers, d 384, 6 heads, FFN
/// 1024, vocab 512, untied head), batch 8 x 128, AdamW, clipping at 1: tokens/s over the steps
/// after the first, seconds per step and peak RSS, for one precision per process (so the peak
/// memory is that precision's). Scripts/bench-train runs it for fp32, bf16 and fp16 beside
/// PyTorch on the same shape.
func runTrainingBench(arguments: ArraySlice<String>) throws {
    func value(_ flag: String) -> String? {
        arguments.firstIndex(of: flag).flatMap { arguments.index(after: $0) < arguments.endIndex ? arguments[arguments.index(after: $0)] : nil }
    }
    let precision = TrainingPrecision(rawValue: value("--training") ?? "fp32") ?? .fp32
    let steps = Int(value("--steps") ?? "") ?? 6
    let accumulate = Int(value("--accumulate") ?? "") ?? 1
    let batch = Int(value("--batch") ?? "") ?? 8
    let recompute = arguments.contains("--recompute-activations")
    let config = ModelConfig(architecture: .llama, vocabSize: 512, hiddenSize: 384, intermediateSize: 1024, numLayers: 6, numHeads: 6,
                             numKVHeads: 6, maxPositions: 1024, normEps: 1e-5, tieEmbeddings: false)
    let model = RandomModel.make(config, seed: 1)
    var rng = SplitMix64(seed: 2)
    let ids = (0..<(steps * batch * 128)).map { _ in Int(rng.next() % 512) }
    var o = TrainingOptions(steps: steps, batch: batch, seq: 128, lr: 1e-3)
    o.precision = precision
    o.accumulate = accumulate
    o.recomputeActivations = recompute
    o.clip = 1
    o.weightDecay = 0.1
    let trainer = try Trainer(model: model, data: TrainingData(ids: ids), options: o)
    try trainer.run()
    let timed = trainer.log.dropFirst()
    let stepSeconds = timed.map(\.seconds).reduce(0, +) / Double(max(1, timed.count))
    var rss = 0
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) {
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            rss = (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) * 1024
        }
    }
    let object: [String: Any] = [
        "engine": "llmopt", "precision": precision.rawValue, "parameters": trainer.graph.parameters.count, "batch": batch, "seq": 128,
        "accumulate": accumulate, "recompute_activations": recompute, "steps": steps, "tokens_per_s": trainer.tokensPerSecond, "step_seconds": stepSeconds,
        "peak_rss_bytes": rss, "activation_bytes": trainer.graph.activationBytes, "losses": trainer.log.map(\.loss),
        "threads": Parallel.threadCount,
    ]
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}
