/// Keys and values of every layer for `capacity` positions. Layer l stores rows of
/// `widths[l]` floats (its KV heads times the head size), one row per position, so that a
/// projection over a batch of tokens writes straight into the cache.
final class KVCache {
    let capacity: Int
    let widths: [Int]
    let keys: [FloatBuffer]
    let values: [FloatBuffer]

    init(capacity: Int, widths: [Int]) {
        self.capacity = capacity
        self.widths = widths
        keys = widths.map { FloatBuffer(count: capacity * $0) }
        values = widths.map { FloatBuffer(count: capacity * $0) }
    }

    /// Bytes held by the cache.
    var byteCount: Int { widths.reduce(0) { $0 + 2 * capacity * $1 * 4 } }
}
