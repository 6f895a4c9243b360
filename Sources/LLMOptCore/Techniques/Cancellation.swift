/// Ctrl-C for long engine calls that take no `isCancelled` of their own (quantize, prune and
/// their calibration passes): the caller installs a check for the duration of the call, and
/// the loops ask it between tensors, layers and calibration windows.
public enum Cancellation {
    /// Asked between units of work; replaced by `whileRunning`.
    nonisolated(unsafe) static var isRequested: () -> Bool = { false }

    /// Runs `body` with `check` as the cancellation test, restoring the previous one after.
    public static func whileRunning<T>(check: @escaping () -> Bool, _ body: () throws -> T) rethrows -> T {
        let previous = isRequested
        isRequested = check
        defer { isRequested = previous }
        return try body()
    }

    /// Throws `LLMOptError.cancelled` when cancellation was asked for.
    static func checkpoint() throws {
        if isRequested() { throw LLMOptError.cancelled }
    }
}
