import CLLMOptKernels

/// ggml's Q5_K: super-blocks of 256 values (176 bytes): as Q4_K with a fifth bit per code; x = d·scale·q - dmin·min (5.5 bits per value).
/// File type 16 is llama.cpp's LLAMA_FTYPE_MOSTLY_Q5_K_S.
extension StorageFormat {
    public static let q5_k = ggmlKernelFormat(Int32(LLMOPT_W_Q5_K), ggmlType: 13, ggufFileType: 16)
}
