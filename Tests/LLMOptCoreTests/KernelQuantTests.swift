import CLLMOptKernels
import LLMOptCore
import XCTest

/// Quantized activations and the integer dot-product kernels for Q8_0, Q4_0 and Q4_1 weights,
/// against the reference quantizer and the reference (exact integer) dot product.
final class KernelQuantTests: XCTestCase {
    static let quantTypes: [DType] = [.q8_0, .q4_0, .q4_1]
    static let kernelType: [DType: Int32] = [.q8_0: Int32(LLMOPT_W_Q8_0), .q4_0: Int32(LLMOPT_W_Q4_0), .q4_1: Int32(LLMOPT_W_Q4_1)]

    /// Quantizes `m` rows of x [m, k] with the reference quantizer.
    static func quantizeRef(_ x: [Float], m: Int, k: Int) -> [UInt8] {
        let rb = llmopt_q8act_row_bytes(Int32(k))
        var out = [UInt8](repeating: 0, count: rb * m)
        out.withUnsafeMutableBytes { buf in
            for i in 0..<m { x.withUnsafeBufferPointer { llmopt_q8act_quantize_ref(Int32(k), $0.baseAddress! + i * k, buf.baseAddress! + i * rb) } }
        }
        return out
    }

    /// The scale float rounding errors are measured against: sum |w x| over the dequantized
    /// values, plus sum |m| |x| for Q4_1 (whose d q and m terms may cancel in w).
    static func magnitudes(x: [Float], m: Int, weight: Tensor) -> [Double] {
        let n = weight.shape[0], k = weight.columns
        let w = weight.floats()
        var mags = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var a = 0.0
                for p in 0..<k {
                    var wAbs = abs(Double(w[j * k + p]))
                    if weight.dtype == .q4_1 {
                        let bits = weight.rawPointer.loadUnaligned(fromByteOffset: (j * k + p) / 32 * 20 + 2, as: UInt16.self)
                        wAbs += abs(Double(Float(Float16(bitPattern: bits))))
                    }
                    a += wAbs * abs(Double(x[i * k + p]))
                }
                mags[i * n + j] = a
            }
        }
        return mags
    }

    func testFastQuantizerIsBitIdenticalToReference() {
        var rng = TestRandom(seed: 10)
        for k in [32, 64, 96, 576, 800] {
            var x = rng.floats(k)
            for i in stride(from: 0, to: k, by: 37) { x[i] *= 50 }  // outliers set the block scales
            x[min(5, k - 1)] = 0
            let ref = Self.quantizeRef(x, m: 1, k: k)
            KernelTestData.forEachPath { isa in
                var got = [UInt8](repeating: 0xAA, count: ref.count)
                got.withUnsafeMutableBytes { llmopt_q8act_quantize(Int32(k), x, $0.baseAddress!) }
                let firstDifference = got.indices.first { got[$0] != ref[$0] }
                XCTAssertNil(firstDifference, "\(isa) k=\(k): quantized rows differ at byte \(firstDifference ?? -1)")
            }
            // The block view agrees with the plain definition: d = max|x| / 127, q = round(x / d).
            ref.withUnsafeBytes { buf in
                var scale: Float = 0, sum: Int32 = 0
                var values = [Int8](repeating: 0, count: 32)
                llmopt_q8act_block(Int32(k), buf.baseAddress!, 0, &scale, &sum, &values)
                let amax = x[0..<32].map { abs($0) }.max()!
                XCTAssertEqual(scale, amax / 127)
                XCTAssertEqual(Int(sum), values.reduce(0) { $0 + Int($1) })
                for j in 0..<32 { XCTAssertEqual(Float(values[j]), (x[j] * (1 / scale)).rounded(.toNearestOrEven), "k=\(k) j=\(j)") }
            }
        }
    }

    func testIntegerKernelsMatchReferenceOnEveryPath() {
        var rng = TestRandom(seed: 11)
        for dtype in Self.quantTypes {
            for m in [1, 3, 4, 6] {
                for (n, k) in [(1, 32), (31, 96), (33, 64), (17, 576), (5, 1024)] {
                    let weight = KernelTestData.weight(n: n, k: k, dtype: dtype, rng: &rng)
                    let x = rng.floats(m * k)
                    let qx = Self.quantizeRef(x, m: m, k: k)
                    var ref = [Float](repeating: 0, count: m * n)
                    llmopt_qgemm_nt_ref(Int32(m), Int32(n), Int32(k), qx, weight.rawPointer, Self.kernelType[dtype]!, weight.rowBytes, &ref, Int32(n))
                    let mags = Self.magnitudes(x: x, m: m, weight: weight)
                    KernelTestData.forEachPath { isa in
                        var got = [Float](repeating: .nan, count: m * n)
                        llmopt_qgemm_nt(Int32(m), Int32(n), Int32(k), qx, weight.rawPointer, Self.kernelType[dtype]!, weight.rowBytes, &got, Int32(n))
                        for i in got.indices {
                            XCTAssertLessThanOrEqual(abs(got[i] - ref[i]), Float(1e-5 * mags[i]), "\(isa) \(dtype) m=\(m) n=\(n) k=\(k) i=\(i)")
                        }
                    }
                }
            }
        }
    }

    /// Few rows: Linear quantizes the activations and runs the integer kernels, giving exactly
    /// the reference integer result (up to float rounding).
    func testLinearWithFewRowsUsesIntegerKernels() {
        var rng = TestRandom(seed: 12)
        for dtype in Self.quantTypes {
            for m in [1, 3, Linear.integerRowLimit] {
                let n = 70, k = 160
                let weight = KernelTestData.weight(n: n, k: k, dtype: dtype, rng: &rng)
                let x = rng.floats(m * k)
                var ref = [Float](repeating: 0, count: m * n)
                llmopt_qgemm_nt_ref(Int32(m), Int32(n), Int32(k), Self.quantizeRef(x, m: m, k: k), weight.rawPointer,
                                    Self.kernelType[dtype]!, weight.rowBytes, &ref, Int32(n))
                var y = [Float](repeating: .nan, count: m * n)
                Linear.forward(x, rows: m, weight: weight, into: &y)
                let mags = Self.magnitudes(x: x, m: m, weight: weight)
                for i in y.indices { XCTAssertLessThanOrEqual(abs(y[i] - ref[i]), Float(1e-5 * mags[i]), "\(dtype) m=\(m) i=\(i)") }

                // And the integer result stays close to the float product with the dequantized weight
                // (the only difference is the 8-bit rounding of the activations).
                let exact = KernelTestData.reference(x: x, m: m, w: weight.floats(), n: n, k: k)
                var errSq = 0.0, refSq = 0.0
                for i in y.indices { errSq += pow(Double(y[i]) - exact.values[i], 2); refSq += exact.values[i] * exact.values[i] }
                XCTAssertLessThan((errSq / refSq).squareRoot(), 0.02, "\(dtype) m=\(m)")
            }
        }
    }

    /// Many rows (prefill): the weight is dequantized a panel at a time into the SGEMM.
    func testLinearWithManyRowsDequantizesIntoGemm() {
        var rng = TestRandom(seed: 13)
        for dtype in Self.quantTypes {
            for m in [Linear.integerRowLimit + 1, 64] {
                let n = 45, k = 96
                KernelTestData.checkLinearAgainstReference(dtype: dtype, m: m, n: n, k: k, rng: &rng)
            }
        }
    }

    /// Exact activations (the output layer): few rows against block weights converted to float as
    /// they are read, on every path, equal to the float product with the dequantized weight.
    func testLinearWithExactActivationsMatchesDequantizedProduct() {
        var rng = TestRandom(seed: 14)
        for dtype in Self.quantTypes {
            for m in [1, 3, Linear.smallRowLimit] {
                let n = 37, k = 160
                KernelTestData.checkLinearAgainstReference(dtype: dtype, m: m, n: n, k: k, rng: &rng, activations: .exact)
            }
        }
    }
}
