import CLLMOptKernels
import Foundation

/// Scratch memory of attention, allocated once per session.
final class AttentionScratch {
    let capacity: Int
    /// Decode: one row of scores per head, [heads, capacity].
    let headScores: FloatBuffer
    /// Prefill: per head, the scores of one block of `attentionBlockRows` tokens, [heads, attentionBlockRows, capacity].
    let blockScores: FloatBuffer
    /// Prefill: every KV head's values transposed, [kvHeads, headDim, capacity].
    let valuesT: FloatBuffer

    init(capacity: Int, maxHeads: Int, headDim: Int) {
        self.capacity = capacity
        headScores = FloatBuffer(count: maxHeads * capacity)
        blockScores = FloatBuffer(count: maxHeads * attentionBlockRows * capacity)
        valuesT = FloatBuffer(count: maxHeads * headDim * capacity)
    }
}

/// Causal multi-head attention with grouped-query heads over a KV cache.
///
/// out: [tokens, heads * headDim]; q: [tokens, heads * headDim] (already rotated);
/// keys, values: [capacity, kvHeads * headDim] holding positions 0 ..< position + tokens.
/// Token t sits at position `position + t` and attends to positions 0 ... position + t.
/// Query head h reads KV head h / (heads / kvHeads). With a sliding `window` W, position p
/// attends only to the W positions p − W + 1 ... p (Mistral, Gemma's local layers). Scores are
/// scaled by `scale` (1/√headDim unless the family says otherwise).
/// A few tokens (decode) run KV head by KV head in parallel; a block of tokens (prefill) runs each
/// head as two matrix products on the GEMM kernels.
func attentionForward(
    _ out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
    keys: UnsafePointer<Float>, values: UnsafePointer<Float>, scratch: AttentionScratch,
    tokens: Int, position: Int, heads: Int, kvHeads: Int, headDim hd: Int, window: Int? = nil, scale: Float? = nil
) {
    let scale = scale ?? 1 / Float(hd).squareRoot()
    if tokens >= attentionBlockThreshold {
        attentionBlockForward(out, q: q, keys: keys, values: values, scratch: scratch, tokens: tokens,
                              position: position, heads: heads, kvHeads: kvHeads, headDim: hd, window: window, scale: scale)
        return
    }
    let qWidth = heads * hd, kvWidth = kvHeads * hd
    let group = heads / kvHeads
    let scores = scratch.headScores.pointer, capacity = scratch.capacity
    // Short contexts of small models are cheaper on one thread than handed out to several.
    let work = heads * tokens * (position + tokens) * hd
    // Query heads are split between threads (9 heads share 3 KV heads in SmolLM2: split by KV
    // head, one thread got twice the work of the other). Within a thread's range, the heads that
    // share a KV head go together, so its cached keys and values are read once for them.
    Parallel.forRanges(heads, grain: work < 1 << 16 ? heads : 1) { range in
        var h = range.lowerBound
        while h < range.upperBound {
            let kv = h / group
            let end = min(range.upperBound, (kv + 1) * group), m = end - h
            let att = scores + h * capacity
            let kvOffset = kv * hd
            for t in 0..<tokens {
                let qh = q + t * qWidth + h * hd
                let end = position + t + 1, start = window.map { max(0, end - $0) } ?? 0, n = end - start
                // Scores: the cached keys of this KV head are a matrix of n rows, kvWidth floats apart.
                llmopt_gemm_small(Int32(m), Int32(n), Int32(hd), qh, Int32(hd), UnsafeRawPointer(keys + start * kvWidth + kvOffset),
                                  Int32(LLMOPT_W_F32), kvWidth * 4, att, Int32(capacity))
                for g in 0..<m {
                    let row = att + g * capacity
                    for p in 0..<n { row[p] *= scale }
                    softmaxForward(row, count: n)
                }
                llmopt_weighted_sum_f32(Int32(m), Int32(n), Int32(hd), att, Int32(capacity), values + start * kvWidth + kvOffset,
                                        Int32(kvWidth), out + t * qWidth + h * hd, Int32(hd))
            }
            h = end
        }
    }
}

/// Token count from which attention runs as matrix products.
let attentionBlockThreshold = 16

/// Query rows per block in the prefill form: one packed panel of the GEMM.
let attentionBlockRows = Int(LLMOPT_GEMM_MR)

/// The prefill form of `attentionForward`. Heads run in parallel, each on one thread; per block of
/// `attentionBlockRows` queries, S = Q Kᵀ over only the keys the block's last token sees (the
/// causal mask skips the rest: 56% of the full square at 256 tokens; a sliding window skips the
/// keys before the block's first token's window), softmax row by row over the keys each row
/// sees, then O = S V (V transposed once per KV head so both products are A·Bᵀ).
func attentionBlockForward(
    _ out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
    keys: UnsafePointer<Float>, values: UnsafePointer<Float>, scratch: AttentionScratch,
    tokens: Int, position: Int, heads: Int, kvHeads: Int, headDim hd: Int, window: Int?, scale: Float
) {
    let qWidth = heads * hd, kvWidth = kvHeads * hd
    let group = heads / kvHeads
    let n = position + tokens, capacity = scratch.capacity
    let scores = scratch.blockScores.pointer, vt = scratch.valuesT.pointer
    let f32 = Int32(LLMOPT_W_F32)
    Parallel.forRanges(kvHeads * hd) { dims in
        for r in dims {
            let dst = vt + r * capacity, src = values + (r / hd) * hd + r % hd
            for p in 0..<n { dst[p] = src[p * kvWidth] }
        }
    }
    // One head per chunk: a thread that comes free takes the next head.
    Parallel.forRanges(heads, chunksPerThread: heads) { range in
        for h in range {
            let kv = h / group, s = scores + h * attentionBlockRows * capacity
            var t0 = 0
            while t0 < tokens {
                let rows = min(attentionBlockRows, tokens - t0)
                // Keys lo ..< end: from the first row's window start to the last row's own position.
                let end = position + t0 + rows, lo = window.map { max(0, position + t0 + 1 - $0) } ?? 0, seen = end - lo
                var packed = llmopt_scratch(2, llmopt_gemm_packed_a_floats(Int32(rows), Int32(hd)) * 4)!.assumingMemoryBound(to: Float.self)
                llmopt_gemm_pack_a(Int32(rows), Int32(hd), q + t0 * qWidth + h * hd, Int32(qWidth), packed)
                llmopt_gemm_nt_packed(Int32(rows), Int32(seen), Int32(hd), packed, UnsafeRawPointer(keys + lo * kvWidth + kv * hd), f32,
                                      kvWidth * 4, s, Int32(capacity))
                for t in 0..<rows {
                    let row = s + t * capacity, visible = position + t0 + t + 1
                    let first = (window.map { max(0, visible - $0) } ?? 0) - lo, last = visible - lo
                    for p in first..<last { row[p] *= scale }
                    softmaxForward(row + first, count: last - first)
                    row.update(repeating: 0, count: first)
                    (row + last).update(repeating: 0, count: seen - last)
                }
                packed = llmopt_scratch(2, llmopt_gemm_packed_a_floats(Int32(rows), Int32(seen)) * 4)!.assumingMemoryBound(to: Float.self)
                llmopt_gemm_pack_a(Int32(rows), Int32(seen), s, Int32(capacity), packed)
                llmopt_gemm_nt_packed(Int32(rows), Int32(hd), Int32(seen), packed, UnsafeRawPointer(vt + kv * hd * capacity + lo), f32,
                                      capacity * 4, out + t0 * qWidth + h * hd, Int32(qWidth))
                t0 += rows
            }
        }
    }
}
