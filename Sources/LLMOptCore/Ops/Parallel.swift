import CLLMOptKernels
import Foundation

/// Splits work across all cores. Kernels are single-threaded; this decides who does what, and
/// the C thread pool (pool.c) runs it: its workers spin between the hundreds of short jobs of a
/// decode step instead of sleeping and being woken for each.
public enum Parallel {
    /// Threads used for compute; `LLMOPT_THREADS` overrides the number of active cores.
    public static let threadCount: Int = {
        var n = max(1, ProcessInfo.processInfo.activeProcessorCount)
        if let s = ProcessInfo.processInfo.environment["LLMOPT_THREADS"], let v = Int(s), v > 0 { n = v }
        return Int(llmopt_pool_start(Int32(n)))
    }()

    /// Runs `body(range)` over `0..<count` in up to `threadCount · chunksPerThread` contiguous
    /// chunks, each a multiple of `grain` (except the last). Runs inline when there is one chunk.
    /// Threads take chunks as they come free, so several chunks per thread keep all threads busy
    /// when one of them is descheduled (a shared machine) or slowed (GPT-2 small prefill 74 -> 83
    /// GFLOP/s at load 4 with 4 per thread). A chunk costs the pool about a compare-and-swap.
    /// The chunks depend only on the arguments and `threadCount`, so results do not depend on
    /// which thread ran which chunk.
    public static func forRanges(_ count: Int, grain: Int = 1, chunksPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let units = (count + grain - 1) / grain
        let chunks = min(threadCount * max(1, chunksPerThread), units)
        if chunks <= 1 || threadCount == 1 { body(0..<count); return }
        let per = (units + chunks - 1) / chunks * grain
        withoutActuallyEscaping(body) { body in
            var job = Job(body: body, count: count, per: per)
            withUnsafeMutablePointer(to: &job) { pointer in
                llmopt_pool_run(Int32(chunks), { context, index in
                    let job = context!.assumingMemoryBound(to: Job.self).pointee
                    let lo = Int(index) * job.per
                    let hi = min(job.count, lo + job.per)
                    if lo < hi { job.body(lo..<hi) }
                }, pointer)
            }
        }
    }

    /// What the pool's C tasks need to find a run's chunk and body.
    private struct Job {
        let body: (Range<Int>) -> Void
        let count: Int
        let per: Int
    }
}
