import Foundation
import LLMOptCore
#if canImport(Glibc)
import Glibc
#endif

/// llmopt started by `mpirun`: every rank runs the same command; only rank 0's output is seen.
/// Other ranks write stdout and stderr to /dev/null, keeping a copy of stderr for the one line
/// that says why a rank stopped the job alone.
public enum DistributedLaunch {
    nonisolated(unsafe) private static var savedStandardError: Int32 = -1

    /// Joins the job (when mpirun started this process) and silences ranks other than 0.
    public static func start() {
        let comm = Communicator.world
        guard comm.isDistributed, !comm.isRoot else { return }
        fflush(stdout)
        savedStandardError = dup(STDERR_FILENO)
        let null = open("/dev/null", O_WRONLY)
        guard null >= 0 else { return }
        dup2(null, STDOUT_FILENO)
        dup2(null, STDERR_FILENO)
        close(null)
    }

    /// Ends the process with `status`. Under mpirun a failure that the ranks did not agree on
    /// (`Communicator.agree`) ends the whole job, so that no rank waits for this one forever.
    public static func exit(_ status: Int32) -> Never {
        if status != 0 { abortJob(status, reason: "stopped with status \(status)") }
        Foundation.exit(status)
    }

    /// Under mpirun: says on the real stderr which rank stopped and why, and ends every rank.
    /// Without mpirun: returns.
    static func abortJob(_ status: Int32, reason: String) {
        let comm = Communicator.world
        guard comm.isDistributed else { return }
        let fd = comm.isRoot ? STDERR_FILENO : savedStandardError
        if fd >= 0 {
            let line = "llmopt: rank \(comm.rank) of \(comm.size) \(reason); ending the job\n"
            _ = line.withCString { write(fd, $0, strlen($0)) }
        }
        comm.abort(status)
    }
}

/// How a data-parallel run's time was spent: the seconds of its training loop and the part of
/// them spent in collective operations (the gradient and loss sums, the agreement on Ctrl-C,
/// and waiting there for the slowest rank).
struct DataParallelTiming {
    let ranks: Int
    let seconds: Double
    let communicationSeconds: Double

    init(communicator: Communicator, seconds: Double, before: Double) {
        ranks = communicator.size
        self.seconds = seconds
        communicationSeconds = communicator.communicationSeconds - before
    }

    var share: Double { seconds > 0 ? communicationSeconds / seconds : 0 }

    var json: [String: Any] {
        ["ranks": ranks, "communication_s": communicationSeconds, "communication_share": share]
    }

    /// "" for one process; the ranks and the communication share otherwise.
    var summary: String {
        ranks > 1 ? String(format: ", %d ranks, %.1f%% of the time in communication", ranks, 100 * share) : ""
    }
}
