/// Normalization layers. Each function normalizes `rows` independent vectors of `dim` floats.

/// RMSNorm (Llama): out = x / sqrt(mean(x²) + eps) * weight.
/// x, out: [rows, dim]; weight: [dim]. `out` may alias `x`.
@inline(__always)
func rmsNormForward(
    _ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, dim: Int, eps: Float
) {
    for r in 0..<rows {
        let xr = x + r * dim, yr = out + r * dim
        var ss: Float = 0
        for i in 0..<dim { ss += xr[i] * xr[i] }
        let scale = 1 / (ss / Float(dim) + eps).squareRoot()
        for i in 0..<dim { yr[i] = weight[i] * (xr[i] * scale) }
    }
}

/// LayerNorm (GPT-2): out = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance.
/// x, out: [rows, dim]; weight, bias: [dim]. `out` may alias `x`.
@inline(__always)
func layerNormForward(
    _ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float
) {
    for r in 0..<rows {
        let xr = x + r * dim, yr = out + r * dim
        var sum: Float = 0
        for i in 0..<dim { sum += xr[i] }
        let mean = sum / Float(dim)
        var sq: Float = 0
        for i in 0..<dim { let d = xr[i] - mean; sq += d * d }
        let rstd = 1 / (sq / Float(dim) + eps).squareRoot()
        for i in 0..<dim { yr[i] = (xr[i] - mean) * rstd * weight[i] + bias[i] }
    }
}
