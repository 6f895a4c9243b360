import Foundation

/// Writes a GGUF-style vocabulary as Hugging Face `tokenizer.json` + `tokenizer_config.json`,
/// so that a model loaded from GGUF or llama2.c and saved as a folder keeps its tokenizer.
///
/// - "gpt2" vocabularies become a byte-level BPE with their merges and the pre-tokenizer
///   `tokenizer.ggml.pre` names (GPT-2's regex; SmolLM's adds single digits).
/// - "llama" vocabularies (SentencePiece scores) become a BPE with byte fallback behind the
///   Llama 2 normalizer (prepend "▁", spaces to "▁"), as llama.cpp's SPM tokenizer adds a
///   space in front of every text between special tokens. Merges come from the scores the
///   way transformers' SentencePiece converter makes them: every split of a piece into two
///   pieces of the vocabulary, ordered by the merged piece's score.
public enum TokenizerJSONWriter {
    public static func write(_ v: ExportedVocabulary, chatTemplate: String? = nil, to folder: String) throws {
        var seen = Set<String>()
        let vocab = OrderedJSON(v.pieces.enumerated().compactMap { id, piece in seen.insert(piece).inserted ? (piece, id) : nil })
        let special: Set<Int> = [TokenType.control.rawValue, TokenType.unknown.rawValue]
        let added: [[String: Any]] = v.tokenTypes.enumerated().compactMap { id, type in
            guard special.contains(type) || type == TokenType.userDefined.rawValue else { return nil }
            return ["id": id, "content": v.pieces[id], "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": false, "special": special.contains(type)]
        }
        var root: [String: Any] = ["version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added]
        var model: [String: Any] = [
            "type": "BPE", "dropout": NSNull(), "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(),
            "ignore_merges": false, "vocab": vocab,
        ]
        let bosPiece = v.bosTokenId.map { v.pieces[$0] }
        if v.model == "gpt2" {
            let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]
            switch v.preTokenizer {
            case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
                root["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel]]
            case nil, "gpt2", "gpt-2", "default":
                root["pre_tokenizer"] = byteLevel
            case let other?:
                throw LLMOptError.unsupported("\(folder): cannot write pre-tokenizer '\(other)' to tokenizer.json")
            }
            root["normalizer"] = NSNull()
            root["decoder"] = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true]
            model["merges"] = v.merges ?? []
            model["fuse_unk"] = false
            model["byte_fallback"] = false
            model["unk_token"] = NSNull()
        } else {
            root["normalizer"] = ["type": "Sequence", "normalizers": [
                ["type": "Prepend", "prepend": "\u{2581}"],
                ["type": "Replace", "pattern": ["String": " "], "content": "\u{2581}"],
            ]]
            root["pre_tokenizer"] = NSNull()
            root["decoder"] = ["type": "Sequence", "decoders": [
                ["type": "Replace", "pattern": ["String": "\u{2581}"], "content": " "],
                ["type": "ByteFallback"], ["type": "Fuse"],
                ["type": "Strip", "content": " ", "start": 1, "stop": 0],
            ]]
            model["merges"] = mergesFromScores(v)
            model["fuse_unk"] = true
            model["byte_fallback"] = true
            model["unk_token"] = v.unknownTokenId.map { v.pieces[$0] } ?? NSNull()
        }
        root["model"] = model
        if v.addBOS, let bos = v.bosTokenId, let bosPiece {
            root["post_processor"] = [
                "type": "TemplateProcessing",
                "single": [["SpecialToken": ["id": bosPiece, "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                "pair": [["SpecialToken": ["id": bosPiece, "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]],
                         ["SpecialToken": ["id": bosPiece, "type_id": 1]], ["Sequence": ["id": "B", "type_id": 1]]],
                "special_tokens": [bosPiece: ["id": bosPiece, "ids": [bos], "tokens": [bosPiece]]],
            ]
        } else {
            root["post_processor"] = NSNull()
        }

        var config: [String: Any] = ["add_bos_token": v.addBOS, "add_eos_token": false, "clean_up_tokenization_spaces": false,
                                     "tokenizer_class": v.model == "gpt2" ? "GPT2Tokenizer" : "LlamaTokenizer"]
        if let bosPiece { config["bos_token"] = bosPiece }
        if let eos = v.eosTokenId { config["eos_token"] = v.pieces[eos] }
        if let unk = v.unknownTokenId { config["unk_token"] = v.pieces[unk] }
        if let chatTemplate { config["chat_template"] = chatTemplate }

        for (name, object) in [("tokenizer.json", root), ("tokenizer_config.json", config)] {
            var text = ""
            try emit(object, into: &text, file: name)
            try AtomicFileWriter.write(to: (folder as NSString).appendingPathComponent(name)) { w in
                try w.write(Array(text.utf8))
            }
        }
    }

    /// A JSON object whose keys keep their order (the vocabulary in id order, as Hugging Face
    /// writes it).
    struct OrderedJSON {
        let pairs: [(String, Any)]
        init(_ pairs: [(String, Any)]) { self.pairs = pairs }
    }

    /// Serializes the handful of value kinds these files hold; dictionary keys are sorted.
    /// (Foundation's serializer takes seconds on a 50k-entry vocabulary.)
    static func emit(_ value: Any, into out: inout String, file: String) throws {
        switch value {
        case let s as String: out += SafetensorsWriter.jsonString(s)
        case let b as Bool: out += b ? "true" : "false"
        case let i as Int: out += String(i)
        case is NSNull: out += "null"
        case let list as [Any]:
            out += "["
            for (i, item) in list.enumerated() {
                if i > 0 { out += "," }
                try emit(item, into: &out, file: file)
            }
            out += "]"
        case let object as OrderedJSON:
            out += "{"
            for (i, (key, item)) in object.pairs.enumerated() {
                if i > 0 { out += "," }
                out += SafetensorsWriter.jsonString(key) + ":"
                try emit(item, into: &out, file: file)
            }
            out += "}"
        case let dict as [String: Any]:
            try emit(OrderedJSON(dict.keys.sorted().map { ($0, dict[$0]!) }), into: &out, file: file)
        default:
            throw LLMOptError.unsupported("\(file): cannot write \(type(of: value)) as JSON")
        }
    }

    /// BPE merges equivalent to SentencePiece scores: for each normal piece, every split into
    /// two pieces of the vocabulary, ordered by the piece's score (higher first), then by the
    /// ids of the two halves.
    static func mergesFromScores(_ v: ExportedVocabulary) -> [[String]] {
        guard let scores = v.scores else { return [] }
        var idOf: [String: Int] = [:]
        for (id, piece) in v.pieces.enumerated() where idOf[piece] == nil { idOf[piece] = id }
        var candidates: [(score: Float, left: Int, right: Int)] = []
        for (id, piece) in v.pieces.enumerated() where v.tokenTypes[id] == TokenType.normal.rawValue {
            let characters = Array(piece)
            guard characters.count >= 2 else { continue }
            for cut in 1..<characters.count {
                guard let left = idOf[String(characters[..<cut])], let right = idOf[String(characters[cut...])] else { continue }
                candidates.append((scores[id], left, right))
            }
        }
        candidates.sort { ($0.score, -$0.left, -$0.right) > ($1.score, -$1.left, -$1.right) }
        return candidates.map { [v.pieces[$0.left], v.pieces[$0.right]] }
    }
}
