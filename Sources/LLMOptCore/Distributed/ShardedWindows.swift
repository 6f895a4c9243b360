import Foundation

extension Communicator {
    /// Evaluation sharded by window: this rank runs `score(w)` for the windows it owns
    /// (w mod N), and every rank gets all windows' values back in window order, so sums over
    /// them are made in the order one process makes them and give the same result bit for bit.
    /// A failure on any rank stops every rank with it (`agree`).
    func shardedScores(windows count: Int, _ score: (Int) throws -> [Double]) throws -> [[Double]] {
        guard isDistributed else { return try (0..<count).map(score) }
        // Each owned window as its length, then its values.
        let local = try agree { () -> [Double] in
            var flat: [Double] = []
            for w in stride(from: rank, to: count, by: size) {
                let values = try score(w)
                flat.append(Double(values.count))
                flat += values
            }
            return flat
        }
        let parts = try allGather(local)
        var windows = [[Double]](repeating: [], count: count)
        for (r, part) in parts.enumerated() {
            var i = 0
            for w in stride(from: r, to: count, by: size) {
                guard i < part.count else { break }
                let n = Int(part[i])
                windows[w] = Array(part[(i + 1)..<(i + 1 + n)])
                i += 1 + n
            }
        }
        return windows
    }
}
