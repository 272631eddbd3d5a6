#include "store/checkpointer.h"

#include <chrono>
#include <cstring>

#include "base/stream_copy.h"

namespace tandem::store {

Checkpointer::Checkpointer(std::unique_ptr<Store> store, const CheckpointerOptions& opts)
    : store_(std::move(store)), opts_(opts), slots_(static_cast<size_t>(std::max(1, opts.slots))) {
  TANDEM_CHECK(store_ != nullptr, "Checkpointer needs a store");
  worker_ = std::thread([this] { run(); });
}

Checkpointer::~Checkpointer() {
  (void)flush();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

Status Checkpointer::take_error_locked() {
  Status e = error_;
  error_ = Status();
  return e;
}

Status Checkpointer::save(const SaveRequest& req) {
  uint64_t total = 0;
  for (const auto& it : req.items) total += it.bytes;
  if (opts_.max_slot_bytes > 0 && total > opts_.max_slot_bytes)
    return {StatusCode::kResourceExhausted, "state of " + std::to_string(total) + " bytes exceeds the " +
                                                std::to_string(opts_.max_slot_bytes) + "-byte staging buffer"};
  Slot* slot = nullptr;
  {
    std::unique_lock<std::mutex> lock(mu_);
    Status pending = take_error_locked();
    if (!pending.ok()) return pending;
    const auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      for (auto& s : slots_)
        if (s.state == SlotState::kFree) {
          slot = &s;
          break;
        }
      if (slot == nullptr && opts_.policy == BackpressurePolicy::kCoalesce) {
        for (auto& s : slots_)
          if (s.state == SlotState::kQueued && (slot == nullptr || s.seq > slot->seq)) slot = &s;
        if (slot != nullptr) stats_.coalesced++;
      }
      if (slot != nullptr) break;
      cv_.wait(lock);
    }
    stats_.blocked_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    slot->state = SlotState::kFilling;
  }
  if (slot->capacity < total) {
    slot->buf.reset(new uint8_t[total]);
    slot->capacity = total;
  }
  SaveRequest& staged = slot->req;
  staged.step = req.step;
  staged.tags = req.tags;
  staged.metadata = req.metadata;
  staged.items.resize(req.items.size());
  uint64_t off = 0;
  for (size_t i = 0; i < req.items.size(); ++i) {
    const SaveItem& src = req.items[i];
    SaveItem& dst = staged.items[i];
    dst.name = src.name;
    dst.kind = src.kind;
    dst.dtype = src.dtype;
    dst.shape = src.shape;
    dst.elem_size = src.elem_size;
    dst.bytes = src.bytes;
    dst.data = slot->buf.get() + off;
    if (src.bytes > 0) {
      // Streaming stores above 256 KiB: this core does not read the staging
      // buffer again (the background thread does, after the fence below).
      stream_copy(slot->buf.get() + off, src.data, src.bytes, size_t{256} << 10);
    }
    off += src.bytes;
  }
  store_fence();  // the streaming stores, before the background thread may read the slot
  {
    std::lock_guard<std::mutex> lock(mu_);
    slot->seq = next_seq_++;
    slot->state = SlotState::kQueued;
    stats_.saves++;
  }
  cv_.notify_all();
  return ok_status();
}

Status Checkpointer::flush() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] {
    for (const auto& s : slots_)
      if (s.state == SlotState::kQueued || s.state == SlotState::kPersisting) return false;
    return !gc_running_;
  });
  return take_error_locked();
}

int64_t Checkpointer::durable_step() const {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_step_;
}

CheckpointerStats Checkpointer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Checkpointer::run() {
  lower_this_thread_priority(opts_.background_nice);
  for (;;) {
    Slot* slot = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        for (auto& s : slots_)
          if (s.state == SlotState::kQueued && (slot == nullptr || s.seq < slot->seq)) slot = &s;
        if (slot != nullptr || stop_) break;
        cv_.wait(lock);
      }
      if (slot == nullptr) return;
      slot->state = SlotState::kPersisting;
    }
    auto result = store_->save(slot->req);
    bool run_gc = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (result.ok()) {
        durable_step_ = std::max(durable_step_, result->step);
        stats_.persisted++;
        stats_.logical_bytes += result->logical_bytes;
        stats_.chunk_file_bytes += result->chunk_file_bytes;
        stats_.manifest_bytes += result->manifest_bytes;
        stats_.persist_seconds += result->seconds;
        stats_.last = *result;
        run_gc = opts_.gc_every > 0 && stats_.persisted % opts_.gc_every == 0;
      } else {
        stats_.failed++;
        if (error_.ok()) error_ = result.status();
      }
      // The staged copy is no longer needed: the next save may fill it while gc runs.
      slot->state = SlotState::kFree;
      if (run_gc) gc_running_ = true;
    }
    cv_.notify_all();
    if (!run_gc) continue;
    // Retention and gc in this thread: a queued save waits for them, the
    // caller's save() does not (unless every buffer is taken).
    uint64_t freed = 0;
    auto removed = store_->apply_retention(opts_.retention);
    Status gc_status = removed.status();
    if (removed.ok()) {
      auto g = store_->gc();
      gc_status = g.status();
      if (g.ok()) freed = g->bytes_freed;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.gc_runs++;
      stats_.gc_bytes_freed += freed;
      if (!gc_status.ok() && error_.ok()) error_ = gc_status.with_context("background gc");
      gc_running_ = false;
    }
    cv_.notify_all();
  }
}

}  // namespace tandem::store
