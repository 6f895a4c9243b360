import Foundation

/// Reads a Hugging Face `tokenizer.json` (and `tokenizer_config.json` beside it, when present)
/// into the tokenizer that reproduces it: byte-level BPE (GPT-2, SmolLM, Llama 3) or BPE with
/// a Metaspace pre-tokenizer and byte fallback (Llama 2 style).
public enum TokenizerJSON {
    public static func load(path: String) throws -> any Tokenizer {
        let root = try readObject(path)
        let configPath = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("tokenizer_config.json")
        let config = FileManager.default.fileExists(atPath: configPath) ? try readObject(configPath) : [:]
        return try Builder(path: path, root: root, config: config).build()
    }

    /// The tokenizer of an already parsed tokenizer.json object (and tokenizer_config.json
    /// object); `source` names it in errors.
    public static func make(json: [String: Any], config: [String: Any] = [:], source: String = "tokenizer.json") throws -> any Tokenizer {
        try Builder(path: source, root: json, config: config).build()
    }

    private static func readObject(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LLMOptError.badFile(path: path, reason: "cannot read the file")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LLMOptError.badFile(path: path, reason: "not a JSON object")
        }
        return object
    }

    private struct Builder {
        let path: String
        let root: [String: Any]
        let config: [String: Any]

        func fail(_ reason: String) -> LLMOptError { .badFile(path: path, reason: reason) }

        func build() throws -> any Tokenizer {
            guard let model = root["model"] as? [String: Any] else { throw fail("no 'model' object") }
            guard (model["type"] as? String ?? "BPE") == "BPE" else {
                throw LLMOptError.unsupported("\(path): tokenizer model '\(model["type"] ?? "?")' (only BPE is supported)")
            }
            for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
                if let affix = model[key] as? String, !affix.isEmpty {
                    throw LLMOptError.unsupported("\(path): BPE '\(key)' \"\(affix)\"")
                }
            }
            guard let vocab = model["vocab"] as? [String: Any] else { throw fail("no 'model.vocab' object") }
            let added = (root["added_tokens"] as? [[String: Any]]) ?? []

            var pieceById: [Int: String] = [:]
            for (piece, value) in vocab {
                guard let id = value as? Int, id >= 0 else { throw fail("vocab entry '\(piece)' has no valid id") }
                pieceById[id] = piece
            }
            var typeById: [Int: TokenType] = [:]
            for token in added {
                guard let id = token["id"] as? Int, id >= 0, let content = token["content"] as? String else {
                    throw fail("an added token lacks 'id' or 'content'")
                }
                pieceById[id] = content
                typeById[id] = (token["special"] as? Bool ?? false) ? .control : .userDefined
            }
            // Ids are positions in the vocabulary: an id past every entry there could be is an
            // error, found before the tables are allocated by the largest id.
            let entries = vocab.count + added.count
            if let (id, piece) = pieceById.max(by: { $0.key < $1.key }), id >= entries {
                throw fail("token '\(piece.debugEscaped)' has id \(id), beyond the vocabulary's \(entries) entries (ids must be below \(entries))")
            }
            let count = (pieceById.keys.max() ?? -1) + 1
            var pieces = [String](repeating: "", count: count)
            var types = [TokenType](repeating: .unused, count: count)
            for (id, piece) in pieceById {
                pieces[id] = piece
                types[id] = typeById[id] ?? .normal
            }
            let idOf = { (piece: String) -> Int? in vocab[piece] as? Int ?? added.first { $0["content"] as? String == piece }?["id"] as? Int }

            let merges = try parseMerges(model["merges"])
            let (addBOS, templateBOS) = bosFromPostProcessor()
            let bos = templateBOS ?? tokenName("bos_token").flatMap(idOf)
            let eos = tokenName("eos_token").flatMap(idOf)
            let addsBOS = (config["add_bos_token"] as? Bool) ?? addBOS

            if let byteLevel = try byteLevelPreTokenizer() {
                return ByteLevelBPETokenizer(
                    pieces: pieces, mergePairs: merges, types: types, bosTokenId: bos, eosTokenId: eos, addBOS: addsBOS,
                    preTokenizer: byteLevel.variant, preTokenizerName: byteLevel.variant.ggufName, ignoresMerges: model["ignore_merges"] as? Bool ?? false,
                    addsPrefixSpace: byteLevel.addsPrefixSpace, normalization: try byteLevelNormalization())
            }
            let metaspace = try metaspaceSettings()
            let byteFallback = model["byte_fallback"] as? Bool ?? false
            let unknown = (model["unk_token"] as? String).flatMap(idOf)
            if let unknown { types[unknown] = .unknown }
            if byteFallback {
                for id in pieces.indices where types[id] == .normal && ByteTokens.byte(of: pieces[id]) != nil { types[id] = .byte }
            }
            return MetaspaceBPETokenizer(
                pieces: pieces, merges: merges, types: types, bosTokenId: bos, eosTokenId: eos, unknownTokenId: unknown,
                addBOS: addsBOS, prefix: metaspace.prefix, splitsWords: metaspace.splitsWords, byteFallback: byteFallback,
                fusesUnknown: model["fuse_unk"] as? Bool ?? false, stripsLeadingSpace: decoderStripsLeadingSpace())
        }

        /// Whether the decoder has a `Strip` of one leading space (Llama 2 style), or is a
        /// Metaspace decoder that drops the prefix it adds.
        func decoderStripsLeadingSpace() -> Bool {
            guard let decoder = root["decoder"] as? [String: Any] else { return false }
            let steps = (decoder["type"] as? String == "Sequence") ? (decoder["decoders"] as? [[String: Any]] ?? []) : [decoder]
            return steps.contains { step in
                switch step["type"] as? String {
                case "Strip": return step["content"] as? String == " " && (step["start"] as? Int ?? 0) >= 1
                case "Metaspace": return (step["prepend_scheme"] as? String ?? "always") != "never"
                default: return false
                }
            }
        }

        /// The normalizer of a byte-level tokenizer: none, or Unicode NFC / NFKC (Qwen 2).
        func byteLevelNormalization() throws -> UnicodeNormalization {
            guard let normalizer = root["normalizer"] as? [String: Any] else { return .none }
            let steps = (normalizer["type"] as? String == "Sequence") ? (normalizer["normalizers"] as? [[String: Any]] ?? []) : [normalizer]
            switch steps.map({ $0["type"] as? String ?? "?" }) {
            case []: return .none
            case ["NFC"]: return .nfc
            case ["NFKC"]: return .nfkc
            case let types: throw LLMOptError.unsupported("\(path): normalizer \(types) before byte-level BPE")
            }
        }

        /// Merges as "a b" strings (older files) or ["a", "b"] pairs (newer ones).
        func parseMerges(_ value: Any?) throws -> [(String, String)] {
            guard let list = value as? [Any] else { return [] }
            return try list.map { item in
                if let pair = item as? [String], pair.count == 2 { return (pair[0], pair[1]) }
                if let text = item as? String, let space = text.dropFirst().firstIndex(of: " ") {
                    return (String(text[..<space]), String(text[text.index(after: space)...]))
                }
                throw fail("merge \(item) is neither \"a b\" nor [a, b]")
            }
        }

        /// The name of a special token in tokenizer_config.json, written as a string or as
        /// `{"content": ...}`.
        func tokenName(_ key: String) -> String? {
            if let name = config[key] as? String { return name }
            return (config[key] as? [String: Any])?["content"] as? String
        }

        /// Whether the post-processor puts a special token in front of a single text, and its id.
        func bosFromPostProcessor() -> (Bool, Int?) {
            func search(_ processor: [String: Any]?) -> (Bool, Int?) {
                guard let processor else { return (false, nil) }
                switch processor["type"] as? String {
                case "TemplateProcessing":
                    guard let single = processor["single"] as? [[String: Any]],
                          let first = single.first?["SpecialToken"] as? [String: Any],
                          let name = first["id"] as? String else { return (false, nil) }
                    let specials = processor["special_tokens"] as? [String: Any]
                    let ids = (specials?[name] as? [String: Any])?["ids"] as? [Int]
                    return (true, ids?.first)
                case "Sequence":
                    for inner in (processor["processors"] as? [[String: Any]]) ?? [] {
                        let found = search(inner)
                        if found.0 { return found }
                    }
                    return (false, nil)
                default:
                    return (false, nil)
                }
            }
            return search(root["post_processor"] as? [String: Any])
        }

        /// The byte-level pre-tokenizer, or nil when the file has none.
        func byteLevelPreTokenizer() throws -> (variant: ByteLevelPreTokenizer, addsPrefixSpace: Bool)? {
            guard let pre = root["pre_tokenizer"] as? [String: Any] else { return nil }
            let steps = (pre["type"] as? String == "Sequence") ? (pre["pretokenizers"] as? [[String: Any]] ?? []) : [pre]
            guard let byteLevel = steps.last, byteLevel["type"] as? String == "ByteLevel" else { return nil }
            let addsPrefixSpace = byteLevel["add_prefix_space"] as? Bool ?? false
            let usesRegex = byteLevel["use_regex"] as? Bool ?? true
            let before = steps.dropLast().map(describe)
            switch (before, usesRegex) {
            case ([], true):
                return (.gpt2, addsPrefixSpace)
            case (["digits"], true):
                return (.digitsThenGPT2, addsPrefixSpace)
            case (["split:llama3"], false):
                return (.llama3, addsPrefixSpace)
            case (["split:qwen2"], false):
                return (.qwen2, addsPrefixSpace)
            default:
                throw LLMOptError.unsupported("\(path): pre-tokenizer sequence \(before) before ByteLevel(use_regex: \(usesRegex))")
            }
        }

        /// A short name for a pre-tokenizer step this loader knows, or its JSON.
        func describe(_ step: [String: Any]) -> String {
            switch step["type"] as? String {
            case "Digits" where step["individual_digits"] as? Bool == true:
                return "digits"
            case "Split":
                let pattern = (step["pattern"] as? [String: Any])?["Regex"] as? String
                if pattern == Self.llama3Pattern { return "split:llama3" }
                if pattern == Self.qwen2Pattern { return "split:qwen2" }
                return "split:\(pattern ?? "?")"
            default:
                return "\(step)"
            }
        }

        static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

        /// Metaspace as a pre-tokenizer (`prepend_scheme`, `split`) or as the older normalizers
        /// (`Prepend("▁")` and `Replace(" ", "▁")`).
        func metaspaceSettings() throws -> (prefix: MetaspaceBPETokenizer.Prefix, splitsWords: Bool) {
            if let pre = root["pre_tokenizer"] as? [String: Any], pre["type"] as? String == "Metaspace" {
                guard (pre["replacement"] as? String ?? "\u{2581}") == "\u{2581}" else {
                    throw LLMOptError.unsupported("\(path): Metaspace replacement other than \"▁\"")
                }
                let scheme = pre["prepend_scheme"] as? String ?? ((pre["add_prefix_space"] as? Bool ?? true) ? "always" : "never")
                let prefix: MetaspaceBPETokenizer.Prefix
                switch scheme {
                case "first": prefix = .first
                case "always": prefix = .always
                case "never": prefix = .never
                default: throw fail("unknown Metaspace prepend_scheme '\(scheme)'")
                }
                if root["normalizer"] as? [String: Any] != nil {
                    throw LLMOptError.unsupported("\(path): a normalizer before the Metaspace pre-tokenizer")
                }
                return (prefix, pre["split"] as? Bool ?? true)
            }
            if root["pre_tokenizer"] is NSNull || root["pre_tokenizer"] == nil,
               let normalizer = root["normalizer"] as? [String: Any] {
                let steps = (normalizer["type"] as? String == "Sequence") ? (normalizer["normalizers"] as? [[String: Any]] ?? []) : [normalizer]
                let prepends = steps.contains { $0["type"] as? String == "Prepend" && $0["prepend"] as? String == "\u{2581}" }
                let replaces = steps.contains {
                    $0["type"] as? String == "Replace" && ($0["pattern"] as? [String: Any])?["String"] as? String == " "
                        && $0["content"] as? String == "\u{2581}"
                }
                let known = steps.allSatisfy { ["Prepend", "Replace"].contains($0["type"] as? String ?? "") }
                if replaces && known { return (prepends ? .unconditional : .never, false) }
            }
            throw LLMOptError.unsupported("\(path): neither a ByteLevel nor a Metaspace pre-tokenizer")
        }
    }
}
