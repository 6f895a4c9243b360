import LLMOptCore

extension Builtins {
    /// Pruning: removing weights, heads, channels or layers.
    static let pruning: [Builtin] = [
        Builtin("prune", family: "pruning",
                parameters: [
                    .init("model", "the model to prune (it is left as it was)"),
                    .init("method", .value(.string("magnitude")), "magnitude, wanda, sparsegpt (unstructured or N:M); heads, channels, layers (structured: the matrices shrink)"),
                    .init("sparsity", .value(.number(0.5)), "fraction of weights (or heads, channels, layers) to remove, in [0, 1)"),
                    .init("scope", .value(.string("layer")), "\"layer\": each matrix loses that fraction; \"global\": one threshold over all selected matrices"),
                    .init("pattern", .absent, "N:M semi-structured sparsity instead, e.g. \"2:4\""),
                    .init("calibration", .absent, "a text to calibrate on (wanda, sparsegpt; channels: recommended, the score then uses the channels' activations)"),
                    .init("samples", .value(.number(16)), "calibration windows"),
                    .init("length", .value(.number(256)), "tokens per calibration window"),
                    .init("targets", .absent, "regular expressions: prune only tensors whose name matches one"),
                    .init("ignore", .absent, "regular expressions: leave these tensors alone"),
                    .init("layers", .absent, "method \"layers\": the layer indices to remove"),
                    .init("report", .value(.bool(false)), "return the per-tensor report (its field `model` is the pruned model) instead of the model"),
                ],
                summary: "A pruned copy of the model; tensors pruning did not touch are shared with the input. By default every linear weight but the embeddings and the LM head.",
                math: """
                magnitude: zero the round(s·n) weights of smallest |w| (per matrix, or over all of them: scope "global")
                wanda:     score |w_ij| · ‖x_j‖₂ (input activation norms from calibration), pruned per output row
                sparsegpt: prune column blocks by w² / [H⁻¹]_jj and update the remaining weights with H = XᵀX
                N:M:       in every group of M consecutive weights of a row keep the N largest scores
                channels:  keep the channels c of largest ‖a_c‖₂ · ‖down[:, c]‖₂ (a: down's input on the calibration text);
                           without calibration ‖gate_c‖₂ · ‖up_c‖₂ · ‖down[:, c]‖₂, which can remove outlier channels
                """,
                example: "let m = load(\"Tests/Fixtures/models/tiny-llama\")\nlet p = prune(m, \"magnitude\", sparsity: 0.5)\nprint(sparsity(p))") { args in
            let model = try args.model("model")
            var options = PruneOptions(sparsity: try args.number("sparsity"))
            let scopeName = try args.string("scope")
            guard let scope = PruneScope(rawValue: scopeName) else {
                throw ScriptError("prune: scope must be \"layer\" or \"global\", got \"\(scopeName)\"")
            }
            options.scope = scope
            if let pattern = try args.optionalString("pattern") { options.pattern = try NMPattern(pattern) }
            options.selection = try selection(args)
            options.calibration = try calibration(args)
            if args.has("layers") {
                options.layers = try args.numbers("layers").map { n in
                    guard n == n.rounded(), n >= 0 else { throw ScriptError("prune: layer indices must be whole numbers, got \(formatNumber(n))") }
                    return Int(n)
                }
            }
            let method = try args.string("method")
            guard Pruning.methods.contains(method) else {
                throw ScriptError("prune: unknown method '\(method)'\(suggestion(for: method, in: Pruning.methods)) (\(Pruning.methods.joined(separator: ", ")))")
            }
            let (pruned, report) = try Pruning.prune(model, method: method, options: options)
            guard try args.bool("report") else { return .model(pruned) }
            var fields = Record()
            fields["model"] = .model(pruned)
            fields["sparsity"] = .number(report.overallSparsity)
            fields["parameters_removed"] = .number(Double(report.parametersRemoved))
            fields["params_before"] = .number(Double(report.modelParametersBefore))
            fields["params_after"] = .number(Double(report.modelParametersAfter))
            fields["bytes_before"] = .number(Double(report.modelBytesBefore))
            fields["bytes_after"] = .number(Double(report.modelBytesAfter))
            fields["seconds"] = .number(report.seconds)
            fields["rows"] = .list(report.rows.map { r in
                .record(Record([("name", .string(r.name)), ("sparsity", .number(r.sparsity)),
                                ("removed", .number(Double(r.parametersRemoved))), ("shape", .list(r.shapeAfter.map { .number(Double($0)) }))]))
            })
            let table = Table(columns: ["tensor", "shape", "sparsity", "removed", "bytes"], rows: report.rows.map { r in
                [r.name, r.shapeAfter.map(String.init).joined(separator: "×"), formatPercent(r.sparsity), String(r.parametersRemoved), Format.bytes(r.bytesAfter)]
            })
            return .report(Report(title: "prune \(method): sparsity \(formatPercent(report.overallSparsity)) of the selected weights", fields: fields,
                                  lines: ["parameters \(formatCount(report.modelParametersBefore)) → \(formatCount(report.modelParametersAfter)), bytes \(Format.bytes(report.modelBytesBefore)) → \(Format.bytes(report.modelBytesAfter))"] + report.notes,
                                  table: table))
        },
    ]

    /// `targets` / `ignore` arguments as a tensor selection.
    static func selection(_ args: Arguments) throws -> TensorSelection {
        let targets = args.has("targets") ? try args.list("targets").map(Display.plain) : []
        let ignore = args.has("ignore") ? try args.list("ignore").map(Display.plain) : []
        return try TensorSelection(targets: targets, ignore: ignore)
    }

    /// The `calibration` text (with `samples` and `length`), when given.
    static func calibration(_ args: Arguments) throws -> Calibration? {
        guard args.has("calibration") else { return nil }
        return try Calibration(text: try args.text("calibration").content, samples: try args.int("samples"), length: try args.int("length"))
    }
}
