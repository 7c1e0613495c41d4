#include "progressista/store.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>

#include "progressista/ingest.hpp"
#include "progressista/snapshot.hpp"
#include "progressista/store.hpp"

struct progressista_store {
  std::unique_ptr<progressista::Store> store;
  std::unique_ptr<progressista::Ingestor> ingestor;
  progressista::PaddedBody body;
  fmt::memory_buffer answer;
};

namespace {
void copy_message(const char* msg, char* err, size_t err_len) {
  if (err == nullptr || err_len == 0) return;
  const size_t n = std::min(std::strlen(msg), err_len - 1);
  std::memcpy(err, msg, n);
  err[n] = '\0';
}
}  // namespace

extern "C" progressista_store* progressista_attach(const char* name, uint32_t capacity, unsigned mode,
                                                   char* err, size_t err_len) {
  try {
    progressista::SegmentOptions opt;
    opt.name = name ? name : "progressista";
    if (capacity != 0) opt.capacity = capacity;
    opt.mode = mode;
    auto handle = std::make_unique<progressista_store>();
    handle->store = progressista::Store::open(opt);
    handle->ingestor = std::make_unique<progressista::Ingestor>(*handle->store);
    return handle.release();
  } catch (const std::exception& e) {
    copy_message(e.what(), err, err_len);
  } catch (...) {
    copy_message("unknown error while attaching", err, err_len);
  }
  return nullptr;
}

extern "C" int progressista_apply(progressista_store* s, const char* body, size_t len, int ndjson,
                                  char* out, size_t out_cap, size_t* out_len) {
  try {
    s->body.assign(std::string_view(body, len));  // the parser needs padding past the end
    const int status = s->ingestor->apply(
        s->body.view(), s->body.capacity(),
        ndjson ? progressista::BodyFormat::kNdjson : progressista::BodyFormat::kJson,
        progressista::now_seconds(), s->answer);
    if (out_len) *out_len = s->answer.size();
    std::memcpy(out, s->answer.data(), std::min(out_cap, s->answer.size()));
    return status;
  } catch (...) {
    static constexpr char kInternal[] = R"({"detail":"internal error"})";
    if (out_len) *out_len = sizeof(kInternal) - 1;
    std::memcpy(out, kInternal, std::min(out_cap, sizeof(kInternal) - 1));
    return 500;
  }
}

extern "C" size_t progressista_snapshot(progressista_store* s, char* buf, size_t cap) {
  try {
    s->answer.clear();
    progressista::append_snapshot(s->answer, s->store->table());
    if (s->answer.size() <= cap) std::memcpy(buf, s->answer.data(), s->answer.size());
    return s->answer.size();
  } catch (...) {
    return 0;
  }
}

extern "C" int progressista_replaced(const progressista_store* s) {
  try {
    return s->store->segment().replaced() ? 1 : 0;
  } catch (...) {
    return 1;
  }
}

extern "C" void progressista_detach(progressista_store* s) { delete s; }
