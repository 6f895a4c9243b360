import CLLMOptKernels
import Foundation

// Forward/backward pairs of every op of the Llama and GPT-2 forward passes, in the manner of
// llm.c: plain loops over unsafe float buffers, the shapes in the first comment, backward
// functions that *add* into parameter gradients (so micro-batches accumulate) and write (or add,
// where said) input gradients. Matrix products go to the engine's GEMM (`Linear.multiplyTransposed`);
// `TrainingReference` beside them holds naive triple loops the tests compare against, and the
// tests check every backward against finite differences.
//
// N = B·T rows; row r is token t = r % T of sequence b = r / T.

public typealias FloatPtr = UnsafeMutablePointer<Float>
public typealias ConstFloatPtr = UnsafePointer<Float>

enum TrainOps {
    // MARK: Matmul (linear layer): y[N, out] = x[N, in] · W[out, in]ᵀ

    /// y[n, o] = x[n, in] · W[o, in]ᵀ (+ bias[o]).
    static func linearForward(_ y: FloatPtr, _ x: ConstFloatPtr, rows n: Int, weight w: ConstFloatPtr, out: Int, in k: Int,
                              bias: ConstFloatPtr? = nil) {
        Linear.multiplyTransposed(x, rows: n, lda: k, w, bRows: out, ldb: k, depth: k, into: y, ldc: out)
        if let bias {
            for r in 0..<n {
                let row = y + r * out
                for o in 0..<out { row[o] += bias[o] }
            }
        }
    }

    /// Given dy[n, out]: dx[n, in] (=, or += when `accumulate`) dy · W; dW[out, in] += dyᵀ · x;
    /// dbias[out] += Σ_rows dy. Both products read W, dy and x where they lie (W and x as
    /// row-major right operands, dy packed from its transpose): no transposed copies.
    static func linearBackward(dx: FloatPtr?, accumulate: Bool, dW: FloatPtr, dBias: FloatPtr? = nil, dy: ConstFloatPtr,
                               x: ConstFloatPtr, weight w: ConstFloatPtr, rows n: Int, out: Int, in k: Int) {
        if let dx {
            Linear.multiply(dy, rows: n, depth: out, lda: out, w, columns: k, ldb: k, into: dx, ldc: k, accumulate: accumulate)
        }
        Linear.multiply(transposed: dy, rows: out, depth: n, lda: out, x, columns: k, ldb: k, into: dW, ldc: k, accumulate: true)
        if let dBias {
            for r in 0..<n {
                let row = dy + r * out
                for o in 0..<out { dBias[o] += row[o] }
            }
        }
    }

    @inline(__always)
    static func add(_ a: FloatPtr, _ b: ConstFloatPtr, count: Int) {
        for i in 0..<count { a[i] += b[i] }
    }

    // MARK: Embedding: x[N, d] = table[ids[r]]

    static func embeddingForward(_ x: FloatPtr, table: ConstFloatPtr, ids: [Int], dim d: Int) {
        for (r, id) in ids.enumerated() { (x + r * d).update(from: table + id * d, count: d) }
    }

    /// dtable[ids[r]] += dx[r].
    static func embeddingBackward(dTable: FloatPtr, dx: ConstFloatPtr, ids: [Int], dim d: Int) {
        for (r, id) in ids.enumerated() { add(dTable + id * d, dx + r * d, count: d) }
    }

    // MARK: RMSNorm: y = x / sqrt(mean(x²) + eps) · w   (x, y [N, d]; rstd [N])

    static func rmsNormForward(_ y: FloatPtr, rstd: FloatPtr, _ x: ConstFloatPtr, weight w: ConstFloatPtr, rows n: Int, dim d: Int, eps: Float) {
        for r in 0..<n {
            let xr = x + r * d, yr = y + r * d
            var ss: Float = 0
            for i in 0..<d { ss += xr[i] * xr[i] }
            let s = 1 / (ss / Float(d) + eps).squareRoot()
            rstd[r] = s
            for i in 0..<d { yr[i] = w[i] * (xr[i] * s) }
        }
    }

    /// dx (=) from dy; dw += Σ dy·x̂.
    static func rmsNormBackward(dx: FloatPtr, dw: FloatPtr, dy: ConstFloatPtr, x: ConstFloatPtr, weight w: ConstFloatPtr,
                                rstd: ConstFloatPtr, rows n: Int, dim d: Int) {
        for r in 0..<n {
            let xr = x + r * d, dyr = dy + r * d, dxr = dx + r * d, s = rstd[r]
            var dot: Float = 0
            for i in 0..<d {
                let xhat = xr[i] * s
                dot += dyr[i] * w[i] * xhat
                dw[i] += dyr[i] * xhat
            }
            let m = dot / Float(d)
            for i in 0..<d { dxr[i] = s * (dyr[i] * w[i] - xr[i] * s * m) }
        }
    }

    // MARK: LayerNorm: y = (x − mean) / sqrt(var + eps) · w + b   (mean, rstd [N])

    static func layerNormForward(_ y: FloatPtr, mean: FloatPtr, rstd: FloatPtr, _ x: ConstFloatPtr, weight w: ConstFloatPtr,
                                 bias b: ConstFloatPtr, rows n: Int, dim d: Int, eps: Float) {
        for r in 0..<n {
            let xr = x + r * d, yr = y + r * d
            var m: Float = 0
            for i in 0..<d { m += xr[i] }
            m /= Float(d)
            var v: Float = 0
            for i in 0..<d { let c = xr[i] - m; v += c * c }
            v /= Float(d)
            let s = 1 / (v + eps).squareRoot()
            mean[r] = m
            rstd[r] = s
            for i in 0..<d { yr[i] = (xr[i] - m) * s * w[i] + b[i] }
        }
    }

    static func layerNormBackward(dx: FloatPtr, dw: FloatPtr, db: FloatPtr, dy: ConstFloatPtr, x: ConstFloatPtr, weight w: ConstFloatPtr,
                                  mean: ConstFloatPtr, rstd: ConstFloatPtr, rows n: Int, dim d: Int) {
        for r in 0..<n {
            let xr = x + r * d, dyr = dy + r * d, dxr = dx + r * d, m = mean[r], s = rstd[r]
            var dnormMean: Float = 0, dnormXhat: Float = 0
            for i in 0..<d {
                let xhat = (xr[i] - m) * s, dn = dyr[i] * w[i]
                dnormMean += dn
                dnormXhat += dn * xhat
                dw[i] += dyr[i] * xhat
                db[i] += dyr[i]
            }
            dnormMean /= Float(d)
            dnormXhat /= Float(d)
            for i in 0..<d {
                let xhat = (xr[i] - m) * s
                dxr[i] = s * (dyr[i] * w[i] - dnormMean - xhat * dnormXhat)
            }
        }
    }

    // MARK: RoPE, in place over rows of `heads` vectors of headDim (row stride `stride`)

    /// Rotates every head of every row at position t = r % T; `inverse` rotates by −angle (the backward).
    static func rope(_ x: FloatPtr, rows n: Int, seq T: Int, heads: Int, stride: Int, table: RoPETable, interleaved: Bool, inverse: Bool) {
        let hd = table.headDim, half = hd / 2
        table.cos.withUnsafeBufferPointer { cosb in
            table.sin.withUnsafeBufferPointer { sinb in
                for r in 0..<n {
                    let pos = r % T
                    let c = cosb.baseAddress! + pos * half, sn = sinb.baseAddress! + pos * half
                    for h in 0..<heads {
                        let v = x + r * stride + h * hd
                        for i in 0..<half {
                            let s = inverse ? -sn[i] : sn[i]
                            let (ia, ib) = interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
                            let a = v[ia], b = v[ib]
                            v[ia] = a * c[i] - b * s
                            v[ib] = b * c[i] + a * s
                        }
                    }
                }
            }
        }
    }

    // MARK: Causal attention with grouped-query heads
    // q: [N, heads·hd] at row stride qs; k, v: [N, kvHeads·hd] at strides ks, vs; out [N, heads·hd]
    // at stride os; probs [B, heads, T, T] (zero above the diagonal).

    struct AttentionShape {
        var batch: Int, seq: Int, heads: Int, kvHeads: Int, headDim: Int
        var qStride: Int, kStride: Int, vStride: Int, outStride: Int
        /// A sliding window W: position t attends to t − W + 1 ... t only (Mistral); nil: to 0 ... t.
        var window: Int? = nil

        /// The first position that position t attends to.
        func first(_ t: Int) -> Int { window.map { max(0, t - $0 + 1) } ?? 0 }
    }

    /// out = softmax(q·kᵀ/√hd + causal (or sliding-window) mask) · v per (sequence, head), the two products on the
    /// engine's packed GEMM (single-threaded kernels, one (sequence, head) job per thread at a time).
    /// `roundScores` (autocast): scores q·kᵀ and their scaling rounded to bfloat16 (or float16), and
    /// the probabilities rounded where they multiply v, as PyTorch's autocast does.
    static func attentionForward(out: FloatPtr, probs: FloatPtr, q: ConstFloatPtr, k: ConstFloatPtr, v: ConstFloatPtr, shape s: AttentionShape,
                                 roundScores: TrainingPrecision = .fp32) {
        let T = s.seq, hd = s.headDim, group = s.heads / s.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let rounds = roundScores != .fp32
        let packFloats = llmopt_gemm_packed_a_floats(Int32(T), Int32(max(T, hd)))
        Parallel.forRanges(s.batch * s.heads) { range in
            let packed = FloatPtr.allocate(capacity: packFloats), vt = FloatPtr.allocate(capacity: hd * T)
            let pr = FloatPtr.allocate(capacity: rounds ? T * T : 1)
            defer { packed.deallocate(); vt.deallocate(); pr.deallocate() }
            for job in range {
                let b = job / s.heads, h = job % s.heads, kh = h / group
                let qb = q + b * T * s.qStride + h * hd, kb = k + b * T * s.kStride + kh * hd, vb = v + b * T * s.vStride + kh * hd
                let p = probs + (b * s.heads + h) * T * T
                llmopt_gemm_pack_a(Int32(T), Int32(hd), qb, Int32(s.qStride), packed)
                llmopt_gemm_nt_packed(Int32(T), Int32(T), Int32(hd), packed, UnsafeRawPointer(kb), Int32(LLMOPT_W_F32), s.kStride * 4, p, Int32(T))
                for t in 0..<T {
                    let row = p + t * T, lo = s.first(t)
                    let live = row + lo, n = t - lo + 1
                    Precision.round(live, live, count: n, to: roundScores)
                    for u in 0..<n { live[u] *= scale }
                    Precision.round(live, live, count: n, to: roundScores)
                    var mx = -Float.infinity
                    for u in 0..<n { mx = max(mx, live[u]) }
                    var sum: Float = 0
                    for u in lo...t { let e = expf(row[u] - mx); row[u] = e; sum += e }
                    let inv = 1 / sum
                    for u in lo...t { row[u] *= inv }
                    for u in 0..<lo { row[u] = 0 }
                    for u in (t + 1)..<T { row[u] = 0 }
                }
                for u in 0..<T { for i in 0..<hd { vt[i * T + u] = vb[u * s.vStride + i] } }
                var pa = ConstFloatPtr(p)
                if rounds { Precision.round(pr, p, count: T * T, to: roundScores); pa = ConstFloatPtr(pr) }
                llmopt_gemm_pack_a(Int32(T), Int32(T), pa, Int32(T), packed)
                llmopt_gemm_nt_packed(Int32(T), Int32(hd), Int32(T), packed, UnsafeRawPointer(vt), Int32(LLMOPT_W_F32), T * 4,
                                      out + b * T * s.outStride + h * hd, Int32(s.outStride))
            }
        }
    }

    /// dq, dk, dv (=) from dout, on the packed GEMM. Jobs are (sequence, kv head), so the query
    /// heads sharing a kv head add into its dk/dv from one thread:
    /// dP = dO·vᵀ; dS = P∘(dP − rowsum(P∘dP))/√hd; dq = dS·k; dk += dSᵀ·q; dv += Pᵀ·dO.
    static func attentionBackward(dq: FloatPtr, dk: FloatPtr, dv: FloatPtr, dout: ConstFloatPtr, probs: ConstFloatPtr,
                                  q: ConstFloatPtr, k: ConstFloatPtr, v: ConstFloatPtr, shape s: AttentionShape) {
        let T = s.seq, hd = s.headDim, group = s.heads / s.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let packFloats = llmopt_gemm_packed_a_floats(Int32(T), Int32(max(T, hd)))
        let f32 = Int32(LLMOPT_W_F32)
        Parallel.forRanges(s.batch * s.kvHeads) { range in
            let packed = FloatPtr.allocate(capacity: packFloats)
            let ds = FloatPtr.allocate(capacity: T * T), dst = FloatPtr.allocate(capacity: T * T)
            let kt = FloatPtr.allocate(capacity: hd * T), xt = FloatPtr.allocate(capacity: hd * T), acc = FloatPtr.allocate(capacity: T * hd)
            defer { [packed, ds, dst, kt, xt, acc].forEach { $0.deallocate() } }
            for job in range {
                let b = job / s.kvHeads, kh = job % s.kvHeads
                let kb = k + b * T * s.kStride + kh * hd, vb = v + b * T * s.vStride + kh * hd
                let dkb = dk + b * T * s.kStride + kh * hd, dvb = dv + b * T * s.vStride + kh * hd
                for t in 0..<T { for i in 0..<hd { dkb[t * s.kStride + i] = 0; dvb[t * s.vStride + i] = 0 } }
                for u in 0..<T { for i in 0..<hd { kt[i * T + u] = kb[u * s.kStride + i] } }
                for h in (kh * group)..<((kh + 1) * group) {
                    let p = probs + (b * s.heads + h) * T * T
                    let dob = dout + b * T * s.outStride + h * hd, qb = q + b * T * s.qStride + h * hd
                    let dqb = dq + b * T * s.qStride + h * hd
                    // dP = dO · vᵀ
                    llmopt_gemm_pack_a(Int32(T), Int32(hd), dob, Int32(s.outStride), packed)
                    llmopt_gemm_nt_packed(Int32(T), Int32(T), Int32(hd), packed, UnsafeRawPointer(vb), f32, s.vStride * 4, ds, Int32(T))
                    for t in 0..<T {
                        let pr = p + t * T, dr = ds + t * T
                        var dot: Float = 0
                        for u in 0...t { dot += pr[u] * dr[u] }
                        for u in 0...t { dr[u] = pr[u] * (dr[u] - dot) * scale }
                        for u in (t + 1)..<T { dr[u] = 0 }
                    }
                    // dv += Pᵀ · dO
                    for t in 0..<T { for u in 0..<T { dst[u * T + t] = p[t * T + u] } }
                    for t in 0..<T { for i in 0..<hd { xt[i * T + t] = dob[t * s.outStride + i] } }
                    llmopt_gemm_pack_a(Int32(T), Int32(T), dst, Int32(T), packed)
                    llmopt_gemm_nt_packed(Int32(T), Int32(hd), Int32(T), packed, UnsafeRawPointer(xt), f32, T * 4, acc, Int32(hd))
                    for u in 0..<T { for i in 0..<hd { dvb[u * s.vStride + i] += acc[u * hd + i] } }
                    // dq = dS · k
                    llmopt_gemm_pack_a(Int32(T), Int32(T), ds, Int32(T), packed)
                    llmopt_gemm_nt_packed(Int32(T), Int32(hd), Int32(T), packed, UnsafeRawPointer(kt), f32, T * 4, dqb, Int32(s.qStride))
                    // dk += dSᵀ · q
                    for t in 0..<T { for u in 0..<T { dst[u * T + t] = ds[t * T + u] } }
                    for t in 0..<T { for i in 0..<hd { xt[i * T + t] = qb[t * s.qStride + i] } }
                    llmopt_gemm_pack_a(Int32(T), Int32(T), dst, Int32(T), packed)
                    llmopt_gemm_nt_packed(Int32(T), Int32(hd), Int32(T), packed, UnsafeRawPointer(xt), f32, T * 4, acc, Int32(hd))
                    for u in 0..<T { for i in 0..<hd { dkb[u * s.kStride + i] += acc[u * hd + i] } }
                }
            }
        }
    }

    // MARK: SwiGLU: h = silu(g) · u   (g, u, h [count])

    static func swigluForward(_ h: FloatPtr, gate g: ConstFloatPtr, up u: ConstFloatPtr, count: Int) {
        for i in 0..<count {
            let x = g[i]
            h[i] = x / (1 + expf(-x)) * u[i]
        }
    }

    static func swigluBackward(dGate: FloatPtr, dUp: FloatPtr, dh: ConstFloatPtr, gate g: ConstFloatPtr, up u: ConstFloatPtr, count: Int) {
        for i in 0..<count {
            let x = g[i], sig = 1 / (1 + expf(-x)), silu = x * sig
            dUp[i] = dh[i] * silu
            dGate[i] = dh[i] * u[i] * sig * (1 + x * (1 - sig))
        }
    }

    // MARK: GELU, tanh approximation: y = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))

    static let geluScale: Float = (2 / Float.pi).squareRoot()

    static func geluForward(_ y: FloatPtr, _ x: ConstFloatPtr, count: Int) {
        for i in 0..<count {
            let v = x[i]
            y[i] = 0.5 * v * (1 + tanhf(geluScale * (v + 0.044715 * v * v * v)))
        }
    }

    static func geluBackward(dx: FloatPtr, dy: ConstFloatPtr, x: ConstFloatPtr, count: Int) {
        for i in 0..<count {
            let v = x[i], cube = 0.044715 * v * v * v
            let th = tanhf(geluScale * (v + cube))
            let sech2 = 1 - th * th
            let local = 0.5 * (1 + th) + 0.5 * v * sech2 * geluScale * (1 + 3 * 0.044715 * v * v)
            dx[i] = local * dy[i]
        }
    }

    // MARK: Cross-entropy over next-token predictions
    // logits [N, V] → overwritten by dloss/dlogits · `gradScale`. Row r predicts ids[r + 1] when
    // r % T < T − 1; the last position of each row is unused (zero gradient). Returns the sum of
    // the per-position losses (Double) and writes each into `nll` when given.

    static func crossEntropyForwardBackward(_ logits: FloatPtr, ids: [Int], seq T: Int, vocab V: Int, gradScale: Float,
                                            nll: FloatPtr? = nil, backward: Bool = true) -> Double {
        let n = ids.count
        var partial = [Double](repeating: 0, count: n)
        partial.withUnsafeMutableBufferPointer { part in
            let partBase = part.baseAddress!
            Parallel.forRanges(n, grain: 8) { range in
                for r in range {
                    let row = logits + r * V
                    guard r % T < T - 1 else {
                        if backward { for i in 0..<V { row[i] = 0 } }
                        continue
                    }
                    let target = ids[r + 1]
                    var mx = -Float.infinity
                    for i in 0..<V { mx = max(mx, row[i]) }
                    var sum: Float = 0
                    for i in 0..<V { sum += expf(row[i] - mx) }
                    let logZ = logf(sum)
                    let loss = -(row[target] - mx - logZ)
                    partBase[r] = Double(loss)
                    nll?[r] = loss
                    if backward {
                        let inv = 1 / sum
                        for i in 0..<V { row[i] = expf(row[i] - mx) * inv * gradScale }
                        row[target] -= gradScale
                    }
                }
            }
        }
        return partial.reduce(0, +)
    }
}

/// Scratch buffers reused across calls, by slot; each grows to the largest request.
final class Scratch {
    private var buffers: [FloatBuffer?] = Array(repeating: nil, count: 20)

    func buffer(_ slot: Int, count: Int) -> FloatPtr {
        if let b = buffers[slot], b.count >= count { return b.pointer }
        let b = FloatBuffer(count: count)
        buffers[slot] = b
        return b.pointer
    }

    var byteCount: Int { buffers.reduce(0) { $0 + ($1?.count ?? 0) * 4 } }
}

/// Naive references of the GEMM-based kernels (the tests compare the fast ones against these).
enum TrainingReference {
    // Causal attention as plain loops over (sequence, head) and positions.
    /// `roundScores` (autocast): scores q·kᵀ and their scaling rounded to bfloat16 (or float16), and
    /// the probabilities rounded where they multiply v, as PyTorch's autocast does.
    static func attentionForward(out: FloatPtr, probs: FloatPtr, q: ConstFloatPtr, k: ConstFloatPtr, v: ConstFloatPtr, shape s: TrainOps.AttentionShape,
                                 roundScores: TrainingPrecision = .fp32) {
        let half: (Float) -> Float = roundScores == .fp16 ? Precision.fp16 : Precision.bf16
        let rounds = roundScores != .fp32
        let T = s.seq, hd = s.headDim, group = s.heads / s.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        Parallel.forRanges(s.batch * s.heads) { range in
            for job in range {
                let b = job / s.heads, h = job % s.heads, kh = h / group
                for t in 0..<T {
                    let qt = q + (b * T + t) * s.qStride + h * hd
                    let p = probs + ((b * s.heads + h) * T + t) * T
                    var mx = -Float.infinity
                    let lo = s.first(t)
                    for u in 0..<lo { p[u] = 0 }
                    for u in lo...t {
                        let ku = k + (b * T + u) * s.kStride + kh * hd
                        var dot: Float = 0
                        for i in 0..<hd { dot += qt[i] * ku[i] }
                        let sc = rounds ? half(half(dot) * scale) : dot * scale
                        p[u] = sc
                        mx = max(mx, sc)
                    }
                    var sum: Float = 0
                    for u in lo...t { let e = expf(p[u] - mx); p[u] = e; sum += e }
                    let inv = 1 / sum
                    for u in lo...t { p[u] *= inv }
                    for u in (t + 1)..<T { p[u] = 0 }
                    let o = out + (b * T + t) * s.outStride + h * hd
                    for i in 0..<hd { o[i] = 0 }
                    for u in lo...t {
                        let vu = v + (b * T + u) * s.vStride + kh * hd, pu = rounds ? half(p[u]) : p[u]
                        for i in 0..<hd { o[i] += pu * vu[i] }
                    }
                }
            }
        }
    }

    /// dq, dk, dv (=) from dout. Jobs are (sequence, kv head) so that the query heads sharing a
    /// kv head add into its dk/dv from one thread. `scratch` needs threads·T floats.
    static func attentionBackward(dq: FloatPtr, dk: FloatPtr, dv: FloatPtr, dout: ConstFloatPtr, probs: ConstFloatPtr,
                                  q: ConstFloatPtr, k: ConstFloatPtr, v: ConstFloatPtr, shape s: TrainOps.AttentionShape) {
        let T = s.seq, hd = s.headDim, group = s.heads / s.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        Parallel.forRanges(s.batch * s.kvHeads) { range in
            let dp = FloatPtr.allocate(capacity: T)
            defer { dp.deallocate() }
            for job in range {
                let b = job / s.kvHeads, kh = job % s.kvHeads
                for t in 0..<T {
                    let dkt = dk + (b * T + t) * s.kStride + kh * hd, dvt = dv + (b * T + t) * s.vStride + kh * hd
                    for i in 0..<hd { dkt[i] = 0; dvt[i] = 0 }
                }
                for h in (kh * group)..<((kh + 1) * group) {
                    for t in 0..<T {
                        let p = probs + ((b * s.heads + h) * T + t) * T
                        let dot = dout + (b * T + t) * s.outStride + h * hd
                        let qt = q + (b * T + t) * s.qStride + h * hd
                        let dqt = dq + (b * T + t) * s.qStride + h * hd
                        var sum: Float = 0
                        for u in 0...t {
                            let vu = v + (b * T + u) * s.vStride + kh * hd
                            let dvu = dv + (b * T + u) * s.vStride + kh * hd
                            var d: Float = 0
                            let pu = p[u]
                            for i in 0..<hd { d += dot[i] * vu[i]; dvu[i] += pu * dot[i] }
                            dp[u] = d
                            sum += pu * d
                        }
                        for i in 0..<hd { dqt[i] = 0 }
                        for u in 0...t {
                            let ds = p[u] * (dp[u] - sum) * scale
                            let ku = k + (b * T + u) * s.kStride + kh * hd
                            let dku = dk + (b * T + u) * s.kStride + kh * hd
                            for i in 0..<hd { dqt[i] += ds * ku[i]; dku[i] += ds * qt[i] }
                        }
                    }
                }
            }
        }
    }


    /// y[n, out] = x · Wᵀ (+ bias), a plain triple loop.
    static func linearForward(_ y: FloatPtr, _ x: ConstFloatPtr, rows n: Int, weight w: ConstFloatPtr, out: Int, in k: Int, bias: ConstFloatPtr? = nil) {
        for r in 0..<n {
            for o in 0..<out {
                var s: Float = bias?[o] ?? 0
                for i in 0..<k { s += x[r * k + i] * w[o * k + i] }
                y[r * out + o] = s
            }
        }
    }

    /// dx = dy · W (=), dW += dyᵀ x, dbias += Σ dy, as plain loops.
    static func linearBackward(dx: FloatPtr, dW: FloatPtr, dBias: FloatPtr?, dy: ConstFloatPtr, x: ConstFloatPtr, weight w: ConstFloatPtr,
                               rows n: Int, out: Int, in k: Int) {
        for r in 0..<n {
            for i in 0..<k {
                var s: Float = 0
                for o in 0..<out { s += dy[r * out + o] * w[o * k + i] }
                dx[r * k + i] = s
            }
        }
        for o in 0..<out {
            for i in 0..<k {
                var s: Float = 0
                for r in 0..<n { s += dy[r * out + o] * x[r * k + i] }
                dW[o * k + i] += s
            }
            if let dBias { for r in 0..<n { dBias[o] += dy[r * out + o] } }
        }
    }
}
