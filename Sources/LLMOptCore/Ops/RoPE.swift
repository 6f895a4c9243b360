import Foundation

/// Rotary position embedding tables and their application.
///
/// Frequencies follow llama2.c and Hugging Face exactly, in float32:
/// inv_freq[i] = 1 / theta^(2i / headDim), angle = pos * inv_freq[i].
struct RoPETable {
    let headDim: Int
    /// cos and sin of every angle: [positions, headDim / 2].
    let cos: [Float]
    let sin: [Float]

    init(positions: Int, headDim: Int, theta: Float) {
        self.headDim = headDim
        let half = headDim / 2
        var c = [Float](repeating: 0, count: positions * half)
        var s = c
        for i in 0..<half {
            let invFreq = 1 / powf(theta, Float(2 * i) / Float(headDim))
            for p in 0..<positions {
                let angle = Float(p) * invFreq
                c[p * half + i] = cosf(angle)
                s[p * half + i] = sinf(angle)
            }
        }
        cos = c
        sin = s
    }
}

/// Rotates `heads` vectors of `headDim` floats at position `pos`, in place.
/// x: [heads, headDim]. `interleaved`: pairs (2i, 2i+1) (llama2.c, GGUF); otherwise pairs
/// (i, i + headDim/2) (Hugging Face's rotate-half).
@inline(__always)
func ropeForward(_ x: UnsafeMutablePointer<Float>, heads: Int, table: RoPETable, pos: Int, interleaved: Bool) {
    let hd = table.headDim, half = hd / 2
    table.cos.withUnsafeBufferPointer { cosb in
        table.sin.withUnsafeBufferPointer { sinb in
            let c = cosb.baseAddress! + pos * half, s = sinb.baseAddress! + pos * half
            for h in 0..<heads {
                let v = x + h * hd
                if interleaved {
                    for i in 0..<half {
                        let a = v[2 * i], b = v[2 * i + 1]
                        v[2 * i] = a * c[i] - b * s[i]
                        v[2 * i + 1] = a * s[i] + b * c[i]
                    }
                } else {
                    for i in 0..<half {
                        let a = v[i], b = v[i + half]
                        v[i] = a * c[i] - b * s[i]
                        v[i + half] = b * c[i] + a * s[i]
                    }
                }
            }
        }
    }
}
