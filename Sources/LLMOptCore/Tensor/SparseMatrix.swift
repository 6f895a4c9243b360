/// A pruned weight [out, in] in compressed sparse row form: per row, the non-zero values and
/// their column indices (16-bit: inputs up to 65,536 wide). At sparsity s it holds 6·(1 − s)
/// bytes per weight instead of 4, so a GEMV reads less memory than dense once s passes 1/3.
///
/// `multiply` computes y = x Wᵀ like `Linear.forward`. Whether it beats the dense kernel is a
/// measurement, not a promise (`PruneSparseKernelTests`, 1536 x 576 on this CPU, shared): for
/// prefill (128 tokens) the dense AVX-512 GEMM wins up to about 90% sparsity (2.4 ms; CSR 9.2 ms
/// at 50%, 5.9 at 70%, 2.3 at 90%) because gathers defeat its SIMD; for decoding (one token,
/// weights streamed from memory) fewer bytes win: dense 0.31 ms, CSR 0.15 at 50%, 0.12 at
/// 70%, 0.07 at 90%, while with the weight in cache dense still wins (0.05 ms).
/// So pruning attaches a CSR copy to weights of at least `attachSparsity`, which `Linear`
/// uses for one-token calls only.
public final class SparseMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    /// Start of each row's entries in `values`/`columnIndices`; `rows + 1` offsets.
    public let rowStarts: [Int32]
    public let columnIndices: [UInt16]
    public let values: [Float]

    /// Weights at least this sparse get a CSR copy for decoding (from the measurements above).
    public static let attachSparsity = 0.7

    /// The non-zero entries of a 2-D weight (any dtype; converted to float32).
    public init(_ weight: Tensor, name: String = "weight") throws {
        guard weight.rank == 2 else {
            throw LLMOptError.invalidArgument(name: name, reason: "a sparse matrix needs a 2-D tensor, got shape \(weight.shape)")
        }
        guard weight.columns <= 65_536 else {
            throw LLMOptError.invalidArgument(name: name, reason: "\(weight.columns) input columns exceed the 16-bit column index")
        }
        let f = weight.toF32()
        let p = f.f32Pointer
        rows = f.shape[0]
        columns = f.shape[1]
        var starts: [Int32] = [0]
        var indices: [UInt16] = []
        var vals: [Float] = []
        starts.reserveCapacity(rows + 1)
        for r in 0..<rows {
            for c in 0..<columns where p[r * columns + c] != 0 {
                indices.append(UInt16(c))
                vals.append(p[r * columns + c])
            }
            starts.append(Int32(vals.count))
        }
        rowStarts = starts
        columnIndices = indices
        values = vals
    }

    public var nonZeroCount: Int { values.count }
    public var byteCount: Int { values.count * 6 + rowStarts.count * 4 }

    /// y[t, r] = Σ_c x[t, c] · W[r, c] for `tokens` rows of activations x [tokens, columns].
    /// One token: a gather dot product per row. Several: x is transposed once so that each
    /// non-zero adds a contiguous, vectorizable run of `tokens` values.
    public func multiply(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>) {
        rowStarts.withUnsafeBufferPointer { starts in
            columnIndices.withUnsafeBufferPointer { cols in
                values.withUnsafeBufferPointer { vals in
                    let sp = starts.baseAddress!, cp = cols.baseAddress!, vp = vals.baseAddress!
                    if tokens == 1 {
                        Parallel.forRanges(rows, grain: 64) { range in
                            for r in range {
                                var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
                                var k = Int(sp[r])
                                let end = Int(sp[r + 1])
                                while k + 4 <= end {
                                    a0 += vp[k] * x[Int(cp[k])]
                                    a1 += vp[k + 1] * x[Int(cp[k + 1])]
                                    a2 += vp[k + 2] * x[Int(cp[k + 2])]
                                    a3 += vp[k + 3] * x[Int(cp[k + 3])]
                                    k += 4
                                }
                                while k < end { a0 += vp[k] * x[Int(cp[k])]; k += 1 }
                                y[r] = (a0 + a1) + (a2 + a3)
                            }
                        }
                        return
                    }
                    let xt = UnsafeMutablePointer<Float>.allocate(capacity: columns * tokens)
                    defer { xt.deallocate() }
                    for t in 0..<tokens { for c in 0..<columns { xt[c * tokens + t] = x[t * columns + c] } }
                    Parallel.forRanges(rows, grain: 16) { range in
                        let acc = UnsafeMutablePointer<Float>.allocate(capacity: tokens)
                        defer { acc.deallocate() }
                        for r in range {
                            acc.initialize(repeating: 0, count: tokens)
                            for k in Int(sp[r])..<Int(sp[r + 1]) {
                                let v = vp[k], src = xt + Int(cp[k]) * tokens
                                for t in 0..<tokens { acc[t] += v * src[t] }
                            }
                            for t in 0..<tokens { y[t * rows + r] = acc[t] }
                        }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// The same tensor (its bytes shared) with a CSR copy of its values that `Linear` uses for
    /// one-token calls.
    public func withSparseCopy(name: String) throws -> Tensor {
        let csr = try SparseMatrix(self, name: name)
        let shared = TensorStorage(borrowing: storage.base, byteCount: storage.byteCount, owner: storage, sparse: csr)
        return Tensor(shape: shape, dtype: dtype, storage: shared, byteOffset: byteOffset)
    }
}
