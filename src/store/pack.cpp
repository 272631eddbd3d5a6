#include "store/pack.h"

#include <cstring>

#include "store/le_bytes.h"

namespace tandem::store {

namespace {

constexpr char kPackMagic[4] = {'T', 'P', 'K', '1'};

}  // namespace

std::string serialize_pack_index(const std::vector<PackEntry>& entries, uint64_t index_offset) {
  std::string out(entries.size() * kPackIndexEntryBytes + kPackFooterBytes, '\0');
  uint8_t* p = reinterpret_cast<uint8_t*>(out.data());
  for (const auto& e : entries) {
    std::memcpy(p, e.hash.bytes.data(), 32);
    put_u64(p + 32, e.offset);
    put_u64(p + 40, e.bytes);
    put_u64(p + 48, e.raw_bytes);
    std::memcpy(p + 56, e.base.bytes.data(), 32);
    p += kPackIndexEntryBytes;
  }
  const Hash256 h = sha256(out.data(), entries.size() * kPackIndexEntryBytes);
  std::memcpy(p, kPackMagic, 4);
  put_u64(p + 8, index_offset);
  put_u64(p + 16, entries.size());
  std::memcpy(p + 24, h.bytes.data(), 32);
  return out;
}

Status parse_pack_footer(std::string_view footer, uint64_t file_bytes, uint64_t* index_offset, uint64_t* count,
                         Hash256* index_hash) {
  if (footer.size() != kPackFooterBytes || file_bytes < kPackFooterBytes)
    return data_loss("pack: shorter than its footer (torn?)");
  const uint8_t* p = reinterpret_cast<const uint8_t*>(footer.data());
  if (std::memcmp(p, kPackMagic, 4) != 0 || p[4] || p[5] || p[6] || p[7]) return data_loss("pack: bad footer");
  *index_offset = get_u64(p + 8);
  *count = get_u64(p + 16);
  std::memcpy(index_hash->bytes.data(), p + 24, 32);
  const uint64_t rest = file_bytes - kPackFooterBytes;
  if (*index_offset > rest || *count > (rest - *index_offset) / kPackIndexEntryBytes ||
      *index_offset + *count * kPackIndexEntryBytes != rest)
    return data_loss("pack: footer does not match the file length");
  return ok_status();
}

Result<std::vector<PackEntry>> parse_pack_index(std::string_view index, uint64_t count, uint64_t index_offset,
                                                const Hash256& index_hash) {
  if (index.size() != count * kPackIndexEntryBytes) return data_loss("pack: index length differs from the footer");
  if (sha256(index.data(), index.size()) != index_hash) return data_loss("pack: index is corrupt (hash mismatch)");
  std::vector<PackEntry> out(count);
  const uint8_t* p = reinterpret_cast<const uint8_t*>(index.data());
  uint64_t expect = 0;
  for (auto& e : out) {
    std::memcpy(e.hash.bytes.data(), p, 32);
    e.offset = get_u64(p + 32);
    e.bytes = get_u64(p + 40);
    e.raw_bytes = get_u64(p + 48);
    std::memcpy(e.base.bytes.data(), p + 56, 32);
    p += kPackIndexEntryBytes;
    // Records are back to back from offset 0 (checked so a reader never
    // trusts a range outside the record area).
    if (e.offset != expect || e.bytes > index_offset - e.offset) return data_loss("pack: index entry out of range");
    expect = e.offset + e.bytes;
  }
  if (expect != index_offset) return data_loss("pack: records do not fill the record area");
  return out;
}

}  // namespace tandem::store
