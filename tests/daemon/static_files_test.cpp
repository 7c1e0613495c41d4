// /static/* and / on a real directory tree with files, subdirectories and symlinks that
// point inside and outside the root.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "http/static_files.hpp"
#include "support/route_request.hpp"

namespace progressista {
namespace {

namespace fs = std::filesystem;
using daemon::HttpResponse;
using daemon::StaticFiles;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::response_header;
using testing::RouteRequest;

void write_file(const fs::path& p, std::string_view content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

// base/
//   CMakeLists.txt, x          never served: outside the root
//   outside/secret.txt         never served: outside the root
//   static/                    the root
//     index.html, app.js, ..., a b.txt, plus+sign.txt
//     docs/index.html, sub/page.html (sub has no index)
//     inside-link -> index.html, escape -> ../outside/secret.txt, escdir -> ../outside
class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "pt-static-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    base_ = tmpl;
    root_ = base_ / "static";
    write_file(base_ / "CMakeLists.txt", "SECRET cmake");
    write_file(base_ / "x", "SECRET x");
    write_file(base_ / "outside" / "secret.txt", "SECRET outside");
    write_file(root_ / "index.html", "<!doctype html><title>dash</title>");
    for (const char* name :
         {"app.js", "mod.mjs", "style.css", "logo.svg", "img.png", "favicon.ico", "data.json",
          "app.js.map", "notes.txt", "font.woff2", "UPPER.HTML", "blob.bin", "noext"}) {
      write_file(root_ / name, std::string("content of ") + name);
    }
    write_file(root_ / "a b.txt", "spaced");
    write_file(root_ / "plus+sign.txt", "plus");
    write_file(root_ / "docs" / "index.html", "docs index");
    write_file(root_ / "sub" / "page.html", "sub page");
    fs::create_symlink("index.html", root_ / "inside-link");
    fs::create_symlink("../outside/secret.txt", root_ / "escape");
    fs::create_symlink("../outside", root_ / "escdir");
    fs::create_symlink(base_ / "outside" / "secret.txt", root_ / "sub" / "absolute-escape");
    files_ = std::make_unique<StaticFiles>(root_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  using Answer = testing::RouteAnswer;
  Answer call(std::string method, std::string target,
              std::map<std::string, std::string> headers = {}) {
    return testing::call_route(*files_, std::move(method), std::move(target), std::move(headers));
  }
  Answer get(std::string target, std::map<std::string, std::string> headers = {}) {
    return call("GET", std::move(target), std::move(headers));
  }

  fs::path base_, root_;
  std::unique_ptr<StaticFiles> files_;
};

TEST_F(StaticFilesTest, ServesAFileWithItsTypeAndCacheHeaders) {
  const auto a = get("/static/index.html");
  ASSERT_TRUE(a.handled);
  EXPECT_EQ(a.response.status, 200);
  EXPECT_EQ(a.response.body, "<!doctype html><title>dash</title>");
  EXPECT_EQ(a.response.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(response_header(a.response, "Cache-Control"), "no-cache");
  EXPECT_EQ(response_header(a.response, "X-Content-Type-Options"), "nosniff");
  EXPECT_THAT(response_header(a.response, "ETag"),
              ::testing::MatchesRegex("\"[0-9a-f]+-[0-9a-f]+\""));
  EXPECT_THAT(response_header(a.response, "Last-Modified"), HasSubstr(" GMT"));
}

TEST_F(StaticFilesTest, ContentTypeFollowsTheExtension) {
  const std::map<std::string, std::string> expected = {
      {"app.js", "text/javascript; charset=utf-8"},
      {"mod.mjs", "text/javascript; charset=utf-8"},
      {"style.css", "text/css; charset=utf-8"},
      {"logo.svg", "image/svg+xml"},
      {"img.png", "image/png"},
      {"favicon.ico", "image/x-icon"},
      {"data.json", "application/json"},
      {"app.js.map", "application/json"},
      {"notes.txt", "text/plain; charset=utf-8"},
      {"font.woff2", "font/woff2"},
      {"UPPER.HTML", "text/html; charset=utf-8"},
      {"blob.bin", "application/octet-stream"},
      {"noext", "application/octet-stream"},
  };
  for (const auto& [name, type] : expected) {
    const auto a = get("/static/" + name);
    EXPECT_EQ(a.response.status, 200) << name;
    EXPECT_EQ(a.response.content_type, type) << name;
    EXPECT_EQ(a.response.body, "content of " + name);
  }
}

TEST_F(StaticFilesTest, PathIsPercentDecodedOnceAndPlusStaysPlus) {
  EXPECT_EQ(get("/static/a%20b.txt").response.body, "spaced");
  EXPECT_EQ(get("/static/plus+sign.txt").response.body, "plus");
  EXPECT_EQ(get("/static/plus%2Bsign.txt").response.body, "plus");
  EXPECT_EQ(get("/static/%69ndex.html").response.status, 200);
  EXPECT_EQ(get("/static/index.html%").response.status, 404);  // malformed escape
}

TEST_F(StaticFilesTest, TraversalNeverReachesAFileOutsideTheRoot) {
  for (const char* target : {
           "/static/../CMakeLists.txt",
           "/static/%2e%2e/x",
           "/static/%2E%2E/CMakeLists.txt",
           "/static/sub/../../x",
           "/static/sub/%2e%2e/%2e%2e/x",
           "/static/..%2fx",
           "/static/%2e%2e%2fCMakeLists.txt",
           "/static//etc/passwd",
           "/static/%2Fetc%2Fpasswd",
           "/static/%2e%2e/outside/secret.txt",
           "/static/escape",
           "/static/escdir/secret.txt",
           "/static/sub/absolute-escape",
           "/static/./index.html",
           "/static/sub//page.html",
           "/static/index.html%00.png",
           "/static/..",
           "/static/../static/index.html",
       }) {
    for (const char* method : {"GET", "HEAD"}) {
      const auto a = call(method, target);
      ASSERT_TRUE(a.handled) << target;
      EXPECT_EQ(a.response.status, 404) << method << " " << target;
      EXPECT_EQ(a.response.body, R"({"detail":"Not Found"})") << target;
      EXPECT_THAT(a.response.body, Not(HasSubstr("SECRET"))) << target;
      EXPECT_THAT(a.response.body, Not(HasSubstr("root:"))) << target;
    }
  }
}

TEST_F(StaticFilesTest, SymlinkInsideTheRootIsServed) {
  const auto a = get("/static/inside-link");
  EXPECT_EQ(a.response.status, 200);
  EXPECT_EQ(a.response.body, "<!doctype html><title>dash</title>");
  EXPECT_EQ(a.response.content_type, "text/html; charset=utf-8");  // the target's name
}

TEST_F(StaticFilesTest, RootPathRedirectsToTheDashboard) {
  const auto a = get("/");
  ASSERT_TRUE(a.handled);
  EXPECT_EQ(a.response.status, 307);
  EXPECT_EQ(response_header(a.response, "Location"), "/static/index.html");
  EXPECT_TRUE(a.response.body.empty());
  EXPECT_EQ(call("HEAD", "/").response.status, 307);
  // The dashboard takes its token from its own URL: the query is kept.
  EXPECT_EQ(response_header(get("/?token=abc").response, "Location"),
            "/static/index.html?token=abc");
}

TEST_F(StaticFilesTest, FaviconIcoIsTheRootsFaviconSvgOrA404ThatIsNotARejection) {
  // Without the file: handled here (a plain 404, not the route table's counted rejection).
  auto a = get("/favicon.ico");
  ASSERT_TRUE(a.handled);
  EXPECT_EQ(a.response.status, 404);
  write_file(root_ / "favicon.svg", "<svg/>");
  a = get("/favicon.ico");
  ASSERT_TRUE(a.handled);
  EXPECT_EQ(a.response.status, 200);
  EXPECT_EQ(a.response.body, "<svg/>");
  EXPECT_EQ(a.response.content_type, "image/svg+xml");
  EXPECT_EQ(call("POST", "/favicon.ico").response.status, 405);
  EXPECT_FALSE(get("/favicon.icox").handled);
}

TEST_F(StaticFilesTest, DirectoriesServeTheirIndexOr404) {
  auto a = get("/static/docs");
  EXPECT_EQ(a.response.status, 307);
  EXPECT_EQ(response_header(a.response, "Location"), "/static/docs/");
  a = get("/static/docs/");
  EXPECT_EQ(a.response.status, 200);
  EXPECT_EQ(a.response.body, "docs index");
  EXPECT_EQ(a.response.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(get("/static/sub/").response.status, 404);  // no index.html
  EXPECT_EQ(get("/static/sub/page.html").response.body, "sub page");
  EXPECT_EQ(response_header(get("/static").response, "Location"), "/static/");
  EXPECT_EQ(get("/static/").response.body, "<!doctype html><title>dash</title>");
}

TEST_F(StaticFilesTest, IndexThatEscapesTheRootIsNotServed) {
  fs::create_directories(root_ / "trap");
  fs::create_symlink(base_ / "outside" / "secret.txt", root_ / "trap" / "index.html");
  const auto a = get("/static/trap/");
  EXPECT_EQ(a.response.status, 404);
  EXPECT_THAT(a.response.body, Not(HasSubstr("SECRET")));
}

TEST_F(StaticFilesTest, MissingFileGets404) {
  EXPECT_EQ(get("/static/nope.js").response.status, 404);
  EXPECT_EQ(get("/static/sub/nope/deeper.js").response.status, 404);
}

TEST_F(StaticFilesTest, IfNoneMatchWithTheCurrentETagGets304) {
  const auto first = get("/static/app.js");
  const std::string etag = response_header(first.response, "ETag");
  ASSERT_FALSE(etag.empty());
  for (const std::string& header :
       {etag, "W/" + etag, std::string("*"), "\"other\", " + etag, "\"other\"," + etag + " "}) {
    const auto a = get("/static/app.js", {{"If-None-Match", header}});
    EXPECT_EQ(a.response.status, 304) << header;
    EXPECT_TRUE(a.response.body.empty()) << header;
    EXPECT_EQ(response_header(a.response, "ETag"), etag);
    EXPECT_EQ(response_header(a.response, "Cache-Control"), "no-cache");
  }
  EXPECT_EQ(get("/static/app.js", {{"If-None-Match", "\"other\""}}).response.status, 200);
  EXPECT_EQ(get("/static/app.js", {{"If-None-Match", etag.substr(1)}}).response.status, 200);
}

TEST_F(StaticFilesTest, ChangedFileGetsANewETag) {
  const std::string before = response_header(get("/static/app.js").response, "ETag");
  write_file(root_ / "app.js", "a longer new content");
  const auto a = get("/static/app.js", {{"If-None-Match", before}});
  EXPECT_EQ(a.response.status, 200);
  EXPECT_EQ(a.response.body, "a longer new content");
  EXPECT_NE(response_header(a.response, "ETag"), before);
}

TEST_F(StaticFilesTest, LastModifiedIsAnImfFixdate) {
  const struct timespec times[2] = {{784111777, 0}, {784111777, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (root_ / "notes.txt").c_str(), times, 0), 0);
  EXPECT_EQ(response_header(get("/static/notes.txt").response, "Last-Modified"),
            "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST_F(StaticFilesTest, HeadAnswersLikeGet) {
  const auto g = get("/static/style.css");
  const auto h = call("HEAD", "/static/style.css");
  EXPECT_EQ(h.response.status, 200);
  EXPECT_EQ(h.response.content_type, g.response.content_type);
  EXPECT_EQ(response_header(h.response, "ETag"), response_header(g.response, "ETag"));
  EXPECT_EQ(h.response.body, g.response.body);
}

TEST_F(StaticFilesTest, OnlyGetAndHeadAreAllowed) {
  for (const char* target : {"/", "/static/index.html", "/static/nope"}) {
    const auto a = call("POST", target);
    ASSERT_TRUE(a.handled);
    EXPECT_EQ(a.response.status, 405) << target;
    EXPECT_EQ(response_header(a.response, "Allow"), "GET, HEAD");
  }
}

TEST_F(StaticFilesTest, OtherPathsAreLeftToTheirRoutes) {
  for (const char* target : {"/tasks", "/staticx", "/statics/index.html", "/metrics", "/index.html",
                             "//static/index.html"}) {
    EXPECT_FALSE(get(target).handled) << target;
  }
}

TEST_F(StaticFilesTest, NoAuthIsAsked) {
  // StaticFiles knows nothing of tokens: the dashboard loads, then authenticates its API calls.
  EXPECT_EQ(get("/static/index.html", {{"Authorization", "Bearer wrong"}}).response.status, 200);
}

TEST(StaticFilesMissingRoot, EverythingIs404ButTheRedirect) {
  StaticFiles files("/nonexistent/progressista/static");
  HttpResponse r;
  const RouteRequest index("GET", "/static/index.html");
  EXPECT_TRUE(files.handle(index.get(), r));
  EXPECT_EQ(r.status, 404);
  HttpResponse root;
  const RouteRequest slash("GET", "/");
  EXPECT_TRUE(files.handle(slash.get(), root));
  EXPECT_EQ(root.status, 307);
}

TEST(StaticFilesContentType, ByExtensionCaseInsensitive) {
  EXPECT_EQ(daemon::content_type_for("a.Js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(daemon::content_type_for("a.tar.gz"), "application/octet-stream");
  EXPECT_EQ(daemon::content_type_for(".css"), "text/css; charset=utf-8");
  EXPECT_EQ(daemon::content_type_for("a."), "application/octet-stream");
  EXPECT_EQ(daemon::content_type_for("a.verylongextension"), "application/octet-stream");
}

}  // namespace
}  // namespace progressista
