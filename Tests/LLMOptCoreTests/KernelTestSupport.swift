import CLLMOptKernels
import LLMOptCore
import XCTest

/// A small deterministic generator for test data (SplitMix64).
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    mutating func float() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
    mutating func floats(_ count: Int) -> [Float] { (0..<count).map { _ in float() } }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
}

enum KernelTestData {
    /// Every instruction-set path this CPU can run, fastest last.
    static var paths: [Int32] {
        (Int32(LLMOPT_ISA_GENERIC)...llmopt_kernels_isa_best()).map { $0 }
    }

    /// Runs `body` with each path selected in turn, then restores the best one.
    static func forEachPath(_ body: (String) -> Void) {
        defer { llmopt_kernels_set_isa(llmopt_kernels_isa_best()) }
        for p in paths {
            llmopt_kernels_set_isa(p)
            body(String(cString: llmopt_kernels_isa()))
        }
    }

    /// A weight [n, k] of `dtype` with random values: floats in [-1, 1) for float types; random
    /// codes with f16 scales of about 0.01 (and minimums of about 0.1 for Q4_1) for block types.
    static func weight(n: Int, k: Int, dtype: DType, rng: inout TestRandom) -> Tensor {
        Tensor.raw(shape: [n, k], dtype: dtype) { buf in
            let p = buf.baseAddress!
            switch dtype {
            case .f32:
                for i in 0..<(n * k) { p.storeBytes(of: rng.float(), toByteOffset: 4 * i, as: Float.self) }
            case .f16:
                for i in 0..<(n * k) { p.storeBytes(of: Float16(rng.float()).bitPattern, toByteOffset: 2 * i, as: UInt16.self) }
            case .bf16:
                for i in 0..<(n * k) { p.storeBytes(of: Dequantize.floatToBF16(rng.float()), toByteOffset: 2 * i, as: UInt16.self) }
            default:
                for i in 0..<buf.count { p.storeBytes(of: rng.byte(), toByteOffset: i, as: UInt8.self) }
                for b in 0..<(n * k / 32) {
                    let block = p + b * dtype.blockBytes
                    block.storeBytes(of: Float16(0.01 * rng.float()).bitPattern, as: UInt16.self)
                    if dtype == .q4_1 { block.storeBytes(of: Float16(0.1 * rng.float()).bitPattern, toByteOffset: 2, as: UInt16.self) }
                }
            }
        }
    }

    /// The double-accumulated product of x [m, k] and the transpose of `w` (as float32 values)
    /// together with sum |x w| per output, the scale that float rounding errors are measured against.
    static func reference(x: [Float], m: Int, w: [Float], n: Int, k: Int) -> (values: [Double], magnitudes: [Double]) {
        var values = [Double](repeating: 0, count: m * n), mags = values
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0, a = 0.0
                for p in 0..<k {
                    let t = Double(x[i * k + p]) * Double(w[j * k + p])
                    s += t
                    a += abs(t)
                }
                values[i * n + j] = s
                mags[i * n + j] = a
            }
        }
        return (values, mags)
    }

    /// The largest error of `got` relative to the magnitudes of its reference terms.
    /// `Linear.forward` of a random [m, k] activation and a random [n, k] weight of `dtype`, on
    /// every instruction-set path, within 1e-5 (relative to sum |x w|) of the double-accumulated
    /// product with the weight's float values.
    static func checkLinearAgainstReference(dtype: DType, m: Int, n: Int, k: Int, rng: inout TestRandom,
                                            activations: Linear.Activations = .quantized,
                                            file: StaticString = #filePath, line: UInt = #line) {
        let weight = weight(n: n, k: k, dtype: dtype, rng: &rng)
        let x = rng.floats(m * k)
        let ref = reference(x: x, m: m, w: weight.floats(), n: n, k: k)
        forEachPath { isa in
            var y = [Float](repeating: .nan, count: m * n)
            Linear.forward(x, rows: m, weight: weight, into: &y, activations: activations)
            XCTAssertLessThan(worstRelativeError(y, ref), 1e-5, "\(isa) \(dtype) m=\(m) n=\(n) k=\(k)", file: file, line: line)
        }
    }

    static func worstRelativeError(_ got: [Float], _ ref: (values: [Double], magnitudes: [Double])) -> Double {
        var worst = 0.0
        for i in got.indices {
            let err = abs(Double(got[i]) - ref.values[i]) / max(ref.magnitudes[i], 1e-30)
            worst = max(worst, err)
        }
        return worst
    }
}
