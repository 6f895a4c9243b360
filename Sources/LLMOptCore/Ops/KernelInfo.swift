import CLLMOptKernels

/// Which kernel family runs on this CPU, for benchmark output: a slow fallback must never
/// pass unnoticed.
public enum Kernels {
    public static var activeISA: String { String(cString: llmopt_kernels_isa()) }
}
