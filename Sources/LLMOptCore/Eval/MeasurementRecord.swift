/// One value of a measurement's result.
public enum MeasurementValue: Sendable, Equatable {
    case number(Double)
    case integer(Int)
    case text(String)
    case integers([Int])
    case missing
}

/// A measurement's results, each under one name and in one order, so that the command line's
/// `--json` and the language's records show the same fields with the same names and units
/// (bytes are counts of bytes; ratios are fractions, not percentages).
public protocol MeasurementRecord {
    var fields: [(name: String, value: MeasurementValue)] { get }
}

extension PerplexityReport: MeasurementRecord {
    public var fields: [(name: String, value: MeasurementValue)] {
        [("ppl", .number(ppl)), ("ppl_error", .number(pplError)), ("mean_nll", .number(meanNLL)),
         ("nll_standard_error", .number(standardError)), ("n_tokens", .integer(nTokens)), ("n_scored", .integer(nScored)),
         ("n_windows", .integer(nWindows)), ("ctx", .integer(ctx)), ("stride", .integer(stride))]
    }
}

extension DivergenceReport: MeasurementRecord {
    public var fields: [(name: String, value: MeasurementValue)] {
        [("kld", .number(meanKLD)), ("kld_error", .number(kldStandardError)), ("max_kld", .number(maxKLD)),
         ("top1", .number(top1Agreement)), ("base_ppl", .number(basePPL)), ("ppl", .number(otherPPL)),
         ("n_tokens", .integer(nTokens)), ("n_scored", .integer(nScored)), ("n_windows", .integer(nWindows)),
         ("ctx", .integer(ctx)), ("stride", .integer(stride))]
    }
}

extension TensorStats: MeasurementRecord {
    public var fields: [(name: String, value: MeasurementValue)] {
        [("name", name.map { .text($0) } ?? .missing), ("shape", .integers(shape)), ("dtype", .text(dtype.rawValue)),
         ("bytes", .integer(bytes)), ("count", .integer(count)), ("min", .number(min)), ("max", .number(max)),
         ("mean", .number(mean)), ("std", .number(std)), ("l2", .number(l2)), ("sparsity", .number(zeroFraction)),
         ("outliers", .integer(outliers))]
    }
}

extension ThroughputReport: MeasurementRecord {
    public var fields: [(name: String, value: MeasurementValue)] {
        [("prefill_tok_s", .number(prefillTokensPerSecond)), ("decode_tok_s", .number(decodeTokensPerSecond)),
         ("prefill_seconds", .number(prefillSeconds)), ("decode_seconds", .number(decodeSeconds)),
         ("prefill_cpu_seconds", .number(prefillCPUSeconds)), ("decode_cpu_seconds", .number(decodeCPUSeconds)),
         ("prompt_tokens", .integer(promptTokens)), ("decode_tokens", .integer(decodeTokens)), ("runs", .integer(runs)),
         ("threads", .integer(threads)), ("bytes", .integer(modelBytes))]
    }
}

extension ModelSummary: MeasurementRecord {
    public var fields: [(name: String, value: MeasurementValue)] {
        [("architecture", .text(architecture.rawValue)), ("format", .text(format.rawValue)), ("params", .integer(parameters)),
         ("bytes", .integer(bytes)), ("vocab_size", .integer(config.vocabSize)), ("hidden_size", .integer(config.hiddenSize)),
         ("intermediate_size", .integer(config.intermediateSize)), ("num_layers", .integer(config.numLayers)),
         ("num_heads", .integer(config.numHeads)), ("num_kv_heads", .integer(config.numKVHeads)), ("head_dim", .integer(config.headDim)),
         ("max_positions", .integer(config.maxPositions))]
    }
}
