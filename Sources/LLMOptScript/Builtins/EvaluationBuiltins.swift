import LLMOptCore

extension Builtins {
    /// Measuring quality and speed.
    static let evaluation: [Builtin] = [
        Builtin("perplexity", family: "evaluation",
                parameters: [
                    .init("model", "the model to evaluate"), .init("text", "a text (from text(...)) or a string"),
                    .init("ctx", .value(.number(256)), "window length in tokens"),
                    .init("stride", .absent, "distance between window starts (default: ctx, windows do not overlap)"),
                    .init("max_tokens", .absent, "evaluate only the first this many tokens"),
                ],
                summary: "Perplexity of the model on a text, with its protocol and a one-sigma error bar. Fields: ppl, ppl_error, mean_nll, nll_standard_error, n_tokens, n_scored, n_windows, ctx, stride.",
                math: """
                The text is tokenized once (Llama: BOS first). Windows start at 0, S, 2S, ... and hold ctx tokens;
                each token is scored once, in the first window where it has context before it.
                NLL = −(1/N) Σ log softmax(logits)[next token]     ppl = exp(NLL)
                error bar: ppl · SE(NLL), SE = std(token NLLs) / sqrt(N)
                """,
                example: "let m = load(\"Tests/Fixtures/models/tiny-llama\")\nprint(perplexity(m, text(\"Tests/Fixtures/text/eval_gpl3.txt\"), ctx: 64).ppl)") { args in
            let r = try Perplexity.evaluate(
                model: try args.model("model"), text: try args.text("text").content, ctx: try args.int("ctx"),
                stride: try args.optionalInt("stride"), maxTokens: try args.optionalInt("max_tokens"),
                progress: progress(args, "perplexity"), isCancelled: args.interpreter.isCancelled)
            return .report(Report(title: "perplexity \(format4(r.ppl)) ± \(format4(r.pplError))", fields: Record(measurement: r),
                                  lines: ["mean NLL \(format4(r.meanNLL)) ± \(format4(r.standardError)) nats", r.protocol]))
        },
        Builtin("kld", family: "evaluation",
                parameters: [
                    .init("base", "the reference model"), .init("model", "the model to compare with it"),
                    .init("text", "a text or a string"), .init("ctx", .value(.number(256)), "window length in tokens"),
                    .init("stride", .absent, "distance between window starts (default: ctx)"),
                    .init("max_tokens", .absent, "evaluate only the first this many tokens"),
                ],
                summary: "How far a model's next-token distributions are from a base model's, over the perplexity protocol's scored tokens. Fields: kld, kld_error, max_kld, top1 (agreement of the most likely token), base_ppl, ppl, n_scored.",
                math: """
                KLD = (1/N) Σ_t Σ_v p_base(v|t) · (log p_base(v|t) − log p_model(v|t))     (nats, ≥ 0)
                top1 = fraction of scored tokens where both models rank the same token first
                """,
                example: "let m = load(\"Tests/Fixtures/models/tiny-llama\")\nkld(m, m, \"Hello world, this is a test.\", ctx: 16).kld   # 0") { args in
            let r = try Divergence.evaluate(
                base: try args.model("base"), other: try args.model("model"), text: try args.text("text").content,
                ctx: try args.int("ctx"), stride: try args.optionalInt("stride"), maxTokens: try args.optionalInt("max_tokens"),
                progress: progress(args, "kld"), isCancelled: args.interpreter.isCancelled)
            return .report(Report(title: "KL divergence \(format4(r.meanKLD)) ± \(format4(r.kldStandardError)) nats", fields: Record(measurement: r),
                                  lines: ["max \(format4(r.maxKLD)), top-1 agreement \(formatPercent(r.top1Agreement)), ppl \(format4(r.basePPL)) → \(format4(r.otherPPL))", r.protocol]))
        },
        Builtin("bench", family: "evaluation",
                parameters: [
                    .init("model", "the model to time"), .init("prompt", .value(.number(128)), "tokens in the prompt (prefill)"),
                    .init("decode", .value(.number(32)), "tokens generated one by one after it"),
                    .init("runs", .value(.number(3)), "repetitions; the fastest is kept"),
                ],
                summary: "Speed on this machine: prompt processing (prefill) and generation (decode) in tokens per second, best of several runs. Fields (as `llmopt bench --json` names them): prefill_tok_s, decode_tok_s, prefill_seconds, decode_seconds, prefill_cpu_seconds, decode_cpu_seconds, prompt_tokens, decode_tokens, runs, threads, bytes.",
                math: """
                prefill_tok_s = prompt / t_prefill     decode_tok_s = decode / t_decode
                Decoding reads every weight once per token: decode_tok_s ≤ memory bandwidth / weight bytes.
                """,
                example: "bench(load(\"Examples/models/SmolLM2-135M-Instruct.Q4_1.gguf\"), prompt: 64, decode: 16).decode_tok_s") { args in
            let model = try args.model("model")
            let prompt = try args.int("prompt"), decode = try args.int("decode"), runs = try args.int("runs")
            for (name, n) in [("prompt", prompt), ("decode", decode), ("runs", runs)] where n <= 0 {
                throw ScriptError("bench: argument '\(name)' must be positive, got \(n)")
            }
            guard runs <= 1000 else { throw ScriptError("bench: argument 'runs' is \(runs); at most 1000 (the fastest of a few runs is what counts)") }
            let context = model.config.maxPositions
            guard prompt + decode <= context else {
                throw ScriptError("bench: prompt + decode = \(prompt + decode) tokens exceed the model's context of \(context) positions")
            }
            let r = try Throughput.measure(model: model, promptTokens: prompt, decodeTokens: decode, runs: runs)
            return .report(Report(title: "bench: prefill \(format4(r.prefillTokensPerSecond)) tok/s, decode \(format4(r.decodeTokensPerSecond)) tok/s",
                                  fields: Record(measurement: r), lines: [r.description]))
        },
        Builtin("compare", family: "evaluation",
                parameters: [
                    .init("on", "the text to evaluate every model on"), .init("ctx", .value(.number(256)), "window length for perplexity and KLD"),
                    .init("max_tokens", .absent, "evaluate only the first this many tokens"),
                    .init("names", .absent, "a name for each model (default: model 1, model 2, ...)"),
                    .init("kld", .value(.bool(true)), "also measure KL divergence and top-1 agreement against the first model"),
                    .init("speed", .value(.bool(true)), "also time prefill and decode, as bench does"),
                    .init("prompt", .value(.number(128)), "speed: tokens in the prompt"),
                    .init("decode", .value(.number(32)), "speed: tokens generated one by one"),
                    .init("runs", .value(.number(3)), "speed: repetitions, the fastest kept"),
                ], variadic: true,
                summary: "A side-by-side table of several models on one text: parameters, bytes, perplexity, KL divergence and top-1 agreement against the first model, and tokens per second. The models are the positional arguments. Fields: rows (one record per model: name, params, bytes, ppl, ppl_error, mean_nll, kld, top1, prefill_tok_s, decode_tok_s), ppl (list).",
                math: "Each column is what perplexity(), kld() (against the first model) and bench() measure.",
                example: "let m = load(\"Tests/Fixtures/models/tiny-llama\")\ncompare(m, m, on: text(\"Tests/Fixtures/text/eval_gpl3.txt\"), ctx: 64, max_tokens: 512, speed: false)") { args in
            let models = try args.rest.enumerated().map { i, v -> Model in
                guard case .model(let m) = v else { throw ScriptError("compare: argument \(i + 1) must be a model, got a \(v.typeName)") }
                return m
            }
            guard !models.isEmpty else { throw ScriptError("compare: give the models to compare, e.g. compare(m, q, on: t)") }
            var names = (1...models.count).map { "model \($0)" }
            if args.has("names") {
                names = try args.list("names").map(Display.plain)
                guard names.count == models.count else { throw ScriptError("compare: \(names.count) names for \(models.count) models") }
            }
            let content = try args.text("on").content
            let ctx = try args.int("ctx"), maxTokens = try args.optionalInt("max_tokens"), speed = try args.bool("speed"), withKLD = try args.bool("kld")
            let prompt = try args.int("prompt"), decode = try args.int("decode"), runs = try args.int("runs")
            var rows: [[String]] = [], records: [Value] = [], ppls: [Value] = []
            for (i, m) in models.enumerated() {
                let p = try Perplexity.evaluate(model: m, text: content, ctx: ctx, maxTokens: maxTokens,
                                                progress: progress(args, "compare \(names[i]): perplexity"), isCancelled: args.interpreter.isCancelled)
                var record = Record([("name", .string(names[i])), ("params", .number(Double(m.parameterCount))),
                                     ("bytes", .number(Double(m.byteCount))), ("ppl", .number(p.ppl)), ("ppl_error", .number(p.pplError)), ("mean_nll", .number(p.meanNLL))])
                var row = [names[i], formatCount(m.parameterCount), Format.bytes(m.byteCount), "\(format4(p.ppl)) ± \(format4(p.pplError))"]
                if i == 0 {
                    if withKLD { row += ["-", "-"] }
                } else if withKLD {
                    let d = try Divergence.evaluate(base: models[0], other: m, text: content, ctx: ctx, maxTokens: maxTokens,
                                                    progress: progress(args, "compare \(names[i]): kld"), isCancelled: args.interpreter.isCancelled)
                    record["kld"] = .number(d.meanKLD)
                    record["top1"] = .number(d.top1Agreement)
                    row += [format4(d.meanKLD), formatPercent(d.top1Agreement)]
                }
                if speed {
                    let t = try Throughput.measure(model: m, promptTokens: prompt, decodeTokens: decode, runs: runs)
                    record["prefill_tok_s"] = .number(t.prefillTokensPerSecond)
                    record["decode_tok_s"] = .number(t.decodeTokensPerSecond)
                    row += [format4(t.prefillTokensPerSecond), format4(t.decodeTokensPerSecond)]
                }
                rows.append(row)
                records.append(.record(record))
                ppls.append(.number(p.ppl))
            }
            var columns = ["model", "params", "bytes", "ppl"]
            if withKLD { columns += ["KLD", "top-1"] }
            if speed { columns += ["prefill tok/s", "decode tok/s"] }
            var protocolLine = "perplexity\(withKLD ? " and KLD (vs \(names[0]))" : ""): ctx \(ctx), stride \(ctx)\(maxTokens.map { ", first \($0) tokens" } ?? "")"
            if speed { protocolLine += "; speed: \(prompt)-token prompt, \(decode) tokens decoded, best of \(runs)" }
            return .report(Report(title: "compare", fields: Record([("rows", .list(records)), ("ppl", .list(ppls))]),
                                  lines: [protocolLine], table: Table(columns: columns, rows: rows)))
        },
    ]

    /// Progress of long evaluations, for the REPL's status line.
    private static func progress(_ args: Arguments, _ what: String) -> ((Int, Int) -> Void)? {
        guard let report = args.interpreter.progress else { return nil }
        return { done, total in report("\(what): window \(done)/\(total)") }
    }
}
