import CMPIShim
import Foundation

/// The processes of one job started by Open MPI's `mpirun`, and the collective operations
/// llmopt needs between them. Without `mpirun` (no Open MPI variables in the environment) the
/// process is rank 0 of 1, MPI is never initialized, and every operation is the identity.
///
/// Sums are deterministic: each element is added in rank order 0, 1, ..., N−1 whatever the
/// timing, so N processes agree bit for bit and two runs of a job give the same numbers.
/// The gradient sum is a reduce-scatter followed by an all-gather, as in a ring all-reduce:
/// rank r owns segment r of the buffer, receives every rank's copy of it (all-to-all), adds
/// them in rank order and sends the sum to everyone (all-gather). Each rank sends and receives
/// 2·(N−1)/N of the buffer per all-reduce, the bandwidth-optimal amount.
public final class Communicator: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Seconds spent inside collective operations so far (the communication share of a run).
    public private(set) var communicationSeconds = 0.0

    public var isDistributed: Bool { size > 1 }
    public var isRoot: Bool { rank == 0 }

    /// This process's place in the job: initialized on first use.
    public static let world: Communicator = {
        guard llmopt_mpi_launched() != 0 else { return Communicator(rank: 0, size: 1) }
        var rank: Int32 = 0, size: Int32 = 1
        let rc = llmopt_mpi_init(&rank, &size)
        guard rc == 0 else {
            FileHandle.standardError.write(Data("llmopt: error: MPI_Init failed under mpirun (\(Communicator.message(rc)))\n".utf8))
            exit(1)
        }
        return Communicator(rank: Int(rank), size: Int(size))
    }()

    init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    /// The rank that handles item `i` of a sequence dealt round-robin (batch rows, windows).
    public func owner(of i: Int) -> Int { i % size }

    /// Sums `buffer` element-wise over all ranks in rank order; every rank gets the sum.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard isDistributed, !buffer.isEmpty else { return }
        try timed {
            // Chunks keep MPI's Int32 counts and the staging buffers small.
            let chunk = 1 << 22
            var start = 0
            while start < buffer.count {
                let n = min(chunk, buffer.count - start)
                try allReduceChunk(buffer.baseAddress! + start, n)
                start += n
            }
        }
    }

    private func allReduceChunk(_ data: UnsafeMutablePointer<Float>, _ n: Int) throws {
        let segment = (n + size - 1) / size, padded = segment * size
        let send = UnsafeMutablePointer<Float>.allocate(capacity: padded)
        let received = UnsafeMutablePointer<Float>.allocate(capacity: padded)
        defer { send.deallocate(); received.deallocate() }
        send.initialize(from: data, count: n)
        (send + n).initialize(repeating: 0, count: padded - n)
        try check(llmopt_mpi_alltoall_float(send, received, Int32(segment)), "all-to-all of \(n) gradients")
        // received[i·segment ..< (i+1)·segment] is rank i's copy of our segment: add in rank order.
        let sum = send
        sum.update(from: received, count: segment)
        for i in 1..<size {
            let part = received + i * segment
            for j in 0..<segment { sum[j] += part[j] }
        }
        try check(llmopt_mpi_allgather_float(sum, received, Int32(segment)), "all-gather of \(n) summed gradients")
        data.update(from: received, count: n)
    }

    /// Sums a few doubles over all ranks, in rank order.
    public func allReduceSum(_ values: [Double]) throws -> [Double] {
        guard isDistributed else { return values }
        let all = try allGather(values)
        var sum = [Double](repeating: 0, count: values.count)
        for part in all { for i in sum.indices { sum[i] += part[i] } }
        return sum
    }

    /// Every rank's `values` (of any length), indexed by rank.
    public func allGather(_ values: [Double]) throws -> [[Double]] {
        guard isDistributed else { return [values] }
        return try timed {
            var counts = [Int64](repeating: 0, count: size)
            var mine = Int64(values.count)
            try check(counts.withUnsafeMutableBufferPointer { c in llmopt_mpi_allgather_int64(&mine, c.baseAddress!, 1) }, "all-gather of counts")
            guard counts.reduce(0, +) < Int64(Int32.max) else {
                throw LLMOptError.invalidArgument(name: "ranks", reason: "\(counts.reduce(0, +)) values to gather exceed MPI's 32-bit counts")
            }
            let counts32 = counts.map { Int32($0) }
            var offsets = [Int32](repeating: 0, count: size)
            for i in 1..<size { offsets[i] = offsets[i - 1] + counts32[i - 1] }
            var flat = [Double](repeating: 0, count: max(1, Int(counts.reduce(0, +))))
            try check(values.withUnsafeBufferPointer { s in
                flat.withUnsafeMutableBufferPointer { r in
                    llmopt_mpi_allgatherv_double(s.baseAddress, Int32(values.count), r.baseAddress!, counts32, offsets)
                }
            }, "all-gather of \(values.count) values")
            return (0..<size).map { Array(flat[Int(offsets[$0])..<Int(offsets[$0] + counts32[$0])]) }
        }
    }

    /// True on every rank when `flag` is true on any rank (a collective Ctrl-C, for instance).
    public func any(_ flag: Bool) throws -> Bool {
        guard isDistributed else { return flag }
        return try allReduceSum([flag ? 1 : 0])[0] > 0
    }

    /// Ends the whole job now with `code` (every rank). Without mpirun, exits this process.
    public func abort(_ code: Int32) -> Never {
        guard isDistributed else { exit(code) }
        llmopt_mpi_abort(code)
        exit(code)
    }

    /// Runs `body` on every rank and agrees on the outcome: when it throws on any rank, it
    /// throws on all of them a `DistributedFailure` naming the lowest failing rank and its
    /// error, so that no rank waits forever in a later collective for one that has stopped.
    public func agree<T>(_ body: () throws -> T) throws -> T {
        guard isDistributed else { return try body() }
        var result: T?
        var message = ""
        do { result = try body() } catch { message = "\(error)" }
        let width = 1024
        var mine = [UInt8](repeating: 0, count: width)
        let utf8 = Array(message.utf8.prefix(width - 1))
        mine.replaceSubrange(0..<utf8.count, with: utf8)
        var all = [UInt8](repeating: 0, count: width * size)
        try timed {
            try check(all.withUnsafeMutableBufferPointer { r in llmopt_mpi_allgather_bytes(mine, r.baseAddress!, Int32(width)) }, "agreement")
        }
        let messages = (0..<size).map { r in String(decoding: all[(r * width)..<((r + 1) * width)].prefix { $0 != 0 }, as: UTF8.self) }
        if let first = messages.firstIndex(where: { !$0.isEmpty }) {
            throw DistributedFailure(rank: first, ranks: size, message: messages[first],
                                     everyRank: messages.allSatisfy { $0 == messages[first] })
        }
        return result!
    }

    private func timed<T>(_ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        return try body()
    }

    private func check(_ rc: Int32, _ what: String) throws {
        guard rc != 0 else { return }
        throw LLMOptError.invalidArgument(name: "mpi", reason: "\(what) failed on rank \(rank) of \(size): \(Self.message(rc))")
    }

    static func message(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        llmopt_mpi_error_string(code, &buffer, 512)
        return String(cString: buffer)
    }
}

/// An error raised on one rank and agreed by all (`Communicator.agree`): every rank stops with
/// it, and rank 0 reports it.
public struct DistributedFailure: Error, CustomStringConvertible {
    public let rank: Int
    public let ranks: Int
    public let message: String
    /// Every rank failed with this message (a bad argument, a file missing everywhere).
    public let everyRank: Bool

    public var description: String { everyRank ? message : "rank \(rank) of \(ranks): \(message)" }
}
