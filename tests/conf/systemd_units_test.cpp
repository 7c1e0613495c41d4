// The paired systemd units and the example environment file, as shipped in conf/.
//
// `systemd-analyze verify` runs on the unit files unchanged, inside a scratch root that holds
// a copy of this machine's systemd units (so the targets they name exist) and the built
// binary at /usr/bin/progressista (so ExecStart= resolves). It exits 0 even on warnings, so
// any output on stderr fails the test.
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "conf/conf_support.hpp"

namespace progressista::testing {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kServices = {"progressista-ingest.service",
                                            "progressista-broadcast.service"};
const std::vector<std::string> kUnits = {"progressista-ingest.service",
                                         "progressista-broadcast.service", "progressista.target"};

// A root for `systemd-analyze verify --root`: the host's unit directory, the shipped units
// (or `replace`d copies) and the built binary where the units expect it.
fs::path make_verify_root(const fs::path& root,
                          const std::map<std::string, std::string>& replace = {}) {
  const fs::path units = root / "usr/lib/systemd/system";
  fs::create_directories(units.parent_path());
  fs::copy("/usr/lib/systemd/system", units,
           fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  for (const auto& name : kUnits) {
    std::string text = read_file(kSourceDir / "conf/systemd" / name);
    for (const auto& [from, to] : replace) {
      for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    }
    write_file(units / name, text);
  }
  fs::create_directories(root / "usr/bin");
  fs::copy_file(PROGRESSISTA_BIN, root / "usr/bin/progressista");
  return root;
}

ToolResult verify(const fs::path& root) {
  std::vector<std::string> argv{"systemd-analyze", "verify", "--root=" + root.string()};
  argv.insert(argv.end(), kUnits.begin(), kUnits.end());
  return run_tool(argv, {{"SYSTEMD_LOG_COLOR", "0"}});
}

TEST(SystemdUnits, PassSystemdAnalyzeVerifyWithoutAnyWarning) {
  ASSERT_TRUE(have_tool("systemd-analyze"))
      << "systemd-analyze is missing (Debian package systemd)";
  ScratchDir dir;
  const ToolResult r = verify(make_verify_root(dir.path() / "root"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "");
}

// The check above is only worth something if a warning does reach stderr in this set-up.
TEST(SystemdUnits, VerifyInThisSetUpReportsAWarningOnStderr) {
  ASSERT_TRUE(have_tool("systemd-analyze"));
  ScratchDir dir;
  const ToolResult r =
      verify(make_verify_root(dir.path() / "root", {{"Type=notify", "Type=notifyy"}}));
  EXPECT_THAT(r.err, HasSubstr("notifyy"));
}

TEST(SystemdUnits, ServicesAreNotifyWatchdogRestartOnFailureMembersOfTheTarget) {
  for (const auto& name : kServices) {
    SCOPED_TRACE(name);
    const UnitFile u = shipped_unit(name);
    EXPECT_EQ(unit_value(u, "Service", "Type"), "notify");
    EXPECT_FALSE(unit_value(u, "Service", "WatchdogSec").empty());
    EXPECT_EQ(unit_value(u, "Service", "Restart"), "on-failure");
    EXPECT_EQ(unit_value(u, "Unit", "PartOf"), "progressista.target");
    EXPECT_EQ(unit_value(u, "Install", "WantedBy"), "progressista.target");
    EXPECT_EQ(unit_value(u, "Service", "EnvironmentFile"), "/etc/progressista/progressista.env");
    EXPECT_EQ(unit_value(u, "Service", "User"), "progressista");
    EXPECT_EQ(unit_value(u, "Service", "Group"), "progressista");
    EXPECT_EQ(unit_value(u, "Service", "UMask"), "0007");
    EXPECT_THAT(unit_value(u, "Service", "ExecStart"),
                ::testing::StartsWith("/usr/bin/progressista "));
    // Restarting one service must not drag the other along.
    for (const auto& dep : {"Requires", "BindsTo", "Requisite"})
      EXPECT_FALSE(u.at("Unit").count(dep));
  }
  const UnitFile target = parse_unit(read_file(kSourceDir / "conf/systemd/progressista.target"));
  EXPECT_EQ(unit_value(target, "Unit", "Wants"),
            "progressista-ingest.service progressista-broadcast.service");
  EXPECT_EQ(unit_value(target, "Install", "WantedBy"), "multi-user.target");
  // Started together, the ingest (which restores the snapshot) creates the segment.
  EXPECT_THAT(unit_value(shipped_unit("progressista-broadcast.service"), "Unit", "After"),
              HasSubstr("progressista-ingest.service"));
}

TEST(SystemdUnits, HardeningLeavesDevShmSharedAndStateWritable) {
  for (const auto& name : kServices) {
    SCOPED_TRACE(name);
    const UnitFile u = shipped_unit(name);
    EXPECT_EQ(unit_value(u, "Service", "ProtectSystem"), "strict");
    EXPECT_EQ(unit_value(u, "Service", "ProtectHome"), "yes");
    EXPECT_EQ(unit_value(u, "Service", "NoNewPrivileges"), "yes");
    EXPECT_EQ(unit_value(u, "Service", "PrivateTmp"), "yes");
    EXPECT_EQ(unit_value(u, "Service", "RestrictAddressFamilies"), "AF_INET AF_INET6 AF_UNIX");
    EXPECT_EQ(unit_value(u, "Service", "RemoveIPC"), "no");  // would delete the segment
    // Any of these would give the unit its own /dev/shm (or none), apart from nginx's.
    for (const auto& key : {"PrivateDevices", "PrivateIPC", "DynamicUser", "TemporaryFileSystem",
                            "InaccessiblePaths", "PrivateUsers", "PrivateMounts"})
      EXPECT_FALSE(u.at("Service").count(key)) << key;
  }
  const UnitFile ingest = shipped_unit("progressista-ingest.service");
  EXPECT_EQ(unit_value(ingest, "Service", "StateDirectory"), "progressista");
  const auto env = service_environment(ingest);
  EXPECT_THAT(env.at("PROGRESSISTA_STORAGE_PATH"), ::testing::StartsWith("/var/lib/progressista/"));
}

// ExecStart as systemd would run it (unit defaults, then the example environment file): the
// flags parse, the two daemons get distinct loopback ports and a 0660 segment.
TEST(SystemdUnits, ExecStartParsesWithTheExampleEnvironment) {
  std::set<std::string> ports;
  for (const auto& name : kServices) {
    SCOPED_TRACE(name);
    const UnitFile u = shipped_unit(name);
    const auto env = service_environment(u);
    std::vector<std::string> argv = exec_start(u, env);
    ASSERT_GE(argv.size(), 2u);
    EXPECT_EQ(argv[1], name == kServices[0] ? "ingest" : "broadcast");
    argv.erase(argv.begin());
    argv[0] = "show-config";  // the same options as the roles, printed instead of run
    argv.insert(argv.begin(), PROGRESSISTA_BIN);
    const ToolResult r = run_tool(argv, env);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr(R"("host": "127.0.0.1")"));
    EXPECT_THAT(r.out, HasSubstr(R"("shm_mode": "0660")"));
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"("port": ([0-9]+))"))) << r.out;
    EXPECT_NE(m[1], "0");
    ports.insert(m[1]);
  }
  EXPECT_EQ(ports.size(), 2u);
}

// Every PROGRESSISTA_* variable the binary reads (its --help output names them) is in the
// example, and a commented-out line shows the binary's own default.
TEST(EnvironmentExample, DocumentsEveryVariableWithItsDefault) {
  std::string help;
  std::map<std::string, std::string> defaults;
  static const std::regex option(R"(=([^ ]*) \(Env:(PROGRESSISTA_[A-Z_]+)\))");
  for (const char* verb : {"ingest", "broadcast", "serve", "inspect", "post", "demo"}) {
    const ToolResult r = run_tool({PROGRESSISTA_BIN, verb, "--help"});
    ASSERT_EQ(r.code, 0) << verb << ": " << r.err;
    help += r.out;
    for (std::sregex_iterator it(r.out.begin(), r.out.end(), option), end; it != end; ++it)
      defaults.emplace((*it)[2], (*it)[1]);
  }
  std::set<std::string> read_by_binary;
  static const std::regex name(R"(PROGRESSISTA_[A-Z_]*[A-Z])");
  for (std::sregex_iterator it(help.begin(), help.end(), name), end; it != end; ++it)
    read_by_binary.insert(it->str());
  ASSERT_GT(read_by_binary.size(), 20u) << help;

  const std::string example = read_file(kSourceDir / "conf/progressista.env.example");
  std::map<std::string, std::string> documented;  // commented-out or set
  static const std::regex line(R"((?:^|\n)#?(PROGRESSISTA_[A-Z_]+)=([^\n]*))");
  for (std::sregex_iterator it(example.begin(), example.end(), line), end; it != end; ++it)
    documented[(*it)[1]] = (*it)[2];
  for (const auto& var : read_by_binary) EXPECT_TRUE(documented.count(var)) << var << " is missing";
  // Only the units' own port variables are unknown to the binary; anything else is a typo.
  for (const auto& [var, value] : documented) {
    if (var == "PROGRESSISTA_INGEST_PORT" || var == "PROGRESSISTA_BROADCAST_PORT") continue;
    EXPECT_TRUE(read_by_binary.count(var)) << var << " is not read by progressista";
  }
  for (const auto& [var, value] : parse_env_file(example)) documented.erase(var);  // set ones
  for (const auto& [var, value] : documented) {
    const auto d = defaults.find(var);
    if (d != defaults.end()) {
      EXPECT_EQ(value, d->second) << var;
    }
  }
}

}  // namespace
}  // namespace progressista::testing
