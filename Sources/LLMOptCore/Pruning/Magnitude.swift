/// Unstructured magnitude pruning, with `torch.nn.utils.prune.l1_unstructured` /
/// `global_unstructured` semantics: the round(s·n) values of smallest |w| become zero
/// (Python's round, half to even), comparing |w| exactly in float32.
///
/// The cut is found without sorting everything: |w| as float32 bits is a monotonic integer key,
/// so a 65,536-bucket histogram of the top 16 bits finds the bucket holding the k-th key and
/// only that bucket is sorted. Values equal to the threshold are pruned in index order (the
/// concatenation order of the tensors for global scope).
enum Magnitude {
    /// The k-th smallest key and how many values equal to it are pruned (the first `ties` in order).
    struct Cut {
        var key: UInt32
        var ties: Int
    }

    @inline(__always) static func key(_ v: Float) -> UInt32 { v.bitPattern & 0x7FFF_FFFF }

    /// Number of values to prune: Python's `round(amount * n)`.
    static func pruneCount(sparsity: Double, of n: Int) -> Int {
        min(n, max(0, Int((sparsity * Double(n)).rounded(.toNearestOrEven))))
    }

    /// Where the `k` smallest |w| over `parts` (taken together, in order) end; nil when k is 0.
    static func cut(_ parts: [UnsafeBufferPointer<Float>], k: Int) -> Cut? {
        guard k > 0 else { return nil }
        let total = parts.reduce(0) { $0 + $1.count }
        if total <= 16_384 {
            // Short inputs (one row for Wanda): a plain sort beats clearing the histogram.
            var keys: [UInt32] = []
            keys.reserveCapacity(total)
            for p in parts { for v in p { keys.append(key(v)) } }
            keys.sort()
            let threshold = keys[k - 1]
            return Cut(key: threshold, ties: k - keys.prefix { $0 < threshold }.count)
        }
        var histogram = [Int](repeating: 0, count: 65_536)
        for p in parts { for v in p { histogram[Int(key(v) >> 16)] += 1 } }
        var below = 0, bucket = 0
        while below + histogram[bucket] < k { below += histogram[bucket]; bucket += 1 }
        var inBucket: [UInt32] = []
        inBucket.reserveCapacity(histogram[bucket])
        for p in parts { for v in p where Int(key(v) >> 16) == bucket { inBucket.append(key(v)) } }
        inBucket.sort()
        let threshold = inBucket[k - below - 1]
        let less = below + inBucket.prefix { $0 < threshold }.count
        return Cut(key: threshold, ties: k - less)
    }

    /// Copies `source` into `out` with the values under `cut` zeroed; `tiesLeft` counts down the
    /// threshold-valued entries still to prune (shared across the parts of a global cut).
    static func apply(_ cut: Cut?, source: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>, tiesLeft: inout Int) {
        for i in 0..<source.count {
            // w · 0 as torch's mask multiply does: negative weights become -0.0.
            out[i] = isPruned(key(source[i]), cut, tiesLeft: &tiesLeft) ? source[i] * 0 : source[i]
        }
    }

    /// Whether a value of key `k` falls under the cut (counting down the ties it takes).
    @inline(__always) static func isPruned(_ k: UInt32, _ cut: Cut?, tiesLeft: inout Int) -> Bool {
        guard let cut, k <= cut.key else { return false }
        if k < cut.key { return true }
        guard tiesLeft > 0 else { return false }
        tiesLeft -= 1
        return true
    }

    /// Prunes each of `names` on its own (`global == false`) or all of them together.
    /// Returns the new tensors and, for global scope, the largest pruned |w|.
    static func prune(_ model: Model, names: [String], sparsity: Double, global: Bool) throws -> (weights: [String: Tensor], threshold: Float?) {
        let sources = try names.map { try model.weight($0).toF32() }
        var result: [String: Tensor] = [:]
        if global {
            let total = sources.reduce(0) { $0 + $1.count }
            let parts = sources.map { UnsafeBufferPointer(start: $0.f32Pointer, count: $0.count) }
            let c = cut(parts, k: pruneCount(sparsity: sparsity, of: total))
            var ties = c?.ties ?? 0
            for (name, src) in zip(names, sources) {
                result[name] = Tensor.f32(shape: src.shape) { out in
                    apply(c, source: UnsafeBufferPointer(start: src.f32Pointer, count: src.count), into: out, tiesLeft: &ties)
                }
            }
            return (result, c.map { Float(bitPattern: $0.key) })
        }
        for (name, src) in zip(names, sources) {
            let part = UnsafeBufferPointer(start: src.f32Pointer, count: src.count)
            let c = cut([part], k: pruneCount(sparsity: sparsity, of: src.count))
            var ties = c?.ties ?? 0
            result[name] = Tensor.f32(shape: src.shape) { out in apply(c, source: part, into: out, tiesLeft: &ties) }
        }
        return (result, nil)
    }
}
