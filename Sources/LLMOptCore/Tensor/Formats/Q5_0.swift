import CLLMOptKernels

/// ggml's Q5_0: blocks of 32 values, float16 scale d, 32 high bits and 16 bytes of low nibbles; x = d·(q - 16).
/// File type 8 is llama.cpp's LLAMA_FTYPE_MOSTLY_Q5_0.
extension StorageFormat {
    public static let q5_0 = ggmlKernelFormat(Int32(LLMOPT_W_Q5_0), ggmlType: 6, ggufFileType: 8)
}
