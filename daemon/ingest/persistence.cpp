#include "ingest/persistence.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>
#include <simdjson.h>

#include "progressista/bookkeeping.hpp"
#include "progressista/codec.hpp"
#include "progressista/snapshot.hpp"

#ifndef PROGRESSISTA_VERSION
#define PROGRESSISTA_VERSION "0"
#endif

namespace progressista::daemon {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

void write_all(int fd, const char* p, std::size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", path);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

namespace dom = simdjson::dom;

bool number(dom::object task, const char* key, double& out) {
  double d = 0;
  if (task[key].get_double().get(d) != simdjson::SUCCESS) return false;
  out = d;
  return true;
}

template <std::size_t N>
bool text(dom::object task, const char* key, FixedString<N>& out, bool truncate) {
  std::string_view s;
  if (task[key].get_string().get(s) != simdjson::SUCCESS) return false;
  if (s.size() > N && !truncate) return false;
  out.assign(utf8_prefix(s, N));
  return true;
}

}  // namespace

void save_tasks(const TaskTable& table, const std::string& path) {
  fmt::memory_buffer out;
  append_snapshot(out, table, nullptr);
  out.resize(out.size() - 1);  // drop the closing brace to add Progressista's two fields
  out.append(std::string_view{",\"version\":\"" PROGRESSISTA_VERSION "\",\"saved_at\":"});
  append_json_number(out, now_seconds());
  out.push_back('}');

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) fail("cannot create", tmp);
  try {
    write_all(fd, out.data(), out.size(), tmp);
    if (::fsync(fd) != 0) fail("cannot fsync", tmp);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename into", path);
  // The rename itself must reach the disk too.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

RestoreResult restore_tasks(Store& store, const std::string& path, double now) {
  RestoreResult result;
  std::error_code fs_error;
  if (!std::filesystem::exists(path, fs_error)) {
    result.missing = true;
    return result;
  }
  dom::parser parser;
  dom::element root;
  dom::object tasks;
  simdjson::padded_string bytes;
  auto error = simdjson::padded_string::load(path).get(bytes);
  if (!error) error = parser.parse(bytes).get(root);
  if (!error) error = root["tasks"].get_object().get(tasks);
  if (error) {
    result.problem = error == simdjson::IO_ERROR ? std::string("cannot read the file")
                                                 : fmt::format("not a Progressista task file ({})",
                                                               simdjson::error_message(error));
    result.set_aside = fmt::format("{}.unreadable-{}", path, static_cast<long long>(now));
    if (::rename(path.c_str(), result.set_aside.c_str()) != 0) {
      result.problem += fmt::format("; renaming it aside failed too: {}", std::strerror(errno));
      result.set_aside.clear();
    }
    return result;
  }

  for (auto [key, value] : tasks) {
    dom::object task;
    if (value.get_object().get(task) != simdjson::SUCCESS || key.empty() ||
        key.size() > limits::kTaskId) {
      ++result.skipped;
      continue;
    }
    TaskRecord rec;
    rec.live = 1;
    rec.task_id.assign(key);
    number(task, "n", rec.n);
    if (number(task, "total", rec.total)) rec.set(kHasTotal);
    if (number(task, "timestamp", rec.timestamp)) rec.set(kHasTimestamp);
    if (!number(task, "created_at", rec.created_at)) rec.created_at = now;
    if (!number(task, "updated_at", rec.updated_at)) rec.updated_at = rec.created_at;
    if (number(task, "done_at", rec.done_at)) rec.set(kHasDoneAt);
    if (number(task, "stale_at", rec.stale_at)) rec.set(kHasStaleAt);
    if (number(task, "rate", rec.rate)) rec.set(kHasRate);
    if (text(task, "desc", rec.desc, true)) rec.set(kHasDesc);
    if (text(task, "unit", rec.unit, false)) rec.set(kHasUnit);
    if (text(task, "project", rec.project, false)) rec.set(kHasProject);
    if (text(task, "phase", rec.phase, false)) rec.set(kHasPhase);
    if (text(task, "message", rec.message, true)) rec.set(kHasMessage);
    if (text(task, "error", rec.error, true)) rec.set(kHasError);
    dom::object meta;
    if (task["meta"].get_object().get(meta) == simdjson::SUCCESS) {
      const std::string minified = simdjson::minify(meta);
      if (minified.size() <= limits::kMeta) {
        rec.meta.assign(minified);
        rec.set(kHasMeta);
      }
    }
    std::string_view status;  // a missing or non-string status restores as "recovered"
    if (task["status"].get_string().get(status) != simdjson::SUCCESS) status = {};
    rec.status = status == "close"   ? Status::kClose
                 : status == "stale" ? Status::kStale
                                     : Status::kRecovered;
    if (rec.status == Status::kClose && !rec.has(kHasDoneAt)) {
      rec.done_at = rec.updated_at;
      rec.set(kHasDoneAt);
    }
    rec.recovered_at = now;
    rec.set(kHasRecovered);
    const Upsert u = store.put(rec);  // follows a resize by another process meanwhile
    if (u == Upsert::kTableFull || u == Upsert::kMoved)
      ++result.skipped;
    else
      ++result.restored;
  }
  return result;
}

}  // namespace progressista::daemon
