import CLLMOptKernels
import Foundation

/// Training precisions: float32 throughout, bf16 autocast (float32 master weights; matmul inputs
/// and outputs rounded to bfloat16 as `torch.autocast` does), or fp16 with dynamic loss scaling.
public enum TrainingPrecision: String, Sendable, Codable, CaseIterable {
    case fp32, bf16, fp16
}

enum Precision {
    /// Rounds a float32 to the nearest bfloat16 (ties to even) and back; NaN stays NaN.
    @inline(__always)
    static func bf16(_ x: Float) -> Float {
        let bits = x.bitPattern
        if x.isNaN { return x }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return Float(bitPattern: rounded & 0xFFFF_0000)
    }

    /// Rounds a float32 to the nearest IEEE half (ties to even) and back; overflow gives ±inf.
    @inline(__always)
    static func fp16(_ x: Float) -> Float { Float(Float16(x)) }

    /// dst = src rounded to `precision` (a copy for fp32); dst may be src. Swift's Float16
    /// conversion is a library call on x86-64 (no F16C in the baseline), so fp16 goes through
    /// the kernels' F16C loop.
    static func round(_ dst: FloatPtr, _ src: ConstFloatPtr, count: Int, to precision: TrainingPrecision) {
        switch precision {
        case .fp32: if dst != UnsafeMutablePointer(mutating: src) { dst.update(from: src, count: count) }
        case .bf16: for i in 0..<count { dst[i] = bf16(src[i]) }
        case .fp16: llmopt_round_through_half(dst, src, count)
        }
    }
}
