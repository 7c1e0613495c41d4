#include "ingest/persistence.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "progressista/bookkeeping.hpp"
#include "progressista/snapshot.hpp"
#include "progressista/task_json.hpp"

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

}  // namespace

void save_tasks(const TaskTable& table, const std::string& path) {
  fmt::memory_buffer out;
  out.push_back('{');
  append_tasks_member(out, table);
  out.append(std::string_view{",\"version\":\"" PROGRESSISTA_VERSION "\",\"saved_at\":"});
  append_json_number(out, now_seconds());
  out.push_back('}');

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) fail("cannot create", tmp);
  // A failed save takes its temporary file with it: on a full filesystem a leftover would
  // keep the filesystem full. errno is kept for the message.
  const auto discard_tmp = [&tmp] {
    const int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
  };
  try {
    write_all(fd, out.data(), out.size(), tmp);
    if (::fsync(fd) != 0) fail("cannot fsync", tmp);
  } catch (...) {
    ::close(fd);
    discard_tmp();
    throw;
  }
  // close() can report a delayed write error (NFS, quota).
  if (::close(fd) != 0) {
    discard_tmp();
    fail("cannot write", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    discard_tmp();
    fail("cannot rename into", path);
  }
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
  result.problem = read_snapshot(path, now, [&](const SavedTask& task) {
    if (task.record == nullptr) {
      ++result.skipped;
      return;
    }
    const Upsert u = store.put(*task.record);  // follows a resize by another process meanwhile
    if (u == Upsert::kTableFull || u == Upsert::kMoved)
      ++result.skipped;
    else
      ++result.restored;
  });
  // Nested progress: the parents' sums come from the restored children, not from the file.
  if (result.restored > 0) store.table().recount_families(now);
  if (!result.problem.empty()) {
    result.set_aside = fmt::format("{}.unreadable-{}", path, static_cast<long long>(now));
    if (::rename(path.c_str(), result.set_aside.c_str()) != 0) {
      result.problem += fmt::format("; renaming it aside failed too: {}", std::strerror(errno));
      result.set_aside.clear();
    }
  }
  return result;
}

}  // namespace progressista::daemon
