/// BPE merges by rank over token ids, as GPT-2, Hugging Face's `BPE` model and llama.cpp's BPE
/// tokenizer apply them: repeatedly merge the adjacent pair with the lowest rank, the leftmost
/// one on ties, until no adjacent pair has a merge.
struct MergeTable: Sendable {
    /// (left << 32 | right) -> (rank << 32 | merged id).
    private var table: [UInt64: UInt64] = [:]

    init() {}

    var count: Int { table.count }

    /// Adds a merge; the first rank given to a pair wins (as in llama.cpp).
    mutating func add(left: Int, right: Int, merged: Int, rank: Int) {
        let key = Self.key(Int32(left), Int32(right))
        if table[key] == nil { table[key] = UInt64(rank) << 32 | UInt64(UInt32(merged)) }
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always)
    private func lookup(_ left: Int32, _ right: Int32) -> (rank: UInt32, merged: Int32)? {
        guard let value = table[Self.key(left, right)] else { return nil }
        return (UInt32(value >> 32), Int32(truncatingIfNeeded: value & 0xFFFF_FFFF))
    }

    /// Merges `symbols` in place.
    func apply(_ symbols: inout [Int32]) {
        if symbols.count < 2 { return }
        if symbols.count <= 24 { applyByScanning(&symbols) } else { applyWithQueue(&symbols) }
    }

    /// Short words: rescan all pairs after each merge (what GPT-2's Python code does).
    private func applyByScanning(_ symbols: inout [Int32]) {
        while symbols.count > 1 {
            var bestRank = UInt32.max, bestIndex = -1, bestMerged: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                if let m = lookup(symbols[i], symbols[i + 1]), m.rank < bestRank {
                    bestRank = m.rank
                    bestIndex = i
                    bestMerged = m.merged
                }
            }
            if bestIndex < 0 { return }
            symbols[bestIndex] = bestMerged
            symbols.remove(at: bestIndex + 1)
        }
    }

    /// Long inputs (a whole text without pre-tokenization): a queue of candidate pairs keyed
    /// by (rank, position) over a linked list of symbols, O(n log n).
    private func applyWithQueue(_ symbols: inout [Int32]) {
        let n = symbols.count
        var next = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = Int32(i + 1) }
            buf[n - 1] = -1
            count = n
        }
        var prev = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = Int32(i - 1) }
            count = n
        }
        var alive = [Bool](repeating: true, count: n)
        var queue = PriorityQueue<UInt64>(capacity: n)
        func push(_ left: Int32) {
            guard left >= 0 else { return }
            let right = next[Int(left)]
            guard right >= 0, let m = lookup(symbols[Int(left)], symbols[Int(right)]) else { return }
            queue.push(UInt64(m.rank) << 32 | UInt64(UInt32(left)))
        }
        for i in 0..<(n - 1) { push(Int32(i)) }
        while let entry = queue.pop() {
            let left = Int(entry & 0xFFFF_FFFF)
            guard alive[left] else { continue }
            let right = Int(next[left])
            // A pair still has this rank only if it is still the same pair.
            guard right >= 0, let m = lookup(symbols[left], symbols[right]), m.rank == UInt32(entry >> 32) else { continue }
            symbols[left] = m.merged
            alive[right] = false
            let after = next[right]
            next[left] = after
            if after >= 0 { prev[Int(after)] = Int32(left) }
            push(prev[left])
            push(Int32(left))
        }
        var merged: [Int32] = []
        var i: Int32 = 0
        while i >= 0 {
            merged.append(symbols[Int(i)])
            i = next[Int(i)]
        }
        symbols = merged
    }
}
