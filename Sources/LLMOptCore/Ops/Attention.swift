import CLLMOptKernels
import Foundation

/// Scratch memory of attention, allocated once per session.
final class AttentionScratch {
    let capacity: Int
    /// Decode: one row of scores per head, [heads, capacity].
    let headScores: FloatBuffer
    /// Prefill: the scores of a block of tokens for one head, [maxBatch, capacity].
    let blockScores: FloatBuffer
    /// Prefill: one KV head's values transposed, [headDim, capacity].
    let valuesT: FloatBuffer

    init(capacity: Int, maxBatch: Int, maxHeads: Int, headDim: Int) {
        self.capacity = capacity
        headScores = FloatBuffer(count: maxHeads * capacity)
        blockScores = FloatBuffer(count: maxBatch * capacity)
        valuesT = FloatBuffer(count: headDim * capacity)
    }
}

/// Causal multi-head attention with grouped-query heads over a KV cache.
///
/// out: [tokens, heads * headDim]; q: [tokens, heads * headDim] (already rotated);
/// keys, values: [capacity, kvHeads * headDim] holding positions 0 ..< position + tokens.
/// Token t sits at position `position + t` and attends to positions 0 ... position + t.
/// Query head h reads KV head h / (heads / kvHeads).
/// A few tokens (decode) run head by head in parallel; a block of tokens (prefill) runs each
/// head as two matrix products on the GEMM kernels.
func attentionForward(
    _ out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
    keys: UnsafePointer<Float>, values: UnsafePointer<Float>, scratch: AttentionScratch,
    tokens: Int, position: Int, heads: Int, kvHeads: Int, headDim hd: Int
) {
    if tokens >= attentionBlockThreshold {
        attentionBlockForward(out, q: q, keys: keys, values: values, scratch: scratch, tokens: tokens,
                              position: position, heads: heads, kvHeads: kvHeads, headDim: hd)
        return
    }
    let qWidth = heads * hd, kvWidth = kvHeads * hd
    let group = heads / kvHeads
    let scale = 1 / Float(hd).squareRoot()
    let scores = scratch.headScores.pointer, capacity = scratch.capacity
    // Short contexts of small models are cheaper on one thread than handed out to several.
    let work = heads * tokens * (position + tokens) * hd
    Parallel.forRanges(heads, grain: work < 1 << 16 ? heads : 1) { range in
        for h in range {
            let att = scores + h * capacity
            let kvOffset = (h / group) * hd
            for t in 0..<tokens {
                let qh = q + t * qWidth + h * hd
                let n = position + t + 1
                // Scores: the cached keys of this head are a matrix of n rows, kvWidth floats apart.
                llmopt_gemv(Int32(n), Int32(hd), qh, UnsafeRawPointer(keys + kvOffset), Int32(LLMOPT_W_F32), kvWidth * 4, att)
                for p in 0..<n { att[p] *= scale }
                softmaxForward(att, count: n)
                llmopt_weighted_sum_f32(Int32(n), Int32(hd), att, values + kvOffset, Int32(kvWidth), out + t * qWidth + h * hd)
            }
        }
    }
}

/// Token count from which attention runs as matrix products.
let attentionBlockThreshold = 16

/// The prefill form of `attentionForward`: per head, S = Q Kᵀ [tokens, n], causal mask and
/// softmax row by row, then O = S V (V transposed once per KV head so both products are A·Bᵀ).
func attentionBlockForward(
    _ out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
    keys: UnsafePointer<Float>, values: UnsafePointer<Float>, scratch: AttentionScratch,
    tokens: Int, position: Int, heads: Int, kvHeads: Int, headDim hd: Int
) {
    let qWidth = heads * hd, kvWidth = kvHeads * hd
    let group = heads / kvHeads
    let scale = 1 / Float(hd).squareRoot()
    let n = position + tokens
    let s = scratch.blockScores.pointer, vt = scratch.valuesT.pointer
    for kv in 0..<kvHeads {
        let kvOffset = kv * hd
        Parallel.forRanges(hd) { dims in
            for i in dims { for p in 0..<n { vt[i * n + p] = values[p * kvWidth + kvOffset + i] } }
        }
        for h in kv * group ..< (kv + 1) * group {
            Linear.multiplyTransposed(q + h * hd, rows: tokens, lda: qWidth, keys + kvOffset, bRows: n, ldb: kvWidth,
                                      depth: hd, into: s, ldc: n)
            Parallel.forRanges(tokens) { rows in
                for t in rows {
                    let row = s + t * n, visible = position + t + 1
                    for p in 0..<visible { row[p] *= scale }
                    softmaxForward(row, count: visible)
                    (row + visible).update(repeating: 0, count: n - visible)
                }
            }
            Linear.multiplyTransposed(s, rows: tokens, lda: n, vt, bRows: hd, ldb: n, depth: n, into: out + h * hd, ldc: qWidth)
        }
    }
}
