#include "store/store.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <unordered_set>

#include "store/chunk_codec.h"

namespace tandem::store {

namespace {

constexpr const char* kMarker = "tandem-store 1\n";
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
  ChunkRef ref;
  // Set by write_chunk when it wrote a new chunk file.
  std::string tmp_path;
  uint64_t file_bytes = 0;
  bool use_base = false;
  bool replace_damaged = false;
};

Store::Store(std::string dir, const StoreOptions& opts, Env* env)
    : dir_(std::move(dir)), opts_(opts), env_(env), pool_(std::max(1, opts.threads)) {}

Result<std::unique_ptr<Store>> Store::open(const std::string& dir, const StoreOptions& opts, Env* env,
                                           bool create) {
  if (dir.empty()) return invalid_argument("store directory is empty");
  if (opts.chunk_bytes < 4096 || opts.chunk_bytes > (uint64_t{1} << 30))
    return invalid_argument("chunk_bytes must be between 4 KiB and 1 GiB");
  if (opts.keyframe_interval < 1) return invalid_argument("keyframe_interval must be >= 1");
  const std::string marker = path_join(dir, "STORE");
  if (!env->file_exists(marker)) {
    if (!create) return not_found("'" + dir + "' is not a tandem store (no STORE file)");
    if (env->file_exists(dir)) {
      auto names = env->list_dir(dir);
      if (!names.ok()) return invalid_argument("'" + dir + "' exists and is not a directory");
      if (!names->empty())
        return invalid_argument("'" + dir + "' is a non-empty directory that is not a tandem store");
    }
    for (const char* sub : {"", "chunks", "manifests", "inflight", "tmp"})
      TANDEM_RETURN_IF_ERROR(env->create_dir(path_join(dir, sub)));
    TANDEM_RETURN_IF_ERROR(write_file_atomic(env, marker, kMarker));
    TANDEM_RETURN_IF_ERROR(env->sync_dir(path_dirname(dir)));
  } else {
    TANDEM_ASSIGN_OR_RETURN(std::string m, env->read_file(marker));
    if (m != kMarker) return data_loss("'" + marker + "' is not a tandem-store 1 marker");
  }
  return std::unique_ptr<Store>(new Store(dir, opts, env));
}

Store::~Store() {
  if (writer_lock_) {
    (void)env_->remove_file(path_join(dir_, "inflight/" + writer_id_ + ".refs"));
    (void)env_->remove_file(path_join(dir_, "inflight/" + writer_id_ + ".lock"));
    writer_lock_.reset();
  }
}

std::string Store::chunk_path(const Hash256& h) const { return path_join(dir_, "chunks/" + h.hex()); }
std::string Store::manifest_path(int64_t step) const {
  return path_join(dir_, "manifests/" + step_file_name(step));
}

Status Store::ensure_writer() {
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

Status Store::write_refs(const std::vector<Hash256>& refs) {
  std::string text;
  text.reserve(refs.size() * 65);
  for (const auto& h : refs) text += h.hex() + "\n";
  // Shared: excludes only gc's final phase (see gc()).
  TANDEM_ASSIGN_OR_RETURN(auto lock, env_->lock_file(path_join(dir_, "LOCK"), false, true));
  TANDEM_ASSIGN_OR_RETURN(auto f, env_->new_writable_file(path_join(dir_, "inflight/" + writer_id_ + ".refs")));
  TANDEM_RETURN_IF_ERROR(f->append(text.data(), text.size()));
  return f->close();
}

Result<std::vector<Hash256>> Store::chunk_deps(const Hash256& h) {
  std::vector<Hash256> deps;
  Hash256 cur = h;
  for (int depth = 0; depth <= kMaxChain; ++depth) {
    TANDEM_ASSIGN_OR_RETURN(std::string head, env_->read_range(chunk_path(cur), 0, kChunkHeaderBytes));
    TANDEM_ASSIGN_OR_RETURN(ChunkHeader ch, parse_chunk_header(head));
    if (!(ch.flags & kChunkXorDelta)) return deps;
    deps.push_back(ch.base);
    cur = ch.base;
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

Status Store::write_chunk(Task& t, const SaveItem& item) {
  const std::string path = chunk_path(t.hash);
  t.ref.hash = t.hash;
  t.ref.bytes = t.len;
  if (env_->file_exists(path)) {
    auto deps = chunk_deps(t.hash);
    if (deps.ok()) {
      t.ref.deps = std::move(deps.value());
      return ok_status();
    }
    // A damaged existing chunk: write a good copy and replace it.
    t.replace_damaged = true;
  }
  t.use_base = t.base != nullptr && env_->file_exists(chunk_path(t.base->hash));
  EncodeOptions eo;
  eo.zstd_level = opts_.zstd_level;
  eo.elem_size = (item.kind == EntryKind::kTensor && opts_.shuffle) ? item.elem_size : 1;
  const EncodedChunk enc = encode_chunk_into(item.data + t.offset, t.len, eo, t.use_base ? t.base_raw : nullptr,
                                             t.use_base ? &t.base->hash : nullptr);
  t.tmp_path = path_join(dir_, "tmp/" + writer_id_ + "." + t.hash.hex());
  t.file_bytes = kChunkHeaderBytes + enc.payload_bytes;
  {
    std::lock_guard<std::mutex> lock(tmp_mu_);
    my_tmp_.push_back(t.tmp_path);
  }
  TANDEM_ASSIGN_OR_RETURN(auto f, env_->new_writable_file(t.tmp_path));
  TANDEM_RETURN_IF_ERROR(f->append(enc.header.data(), enc.header.size()));
  if (enc.payload_bytes > 0) TANDEM_RETURN_IF_ERROR(f->append(enc.payload, enc.payload_bytes));
  if (opts_.sync_per_file)
    TANDEM_RETURN_IF_ERROR(f->sync());
  else
    f->start_writeback();
  return f->close();
}

Status Store::name_chunk(Task& t, SaveStats& stats) {
  const std::string path = chunk_path(t.hash);
  bool named = true;
  if (t.replace_damaged) {
    TANDEM_RETURN_IF_ERROR(env_->rename(t.tmp_path, path));
  } else {
    TANDEM_ASSIGN_OR_RETURN(named, env_->rename_no_replace(t.tmp_path, path));
  }
  if (!named) {
    // Another writer named it first; chunk files are immutable once named.
    TANDEM_RETURN_IF_ERROR(env_->remove_file(t.tmp_path));
    TANDEM_ASSIGN_OR_RETURN(t.ref.deps, chunk_deps(t.hash));
    return ok_status();
  }
  if (t.use_base) {
    t.ref.deps.push_back(t.base->hash);
    t.ref.deps.insert(t.ref.deps.end(), t.base->deps.begin(), t.base->deps.end());
  }
  stats.new_chunks++;
  stats.chunk_file_bytes += t.file_bytes;
  if (t.use_base) stats.delta_chunks++;
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

  // 3-4. In batches of about 64 MiB, so the disk is busy while later chunks
  // are hashed: hash the batch, pick delta bases, register every hash the
  // save may reference so far (a concurrent gc keeps them; registration
  // always precedes the existence checks), then write the chunks the store
  // does not have.
  SaveStats stats;
  stats.step = req.step;
  std::mutex stats_mu;
  Status first_error;
  std::atomic<bool> failed{false};
  std::unordered_map<Hash256, size_t, Hash256Hasher> first_with_hash;
  std::vector<Hash256> refs;
  const size_t batch = std::max<size_t>(1, opts_.batch_bytes / opts_.chunk_bytes);
  Status st;
  for (size_t b0 = 0; b0 < tasks.size(); b0 += batch) {
    const size_t b1 = std::min(tasks.size(), b0 + batch);
    pool_.parallel_for(b1 - b0, 1, [&](size_t b, size_t e) {
      for (size_t i = b0 + b; i < b0 + e; ++i) {
        const auto& it = req.items[tasks[i].item];
        tasks[i].hash = sha256(it.data + tasks[i].offset, tasks[i].len);
      }
    });
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
    st = write_refs(refs);
    if (!st.ok()) {
      cleanup_tmp();
      return st.with_context("save step " + std::to_string(req.step));
    }
    pool_.parallel_for(b1 - b0, 1, [&](size_t b, size_t e) {
      for (size_t i = b0 + b; i < b0 + e; ++i) {
        if (!tasks[i].primary || failed.load()) continue;
        Status s = write_chunk(tasks[i], req.items[tasks[i].item]);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(stats_mu);
          if (first_error.ok()) first_error = s;
          failed = true;
        }
      }
    });
    if (failed) {
      cleanup_tmp();
      return first_error.with_context("save step " + std::to_string(req.step));
    }
  }
  // Chunk data durable, then named, then the names durable.
  bool any_new = false;
  for (const auto& t : tasks) any_new = any_new || !t.tmp_path.empty();
  if (any_new && !opts_.sync_per_file) st = env_->sync_fs(dir_);
  for (auto& t : tasks) {
    if (!st.ok()) break;
    if (!t.tmp_path.empty()) st = name_chunk(t, stats);
  }
  for (auto& t : tasks)
    if (!t.primary) t.ref = tasks[t.primary_index].ref;
  if (st.ok()) st = env_->sync_dir(path_join(dir_, "chunks"));
  if (!st.ok()) {
    cleanup_tmp();
    return st.with_context("save step " + std::to_string(req.step));
  }

  // 5. Commit the manifest, then move LATEST.
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
  st = write_small_file(writer_id_ + ".manifest", manifest_path(req.step), text, false, nullptr);
  if (st.ok()) st = env_->sync_dir(path_join(dir_, "manifests"));
  if (st.ok()) st = move_latest(req.step);
  if (!st.ok()) {
    cleanup_tmp();
    return st.with_context("commit step " + std::to_string(req.step));
  }
  {
    std::lock_guard<std::mutex> lock(tmp_mu_);
    my_tmp_.clear();
  }

  // 6. Keyframes for the next delta.
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

Status Store::read_chunk(const Hash256& h, uint64_t bytes, uint8_t* out, int depth) {
  if (depth > kMaxChain) return data_loss("chunk " + h.hex() + ": delta chain too long");
  const std::string path = chunk_path(h);
  if (!env_->file_exists(path)) return data_loss("chunk " + h.hex() + " is missing");
  TANDEM_ASSIGN_OR_RETURN(std::string file, env_->read_file(path));
  auto hdr = parse_chunk_header(file);
  if (!hdr.ok()) return hdr.status().with_context("chunk " + h.hex());
  if (hdr->raw_bytes != bytes) return data_loss("chunk " + h.hex() + ": length differs from the manifest");
  std::vector<uint8_t> base;
  if (hdr->flags & kChunkXorDelta) {
    base.resize(bytes);
    TANDEM_RETURN_IF_ERROR(read_chunk(hdr->base, bytes, base.data(), depth + 1));
  }
  Status st = decode_chunk(file, *hdr, base.empty() ? nullptr : base.data(), out);
  if (!st.ok()) return st.with_context("chunk " + h.hex());
  if (sha256(out, bytes) != h) return data_loss("chunk " + h.hex() + " is corrupt (hash mismatch)");
  return ok_status();
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
  // Phase 1, no lock: what committed manifests need, and the candidates.
  TANDEM_RETURN_IF_ERROR(add_manifests());
  TANDEM_ASSIGN_OR_RETURN(auto names, env_->list_dir(path_join(dir_, "chunks")));
  std::vector<Hash256> candidates;
  for (const auto& n : names) {
    auto h = Hash256::from_hex(n);
    if (h && !live.count(*h)) candidates.push_back(*h);
  }

  // Phase 2, exclusive: savers cannot register new references meanwhile, so
  // a saver either registered before (its refs are read here) or registers
  // after the deletions (and then finds the chunk missing and writes it).
  TANDEM_ASSIGN_OR_RETURN(auto lock, env_->lock_file(path_join(dir_, "LOCK"), true, true));
  TANDEM_RETURN_IF_ERROR(add_manifests());
  TANDEM_ASSIGN_OR_RETURN(auto inflight, env_->list_dir(path_join(dir_, "inflight")));
  std::set<std::string> live_writers;
  HashSet in_flight;
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
      if (auto h = Hash256::from_hex(std::string_view(text).substr(p, 64))) in_flight.insert(*h);
  }
  // The in-flight refs name chunks; keep also what those chunks decode from.
  for (const auto& h : std::vector<Hash256>(in_flight.begin(), in_flight.end())) {
    if (live.count(h) || !env_->file_exists(chunk_path(h))) continue;
    auto deps = chunk_deps(h);
    if (deps.ok()) in_flight.insert(deps->begin(), deps->end());
  }
  for (const auto& h : candidates) {
    if (live.count(h) || in_flight.count(h)) continue;
    const std::string path = chunk_path(h);
    auto size = env_->file_size(path);
    if (!size.ok()) continue;
    TANDEM_RETURN_IF_ERROR(remove_if_present(env_, path));
    report.chunks_removed++;
    report.bytes_freed += *size;
  }
  if (report.chunks_removed > 0) TANDEM_RETURN_IF_ERROR(env_->sync_dir(path_join(dir_, "chunks")));
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
    auto head = env_->read_range(chunk_path(d), 0, kChunkHeaderBytes);
    if (!head.ok()) continue;
    auto h = parse_chunk_header(*head);
    if (h.ok()) unique.emplace(d, h->raw_bytes);
  }
  for (const auto& [h, n] : unique) r.unique_bytes += n;
  TANDEM_ASSIGN_OR_RETURN(auto names, env_->list_dir(path_join(dir_, "chunks")));
  for (const auto& n : names) {
    auto size = env_->file_size(path_join(dir_, "chunks/" + n));
    if (!size.ok()) continue;
    r.chunk_file_bytes += *size;
    r.chunk_files++;
  }
  return r;
}

}  // namespace tandem::store
