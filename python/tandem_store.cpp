// _tandem_store: the checkpoint store for Python (pybind11). Thin: the
// Checkpointer and Store of src/store with buffers in and out. Tensors are
// passed as objects with the buffer protocol (numpy views of CPU tensors);
// save() copies them once, into the staging buffer, with the GIL released.
// Store errors become RuntimeError / ValueError; no C++ exception crosses.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>

#include "store/checkpointer.h"
#include "store/store.h"

namespace py = pybind11;
using namespace tandem;
using namespace tandem::store;

namespace {

[[noreturn]] void raise(const Status& st) {
  if (st.code() == StatusCode::kInvalidArgument) throw py::value_error(st.to_string());
  if (st.code() == StatusCode::kNotFound) throw py::key_error(st.to_string());
  throw std::runtime_error(st.to_string());
}

template <typename T>
T unwrap(Result<T> r) {
  if (!r.ok()) raise(r.status());
  return std::move(r).value();
}

void check(const Status& st) {
  if (!st.ok()) raise(st);
}

StoreOptions store_options(uint64_t chunk_bytes, int zstd_level, bool shuffle, bool delta, int keyframe_interval,
                           int threads, int worker_nice = 0, bool direct_io = true,
                           const std::string& new_store_hash = "blake3") {
  StoreOptions o;
  if (new_store_hash == "sha256") o.new_store_hash = HashKind::kSha256;
  else if (new_store_hash != "blake3") throw py::value_error("hash must be 'blake3' or 'sha256'");
  o.chunk_bytes = chunk_bytes;
  o.zstd_level = zstd_level;
  o.shuffle = shuffle;
  o.delta = delta;
  o.keyframe_interval = keyframe_interval;
  o.threads = threads;
  o.worker_nice = worker_nice;
  o.direct_io = direct_io;
  return o;
}

// items: list of (name, kind, dtype, shape, buffer, elem_size).
struct Staged {
  SaveRequest req;
  std::vector<py::buffer_info> infos;
};

Staged stage(int64_t step, const py::list& items, const std::vector<std::string>& tags,
             const std::map<std::string, std::string>& metadata) {
  Staged s;
  s.req.step = step;
  s.req.tags = tags;
  s.req.metadata = metadata;
  s.infos.reserve(items.size());
  for (const auto& obj : items) {
    auto t = obj.cast<py::tuple>();
    if (t.size() != 6) throw py::value_error("item must be (name, kind, dtype, shape, buffer, elem_size)");
    SaveItem it;
    it.name = t[0].cast<std::string>();
    const std::string kind = t[1].cast<std::string>();
    if (kind == "tensor") it.kind = EntryKind::kTensor;
    else if (kind != "blob") throw py::value_error("item kind must be 'tensor' or 'blob'");
    it.dtype = t[2].cast<std::string>();
    it.shape = t[3].cast<std::vector<int64_t>>();
    s.infos.push_back(t[4].cast<py::buffer>().request());
    const py::buffer_info& bi = s.infos.back();
    // C-contiguous only: the bytes are copied as one run.
    py::ssize_t expect = bi.itemsize;
    for (py::ssize_t d = bi.ndim - 1; d >= 0; --d) {
      if (bi.shape[d] != 1 && bi.strides[d] != expect)
        throw py::value_error("item '" + it.name + "': buffer is not C-contiguous");
      expect *= bi.shape[d];
    }
    it.data = static_cast<const uint8_t*>(bi.ptr);
    it.bytes = static_cast<uint64_t>(bi.size * bi.itemsize);
    it.elem_size = t[5].cast<int>();
    s.req.items.push_back(std::move(it));
  }
  return s;
}

py::dict manifest_dict(const Manifest& m) {
  py::dict d;
  d["step"] = m.step;
  d["time_us"] = m.time_us;
  d["tags"] = m.tags;
  d["metadata"] = m.metadata;
  py::list entries;
  for (const auto& e : m.entries) {
    py::dict de;
    de["name"] = e.name;
    de["kind"] = e.kind == EntryKind::kTensor ? "tensor" : "blob";
    de["dtype"] = e.dtype;
    de["shape"] = e.shape;
    de["bytes"] = e.bytes;
    entries.append(de);
  }
  d["entries"] = entries;
  return d;
}

class PyReader {
 public:
  explicit PyReader(const std::string& dir) : store_(unwrap(Store::open(dir, {}, Env::posix(), false))) {}
  py::object latest_step() {
    auto r = store_->latest_step();
    if (r.status().code() == StatusCode::kNotFound) return py::none();
    return py::int_(unwrap(std::move(r)));
  }
  std::vector<int64_t> steps() { return unwrap(store_->steps()); }
  py::dict manifest(int64_t step) { return manifest_dict(load(step)); }
  // Fills a writable buffer (e.g. a numpy view of a fresh tensor) with one
  // entry, verified; reads no other entry.
  void read_into(int64_t step, const std::string& name, py::buffer out) {
    const Manifest& m = load(step);
    const Entry* e = m.find(name);
    if (e == nullptr) throw py::key_error("step " + std::to_string(step) + " has no entry '" + name + "'");
    py::buffer_info bi = out.request(true);
    if (static_cast<uint64_t>(bi.size * bi.itemsize) != e->bytes)
      throw py::value_error("entry '" + name + "' has " + std::to_string(e->bytes) + " bytes; the buffer has " +
                            std::to_string(bi.size * bi.itemsize));
    Status st;
    {
      py::gil_scoped_release nogil;
      st = store_->read_entry(*e, static_cast<uint8_t*>(bi.ptr));
    }
    check(st);
  }
  py::bytes read(int64_t step, const std::string& name) {
    const Manifest& m = load(step);
    std::string data;
    {
      py::gil_scoped_release nogil;
      auto r = store_->read_entry(m, name);
      if (!r.ok()) {
        py::gil_scoped_acquire gil;
        raise(r.status());
      }
      data = std::move(r).value();
    }
    return py::bytes(data);
  }
  py::dict verify() {
    auto r = store_->verify();
    py::dict d;
    d["ok"] = r.ok();
    d["manifests"] = r.manifests;
    d["chunks"] = r.chunks;
    d["problems"] = r.problems;
    return d;
  }

 private:
  const Manifest& load(int64_t step) {
    if (!cached_ || cached_->step != step) cached_ = std::make_unique<Manifest>(unwrap(store_->read_manifest(step)));
    return *cached_;
  }
  std::unique_ptr<Store> store_;
  std::unique_ptr<Manifest> cached_;
};

class PyCheckpointer {
 public:
  PyCheckpointer(const std::string& dir, uint64_t chunk_bytes, int zstd_level, bool shuffle, bool delta,
                 int keyframe_interval, int threads, int slots, const std::string& policy, int gc_every,
                 int keep_last, int keep_every, int nice, bool direct_io, const std::string& hash) {
    CheckpointerOptions co;
    co.slots = slots;
    if (policy == "coalesce") co.policy = BackpressurePolicy::kCoalesce;
    else if (policy != "block") throw py::value_error("policy must be 'block' or 'coalesce'");
    co.gc_every = gc_every;
    co.retention.keep_last = keep_last;
    co.retention.keep_every = keep_every;
    co.background_nice = nice;
    auto store = unwrap(Store::open(dir, store_options(chunk_bytes, zstd_level, shuffle, delta, keyframe_interval,
                                                       threads, nice, direct_io, hash)));
    ck_ = std::make_unique<Checkpointer>(std::move(store), co);
  }
  void save(int64_t step, const py::list& items, const std::vector<std::string>& tags,
            const std::map<std::string, std::string>& metadata) {
    Staged s = stage(step, items, tags, metadata);
    Status st;
    {
      py::gil_scoped_release nogil;
      st = live().save(s.req);
    }
    check(st);
  }
  void flush() {
    Status st;
    {
      py::gil_scoped_release nogil;
      st = live().flush();
    }
    check(st);
  }
  int64_t durable_step() { return live().durable_step(); }
  py::dict stats() {
    CheckpointerStats s = live().stats();
    py::dict d;
    d["saves"] = s.saves;
    d["persisted"] = s.persisted;
    d["coalesced"] = s.coalesced;
    d["failed"] = s.failed;
    d["logical_bytes"] = s.logical_bytes;
    d["chunk_file_bytes"] = s.chunk_file_bytes;
    d["manifest_bytes"] = s.manifest_bytes;
    d["persist_seconds"] = s.persist_seconds;
    d["blocked_seconds"] = s.blocked_seconds;
    d["gc_runs"] = s.gc_runs;
    d["gc_bytes_freed"] = s.gc_bytes_freed;
    return d;
  }
  void close() {
    if (!ck_) return;
    Status st;
    {
      py::gil_scoped_release nogil;
      st = ck_->flush();
      ck_.reset();
    }
    check(st);
  }

 private:
  Checkpointer& live() {
    if (!ck_) throw std::runtime_error("checkpointer is closed");
    return *ck_;
  }
  std::unique_ptr<Checkpointer> ck_;
};

}  // namespace

PYBIND11_MODULE(_tandem_store, m) {
  m.doc() = "tandem checkpoint store (see python/tandem_ckpt.py for the PyTorch helpers)";
  py::class_<PyCheckpointer>(m, "Checkpointer")
      .def(py::init<const std::string&, uint64_t, int, bool, bool, int, int, int, const std::string&, int, int, int,
                    int, bool, const std::string&>(),
           py::arg("path"), py::arg("chunk_bytes") = 1 << 20, py::arg("zstd_level") = 1, py::arg("shuffle") = true,
           py::arg("delta") = false, py::arg("keyframe_interval") = 8, py::arg("threads") = 2, py::arg("slots") = 2,
           py::arg("policy") = "block", py::arg("gc_every") = 0, py::arg("keep_last") = 0,
           py::arg("keep_every") = 0, py::arg("nice") = 10, py::arg("direct_io") = true, py::arg("hash") = "blake3")
      .def("save", &PyCheckpointer::save, py::arg("step"), py::arg("items"),
           py::arg("tags") = std::vector<std::string>{}, py::arg("metadata") = std::map<std::string, std::string>{},
           "Copies the items (name, kind, dtype, shape, buffer, elem_size) into staging and returns.")
      .def("flush", &PyCheckpointer::flush)
      .def("durable_step", &PyCheckpointer::durable_step)
      .def("stats", &PyCheckpointer::stats)
      .def("close", &PyCheckpointer::close);
  py::class_<PyReader>(m, "Reader")
      .def(py::init<const std::string&>(), py::arg("path"))
      .def("latest_step", &PyReader::latest_step)
      .def("steps", &PyReader::steps)
      .def("manifest", &PyReader::manifest)
      .def("read_into", &PyReader::read_into)
      .def("read", &PyReader::read)
      .def("verify", &PyReader::verify);
}
