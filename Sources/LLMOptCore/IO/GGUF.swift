import Foundation

/// One metadata value of a GGUF file, with the file's own type.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), uint64(UInt64), int64(Int64)
    case float32(Float), float64(Double)
    case bool(Bool)
    case string(String)
    /// Elements all share `elementType` (a `GGUFValueType` raw value); arrays may nest.
    case array(elementType: UInt32, [GGUFValue])

    /// The value as an integer, when it is one of the integer types and fits.
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// The value as a float, for float and integer types.
    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }

    public var bool: Bool? { if case .bool(let v) = self { return v } else { return nil } }
    public var string: String? { if case .string(let v) = self { return v } else { return nil } }
    public var array: [GGUFValue]? { if case .array(_, let v) = self { return v } else { return nil } }
    /// An array of strings, or `nil` when any element is not a string.
    public var strings: [String]? {
        guard let a = array else { return nil }
        var out: [String] = []
        out.reserveCapacity(a.count)
        for v in a { guard let s = v.string else { return nil }; out.append(s) }
        return out
    }
    /// An array of numbers as floats, or `nil` when any element is not a number.
    public var floats: [Float]? {
        guard let a = array else { return nil }
        var out: [Float] = []
        out.reserveCapacity(a.count)
        for v in a { guard let d = v.double else { return nil }; out.append(Float(d)) }
        return out
    }
    /// An array of integers, or `nil` when any element is not an integer.
    public var ints: [Int]? {
        guard let a = array else { return nil }
        var out: [Int] = []
        out.reserveCapacity(a.count)
        for v in a { guard let i = v.int else { return nil }; out.append(i) }
        return out
    }
}

/// GGUF's metadata value type ids.
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64

    /// Fixed byte size of a scalar, `nil` for strings and arrays.
    var scalarSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }

    /// The fewest bytes one value of this type occupies in a file (a string or array is at
    /// least its length prefix). Bounds element counts before anything is allocated.
    var minimumSize: Int {
        switch self {
        case .string: return 8
        case .array: return 12
        default: return scalarSize!
        }
    }
}

/// ggml's tensor type ids for the storage types llmopt holds, and names for the others so
/// that errors can say what a file contains.
public enum GGMLType {
    public static func dtype(_ id: UInt32) -> DType? { DType(ggmlType: id) }

    public static func id(_ dtype: DType) -> UInt32 {
        guard let id = dtype.format.ggmlType else { fatalError("\(dtype) tensors have no ggml type: GGUFWriter stores them as F32") }
        return id
    }

    /// The ggml types llmopt reads, for error messages.
    static var readable: String {
        DType.allCases.filter { $0.format.ggmlType != nil && $0 != .i8 && $0 != .i32 }.map(\.ggmlName).joined(separator: ", ")
    }

    static let names: [UInt32: String] = [
        6: "Q5_0", 7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K",
        15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S",
        22: "IQ2_S", 23: "IQ4_XS", 25: "I16", 27: "I64", 28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0",
        39: "MXFP4",
    ]

    /// A readable name for any type id (`Q4_K`, or `type 99` when ggml has none).
    public static func name(_ id: UInt32) -> String {
        if let d = dtype(id) { return d.ggmlName }
        return names[id] ?? "type \(id)"
    }
}

/// Where one tensor of a GGUF file lies and how it is stored.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// Dimensions as the file lists them, innermost first (`ne[0]` is the row length).
    public let dims: [Int]
    public let dtype: DType
    /// Offset of the data from the start of the data section.
    public let offset: Int

    /// Row-major shape, outermost first: a weight stored with `ne = [in, out]` is `[out, in]`.
    public var shape: [Int] { dims.reversed() }
}

/// A GGUF file (version 2 or 3, little-endian), memory-mapped. Metadata is parsed eagerly;
/// tensors point into the mapping, so opening a large file copies no weights.
///
/// Every count, length and offset in the file is checked against the bytes that remain
/// before anything is allocated, so a corrupt or hostile file gives `LLMOptError.badFile`
/// rather than a crash or a huge allocation.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensorInfos: [GGUFTensorInfo]
    public let tensors: [String: Tensor]
    public let alignment: Int
    /// File offset of the data section.
    public let dataOffset: Int
    let file: MappedFile

    static let magic: UInt32 = 0x4655_4747  // "GGUF" read as a little-endian UInt32
    static let defaultAlignment = 32
    /// ggml tensors have at most four dimensions.
    static let maxDims = 4
    /// Arrays nested deeper than this are refused (real files nest at most one level).
    static let maxArrayDepth = 8

    public init(path: String) throws {
        let file = try MappedFile(path: path)
        var reader = GGUFReader(file: file)
        func fail(_ reason: String) -> LLMOptError { .badFile(path: path, reason: reason) }

        guard file.size >= 4, try reader.u32("magic") == Self.magic else {
            throw fail("not a GGUF file (no 'GGUF' magic)")
        }
        let version = try reader.u32("version")
        guard version == 2 || version == 3 else {
            if version.byteSwapped == 2 || version.byteSwapped == 3 {
                throw fail("big-endian GGUF is not supported")
            }
            throw fail("GGUF version \(version) is not supported (llmopt reads versions 2 and 3)")
        }
        let tensorCount = try reader.count("tensor count", minimumItemSize: 24)
        let kvCount = try reader.count("metadata count", minimumItemSize: 13)

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        metadata.reserveCapacity(kvCount)
        for _ in 0..<kvCount {
            let key = try reader.string("metadata key")
            let rawType = try reader.u32("type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw fail("metadata '\(key)' has unknown value type \(rawType)")
            }
            let value = try reader.value(type, what: "metadata '\(key)'", depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw fail("metadata key '\(key)' appears twice")
            }
            keys.append(key)
        }

        var alignment = Self.defaultAlignment
        if let a = metadata["general.alignment"] {
            guard let v = a.int, v > 0, v & (v - 1) == 0, v <= 1 << 20 else {
                throw fail("general.alignment must be a power of two, got \(a)")
            }
            alignment = v
        }

        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(tensorCount)
        var seen = Set<String>()
        for _ in 0..<tensorCount {
            let name = try reader.string("tensor name")
            guard seen.insert(name).inserted else { throw fail("tensor '\(name)' appears twice") }
            let nDims = Int(try reader.u32("dimension count of '\(name)'"))
            guard nDims >= 1, nDims <= Self.maxDims else {
                throw fail("tensor '\(name)' has \(nDims) dimensions (ggml allows 1 to \(Self.maxDims))")
            }
            var dims: [Int] = []
            for _ in 0..<nDims {
                let d = try reader.u64("dimensions of '\(name)'")
                guard let di = Int(exactly: d) else { throw fail("tensor '\(name)' has dimension \(d), too large") }
                dims.append(di)
            }
            let typeId = try reader.u32("type of '\(name)'")
            guard let dtype = GGMLType.dtype(typeId) else {
                let kind = GGMLType.names[typeId].map { "ggml type \($0) (id \(typeId))" } ?? "an unknown ggml type id \(typeId)"
                throw fail("tensor '\(name.debugEscaped)' has \(kind); llmopt reads \(GGMLType.readable)")
            }
            guard dims[0] % dtype.blockSize == 0 else {
                throw fail("tensor '\(name)': rows of \(dims[0]) values are not whole \(dtype.ggmlName) blocks of \(dtype.blockSize)")
            }
            let offset = try reader.u64("offset of '\(name)'")
            guard let off = Int(exactly: offset), off % alignment == 0 else {
                throw fail("tensor '\(name)' has offset \(offset), not a multiple of the alignment \(alignment)")
            }
            infos.append(GGUFTensorInfo(name: name, dims: dims, dtype: dtype, offset: off))
        }

        let (dataOffset, overflow) = reader.position.addingReportingOverflow((alignment - reader.position % alignment) % alignment)
        guard !overflow, dataOffset <= file.size || tensorCount == 0 else {
            throw fail("data section starts at \(dataOffset), past the end of the file (\(file.size) bytes)")
        }

        var tensors: [String: Tensor] = [:]
        var spans: [(name: String, range: Range<Int>)] = []
        for info in infos {
            var elements = 1
            for d in info.dims {
                let (p, o) = elements.multipliedReportingOverflow(by: d)
                guard !o else { throw fail("tensor '\(info.name)': dimensions \(info.dims) overflow") }
                elements = p
            }
            guard let bytes = info.dtype.byteCount(elements: elements) else {
                throw fail("tensor '\(info.name)': dimensions \(info.dims) overflow")
            }
            let (start, o1) = dataOffset.addingReportingOverflow(info.offset)
            let (end, o2) = start.addingReportingOverflow(bytes)
            guard !o1, !o2, end <= file.size else {
                throw fail("tensor '\(info.name)' (\(bytes) bytes at data offset \(info.offset)) runs past the end of the file (\(file.size) bytes)")
            }
            let storage = try file.storage(start..<end, what: "tensor '\(info.name)'")
            tensors[info.name] = Tensor(shape: info.shape, dtype: info.dtype, storage: storage)
            spans.append((info.name, start..<end))
        }
        spans.sort { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(spans, spans.dropFirst()) where a.range.upperBound > b.range.lowerBound {
            throw fail("tensors '\(a.name)' and '\(b.name)' overlap")
        }

        self.path = path
        self.version = Int(version)
        self.metadata = metadata
        self.metadataKeys = keys
        self.tensorInfos = infos
        self.tensors = tensors
        self.alignment = alignment
        self.dataOffset = dataOffset
        self.file = file
    }

    public subscript(key: String) -> GGUFValue? { metadata[key] }

    /// `general.architecture`, e.g. `llama`.
    public var architecture: String? { metadata["general.architecture"]?.string }
}

/// A bounds-checked cursor over the bytes of a mapped GGUF file.
struct GGUFReader {
    let file: MappedFile
    var position = 0

    init(file: MappedFile) { self.file = file }

    var remaining: Int { file.size - position }

    func fail(_ reason: String) -> LLMOptError { .badFile(path: file.path, reason: reason) }

    mutating func take(_ n: Int, _ what: String) throws -> UnsafeRawPointer {
        guard n >= 0, n <= remaining else {
            throw fail("\(what) (\(n) bytes at offset \(position)) runs past the end of the file (\(file.size) bytes)")
        }
        defer { position += n }
        return file.base + position
    }

    mutating func u32(_ what: String) throws -> UInt32 {
        UInt32(littleEndian: try take(4, what).loadUnaligned(as: UInt32.self))
    }

    mutating func u64(_ what: String) throws -> UInt64 {
        UInt64(littleEndian: try take(8, what).loadUnaligned(as: UInt64.self))
    }

    /// A 64-bit count of items each at least `minimumItemSize` bytes long, refused when the
    /// rest of the file could not hold that many.
    mutating func count(_ what: String, minimumItemSize: Int) throws -> Int {
        let n = try u64(what)
        guard n <= UInt64(remaining / minimumItemSize) else {
            throw fail("\(what) \(n) is more than the rest of the file (\(remaining) bytes at offset \(position)) can hold")
        }
        return Int(n)
    }

    mutating func string(_ what: String) throws -> String {
        let n = try u64("length of \(what)")
        guard n <= UInt64(remaining) else {
            throw fail("\(what) has length \(n), past the end of the file (\(remaining) bytes remain at offset \(position))")
        }
        let p = try take(Int(n), what)
        return String(decoding: UnsafeRawBufferPointer(start: p, count: Int(n)), as: UTF8.self)
    }

    mutating func value(_ type: GGUFValueType, what: String, depth: Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try take(1, what).load(as: UInt8.self))
        case .int8: return .int8(try take(1, what).load(as: Int8.self))
        case .uint16: return .uint16(UInt16(littleEndian: try take(2, what).loadUnaligned(as: UInt16.self)))
        case .int16: return .int16(Int16(littleEndian: try take(2, what).loadUnaligned(as: Int16.self)))
        case .uint32: return .uint32(try u32(what))
        case .int32: return .int32(Int32(bitPattern: try u32(what)))
        case .uint64: return .uint64(try u64(what))
        case .int64: return .int64(Int64(bitPattern: try u64(what)))
        case .float32: return .float32(Float(bitPattern: try u32(what)))
        case .float64: return .float64(Double(bitPattern: try u64(what)))
        case .bool:
            let b = try take(1, what).load(as: UInt8.self)
            guard b <= 1 else { throw fail("\(what): bool holds \(b)") }
            return .bool(b == 1)
        case .string: return .string(try string(what))
        case .array:
            guard depth < GGUFFile.maxArrayDepth else { throw fail("\(what): arrays nested deeper than \(GGUFFile.maxArrayDepth)") }
            let rawType = try u32("element type of \(what)")
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw fail("\(what): array has unknown element type \(rawType)")
            }
            let n = try count("element count of \(what)", minimumItemSize: elementType.minimumSize)
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try value(elementType, what: what, depth: depth + 1)) }
            return .array(elementType: rawType, items)
        }
    }
}
