/// Negentropy's unsigned varint: base 128, most significant group first, high bit set on every byte but the
/// last (not LEB128: 128 is `81 00`).
enum Varint {
    static func append(_ value: UInt64, to output: inout [UInt8]) {
        if value < 0x80 {
            output.append(UInt8(value))
            return
        }
        var groups = 0
        var rest = value
        while rest > 0 { groups += 1; rest >>= 7 }
        for group in stride(from: groups - 1, through: 0, by: -1) {
            let bits = UInt8((value >> UInt64(7 * group)) & 0x7f)
            output.append(group == 0 ? bits : bits | 0x80)
        }
    }

    static func encoded(_ value: UInt64) -> [UInt8] {
        var output: [UInt8] = []
        append(value, to: &output)
        return output
    }
}
