#include "store/store.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <thread>
#include <unordered_set>

#include "store/chunk_codec.h"

namespace tandem::store {

namespace {

// Format 3 names chunks by BLAKE3, format 2 by SHA-256; everything else
// (records, packs, manifests and their SHA-256 checksums) is the same.
constexpr std::string_view kMarkerV3 = "tandem-store 3 blake3\n";
constexpr std::string_view kMarkerV2 = "tandem-store 2\n";
constexpr int kMaxChain = 8;

std::string step_file_name(int64_t step) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%020" PRId64 ".mf", step);
  return buf;
}

// "00000000000000000042.mf" -> 42; nullopt for anything else.
std::optional<int64_t> parse_step_file_name(const std::string& name) {
  if (name.size() != 23 || name.compare(20, 3, ".mf") != 0) return std::nullopt;
  int64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

// Removing a file another process may remove first.
Status remove_if_present(Env* env, const std::string& path) {
  Status st = env->remove_file(path);
  return st.code() == StatusCode::kNotFound ? ok_status() : st;
}

std::string random_id() {
  std::random_device rd;
  uint64_t x = (uint64_t{rd()} << 32) ^ rd();
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, x);
  return buf;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void lower_this_thread_priority(int nice_increment) {
  if (nice_increment <= 0) return;
  const id_t tid = static_cast<id_t>(::gettid());
  errno = 0;
  const int cur = ::getpriority(PRIO_PROCESS, tid);
  if (errno == 0) (void)::setpriority(PRIO_PROCESS, tid, std::min(19, cur + nice_increment));
}

struct Store::History {
  uint64_t bytes = 0;
  uint64_t chunk_bytes = 0;
  int since_key = 0;
  std::vector<ChunkRef> key_chunks;
  std::vector<uint8_t> key_raw;
};

struct Store::Task {
  size_t item = 0;
  size_t chunk_index = 0;
  uint64_t offset = 0;
  uint64_t len = 0;
  Hash256 hash;
  const ChunkRef* base = nullptr;
  const uint8_t* base_raw = nullptr;
  bool primary = true;   // first task with this hash in the save; it writes the chunk
  size_t primary_index = 0;
  bool is_new = false;   // not in the store: write_chunk appends it to the pack
  bool use_base = false;
  ChunkRef ref;
};

// The pack a save appends its new chunks to (tmp/<id>.pack-<n>), created at
// the first new chunk. Appends come from the hash/encode workers, in
// completion order, under mu.
struct Store::PackWriter {
  std::mutex mu;
  std::unique_ptr<WritableFile> file;
  std::string tmp_path;
  std::string name;
  uint64_t offset = 0;
  std::vector<PackEntry> entries;
};

Store::Store(std::string dir, const StoreOptions& opts, Env* env, HashKind chunk_hash)
    : dir_(std::move(dir)), opts_(opts), env_(env), chunk_hash_(chunk_hash) {
  const int n = std::max(1, opts.threads);
  if (opts.worker_nice <= 0 || n == 1) {
    pool_ = std::make_unique<ThreadPool>(n);
  } else {
    // Threads inherit their creator's priority: create the pool's workers
    // from a thread that lowered its own.
    std::thread([&] {
      lower_this_thread_priority(opts.worker_nice);
      pool_ = std::make_unique<ThreadPool>(n);
    }).join();
  }
}

Result<std::unique_ptr<Store>> Store::open(const std::string& dir, const StoreOptions& opts, Env* env,
                                           bool create) {
  if (dir.empty()) return invalid_argument("store directory is empty");
  if (opts.chunk_bytes < 4096 || opts.chunk_bytes > (uint64_t{1} << 30))
    return invalid_argument("chunk_bytes must be between 4 KiB and 1 GiB");
  if (opts.keyframe_interval < 1) return invalid_argument("keyframe_interval must be >= 1");
  const std::string marker = path_join(dir, "STORE");
  HashKind chunk_hash = HashKind::kBlake3;
  if (!env->file_exists(marker)) {
    if (!create) return not_found("'" + dir + "' is not a tandem store (no STORE file)");
    if (env->file_exists(dir)) {
      auto names = env->list_dir(dir);
      if (!names.ok()) return invalid_argument("'" + dir + "' exists and is not a directory");
      if (!names->empty())
        return invalid_argument("'" + dir + "' is a non-empty directory that is not a tandem store");
    }
    for (const char* sub : {"", "packs", "manifests", "inflight", "tmp"})
      TANDEM_RETURN_IF_ERROR(env->create_dir(path_join(dir, sub)));
    chunk_hash = opts.new_store_hash;
    TANDEM_RETURN_IF_ERROR(write_file_atomic(
        env, marker, std::string(chunk_hash == HashKind::kBlake3 ? kMarkerV3 : kMarkerV2)));
    TANDEM_RETURN_IF_ERROR(env->sync_dir(path_dirname(dir)));
  } else {
    TANDEM_ASSIGN_OR_RETURN(std::string m, env->read_file(marker));
    if (m == "tandem-store 1\n")
      return unimplemented("'" + dir + "' is a format-1 store (one file per chunk); this build reads formats 2 "
                                 "and 3 (pack files): restore its steps with the older build and save them again");
    if (m == kMarkerV3) {
      chunk_hash = HashKind::kBlake3;
    } else if (m == kMarkerV2) {
      chunk_hash = HashKind::kSha256;
    } else {
      return data_loss("'" + marker + "' is not a tandem-store 2 or 3 marker");
    }
  }
  return std::unique_ptr<Store>(new Store(dir, opts, env, chunk_hash));
}

Store::~Store() {
  if (writer_lock_) {
    (void)env_->remove_file(path_join(dir_, "inflight/" + writer_id_ + ".refs"));
    (void)env_->remove_file(path_join(dir_, "inflight/" + writer_id_ + ".lock"));
    writer_lock_.reset();
  }
}

std::string Store::pack_path(const std::string& name) const { return path_join(dir_, "packs/" + name); }
std::string Store::manifest_path(int64_t step) const {
  return path_join(dir_, "manifests/" + step_file_name(step));
}

Status Store::ensure_writer() {
  std::lock_guard<std::mutex> guard(writer_mu_);
  if (writer_lock_) return ok_status();
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::string id = random_id();
    TANDEM_ASSIGN_OR_RETURN(auto lock,
                            env_->lock_file(path_join(dir_, "inflight/" + id + ".lock"), true, false));
    if (!lock) continue;
    writer_id_ = id;
    writer_lock_ = std::move(lock);
    return ok_status();
  }
  return internal_error("could not take a writer id in " + dir_);
}

std::string Store::next_pack_name() {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%08" PRIu64, pack_seq_.fetch_add(1));
  return writer_id_ + "-" + buf + ".pack";
}

Result<std::unique_ptr<WritableFile>> Store::new_pack_file(const std::string& path) {
  return opts_.direct_io ? env_->new_direct_writable_file(path) : env_->new_writable_file(path);
}

Status Store::append_refs(const std::vector<Hash256>& refs, RefsWriter& w) {
  std::string text;
  text.reserve((refs.size() - w.written) * 65);
  for (size_t i = w.written; i < refs.size(); ++i) text += refs[i].hex() + "\n";
  // Shared: excludes only gc's final phase (see gc()).
  TANDEM_ASSIGN_OR_RETURN(auto lock, env_->lock_file(path_join(dir_, "LOCK"), false, true));
  if (!w.file) {
    // A new file rather than truncating the last save's: ext4 flushes a file
    // truncated and rewritten at close (auto_da_alloc), which would wait
    // behind this save's pack in the disk queue.
    const std::string path = path_join(dir_, "inflight/" + writer_id_ + ".refs");
    TANDEM_RETURN_IF_ERROR(remove_if_present(env_, path));
    TANDEM_ASSIGN_OR_RETURN(w.file, env_->new_writable_file(path));
  }
  // Appended whole lines; gc reads only complete 64-digit lines.
  TANDEM_RETURN_IF_ERROR(w.file->append(text.data(), text.size()));
  w.written = refs.size();
  return ok_status();
}

namespace {

// Loads a named pack's index; NOT_FOUND if it was removed meanwhile.
Result<std::vector<PackEntry>> load_pack_index(Env* env, const std::string& path, uint64_t* file_bytes) {
  TANDEM_ASSIGN_OR_RETURN(*file_bytes, env->file_size(path));
  if (*file_bytes < kPackFooterBytes) return data_loss("pack: shorter than its footer (torn?)");
  TANDEM_ASSIGN_OR_RETURN(std::string footer, env->read_range(path, *file_bytes - kPackFooterBytes, kPackFooterBytes));
  uint64_t index_offset = 0, count = 0;
  Hash256 index_hash;
  TANDEM_RETURN_IF_ERROR(parse_pack_footer(footer, *file_bytes, &index_offset, &count, &index_hash));
  TANDEM_ASSIGN_OR_RETURN(std::string index,
                          env->read_range(path, index_offset, static_cast<size_t>(count * kPackIndexEntryBytes)));
  return parse_pack_index(index, count, index_offset, index_hash);
}

}  // namespace

void Store::add_pack(std::shared_ptr<const PackInfo> p) {
  // Caller holds index_mu_.
  for (size_t i = 0; i < p->entries.size(); ++i) index_[p->entries[i].hash].push_back(ChunkLoc{p, i});
  packs_[p->name] = std::move(p);
}

Status Store::refresh_index() {
  TANDEM_ASSIGN_OR_RETURN(auto names, env_->list_dir(path_join(dir_, "packs")));
  std::set<std::string> now;
  for (const auto& n : names)
    if (n.size() > 5 && n.compare(n.size() - 5, 5, ".pack") == 0) now.insert(n);
  std::lock_guard<std::mutex> lock(index_mu_);
  bool removed = false;
  for (auto it = packs_.begin(); it != packs_.end();) {
    if (now.count(it->first)) {
      ++it;
    } else {
      it = packs_.erase(it);
      removed = true;
    }
  }
  for (auto it = bad_packs_.begin(); it != bad_packs_.end();) it = now.count(it->first) ? std::next(it) : bad_packs_.erase(it);
  if (removed) {
    for (auto it = index_.begin(); it != index_.end();) {
      auto& locs = it->second;
      locs.erase(std::remove_if(locs.begin(), locs.end(), [&](const ChunkLoc& l) { return !packs_.count(l.pack->name); }),
                 locs.end());
      it = locs.empty() ? index_.erase(it) : std::next(it);
    }
  }
  for (const auto& n : now) {
    if (packs_.count(n) || bad_packs_.count(n)) continue;
    auto p = std::make_shared<PackInfo>();
    p->name = n;
    auto entries = load_pack_index(env_, pack_path(n), &p->file_bytes);
    if (!entries.ok()) {
      if (entries.status().code() == StatusCode::kNotFound) continue;  // removed by gc meanwhile
      if (entries.status().code() != StatusCode::kDataLoss) return entries.status().with_context("pack " + n);
      bad_packs_[n] = entries.status().to_string();
      continue;
    }
    p->entries = std::move(entries.value());
    add_pack(std::move(p));
  }
  return ok_status();
}

std::vector<Store::ChunkLoc> Store::locate(const Hash256& h) {
  std::lock_guard<std::mutex> lock(index_mu_);
  auto it = index_.find(h);
  if (it == index_.end()) return {};
  return it->second;
}

Result<std::vector<Hash256>> Store::chunk_deps(const Hash256& h) {
  std::vector<Hash256> deps;
  Hash256 cur = h;
  for (int depth = 0; depth <= kMaxChain; ++depth) {
    auto locs = locate(cur);
    if (locs.empty()) return data_loss("chunk " + cur.hex() + " is missing");
    // Prefer a full copy; any copy's chain is complete when it is stored.
    const PackEntry* best = &locs[0].pack->entries[locs[0].entry];
    for (const auto& l : locs)
      if (l.pack->entries[l.entry].base.is_zero()) best = &l.pack->entries[l.entry];
    if (best->base.is_zero()) return deps;
    deps.push_back(best->base);
    cur = best->base;
  }
  return data_loss("chunk " + h.hex() + ": delta chain longer than " + std::to_string(kMaxChain));
}

Status Store::write_small_file(const std::string& tmp_name, const std::string& final_path, const std::string& data,
                               bool no_replace, bool* existed) {
  const std::string tmp = path_join(dir_, "tmp/" + tmp_name);
  {
    std::lock_guard<std::mutex> lock(tmp_mu_);
    my_tmp_.push_back(tmp);
  }
  {
    TANDEM_ASSIGN_OR_RETURN(auto f, env_->new_writable_file(tmp));
    TANDEM_RETURN_IF_ERROR(f->append(data.data(), data.size()));
    TANDEM_RETURN_IF_ERROR(f->sync());
    TANDEM_RETURN_IF_ERROR(f->close());
  }
  if (no_replace) {
    TANDEM_ASSIGN_OR_RETURN(bool renamed, env_->rename_no_replace(tmp, final_path));
    if (existed) *existed = !renamed;
    if (!renamed) TANDEM_RETURN_IF_ERROR(env_->remove_file(tmp));
    return ok_status();
  }
  return env_->rename(tmp, final_path);
}

Status Store::write_chunk(Task& t, const SaveItem& item, PackWriter& pw) {
  EncodeOptions eo;
  eo.zstd_level = opts_.zstd_level;
  eo.elem_size = (item.kind == EntryKind::kTensor && opts_.shuffle) ? item.elem_size : 1;
  // The payload lives in this thread's scratch (or in item.data) until the
  // thread's next encode, so it is appended before this returns.
  const EncodedChunk enc = encode_chunk_into(item.data + t.offset, t.len, eo, t.use_base ? t.base_raw : nullptr,
                                             t.use_base ? &t.base->hash : nullptr);
  std::lock_guard<std::mutex> lock(pw.mu);
  if (!pw.file) {
    pw.name = next_pack_name();
    pw.tmp_path = path_join(dir_, "tmp/" + writer_id_ + "." + pw.name);
    {
      std::lock_guard<std::mutex> tl(tmp_mu_);
      my_tmp_.push_back(pw.tmp_path);
    }
    TANDEM_ASSIGN_OR_RETURN(pw.file, new_pack_file(pw.tmp_path));
  }
  TANDEM_RETURN_IF_ERROR(pw.file->append(enc.header.data(), enc.header.size()));
  if (enc.payload_bytes > 0) TANDEM_RETURN_IF_ERROR(pw.file->append(enc.payload, enc.payload_bytes));
  PackEntry e;
  e.hash = t.hash;
  e.offset = pw.offset;
  e.bytes = kChunkHeaderBytes + enc.payload_bytes;
  e.raw_bytes = t.len;
  if (t.use_base) e.base = t.base->hash;
  pw.entries.push_back(e);
  pw.offset += e.bytes;
  return ok_status();
}

Status Store::move_latest(int64_t step) {
  // LATEST names the highest committed step; it never moves back, so a slow
  // writer of an older step cannot point it at a manifest retention removed.
  TANDEM_ASSIGN_OR_RETURN(auto lock, env_->lock_file(path_join(dir_, "LATEST.lock"), true, true));
  const std::string path = path_join(dir_, "LATEST");
  if (env_->file_exists(path)) {
    auto text = env_->read_file(path);
    if (text.ok()) {
      char* end = nullptr;
      long long cur = std::strtoll(text->c_str(), &end, 10);
      if (!text->empty() && end != nullptr && *end == '\n' && cur > step) return ok_status();
    }
  }
  TANDEM_RETURN_IF_ERROR(write_small_file(writer_id_ + ".latest", path, std::to_string(step) + "\n", false, nullptr));
  return env_->sync_dir(dir_);
}

void Store::cleanup_tmp() {
  std::lock_guard<std::mutex> lock(tmp_mu_);
  for (const auto& p : my_tmp_)
    if (env_->file_exists(p)) (void)env_->remove_file(p);
  my_tmp_.clear();
}

Result<SaveStats> Store::save(const SaveRequest& req) {
  const auto t0 = std::chrono::steady_clock::now();
  if (req.step < 0) return invalid_argument("step must be >= 0");
  {
    std::set<std::string> names;
    for (const auto& it : req.items) {
      if (it.name.empty()) return invalid_argument("an item has an empty name");
      if (!names.insert(it.name).second) return invalid_argument("item name '" + it.name + "' appears twice");
      if (it.bytes > 0 && it.data == nullptr) return invalid_argument("item '" + it.name + "' has no data");
      if (it.kind == EntryKind::kTensor && it.elem_size <= 0)
        return invalid_argument("tensor '" + it.name + "' has element size <= 0");
    }
  }
  TANDEM_RETURN_IF_ERROR(ensure_writer());
  {
    std::lock_guard<std::mutex> lock(tmp_mu_);
    my_tmp_.clear();
  }
  auto fail = [&](const Status& s, const char* what) {
    cleanup_tmp();
    return s.with_context(std::string(what) + " step " + std::to_string(req.step));
  };

  // 1. Cut into chunks.
  std::vector<Task> tasks;
  std::vector<size_t> first_task(req.items.size());
  for (size_t i = 0; i < req.items.size(); ++i) {
    first_task[i] = tasks.size();
    const auto& it = req.items[i];
    for (uint64_t off = 0, k = 0; off < it.bytes; off += opts_.chunk_bytes, ++k) {
      Task t;
      t.item = i;
      t.chunk_index = k;
      t.offset = off;
      t.len = std::min<uint64_t>(opts_.chunk_bytes, it.bytes - off);
      tasks.push_back(t);
    }
  }

  // 2. Which tensors are stored as XOR deltas against their keyframe.
  std::vector<bool> delta_item(req.items.size(), false);
  std::vector<const History*> item_history(req.items.size(), nullptr);
  for (size_t i = 0; i < req.items.size(); ++i) {
    const auto& it = req.items[i];
    if (!opts_.delta || it.kind != EntryKind::kTensor) continue;
    auto h = history_.find(it.name);
    if (h == history_.end()) continue;
    const History& hist = *h->second;
    if (hist.bytes != it.bytes || hist.chunk_bytes != opts_.chunk_bytes ||
        hist.since_key + 1 >= opts_.keyframe_interval)
      continue;
    delta_item[i] = true;
    item_history[i] = &hist;
  }

  // 3-4. In batches of up to 64 MiB: hash the batch, pick delta bases,
  // register every hash the save may reference so far (a concurrent gc keeps
  // them; registration always precedes the existence checks), re-list packs;
  // then, while the next batch is hashed, encode the chunks the store does
  // not have and append them to this save's pack.
  SaveStats stats;
  stats.step = req.step;
  std::mutex err_mu;
  Status first_error;
  std::atomic<bool> failed{false};
  std::unordered_map<Hash256, size_t, Hash256Hasher> first_with_hash;
  std::vector<Hash256> refs;
  PackWriter pw;
  RefsWriter refs_writer;
  // Hashes of the chunks a hashing worker appended as soon as it had hashed
  // them (do_hash); under early_mu while the workers run.
  std::mutex early_mu;
  std::unordered_set<Hash256, Hash256Hasher> written_early;
  // The early writes judge "new" by the index: bring it up to date first, so
  // a Store opened on existing packs does not store their chunks again.
  if (Status st = refresh_index(); !st.ok()) return fail(st, "save");
  const size_t batch = std::max<size_t>(1, opts_.batch_bytes / opts_.chunk_bytes);
  // Batch boundaries: the first batch is an eighth of batch_bytes and each
  // next one doubles up to it, so the disk starts writing after a short
  // hash of the first chunks instead of a whole batch.
  std::vector<size_t> bounds = {0};
  for (size_t len = std::max<size_t>(1, batch / 8); bounds.back() < tasks.size(); len = std::min(batch, 2 * len))
    bounds.push_back(std::min(tasks.size(), bounds.back() + len));
  const size_t n_batches = bounds.size() - 1;
  std::vector<size_t> todo;  // new chunks of the previous batch
  for (size_t bi = 0; bi <= n_batches; ++bi) {
    const size_t b0 = bounds[std::min(bi, n_batches)], b1 = bounds[std::min(bi + 1, n_batches)];
    // Hash this batch while the previous batch's new chunks are encoded and
    // appended (interleaved, so both cores hash, compress and write at once).
    // Two queues: (writeback of what earlier batches appended, then) the
    // previous batch's new chunks to encode and append, and this batch's
    // chunks to hash. One thread prefers the first queue, the others the
    // second; a thread whose queue is empty helps with the other. So one
    // thread appends (appends are serialized anyway) while the other
    // hashes, and the disk writes meanwhile.
    const size_t b_len = b1 - b0;
    WritableFile* const written_so_far = pw.file.get();
    const size_t n_write = todo.size() + (written_so_far ? 1 : 0);
    std::atomic<size_t> next_write{0}, next_hash{0};
    auto do_write = [&](size_t k) {
      if (written_so_far && k == 0) {
        // Can block while the disk queue is full; the other thread hashes.
        written_so_far->start_writeback();
        return;
      }
      if (failed.load()) return;
      Task& t = tasks[todo[k - (written_so_far ? 1 : 0)]];
      Status s = write_chunk(t, req.items[t.item], pw);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(err_mu);
        if (first_error.ok()) first_error = s;
        failed = true;
      }
    };
    auto do_hash = [&](size_t k) {
      Task& t = tasks[b0 + k];
      t.hash = hash_bytes(chunk_hash_, req.items[t.item].data + t.offset, t.len);
      // Written right away, while the chunk is still in this core's cache,
      // when it is surely worth writing: not in the store as this save last
      // saw it, not claimed by another task of this save, not a delta
      // candidate. (Writing never needs the refs first: only skipping a
      // chunk because another pack has it does. A chunk another writer
      // stored meanwhile is stored twice, which the store allows.)
      // (first_with_hash: chunks of earlier batches; not modified while the
      // workers run.)
      if (item_history[t.item] != nullptr || failed.load() || first_with_hash.count(t.hash) ||
          !locate(t.hash).empty())
        return;
      {
        std::lock_guard<std::mutex> lock(early_mu);
        if (!written_early.insert(t.hash).second) return;
      }
      Status s = write_chunk(t, req.items[t.item], pw);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(err_mu);
        if (first_error.ok()) first_error = s;
        failed = true;
      }
    };
    const size_t lanes = static_cast<size_t>(std::max(1, opts_.threads));
    pool_->parallel_for(lanes, 1, [&](size_t lb, size_t le) {
      for (size_t lane = lb; lane < le; ++lane) {
        const bool writer = lane == 0;
        for (;;) {
          size_t k;
          if (writer && (k = next_write.fetch_add(1)) < n_write) {
            do_write(k);
          } else if ((k = next_hash.fetch_add(1)) < b_len) {
            do_hash(k);
          } else if ((k = next_write.fetch_add(1)) < n_write) {
            do_write(k);
          } else {
            break;
          }
        }
      }
    });
    if (failed) return fail(first_error, "save");
    todo.clear();
    if (bi == n_batches) break;
    for (size_t i = b0; i < b1; ++i) {
      Task& t = tasks[i];
      if (const History* hist = item_history[t.item]) {
        const ChunkRef& base = hist->key_chunks[t.chunk_index];
        if (base.hash != t.hash && base.deps.size() + 1 < 4) {
          t.base = &base;
          t.base_raw = hist->key_raw.data() + t.offset;
        }
      }
      auto [pos, inserted] = first_with_hash.emplace(t.hash, i);
      t.primary = inserted;
      t.primary_index = pos->second;
      if (!inserted) continue;
      refs.push_back(t.hash);
      if (t.base) {
        refs.push_back(t.base->hash);
        refs.insert(refs.end(), t.base->deps.begin(), t.base->deps.end());
      }
    }
    // Registered before the existence checks (gc's argument rests on it).
    Status st = append_refs(refs, refs_writer);
    if (st.ok()) st = refresh_index();
    if (!st.ok()) return fail(st, "save");
    for (size_t i = b0; i < b1; ++i) {
      Task& t = tasks[i];
      if (!t.primary) continue;
      t.ref.hash = t.hash;
      t.ref.bytes = t.len;
      if (written_early.count(t.hash)) {
        // Already in this save's pack, whole (no delta base); maybe by
        // another task with the same bytes.
        t.is_new = true;
        t.use_base = false;
        continue;
      }
      if (!locate(t.hash).empty()) {
        auto deps = chunk_deps(t.hash);
        if (deps.ok()) {
          t.ref.deps = std::move(deps.value());
          continue;
        }
        // A stored copy whose delta base is gone or unreadable: store it again.
      }
      t.is_new = true;
      t.use_base = t.base != nullptr && chunk_deps(t.base->hash).ok();
      todo.push_back(i);
    }
  }

  // 5. The pack: index, fsync, named, packs/ fsynced. Its chunks are durable
  // before any manifest can name them.
  if (pw.file) {
    const std::string index = serialize_pack_index(pw.entries, pw.offset);
    Status st = pw.file->append(index.data(), index.size());
    if (st.ok()) st = pw.file->sync();
    if (st.ok()) st = pw.file->close();
    bool renamed = false;
    if (st.ok()) {
      auto r = env_->rename_no_replace(pw.tmp_path, pack_path(pw.name));
      st = r.status();
      renamed = r.ok() && *r;
      if (r.ok() && !renamed) st = internal_error("pack name " + pw.name + " is taken");
    }
    if (st.ok()) st = env_->sync_dir(path_join(dir_, "packs"));
    if (!st.ok()) return fail(st, "save");
    auto info = std::make_shared<PackInfo>();
    info->name = pw.name;
    info->file_bytes = pw.offset + index.size();
    info->entries = pw.entries;
    {
      std::lock_guard<std::mutex> lock(index_mu_);
      if (!packs_.count(info->name)) add_pack(std::move(info));
    }
    stats.chunk_file_bytes = pw.offset + index.size();
  }
  for (auto& t : tasks) {
    if (!t.is_new) continue;
    stats.new_chunks++;
    if (t.use_base) {
      stats.delta_chunks++;
      t.ref.deps.push_back(t.base->hash);
      t.ref.deps.insert(t.ref.deps.end(), t.base->deps.begin(), t.base->deps.end());
    }
  }
  for (auto& t : tasks)
    if (!t.primary) t.ref = tasks[t.primary_index].ref;

  // 6. Commit the manifest, then move LATEST.
  Manifest m;
  m.step = req.step;
  m.time_us = env_->now_micros();
  m.writer = writer_id_;
  m.written_bytes = stats.chunk_file_bytes;
  m.tags = req.tags;
  m.metadata = req.metadata;
  for (size_t i = 0; i < req.items.size(); ++i) {
    const auto& it = req.items[i];
    Entry e;
    e.name = it.name;
    e.kind = it.kind;
    e.dtype = it.dtype;
    e.shape = it.shape;
    e.bytes = it.bytes;
    for (size_t k = first_task[i]; k < tasks.size() && tasks[k].item == i; ++k) e.chunks.push_back(tasks[k].ref);
    m.entries.push_back(std::move(e));
  }
  const std::string text = serialize_manifest(m);
  Status st = write_small_file(writer_id_ + ".manifest", manifest_path(req.step), text, false, nullptr);
  if (st.ok()) st = env_->sync_dir(path_join(dir_, "manifests"));
  if (st.ok()) st = move_latest(req.step);
  if (!st.ok()) return fail(st, "commit");
  {
    std::lock_guard<std::mutex> lock(tmp_mu_);
    my_tmp_.clear();
  }

  // 7. Keyframes for the next delta.
  if (opts_.delta) {
    for (size_t i = 0; i < req.items.size(); ++i) {
      const auto& it = req.items[i];
      if (it.kind != EntryKind::kTensor) continue;
      auto& slot = history_[it.name];
      if (delta_item[i]) {
        slot->since_key++;
        continue;
      }
      if (!slot) slot = std::make_unique<History>();
      slot->bytes = it.bytes;
      slot->chunk_bytes = opts_.chunk_bytes;
      slot->since_key = 0;
      slot->key_chunks = m.entries[i].chunks;
      slot->key_raw.assign(it.data, it.data + it.bytes);
    }
  }

  stats.logical_bytes = m.logical_bytes();
  stats.chunks = tasks.size();
  stats.manifest_bytes = text.size();
  stats.seconds = seconds_since(t0);
  return stats;
}

Result<std::vector<int64_t>> Store::steps() {
  TANDEM_ASSIGN_OR_RETURN(auto names, env_->list_dir(path_join(dir_, "manifests")));
  std::vector<int64_t> out;
  for (const auto& n : names)
    if (auto s = parse_step_file_name(n)) out.push_back(*s);
  std::sort(out.begin(), out.end());
  return out;
}

Result<Manifest> Store::read_manifest(int64_t step) {
  const std::string path = manifest_path(step);
  if (!env_->file_exists(path)) return not_found("step " + std::to_string(step) + " is not in " + dir_);
  TANDEM_ASSIGN_OR_RETURN(std::string text, env_->read_file(path));
  auto m = parse_manifest(text);
  if (!m.ok()) return m.status().with_context("step " + std::to_string(step));
  if (m->step != step) return data_loss("manifest " + path + " holds step " + std::to_string(m->step));
  return m;
}

Result<std::vector<StepInfo>> Store::list() {
  TANDEM_ASSIGN_OR_RETURN(auto ss, steps());
  std::vector<StepInfo> out;
  for (int64_t s : ss) {
    TANDEM_ASSIGN_OR_RETURN(Manifest m, read_manifest(s));
    StepInfo info;
    info.step = s;
    info.time_us = m.time_us;
    info.logical_bytes = m.logical_bytes();
    info.written_bytes = m.written_bytes;
    info.entries = m.entries.size();
    info.tags = m.tags;
    out.push_back(std::move(info));
  }
  return out;
}

Result<int64_t> Store::latest_step() {
  const std::string path = path_join(dir_, "LATEST");
  if (env_->file_exists(path)) {
    TANDEM_ASSIGN_OR_RETURN(std::string text, env_->read_file(path));
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || end == nullptr || *end != '\n' || end[1] != '\0' || v < 0)
      return data_loss("LATEST in " + dir_ + " is malformed; pick a step from 'tandem ckpt ls'");
    if (!env_->file_exists(manifest_path(v)))
      return data_loss("LATEST in " + dir_ + " names step " + std::to_string(v) + ", which has no manifest");
    return static_cast<int64_t>(v);
  }
  TANDEM_ASSIGN_OR_RETURN(auto ss, steps());
  if (ss.empty()) return not_found("store " + dir_ + " has no committed step");
  // A crash between the first manifest commit and LATEST: the newest manifest.
  return ss.back();
}

Status Store::read_record(const ChunkLoc& loc, const Hash256& h, uint64_t bytes, uint8_t* out, int depth) {
  const PackEntry& pe = loc.pack->entries[loc.entry];
  const std::string where = "chunk " + h.hex() + " (pack " + loc.pack->name + ")";
  if (pe.raw_bytes != bytes) return data_loss(where + ": length differs from the manifest");
  TANDEM_ASSIGN_OR_RETURN(std::string rec, env_->read_range(pack_path(loc.pack->name), pe.offset, pe.bytes));
  if (rec.size() != pe.bytes) return data_loss(where + ": pack is shorter than its index says");
  auto hdr = parse_chunk_header(rec);
  if (!hdr.ok()) return hdr.status().with_context(where);
  if (hdr->raw_bytes != bytes) return data_loss(where + ": length differs from the manifest");
  if (hdr->base != pe.base) return data_loss(where + ": delta base differs from the pack index");
  std::vector<uint8_t> base;
  if (hdr->flags & kChunkXorDelta) {
    base.resize(bytes);
    TANDEM_RETURN_IF_ERROR(read_chunk(hdr->base, bytes, base.data(), depth + 1));
  }
  Status st = decode_chunk(rec, *hdr, base.empty() ? nullptr : base.data(), out);
  if (!st.ok()) return st.with_context(where);
  if (hash_bytes(chunk_hash_, out, bytes) != h) return data_loss(where + " is corrupt (hash mismatch)");
  return ok_status();
}

Status Store::read_chunk(const Hash256& h, uint64_t bytes, uint8_t* out, int depth) {
  if (depth > kMaxChain) return data_loss("chunk " + h.hex() + ": delta chain too long");
  Status last = data_loss("chunk " + h.hex() + " is missing");
  for (int attempt = 0; attempt < 2; ++attempt) {
    // A pack gc removed (after writing its live chunks to a new pack), or
    // one named after our last look: re-list once.
    bool gone = false;
    auto locs = locate(h);
    if (locs.empty()) gone = true;
    for (const auto& loc : locs) {
      Status st = read_record(loc, h, bytes, out, depth);
      if (st.ok()) return st;
      if (st.code() == StatusCode::kNotFound) {
        gone = true;
      } else {
        last = st;
      }
    }
    if (!gone || attempt == 1) break;
    TANDEM_RETURN_IF_ERROR(refresh_index());
  }
  return last;
}

Status Store::read_entry(const Entry& e, uint8_t* out) {
  uint64_t off = 0;
  for (const auto& c : e.chunks) {
    Status st = read_chunk(c.hash, c.bytes, out + off, 0);
    if (!st.ok()) return st.with_context("entry '" + e.name + "'");
    off += c.bytes;
  }
  return ok_status();
}

Result<std::string> Store::read_entry(const Manifest& m, const std::string& name) {
  const Entry* e = m.find(name);
  if (e == nullptr) return not_found("step " + std::to_string(m.step) + " has no entry '" + name + "'");
  std::string out(e->bytes, '\0');
  TANDEM_RETURN_IF_ERROR(read_entry(*e, reinterpret_cast<uint8_t*>(out.data())));
  return out;
}

VerifyReport Store::verify() {
  VerifyReport r;
  auto ss = steps();
  if (!ss.ok()) {
    r.problems.push_back(ss.status().to_string());
    return r;
  }
  if (Status st = refresh_index(); !st.ok()) r.problems.push_back(st.to_string());
  {
    std::lock_guard<std::mutex> lock(index_mu_);
    for (const auto& [name, why] : bad_packs_) r.problems.push_back("pack " + name + ": " + why);
  }
  std::unordered_map<Hash256, bool, Hash256Hasher> checked;
  std::vector<uint8_t> buf;
  for (int64_t s : *ss) {
    auto m = read_manifest(s);
    if (!m.ok()) {
      r.problems.push_back(m.status().to_string());
      continue;
    }
    r.manifests++;
    for (const auto& e : m->entries)
      for (const auto& c : e.chunks) {
        auto it = checked.find(c.hash);
        bool good;
        if (it != checked.end()) {
          good = it->second;
        } else {
          buf.resize(c.bytes);
          Status st = read_chunk(c.hash, c.bytes, buf.data(), 0);
          good = st.ok();
          if (good) {
            // gc keeps what the manifest lists: the chunk's delta chain must
            // be among its deps.
            auto deps = chunk_deps(c.hash);
            if (!deps.ok()) {
              good = false;
              st = deps.status();
            } else {
              for (const auto& d : *deps)
                if (std::find(c.deps.begin(), c.deps.end(), d) == c.deps.end()) {
                  good = false;
                  st = data_loss("chunk " + c.hash.hex() + " depends on " + d.hex() +
                                 ", which the manifest does not list");
                }
            }
          }
          checked.emplace(c.hash, good);
          if (good) r.chunks++;
          if (!good) r.problems.push_back("step " + std::to_string(s) + ", entry '" + e.name + "': " + st.to_string());
          continue;
        }
        if (!good)
          r.problems.push_back("step " + std::to_string(s) + ", entry '" + e.name + "': chunk " + c.hash.hex() +
                               " is damaged (see above)");
      }
  }
  const std::string latest = path_join(dir_, "LATEST");
  if (env_->file_exists(latest)) {
    auto l = latest_step();
    if (!l.ok()) r.problems.push_back(l.status().to_string());
  }
  return r;
}

Result<std::vector<int64_t>> Store::apply_retention(const RetentionPolicy& p) {
  TANDEM_ASSIGN_OR_RETURN(auto ss, steps());
  std::vector<int64_t> removed;
  if (ss.empty()) return removed;
  auto latest = latest_step();
  for (size_t i = 0; i < ss.size(); ++i) {
    const int64_t s = ss[i];
    bool keep = p.keep_last <= 0 || ss.size() - i <= static_cast<size_t>(p.keep_last);
    keep = keep || (p.keep_every > 0 && s % p.keep_every == 0);
    keep = keep || (latest.ok() && *latest == s) || (!latest.ok() && i + 1 == ss.size());
    if (!keep && p.keep_tagged) {
      auto m = read_manifest(s);
      keep = !m.ok() || !m->tags.empty();  // an unreadable manifest is kept for the user to inspect
    }
    if (keep) continue;
    TANDEM_RETURN_IF_ERROR(env_->remove_file(manifest_path(s)));
    removed.push_back(s);
  }
  if (!removed.empty()) TANDEM_RETURN_IF_ERROR(env_->sync_dir(path_join(dir_, "manifests")));
  return removed;
}

Status Store::compact_pack(const PackInfo& p, const std::vector<size_t>& live, GcReport& report) {
  const std::string name = next_pack_name();
  const std::string tmp = path_join(dir_, "tmp/" + writer_id_ + "." + name);
  std::vector<PackEntry> entries;
  uint64_t offset = 0;
  {
    TANDEM_ASSIGN_OR_RETURN(auto f, new_pack_file(tmp));
    for (size_t i : live) {
      PackEntry e = p.entries[i];
      // Copied as stored: a damaged record stays damaged (and is reported
      // by verify and restore), never silently "repaired".
      TANDEM_ASSIGN_OR_RETURN(std::string rec, env_->read_range(pack_path(p.name), e.offset, e.bytes));
      if (rec.size() != e.bytes) return data_loss("pack " + p.name + " is shorter than its index says");
      TANDEM_RETURN_IF_ERROR(f->append(rec.data(), rec.size()));
      e.offset = offset;
      offset += e.bytes;
      entries.push_back(e);
    }
    const std::string index = serialize_pack_index(entries, offset);
    TANDEM_RETURN_IF_ERROR(f->append(index.data(), index.size()));
    TANDEM_RETURN_IF_ERROR(f->sync());
    TANDEM_RETURN_IF_ERROR(f->close());
    offset += index.size();
  }
  TANDEM_ASSIGN_OR_RETURN(bool renamed, env_->rename_no_replace(tmp, pack_path(name)));
  if (!renamed) return internal_error("pack name " + name + " is taken");
  // The copy is durable and named before the original goes.
  TANDEM_RETURN_IF_ERROR(env_->sync_dir(path_join(dir_, "packs")));
  TANDEM_RETURN_IF_ERROR(remove_if_present(env_, pack_path(p.name)));
  report.packs_compacted++;
  report.chunks_removed += static_cast<int>(p.entries.size() - live.size());
  report.bytes_freed += p.file_bytes > offset ? p.file_bytes - offset : 0;
  return ok_status();
}

Result<GcReport> Store::gc() {
  GcReport report;
  using HashSet = std::unordered_set<Hash256, Hash256Hasher>;
  HashSet live;
  std::set<int64_t> seen_steps;
  auto add_manifests = [&]() -> Status {
    TANDEM_ASSIGN_OR_RETURN(auto ss, steps());
    for (int64_t s : ss) {
      if (seen_steps.count(s)) continue;
      auto m = read_manifest(s);
      if (!m.ok()) {
        if (m.status().code() == StatusCode::kNotFound) continue;  // removed meanwhile
        return m.status().with_context("gc stopped: it cannot know what this manifest needs; "
                                       "remove or restore it first");
      }
      seen_steps.insert(s);
      for (const auto& e : m->entries)
        for (const auto& c : e.chunks) {
          live.insert(c.hash);
          live.insert(c.deps.begin(), c.deps.end());
        }
    }
    return ok_status();
  };
  // Phase 1, no lock: what committed manifests need.
  TANDEM_RETURN_IF_ERROR(add_manifests());

  // Phase 2, exclusive: savers cannot register new references meanwhile, so
  // a saver either registered before (its refs are read here) or registers
  // after the deletions (and then finds the chunk missing and writes it).
  TANDEM_ASSIGN_OR_RETURN(auto lock, env_->lock_file(path_join(dir_, "LOCK"), true, true));
  TANDEM_RETURN_IF_ERROR(add_manifests());
  TANDEM_ASSIGN_OR_RETURN(auto inflight, env_->list_dir(path_join(dir_, "inflight")));
  std::set<std::string> live_writers;
  for (const auto& n : inflight) {
    if (n.size() < 6 || n.compare(n.size() - 5, 5, ".lock") != 0) continue;
    const std::string id = n.substr(0, n.size() - 5);
    const std::string lock_path = path_join(dir_, "inflight/" + n);
    TANDEM_ASSIGN_OR_RETURN(auto probe, env_->lock_file(lock_path, true, false));
    const std::string refs_path = path_join(dir_, "inflight/" + id + ".refs");
    if (probe) {  // its owner is gone
      TANDEM_RETURN_IF_ERROR(remove_if_present(env_, refs_path));
      TANDEM_RETURN_IF_ERROR(remove_if_present(env_, lock_path));
      report.stale_writers++;
      continue;
    }
    live_writers.insert(id);
    auto refs_text = env_->read_file(refs_path);
    if (refs_text.status().code() == StatusCode::kNotFound) continue;  // none yet, or its owner just closed
    TANDEM_ASSIGN_OR_RETURN(std::string text, std::move(refs_text));
    for (size_t p = 0; p + 64 <= text.size(); p += 65)
      if (auto h = Hash256::from_hex(std::string_view(text).substr(p, 64))) live.insert(*h);
  }
  TANDEM_RETURN_IF_ERROR(refresh_index());
  // Keep also what live chunks decode from: the delta base of every stored
  // copy (manifests list their chains; in-flight refs and duplicate copies
  // written by concurrent savers may not).
  std::vector<Hash256> work(live.begin(), live.end());
  while (!work.empty()) {
    const Hash256 h = work.back();
    work.pop_back();
    for (const auto& loc : locate(h)) {
      const Hash256& b = loc.pack->entries[loc.entry].base;
      if (!b.is_zero() && live.insert(b).second) work.push_back(b);
    }
  }
  std::vector<std::shared_ptr<const PackInfo>> packs;
  {
    std::lock_guard<std::mutex> l(index_mu_);
    for (const auto& [n, p] : packs_) packs.push_back(p);
    report.packs_unreadable = static_cast<int>(bad_packs_.size());
  }
  bool removed_any = false;
  for (const auto& p : packs) {
    std::vector<size_t> keep;
    uint64_t live_bytes = 0, record_bytes = 0;
    for (size_t i = 0; i < p->entries.size(); ++i) {
      record_bytes += p->entries[i].bytes;
      if (live.count(p->entries[i].hash)) {
        keep.push_back(i);
        live_bytes += p->entries[i].bytes;
      }
    }
    if (keep.empty()) {
      TANDEM_RETURN_IF_ERROR(remove_if_present(env_, pack_path(p->name)));
      removed_any = true;
      report.packs_removed++;
      report.chunks_removed += static_cast<int>(p->entries.size());
      report.bytes_freed += p->file_bytes;
    } else if (live_bytes * 2 < record_bytes) {
      // Mostly dead: rewrite the live chunks, then drop the pack.
      TANDEM_RETURN_IF_ERROR(ensure_writer());
      TANDEM_RETURN_IF_ERROR(compact_pack(*p, keep, report));
      removed_any = true;
    }
  }
  if (removed_any) {
    TANDEM_RETURN_IF_ERROR(env_->sync_dir(path_join(dir_, "packs")));
    TANDEM_RETURN_IF_ERROR(refresh_index());
  }
  // Temporary files of writers that are gone.
  TANDEM_ASSIGN_OR_RETURN(auto tmps, env_->list_dir(path_join(dir_, "tmp")));
  std::map<std::string, bool> owner_dead;
  for (const auto& n : tmps) {
    const std::string owner = n.substr(0, n.find('.'));
    if (live_writers.count(owner)) continue;
    if (!owner_dead.count(owner)) {
      // A writer that started after the probe above holds its lock already.
      const std::string lock_path = path_join(dir_, "inflight/" + owner + ".lock");
      TANDEM_ASSIGN_OR_RETURN(auto probe, env_->lock_file(lock_path, true, false));
      owner_dead[owner] = probe != nullptr;
      if (probe) TANDEM_RETURN_IF_ERROR(remove_if_present(env_, lock_path));
    }
    if (!owner_dead[owner]) continue;
    TANDEM_RETURN_IF_ERROR(remove_if_present(env_, path_join(dir_, "tmp/" + n)));
    report.tmp_removed++;
  }
  return report;
}

Result<DuReport> Store::du() {
  DuReport r;
  TANDEM_ASSIGN_OR_RETURN(auto ss, steps());
  TANDEM_RETURN_IF_ERROR(refresh_index());
  std::unordered_map<Hash256, uint64_t, Hash256Hasher> unique;
  std::unordered_set<Hash256, Hash256Hasher> deps;
  for (int64_t s : ss) {
    TANDEM_ASSIGN_OR_RETURN(Manifest m, read_manifest(s));
    r.steps++;
    r.logical_bytes += m.logical_bytes();
    for (const auto& e : m.entries)
      for (const auto& c : e.chunks) {
        unique.emplace(c.hash, c.bytes);
        deps.insert(c.deps.begin(), c.deps.end());
      }
    TANDEM_ASSIGN_OR_RETURN(uint64_t msize, env_->file_size(manifest_path(s)));
    r.manifest_bytes += msize;
  }
  for (const auto& d : deps) {
    if (unique.count(d)) continue;
    auto locs = locate(d);
    if (!locs.empty()) unique.emplace(d, locs[0].pack->entries[locs[0].entry].raw_bytes);
  }
  for (const auto& [h, n] : unique) r.unique_bytes += n;
  TANDEM_ASSIGN_OR_RETURN(auto names, env_->list_dir(path_join(dir_, "packs")));
  for (const auto& n : names) {
    auto size = env_->file_size(pack_path(n));
    if (!size.ok()) continue;
    r.chunk_file_bytes += *size;
    r.pack_files++;
  }
  std::lock_guard<std::mutex> lock(index_mu_);
  for (const auto& [n, p] : packs_) r.chunk_files += p->entries.size();
  return r;
}

}  // namespace tandem::store
