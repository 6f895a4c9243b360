import Dispatch
import Foundation

/// Splits work across all cores. Kernels are single-threaded; this decides who does what.
public enum Parallel {
    /// Threads used for compute; `LLMOPT_THREADS` overrides the number of active cores.
    public static let threadCount: Int = {
        if let s = ProcessInfo.processInfo.environment["LLMOPT_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Runs `body(range)` over `0..<count` in up to `threadCount · chunksPerThread` contiguous
    /// chunks, each a multiple of `grain` (except the last). Runs inline when there is one chunk.
    /// Threads take chunks as they come free, so several chunks per thread keep all threads busy
    /// when one of them is descheduled (a shared machine): worth it for long bodies such as
    /// prefill GEMMs (GPT-2 small prefill 74 -> 83 GFLOP/s at load 4 with 4), not for decode GEMVs
    /// of tens of microseconds, where each extra chunk costs more than it balances.
    public static func forRanges(_ count: Int, grain: Int = 1, chunksPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let units = (count + grain - 1) / grain
        let chunks = min(threadCount * max(1, chunksPerThread), units)
        if chunks <= 1 { body(0..<count); return }
        let per = (units + chunks - 1) / chunks * grain
        DispatchQueue.concurrentPerform(iterations: chunks) { i in
            let lo = i * per
            let hi = min(count, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }
}
