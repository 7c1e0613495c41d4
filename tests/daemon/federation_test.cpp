// Redis Streams federation (issue 16) against a real redis-server and real `serve` daemons:
// three nodes (A, B, C), each on its own segment with its own --node-id, share one stream.
// A write on any node reaches every node (GET /tasks, the delta WebSocket), the nodes agree
// task by task after quiescence, retention runs once (the lease holder), Redis killed under
// load loses no acknowledged write, a killed or late node catches up, a node whose position
// was trimmed loads the snapshot, and a refused password stops the start without printing it.
// Everything is asserted through the nodes' HTTP APIs; every wait polls with a generous limit.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/redis_server.hpp"
#include "support/run_binary.hpp"
#include "support/segment_fixture.hpp"
#include "support/wait.hpp"
#include "support/ws_client.hpp"

namespace progressista {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::DaemonProcess;
using testing::eventually;
using testing::http;
using testing::RedisServer;
using testing::ScopedSegmentName;
using testing::WsTestClient;
using Json = testing::JsonDoc;
using namespace std::chrono_literals;

// Generous: ASan builds and a shared two-core machine are several times slower.
constexpr auto kConverge = 30s;

// One `serve` node: its own segment (kept across restarts, removed at the end), its node id,
// a loopback port picked at each start.
class Node {
 public:
  Node(std::string id, std::vector<std::string> args) : id_(std::move(id)) {
    args_ = {"serve", "--segment", seg_.str(), "--node-id", id_, "--threads", "2",
             "--tick", "0.02", "--capacity", "4096", "--stalled-factor", "0"};
    args_.insert(args_.end(), args.begin(), args.end());
  }
  bool start() {
    proc_.reset();
    proc_ = std::make_unique<DaemonProcess>(args_);
    return proc_->running();
  }
  void kill9() {
    if (proc_ && proc_->pid() > 0) {  // never kill(-1, ...)
      ::kill(proc_->pid(), SIGKILL);
      proc_->wait_exit();
    }
  }
  int stop() { return proc_ ? proc_->stop() : -1; }
  [[nodiscard]] std::uint16_t port() const { return proc_->port(); }
  [[nodiscard]] const std::string& id() const { return id_; }
  [[nodiscard]] std::string log() const { return proc_ ? proc_->log() : std::string(); }
  DaemonProcess& process() { return *proc_; }

 private:
  ScopedSegmentName seg_;  // declared first: removed after the process is gone
  std::string id_;
  std::vector<std::string> args_;
  std::unique_ptr<DaemonProcess> proc_;
};

int post(const Node& n, const std::string& body) {
  return http(n.port(), "POST", "/progress", body).status;
}

// The "federation" member of GET /health.
struct FederationHealth {
  bool present = false;
  std::string state, redis, node_id;
  bool janitor = false;
  std::uint64_t snapshot_loads = 0, outbox = 0;
  std::string body;  // the whole /health answer, for a failure's message
};

FederationHealth federation(const Node& n) {
  FederationHealth f;
  f.body = http(n.port(), "GET", "/health").body;
  Json j(f.body);
  simdjson::dom::element e;
  if (!j.ok || j.root["federation"].get(e) != simdjson::SUCCESS) return f;
  f.present = true;
  std::string_view s;
  if (e["state"].get_string().get(s) == simdjson::SUCCESS) f.state = s;
  if (e["redis"].get_string().get(s) == simdjson::SUCCESS) f.redis = s;
  if (e["node_id"].get_string().get(s) == simdjson::SUCCESS) f.node_id = s;
  if (e["janitor"].get_bool().get(f.janitor) != simdjson::SUCCESS) f.janitor = false;
  if (e["snapshot_loads"].get_uint64().get(f.snapshot_loads) != simdjson::SUCCESS)
    f.snapshot_loads = 0;
  if (e["outbox"].get_uint64().get(f.outbox) != simdjson::SUCCESS) f.outbox = 0;
  return f;
}

// A sample's value in GET /metrics (a family without labels); -1 when absent.
double metric(const Node& n, const std::string& name) {
  std::istringstream in(http(n.port(), "GET", "/metrics").body);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ' ')
      return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

// GET /tasks as task id → the task's JSON (minified), so that two nodes compare task by task
// whatever order their tables list them in.
using TaskMap = std::map<std::string, std::string>;

TaskMap tasks_of(const Node& n) {
  TaskMap out;
  const testing::HttpReply r = http(n.port(), "GET", "/tasks", {}, {});
  Json j(r.body);
  simdjson::dom::object o;
  if (r.status != 200 || !j.ok || j.root["tasks"].get_object().get(o) != simdjson::SUCCESS)
    return out;
  for (auto [k, v] : o) out.emplace(std::string(k), simdjson::minify(v));
  return out;
}

double number_in(const std::string& task_json, const char* key) {
  Json j(task_json);
  double v = -1;
  std::int64_t i = 0;
  if (!j.ok) return v;
  if (j.root[key].get_double().get(v) == simdjson::SUCCESS) return v;
  if (j.root[key].get_int64().get(i) == simdjson::SUCCESS) return static_cast<double>(i);
  return -1;
}
std::string status_in(const std::string& task_json) { return Json(task_json).str("status"); }

// "" once every node serves the same tasks, `expected` of them; else what differs.
std::string disagreement(const std::vector<Node*>& nodes, std::size_t expected) {
  const TaskMap first = tasks_of(*nodes[0]);
  if (first.size() != expected)
    return fmt::format("{} serves {} tasks, not {}", nodes[0]->id(), first.size(), expected);
  for (std::size_t i = 1; i < nodes.size(); ++i) {
    const TaskMap other = tasks_of(*nodes[i]);
    if (other == first) continue;
    for (const auto& [id, json] : first) {
      const auto it = other.find(id);
      if (it == other.end())
        return fmt::format("{} lacks {} ({} tasks)", nodes[i]->id(), id, other.size());
      if (it->second != json)
        return fmt::format("{} on {}: {}\n  on {}: {}", id, nodes[0]->id(), json,
                           nodes[i]->id(), it->second);
    }
    return fmt::format("{} serves {} tasks, {} serves {}", nodes[i]->id(), other.size(),
                       nodes[0]->id(), first.size());
  }
  return {};
}

class Federation : public ::testing::Test {
 protected:
  void start_redis(std::string password = {}) {
    redis_ = std::make_unique<RedisServer>(std::move(password));
    ASSERT_TRUE(redis_->started()) << redis_->describe();
  }
  // A node on a new segment, started and waited for until its federation state is "ok".
  void add_node(const std::string& id, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--redis", redis_->url()};
    args.insert(args.end(), extra.begin(), extra.end());
    nodes_.push_back(std::make_unique<Node>(id, std::move(args)));
    ASSERT_NO_FATAL_FAILURE(launch(*nodes_.back()));
  }
  void launch(Node& n) {
    ASSERT_TRUE(n.start()) << n.log();
    std::string last;
    ASSERT_TRUE(eventually(
        [&] {
          const FederationHealth f = federation(n);
          last = f.body;
          return f.state == "ok";
        },
        kConverge))
        << n.id() << " never reached state ok: " << last << "\n" << n.log();
  }
  void three_nodes(std::vector<std::string> extra = {}) {
    ASSERT_NO_FATAL_FAILURE(start_redis());
    for (const char* id : {"A", "B", "C"}) ASSERT_NO_FATAL_FAILURE(add_node(id, extra));
  }
  Node& a() { return *nodes_[0]; }
  Node& b() { return *nodes_[1]; }
  Node& c() { return *nodes_[2]; }
  std::vector<Node*> all() {
    std::vector<Node*> out;
    for (auto& n : nodes_) out.push_back(n.get());
    return out;
  }
  // Waits until every node in `nodes` serves the same `expected` tasks.
  void expect_converged(const std::vector<Node*>& nodes, std::size_t expected) {
    std::string why;
    EXPECT_TRUE(eventually([&] { return (why = disagreement(nodes, expected)).empty(); },
                           kConverge))
        << why;
  }

  std::unique_ptr<RedisServer> redis_;        // declared first: stopped after the nodes
  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(Federation, ATaskPostedToOneNodeReachesTheOthersAndTheirWebSockets) {
  ASSERT_NO_FATAL_FAILURE(three_nodes());
  WsTestClient ws(b().port(), "/ws?protocol=delta");
  ASSERT_TRUE(ws.open()) << ws.error();
  const auto snapshot = ws.read(20s);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(Json(*snapshot).str("type"), "snapshot") << *snapshot;

  ASSERT_EQ(post(a(), R"({"task_id":"t1","status":"start","n":3,"total":10,"desc":"fed"})"), 200);
  EXPECT_EQ(http(a().port(), "GET", "/tasks/t1").status, 200) << "read-your-writes on A";
  for (Node* n : {&b(), &c()}) {
    std::string body;
    EXPECT_TRUE(eventually(
        [&] {
          const auto r = http(n->port(), "GET", "/tasks/t1");
          body = r.body;
          return r.status == 200;
        },
        kConverge))
        << n->id() << ": " << body << "\n" << n->log();
    EXPECT_EQ(number_in(body, "n"), 3) << body;
    EXPECT_THAT(body, HasSubstr(R"("desc":"fed")"));
  }
  std::string last;
  EXPECT_TRUE(ws.read_until([](const std::string& f) { return Json(f).n_of("upserts", "t1") == 3; },
                            kConverge, &last))
      << last;
}

TEST_F(Federation, AlternatingWritersLeaveIdenticalTasksOnEveryNode) {
  ASSERT_NO_FATAL_FAILURE(three_nodes());
  const double t0 = static_cast<double>(std::time(nullptr));
  ASSERT_EQ(post(a(), fmt::format(R"({{"task_id":"shared","status":"start","n":0,"total":10,"timestamp":{}}})", t0)), 200);
  for (int i = 1; i <= 10; ++i) {
    Node& writer = i % 2 ? b() : a();
    const std::string status = i == 10 ? "close" : "update";
    ASSERT_EQ(post(writer, fmt::format(R"({{"task_id":"shared","status":"{}","n":{},"timestamp":{}}})",
                                       status, i, t0 + 0.01 * i)),
              200);
  }
  // A few more tasks, each written through another node.
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(post(*all()[i % 3], fmt::format(R"({{"task_id":"x{}","n":{},"total":9,"project":"p"}})", i, i)), 200);
  }
  expect_converged(all(), 7);
  const TaskMap on_a = tasks_of(a());
  ASSERT_EQ(on_a.count("shared"), 1u);
  const std::string& shared = on_a.at("shared");
  EXPECT_EQ(number_in(shared, "n"), 10) << shared;
  EXPECT_EQ(number_in(shared, "total"), 10) << shared;
  EXPECT_EQ(status_in(shared), "close") << shared;
  EXPECT_GT(number_in(shared, "created_at"), 0) << shared;
  EXPECT_GE(number_in(shared, "updated_at"), number_in(shared, "created_at")) << shared;
  // Every member of the task, server-clock fields included, is the same on every node.
  for (Node* n : {&b(), &c()}) {
    const auto r = http(n->port(), "GET", "/tasks/shared");
    EXPECT_EQ(simdjson::minify(Json(r.body).root), shared) << n->id();
  }
}

TEST_F(Federation, ADeleteOnOneNodeRemovesTheTaskEverywhere) {
  ASSERT_NO_FATAL_FAILURE(three_nodes());
  ASSERT_EQ(post(a(), R"({"task_id":"gone","n":1,"total":2})"), 200);
  ASSERT_EQ(post(b(), R"({"task_id":"kept","n":1,"total":2})"), 200);
  ASSERT_TRUE(eventually([&] { return http(c().port(), "GET", "/tasks/gone").status == 200; },
                         kConverge));
  const testing::HttpReply r = http(c().port(), "DELETE", "/tasks/gone");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"removed":true})");
  EXPECT_EQ(http(c().port(), "GET", "/tasks/gone").status, 404) << "read-your-writes on C";
  for (Node* n : all()) {
    EXPECT_TRUE(eventually([&] { return http(n->port(), "GET", "/tasks/gone").status == 404; },
                           kConverge))
        << n->id();
  }
  expect_converged(all(), 1);
}

TEST_F(Federation, RetentionRunsOnceOnTheLeaseHolder) {
  ASSERT_NO_FATAL_FAILURE(three_nodes({"--retention-seconds", "1", "--cleanup-interval", "0.3"}));
  auto janitors = [&] {
    int count = 0;
    for (Node* n : all()) count += federation(*n).janitor ? 1 : 0;
    return count;
  };
  ASSERT_TRUE(eventually([&] { return janitors() == 1; }, kConverge)) << federation(a()).body;
  ASSERT_EQ(post(a(), R"({"task_id":"done","status":"close","n":5,"total":5})"), 200);
  ASSERT_EQ(post(b(), R"({"task_id":"open","status":"start","n":1,"total":5})"), 200);
  for (Node* n : all()) {
    EXPECT_TRUE(eventually([&] { return http(n->port(), "GET", "/tasks/done").status == 404; },
                           kConverge))
        << n->id() << "\n" << n->log();
  }
  expect_converged(all(), 1);  // the running task stays
  EXPECT_EQ(janitors(), 1);
  for (Node* n : all()) {
    const double sweeps = metric(*n, "progressista_federation_sweeps_total");
    if (federation(*n).janitor) {
      EXPECT_GT(sweeps, 0) << n->id();
      EXPECT_EQ(metric(*n, "progressista_federation_janitor"), 1) << n->id();
    } else {
      EXPECT_EQ(sweeps, 0) << n->id() << " swept without the lease";
      EXPECT_EQ(metric(*n, "progressista_federation_janitor"), 0) << n->id();
    }
  }
}

// Redis is killed (-9) while a writer posts 300 distinct tasks over A, B and C, and comes back
// empty (no persistence) on the same port. The writer pauses at fixed points so that writes
// land before, during and after the outage whatever the machine's speed.
TEST_F(Federation, RedisKilledUnderLoadLosesNoAcknowledgedWrite) {
  ASSERT_NO_FATAL_FAILURE(three_nodes());
  constexpr int kWrites = 300;
  std::vector<int> answers(kWrites, 0);
  std::atomic<int> done{0};
  std::atomic<bool> killed{false}, restarted{false};
  std::vector<Node*> nodes = all();
  std::thread writer([&] {
    for (int i = 0; i < kWrites; ++i) {
      if (i == 150) eventually([&] { return killed.load(); }, 60s);
      if (i == 225) eventually([&] { return restarted.load(); }, 60s);
      answers[i] = post(*nodes[i % 3],
                        fmt::format(R"({{"task_id":"w-{}","status":"start","n":{},"total":1000}})", i, i + 1));
      done = i + 1;
    }
  });
  const bool loaded = eventually([&] { return done >= 100; }, 60s);
  redis_->kill9();
  killed = true;
  std::string states;
  const bool degraded = eventually(
      [&] {
        states.clear();
        bool all_degraded = true;
        for (Node* n : nodes) {
          const FederationHealth f = federation(*n);
          states += n->id() + "=" + f.state + " ";
          all_degraded &= f.state == "degraded";
        }
        return all_degraded;
      },
      kConverge);
  eventually([&] { return done >= 225; }, 60s);
  std::uint64_t outbox = 0;
  for (Node* n : nodes) outbox += federation(*n).outbox;
  const bool back = redis_->restart();
  restarted = true;
  writer.join();

  ASSERT_TRUE(loaded);
  EXPECT_TRUE(degraded) << "states while Redis is down: " << states;
  EXPECT_GT(outbox, 0u) << "writes during the outage are kept in the outboxes";
  ASSERT_TRUE(back) << redis_->describe();
  for (int i = 0; i < kWrites; ++i) EXPECT_EQ(answers[i], 200) << "write w-" << i;

  std::string why;
  EXPECT_TRUE(eventually(
      [&] {
        for (Node* n : nodes) {
          const FederationHealth f = federation(*n);
          if (f.state != "ok") {
            why = n->id() + ": " + f.body;
            return false;
          }
          const TaskMap t = tasks_of(*n);
          for (int i = 0; i < kWrites; ++i) {
            const auto it = t.find(fmt::format("w-{}", i));
            if (it == t.end()) {
              why = fmt::format("{} lacks w-{} ({} tasks)", n->id(), i, t.size());
              return false;
            }
            // Server-clock fields of events applied during the outage may differ between
            // nodes (each applied them at once, before Redis gave them an id): n and status only.
            if (number_in(it->second, "n") != i + 1 || status_in(it->second) != "start") {
              why = fmt::format("{}: w-{} is {}", n->id(), i, it->second);
              return false;
            }
          }
        }
        return true;
      },
      60s))
      << why << "\n" << a().log();
}

TEST_F(Federation, ANodeKilledWhileOthersWriteCatchesUpOnRestart) {
  ASSERT_NO_FATAL_FAILURE(three_nodes());
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(post(*all()[i % 3], fmt::format(R"({{"task_id":"k{}","n":1,"total":5}})", i)), 200);
  expect_converged(all(), 10);
  c().kill9();
  for (int i = 0; i < 40; ++i) {
    Node& writer = i % 2 ? b() : a();
    ASSERT_EQ(post(writer, fmt::format(R"({{"task_id":"k{}","n":{},"total":5}})", i % 20, 2 + i / 20)), 200);
  }
  ASSERT_EQ(post(a(), R"({"task_id":"k3","status":"close","n":5})"), 200);
  ASSERT_EQ(http(b().port(), "DELETE", "/tasks/k4").status, 200);
  ASSERT_NO_FATAL_FAILURE(launch(c()));  // the same segment and node id
  expect_converged(all(), 19);
  const TaskMap on_c = tasks_of(c());
  ASSERT_EQ(on_c.count("k19"), 1u);
  EXPECT_EQ(number_in(on_c.at("k19"), "n"), 3);
  EXPECT_EQ(status_in(on_c.at("k3")), "close");
}

TEST_F(Federation, ANodeStartedLateGetsTheWholeState) {
  ASSERT_NO_FATAL_FAILURE(three_nodes());
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(post(*all()[i % 3], fmt::format(R"({{"task_id":"l{}","n":{},"total":30,"project":"late"}})", i, i)), 200);
  }
  ASSERT_EQ(post(b(), R"({"task_id":"l7","status":"error","error":"disk full"})"), 200);
  ASSERT_EQ(http(c().port(), "DELETE", "/tasks/l8").status, 200);
  expect_converged(all(), 29);
  ASSERT_NO_FATAL_FAILURE(add_node("D"));
  expect_converged(all(), 29);
  EXPECT_EQ(status_in(tasks_of(*nodes_[3]).at("l7")), "error");
}

// C is stopped while A writes far more than --redis-maxlen: C's position is trimmed away, so
// on restart it must load the snapshot the lease holder wrote after the trimming.
TEST_F(Federation, ANodeBehindTheTrimmedLogLoadsTheSnapshot) {
  ASSERT_NO_FATAL_FAILURE(three_nodes({"--redis-maxlen", "50", "--redis-snapshot-interval", "0.5",
                                       "--cleanup-interval", "0.3"}));
  ASSERT_EQ(post(a(), R"({"task_id":"before","n":1,"total":2})"), 200);
  expect_converged(all(), 1);
  EXPECT_EQ(c().stop(), 0) << c().log();
  ASSERT_EQ(post(b(), R"({"task_id":"early","status":"start","n":7,"total":9})"), 200);
  constexpr int kEvents = 1000;
  for (int i = 0; i < kEvents; ++i) {
    const auto r = http(a().port(), "POST", "/progress",
                        fmt::format(R"({{"task_id":"m{}","n":{},"total":{}}})", i % 100, i, kEvents));
    ASSERT_EQ(r.status, 200) << "event " << i << ": " << r.body << " Retry-After "
                             << r.header("retry-after") << "\n" << federation(a()).body << "\n"
                             << a().log();
  }
  const long long length = redis_->integer("XLEN progressista:events");
  EXPECT_GE(length, 0) << redis_->command("XLEN progressista:events");
  EXPECT_LT(length, kEvents) << "MAXLEN ~ 50 trimmed nothing";
  // A snapshot that covers every event: written by whichever of A and B holds the lease now,
  // after both applied them all. The holder writes one only when entries came since its last,
  // so one more entry (the marker) makes sure another comes.
  expect_converged({&a(), &b()}, 102);
  auto snapshots = [&] {
    return metric(a(), "progressista_federation_snapshots_written_total") +
           metric(b(), "progressista_federation_snapshots_written_total");
  };
  const double before_marker = snapshots();
  ASSERT_EQ(post(a(), R"({"task_id":"marker","n":1})"), 200);
  EXPECT_TRUE(eventually([&] { return snapshots() > before_marker; }, kConverge))
      << "snapshots written: " << before_marker << "\n" << a().log() << "\n" << b().log();
  ASSERT_NO_FATAL_FAILURE(launch(c()));
  EXPECT_TRUE(eventually([&] { return federation(c()).snapshot_loads >= 1; }, kConverge))
      << federation(c()).body;
  EXPECT_GE(metric(c(), "progressista_federation_snapshot_loads_total"), 1);
  expect_converged(all(), 103);
  const TaskMap on_c = tasks_of(c());
  ASSERT_EQ(on_c.count("early"), 1u) << "its only event was trimmed: the snapshot holds it";
  EXPECT_EQ(number_in(on_c.at("early"), "n"), 7);
  EXPECT_EQ(number_in(on_c.at("m99"), "n"), kEvents - 1);
}

TEST_F(Federation, ARefusedPasswordStopsTheStartWithoutPrintingIt) {
  const std::string right = "r1ght-pa55word";
  const std::string wrong = "wr0ng-pa55word";
  ASSERT_NO_FATAL_FAILURE(start_redis(right));
  {
    Node refused("W", {"--redis", redis_->url(wrong)});
    refused.start();
    const int code = refused.process().wait_exit(30s);
    EXPECT_GT(code, 0) << "exit " << code << " (-1: still running)\n" << refused.log();
    EXPECT_LT(code, 128) << "killed by a signal\n" << refused.log();
    EXPECT_THAT(refused.log(), HasSubstr("PROGRESSISTA_REDIS_URL"));
    EXPECT_THAT(refused.log(), HasSubstr("--redis"));
    EXPECT_THAT(refused.log(), Not(HasSubstr(wrong)));
  }
  ASSERT_NO_FATAL_FAILURE(add_node("A"));
  const FederationHealth f = federation(a());
  EXPECT_EQ(f.node_id, "A");
  EXPECT_THAT(f.redis, HasSubstr(fmt::format("127.0.0.1:{}", redis_->port())));
  EXPECT_THAT(f.redis, HasSubstr("***"));
  EXPECT_THAT(f.body, Not(HasSubstr(right)));
  EXPECT_THAT(a().log(), Not(HasSubstr(right)));
  ASSERT_EQ(post(a(), R"({"task_id":"p","n":1})"), 200);
  EXPECT_THAT(http(a().port(), "GET", "/metrics").body, Not(HasSubstr(right)));
  const testing::RunResult shown = testing::run({"show-config", "--redis", redis_->url()});
  EXPECT_EQ(shown.code, 0) << shown.err;
  EXPECT_THAT(shown.out + shown.err, Not(HasSubstr(right)));
}

}  // namespace
}  // namespace progressista
