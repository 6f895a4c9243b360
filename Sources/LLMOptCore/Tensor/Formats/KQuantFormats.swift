import CLLMOptKernels

/// ggml's 5-bit blocks (Q5_0, Q5_1) and K-quants (Q2_K ... Q6_K). Their quantizers and
/// dequantizers live in the C kernels (kquants.c), which write the bytes llama.cpp's reference
/// quantizers write (`llama-quantize --pure`, no importance matrix). Decode multiplies them with
/// integer kernels against activations in llama.cpp's formats (Q8_0 blocks for Q5_0/Q5_1, Q8_K
/// super-blocks for the K-quants); the float kernels read them a block at a time for prefill.
/// Layouts and value formulas are in `llmopt_kernels.h`.
extension StorageFormat {
    /// A row of the table for one of these formats, whose C kernels do the work.
    static func ggmlKernelFormat(_ wtype: Int32, ggmlType: UInt32, ggufFileType: Int) -> StorageFormat {
        StorageFormat(
            blockSize: Int(llmopt_kquant_block_values(wtype)), blockBytes: Int(llmopt_kquant_block_bytes(wtype)),
            ggmlType: ggmlType, ggufFileType: ggufFileType,
            dequantizeRow: { src, count, dst in _ = llmopt_kquant_dequantize_row(wtype, Int32(count), src, dst) },
            quantizeRow: { src, count, dst in _ = llmopt_kquant_quantize_row(wtype, Int32(count), src, dst) },
            kernelType: wtype, integerKernel: llmopt_qgemm_supports(wtype) != 0)
    }
}
