/// The layout of one row of a `.qgroup` tensor: b-bit integer codes in consecutive groups of
/// `groupSize` values along the row (the last group may be shorter), one float32 scale per group
/// and, for asymmetric grids, one uint8 zero point per group. Dequantized values are
/// `Float(q) * scale` (symmetric, q in -qmax...qmax) or `Float(q - zero) * scale` (asymmetric,
/// q in 0...2^b - 1): exactly the round-to-nearest arithmetic of `RoundToNearest`.
///
/// Every row is self-describing, so a pointer to a row and `Dequantize.row` are enough:
///
///     offset 0   u8  bits (2...8)
///     offset 1   u8  flags (bit 0: asymmetric)
///     offset 2   u16 0
///     offset 4   u32 groupSize
///     offset 8   u32 columns
///     offset 12  f32 scales[groupsPerRow]
///                u8  zeros[groupsPerRow]          (asymmetric only)
///                codes, bit-packed LSB first      (symmetric codes stored as q + 2^(b-1))
///                zero padding to a multiple of 4 bytes
///
/// The 12-byte header costs 3% on a 576-wide int4 row; it buys rows that need no side table.
public struct GroupQuantLayout: Sendable, Equatable {
    public let bits: Int
    public let groupSize: Int
    public let columns: Int
    public let symmetric: Bool

    static let headerBytes = 12

    /// Checks the parameters; `groupSize` is clamped to `columns` (one group per row).
    public init(bits: Int, groupSize: Int, columns: Int, symmetric: Bool) throws {
        guard (2...8).contains(bits) else {
            throw LLMOptError.invalidArgument(name: "bits", reason: "\(bits) is outside 2...8")
        }
        guard columns > 0, columns <= Int(UInt32.max) else {
            throw LLMOptError.invalidArgument(name: "columns", reason: "\(columns) cannot be packed in groups")
        }
        guard groupSize > 0 else {
            throw LLMOptError.invalidArgument(name: "group", reason: "group size \(groupSize) must be positive")
        }
        self.bits = bits
        self.groupSize = min(groupSize, columns)
        self.columns = columns
        self.symmetric = symmetric
    }

    /// Reads the header of a row written by `GroupQuantLayout.write(header:)`.
    public init(row: UnsafeRawPointer) {
        bits = Int(row.load(fromByteOffset: 0, as: UInt8.self))
        symmetric = row.load(fromByteOffset: 1, as: UInt8.self) & 1 == 0
        groupSize = Int(row.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        columns = Int(row.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
    }

    public var groupsPerRow: Int { (columns + groupSize - 1) / groupSize }

    var scalesOffset: Int { Self.headerBytes }
    var zerosOffset: Int { scalesOffset + 4 * groupsPerRow }
    var codesOffset: Int { zerosOffset + (symmetric ? 0 : groupsPerRow) }
    var codeBytes: Int { (columns * bits + 7) / 8 }
    /// Bytes of one row, header and padding included.
    public var rowBytes: Int { (codesOffset + codeBytes + 3) / 4 * 4 }

    /// Writes the header of one row.
    public func write(header row: UnsafeMutableRawPointer) {
        row.storeBytes(of: UInt8(bits), toByteOffset: 0, as: UInt8.self)
        row.storeBytes(of: symmetric ? 0 : 1, toByteOffset: 1, as: UInt8.self)
        row.storeBytes(of: UInt32(groupSize), toByteOffset: 4, as: UInt32.self)
        row.storeBytes(of: UInt32(columns), toByteOffset: 8, as: UInt32.self)
    }

    @inline(__always)
    public func scale(_ row: UnsafeRawPointer, group: Int) -> Float {
        row.loadUnaligned(fromByteOffset: scalesOffset + 4 * group, as: Float.self)
    }

    @inline(__always)
    public func zero(_ row: UnsafeRawPointer, group: Int) -> Int {
        symmetric ? 0 : Int(row.load(fromByteOffset: zerosOffset + group, as: UInt8.self))
    }

    /// The integer code of value `index` (signed for symmetric grids).
    @inline(__always)
    public func code(_ row: UnsafeRawPointer, index: Int) -> Int {
        let bit = index * bits
        let byte = codesOffset + bit >> 3
        // A code of at most 8 bits spans at most two bytes, both inside the code bytes.
        var word = Int(row.load(fromByteOffset: byte, as: UInt8.self))
        if bit & 7 + bits > 8 { word |= Int(row.load(fromByteOffset: byte + 1, as: UInt8.self)) << 8 }
        let stored = (word >> (bit & 7)) & ((1 << bits) - 1)
        return symmetric ? stored - (1 << (bits - 1)) : stored
    }

    @inline(__always)
    public func setScale(_ row: UnsafeMutableRawPointer, group: Int, _ scale: Float) {
        row.storeBytes(of: scale, toByteOffset: scalesOffset + 4 * group, as: Float.self)
    }

    @inline(__always)
    public func setZero(_ row: UnsafeMutableRawPointer, group: Int, _ zero: Int) {
        row.storeBytes(of: UInt8(zero), toByteOffset: zerosOffset + group, as: UInt8.self)
    }

    /// Stores code `q` of value `index`; the row's code bytes must start zeroed.
    @inline(__always)
    public func setCode(_ row: UnsafeMutableRawPointer, index: Int, _ q: Int) {
        let stored = symmetric ? q + (1 << (bits - 1)) : q
        let bit = index * bits
        let byte = codesOffset + bit >> 3
        let shifted = stored << (bit & 7)
        let p = row.assumingMemoryBound(to: UInt8.self)
        p[byte] |= UInt8(shifted & 0xFF)
        if bit & 7 + bits > 8 { p[byte + 1] |= UInt8(shifted >> 8) }
    }

    /// Dequantizes one row into `columns` floats. 8- and 4-bit codes, whole bytes and nibbles,
    /// skip the general bit extraction.
    public func dequantize(row: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>) {
        let codes = (row + codesOffset).assumingMemoryBound(to: UInt8.self)
        let bias = symmetric ? 1 << (bits - 1) : 0
        for g in 0..<groupsPerRow {
            let s = scale(row, group: g)
            let offset = zero(row, group: g) + bias
            let range = (g * groupSize)..<min(columns, (g + 1) * groupSize)
            switch bits {
            case 8: for i in range { dst[i] = Float(Int(codes[i]) - offset) * s }
            case 4: for i in range { dst[i] = Float(Int(codes[i >> 1] >> (4 * UInt8(i & 1)) & 0xF) - offset) * s }
            default: for i in range { dst[i] = Float(code(row, index: i) + bias - offset) * s }
            }
        }
    }

    /// A `.qgroup` tensor of `shape` (last dimension `columns`) whose rows `fill` writes
    /// (headers are already written and code bytes zeroed when `fill` runs).
    public func makeTensor(shape: [Int], _ fill: (UnsafeMutableRawPointer) throws -> Void) rethrows -> Tensor {
        precondition(shape.last == columns, "shape \(shape) does not end in \(columns) columns")
        let rows = shape.dropLast().reduce(1, *)
        let storage = try TensorStorage.allocate(byteCount: rows * rowBytes) { base in
            for r in 0..<rows { write(header: base + r * rowBytes) }
            try fill(base)
        }
        return Tensor(shape: shape, dtype: .qgroup, storage: storage)
    }
}
