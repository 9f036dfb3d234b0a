// tokenizer.json (`Tokenizer(path:)`, Sources/PlaidEncoder/Tokenizer/): the input is the whole
// file. An accepted tokenizer encodes a few fixed texts (plain, accented, CJK, emoji, its own
// special tokens, an empty string) with and without special tokens and truncation, and decodes
// the ids back to tokens.
import FuzzSupport
import PlaidCore
@testable import PlaidEncoder

let texts = [
    "", " ", "Hello, world! It's 3.14 o'clock.", "Ünïcödé naïve café — “quotes” ½",
    "日本語のテキスト 한국어", "emoji 👩‍👩‍👧 ok", "[CLS] [MASK] <s> </s> [unused1] [Q] [D]", "\t\n\u{00A0}\u{200B}x\u{0301}",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = scratchFile("tokenizer.json", UnsafeRawBufferPointer(input(data, size)))
    guard let tokenizer = try? Tokenizer(path: path) else { return 0 }
    for text in texts {
        for ids in [tokenizer.encode(text), tokenizer.encode(text, addSpecialTokens: false), tokenizer.encode(text, maxLength: 4)] {
            for id in ids { _ = tokenizer.token(forID: id) }
        }
        _ = tokenizer.tokenID(text)
    }
    return 0
}
