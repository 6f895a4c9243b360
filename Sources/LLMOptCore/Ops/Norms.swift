import CLLMOptKernels

/// Normalization layers. Each function normalizes `rows` independent vectors of `dim` floats.

/// RMSNorm (Llama): out = x / sqrt(mean(x²) + eps) * weight.
/// x, out: [rows, dim]; weight: [dim]. `out` may alias `x`.
@inline(__always)
func rmsNormForward(
    _ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, dim: Int, eps: Float
) {
    for r in 0..<rows { llmopt_rmsnorm_f32(Int32(dim), x + r * dim, weight, eps, out + r * dim) }
}

/// LayerNorm (GPT-2): out = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance.
/// x, out: [rows, dim]; weight, bias: [dim]. `out` may alias `x`.
@inline(__always)
func layerNormForward(
    _ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float
) {
    for r in 0..<rows { llmopt_layernorm_f32(Int32(dim), x + r * dim, weight, bias, eps, out + r * dim) }
}
