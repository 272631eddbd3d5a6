// UTF-8 and Unicode helpers the tokenizers need: decoding that tolerates
// invalid bytes, NFC normalization, the GPT-2 byte <-> character mapping, and
// the U+FFFD sanitizer the streaming detokenizer uses.
//
// All functions are pure and thread-safe. Invalid UTF-8 never throws or aborts:
// each function says what it does with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::unicode {

inline constexpr uint32_t kInvalidCodePoint = 0xFFFFFFFFu;

// Decodes the UTF-8 sequence starting at s[i] (i < s.size()). Returns its length
// in bytes and stores the code point in *cp. An invalid or truncated sequence,
// an overlong form, a surrogate or a value above U+10FFFF yields length 1 and
// *cp = kInvalidCodePoint (so callers step over one bad byte at a time).
size_t decode_utf8(std::string_view s, size_t i, uint32_t* cp);

// Appends the UTF-8 encoding of `cp` (which must be a Unicode scalar value).
void append_utf8(uint32_t cp, std::string* out);

bool is_valid_utf8(std::string_view s);

// Canonical composition (Unicode Normalization Form C). Runs of invalid bytes
// are copied through unchanged and act as boundaries. Tables: unicode_tables.inc.
std::string nfc(std::string_view s);

// GPT-2's bytes_to_unicode(): byte b -> the UTF-8 of the printable character
// that stands for it in byte-level BPE vocabularies ("Ġ" for ' ').
std::string_view byte_to_unicode(uint8_t b);
// The inverse; -1 when `cp` stands for no byte.
int unicode_to_byte(uint32_t cp);

// Copies `in` to `out` replacing each maximal invalid subsequence with U+FFFD
// (the W3C/Unicode "best practice"). When `final` is false, an incomplete but
// so-far valid sequence at the very end is left unconsumed. Returns the number
// of bytes of `in` consumed. sanitize(a+b) == sanitize_prefix(a) + rest, so a
// stream can be sanitized chunk by chunk with the same result as all at once.
size_t sanitize_utf8(std::string_view in, bool final, std::string* out);
inline std::string sanitize_utf8(std::string_view in) {
  std::string out;
  sanitize_utf8(in, true, &out);
  return out;
}

}  // namespace tandem::unicode
