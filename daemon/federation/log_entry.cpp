#include "federation/log_entry.hpp"

#include <charconv>
#include <cstdlib>

#include <fmt/format.h>

namespace progressista::daemon::federation {

namespace {

bool parse_u64(std::string_view text, std::uint64_t& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc{} && end == text.data() + text.size();
}

double parse_double(std::string_view text) {
  const std::string s(text);
  return std::strtod(s.c_str(), nullptr);
}

}  // namespace

bool StreamId::parse(std::string_view text, StreamId& out) {
  const std::size_t dash = text.find('-');
  if (dash == std::string_view::npos) return parse_u64(text, out.ms) && ((out.seq = 0), true);
  return parse_u64(text.substr(0, dash), out.ms) && parse_u64(text.substr(dash + 1), out.seq);
}

std::string StreamId::str() const {
  return fmt::format("{}-{}", ms, seq);
}

std::vector<std::string> LogEntry::fields() const {
  std::vector<std::string> f{"k", std::string(1, static_cast<char>(kind)), "o", origin, "r",
                             std::to_string(request)};
  if (kind == Kind::kWrite) {
    f.insert(f.end(), {"m", method, "t", target, "c", content_type, "a",
                       authenticated ? "1" : "0", "b", body});
  } else {
    f.insert(f.end(), {"ret", fmt::format("{}", retention), "stale", fmt::format("{}", stale),
                       "age", fmt::format("{}", max_age)});
  }
  return f;
}

bool LogEntry::from_fields(const std::vector<std::string_view>& fv, LogEntry& out) {
  out = LogEntry{};
  bool kind_seen = false;
  for (std::size_t i = 0; i + 1 < fv.size(); i += 2) {
    const std::string_view k = fv[i], v = fv[i + 1];
    if (k == "k") {
      if (v != "w" && v != "s") return false;
      out.kind = static_cast<Kind>(v[0]);
      kind_seen = true;
    } else if (k == "o") {
      out.origin = std::string(v);
    } else if (k == "r") {
      if (!parse_u64(v, out.request)) return false;
    } else if (k == "m") {
      out.method = std::string(v);
    } else if (k == "t") {
      out.target = std::string(v);
    } else if (k == "c") {
      out.content_type = std::string(v);
    } else if (k == "a") {
      out.authenticated = v == "1";
    } else if (k == "b") {
      out.body = std::string(v);
    } else if (k == "ret") {
      out.retention = parse_double(v);
    } else if (k == "stale") {
      out.stale = parse_double(v);
    } else if (k == "age") {
      out.max_age = parse_double(v);
    }
  }
  if (!kind_seen) return false;
  return out.kind == Kind::kSweep || (!out.method.empty() && !out.target.empty());
}

std::size_t LogEntry::bytes() const noexcept {
  return method.size() + target.size() + content_type.size() + body.size() + origin.size() + 64;
}

std::string without_token(std::string_view target) {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, q));
  std::string_view query = target.substr(q + 1);
  char sep = '?';
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (param == "token" || param.starts_with("token=") || param.empty()) continue;
    out.push_back(sep);
    out.append(param);
    sep = '&';
  }
  return out;
}

}  // namespace progressista::daemon::federation
