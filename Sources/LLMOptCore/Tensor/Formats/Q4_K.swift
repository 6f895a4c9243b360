import CLLMOptKernels

/// ggml's Q4_K: super-blocks of 256 values (144 bytes): per 32 values a 6-bit scale and 6-bit min, 4-bit codes, float16 d and dmin; x = d·scale·q - dmin·min (4.5 bits per value).
/// File type 14 is llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_K_S.
extension StorageFormat {
    public static let q4_k = ggmlKernelFormat(Int32(LLMOPT_W_Q4_K), ggmlType: 12, ggufFileType: 14)
}
