import Foundation

/// Data-parallel training: each rank runs the rows of the global batch dealt to it (row r to
/// rank r mod N) and the gradients are summed over the ranks, so every rank applies the same
/// update a single process would.
///
/// The loss is the mean over the B·(T−1) predictions of the global batch. A rank runs its rows
/// in micro-batches of at most B/K rows (K = --accumulate: the same memory bound per process as
/// one process with accumulation); a micro-batch of c rows returns its own mean and has its
/// gradient scaled by c/B, so the sum over all micro-batches of all ranks is the gradient of the
/// global mean. With one rank this is plain gradient accumulation.
extension Trainer {
    /// Runs this rank's rows of the step's batch `ids` (B rows of T, row-major) forward and
    /// backward, sums the gradients (already zeroed) and the loss over the ranks, and returns
    /// the global batch's mean loss.
    func accumulateGradients(ids: [Int]) throws -> Double {
        let o = options, comm = communicator
        let rows = (0..<o.batch).filter { comm.owner(of: $0) == comm.rank }
        let micro = o.batch / o.accumulate
        let scale = Float(lossScale)
        var weightedLoss = 0.0
        var start = 0
        while start < rows.count {
            let part = rows[start..<min(rows.count, start + micro)]
            var chunk: [Int] = []
            chunk.reserveCapacity(part.count * o.seq)
            for r in part { chunk += ids[(r * o.seq)..<((r + 1) * o.seq)] }
            let share = Float(part.count) / Float(o.batch)
            let mean = try graph.run(ids: chunk, batch: part.count, seq: o.seq, backward: true, gradScale: scale * share)
            weightedLoss += mean * Double(part.count)
            start += micro
        }
        guard comm.isDistributed else { return weightedLoss / Double(o.batch) }
        try graph.parameters.withGradients { try comm.allReduceSum($0) }
        return try comm.allReduceSum([weightedLoss])[0] / Double(o.batch)
    }
}
