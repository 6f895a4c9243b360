import CLLMOptKernels

/// ggml's Q2_K: super-blocks of 256 values (84 bytes): per 16 values a 4-bit scale and 4-bit min, 2-bit codes, float16 d and dmin; x = d·scale·q - dmin·min (2.625 bits per value).
/// File type 10 is llama.cpp's LLAMA_FTYPE_MOSTLY_Q2_K.
extension StorageFormat {
    public static let q2_k = ggmlKernelFormat(Int32(LLMOPT_W_Q2_K), ggmlType: 10, ggufFileType: 10)
}
