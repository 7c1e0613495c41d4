#include "progressista/store.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "progressista/event_parser.hpp"
#include "progressista/ingest.hpp"
#include "progressista/segment.hpp"
#include "progressista/store.hpp"
#include "progressista/task_query.hpp"
#include "progressista/tokens.hpp"

struct progressista_store {
  std::unique_ptr<progressista::Store> store;
  std::unique_ptr<progressista::Ingestor> ingestor;
  progressista::PaddedBody body;
  fmt::memory_buffer answer;

  ~progressista_store() {
    if (store) store->leave();
  }
  void beat() noexcept { store->beat(); }
};

struct progressista_tokens {
  progressista::TokenSet set;
};

namespace {

constexpr std::string_view kInternal = R"({"detail":"internal error"})";

void copy_message(const char* msg, char* err, size_t err_len) {
  if (err == nullptr || err_len == 0) return;
  const size_t n = std::min(std::strlen(msg), err_len - 1);
  std::memcpy(err, msg, n);
  err[n] = '\0';
}

std::string_view view(const char* p, size_t n) {
  return p ? std::string_view(p, n) : std::string_view{};
}

// Points the caller at the handle's answer buffer.
void expose(progressista_store* s, const char** answer, size_t* answer_len) {
  *answer = s->answer.data();
  *answer_len = s->answer.size();
}

int internal_error(const char** answer, size_t* answer_len) {
  *answer = kInternal.data();
  *answer_len = kInternal.size();
  return 500;
}

}  // namespace

extern "C" uint32_t progressista_max_capacity(void) {
  return progressista::kMaxCapacity;
}

extern "C" int progressista_segment_name_check(const char* name, size_t len, char* err,
                                               size_t err_len) {
  try {
    const std::string problem = progressista::segment_name_problem(view(name, len));
    if (problem.empty()) return 0;
    copy_message(problem.c_str(), err, err_len);
  } catch (...) {
    copy_message("out of memory while checking the segment name", err, err_len);
  }
  return -1;
}

extern "C" int progressista_segment_mode(const char* text, size_t len) {
  const std::optional<unsigned> mode = progressista::parse_segment_mode(view(text, len));
  return mode ? static_cast<int>(*mode) : -1;
}

extern "C" const char* progressista_segment_modes(void) {
  return progressista::kSegmentModes.data();  // a string literal: NUL-terminated
}

extern "C" progressista_store* progressista_attach(const char* name, uint32_t capacity,
                                                   unsigned mode, char* err, size_t err_len) {
  try {
    progressista::SegmentOptions opt;
    opt.name = name ? name : "progressista";
    if (capacity != 0) opt.capacity = capacity;
    opt.mode = mode;
    auto handle = std::make_unique<progressista_store>();
    handle->store = progressista::Store::open(opt);
    handle->ingestor = std::make_unique<progressista::Ingestor>(*handle->store);
    handle->store->enroll(progressista::Role::kNginx);
    handle->beat();
    return handle.release();
  } catch (const std::exception& e) {
    copy_message(e.what(), err, err_len);
  } catch (...) {
    copy_message("unknown error while attaching", err, err_len);
  }
  return nullptr;
}

extern "C" void progressista_heartbeat(progressista_store* s) {
  s->beat();  // noexcept: atomics in the segment
}

extern "C" int progressista_post(progressista_store* s, const progressista_tokens* tokens,
                                 const progressista_request* request, const char* body, size_t len,
                                 const char** answer, size_t* answer_len) {
  try {
    s->body.assign(view(body, len));  // the parser needs padding past the end
    const progressista::PostRequest post{
        view(request->content_type, request->content_type_len),
        progressista::Access::of(tokens ? &tokens->set : nullptr,
                                 view(request->authorization, request->authorization_len),
                                 view(request->query, request->query_len))};
    const int status = s->ingestor->post(post, s->body.view(), s->body.capacity(),
                                         progressista::now_seconds(), s->answer);
    expose(s, answer, answer_len);
    return status;
  } catch (...) {
    return internal_error(answer, answer_len);
  }
}

extern "C" int progressista_tasks(progressista_store* s, const progressista_tokens* tokens,
                                  const progressista_request* request, const char** answer,
                                  size_t* answer_len) {
  try {
    const std::string_view query = view(request->query, request->query_len);
    if (!progressista::Access::of(tokens ? &tokens->set : nullptr,
                                  view(request->authorization, request->authorization_len), query)
             .open()) {
      s->store->counters().add(progressista::Counter::kRejectedAuth);
      s->answer.clear();
      progressista::append_detail(s->answer, "Invalid API token");
      expose(s, answer, answer_len);
      return 401;
    }
    const int status = progressista::answer_task_list(*s->store, query, s->answer);
    expose(s, answer, answer_len);
    return status;
  } catch (...) {
    return internal_error(answer, answer_len);
  }
}

extern "C" int progressista_refuse(progressista_store* s, int status, uint64_t limit,
                                   const char** answer, size_t* answer_len) {
  try {
    s->answer.clear();
    switch (status) {
      case 405:
        s->store->counters().add(progressista::Counter::kRejectedMethod);
        progressista::append_detail(s->answer, "Method Not Allowed");
        break;
      case 413:
        s->store->counters().add(progressista::Counter::kRejectedTooLarge);
        progressista::append_detail(s->answer, progressista::body_too_large_detail(limit));
        break;
      default:
        return internal_error(answer, answer_len);
    }
    expose(s, answer, answer_len);
    return status;
  } catch (...) {
    return internal_error(answer, answer_len);
  }
}

extern "C" int progressista_replaced(const progressista_store* s) {
  try {
    return s->store->segment().replaced() ? 1 : 0;
  } catch (...) {
    return 1;
  }
}

extern "C" uint64_t progressista_generation(const progressista_store* s) {
  return s->store->segment().generation();
}

extern "C" void progressista_detach(progressista_store* s) {
  try {
    delete s;
  } catch (...) {
    // A destructor that throws leaves nothing to recover; the mapping goes with the process.
  }
}

extern "C" size_t progressista_detail_json(const char* text, size_t len, char* out,
                                           size_t out_cap) {
  try {
    fmt::memory_buffer detail;
    progressista::append_detail(detail, view(text, len));
    if (detail.size() <= out_cap) std::memcpy(out, detail.data(), detail.size());
    return detail.size();
  } catch (...) {
    return 0;
  }
}

extern "C" progressista_tokens* progressista_tokens_new(void) {
  try {
    return new progressista_tokens();
  } catch (...) {
    return nullptr;
  }
}

extern "C" int progressista_tokens_add(progressista_tokens* t, const char* token, size_t len) {
  try {
    t->set.add(view(token, len));
    return 0;
  } catch (...) {
    return -1;
  }
}

extern "C" int progressista_tokens_load(progressista_tokens* t, const char* path, char* err,
                                        size_t err_len) {
  try {
    t->set.add(progressista::TokenSet::from_file(path ? path : ""));
    return 0;
  } catch (const std::exception& e) {
    copy_message(e.what(), err, err_len);
  } catch (...) {
    copy_message("unknown error while reading the tokens file", err, err_len);
  }
  return -1;
}

extern "C" size_t progressista_tokens_count(const progressista_tokens* t) {
  return t->set.size();
}

extern "C" void progressista_tokens_free(progressista_tokens* t) {
  delete t;
}
