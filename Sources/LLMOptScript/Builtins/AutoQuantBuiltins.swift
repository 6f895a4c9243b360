import Foundation
import LLMOptCore

extension Builtins {
    /// Budgeted mixed-precision quantization.
    static let autoQuantization: [Builtin] = [
        Builtin("autoquant", family: "quantization",
                parameters: [
                    .init("model", "the model to quantize, float32 for a fair sensitivity scan (it is left as it was)"),
                    .init("budget", "a record: [ppl: 1.05] (perplexity at most 1.05× the original's on the calibration text) or [bytes: 100e6] (the whole model)"),
                    .init("calibration", "a text: its first `tokens` tokens measure sensitivity and check the budget"),
                    .init("formats", .value(.list([.string("q8_0"), .string("q4_1"), .string("q4_0")])),
                          "formats from largest to smallest, each a scheme of quantize that needs no calibration"),
                    .init("tokens", .value(.number(256)), "calibration tokens used"),
                    .init("ctx", .value(.number(256)), "window length the calibration tokens run in"),
                    .init("group", .value(.number(128)), "group size of intN formats"),
                    .init("targets", .absent, "regular expressions: tensors to consider (default every linear weight but embeddings and head)"),
                    .init("ignore", .absent, "regular expressions: tensors to leave alone"),
                ],
                summary: """
                Chooses a format per tensor to meet a budget at the least damage, and returns a report: .model (an \
                ordinary model to save and measure), .bytes, .ppl and .base_ppl (calibration text), .plan (per tensor: \
                name, format, bytes, kld per format), .uniform (each format alone: format, bytes, ppl), .probes, \
                .uniform_wins (true when no mix beat a single format). Shows the plan against the uniform formats \
                and the most and least sensitive tensors.
                """,
                math: """
                sensitivity: s[t][f] = mean over calibration positions of KL(p ‖ p_{t→f}), p the original model's
                  next-token distribution, p_{t→f} the same model with only tensor t stored in format f
                order: from every tensor in formats[0], repeatedly lower the tensor whose next format adds the least
                  KLD per byte saved, Δs / Δbytes (a greedy multiple-choice knapsack; damages assumed additive)
                budget: bytes — the first plan of that sequence that fits; ppl — binary search along it for the
                  smallest plan whose measured perplexity is ≤ ratio × the original's (perplexity grows along it);
                  a uniform format meeting the budget with fewer bytes would be taken instead
                """,
                example: """
                let m = load("Tests/Fixtures/models/tiny-llama")
                let t = text("Tests/Fixtures/text/eval_gpl3.txt")
                let r = autoquant(m, budget: [ppl: 1.01], calibration: t, tokens: 128, ctx: 64)
                r.bytes < r.uniform[0].bytes
                """) { args in
            let model = try args.model("model")
            guard case .record(let budgetRecord) = args.value("budget"), budgetRecord.count == 1, let (kind, value) = budgetRecord.pairs.first,
                  case .number(let amount) = value else {
                throw ScriptError("autoquant: argument 'budget' must be a record with one number, [ppl: 1.05] or [bytes: 100e6]")
            }
            var budget: AutoQuant.Budget
            switch kind {
            case "ppl": budget = .perplexity(ratio: amount)
            case "bytes":
                guard amount >= 1, amount < 1e15 else { throw ScriptError("autoquant: a budget in bytes must be positive, got \(formatNumber(amount))") }
                budget = .bytes(Int(amount))
            default: throw ScriptError("autoquant: budget '\(kind)'\(suggestion(for: kind, in: ["ppl", "bytes"])) is not ppl or bytes")
            }
            let formats = try args.list("formats").map { v -> String in
                guard case .string(let s) = v else { throw ScriptError("autoquant: argument 'formats' must hold strings, found a \(v.typeName)") }
                return s.lowercased()
            }
            let calibrationFree = Quantization.schemes.filter { !["gptq", "awq", "rtn"].contains($0) }
            for f in formats where !calibrationFree.contains(f) {
                throw ScriptError("autoquant: format '\(f)'\(suggestion(for: f, in: calibrationFree)) is not one of \(calibrationFree.joined(separator: ", "))")
            }
            var options = AutoQuant.Options(budget: budget)
            options.formats = formats
            options.tokens = try args.int("tokens")
            options.ctx = try args.int("ctx")
            guard options.tokens >= 2, options.ctx >= 2 else { throw ScriptError("autoquant: 'tokens' and 'ctx' must be at least 2") }
            let selection = try selection(args)
            options.quantization = QuantizationOptions(group: try args.int("group"), targets: selection.targets, ignore: selection.ignore)
            guard let tokenizer = model.tokenizer else { throw ScriptError("autoquant: the model has no tokenizer to read the calibration text with") }
            let ids = tokenizer.encode(try args.text("calibration").content)
            let r = try AutoQuant.run(model, calibration: ids, options: options)

            let counts = Dictionary(grouping: r.plan.levels.values, by: { $0 }).mapValues(\.count)
            var fields = Record()
            fields["model"] = .model(r.model)
            fields["bytes"] = .number(Double(r.model.byteCount))
            fields["ppl"] = .number(r.ppl)
            fields["base_ppl"] = .number(r.basePPL)
            fields["probes"] = .number(Double(r.probes))
            fields["uniform_wins"] = .bool(r.isUniform)
            fields["uniform"] = .list(r.uniform.map { u in
                .record(Record([("format", .string(u.format)), ("bytes", .number(Double(u.bytes))), ("ppl", .number(u.ppl))]))
            })
            fields["plan"] = .list(r.sensitivities.map { s in
                let level = r.plan.levels[s.name]!
                return .record(Record([("name", .string(s.name)), ("format", .string(formats[level])), ("bytes", .number(Double(s.bytes[level]))),
                                       ("kld", .list(s.kld.map { .number($0) }))]))
            })
            var rows = r.uniform.map { u in [u.format + " everywhere", Format.bytes(u.bytes), String(format: "%.4f", u.ppl),
                                             String(format: "%+.2f%%", 100 * (u.ppl / r.basePPL - 1))] }
            let mix = formats.indices.compactMap { f in counts[f].map { "\($0) \(formats[f])" } }.joined(separator: ", ")
            rows.append(["plan: " + mix, Format.bytes(r.model.byteCount), String(format: "%.4f", r.ppl),
                         String(format: "%+.2f%%", 100 * (r.ppl / r.basePPL - 1))])
            let byDamage = r.sensitivities.sorted { $0.kld.last! > $1.kld.last! }
            func describe(_ s: AutoQuant.Sensitivity) -> String {
                "  \(s.name): KLD " + zip(formats, s.kld).map { "\($0) \(String(format: "%.2e", $1))" }.joined(separator: ", ")
                    + " → \(formats[r.plan.levels[s.name]!])"
            }
            let lines = ["budget: \(options.budget); original ppl \(String(format: "%.4f", r.basePPL)) on \(min(ids.count, options.tokens)) calibration tokens (ctx \(options.ctx))",
                         "\(r.sensitivities.count) tensors × \(formats.count) formats scanned; \(r.probes) whole-model evaluations"
                            + (r.isUniform ? "; no mix beat a single format" : ""),
                         "most sensitive:"] + byDamage.prefix(5).map(describe) + ["least sensitive:"] + byDamage.suffix(3).map(describe)
            return .report(Report(title: "autoquant: \(Format.bytes(model.byteCount)) → \(Format.bytes(r.model.byteCount))", fields: fields,
                                  lines: lines, table: Table(columns: ["model", "bytes", "ppl", "vs original"], rows: rows)))
        },
    ]
}
