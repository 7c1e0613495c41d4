#include "http/static_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <ctime>

#include <fmt/format.h>

namespace progressista::daemon {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kStatic = "/static";
constexpr std::string_view kIndex = "index.html";
constexpr std::string_view kFaviconPath = "/favicon.ico";
constexpr std::string_view kFaviconFile = "/favicon.svg";  // under the root, as serve() takes it
// The dashboard's files are kilobytes; anything this big is not meant to be served from here.
constexpr off_t kMaxFileBytes = 64 << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

// RFC 9110's IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), independent of the C locale.
std::string http_date(std::time_t t) {
  static constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                            "Thu", "Fri", "Sat"};
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
                     kDays[static_cast<std::size_t>(tm.tm_wday % 7)], tm.tm_mday,
                     kMonths[static_cast<std::size_t>(tm.tm_mon % 12)], tm.tm_year + 1900,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// Does an If-None-Match value ("*", or a list of possibly weak tags) match `etag`?
bool etag_matches(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view tag = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);  // If-None-Match compares weakly
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

// A decoded path below /static split into safe components: no "..", no ".", no empty
// component except a trailing one (a directory), no NUL. False for anything else.
bool safe_relative(std::string_view decoded, fs::path& out) {
  if (decoded.find('\0') != std::string_view::npos) return false;
  out.clear();
  std::size_t pos = 0;
  while (pos < decoded.size()) {
    std::size_t slash = decoded.find('/', pos);
    if (slash == std::string_view::npos) slash = decoded.size();
    const std::string_view part = decoded.substr(pos, slash - pos);
    const bool last = slash + 1 >= decoded.size();
    if (part == ".." || part == "." || (part.empty() && !last)) return false;
    if (!part.empty()) out /= fs::path(part);
    pos = slash + 1;
  }
  return true;
}

void not_found(HttpResponse& response) {
  set_error(response, 404, "Not Found");
}

void redirect(HttpResponse& response, std::string location) {
  response.status = 307;
  response.content_type = "text/plain; charset=utf-8";
  response.body.clear();
  response.set_header("Location", std::move(location));
}

}  // namespace

std::string_view content_type_for(std::string_view filename) noexcept {
  struct Type {
    std::string_view ext;
    std::string_view type;
  };
  static constexpr std::array<Type, 11> kTypes = {{
      {"html", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"ico", "image/x-icon"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"woff2", "font/woff2"},
  }};
  const std::size_t dot = filename.rfind('.');
  if (dot != std::string_view::npos && filename.size() - dot - 1 <= 8) {
    char ext[8];
    const std::string_view raw = filename.substr(dot + 1);
    for (std::size_t i = 0; i < raw.size(); ++i) {
      ext[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(raw[i])));
    }
    const std::string_view folded(ext, raw.size());
    for (const Type& t : kTypes) {
      if (t.ext == folded) return t.type;
    }
  }
  return "application/octet-stream";
}

StaticFiles::StaticFiles(fs::path root) {
  std::error_code ec;
  root_ = fs::canonical(root, ec);
  if (ec) root_ = fs::weakly_canonical(fs::absolute(root, ec), ec);
}

bool StaticFiles::handle(const HttpRequest& request, HttpResponse& response) {
  const std::string_view path = request.path;
  const bool root = path == "/";
  // Browsers ask for /favicon.ico on any page without an icon link (a JSON route opened in a
  // tab): the dashboard's icon answers, so it is not a 404 counted as a rejected request.
  const bool favicon = path == kFaviconPath;
  if (!root && !favicon && path != kStatic && !path.starts_with("/static/")) return false;
  if (request.method != "GET" && request.method != "HEAD") {
    set_error(response, 405, "Method Not Allowed");
    response.set_header("Allow", "GET, HEAD");
  } else if (favicon) {
    serve(request, kFaviconFile, response);
  } else if (root) {
    // The query goes along: the dashboard reads its ?token= from the page URL.
    std::string location = "/static/index.html";
    if (!request.query.empty()) location.append("?").append(request.query);
    redirect(response, location);
  } else {
    serve(request, path.substr(kStatic.size()), response);
  }
  return true;
}

fs::path StaticFiles::resolve(const fs::path& relative) const {
  std::error_code ec;
  fs::path real = fs::canonical(root_ / relative, ec);
  if (ec) return {};
  // Inside means every component of the root is a leading component of the real path.
  const auto [root_end, _] = std::mismatch(root_.begin(), root_.end(), real.begin(), real.end());
  if (root_end != root_.end()) return {};
  return real;
}

void StaticFiles::serve(const HttpRequest& request, std::string_view encoded,
                        HttpResponse& response) {
  // `encoded` is "" or starts with '/'; one '/' separates it from /static, and a second one
  // ("/static//etc/passwd") would make it absolute: safe_relative refuses the empty part.
  std::string decoded;
  fs::path relative;
  if (!url_decode(encoded.empty() ? encoded : encoded.substr(1), decoded, false) ||
      !safe_relative(decoded, relative)) {
    not_found(response);
    return;
  }
  fs::path real = resolve(relative);
  if (real.empty()) {
    not_found(response);
    return;
  }
  std::error_code ec;
  if (fs::is_directory(real, ec)) {
    // Relative links in an index page resolve against the directory only with the slash.
    if (!request.path.ends_with('/')) {
      redirect(response, std::string(request.path) + "/");
      return;
    }
    real = resolve(relative / kIndex);
    if (real.empty()) {
      not_found(response);
      return;
    }
  }

  // O_NOFOLLOW: the canonical path has no symlink left, so one appearing now is refused.
  const Fd fd(::open(real.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    not_found(response);
    return;
  }
  if (st.st_size > kMaxFileBytes) {
    set_error(response, 500, "file too large to serve");
    return;
  }

  const std::int64_t mtime_ns =
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  std::string etag = fmt::format("\"{:x}-{:x}\"", static_cast<std::uint64_t>(st.st_size),
                                 static_cast<std::uint64_t>(mtime_ns));
  const std::string_view if_none_match = request.header("if-none-match");
  const bool fresh = !if_none_match.empty() && etag_matches(if_none_match, etag);
  std::string body;
  if (!fresh) {
    body.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < body.size()) {
      const ssize_t n = ::read(fd.get(), body.data() + got, body.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        set_error(response, 500, "cannot read the file");
        return;
      }
      if (n == 0) break;  // the file shrank under us: serve what is there
      got += static_cast<std::size_t>(n);
    }
    body.resize(got);
  }

  response.status = fresh ? 304 : 200;
  response.content_type = std::string(content_type_for(real.filename().native()));
  response.body = std::move(body);
  response.set_header("Cache-Control", "no-cache");
  response.set_header("ETag", std::move(etag));
  response.set_header("Last-Modified", http_date(st.st_mtim.tv_sec));
  response.set_header("X-Content-Type-Options", "nosniff");
}

}  // namespace progressista::daemon
