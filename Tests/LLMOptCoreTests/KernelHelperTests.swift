import CLLMOptKernels
import XCTest

/// The vector helpers (dot, axpy, softmax, RMSNorm, LayerNorm, GELU, SwiGLU, weighted sum, rounding
/// through float16) on every path against double or Swift references.
final class KernelHelperTests: XCTestCase {
    static let lengths = [1, 15, 16, 17, 100, 1000]

    /// fp16 autocast's rounding equals Swift's Float16 conversion (ties to even), overflow, subnormals,
    /// signed zeros, infinities and NaN included, on every path and every tail length.
    func testRoundingThroughHalfIsIEEE() {
        var rng = TestRandom(seed: 22)
        var x = rng.floats(997).enumerated().map { i, v in v * Float(pow(2.0, Double(i % 48 - 30))) }
        x += [65504, 65519.99, 65520, -65520, 1e6, .infinity, -.infinity, 0, -0.0, .nan,
              Float(bitPattern: 0x3380_0000), Float(bitPattern: 0x3300_0000), Float(bitPattern: 0x3300_0001), 1 + 0x1p-11, 1 + 3 * 0x1p-11]
        let expected = x.map { Float(Float16($0)) }
        for n in Self.lengths + [x.count] {
            KernelTestData.forEachPath { isa in
                var got = [Float](repeating: 7, count: n)
                llmopt_round_through_half(&got, Array(x.suffix(n)), n)
                for (i, e) in expected.suffix(n).enumerated() {
                    XCTAssertEqual(got[i].bitPattern, e.bitPattern, "\(isa) n=\(n) x=\(x.suffix(n)[x.count - n + i])")
                }
            }
        }
    }

    func testDotAndAxpy() {
        var rng = TestRandom(seed: 20)
        for n in Self.lengths {
            let a = rng.floats(n), b = rng.floats(n)
            let ref = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let mag = zip(a, b).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
            KernelTestData.forEachPath { isa in
                XCTAssertEqual(Double(llmopt_dot_f32(Int32(n), a, b)), ref, accuracy: 1e-6 * mag, "\(isa) n=\(n)")
                var y = b
                llmopt_axpy_f32(Int32(n), 0.75, a, &y)
                for i in 0..<n { XCTAssertEqual(y[i], b[i] + 0.75 * a[i], accuracy: 1e-6, "\(isa) n=\(n)") }
            }
        }
    }

    func testSoftmax() {
        var rng = TestRandom(seed: 21)
        for n in Self.lengths {
            let x = rng.floats(n).map { $0 * 30 }
            let mx = Double(x.max()!)
            let e = x.map { exp(Double($0) - mx) }
            let sum = e.reduce(0, +)
            KernelTestData.forEachPath { isa in
                var y = x
                let s = llmopt_softmax_f32(Int32(n), &y)
                XCTAssertEqual(Double(s), sum, accuracy: 1e-5 * sum, "\(isa) n=\(n)")
                for i in 0..<n { XCTAssertEqual(Double(y[i]), e[i] / sum, accuracy: 2e-6 * e[i] / sum + 1e-12, "\(isa) n=\(n) i=\(i)") }
            }
        }
        // Very negative inputs underflow to zero rather than producing garbage.
        var z: [Float] = [0, -200, -1000]
        llmopt_softmax_f32(3, &z)
        XCTAssertEqual(z, [1, 0, 0])
    }

    func testNorms() {
        var rng = TestRandom(seed: 22)
        for n in Self.lengths {
            let x = rng.floats(n).map { $0 * 3 + 0.5 }, w = rng.floats(n), b = rng.floats(n)
            let eps: Float = 1e-5
            let ms = x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(n)
            let r = 1 / (ms + Double(eps)).squareRoot()
            let mean = x.reduce(0.0) { $0 + Double($1) } / Double(n)
            let v = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(n)
            let rl = 1 / (v + Double(eps)).squareRoot()
            KernelTestData.forEachPath { isa in
                var y = [Float](repeating: 0, count: n)
                llmopt_rmsnorm_f32(Int32(n), x, w, eps, &y)
                for i in 0..<n { XCTAssertEqual(Double(y[i]), Double(x[i]) * r * Double(w[i]), accuracy: 1e-5, "\(isa) rms n=\(n)") }
                llmopt_rmsnorm_f32(Int32(n), x, nil, eps, &y)
                for i in 0..<n { XCTAssertEqual(Double(y[i]), Double(x[i]) * r, accuracy: 1e-5, "\(isa) rms n=\(n)") }
                llmopt_layernorm_f32(Int32(n), x, w, b, eps, &y)
                for i in 0..<n {
                    XCTAssertEqual(Double(y[i]), (Double(x[i]) - mean) * rl * Double(w[i]) + Double(b[i]), accuracy: 2e-5, "\(isa) ln n=\(n)")
                }
            }
        }
    }

    func testGELUAndSwiGLU() {
        var rng = TestRandom(seed: 23)
        for n in Self.lengths {
            // Wide inputs reach the saturated ends (exp overflow and underflow) as well as the middle.
            let x = rng.floats(n).map { $0 * 12 }, up = rng.floats(n)
            func gelu(_ v: Double) -> Double { 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))) }
            KernelTestData.forEachPath { isa in
                var y = x
                llmopt_gelu_tanh_f32(Int32(n), &y)
                for i in 0..<n {
                    let ref = gelu(Double(x[i]))
                    XCTAssertEqual(Double(y[i]), ref, accuracy: 2e-6 * max(1, abs(ref)), "\(isa) gelu n=\(n) x=\(x[i])")
                }
                var g = x
                llmopt_swiglu_f32(Int32(n), &g, up)
                for i in 0..<n {
                    let v = Double(x[i]), ref = v / (1 + exp(-v)) * Double(up[i])
                    XCTAssertEqual(Double(g[i]), ref, accuracy: 2e-6 * max(1, abs(ref)), "\(isa) swiglu n=\(n) x=\(x[i])")
                }
            }
        }
        // Far outside the exp range: the limits (to within 1e-30), not NaN or infinity.
        KernelTestData.forEachPath { isa in
            var far: [Float] = [-1e4, 1e4, -200, 200]
            llmopt_gelu_tanh_f32(4, &far)
            for (y, ref) in zip(far, [0, 1e4, 0, 200] as [Float]) { XCTAssertEqual(y, ref, accuracy: 1e-30, "\(isa) gelu far") }
            var g: [Float] = [-1e4, 1e4]
            llmopt_swiglu_f32(2, &g, [1, 1])
            for (y, ref) in zip(g, [0, 1e4] as [Float]) { XCTAssertEqual(y, ref, accuracy: 1e-30, "\(isa) swiglu far") }
        }
    }

    func testWeightedSum() {
        var rng = TestRandom(seed: 24)
        // 1 to 6 weight rows (one and two passes of the 4-row kernel); widths below, at and above one
        // 64-float tile; value rows with a stride wider than the width.
        for (m, n, width) in [(1, 1, 64), (2, 7, 16), (3, 300, 64), (4, 33, 100), (6, 5, 128), (5, 20, 64)] {
            let ld = width + 3, ldw = n + 2, ldo = width + 5
            let w = rng.floats(m * ldw), rows = rng.floats(n * ld)
            KernelTestData.forEachPath { isa in
                var out = [Float](repeating: .nan, count: m * ldo)
                llmopt_weighted_sum_f32(Int32(m), Int32(n), Int32(width), w, Int32(ldw), rows, Int32(ld), &out, Int32(ldo))
                for i in 0..<m {
                    for c in 0..<width {
                        let ref = (0..<n).reduce(0.0) { $0 + Double(w[i * ldw + $1]) * Double(rows[$1 * ld + c]) }
                        let mag = (0..<n).reduce(0.0) { $0 + abs(Double(w[i * ldw + $1]) * Double(rows[$1 * ld + c])) }
                        XCTAssertEqual(Double(out[i * ldo + c]), ref, accuracy: 1e-6 * max(mag, 1), "\(isa) m=\(m) n=\(n) width=\(width) i=\(i) c=\(c)")
                    }
                    for c in width..<ldo { XCTAssertTrue(out[i * ldo + c].isNaN, "\(isa) wrote past the width") }
                }
            }
        }
    }
}
