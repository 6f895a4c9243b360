import Foundation
import LLMOptCLI

#if os(Linux)
/// Freeing a script value nested millions deep (`a = [a]` in a loop) releases one level per
/// stack frame, about 110 bytes each, which the usual 8 MiB main stack overflows at some 75,000
/// levels. The main thread's stack can only grow to the limit it was started with, so llmopt
/// raises that limit to 1 GiB (reserved, touched only as used) and starts itself again, once.
/// The interpreter's own recursion stays bounded by `StackGuard` to a small part of it.
func restartWithLargeStack() {
    let wanted: rlim_t = 1 << 30, unlimited = rlim_t.max  // RLIM_INFINITY
    var limit = rlimit()
    guard getenv("LLMOPT_STACK_RAISED") == nil, getrlimit(__rlimit_resource_t(RLIMIT_STACK.rawValue), &limit) == 0,
          limit.rlim_cur != unlimited, limit.rlim_cur < wanted else { return }
    limit.rlim_cur = limit.rlim_max == unlimited ? wanted : min(wanted, limit.rlim_max)
    guard setrlimit(__rlimit_resource_t(RLIMIT_STACK.rawValue), &limit) == 0 else { return }
    setenv("LLMOPT_STACK_RAISED", "1", 1)
    // The file's own path (not /proc/self/exe), so that the process keeps its name.
    guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return }
    execv(path, CommandLine.unsafeArgv)
    // exec failed: go on with the stack there is.
}
restartWithLargeStack()
#endif

if let status = ScriptCommands.run(Array(CommandLine.arguments.dropFirst())) {
    exit(status)
}
LLMOptCommand.main()
