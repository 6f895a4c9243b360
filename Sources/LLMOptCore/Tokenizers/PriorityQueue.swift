/// A binary min-heap of 64-bit keys, the work queue of every BPE merge loop here. Each loop
/// packs "merge this first" into the key: the high 32 bits order pairs by rank or score, the
/// low 32 bits by position, so that ties go to the leftmost pair. Concrete rather than
/// generic: builds without whole-module optimization would not specialize a generic heap
/// across files, and the merge loops spend most of their time here.
struct PriorityQueue {
    private var heap: [UInt64] = []

    init(capacity: Int = 0) { heap.reserveCapacity(capacity) }

    /// A key's high half for a score where higher merges first (ties between -0 and +0 as
    /// equal, as C's `>` treats them).
    static func descending(_ score: Float) -> UInt64 {
        let bits = (score == 0 ? Float(0) : score).bitPattern
        let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return UInt64(~ascending)
    }

    mutating func push(_ key: UInt64) {
        heap.append(key)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child] < heap[parent] else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        var parent = 0
        let count = heap.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { break }
            let right = left + 1
            let child = right < count && heap[right] < heap[left] ? right : left
            guard heap[child] < heap[parent] else { break }
            heap.swapAt(child, parent)
            parent = child
        }
        return top
    }
}
