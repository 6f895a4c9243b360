import CLLMOptKernels
import Foundation

/// Element-wise activations and small vector ops used between linear layers.

/// SwiGLU gate (Llama MLP): gate[i] = silu(gate[i]) * up[i] where silu(x) = x / (1 + e^-x).
/// gate, up: [n]; the result overwrites `gate`.
@inline(__always)
func swigluForward(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count n: Int) {
    llmopt_swiglu_f32(Int32(n), gate, up)
}

/// GELU, tanh approximation (GPT-2's `gelu_new`): 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))).
/// x: [n], in place.
@inline(__always)
func geluTanhForward(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    llmopt_gelu_tanh_f32(Int32(n), x)
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
    llmopt_softmax_f32(Int32(n), x)
}
