import CLLMOptKernels

/// ggml's Q6_K: super-blocks of 256 values (210 bytes): per 16 values an int8 scale, 6-bit codes, float16 d; x = d·scale·(q - 32) (6.5625 bits per value).
/// File type 18 is llama.cpp's LLAMA_FTYPE_MOSTLY_Q6_K.
extension StorageFormat {
    public static let q6_k = ggmlKernelFormat(Int32(LLMOPT_W_Q6_K), ggmlType: 14, ggufFileType: 18)
}
