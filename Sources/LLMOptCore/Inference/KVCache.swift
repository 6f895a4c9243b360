import Foundation

/// Keys and values of every layer. Layer l stores rows of `widths[l]` floats (its KV heads
/// times the head size), one row per position, so that a projection over a batch of tokens
/// writes straight into the cache.
///
/// A layer with a sliding window W (Mistral, Gemma's local layers) never reads further back than
/// W − 1 positions, so it holds a bounded number of rows instead of one per position of the
/// session: when new positions do not fit, the last W − 1 rows move to the front and the layer's
/// `base` (the position of its first row) advances. Rows are kept for about two windows plus a
/// batch, so the move happens once every W or so positions.
final class KVCache {
    /// Positions a session may reach.
    let capacity: Int
    let widths: [Int]
    let windows: [Int?]
    /// Rows each layer holds: `capacity`, or fewer under a window.
    let rows: [Int]
    let keys: [FloatBuffer]
    let values: [FloatBuffer]
    /// The position of each layer's first row.
    private var base: [Int]

    init(capacity: Int, widths: [Int], windows: [Int?]? = nil, maxBatch: Int = 1) {
        self.capacity = capacity
        self.widths = widths
        let windows = windows ?? widths.map { _ in nil }
        self.windows = windows
        rows = windows.map { Self.rows(capacity: capacity, window: $0, maxBatch: maxBatch) }
        keys = zip(widths, rows).map { FloatBuffer(count: $1 * $0) }
        values = zip(widths, rows).map { FloatBuffer(count: $1 * $0) }
        base = widths.map { _ in 0 }
    }

    /// The row of layer `l` where position `position` goes, with room for `count` new positions
    /// after the ones the window still sees. Attention over the layer's rows then runs with this
    /// row as its position: row r holds position `base + r`.
    func row(layer l: Int, position: Int, count: Int) -> Int {
        if position == 0 { base[l] = 0 }
        if position + count - base[l] > rows[l], let w = windows[l] {
            let keep = max(0, position - (w - 1)), width = widths[l]
            precondition(keep >= base[l], "KV cache layer \(l): position \(position) needs rows from \(keep), which were dropped at \(base[l])")
            let from = (keep - base[l]) * width, count = (position - keep) * width
            for buffer in [keys[l], values[l]] where from > 0 {
                memmove(buffer.pointer, buffer.pointer + from, count * MemoryLayout<Float>.size)
            }
            base[l] = keep
        }
        precondition(position >= base[l] && position - base[l] + count <= rows[l],
                     "KV cache layer \(l): positions \(position)..<\(position + count) do not fit its \(rows[l]) rows from \(base[l])")
        return position - base[l]
    }

    /// Bytes held by the cache.
    var byteCount: Int { zip(widths, rows).reduce(0) { $0 + 2 * $1.1 * $1.0 * 4 } }

    /// Rows a layer holds: every position, or about two windows plus a batch under a window.
    static func rows(capacity: Int, window: Int?, maxBatch: Int) -> Int {
        window.map { min(capacity, 2 * $0 + maxBatch) } ?? capacity
    }

    /// Bytes a cache of `capacity` positions holds for this config (the windows bound some layers).
    static func bytes(_ c: ModelConfig, capacity: Int, maxBatch: Int) -> Double {
        (0..<c.numLayers).reduce(0.0) { sum, l in
            let held = rows(capacity: capacity, window: c.window(layer: l), maxBatch: maxBatch)
            return sum + 2 * Double(held) * Double(c.numKVHeads * c.headDim) * 4
        }
    }
}
