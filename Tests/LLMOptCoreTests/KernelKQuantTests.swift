import CLLMOptKernels
import LLMOptCore
import XCTest

/// The integer decode kernels of ggml's 5-bit blocks (Q5_0, Q5_1, against 8-bit 32-blocks) and
/// K-quants (Q2_K ... Q6_K, against Q8_K super-blocks, as llama.cpp's `vec_dot_*_q8_K`), on every
/// instruction-set path, against a naive product written here: the dequantized weight row times
/// the dequantized activation row, accumulated in double precision.
final class KernelKQuantTests: XCTestCase {
    static let types: [DType] = [.q5_0, .q5_1, .q2_k, .q3_k, .q4_k, .q5_k, .q6_k]

    /// ggml's quantize_row_q8_K_ref, written out: per 256 values m = the value of largest
    /// magnitude (first one wins), s = -127 / m, q = min(127, round_half_even(s x)), d = 1 / s,
    /// and the sum of every 16 codes.
    static func naiveQ8K(_ x: [Float]) -> [UInt8] {
        var out = [UInt8]()
        for b in 0..<(x.count / 256) {
            let v = x[(b * 256)..<(b * 256 + 256)]
            var amax: Float = 0, m: Float = 0
            for value in v where abs(value) > amax { amax = abs(value); m = value }
            var q = [Int8](repeating: 0, count: 256)
            var d: Float = 0
            if amax > 0 {
                let s = -127 / m
                for (j, value) in v.enumerated() { q[j] = Int8(min(127, (s * value).rounded(.toNearestOrEven))) }
                d = 1 / s
            }
            withUnsafeBytes(of: d.bitPattern.littleEndian) { out += $0 }
            out += q.map { UInt8(bitPattern: $0) }
            for s in 0..<16 {
                let sum = Int16(q[(16 * s)..<(16 * s + 16)].reduce(0) { $0 + Int($1) })
                withUnsafeBytes(of: sum.littleEndian) { out += $0 }
            }
        }
        return out
    }

    /// The values a quantized activation row stands for: d · q per block.
    static func dequantizedActivations(_ qx: UnsafeRawPointer, wtype: Int32, k: Int) -> [Double] {
        if llmopt_act_is_q8k(wtype) != 0 {
            return (0..<k).map { p in
                let block = qx + (p / 256) * Int(LLMOPT_Q8K_BLOCK_BYTES)
                return Double(block.loadUnaligned(as: Float.self)) * Double(block.load(fromByteOffset: 4 + p % 256, as: Int8.self))
            }
        }
        var values = [Double]()
        var scale: Float = 0, sum: Int32 = 0
        var codes = [Int8](repeating: 0, count: 32)
        for b in 0..<(k / 32) {
            llmopt_q8act_block(Int32(k), qx, Int32(b), &scale, &sum, &codes)
            values += codes.map { Double(scale) * Double($0) }
        }
        return values
    }

    /// A weight of n rows quantized from random values (some rows with outliers) by the format's
    /// reference quantizer, and its dequantized values.
    static func weight(n: Int, k: Int, dtype: DType, rng: inout TestRandom) -> (Tensor, [Float]) {
        var values = rng.floats(n * k)
        for i in stride(from: 0, to: values.count, by: 97) { values[i] *= 8 }
        let format = dtype.format
        let w = Tensor.raw(shape: [n, k], dtype: dtype) { buf in
            values.withUnsafeBufferPointer { v in
                for r in 0..<n { format.quantizeRow!(v.baseAddress! + r * k, k, buf.baseAddress! + r * (k / format.blockSize) * format.blockBytes) }
            }
        }
        return (w, w.floats())
    }

    func testQ8KQuantizerIsGGMLs() {
        var rng = TestRandom(seed: 40)
        var x = rng.floats(768)
        for i in stride(from: 3, to: 256, by: 41) { x[i] *= -30 }  // the first block's scale comes from a negative value
        for i in 512..<768 { x[i] = 0 }                              // an all-zero block: d = 0
        x[300] = 4; x[301] = -4                                      // a tie of magnitudes: the first one sets the sign
        let expected = Self.naiveQ8K(x)
        XCTAssertEqual(Int(llmopt_act_row_bytes(Int32(LLMOPT_W_Q4_K), 768)), expected.count)
        var got = [UInt8](repeating: 0xAA, count: expected.count)
        got.withUnsafeMutableBytes { llmopt_q8k_quantize(768, x, $0.baseAddress!) }
        let firstDifference = got.indices.first { got[$0] != expected[$0] }
        XCTAssertNil(firstDifference, "Q8_K bytes differ at \(firstDifference ?? -1)")
        // d is negative when the largest value is positive (s = -127 / m), as in ggml.
        let d1 = got.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Int(LLMOPT_Q8K_BLOCK_BYTES), as: Float.self) }
        XCTAssertEqual(d1, -4 / 127, accuracy: 1e-7)
    }

    func testIntegerKernelsMatchNaiveProductOnEveryPath() {
        var rng = TestRandom(seed: 41)
        for dtype in Self.types {
            let wtype = dtype.format.kernelType!
            XCTAssertEqual(llmopt_qgemm_supports(wtype), 1, "\(dtype)")
            XCTAssertTrue(dtype.format.integerKernel, "\(dtype)")
            for (m, n, k) in [(1, 7, 256), (3, 5, 768), (6, 9, 512)] {
                let (weight, w) = Self.weight(n: n, k: k, dtype: dtype, rng: &rng)
                let x = rng.floats(m * k)
                let xb = llmopt_act_row_bytes(wtype, Int32(k))
                var qx = [UInt8](repeating: 0, count: xb * m)
                var expected = [Double](repeating: 0, count: m * n), tolerance = expected
                qx.withUnsafeMutableBytes { buf in
                    for i in 0..<m { llmopt_act_quantize(wtype, Int32(k), x.withUnsafeBufferPointer { $0.baseAddress! } + i * k, buf.baseAddress! + i * xb) }
                    for i in 0..<m {
                        let xd = Self.dequantizedActivations(buf.baseAddress! + i * xb, wtype: wtype, k: k)
                        for j in 0..<n {
                            let row = w[(j * k)..<(j * k + k)]
                            // Terms d·scale·q and dmin·min may cancel in w: errors scale with the row's largest value.
                            let rowMax = Double(row.map { abs($0) }.max()!)
                            var s = 0.0, mag = 0.0
                            for p in 0..<k {
                                s += Double(row[row.startIndex + p]) * xd[p]
                                mag += (abs(Double(row[row.startIndex + p])) + rowMax) * abs(xd[p])
                            }
                            expected[i * n + j] = s
                            tolerance[i * n + j] = 2e-6 * mag
                        }
                    }
                }
                var ref = [Float](repeating: .nan, count: m * n)
                llmopt_qgemm_nt_ref(Int32(m), Int32(n), Int32(k), qx, weight.rawPointer, wtype, weight.rowBytes, &ref, Int32(n))
                for i in ref.indices {
                    XCTAssertEqual(Double(ref[i]), expected[i], accuracy: tolerance[i], "reference \(dtype) m=\(m) k=\(k) i=\(i)")
                }
                KernelTestData.forEachPath { isa in
                    var got = [Float](repeating: .nan, count: m * n)
                    llmopt_qgemm_nt(Int32(m), Int32(n), Int32(k), qx, weight.rawPointer, wtype, weight.rowBytes, &got, Int32(n))
                    for i in got.indices {
                        XCTAssertEqual(Double(got[i]), expected[i], accuracy: tolerance[i], "\(isa) \(dtype) m=\(m) k=\(k) i=\(i)")
                    }
                }
            }
        }
    }

    /// Decode (few rows) through `Linear`, one weight and fused weights of mixed activation
    /// formats, gives the naive product with the activations rounded as llama.cpp rounds them.
    /// Prefill's packed GEMM converts K-quant and 5-bit rows exactly: its product equals, bit for
    /// bit, the same GEMM on the rows dequantized to float32 by the reference
    /// (`llmopt_kquant_dequantize_row`), on every path. k = 1280 is five super-blocks, so the
    /// GEMM's depth blocking cuts some of them; n = 13 leaves a partial column tile.
    func testPackedGemmConvertsRowsExactly() {
        var rng = TestRandom(seed: 31)
        let m = 37, n = 13, k = 1280
        let a = rng.floats(m * k)
        var packed = [Float](repeating: 0, count: llmopt_gemm_packed_a_floats(Int32(m), Int32(k)))
        llmopt_gemm_pack_a(Int32(m), Int32(k), a, Int32(k), &packed)
        for dtype in Self.types {
            let wtype = dtype.format.kernelType!
            let rb = llmopt_weight_row_bytes(wtype, Int32(k))
            var rows = [UInt8](repeating: 0, count: rb * n), dequantized = [Float](repeating: 0, count: n * k)
            let w = rng.floats(n * k)
            for r in 0..<n {
                rows.withUnsafeMutableBytes { buf in
                    XCTAssertEqual(llmopt_kquant_quantize_row(wtype, Int32(k), Array(w[(r * k)..<((r + 1) * k)]), buf.baseAddress! + r * rb), 0)
                    XCTAssertEqual(llmopt_kquant_dequantize_row(wtype, Int32(k), buf.baseAddress! + r * rb, &dequantized[r * k]), 0)
                }
            }
            KernelTestData.forEachPath { isa in
                var fromRows = [Float](repeating: 0, count: m * n), fromFloats = fromRows
                llmopt_gemm_nt_packed(Int32(m), Int32(n), Int32(k), packed, rows, wtype, rb, &fromRows, Int32(n))
                llmopt_gemm_nt_packed(Int32(m), Int32(n), Int32(k), packed, dequantized, Int32(LLMOPT_W_F32), k * 4, &fromFloats, Int32(n))
                let first = fromRows.indices.first { fromRows[$0].bitPattern != fromFloats[$0].bitPattern }
                XCTAssertNil(first, "\(dtype) \(isa): C differs at \(first ?? -1)")
            }
        }
    }

    func testLinearDecodeUsesIntegerKernels() {
        var rng = TestRandom(seed: 42)
        let k = 512, m = 2
        let x = rng.floats(m * k)
        let weights = [DType.q4_k, .q5_0, .q6_k, .q8_0].map { Self.weight(n: 19, k: k, dtype: $0, rng: &rng) }
        var fused = weights.map { _ in [Float](repeating: .nan, count: m * 19) }
        fused.withUnsafeMutableBufferPointer { outs in
            let pointers = (0..<outs.count).map { outs[$0].withUnsafeMutableBufferPointer { $0.baseAddress! } }
            Linear.forward(x, rows: m, weights: weights.map(\.0), into: pointers)
        }
        for (index, (weight, w)) in weights.enumerated() {
            let wtype = weight.dtype.format.kernelType!
            var y = [Float](repeating: .nan, count: m * 19)
            Linear.forward(x, rows: m, weight: weight, into: &y)
            let xb = llmopt_act_row_bytes(wtype, Int32(k))
            var qx = [UInt8](repeating: 0, count: xb)
            for i in 0..<m {
                let xd = qx.withUnsafeMutableBytes { buf -> [Double] in
                    llmopt_act_quantize(wtype, Int32(k), x.withUnsafeBufferPointer { $0.baseAddress! } + i * k, buf.baseAddress!)
                    return Self.dequantizedActivations(buf.baseAddress!, wtype: wtype, k: k)
                }
                for j in 0..<19 {
                    var s = 0.0, mag = 0.0
                    for p in 0..<k {
                        s += Double(w[j * k + p]) * xd[p]
                        mag += abs(Double(w[j * k + p]) * xd[p])
                    }
                    XCTAssertEqual(Double(y[i * 19 + j]), s, accuracy: 1e-4 * mag, "\(weight.dtype) row \(i) out \(j)")
                    XCTAssertEqual(fused[index][i * 19 + j], y[i * 19 + j], accuracy: 1e-6 * Float(mag), "fused \(weight.dtype)")
                }
            }
        }
    }
}
