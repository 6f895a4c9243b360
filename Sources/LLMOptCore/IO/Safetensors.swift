import Foundation

/// Reader for the safetensors format: an 8-byte little-endian header length, a JSON header
/// mapping names to `{dtype, shape, data_offsets}`, then the raw little-endian data.
public struct SafetensorsFile {
    public let path: String
    public let tensors: [String: Tensor]
    /// Names in the order of their data offsets.
    public let order: [String]
    public let metadata: [String: String]

    /// Refuses headers larger than this; real files have headers of a few hundred kilobytes.
    static let maxHeaderBytes = 100_000_000

    public init(path: String) throws {
        let file = try MappedFile(path: path)
        func fail(_ reason: String) -> LLMOptError { .badFile(path: path, reason: reason) }
        guard file.size >= 8 else { throw fail("too short for a safetensors header (\(file.size) bytes)") }
        let headerLength = Int(clamping: file.base.loadUnaligned(as: UInt64.self))
        guard headerLength <= Self.maxHeaderBytes, headerLength <= file.size - 8 else {
            throw fail("header length \(headerLength) runs past the end of the file (\(file.size) bytes)")
        }
        let headerData = Data(bytes: file.base + 8, count: headerLength)
        guard let json = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        var tensors: [String: Tensor] = [:]
        var spans: [(name: String, range: Range<Int>)] = []
        var metadata: [String: String] = [:]
        for (name, value) in json {
            if name == "__metadata__" {
                for (k, v) in (value as? [String: Any]) ?? [:] { metadata[k] = "\(v)" }
                continue
            }
            guard let entry = value as? [String: Any],
                  let dtypeName = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int],
                  let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw fail("tensor '\(name)': header entry lacks dtype, shape or data_offsets") }
            guard let dtype = Self.dtype(dtypeName) else {
                throw fail("tensor '\(name)': unsupported dtype \(dtypeName)")
            }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[1] >= offsets[0] else {
                throw fail("tensor '\(name)': negative shape or offsets")
            }
            guard offsets[1] <= file.size - dataStart else {
                throw fail("tensor '\(name)' (data bytes \(offsets[0])..<\(offsets[1])) runs past the end of the file (\(file.size) bytes)")
            }
            let (elements, overflow) = shape.reduce((1, false)) { acc, d in
                let r = acc.0.multipliedReportingOverflow(by: d)
                return (r.partialValue, acc.1 || r.overflow)
            }
            guard !overflow, let expected = dtype.byteCount(elements: elements), expected == offsets[1] - offsets[0] else {
                throw fail("tensor '\(name)': shape \(shape) of \(dtypeName) does not match its \(offsets[1] - offsets[0]) data bytes")
            }
            let range = (dataStart + offsets[0])..<(dataStart + offsets[1])
            let storage = try file.storage(range, what: "tensor '\(name)'")
            tensors[name] = Tensor(shape: shape, dtype: dtype, storage: storage)
            spans.append((name, range))
        }
        spans.sort { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(spans, spans.dropFirst()) where a.range.upperBound > b.range.lowerBound {
            throw fail("tensors '\(a.name)' and '\(b.name)' overlap")
        }
        self.path = path
        self.tensors = tensors
        self.order = spans.map(\.name)
        self.metadata = metadata
    }

    static func dtype(_ name: String) -> DType? {
        DType(safetensorsName: name)
    }
}
