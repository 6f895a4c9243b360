#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The lowest stack address the interpreter may reach on the current thread before it stops
/// with an error instead of overflowing: recursion in scripts (deep calls, deep expressions)
/// ends in a diagnostic, never in SIGSEGV.
enum StackGuard {
    /// The current thread's limit: its stack's low end plus a reserve for the engine calls and
    /// error handling that run below the deepest script frame. Nil when the stack is unknown.
    static func currentLimit() -> UInt? {
        var low: UInt = 0
        var size: UInt = 0
        #if canImport(Glibc)
        var attr = pthread_attr_t()
        guard let getattr = getattrNP, getattr(pthread_self(), &attr) == 0 else { return nil }
        defer { pthread_attr_destroy(&attr) }
        var address: UnsafeMutableRawPointer? = nil
        var bytes = 0
        guard pthread_attr_getstack(&attr, &address, &bytes) == 0, let address else { return nil }
        low = UInt(bitPattern: address)
        size = UInt(bytes)
        #elseif canImport(Darwin)
        let high = UInt(bitPattern: pthread_get_stackaddr_np(pthread_self()))
        size = UInt(pthread_get_stacksize_np(pthread_self()))
        low = high - size
        #else
        return nil
        #endif
        // A quarter of the stack, at least 128 KiB and at most 2 MiB, stays free; on a large
        // stack (llmopt's own thread has 1 GiB) scripts use at most 64 MiB of it, so a runaway
        // recursion ends quickly and the rest stays for freeing deeply nested values.
        let reserve = min(max(size / 4, 128 << 10), 2 << 20)
        return max(low + reserve, low + size - min(size, 64 << 20))
    }

    #if canImport(Glibc)
    private typealias GetAttr = @convention(c) (pthread_t, UnsafeMutablePointer<pthread_attr_t>) -> Int32
    /// glibc's pthread_getattr_np, looked up at run time (its header declares it only for
    /// _GNU_SOURCE, which Swift's Glibc module does not define).
    private static let getattrNP: GetAttr? = {
        guard let symbol = dlsym(nil, "pthread_getattr_np") else { return nil }
        return unsafeBitCast(symbol, to: GetAttr.self)
    }()
    #endif

    /// An address inside the caller's frame.
    @inline(never)
    static func here() -> UInt {
        var marker: UInt8 = 0
        return withUnsafeMutablePointer(to: &marker) { UInt(bitPattern: $0) }
    }
}
