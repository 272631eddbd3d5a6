#include "tokenizer/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "base/mapped_file.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/sentencepiece_model.h"
#include "tokenizer/unicode.h"

namespace tandem {
namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581

// Pre-tokenizer patterns (PCRE2 syntax), as llama.cpp and the Hugging Face
// tokenizer.json files write them.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (true) {
    size_t j = s.find(from, i);
    if (j == std::string_view::npos) break;
    out.append(s.substr(i, j - i));
    out.append(to);
    i = j + from.size();
  }
  out.append(s.substr(i));
  return out;
}

// "<0xAB>" -> 0xAB, else -1.
int parse_byte_token(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  int v = 0;
  for (char c : t.substr(3, 2)) {
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= c - '0';
    else if (c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else
      return -1;
  }
  return v;
}

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

struct PcreCodeDeleter {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
struct PcreMatchDataDeleter {
  void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};

// A text span of the input: either raw text to tokenize or one added token.
struct Fragment {
  std::string_view text;
  int32_t token = -1;  // >= 0: an added token matched in the text
};

// Lets unordered_map<std::string, ...> be searched with a string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct MergeTarget {
  int32_t rank;
  int32_t merged;
};

}  // namespace

struct Tokenizer::Impl {
  VocabData v;
  bool spm = false;
  bool add_space_prefix = false;
  bool use_ranks = false;  // llama: merge ranks instead of scores
  // llama: no piece has U+2581 after another character, so no merge can cross
  // the start of a word and each word can be merged on its own (same result,
  // smaller heaps). True for SentencePiece's default split_by_whitespace.
  bool split_words = false;
  bool ignore_merges = false;      // gpt2
  std::vector<int32_t> types;      // [n_vocab]
  std::vector<std::string> bytes;  // [n_vocab] what each token decodes to
  StringMap<int32_t> token_to_id;  // every token
  // llama: pieces a merge may produce or a symbol may be (normal, user-defined,
  // unused), as SentencePiece's pieces_ map; control and byte tokens excluded.
  std::unordered_map<std::string_view, int32_t> piece_to_id;
  std::unordered_map<uint64_t, MergeTarget> merges;  // (left id, right id) -> target
  std::array<int32_t, 256> byte_token{};             // llama: <0xXX>; gpt2: byte char
  // Added tokens matched in text before pre-tokenization, grouped by first byte,
  // longest first. always: user-defined (gpt2); special: control and unknown.
  struct Added {
    std::string_view text;
    int32_t id;
    bool special;
  };
  std::array<std::vector<Added>, 256> added_by_byte;
  // llama: user-defined pieces, matched as unmergeable symbols (SentencePiece).
  std::array<std::vector<Added>, 256> user_by_byte;
  std::unique_ptr<pcre2_code, PcreCodeDeleter> re;

  Status init();
  void split_added(std::string_view text, bool parse_special, std::vector<Fragment>* out) const;
  void encode_spm(std::string_view text, std::vector<int32_t>* out) const;
  void emit_spm_symbol(std::string_view piece,
                       const std::unordered_map<std::string_view,
                                                std::pair<std::string_view, std::string_view>>& rev,
                       std::vector<int32_t>* out) const;
  void encode_gpt2(std::string_view text, std::vector<int32_t>* out) const;
  void bpe_piece(std::string_view piece, std::vector<int32_t>* out) const;
  // Appends what `id` decodes to; false when it is skipped (special, out of range).
  bool append_decoded(int32_t id, bool skip_special, bool at_start, std::string* out) const;
};

namespace {

[[noreturn]] void die(const char* where, const std::exception* e) {
  ::tandem::detail::check_failed(__FILE__, __LINE__, where, e ? e->what() : "unknown exception");
}

}  // namespace

Status Tokenizer::Impl::init() {
  const size_t n = v.tokens.size();
  if (v.model == "llama") {
    spm = true;
  } else if (v.model != "gpt2") {
    return unimplemented("tokenizer model '" + v.model +
                         "' is not supported (supported: llama, gpt2)");
  }
  if (n == 0) return invalid_argument("the vocabulary has no tokens");
  if (n > static_cast<size_t>(INT32_MAX)) return invalid_argument("the vocabulary is too large");
  if (!v.scores.empty() && v.scores.size() != n) {
    return invalid_argument("scores has " + std::to_string(v.scores.size()) + " entries for " +
                            std::to_string(n) + " tokens");
  }
  if (!v.token_types.empty() && v.token_types.size() != n) {
    return invalid_argument("token_types has " + std::to_string(v.token_types.size()) +
                            " entries for " + std::to_string(n) + " tokens");
  }
  for (auto [name, id] :
       {std::pair{"bos", v.bos_id}, {"eos", v.eos_id}, {"unk", v.unk_id}, {"pad", v.pad_id}}) {
    if (id < -1 || id >= static_cast<int32_t>(n)) {
      return invalid_argument(std::string(name) + "_id " + std::to_string(id) +
                              " is outside the vocabulary of " + std::to_string(n) + " tokens");
    }
  }
  add_space_prefix = v.add_space_prefix.value_or(spm);
  ignore_merges = v.ignore_merges || v.pre == "llama-bpe";

  types.assign(n, kTokenNormal);
  for (size_t i = 0; i < v.token_types.size(); ++i) {
    const int32_t t = v.token_types[i];
    if (t < 0 || t > kTokenByte) {
      return invalid_argument("token " + std::to_string(i) + " has unknown type " +
                              std::to_string(t));
    }
    types[i] = t == 0 ? kTokenNormal : t;
  }
  if (v.unk_id >= 0 && types[v.unk_id] == kTokenNormal) types[v.unk_id] = kTokenUnknown;

  token_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (v.tokens[i].empty()) continue;
    token_to_id.emplace(v.tokens[i], static_cast<int32_t>(i));  // first occurrence wins
  }

  byte_token.fill(-1);
  bytes.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& t = v.tokens[i];
    const int32_t type = types[i];
    if (spm) {
      int b = parse_byte_token(t);
      if (type == kTokenByte && b < 0) {
        return invalid_argument("byte token " + std::to_string(i) + " '" + t +
                                "' is not of the form <0xXX>");
      }
      if (type == kTokenByte) {
        bytes[i] = std::string(1, static_cast<char>(b));
        if (byte_token[b] < 0) byte_token[b] = static_cast<int32_t>(i);
      } else if (type == kTokenControl || type == kTokenUnknown) {
        bytes[i] = t;
      } else {
        bytes[i] = replace_all(t, kSpmSpace, " ");
      }
    } else if (type == kTokenControl || type == kTokenUnknown || type == kTokenUserDefined) {
      bytes[i] = t;
    } else {
      std::string out;
      for (size_t k = 0; k < t.size();) {
        uint32_t cp;
        const size_t len = unicode::decode_utf8(t, k, &cp);
        const int b = cp == unicode::kInvalidCodePoint ? -1 : unicode::unicode_to_byte(cp);
        if (b >= 0)
          out.push_back(static_cast<char>(b));
        else
          out.append(t, k, len);  // not a byte-level character: keep as is
        k += len;
      }
      bytes[i] = std::move(out);
    }
  }

  if (spm) {
    split_words = true;
    for (size_t i = 0; i < n; ++i) {
      const int32_t type = types[i];
      const std::string& t = v.tokens[i];
      if (t.empty()) continue;
      if (type == kTokenNormal || type == kTokenUserDefined || type == kTokenUnused) {
        piece_to_id.emplace(t, static_cast<int32_t>(i));
        for (size_t p = t.find(kSpmSpace, 1); p != std::string::npos;
             p = t.find(kSpmSpace, p + 1)) {
          if (p < kSpmSpace.size() ||
              t.compare(p - kSpmSpace.size(), kSpmSpace.size(), kSpmSpace) != 0) {
            split_words = false;
          }
        }
      }
    }
  } else {
    for (int b = 0; b < 256; ++b) {
      auto it = token_to_id.find(unicode::byte_to_unicode(static_cast<uint8_t>(b)));
      if (it != token_to_id.end()) byte_token[b] = it->second;
    }
  }

  // Merges: "a b", where a and b are tokens and so is a+b.
  use_ranks = spm && !v.merges.empty();
  merges.reserve(v.merges.size());
  for (size_t r = 0; r < v.merges.size(); ++r) {
    const std::string& m = v.merges[r];
    bool found = false;
    for (size_t sp = m.find(' '); sp != std::string::npos; sp = m.find(' ', sp + 1)) {
      const std::string_view ms = m;
      auto a = token_to_id.find(ms.substr(0, sp));
      auto b = token_to_id.find(ms.substr(sp + 1));
      if (a == token_to_id.end() || b == token_to_id.end()) continue;
      auto ab = token_to_id.find(m.substr(0, sp) + m.substr(sp + 1));
      if (ab == token_to_id.end()) continue;
      merges.emplace(pair_key(a->second, b->second),
                     MergeTarget{static_cast<int32_t>(r), ab->second});  // first rank wins
      found = true;
      break;
    }
    if (!found) {
      return invalid_argument("merge #" + std::to_string(r) + " '" + m +
                              "' does not join two tokens into a token of the vocabulary");
    }
  }
  if (!spm && merges.empty() && n > 256) {
    return invalid_argument("a gpt2 (byte-level BPE) vocabulary needs merges");
  }

  // Added tokens.
  for (size_t i = 0; i < n; ++i) {
    const std::string& t = v.tokens[i];
    const int32_t type = types[i];
    if (t.empty()) continue;
    const auto first = static_cast<uint8_t>(t[0]);
    const Added a{t, static_cast<int32_t>(i), type != kTokenUserDefined};
    if (type == kTokenControl || type == kTokenUnknown) {
      added_by_byte[first].push_back(a);
    } else if (type == kTokenUserDefined) {
      (spm ? user_by_byte : added_by_byte)[first].push_back(a);
    }
  }
  for (auto* table : {&added_by_byte, &user_by_byte}) {
    for (auto& bucket : *table) {
      std::stable_sort(bucket.begin(), bucket.end(), [](const Added& a, const Added& b) {
        return a.text.size() > b.text.size();
      });
    }
  }

  if (!spm) {
    std::string pattern = v.pre_regex;
    if (pattern.empty()) {
      if (v.pre.empty() || v.pre == "gpt2" || v.pre == "default")
        pattern = kGpt2Pattern;
      else if (v.pre == "llama-bpe" || v.pre == "llama3")
        pattern = kLlama3Pattern;
      else if (v.pre == "qwen2")
        pattern = kQwen2Pattern;
      else {
        return unimplemented(
            "pre-tokenizer '" + v.pre +
            "' is not supported (supported: gpt2, llama-bpe, qwen2, or pre_regex)");
      }
    }
    int err = 0;
    PCRE2_SIZE err_off = 0;
    re.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                           PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_off,
                           nullptr));
    if (!re) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return invalid_argument("pre-tokenizer regex does not compile at offset " +
                              std::to_string(err_off) + ": " + reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(re.get(), PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
  }
  return ok_status();
}

void Tokenizer::Impl::split_added(std::string_view text, bool parse_special,
                                  std::vector<Fragment>* out) const {
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    const Added* hit = nullptr;
    for (const Added& a : added_by_byte[static_cast<uint8_t>(text[i])]) {
      if (a.special && !parse_special) continue;
      if (text.substr(i, a.text.size()) == a.text) {
        hit = &a;
        break;
      }
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    if (i > start) out->push_back({text.substr(start, i - start), -1});
    out->push_back({hit->text, hit->id});
    i += hit->text.size();
    start = i;
  }
  if (start < text.size()) out->push_back({text.substr(start), -1});
}

// SentencePiece BPE over normalized text (spaces already U+2581), as
// sentencepiece's bpe_model.cc: repeatedly merge the adjacent pair that makes the
// best piece (highest score; or lowest merge rank for tokenizer.json), leftmost
// on ties; user-defined pieces are atomic; pieces of type unused are split back.
void Tokenizer::Impl::encode_spm(std::string_view text, std::vector<int32_t>* out) const {
  struct Symbol {
    int prev, next;
    size_t off, len;  // len == 0: merged away
    int32_t id;       // piece id of text[off, off+len), or -1
    bool frozen;
  };
  struct Bigram {
    float score;
    int left, right;
    size_t len;
    int32_t merged;
  };
  auto worse = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::vector<Symbol> sym;
  for (size_t i = 0; i < text.size();) {
    size_t len = 0;
    bool frozen = false;
    for (const Added& a : user_by_byte[static_cast<uint8_t>(text[i])]) {
      if (text.substr(i, a.text.size()) == a.text) {
        len = a.text.size();
        frozen = true;
        break;
      }
    }
    if (len == 0) {
      uint32_t cp;
      len = unicode::decode_utf8(text, i, &cp);
    }
    auto it = piece_to_id.find(text.substr(i, len));
    const int idx = static_cast<int>(sym.size());
    sym.push_back({idx - 1, idx + 1, i, len, it == piece_to_id.end() ? -1 : it->second, frozen});
    i += len;
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0 || sym[left].frozen || sym[right].frozen) return;
    if (use_ranks) {
      if (sym[left].id < 0 || sym[right].id < 0) return;
      auto it = merges.find(pair_key(sym[left].id, sym[right].id));
      if (it == merges.end()) return;
      queue.push({-static_cast<float>(it->second.rank), left, right, sym[left].len + sym[right].len,
                  it->second.merged});
    } else {
      auto it = piece_to_id.find(text.substr(sym[left].off, sym[left].len + sym[right].len));
      if (it == piece_to_id.end()) return;
      const float score = v.scores.empty() ? 0.0f : v.scores[static_cast<size_t>(it->second)];
      queue.push({score, left, right, sym[left].len + sym[right].len, it->second});
    }
  };
  for (size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));

  // Merged pieces of type unused are split back into what made them (resegment).
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> rev;
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.len == 0 || r.len == 0 || l.next != b.right || l.len + r.len != b.len) continue;
    if (types[b.merged] == kTokenUnused) {
      rev.emplace(text.substr(l.off, b.len),
                  std::pair{text.substr(l.off, l.len), text.substr(r.off, r.len)});
    }
    l.len += r.len;
    l.id = b.merged;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (int i = 0; i >= 0; i = sym[i].next) {
    emit_spm_symbol(text.substr(sym[i].off, sym[i].len), rev, out);
  }
}

void Tokenizer::Impl::emit_spm_symbol(
    std::string_view piece,
    const std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>>& rev,
    std::vector<int32_t>* out) const {
  auto it = piece_to_id.find(piece);
  if (it != piece_to_id.end()) {
    if (types[it->second] == kTokenUnused) {
      auto r = rev.find(piece);
      if (r != rev.end()) {
        emit_spm_symbol(r->second.first, rev, out);
        emit_spm_symbol(r->second.second, rev, out);
        return;
      }
    }
    out->push_back(it->second);
    return;
  }
  // Byte fallback: every byte must have its <0xXX> token, else one unknown token.
  bool all = true;
  for (char c : piece) all = all && byte_token[static_cast<uint8_t>(c)] >= 0;
  if (all) {
    for (char c : piece) out->push_back(byte_token[static_cast<uint8_t>(c)]);
  } else if (v.unk_id >= 0) {
    out->push_back(v.unk_id);
  }
}

void Tokenizer::Impl::encode_gpt2(std::string_view text, std::vector<int32_t>* out) const {
  std::string normalized;
  if (v.normalize_nfc) {
    normalized = unicode::nfc(text);
    text = normalized;
  }
  if (add_space_prefix && (text.empty() || text[0] != ' ')) {
    normalized = " " + std::string(text);
    text = normalized;
  }
  std::unique_ptr<pcre2_match_data, PcreMatchDataDeleter> md(
      pcre2_match_data_create_from_pattern(re.get(), nullptr));
  std::string mapped;
  auto piece = [&](std::string_view p) {
    if (ignore_merges) {
      mapped.clear();
      for (char c : p) mapped.append(unicode::byte_to_unicode(static_cast<uint8_t>(c)));
      auto it = token_to_id.find(mapped);
      if (it != token_to_id.end()) {
        out->push_back(it->second);
        return;
      }
    }
    bpe_piece(p, out);
  };
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t off = 0;
  while (off < text.size()) {
    int rc = pcre2_match(re.get(), subject, text.size(), off, 0, md.get(), nullptr);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
      // JIT stack exhausted (very long runs): retry with the interpreter.
      rc = pcre2_match(re.get(), subject, text.size(), off, PCRE2_NO_JIT, md.get(), nullptr);
    }
    if (rc < 0) break;  // no further match (or a matching limit hit): the rest is one piece
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    size_t s = ov[0], e = ov[1];
    if (e <= s) {  // an empty match: not produced by the patterns we use; step over a char
      uint32_t cp;
      e = s + unicode::decode_utf8(text, s, &cp);
    }
    if (s > off) piece(text.substr(off, s - off));  // a gap (e.g. invalid UTF-8)
    piece(text.substr(s, e - s));
    off = e;
  }
  if (off < text.size()) piece(text.substr(off));
}

// Byte-level BPE on one pre-token: start from one symbol per byte (its
// byte-level character's token) and apply merges by rank, leftmost on ties.
void Tokenizer::Impl::bpe_piece(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.empty()) return;
  struct Symbol {
    int prev, next;
    int32_t id;
  };
  struct Bigram {
    int32_t rank;
    int left, right;
    int32_t left_id, right_id, merged;
  };
  auto worse = [](const Bigram& a, const Bigram& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  std::vector<Symbol> sym(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) {
    const int idx = static_cast<int>(i);
    sym[i] = {idx - 1, idx + 1, byte_token[static_cast<uint8_t>(piece[i])]};
  }
  sym.back().next = -1;
  if (sym.size() == 1) {
    if (sym[0].id >= 0)
      out->push_back(sym[0].id);
    else if (v.unk_id >= 0)
      out->push_back(v.unk_id);
    return;
  }
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0 || sym[left].id < 0 || sym[right].id < 0) return;
    auto it = merges.find(pair_key(sym[left].id, sym[right].id));
    if (it == merges.end()) return;
    queue.push({it->second.rank, left, right, sym[left].id, sym[right].id, it->second.merged});
  };
  for (size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    // Stale entries: either side merged since (ids changed or no longer adjacent).
    if (l.id != b.left_id || r.id != b.right_id || l.next != b.right) continue;
    l.id = b.merged;
    r.id = -2;  // merged away
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (int i = 0; i >= 0; i = sym[i].next) {
    if (sym[i].id >= 0)
      out->push_back(sym[i].id);
    else if (v.unk_id >= 0)
      out->push_back(v.unk_id);
  }
}

bool Tokenizer::Impl::append_decoded(int32_t id, bool skip_special, bool at_start,
                                     std::string* out) const {
  if (id < 0 || static_cast<size_t>(id) >= bytes.size()) return false;
  const int32_t type = types[id];
  if (skip_special && (type == kTokenControl || type == kTokenUnknown)) return false;
  std::string_view b = bytes[id];
  // SentencePiece drops the space its dummy prefix put in front of the text.
  if (spm && add_space_prefix && at_start && !b.empty() && b[0] == ' ' && type != kTokenByte) {
    b.remove_prefix(1);
  }
  out->append(b);
  return true;
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_vocab(VocabData v) {
  try {
    auto impl = std::make_unique<Impl>();
    impl->v = std::move(v);
    TANDEM_RETURN_IF_ERROR(impl->init());
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
  } catch (const std::exception& e) {
    return internal_error(std::string("building the tokenizer failed: ") + e.what());
  }
}

namespace {

Result<std::unique_ptr<Tokenizer>> load_sentencepiece(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string data, read_file(path));
  TANDEM_ASSIGN_OR_RETURN(VocabData v, parse_sentencepiece_model(data, path));
  auto tok = Tokenizer::from_vocab(std::move(v));
  if (!tok.ok()) return tok.status().with_context(path);
  return tok;
}

Result<std::unique_ptr<Tokenizer>> load_hf_json(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string json, read_file(path));
  std::optional<std::string> config;
  const size_t slash = path.find_last_of('/');
  const std::string config_path =
      (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) +
      "tokenizer_config.json";
  if (file_exists(config_path)) {
    TANDEM_ASSIGN_OR_RETURN(config, read_file(config_path));
  }
  TANDEM_ASSIGN_OR_RETURN(VocabData v, parse_hf_tokenizer_json(json, config, path));
  auto tok = Tokenizer::from_vocab(std::move(v));
  if (!tok.ok()) return tok.status().with_context(path);
  return tok;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_sentencepiece_file(const std::string& path) {
  try {
    return load_sentencepiece(path);
  } catch (const std::exception& e) {
    return internal_error(path + ": loading the SentencePiece model failed: " + e.what());
  }
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_hf_json(const std::string& path) {
  try {
    return load_hf_json(path);
  } catch (const std::exception& e) {
    return internal_error(path + ": loading tokenizer.json failed: " + e.what());
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, EncodeOptions opt) const {
  try {
    const Impl& m = *impl_;
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 2);
    std::vector<Fragment> frags;
    m.split_added(text, opt.parse_special, &frags);
    // No second BOS when the text already starts with it (a chat template's output).
    if (opt.add_bos && m.v.add_bos && m.v.bos_id >= 0 &&
        (frags.empty() || frags[0].token != m.v.bos_id)) {
      out.push_back(m.v.bos_id);
    }
    std::string buf;
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        out.push_back(f.token);
        continue;
      }
      if (!m.spm) {
        m.encode_gpt2(f.text, &out);
        continue;
      }
      // SentencePiece normalization. Every text fragment starts a "sentence":
      // the dummy prefix goes at the start and after each special token, as
      // llama.cpp and Hugging Face's Prepend normalizer do.
      std::string_view t = f.text;
      if (m.v.remove_extra_whitespaces) {
        std::string collapsed;
        for (char c : t) {
          if (c == ' ' && (collapsed.empty() || collapsed.back() == ' ')) continue;
          collapsed.push_back(c);
        }
        while (!collapsed.empty() && collapsed.back() == ' ') collapsed.pop_back();
        buf = std::move(collapsed);
        t = buf;
        if (t.empty()) continue;
      }
      std::string norm;
      norm.reserve(t.size() + 16);
      if (m.add_space_prefix) norm.append(kSpmSpace);
      norm.append(replace_all(t, " ", kSpmSpace));
      if (!m.split_words) {
        m.encode_spm(norm, &out);
        continue;
      }
      // Words start at a U+2581 that follows another character.
      const std::string_view nv = norm;
      size_t start = 0;
      for (size_t p = nv.find(kSpmSpace, 1); p != std::string_view::npos;
           p = nv.find(kSpmSpace, p + 1)) {
        if (p >= kSpmSpace.size() &&
            nv.substr(p - kSpmSpace.size(), kSpmSpace.size()) == kSpmSpace) {
          continue;
        }
        m.encode_spm(nv.substr(start, p - start), &out);
        start = p;
      }
      m.encode_spm(nv.substr(start), &out);
    }
    return out;
  } catch (const std::exception& e) {
    die("Tokenizer::encode", &e);
  }
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  try {
    std::string out;
    bool at_start = true;
    for (int32_t id : ids) {
      if (impl_->append_decoded(id, skip_special, at_start, &out)) at_start = false;
    }
    return out;
  } catch (const std::exception& e) {
    die("Tokenizer::decode", &e);
  }
}

std::string Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->bytes.size()) return {};
  return impl_->bytes[id];
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->v.tokens.size()); }
int32_t Tokenizer::bos_id() const { return impl_->v.bos_id; }
int32_t Tokenizer::eos_id() const { return impl_->v.eos_id; }

std::optional<int32_t> Tokenizer::token_id(std::string_view piece) const {
  auto it = impl_->token_to_id.find(piece);
  if (it == impl_->token_to_id.end()) return std::nullopt;
  return it->second;
}

bool Tokenizer::is_special(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return false;
  const int32_t t = impl_->types[id];
  return t == kTokenControl || t == kTokenUnknown;
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return false;
  if (id == impl_->v.eos_id) return true;
  if (impl_->types[id] != kTokenControl) return false;
  static const std::unordered_set<std::string_view> kEnd = {
      "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end_of_text|>", "<|endoftext|>", "</s>"};
  return kEnd.count(impl_->v.tokens[id]) > 0;
}

const VocabData& Tokenizer::vocab() const { return impl_->v; }

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, Options options)
    : tokenizer_(tokenizer), options_(options), at_start_(!options.continuation) {}

std::string StreamDecoder::push(int32_t id) {
  try {
    if (!tokenizer_.impl_->append_decoded(id, options_.skip_special, at_start_, &pending_)) {
      return {};
    }
    at_start_ = false;
    std::string out;
    const size_t used = unicode::sanitize_utf8(pending_, /*final=*/false, &out);
    pending_.erase(0, used);
    return out;
  } catch (const std::exception& e) {
    die("StreamDecoder::push", &e);
  }
}

std::string StreamDecoder::flush() {
  std::string out;
  unicode::sanitize_utf8(pending_, /*final=*/true, &out);
  pending_.clear();
  at_start_ = !options_.continuation;
  return out;
}

}  // namespace tandem
