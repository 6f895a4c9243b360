import CLLMOptKernels

/// ggml's Q5_1: blocks of 32 values, float16 scale d and minimum m, 32 high bits, 16 bytes of low nibbles; x = d·q + m.
/// File type 9 is llama.cpp's LLAMA_FTYPE_MOSTLY_Q5_1.
extension StorageFormat {
    public static let q5_1 = ggmlKernelFormat(Int32(LLMOPT_W_Q5_1), ggmlType: 7, ggufFileType: 9)
}
