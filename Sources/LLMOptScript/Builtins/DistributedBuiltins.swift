import Foundation
import LLMOptCore

extension Builtins {
    /// Data-parallel runs: `mpirun -np N llmopt script.llmopt` runs the script on every rank.
    static let distributed: [Builtin] = [
        Builtin("rank", family: "distributed",
                summary: "This process's rank in an `mpirun` job: 0 to ranks() − 1; 0 without mpirun. Every rank runs the whole script; train() splits each batch across the ranks and sums their gradients, perplexity() and kld() split the windows, and only rank 0's output is shown.",
                math: "Batch row r and evaluation window w go to rank r mod N and w mod N; sums are made in rank order, so the results equal one process's.",
                example: "if rank() == 0 { print(\"rank 0 of \" + str(ranks())) }") { _ in
            .number(Double(Communicator.world.rank))
        },
        Builtin("ranks", family: "distributed",
                summary: "How many processes `mpirun -np N` started (N); 1 without mpirun.",
                math: "All-reducing P float32 gradients moves 2·(N−1)/N · 4P bytes per rank per step (README: Scaling).",
                example: "print(ranks())") { _ in
            .number(Double(Communicator.world.size))
        },
    ]
}
