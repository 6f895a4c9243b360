import Foundation

/// Causal multi-head attention with grouped-query heads over a KV cache.
///
/// out: [tokens, heads * headDim]; q: [tokens, heads * headDim] (already rotated);
/// keys, values: [capacity, kvHeads * headDim] holding positions 0 ..< position + tokens;
/// scores: scratch [heads, capacity].
/// Token t sits at position `position + t` and attends to positions 0 ... position + t.
/// Query head h reads KV head h / (heads / kvHeads). Heads run in parallel.
func attentionForward(
    _ out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
    keys: UnsafePointer<Float>, values: UnsafePointer<Float>, scores: UnsafeMutablePointer<Float>,
    tokens: Int, position: Int, heads: Int, kvHeads: Int, headDim hd: Int, capacity: Int
) {
    let qWidth = heads * hd, kvWidth = kvHeads * hd
    let group = heads / kvHeads
    let scale = 1 / Float(hd).squareRoot()
    Parallel.forRanges(heads) { range in
        for h in range {
            let att = scores + h * capacity
            let kvOffset = (h / group) * hd
            for t in 0..<tokens {
                let qh = q + t * qWidth + h * hd
                let n = position + t + 1
                for p in 0..<n { att[p] = dot(qh, keys + p * kvWidth + kvOffset, hd) * scale }
                softmaxForward(att, count: n)
                let oh = out + t * qWidth + h * hd
                oh.update(repeating: 0, count: hd)
                for p in 0..<n {
                    let a = att[p], vp = values + p * kvWidth + kvOffset
                    for i in 0..<hd { oh[i] += a * vp[i] }
                }
            }
        }
    }
}
