import Foundation

/// Element-wise activations and small vector ops used between linear layers.

/// SwiGLU gate (Llama MLP): gate[i] = silu(gate[i]) * up[i] where silu(x) = x / (1 + e^-x).
/// gate, up: [n]; the result overwrites `gate`.
@inline(__always)
func swigluForward(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count n: Int) {
    for i in 0..<n {
        let g = gate[i]
        gate[i] = g / (1 + expf(-g)) * up[i]
    }
}

/// GELU, tanh approximation (GPT-2's `gelu_new`): 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))).
/// x: [n], in place.
@inline(__always)
func geluTanhForward(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    let c: Float = 0.7978845608028654  // √(2/π)
    for i in 0..<n {
        let v = x[i]
        x[i] = 0.5 * v * (1 + tanhf(c * (v + 0.044715 * v * v * v)))
    }
}

/// Adds a bias to every row. y: [rows, n]; bias: [n].
@inline(__always)
func addBiasForward(_ y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, count n: Int) {
    for r in 0..<rows {
        let yr = y + r * n
        for i in 0..<n { yr[i] += bias[i] }
    }
}

/// Residual connection: x += y. x, y: [n].
@inline(__always)
func residualForward(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count n: Int) {
    for i in 0..<n { x[i] += y[i] }
}

/// Softmax in place, shifted by the maximum for stability. x: [n].
@inline(__always)
func softmaxForward(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    var m = -Float.infinity
    for i in 0..<n where x[i] > m { m = x[i] }
    var sum: Float = 0
    for i in 0..<n { let e = expf(x[i] - m); x[i] = e; sum += e }
    let inv = 1 / sum
    for i in 0..<n { x[i] *= inv }
}

/// Dot product of two float vectors with eight independent accumulators (vectorizes well).
/// a, b: [n].
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        let va = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
        let vb = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        acc = acc + va * vb
        i += 8
    }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}
