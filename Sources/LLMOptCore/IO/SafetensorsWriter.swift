import Foundation

/// Writes tensors as a safetensors file: the little-endian header length, a JSON header
/// (padded with spaces to a multiple of 8 bytes) and the raw data in the given order.
public enum SafetensorsWriter {
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = ["format": "pt"], to path: String) throws {
        var entries: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            entries.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for (name, t) in tensors {
            guard let dtype = dtypeName(t.dtype) else {
                throw LLMOptError.unsupported("\(path): safetensors cannot hold tensor '\(name)' of type \(t.dtype.ggmlName); dequantize it first")
            }
            let shape = t.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonString(name)):{\"dtype\":\"\(dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + t.byteCount)]}")
            offset += t.byteCount
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        header += [UInt8](repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        try AtomicFileWriter.write(to: path) { w in
            try w.write(littleEndian: UInt64(header.count))
            try w.write(header)
            for (_, t) in tensors { try w.write(UnsafeRawBufferPointer(start: t.rawPointer, count: t.byteCount)) }
        }
    }

    static func dtypeName(_ d: DType) -> String? {
        d.format.safetensorsName
    }

    /// A JSON string literal.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
