import CLLMOptKernels
import LLMOptCore
import XCTest

/// The blocked SGEMM and the GEMV, on every instruction-set path, against double-accumulated
/// references on odd shapes (nothing a multiple of the 32 x 12 register tile).
final class KernelGemmTests: XCTestCase {
    static let rowsCases = [1, 3, 16, 17, 64]
    static let shapes: [(n: Int, k: Int)] = [(1, 1), (31, 33), (33, 31), (172, 576), (1000, 172), (13, 1000)]

    func testInstructionSetIsReported() {
        let isa = String(cString: llmopt_kernels_isa())
        XCTAssertTrue(["avx512-vnni", "avx2-fma", "generic"].contains(isa), isa)
        #if arch(x86_64)
        // This project's machines have AVX-512 VNNI; a build that lost the fast path must not pass silently.
        if ProcessInfo.processInfo.environment["LLMOPT_ISA"] == nil {
            XCTAssertEqual(llmopt_kernels_isa_best(), Int32(LLMOPT_ISA_AVX512), "fast path unavailable: \(isa)")
        }
        #endif
    }

    func testPackedGemmMatchesReferenceOnEveryPath() {
        var rng = TestRandom(seed: 1)
        for m in Self.rowsCases {
            for (n, k) in Self.shapes {
                let x = rng.floats(m * k), w = rng.floats(n * k)
                let ref = KernelTestData.reference(x: x, m: m, w: w, n: n, k: k)
                let packed = [Float](unsafeUninitializedCapacity: llmopt_gemm_packed_a_floats(Int32(m), Int32(k))) { buf, count in
                    llmopt_gemm_pack_a(Int32(m), Int32(k), x, Int32(k), buf.baseAddress!)
                    count = buf.count
                }
                KernelTestData.forEachPath { isa in
                    var c = [Float](repeating: .nan, count: m * n)
                    llmopt_gemm_nt_packed(Int32(m), Int32(n), Int32(k), packed, w, Int32(LLMOPT_W_F32), k * 4, &c, Int32(n))
                    XCTAssertLessThan(KernelTestData.worstRelativeError(c, ref), 1e-5, "\(isa) m=\(m) n=\(n) k=\(k)")
                }
            }
        }
    }

    /// C (+)= A · B with B row-major (the backward pass's products), A packed from its rows or
    /// from its transpose, on every path; shapes cross the depth blocking and leave partial tiles.
    func testRowMajorRightOperandGemmMatchesReference() {
        var rng = TestRandom(seed: 4)
        for (m, n, k) in [(1, 1, 1), (37, 29, 45), (5, 12, 700), (1030, 27, 700), (70, 130, 9000)] {
            let a = rng.floats(m * k), b = rng.floats(k * n), start = rng.floats(m * n)
            var at = [Float](repeating: 0, count: k * m)
            for i in 0..<m { for p in 0..<k { at[p * m + i] = a[i * k + p] } }
            // The reference: B's columns as the rows of a [n, k] weight.
            var bt = [Float](repeating: 0, count: n * k)
            for p in 0..<k { for j in 0..<n { bt[j * k + p] = b[p * n + j] } }
            let product = KernelTestData.reference(x: a, m: m, w: bt, n: n, k: k)
            let floats = llmopt_gemm_packed_a_floats(Int32(m), Int32(k))
            let panels = Int32((m + Int(LLMOPT_GEMM_MR) - 1) / Int(LLMOPT_GEMM_MR))
            let fromRows = [Float](unsafeUninitializedCapacity: floats) { buf, count in
                llmopt_gemm_pack_a(Int32(m), Int32(k), a, Int32(k), buf.baseAddress!)
                count = buf.count
            }
            let fromTranspose = [Float](unsafeUninitializedCapacity: floats) { buf, count in
                llmopt_gemm_pack_a_transposed_panels(Int32(m), Int32(k), at, Int32(m), buf.baseAddress!, 0, panels)
                count = buf.count
            }
            XCTAssertEqual(fromRows, fromTranspose, "both packings give the same panels, m=\(m) k=\(k)")
            KernelTestData.forEachPath { isa in
                var c = [Float](repeating: .nan, count: m * n)
                llmopt_gemm_nn_packed(Int32(m), Int32(n), Int32(k), fromTranspose, b, Int32(n), &c, Int32(n), 0)
                XCTAssertLessThan(KernelTestData.worstRelativeError(c, product), 1e-5, "\(isa) m=\(m) n=\(n) k=\(k)")
                var acc = start
                llmopt_gemm_nn_packed(Int32(m), Int32(n), Int32(k), fromRows, b, Int32(n), &acc, Int32(n), 1)
                let expected = (values: zip(start, product.values).map { Double($0) + $1 },
                                magnitudes: zip(start, product.magnitudes).map { abs(Double($0)) + $1 })
                XCTAssertLessThan(KernelTestData.worstRelativeError(acc, expected), 1e-5, "\(isa) accumulate m=\(m) n=\(n) k=\(k)")
            }
        }
    }

    func testReferenceKernelAgrees() {
        var rng = TestRandom(seed: 2)
        let m = 5, n = 7, k = 33
        let x = rng.floats(m * k), w = rng.floats(n * k)
        var c = [Float](repeating: 0, count: m * n)
        llmopt_sgemm_nt_ref(Int32(m), Int32(n), Int32(k), x, Int32(k), w, Int32(k), &c, Int32(n), 0)
        XCTAssertLessThan(KernelTestData.worstRelativeError(c, KernelTestData.reference(x: x, m: m, w: w, n: n, k: k)), 1e-5)
    }

    /// A large k crosses the depth blocking (several packed blocks of A accumulate into C).
    func testDeepGemmAccumulatesAcrossDepthBlocks() {
        var rng = TestRandom(seed: 3)
        let m = 40, n = 25, k = 9000
        XCTAssertLessThan(Int(llmopt_gemm_kc(Int32(m), Int32(k))), k)
        let x = rng.floats(m * k), w = rng.floats(n * k)
        let weight = Tensor(shape: [n, k], floats: w)
        var y = [Float](repeating: .nan, count: m * n)
        Linear.forward(x, rows: m, weight: weight, into: &y)
        XCTAssertLessThan(KernelTestData.worstRelativeError(y, KernelTestData.reference(x: x, m: m, w: w, n: n, k: k)), 1e-5)
    }

    func testLinearWithFloatWeightsOnEveryPath() {
        var rng = TestRandom(seed: 4)
        for dtype in [DType.f32, .f16, .bf16] {
            for m in Self.rowsCases + [Linear.smallRowLimit, Linear.smallRowLimit + 1] {
                for (n, k) in [(31, 33), (172, 576), (100, 172)] {
                    KernelTestData.checkLinearAgainstReference(dtype: dtype, m: m, n: n, k: k, rng: &rng)
                }
            }
        }
    }

    /// Strided operands: A and B rows wider than k (heads inside KV rows), C rows wider than n.
    func testMultiplyTransposedWithStrides() {
        var rng = TestRandom(seed: 6)
        for m in [1, 5, 40] {
            let n = 29, k = 64, lda = 100, ldb = 130, ldc = 37
            let a = rng.floats(m * lda), b = rng.floats(n * ldb)
            var c = [Float](repeating: 7, count: m * ldc)
            Linear.multiplyTransposed(a, rows: m, lda: lda, b, bRows: n, ldb: ldb, depth: k, into: &c, ldc: ldc)
            let denseA = (0..<m).flatMap { i in a[(i * lda)..<(i * lda + k)] }
            let denseB = (0..<n).flatMap { j in b[(j * ldb)..<(j * ldb + k)] }
            let ref = KernelTestData.reference(x: denseA, m: m, w: denseB, n: n, k: k)
            let got = (0..<m).flatMap { i in c[(i * ldc)..<(i * ldc + n)] }
            XCTAssertLessThan(KernelTestData.worstRelativeError(got, ref), 1e-5, "m=\(m)")
            for i in 0..<m { XCTAssertEqual(c[(i * ldc + n)..<(i * ldc + ldc)].allSatisfy { $0 == 7 }, true, "row \(i) padding written") }
        }
    }

    /// Types without a kernel (i8 here) take the reference path: dequantize, then GEMM.
    func testLinearWithInt8WeightsUsesTheReferencePath() {
        var rng = TestRandom(seed: 5)
        let n = 9, k = 20, m = 3
        let weight = Tensor.raw(shape: [n, k], dtype: .i8) { buf in
            for i in 0..<buf.count { buf[i] = UInt8(truncatingIfNeeded: Int(rng.next() % 255) - 127) }
        }
        let x = rng.floats(m * k)
        var y = [Float](repeating: .nan, count: m * n)
        Linear.forward(x, rows: m, weight: weight, into: &y)
        XCTAssertLessThan(KernelTestData.worstRelativeError(y, KernelTestData.reference(x: x, m: m, w: weight.floats(), n: n, k: k)), 1e-5)
    }
}
