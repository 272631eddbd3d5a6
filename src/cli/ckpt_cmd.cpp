// tandem ckpt: the checkpoint store from the command line.
//   save STORE --step N PATH...     files or directories, stored under their names
//   restore STORE [--step N] --to DIR [--entry NAME] [--force]
//   ls STORE [--json]
//   verify STORE
//   gc STORE [--keep-last N] [--keep-every K]
//   du STORE [--json]
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/mapped_file.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "store/store.h"

namespace tandem::cli {

namespace {

using store::Store;
namespace fs = std::filesystem;

void ckpt_usage(FILE* out) {
  std::fprintf(out,
               "usage: tandem ckpt <command> STORE [options]\n"
               "\n"
               "  save STORE --step N PATH...       store files or directories (under their names) as step N\n"
               "  restore STORE [--step N] --to DIR restore a step (latest when no --step) into DIR\n"
               "        [--entry NAME]              only this file\n"
               "        [--force]                   overwrite existing files in DIR\n"
               "  ls STORE [--json]                 committed steps with sizes\n"
               "  verify STORE                      check every manifest and chunk\n"
               "  gc STORE [--keep-last N] [--keep-every K]\n"
               "                                    drop old steps (tagged and latest are kept), free chunks\n"
               "  du STORE [--json]                 logical and physical bytes, dedup and compression ratios\n"
               "\n"
               "save options: --tag NAME (repeatable), --chunk-size BYTES, --zstd-level N\n");
}

int fail(const char* what, const Status& st) {
  std::fprintf(stderr, "tandem ckpt %s: %s\n", what, st.to_string().c_str());
  return 1;
}

Result<std::unique_ptr<Store>> open_existing(const std::string& dir) {
  return Store::open(dir, store::StoreOptions{}, Env::posix(), /*create=*/false);
}

// A name safe to join under a restore directory.
bool safe_entry_name(const std::string& name) {
  if (name.empty() || name[0] == '/') return false;
  for (const auto& part : fs::path(name))
    if (part == ".." || part == ".") return false;
  return true;
}

Status collect(const std::string& path, std::vector<std::pair<std::string, std::string>>* out) {
  std::error_code ec;
  const fs::path p(path);
  auto status = fs::symlink_status(p, ec);
  if (ec || !fs::exists(status)) return not_found("'" + path + "' does not exist");
  std::string base = p.filename().string();
  if (base.empty() || base == "." || base == "..") base = fs::absolute(p).lexically_normal().filename().string();
  if (base.empty()) base = fs::absolute(p).lexically_normal().parent_path().filename().string();
  if (fs::is_regular_file(status)) {
    out->emplace_back(base, path);
    return ok_status();
  }
  if (!fs::is_directory(status)) return invalid_argument("'" + path + "' is not a regular file or directory");
  std::vector<std::pair<std::string, std::string>> found;
  for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    found.emplace_back(base + "/" + fs::relative(it->path(), p, ec).generic_string(), it->path().string());
  }
  if (ec) return io_error("listing '" + path + "': " + ec.message());
  std::sort(found.begin(), found.end());
  out->insert(out->end(), found.begin(), found.end());
  return ok_status();
}

int run_save(const std::string& dir, const Args& a) {
  auto step = a.get_int("step", -1);
  if (!step.ok() || *step < 0) {
    std::fprintf(stderr, "tandem ckpt save: --step N (N >= 0) is required\n");
    return 2;
  }
  if (a.positional().size() < 2) {
    std::fprintf(stderr, "tandem ckpt save: give at least one PATH to store\n");
    return 2;
  }
  store::StoreOptions opts;
  auto chunk = a.get_int("chunk-size", static_cast<int64_t>(opts.chunk_bytes));
  auto level = a.get_int("zstd-level", opts.zstd_level);
  if (!chunk.ok() || !level.ok() || *chunk <= 0 || *level < 0 || *level > 22) {
    std::fprintf(stderr, "tandem ckpt save: --chunk-size and --zstd-level (0..22) take non-negative integers\n");
    return 2;
  }
  opts.chunk_bytes = static_cast<uint64_t>(*chunk);
  opts.zstd_level = static_cast<int>(*level);
  std::vector<std::pair<std::string, std::string>> files;  // entry name, path
  for (size_t i = 1; i < a.positional().size(); ++i) {
    Status st = collect(a.positional()[i], &files);
    if (!st.ok()) return fail("save", st);
  }
  std::vector<MappedFile> maps;
  store::SaveRequest req;
  req.step = *step;
  req.tags = a.get_all("tag");
  for (const auto& [name, path] : files) {
    auto m = MappedFile::open(path);
    if (!m.ok()) return fail("save", m.status());
    maps.push_back(std::move(m.value()));
    store::SaveItem it;
    it.name = name;
    it.data = maps.back().data();
    it.bytes = maps.back().size();
    req.items.push_back(it);
  }
  auto s = Store::open(dir, opts);
  if (!s.ok()) return fail("save", s.status());
  auto r = (*s)->save(req);
  if (!r.ok()) return fail("save", r.status());
  std::printf("step %lld: %zu files, %llu bytes, %llu new chunks of %llu, %llu bytes written\n",
              static_cast<long long>(r->step), req.items.size(), static_cast<unsigned long long>(r->logical_bytes),
              static_cast<unsigned long long>(r->new_chunks), static_cast<unsigned long long>(r->chunks),
              static_cast<unsigned long long>(r->chunk_file_bytes + r->manifest_bytes));
  return 0;
}

int run_restore(const std::string& dir, const Args& a) {
  auto to = a.get("to");
  if (!to || to->empty()) {
    std::fprintf(stderr, "tandem ckpt restore: --to DIR is required\n");
    return 2;
  }
  auto step_arg = a.get_int("step", -1);
  if (!step_arg.ok()) {
    std::fprintf(stderr, "tandem ckpt restore: %s\n", step_arg.status().message().c_str());
    return 2;
  }
  auto s = open_existing(dir);
  if (!s.ok()) return fail("restore", s.status());
  int64_t step = *step_arg;
  if (!a.has("step")) {
    auto l = (*s)->latest_step();
    if (!l.ok()) return fail("restore", l.status());
    step = *l;
  }
  auto m = (*s)->read_manifest(step);
  if (!m.ok()) return fail("restore", m.status());
  std::vector<const store::Entry*> entries;
  if (auto only = a.get("entry")) {
    const store::Entry* e = m->find(*only);
    if (e == nullptr) return fail("restore", not_found("step " + std::to_string(step) + " has no entry '" + *only + "'"));
    entries.push_back(e);
  } else {
    for (const auto& e : m->entries) entries.push_back(&e);
  }
  const bool force = a.has("force");
  size_t n = 0;
  uint64_t bytes = 0;
  for (const auto* e : entries) {
    if (!safe_entry_name(e->name))
      return fail("restore", data_loss("entry name '" + e->name + "' would escape the target directory"));
    const fs::path target = fs::path(*to) / e->name;
    std::error_code ec;
    if (fs::exists(target, ec) && !force)
      return fail("restore", invalid_argument("'" + target.string() + "' exists (use --force to overwrite)"));
    fs::create_directories(target.parent_path(), ec);
    if (ec) return fail("restore", io_error("cannot create '" + target.parent_path().string() + "': " + ec.message()));
    std::string data(e->bytes, '\0');
    Status st = (*s)->read_entry(*e, reinterpret_cast<uint8_t*>(data.data()));
    if (!st.ok()) return fail("restore", st);
    st = write_file_atomic(Env::posix(), target.string(), data);
    if (!st.ok()) return fail("restore", st);
    ++n;
    bytes += e->bytes;
  }
  std::printf("restored step %lld: %zu entries, %llu bytes into %s\n", static_cast<long long>(step), n,
              static_cast<unsigned long long>(bytes), to->c_str());
  return 0;
}

int run_ls(const std::string& dir, const Args& a) {
  auto s = open_existing(dir);
  if (!s.ok()) return fail("ls", s.status());
  auto list = (*s)->list();
  if (!list.ok()) return fail("ls", list.status());
  auto latest = (*s)->latest_step();
  if (a.has("json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& i : *list)
      out.push_back({{"step", i.step},
                     {"time_us", i.time_us},
                     {"entries", i.entries},
                     {"logical_bytes", i.logical_bytes},
                     {"written_bytes", i.written_bytes},
                     {"tags", i.tags},
                     {"latest", latest.ok() && *latest == i.step}});
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%12s %8s %16s %16s  %s\n", "step", "entries", "logical_bytes", "written_bytes", "tags");
  for (const auto& i : *list) {
    std::string tags;
    for (const auto& t : i.tags) tags += (tags.empty() ? "" : ",") + t;
    if (latest.ok() && *latest == i.step) tags += tags.empty() ? "(latest)" : " (latest)";
    std::printf("%12lld %8zu %16llu %16llu  %s\n", static_cast<long long>(i.step), i.entries,
                static_cast<unsigned long long>(i.logical_bytes), static_cast<unsigned long long>(i.written_bytes),
                tags.c_str());
  }
  return 0;
}

int run_verify(const std::string& dir) {
  auto s = open_existing(dir);
  if (!s.ok()) return fail("verify", s.status());
  auto r = (*s)->verify();
  for (const auto& p : r.problems) std::fprintf(stderr, "problem: %s\n", p.c_str());
  if (!r.ok()) {
    std::fprintf(stderr, "tandem ckpt verify: %zu problems in %s\n", r.problems.size(), dir.c_str());
    return 1;
  }
  std::printf("ok: %d manifests, %d chunks verified\n", r.manifests, r.chunks);
  return 0;
}

int run_gc(const std::string& dir, const Args& a) {
  auto keep_last = a.get_int("keep-last", 0);
  auto keep_every = a.get_int("keep-every", 0);
  if (!keep_last.ok() || !keep_every.ok() || *keep_last < 0 || *keep_every < 0) {
    std::fprintf(stderr, "tandem ckpt gc: --keep-last and --keep-every take non-negative integers\n");
    return 2;
  }
  auto s = open_existing(dir);
  if (!s.ok()) return fail("gc", s.status());
  store::RetentionPolicy p;
  p.keep_last = static_cast<int>(*keep_last);
  p.keep_every = static_cast<int>(*keep_every);
  auto removed = (*s)->apply_retention(p);
  if (!removed.ok()) return fail("gc", removed.status());
  auto r = (*s)->gc();
  if (!r.ok()) return fail("gc", r.status());
  std::printf("removed %zu steps, %d chunks (%llu bytes; %d packs deleted, %d rewritten), %d temporary files\n",
              removed->size(), r->chunks_removed, static_cast<unsigned long long>(r->bytes_freed), r->packs_removed,
              r->packs_compacted, r->tmp_removed);
  if (r->packs_unreadable > 0)
    std::printf("kept %d packs whose index is damaged (see 'tandem ckpt verify')\n", r->packs_unreadable);
  return 0;
}

int run_du(const std::string& dir, const Args& a) {
  auto s = open_existing(dir);
  if (!s.ok()) return fail("du", s.status());
  auto r = (*s)->du();
  if (!r.ok()) return fail("du", r.status());
  const uint64_t physical = r->chunk_file_bytes + r->manifest_bytes;
  if (a.has("json")) {
    nlohmann::json j = {{"steps", r->steps},
                        {"logical_bytes", r->logical_bytes},
                        {"unique_bytes", r->unique_bytes},
                        {"chunk_file_bytes", r->chunk_file_bytes},
                        {"manifest_bytes", r->manifest_bytes},
                        {"physical_bytes", physical},
                        {"chunk_files", r->chunk_files},
                        {"pack_files", r->pack_files},
                        {"dedup_ratio", r->dedup_ratio()},
                        {"compression_ratio", r->compression_ratio()}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("steps:             %d\nlogical bytes:     %llu\nunique bytes:      %llu\nphysical bytes:    %llu "
              "(%llu chunks in %llu bytes of %llu packs, manifests %llu)\ndedup ratio:       %.2f\ncompression ratio: %.2f\n",
              r->steps, static_cast<unsigned long long>(r->logical_bytes),
              static_cast<unsigned long long>(r->unique_bytes), static_cast<unsigned long long>(physical),
              static_cast<unsigned long long>(r->chunk_files), static_cast<unsigned long long>(r->chunk_file_bytes),
              static_cast<unsigned long long>(r->pack_files), static_cast<unsigned long long>(r->manifest_bytes), r->dedup_ratio(), r->compression_ratio());
  return 0;
}

}  // namespace

int run_ckpt(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0] == "-h" || argv[0] == "--help" || argv[0] == "help") {
    ckpt_usage(argv.empty() ? stderr : stdout);
    return argv.empty() ? 2 : 0;
  }
  const std::string sub = argv[0];
  const std::vector<FlagSpec> flags = {
      {"step", "", true, ""},        {"to", "", true, ""},       {"entry", "", true, ""},
      {"force", "", false, ""},      {"json", "", false, ""},    {"tag", "", true, ""},
      {"chunk-size", "", true, ""},  {"zstd-level", "", true, ""}, {"keep-last", "", true, ""},
      {"keep-every", "", true, ""},  {"help", "h", false, ""}};
  auto parsed = Args::parse(std::vector<std::string>(argv.begin() + 1, argv.end()), flags);
  if (!parsed.ok()) {
    std::fprintf(stderr, "tandem ckpt %s: %s\n", sub.c_str(), parsed.status().message().c_str());
    return 2;
  }
  const Args& a = *parsed;
  if (a.has("help")) {
    ckpt_usage(stdout);
    return 0;
  }
  if (a.positional().empty()) {
    std::fprintf(stderr, "tandem ckpt %s: give the STORE directory\n\n", sub.c_str());
    ckpt_usage(stderr);
    return 2;
  }
  const std::string dir = a.positional()[0];
  if (sub != "save" && a.positional().size() > 1) {
    std::fprintf(stderr, "tandem ckpt %s: unexpected argument '%s'\n", sub.c_str(), a.positional()[1].c_str());
    return 2;
  }
  if (sub == "save") return run_save(dir, a);
  if (sub == "restore") return run_restore(dir, a);
  if (sub == "ls") return run_ls(dir, a);
  if (sub == "verify") return run_verify(dir);
  if (sub == "gc") return run_gc(dir, a);
  if (sub == "du") return run_du(dir, a);
  std::fprintf(stderr, "tandem ckpt: unknown command '%s'\n\n", sub.c_str());
  ckpt_usage(stderr);
  return 2;
}

}  // namespace tandem::cli
