import LLMOptCore

extension Builtins {
    /// Refuses arguments the scheme would ignore: `quantize(m, "bf16", bits: 3)` is a
    /// contradiction, not a request to honour silently.
    static func checkApplicable(_ args: Arguments, scheme: String) throws {
        let integer = ["rtn", "gptq", "awq"].contains(scheme) || (scheme.hasPrefix("int") && Int(scheme.dropFirst(3)) != nil)
        let fixedBits = scheme.hasPrefix("int") ? Int(scheme.dropFirst(3)) : nil
        if args.given.contains("bits") {
            let bits = try args.int("bits")
            if integer && !(2...8).contains(bits) {
                throw ScriptError("quantize: argument 'bits' is \(bits); rtn, int2..int8, gptq and awq use 2 to 8 bits")
            }
            if let fixedBits, bits != fixedBits {
                throw ScriptError("quantize: argument 'bits' is \(bits) but scheme '\(scheme)' means \(fixedBits) bits; use scheme \"rtn\" with bits: \(bits), or leave bits out")
            }
        }
        // With overrides, grid arguments may apply to the schemes they name.
        let applies: [(String, Bool, String)] = [
            ("bits", integer || args.has("overrides"), "rtn, int2..int8, gptq and awq"),
            ("group", integer || args.has("overrides"), "rtn, int2..int8, gptq and awq"),
            ("symmetric", integer || args.has("overrides"), "rtn, int2..int8, gptq and awq"),
            ("full_range", integer || args.has("overrides"), "rtn, int2..int8, gptq and awq"),
            ("dampening", scheme == "gptq", "gptq"), ("act_order", scheme == "gptq", "gptq"), ("clip", scheme == "awq", "awq"),
        ]
        for (name, ok, which) in applies where args.given.contains(name) && !ok {
            throw ScriptError("quantize: argument '\(name)' does not apply to scheme '\(scheme)' (only to \(which))")
        }
    }

    /// Quantization: fewer bits per weight.
    static let quantization: [Builtin] = [
        Builtin("quantize", family: "quantization",
                parameters: [
                    .init("model", "the model to quantize (it is left as it was)"),
                    .init("scheme", .value(.string("int4")), "int2..int8 or rtn (round to nearest), gptq, awq (calibrated), q8_0, q4_0, q4_1, q5_0, q5_1, q2_k..q6_k (llama.cpp blocks and K-quants, byte-exact with llama-quantize --pure), q4_k_m, q5_k_m (llama.cpp's mixes by tensor name, embeddings and LM head included), f16, bf16"),
                    .init("bits", .value(.number(4)), "bits per weight for rtn, gptq and awq"),
                    .init("group", .value(.number(32)), "values per scale along each row; 0: one scale per output channel; -1: per tensor"),
                    .init("symmetric", .absent, "symmetric grid (no zero point) or asymmetric; default true, but false for awq (see defaults below)"),
                    .init("full_range", .absent, "symmetric grids: use all 2^bits codes, −2^(bits−1)..2^(bits−1)−1 (as ggml's Q4_0), not only ±(2^(bits−1)−1); default false, but true for gptq"),
                    .init("calibration", .absent, "a text to calibrate on (gptq, awq; q4_0 and q8_0 use it as an importance matrix)"),
                    .init("samples", .value(.number(16)), "calibration windows"),
                    .init("length", .value(.number(256)), "tokens per calibration window"),
                    .init("act_order", .value(.bool(true)), "gptq: quantize input channels by decreasing activation energy (H_jj), with group scales fixed up front"),
                    .init("dampening", .value(.number(0.01)), "gptq: added to H's diagonal, as a fraction of its mean"),
                    .init("clip", .value(.bool(true)), "awq: search each row group's clipping range (100% down to 55% of it) on calibration data"),
                    .init("targets", .absent, "regular expressions: quantize only tensors whose name matches one"),
                    .init("ignore", .absent, "regular expressions: leave these tensors alone"),
                    .init("overrides", .absent, "a record from name pattern to scheme, checked first, e.g. [\"lm_head\": \"q8_0\"]"),
                    .init("report", .value(.bool(false)), "return the per-tensor report (its field `model` is the quantized model) instead of the model"),
                ],
                summary: "A quantized copy of the model; tensors it did not touch are shared with the input. By default every linear weight but the embeddings and the LM head.",
                math: """
                symmetric:  qmax = 2^(b−1) − 1, scale = max|w| / qmax, q = clamp(round(w / scale), −qmax, qmax), w' = q · scale
                asymmetric: scale = (max(w, 0) − min(w, 0)) / (2^b − 1), zero = round(−min / scale), w' = (q − zero) · scale
                each group of `group` consecutive values of a row has its own scale
                K-quants (q2_k..q6_k): super-blocks of 256 values; sub-blocks of 16 or 32 values have their
                      own scale (and minimum), searched by weighted least squares and stored in 4..8 bits
                      relative to a float16 super-block scale: w' = d·s·q − dmin·m. Rows that are not whole
                      super-blocks fall back as llama.cpp does (q4_k → q5_0, q5_k → q5_1, q6_k → q8_0, q2_k/q3_k → q4_0)
                q4_k_m / q5_k_m: q4_k / q5_k, with q6_k for the output layer (and tied embeddings), and for
                      attention values and down projections of the first and last eighth of the layers and every third between
                gptq: quantize column by column, spreading each error over the columns not yet quantized (H = XᵀX)
                awq:  scale input channels by activation magnitude^α before rounding (α searched on calibration),
                      then clip each group's range to the fraction with the least output error (not q/k)
                full_range: codes −2^(b−1)..2^(b−1)−1, scale = m / −2^(b−1) with m the value of largest |w| (it maps exactly)
                q4_0/q8_0 with calibration (importance matrix, as llama.cpp's imatrix): e_j = E[x_j²] per input channel;
                      each block's scale d minimises Σ_j e_j (w_j − d·q_j)² over scales near the plain one (same bytes, same kernels);
                      q2_k/q4_k/q5_k and the mixes take it too, multiplying the weights of each sub-block's scale and minimum
                      search (llama.cpp's quant_weights); q3_k, q6_k and the 5-bit blocks keep the reference quantizer

                defaults, chosen by measurement (SmolLM2-135M, int4 g128, WikiText-2 test's first 20,000
                characters at ctx 256, 16 calibration windows of 256 tokens from later in the file; float32 42.41):
                  rtn    symmetric ±7 (the textbook grid, bit-exact with the reference oracle)   65.53
                         asymmetric 56.87, full_range 59.10: ask for them explicitly
                  gptq   act_order, full_range                                                    49.78
                         (±7 without act_order 60.17, ±7 54.72, asymmetric 50.79; 64 windows 53.16/49.97)
                  awq    asymmetric                                                               52.22
                         (±7 56.72, full_range 53.08)
                  q4_0   plain 52.72; with calibration (importance matrix, 16 windows) 46.22, KLD 0.329 → 0.193
                  q8_0   plain 42.44; with calibration 42.43, KLD 0.00127 → 0.00079
                the ±7 grid leaves one of int4's 16 codes unused; act_order spends GPTQ's freedom on the
                inputs with the most energy first. symmetric: true, full_range: false, act_order: false
                give the reference grid and the paper's column order back.
                """,
                example: "let m = load(\"Tests/Fixtures/models/tiny-llama\")\nlet q = quantize(m, \"int8\", group: 32)\nprint(q.bytes < m.bytes)") { args in
            let model = try args.model("model")
            let scheme = try args.string("scheme")
            guard Quantization.schemes.contains(scheme.lowercased()) else {
                throw ScriptError("quantize: unknown scheme '\(scheme)'\(suggestion(for: scheme, in: Quantization.schemes)) (\(Quantization.schemes.joined(separator: ", ")))")
            }
            try checkApplicable(args, scheme: scheme.lowercased())
            let selection = try selection(args)
            var overrides: [SchemeOverride] = []
            if args.has("overrides") {
                guard case .record(let r) = args.value("overrides") else { throw ScriptError("quantize: overrides must be a record of pattern: scheme") }
                overrides = r.pairs.map { SchemeOverride($0.0, Display.plain($0.1)) }
            }
            // Defaults that depend on the method (see the help text for the measurements).
            let method = scheme.lowercased()
            let symmetric = args.has("symmetric") ? try args.bool("symmetric") : method != "awq"
            let fullRange = args.has("full_range") ? try args.bool("full_range") : (method == "gptq" && symmetric)
            let options = QuantizationOptions(
                bits: try args.int("bits"), group: try args.int("group"), symmetric: symmetric,
                fullRange: fullRange, targets: selection.targets, ignore: selection.ignore, overrides: overrides, calibration: try calibration(args),
                gptq: GPTQOptions(dampening: try args.number("dampening"), actOrder: try args.bool("act_order")),
                awq: AWQOptions(clip: try args.bool("clip")))
            let (quantized, report) = try Quantization.quantize(model, scheme: scheme, options: options)
            guard try args.bool("report") else { return .model(quantized) }
            var fields = Record()
            fields["model"] = .model(quantized)
            fields["bytes_before"] = .number(Double(report.modelBytesBefore))
            fields["bytes_after"] = .number(Double(report.modelBytesAfter))
            fields["relative_error"] = .number(report.overallRelativeError)
            fields["rows"] = .list(report.rows.map { r in
                .record(Record([("name", .string(r.name)), ("format", .string(r.format)), ("relative_error", .number(r.relativeError)),
                                ("max_error", .number(r.maxAbsError)), ("bytes", .number(Double(r.bytesAfter)))]))
            })
            let table = Table(columns: ["tensor", "format", "bytes before", "bytes after", "rel err", "max err"], rows: report.rows.map { r in
                [r.name, r.format, Format.bytes(r.bytesBefore), Format.bytes(r.bytesAfter), format4(r.relativeError), format4(r.maxAbsError)]
            })
            return .report(Report(title: "quantize \(scheme): \(Format.bytes(report.modelBytesBefore)) → \(Format.bytes(report.modelBytesAfter))", fields: fields,
                                  lines: ["relative error ‖W − Ŵ‖ / ‖W‖ \(format4(report.overallRelativeError))"] + report.notes, table: table))
        },
        Builtin("dequantize", family: "quantization",
                parameters: [.init("model", "the model to expand (it is left as it was)")],
                summary: "A float32 copy of the model: every weight stored in another dtype is expanded to its float32 values (exactly what the kernels compute with). The reference to compare quantized models against when the source file is already quantized.",
                example: "let m = load(\"Tests/Fixtures/models/tiny-llama\")\ndequantize(quantize(m, \"q8_0\")).bytes == m.bytes") { args in
            var model = try args.model("model")
            for (name, tensor) in model.weights where tensor.dtype != .f32 {
                model.weights[name] = tensor.toF32()
            }
            return .model(model)
        },
    ]
}
