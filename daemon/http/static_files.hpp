// The dashboard's files: GET/HEAD /static/* from one directory, and / redirecting to
// /static/index.html. Open to everyone, as in Progressista. Behaviour: README.md, "/static/* and
// /".
#pragma once

#include <filesystem>
#include <string>

#include "http/routes.hpp"

namespace progressista::daemon {

class StaticFiles final : public Routes {
 public:
  // `root` need not exist yet; nothing outside it (after resolving symlinks) is ever served.
  explicit StaticFiles(std::filesystem::path root);
  // Takes /, the paths under /static, and /favicon.ico (the root's favicon.svg).
  bool handle(const HttpRequest& request, HttpResponse& response) override;

 private:
  void serve(const HttpRequest& request, std::string_view encoded, HttpResponse& response);
  // The canonical path of root/relative when it exists and lies inside the root once every
  // symlink is resolved; else empty.
  [[nodiscard]] std::filesystem::path resolve(const std::filesystem::path& relative) const;

  std::filesystem::path root_;  // canonical when it existed at construction
};

// The Content-Type served for a file name, by extension (application/octet-stream when
// unknown).
[[nodiscard]] std::string_view content_type_for(std::string_view filename) noexcept;

}  // namespace progressista::daemon
