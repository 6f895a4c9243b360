/// llama.cpp's `Q4_K_M` and `Q5_K_M` recipes (`llama_tensor_get_type` in its quantize tool, for
/// models without experts): every matrix in the base K-quant except
/// - the output layer, and the token embeddings when they are tied to it: Q6_K (Q8_0 when rows
///   are not whole 256-value blocks);
/// - attention values and feed-forward down projections of the layers `usesMoreBits` picks (the
///   first and last eighth, and every third in between): Q6_K;
/// - fused query-key-value matrices (GPT-2): one level up (Q5_K, Q6_K).
/// Rows that do not split into 256-value blocks then fall back as the tool does
/// (`GGMLBlocks.fallback`).
public struct KQuantMix: Sendable {
    /// The base format: Q4_K or Q5_K.
    public let base: DType

    /// The mix a scheme name stands for (`q4_k_m`, `q5_k_m`); nil for other names.
    public init?(_ scheme: String) {
        switch scheme.lowercased() {
        case "q4_k_m": base = .q4_k
        case "q5_k_m": base = .q5_k
        default: return nil
        }
    }

    /// llama.cpp's `general.file_type` for the mix: LLAMA_FTYPE_MOSTLY_Q4_K_M or _Q5_K_M.
    public var ggufFileType: Int { base == .q4_k ? 15 : 17 }

    /// llama.cpp's `use_more_bits`: layer i of n gets more bits in the first and last eighth and
    /// in every third layer between them.
    static func usesMoreBits(_ i: Int, _ n: Int) -> Bool {
        i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
    }

    /// The format of each of `names` (matrices of `model`, in order), before the block fallback.
    public func plan(_ model: Model, names: [String]) -> [(String, DType)] {
        let architecture = model.config.architecture
        let role = { (name: String) -> String in GGUFModel.ggufName(name, architecture: architecture) ?? name }
        let roles = names.map(role)
        let tied = !roles.contains("output.weight")
        let valueCount = roles.filter { $0.hasSuffix("attn_v.weight") }.count
        let downCount = roles.filter { $0.hasSuffix("ffn_down.weight") }.count
        var valueIndex = 0, downIndex = 0
        var plan: [(String, DType)] = []
        for (name, r) in zip(names, roles) {
            var dtype = base
            if r == "output.weight" || (tied && r == "token_embd.weight") {
                let columns = model.weights[name]?.columns ?? 0
                dtype = columns % DType.q6_k.blockSize == 0 ? .q6_k : .q8_0
            } else if r.hasSuffix("attn_v.weight") {
                if KQuantMix.usesMoreBits(valueIndex, valueCount) { dtype = .q6_k }
                valueIndex += 1
            } else if r.hasSuffix("ffn_down.weight") {
                if KQuantMix.usesMoreBits(downIndex, downCount) { dtype = .q6_k }
                downIndex += 1
            } else if r.hasSuffix("attn_qkv.weight") {
                dtype = base == .q4_k ? .q5_k : .q6_k
            }
            plan.append((name, dtype))
        }
        return plan
    }
}
