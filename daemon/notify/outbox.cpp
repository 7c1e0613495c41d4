#include "notify/outbox.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>
#include <simdjson.h>

#include "progressista/task_json.hpp"

namespace progressista::daemon::notify {

namespace {

// The file descriptor closes itself.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", path);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

double backoff_seconds(std::uint32_t attempts) noexcept {
  return std::min(600.0, std::ldexp(1.0, static_cast<int>(std::min<std::uint32_t>(attempts, 20))));
}

std::string Outbox::load() {
  if (path_.empty()) return {};  // memory only: what it holds stays
  messages_.clear();
  dirty_ = false;
  std::ifstream in(path_, std::ios::binary);
  if (!in) return {};  // nothing saved yet
  simdjson::ondemand::parser parser;
  std::string line;
  std::size_t bad = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    simdjson::padded_string padded(line);
    simdjson::ondemand::document doc;
    Message m;
    std::string_view s;
    double d = 0;
    std::uint64_t u = 0;
    bool ok = !parser.iterate(padded).get(doc);
    const auto str = [&](const char* key, std::string& dest) {
      if (ok && !doc[key].get_string().get(s)) {
        dest.assign(s);
      } else {
        ok = false;
      }
    };
    const auto num = [&](const char* key, double& dest) {
      if (ok && !doc[key].get_double().get(d)) {
        dest = d;
      } else {
        ok = false;
      }
    };
    if (ok && !doc["id"].get_uint64().get(u)) {
      m.id = u;
    } else {
      ok = false;
    }
    str("rule", m.rule);
    str("key", m.key);
    str("title", m.title);
    str("body", m.body);
    num("created", m.created);
    num("next", m.next_attempt);
    if (ok && !doc["attempts"].get_uint64().get(u)) {
      m.attempts = static_cast<std::uint32_t>(std::min<std::uint64_t>(u, 1u << 20));
    } else {
      ok = false;
    }
    if (!ok || m.id == 0) {
      ++bad;
      continue;
    }
    next_id_ = std::max(next_id_, m.id + 1);
    messages_.push_back(std::move(m));
  }
  std::sort(messages_.begin(), messages_.end(),
            [](const Message& a, const Message& b) { return a.id < b.id; });
  while (messages_.size() > max_) messages_.pop_front();
  if (bad > 0) {
    dirty_ = true;
    return fmt::format("{} damaged line(s) in {} skipped", bad, path_);
  }
  return {};
}

void Outbox::push(Message m, std::string& dropped) {
  dropped.clear();
  if (messages_.size() >= max_) {
    dropped = messages_.front().rule;
    messages_.pop_front();
  }
  m.id = next_id_++;
  messages_.push_back(std::move(m));
  dirty_ = true;
}

Message* Outbox::due(double now) {
  Message* best = nullptr;
  for (Message& m : messages_)
    if (m.next_attempt <= now && (best == nullptr || m.next_attempt < best->next_attempt))
      best = &m;
  return best;
}

double Outbox::next_due() const {
  double t = std::numeric_limits<double>::infinity();
  for (const Message& m : messages_) t = std::min(t, m.next_attempt);
  return t;
}

Message* Outbox::find(std::uint64_t id) {
  for (Message& m : messages_)
    if (m.id == id) return &m;
  return nullptr;
}

void Outbox::remove(std::uint64_t id) {
  const auto it = std::find_if(messages_.begin(), messages_.end(),
                               [id](const Message& m) { return m.id == id; });
  if (it == messages_.end()) return;
  messages_.erase(it);
  dirty_ = true;
}

void Outbox::retry_later(Message& m, double now, double unit) {
  ++m.attempts;
  m.next_attempt = now + backoff_seconds(m.attempts - 1) * (0.5 + unit);
  dirty_ = true;
}

void Outbox::save() {
  if (path_.empty() || !dirty_) return;
  fmt::memory_buffer out;
  for (const Message& m : messages_) {
    fmt::format_to(std::back_inserter(out), "{{\"id\":{},\"rule\":", m.id);
    append_json_string(out, m.rule);
    out.append(std::string_view{",\"key\":"});
    append_json_string(out, m.key);
    out.append(std::string_view{",\"title\":"});
    append_json_string(out, m.title);
    out.append(std::string_view{",\"created\":"});
    append_json_number(out, m.created);
    out.append(std::string_view{",\"next\":"});
    append_json_number(out, m.next_attempt);
    fmt::format_to(std::back_inserter(out), ",\"attempts\":{},\"body\":", m.attempts);
    append_json_string(out, m.body);
    out.append(std::string_view{"}\n"});
  }
  const std::string tmp = path_ + ".tmp";
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.fd < 0) fail("cannot create", tmp);
    write_all(fd.fd, {out.data(), out.size()}, tmp);
    if (::fsync(fd.fd) != 0) fail("cannot fsync", tmp);
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) fail("cannot rename to", path_);
  // The rename itself must reach the disk: fsync the folder.
  const std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  Fd d(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd >= 0) (void)::fsync(d.fd);
  dirty_ = false;
}

}  // namespace progressista::daemon::notify
