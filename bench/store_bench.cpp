// store_bench: the checkpoint store's acceptance figures (issue 5).
//
//   store_bench hash                     SHA-256 vs BLAKE3 vs XXH3-128, GB/s
//   store_bench disk    --dir D [--mib N]  sequential write+fsync bandwidth of D's disk
//   store_bench block   --dir D [--sizes-mib 10,100,1000] [--reps R]
//                                        time save() blocks the caller vs a memcpy
//   store_bench persist --dir D [--mib N] [--zstd L] [--threads T] [--rounds R]
//                                        new-data throughput vs the disk's bandwidth,
//                                        disk and store runs interleaved R times
//   store_bench dedup   --dir D [--mib N]  bytes written when 90% of chunks are unchanged
//   store_bench all     --dir D          everything, in that order
//
// D must be on the disk under test; the benchmark makes and removes
// subdirectories there. Figures are medians (block) or single timed runs;
// the machine may be shared, so run it when it is quiet or read with care.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/blake3_impl.h"
#include "base/env.h"
#include "base/hash.h"
#include "base/huge_pages.h"
#include "store/checkpointer.h"
#include "store/chunk_codec.h"
#include "store/store.h"

using namespace tandem;
using namespace tandem::store;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// CPU time of every thread of this process (user + system), seconds.
double process_cpu_seconds() {
  struct rusage u;
  ::getrusage(RUSAGE_SELF, &u);
  auto tv = [](const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

struct Opts {
  std::string cmd;
  std::string dir = "/tmp/tandem-store-bench";
  int64_t mib = 1024;
  std::vector<int64_t> sizes_mib = {10, 100, 1000};
  int reps = 5;
  int zstd = 1;
  int threads = 2;
  int64_t chunk_kib = 1024;
  int rounds = 1;
};

// Normal floats like weights (incompressible mantissas, compressible exponents).
void fill_weights(uint8_t* p, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 0.02f);
  for (size_t i = 0; i + 4 <= n; i += 4) {
    float v = d(rng);
    std::memcpy(p + i, &v, 4);
  }
}

// A state of `bytes` as 16 tensors.
SaveRequest make_request(int64_t step, const std::vector<uint8_t>& buf) {
  SaveRequest r;
  r.step = step;
  const size_t n = 16, per = (buf.size() / n) & ~size_t(3);
  for (size_t i = 0; i < n; ++i) {
    SaveItem it;
    it.name = "layer." + std::to_string(i) + ".weight";
    it.kind = EntryKind::kTensor;
    it.dtype = "f32";
    it.elem_size = 4;
    it.data = buf.data() + i * per;
    it.bytes = (i + 1 == n) ? buf.size() - i * per : per;
    it.shape = {static_cast<int64_t>(it.bytes / 4)};
    r.items.push_back(it);
  }
  return r;
}

// Sequential write of `mib` MiB in 1 MiB writes, then fsync. With
// writeback_every_mib > 0, writeback is started (sync_file_range) every that
// many MiB, as the store's buffered mode does per batch, so the page cache's
// dirty limits do not stall the writer.
double disk_run(const std::string& dir, int64_t mib, int64_t writeback_every_mib) {
  fs::create_directories(dir);
  const std::string path = dir + "/disk-bench.bin";
  std::vector<uint8_t> block(1 << 20);
  std::mt19937 rng(1);
  for (auto& b : block) b = static_cast<uint8_t>(rng());
  auto f = Env::posix()->new_writable_file(path);
  TANDEM_CHECK(f.ok(), f.status().to_string());
  auto t0 = Clock::now();
  for (int64_t i = 0; i < mib; ++i) {
    block[0] = static_cast<uint8_t>(i);
    TANDEM_CHECK((*f)->append(block.data(), block.size()).ok(), "write");
    if (writeback_every_mib > 0 && (i + 1) % writeback_every_mib == 0) (*f)->start_writeback();
  }
  TANDEM_CHECK((*f)->sync().ok(), "fsync");
  double s = secs(t0, Clock::now());
  (void)(*f)->close();
  fs::remove(path);
  return static_cast<double>(mib) * 1048576.0 / s / 1e6;
}

// The same amount with O_DIRECT (no page cache) from huge-page buffers in writes of block_kib,
// `writers` threads writing consecutive blocks at once (queue depth), then
// fdatasync. Plain POSIX calls, independent of the store's Env. 0 when the
// file system refuses O_DIRECT.
double disk_run_direct(const std::string& dir, int64_t mib, int64_t block_kib, int writers) {
  fs::create_directories(dir);
  const std::string path = dir + "/disk-bench-direct.bin";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
  if (fd < 0) return 0;
  const size_t block = static_cast<size_t>(block_kib) * 1024;
  const uint64_t total = static_cast<uint64_t>(mib) << 20;
  std::vector<HugePages> bufs(writers);
  std::mt19937 rng(1);
  for (auto& b : bufs) {
    // Huge pages: fewer, larger segments per disk request (see
    // PosixDirectWritableFile); faster on the development VM.
    b = alloc_huge_pages(block);
    if (b == nullptr) {
      ::close(fd);
      return 0;
    }
    for (size_t i = 0; i < block; ++i) b.get()[i] = static_cast<uint8_t>(rng());
  }
  std::atomic<uint64_t> next{0};
  std::atomic<bool> ok{true};
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      for (uint64_t off; (off = next.fetch_add(block)) < total;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(block, total - off));
        if (::pwrite(fd, bufs[w].get(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) ok = false;
      }
    });
  for (auto& t : threads) t.join();
  const bool synced = ::fdatasync(fd) == 0;
  const double s = secs(t0, Clock::now());
  ::close(fd);
  fs::remove(path);
  TANDEM_CHECK(ok && synced, "O_DIRECT write to " + path + " failed");
  return static_cast<double>(total) / s / 1e6;
}

// The disk's sequential write bandwidth: the best of plain write + fsync
// (dd conv=fsync), write with early writeback + fsync, and O_DIRECT writes
// of 1 MiB, 4 MiB, and 4 MiB from two threads at once (then fdatasync).
double disk_bandwidth(const std::string& dir, int64_t mib) {
  const double plain = disk_run(dir, mib, 0);
  const double early = disk_run(dir, mib, 64);
  const double d1 = disk_run_direct(dir, mib, 1024, 1);
  const double d4 = disk_run_direct(dir, mib, 4096, 1);
  const double d4x2 = disk_run_direct(dir, mib, 4096, 2);
  const double best = std::max({plain, early, d1, d4, d4x2});
  std::printf("disk: %lld MiB + fsync: %.0f MB/s plain, %.0f MB/s with writeback every 64 MiB, O_DIRECT %.0f MB/s "
              "(1 MiB writes), %.0f (4 MiB), %.0f (4 MiB, 2 writers); taking %.0f MB/s\n",
              static_cast<long long>(mib), plain, early, d1, d4, d4x2, best);
  std::fflush(stdout);
  return best;
}

void bench_hash() {
  std::vector<uint8_t> buf(1 << 20);
  fill_weights(buf.data(), buf.size(), 1);
  const int n = 512;
  const double gb = n * double(buf.size()) / 1e9;
  volatile uint64_t sink = 0;
  // GB/s of f over n passes of a 1 MiB buffer, on `threads` threads at once
  // (each on its own copy; the total is reported).
  auto rate = [&](auto&& f, int threads) {
    std::vector<std::thread> th;
    const auto t0 = Clock::now();
    for (int w = 0; w < threads; ++w)
      th.emplace_back([&] {
        std::vector<uint8_t> mine(buf);
        uint64_t local = 0;
        for (int i = 0; i < n; ++i) local += f(mine.data(), mine.size());
        sink = sink + local;
      });
    for (auto& t : th) t.join();
    return threads * gb / secs(t0, Clock::now());
  };
  auto sha = [](const uint8_t* p, size_t len) { return uint64_t{sha256(p, len).bytes[0]}; };
  auto b3 = [](const uint8_t* p, size_t len) { return uint64_t{blake3(p, len).bytes[0]}; };
  auto b3_scalar = [](const uint8_t* p, size_t len) {
    return uint64_t{blake3_impl::hash(p, len, blake3_impl::Isa::kScalar).bytes[0]};
  };
  auto xxh = [](const uint8_t* p, size_t len) { return uint64_t{XXH3_128bits(p, len).low64}; };
  auto cpy = [](const uint8_t* p, size_t len) {
    std::vector<uint8_t> copy(p, p + len);
    return uint64_t{copy[5]};
  };
  const double r_sha = rate(sha, 1), r_b3 = rate(b3, 1), r_b3s = rate(b3_scalar, 1), r_xxh = rate(xxh, 1),
               r_cpy = rate(cpy, 1);
  std::printf("hash (1 MiB buffers, one thread): sha256 %.2f GB/s, blake3 %.2f GB/s (%s; portable %.2f GB/s), "
              "xxh3-128 %.2f GB/s, alloc+memcpy %.2f GB/s\n",
              r_sha, r_b3, blake3_impl::cpu_has_avx2() ? "AVX2" : "portable", r_b3s, r_xxh, r_cpy);
  // Both cores at once (the store hashes on every worker).
  std::printf("two threads at once, in total: sha256 %.2f GB/s, blake3 %.2f GB/s\n", rate(sha, 2), rate(b3, 2));
  auto t0 = Clock::now();
  for (int level : {0, -5, -1, 1, 3})
    for (int es : {1, 4}) {
      size_t out = 0;
      t0 = Clock::now();
      for (int i = 0; i < n / 4; ++i) out += encode_chunk(buf.data(), buf.size(), EncodeOptions{level, es}).size();
      double s = secs(t0, Clock::now());
      std::printf("encode_chunk (one thread): zstd %d, shuffle %d: %.2f GB/s, ratio %.3f\n", level, es,
                  gb / 4 / s, gb / 4 * 1e9 / double(out));
    }
}

void bench_block(const Opts& o) {
  std::printf("block: time save() keeps the caller vs memcpy into a warm buffer (median and min of %d)\n", o.reps);
  std::printf("%10s %12s %12s %8s %14s %14s %10s\n", "state_MB", "memcpy_ms", "save_ms", "ratio", "min_memcpy_ms",
              "min_save_ms", "min_ratio");
  for (int64_t mib : o.sizes_mib) {
    const size_t bytes = static_cast<size_t>(mib) * 1000 * 1000;
    std::vector<uint8_t> state(bytes), dst(bytes);
    fill_weights(state.data(), bytes, 7);
    std::memset(dst.data(), 1, bytes);
    std::vector<double> t_copy, t_save;
    const std::string dir = o.dir + "/block-" + std::to_string(mib);
    fs::remove_all(dir);
    StoreOptions so;
    so.threads = o.threads;
    CheckpointerOptions co;
    double first = 0;
    {
      Checkpointer ck(Store::open(dir, so).value(), co);
      // Interleaved, so both see the same machine: memcpy, then save, then
      // (untimed) wait for the background persist.
      for (int r = 0; r <= o.reps; ++r) {
        auto t0 = Clock::now();
        std::memcpy(dst.data(), state.data(), bytes);
        const double c = secs(t0, Clock::now());
        state[r * 4096 % bytes] ^= 1;  // a little new data per save
        SaveRequest req = make_request(r, state);
        t0 = Clock::now();
        Status st = ck.save(req);
        const double s = secs(t0, Clock::now());
        TANDEM_CHECK(st.ok(), st.to_string());
        if (r == 0) {
          first = s;  // staging buffer allocated and faulted in
        } else {
          t_copy.push_back(c);
          t_save.push_back(s);
        }
        TANDEM_CHECK(ck.flush().ok(), "flush");
      }
    }
    fs::remove_all(dir);
    std::sort(t_copy.begin(), t_copy.end());
    std::sort(t_save.begin(), t_save.end());
    const double c = t_copy[t_copy.size() / 2], s = t_save[t_save.size() / 2];
    std::printf("%10lld %12.2f %12.2f %8.2f %14.2f %14.2f %10.2f   (first save %.1f ms)\n",
                static_cast<long long>(mib), c * 1e3, s * 1e3, s / c, t_copy[0] * 1e3, t_save[0] * 1e3,
                t_save[0] / t_copy[0], first * 1e3);
  }
}

void bench_persist(const Opts& o, double first_disk_mbs) {
  const size_t bytes = static_cast<size_t>(o.mib) * 1048576;
  std::vector<uint8_t> state(bytes);
  fill_weights(state.data(), bytes, 11);
  // The disk is shared and its speed moves: measure it between store runs
  // (disk, store, disk, store, ...) and compare each store run with the mean
  // of the disk runs right before and after it.
  std::vector<double> disk = {first_disk_mbs};
  // Configurations: (zstd level, O_DIRECT packs). Without compression both
  // pack write modes, so the two are compared on the same machine state.
  const std::vector<std::pair<int, bool>> configs = {{o.zstd, true}, {0, true}, {0, false}};
  std::map<std::pair<int, bool>, std::vector<double>> share, rate, cpu_s;
  for (int round = 0; round < o.rounds; ++round)
    for (const auto& [zstd, direct] : configs) {
      const std::string dir = o.dir + "/persist";
      fs::remove_all(dir);
      StoreOptions so;
      so.threads = o.threads;
      so.zstd_level = zstd;
      so.direct_io = direct;
      so.chunk_bytes = static_cast<uint64_t>(o.chunk_kib) * 1024;
      auto store = Store::open(dir, so).value();
      const double cpu0 = process_cpu_seconds();
      auto t0 = Clock::now();
      auto r = store->save(make_request(1, state));
      double s = secs(t0, Clock::now());
      const double cpu = process_cpu_seconds() - cpu0;
      TANDEM_CHECK(r.ok(), r.status().to_string());
      store.reset();
      fs::remove_all(dir);
      disk.push_back(disk_bandwidth(o.dir, o.mib));
      std::vector<double> around(disk.end() - 2, disk.end());
      const double disk_mbs = (around[0] + around[1]) / 2;
      const double raw_mbs = bytes / s / 1e6, phys_mbs = (r->chunk_file_bytes + r->manifest_bytes) / s / 1e6;
      std::printf("persist: %lld KiB chunks, ", static_cast<long long>(o.chunk_kib));
      std::printf("%.0f MB new data, zstd %d, %s packs, %d threads: %.2f s = %.0f MB/s of state (%.0f MB/s written, "
                  "%.2fx compression, %.2f CPU s); %.0f%% of the disk's %.0f MB/s (mean of the runs before and after)\n",
                  bytes / 1e6, zstd, direct ? "O_DIRECT" : "buffered", o.threads, s, raw_mbs, phys_mbs,
                  double(bytes) / double(r->chunk_file_bytes), cpu, 100.0 * raw_mbs / disk_mbs, disk_mbs);
      std::fflush(stdout);
      share[{zstd, direct}].push_back(100.0 * raw_mbs / disk_mbs);
      rate[{zstd, direct}].push_back(raw_mbs);
      cpu_s[{zstd, direct}].push_back(cpu);
    }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("persist summary over %d rounds: disk median %.0f MB/s (min %.0f, max %.0f)\n", o.rounds, median(disk),
              *std::min_element(disk.begin(), disk.end()), *std::max_element(disk.begin(), disk.end()));
  for (const auto& [cfg, v] : share)
    std::printf("  zstd %d, %s packs: store median %.0f MB/s of state, %.2f CPU s per save; share of the disk "
                "median %.0f%% (min %.0f%%, max %.0f%%)\n",
                cfg.first, cfg.second ? "O_DIRECT" : "buffered", median(rate[cfg]), median(cpu_s[cfg]), median(v),
                *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
}

void bench_dedup(const Opts& o) {
  const size_t bytes = static_cast<size_t>(o.mib) * 1048576;
  std::vector<uint8_t> state(bytes);
  fill_weights(state.data(), bytes, 13);
  const std::string dir = o.dir + "/dedup";
  fs::remove_all(dir);
  auto store = Store::open(dir).value();  // 1 MiB chunks
  auto r1 = store->save(make_request(1, state));
  TANDEM_CHECK(r1.ok(), r1.status().to_string());
  // Change 10% of the 1 MiB chunks: every 10th chunk, a few floats each.
  const size_t chunk = 1 << 20;
  size_t changed = 0;
  const SaveRequest layout = make_request(2, state);
  for (const auto& it : layout.items)
    for (size_t off = 0; off < it.bytes; off += chunk, ++changed)
      if (changed % 10 == 0) const_cast<uint8_t*>(it.data)[off + 100] ^= 0x5a;
  size_t n_changed = (changed + 9) / 10;
  auto r2 = store->save(make_request(2, state));
  TANDEM_CHECK(r2.ok(), r2.status().to_string());
  const double changed_bytes = double(n_changed) * chunk;
  std::printf("dedup: %.0f MB state, %zu of %zu chunks changed (%.1f MB): step 2 wrote %.2f MB of chunks + %.3f MB "
              "manifest = %.2fx the changed bytes (step 1 wrote %.1f MB)\n",
              bytes / 1e6, n_changed, static_cast<size_t>(r2->chunks), changed_bytes / 1e6,
              r2->chunk_file_bytes / 1e6, r2->manifest_bytes / 1e6,
              (r2->chunk_file_bytes + r2->manifest_bytes) / changed_bytes, r1->chunk_file_bytes / 1e6);
  store.reset();
  fs::remove_all(dir);
}

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) out.push_back(std::stoll(tok));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Opts o;
  if (argc < 2) {
    std::fprintf(stderr, "usage: store_bench hash|disk|block|persist|dedup|all [--dir D] [--mib N] "
                         "[--sizes-mib a,b,c] [--reps R] [--zstd L] [--threads T]\n");
    return 2;
  }
  o.cmd = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--dir") o.dir = v;
    else if (k == "--mib") o.mib = std::stoll(v);
    else if (k == "--sizes-mib") o.sizes_mib = parse_list(v);
    else if (k == "--reps") o.reps = std::stoi(v);
    else if (k == "--zstd") o.zstd = std::stoi(v);
    else if (k == "--threads") o.threads = std::stoi(v);
    else if (k == "--chunk-kib") o.chunk_kib = std::stoll(v);
    else if (k == "--rounds") o.rounds = std::stoi(v);
    else {
      std::fprintf(stderr, "store_bench: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  fs::create_directories(o.dir);
  const bool all = o.cmd == "all";
  if (all || o.cmd == "hash") bench_hash();
  double disk = 0;
  if (all || o.cmd == "disk" || o.cmd == "persist") disk = disk_bandwidth(o.dir, o.mib);
  if (all || o.cmd == "block") bench_block(o);
  if (all || o.cmd == "persist") bench_persist(o, disk);
  if (all || o.cmd == "dedup") bench_dedup(o);
  return 0;
}
