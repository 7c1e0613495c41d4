// What `cmake --install` and the .deb (`cpack -G DEB`) put on a machine: exactly the files
// the README's "Production deployment" section lists (the block after the marker
// `<!-- conf_tests: installed files -->`), and an installed binary that serves the installed
// dashboard.
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "conf/conf_support.hpp"
#include "support/http_client.hpp"
#include "support/segment_fixture.hpp"

namespace progressista::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// The nginx module is built in the release tree only (its install rules come with it).
bool module_configured() {
  return fs::exists(kBinaryDir / "module/cmake_install.cmake");
}

// The README's list: one absolute path per line; "(with the module)" marks the module's
// files; a path ending in "/*" stands for every file of the repository's static/ folder.
std::set<std::string> readme_installed_files() {
  const std::string readme = read_file(kSourceDir / "README.md");
  const auto marker = readme.find("<!-- conf_tests: installed files -->");
  EXPECT_NE(marker, std::string::npos) << "README.md has no installed-files marker";
  if (marker == std::string::npos) return {};
  const auto open = readme.find("```", marker);
  const auto begin = readme.find('\n', open) + 1;
  const auto close = readme.find("```", begin);
  std::stringstream block(readme.substr(begin, close - begin));
  std::set<std::string> files;
  for (std::string line; std::getline(block, line);) {
    if (line.empty()) continue;
    const std::string path = line.substr(0, line.find(' '));
    if (line.find("(with the module)") != std::string::npos && !module_configured()) continue;
    if (path.ends_with("/*")) {
      const std::string dir = path.substr(0, path.size() - 1);
      for (const auto& e : fs::recursive_directory_iterator(kSourceDir / "static")) {
        if (e.is_regular_file())
          files.insert(dir + fs::relative(e.path(), kSourceDir / "static").string());
      }
    } else {
      files.insert(path);
    }
  }
  return files;
}

// Regular files and symlinks below `root`, as absolute paths of the installed system.
std::set<std::string> files_below(const fs::path& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_symlink() || e.is_regular_file())
      out.insert("/" + fs::relative(e.path(), root).string());
  }
  return out;
}

TEST(Install, TreeHoldsExactlyWhatTheReadmeLists) {
  ScratchDir dir;
  const fs::path dest = dir.path() / "dest";
  const ToolResult r = run_tool({"cmake", "--install", kBinaryDir.string(), "--prefix", "/usr"},
                                {{"DESTDIR", dest.string()}});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const auto expected = readme_installed_files();
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(files_below(dest), expected);
}

// Installed under any prefix, the binary serves the dashboard installed beside it (a file
// only the installed copy has proves it is not the source tree's static/).
TEST(Install, InstalledBinaryServesTheInstalledDashboard) {
  ScratchDir dir;
  const fs::path prefix = dir.path() / "opt/progressista";
  const ToolResult r =
      run_tool({"cmake", "--install", kBinaryDir.string(), "--prefix", prefix.string()});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  write_file(prefix / "share/progressista/static/only-installed.txt", "installed copy\n");
  ScopedSegmentName seg;
  BackgroundProcess daemon({(prefix / "bin/progressista").string(), "broadcast", "--port", "0",
                            "--segment", seg.str(), "--capacity", "64"},
                           {}, dir.path() / "broadcast.log");
  std::smatch m;
  const std::regex listening(R"(listening on http://[^ ]+:([0-9]+))");
  std::string log;
  for (int i = 0; i < 1000 && !std::regex_search(log, m, listening); ++i) {
    std::this_thread::sleep_for(10ms);
    log = daemon.log();
  }
  ASSERT_TRUE(std::regex_search(log, m, listening)) << log;
  const auto port = static_cast<std::uint16_t>(std::stoi(m[1]));
  const HttpReply marker = http(port, "GET", "/static/only-installed.txt");
  EXPECT_EQ(marker.status, 200);
  EXPECT_EQ(marker.body, "installed copy\n");
  EXPECT_EQ(http(port, "GET", "/static/index.html").status, 200);
  EXPECT_EQ(daemon.stop(SIGTERM), 0) << daemon.log();
}

TEST(DebianPackage, HoldsExactlyWhatTheReadmeListsWithItsMaintainerScripts) {
  if (PROGRESSISTA_SANITIZED)
    GTEST_SKIP() << "a sanitized build is not packaged: its binary needs the ASan runtime";
  ASSERT_TRUE(have_tool("dpkg-deb")) << "dpkg-deb is missing";
  ScratchDir dir;
  const ToolResult packed =
      run_tool({"cpack", "-G", "DEB", "--config", (kBinaryDir / "CPackConfig.cmake").string(), "-B",
                dir.path().string()},
               {}, std::chrono::seconds(240));
  ASSERT_EQ(packed.code, 0) << packed.out << packed.err;
  fs::path deb;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    if (e.path().extension() == ".deb") deb = e.path();
  }
  ASSERT_FALSE(deb.empty()) << packed.out;
  EXPECT_THAT(deb.filename().string(), ::testing::StartsWith("progressista_"));

  // dpkg-deb -c: "-rwxr-xr-x root/root 123 2026-01-01 00:00 ./usr/bin/progressista"
  const ToolResult listing = run_tool({"dpkg-deb", "-c", deb.string()});
  ASSERT_EQ(listing.code, 0) << listing.err;
  std::set<std::string> files;
  std::stringstream lines(listing.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == 'd') continue;
    const auto dot = line.find(" ./");
    ASSERT_NE(dot, std::string::npos) << line;
    std::string path = line.substr(dot + 2);
    path = path.substr(0, path.find(" -> "));
    files.insert(path);
  }
  EXPECT_EQ(files, readme_installed_files()) << listing.out;

  const ToolResult info = run_tool({"dpkg-deb", "-I", deb.string()});
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr("Package: progressista\n"));
  EXPECT_THAT(info.out, HasSubstr("Maintainer: "));
  EXPECT_THAT(info.out, ::testing::Not(HasSubstr("\n  ;")));  // a CMake list in the text
  EXPECT_THAT(info.out, ::testing::ContainsRegex("Depends: .*adduser"));
  EXPECT_THAT(info.out, ::testing::ContainsRegex("Depends: .*libsystemd0"));
  const fs::path control = dir.path() / "control";
  const ToolResult extracted = run_tool({"dpkg-deb", "-e", deb.string(), control.string()});
  ASSERT_EQ(extracted.code, 0) << extracted.err;
  for (const char* script : {"postinst", "prerm", "postrm"}) {
    SCOPED_TRACE(script);
    EXPECT_EQ(read_file(control / script), read_file(kSourceDir / "conf/debian" / script));
    EXPECT_EQ(fs::status(control / script).permissions() & fs::perms::owner_exec,
              fs::perms::owner_exec);
  }
  EXPECT_FALSE(fs::exists(control / "conffiles"));  // nothing in /etc: postinst creates it
}

TEST(DebianPackage, MaintainerScriptsAreValidShell) {
  for (const char* script : {"postinst", "prerm", "postrm"}) {
    const ToolResult r = run_tool({"sh", "-n", (kSourceDir / "conf/debian" / script).string()});
    EXPECT_EQ(r.code, 0) << script << ": " << r.err;
  }
}

}  // namespace
}  // namespace progressista::testing
